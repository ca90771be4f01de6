"""Agents in three git checkouts, each reaching hivelog through the MCP
configuration `hivelog setup claude` wrote there (the official Python SDK
starting `hivelog mcp` over stdio, in the checkout, as a harness does).

usage: projects_git.py A_DIR A_WORKTREE_DIR B_DIR

A_DIR and A_WORKTREE_DIR are two worktrees of one repository; B_DIR is
another repository whose directory has the same name as A's.
- the same task id is created in A and in B;
- B's claim_next takes B's task and never A's;
- an exclusive reservation of A's src/main.rs (named by its absolute path,
  as agents often do) refuses the same file to the agent in A's worktree,
  and not to B's agent;
- the worktree's agent sees the task its repository's first agent added.
Prints "projects: ok" at the end.
"""
import json
import os
import sys

import anyio
from mcp import Client, StdioServerParameters


def answer(result):
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


def params(checkout):
    with open(os.path.join(checkout, ".mcp.json")) as f:
        entry = json.load(f)["mcpServers"]["hivelog"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIVELOG_")}
    env.update(entry.get("env", {}))
    return StdioServerParameters(command=entry["command"], args=entry["args"], env=env, cwd=checkout)


async def main():
    a_dir, wt_dir, b_dir = sys.argv[1:4]
    async with Client(params(a_dir)) as a, Client(params(wt_dir)) as wt, Client(params(b_dir)) as b:
        made_a = answer(await a.call_tool("add_task", {"task_id": "fix-tests", "title": "A: fix the tests"}))
        made_b = answer(await b.call_tool("add_task", {"task_id": "fix-tests", "title": "B: fix the tests"}))
        assert made_a["created"] and made_b["created"], (made_a, made_b)

        got = answer(await b.call_tool("claim_next", {}))
        assert got["task"]["title"] == "B: fix the tests", got
        none = answer(await b.call_tool("claim_next", {}))
        assert none["task"] is None, none

        held = answer(await a.call_tool("reserve", {"globs": [os.path.join(a_dir, "src", "main.rs")]}))
        assert [r["glob"] for r in held["reserved"]] == ["src/main.rs"], held
        refused = await wt.call_tool("reserve", {"globs": ["src/main.rs"]})
        assert refused.is_error, refused.content[0].text
        text = refused.content[0].text
        assert "src/main.rs" in text and "reserved by claude-" in text, text
        other = answer(await b.call_tool("reserve", {"globs": ["src/main.rs"]}))
        assert [r["glob"] for r in other["reserved"]] == ["src/main.rs"], other

        # The worktree is the same project: it gets A's task.
        mine = answer(await wt.call_tool("claim_next", {}))
        assert mine["task"] is not None and mine["task"]["title"] == "A: fix the tests", mine
    print("projects: ok", flush=True)


anyio.run(main)
