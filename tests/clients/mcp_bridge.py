"""`hivelog mcp` (the stdio bridge) driven by the official Python SDK.

usage: mcp_bridge.py down HIVELOG_BINARY SERVER_URL
       mcp_bridge.py refused HIVELOG_BINARY SERVER_URL PHRASE [TOKEN]
       mcp_bridge.py config MCP_JSON

down:    started while the server is down, the bridge answers initialize
         (with hivelog's instructions) and tools/list by itself, a tool
         call is an MCP error saying the server is not running; after
         "up" on stdin the same session's next call works.
refused: a tool call is an MCP error containing PHRASE (a missing or
         wrong token).
config:  starts the server named "hivelog" in a harness's MCP config file
         (as `hivelog setup` wrote it) and calls tools through it.
Prints "<mode>: ok" at the end.
"""
import json
import os
import sys

import anyio
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

TOOLS = ["add_task", "claim_next", "complete", "handoff", "inbox", "progress", "reserve", "send_message"]


def answer(result):
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


async def main():
    mode = sys.argv[1]
    if mode == "config":
        with open(sys.argv[2]) as f:
            entry = json.load(f)["mcpServers"]["hivelog"]
        env = {**os.environ, **entry.get("env", {})}
        env.pop("HIVELOG_TOKEN", None)
        target = StdioServerParameters(command=entry["command"], args=entry["args"], env=env)
    else:
        args = ["--server", sys.argv[3], "mcp", "--agent", "py-bridge"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HIVELOG_")}
        if mode == "refused" and len(sys.argv) > 5:
            env["HIVELOG_TOKEN"] = sys.argv[5]
        target = StdioServerParameters(command=sys.argv[2], args=args, env=env)
    async with Client(target) as c:
        tools = sorted(t.name for t in (await c.list_tools()).tools)
        assert tools == TOOLS, tools
        if mode == "down":
            assert c.instructions and "claim_next" in c.instructions, c.instructions
            try:
                await c.call_tool("inbox", {})
            except MCPError as e:
                text = str(e)
                assert f"hivelog is not running at {sys.argv[3]}" in text, text
                assert "hivelog serve" in text and "Transport" not in text, text
            else:
                raise AssertionError("a call with the server down did not fail")
            print("waiting", flush=True)
            line = await anyio.to_thread.run_sync(sys.stdin.readline)
            assert line.strip() == "up", line
            box = answer(await c.call_tool("inbox", {}))
            assert box["items"] == [], box
        elif mode == "refused":
            try:
                await c.call_tool("inbox", {})
            except MCPError as e:
                assert sys.argv[4] in str(e), str(e)
                assert "cannot reach" not in str(e), str(e)
            else:
                raise AssertionError("the call was not refused")
        else:
            added = answer(await c.call_tool("add_task", {"title": "through the config setup wrote"}))
            assert added["created"], added
            brief = answer(await c.call_tool("claim_next", {}))
            assert brief["task"]["task_id"] == added["task_id"], brief
    print(f"{mode}: ok", flush=True)


anyio.run(main)
