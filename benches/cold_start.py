#!/usr/bin/env python3
"""Cold start of the release binary: time from exec to `GET /ready` == 200,
on a fresh data directory and on one that already holds tasks, against a
baseline measured in the same run (exec of `hivelog --version`, i.e. what
any process start costs on this machine). Standard library only.

    cargo build --release && python3 benches/cold_start.py [--runs 10] [--tasks 2000] [--no-snapshot]
"""
import argparse, json, os, socket, statistics, subprocess, tempfile, time, urllib.request

BIN = os.path.join(os.path.dirname(__file__), "..", "target", "release", "hivelog")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_until_ready(data_dir):
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([BIN, "serve", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/ready"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.perf_counter() - t0, proc, port
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        time.sleep(0.001)


def stop(proc):
    proc.terminate()
    proc.wait(timeout=30)


def baseline():
    t0 = time.perf_counter()
    subprocess.run([BIN, "--version"], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def fill(port, tasks, threads=8):
    """Creates `tasks` tasks over 8 keep-alive connections."""
    import http.client, threading

    def work(k):
        c = http.client.HTTPConnection("127.0.0.1", port)
        for i in range(k, tasks, threads):
            body = json.dumps({"task_id": f"t{i}", "title": f"task number {i}",
                               "description": "a task stored to measure start-up"})
            c.request("POST", "/api/tasks", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            assert r.status < 300, r.status
    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    [t.start() for t in ts]
    [t.join() for t in ts]


def rss_mib(pid):
    """Resident memory of a running process, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--no-snapshot", action="store_true",
                    help="remove coord.snapshot before each start (load from the records)")
    args = ap.parse_args()
    size = os.path.getsize(BIN)
    base = statistics.median(baseline() for _ in range(args.runs))
    fresh = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as d:
            t, proc, _ = start_until_ready(d)
            fresh.append(t)
            stop(proc)
    with tempfile.TemporaryDirectory() as d:
        _, proc, port = start_until_ready(d)
        fill(port, args.tasks)
        # The first stop writes the coordination snapshot; the first start
        # after it reads the records instead when --no-snapshot is given.
        stop(proc)
        warm, rss = [], []
        for _ in range(args.runs):
            if args.no_snapshot:
                os.remove(os.path.join(d, "coord.snapshot"))
            t, proc, _ = start_until_ready(d)
            warm.append(t)
            time.sleep(0.3)
            rss.append(rss_mib(proc.pid))
            stop(proc)
    print(f"binary size: {size / 1e6:.1f} MB ({size} bytes)")
    print(f"baseline `hivelog --version`: {base * 1000:.1f} ms (median of {args.runs})")
    for name, runs in [("fresh data dir", fresh), (f"existing dir, {args.tasks} tasks", warm)]:
        med = statistics.median(runs)
        print(f"exec -> /ready 200, {name}: {med * 1000:.1f} ms median, {max(runs) * 1000:.1f} ms max = {med / base:.1f}x baseline")
    print(f"RSS after start with {args.tasks} tasks: {statistics.median(rss):.1f} MiB median")


if __name__ == "__main__":
    main()
