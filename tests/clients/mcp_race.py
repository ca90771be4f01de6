"""Twenty agents race over MCP (Streamable HTTP, the official Python SDK)
for ten tasks, some of which name overlapping files. Every grant is
recorded with the time span its agent held it (from after the grant
arrived to before it finished or handed the task back), then checked: no
task is held by two agents at once, tokens grow with each grant, no two
tasks with overlapping files are held at once, and every task is
completed exactly once.

usage: mcp_race.py URL       prints "mcp race: ok <grants> grants"
"""
import asyncio
import json
import random
import sys
import time

from mcp import Client

AGENTS = 20
FILES = {
    0: ["src/a/**"], 1: ["src/a/**"], 2: ["src/a/x.py"],
    3: ["docs/**"], 4: ["docs"], 5: ["docs/readme.md", "src/b/**"], 6: ["src/b/c.py"],
    7: ["misc/7"], 8: ["misc/8"], 9: [],
}
CONFLICTS = {(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5), (5, 6)}


def ok(result):
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


async def agent(url, name, grants, completed, rng):
    async with Client(url) as c:
        idle = 0
        while len(completed) < len(FILES) and idle < 20:
            brief = ok(await c.call_tool("claim_next", {"agent_id": name, "wait_seconds": 1}))
            task = brief["task"]
            if task is None:
                idle += 1
                continue
            start = time.monotonic()
            await asyncio.sleep(rng.uniform(0.005, 0.04))
            tid, token = task["task_id"], task["fencing_token"]
            hand_back = rng.random() < 0.3
            end = time.monotonic()
            grants.append((tid, name, token, start, end))
            if hand_back:
                ok(await c.call_tool("handoff", {"agent_id": name, "task_id": tid, "fencing_token": token, "note": f"from {name}"}))
            else:
                ok(await c.call_tool("complete", {"agent_id": name, "task_id": tid, "fencing_token": token, "result": {"by": name}}))
                completed.append(tid)


async def main():
    url = sys.argv[1]
    async with Client(url) as c:
        for i, files in FILES.items():
            ok(await c.call_tool("add_task", {"agent_id": "planner", "task_id": f"r{i}", "title": f"race {i}", "files": files}))
    grants, completed = [], []
    rng = random.Random(7)
    await asyncio.gather(*(agent(url, f"racer-{n}", grants, completed, random.Random(rng.random())) for n in range(AGENTS)))

    assert sorted(completed) == sorted(f"r{i}" for i in FILES), f"completed: {sorted(completed)}"
    by_task = {}
    for g in grants:
        by_task.setdefault(g[0], []).append(g)
    for tid, gs in by_task.items():
        gs.sort(key=lambda g: g[3])
        for a, b in zip(gs, gs[1:]):
            assert a[4] <= b[3], f"{tid} held by {a[1]} and {b[1]} at once"
            assert b[2] > a[2], f"{tid}: token {b[2]} after {a[2]}"
    for x, y in CONFLICTS:
        for a in by_task.get(f"r{x}", []):
            for b in by_task.get(f"r{y}", []):
                overlap = a[3] < b[4] and b[3] < a[4]
                assert not overlap, f"r{x} ({a[1]}) and r{y} ({b[1]}) share files and were held at once"
    print(f"mcp race: ok {len(grants)} grants")


asyncio.run(main())
