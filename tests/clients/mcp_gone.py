"""A real MCP client (the official Python SDK, `mcp` on PyPI) that gives up
on a long `claim_next`, for tests that check nothing is granted to it.

usage: mcp_gone.py http-timeout|http-cancel URL
       mcp_gone.py stdio-timeout|stdio-cancel HIVELOG_BINARY SERVER_URL

It asks `claim_next` to wait 30 s, then gives up after 2 s (a read
timeout) or cancels the call after 1 s (the caller's task cancelled), as a
harness does when its user presses Esc. It then prints "gave up" and stays
connected, so the test sees what the server does with a caller that is
still there but no longer waiting; the test ends it.
"""
import sys

import anyio
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError


async def main():
    mode = sys.argv[1]
    if mode.startswith("http"):
        target = sys.argv[2]
        args = {"agent_id": "orph", "wait_seconds": 30}
    else:
        target = StdioServerParameters(
            command=sys.argv[2], args=["--server", sys.argv[3], "mcp", "--agent", "orph"]
        )
        args = {"wait_seconds": 30}
    async with Client(target) as c:
        await c.list_tools()
        if mode.endswith("timeout"):
            try:
                result = await c.call_tool("claim_next", args, read_timeout_seconds=2)
            except MCPError as e:
                assert "timed out" in str(e), str(e)
            else:
                raise AssertionError(f"no timeout: {result}")
        else:
            async with anyio.create_task_group() as tg:

                async def call():
                    await c.call_tool("claim_next", args)
                    raise AssertionError("the call was not cancelled")

                tg.start_soon(call)
                await anyio.sleep(1)
                tg.cancel_scope.cancel()
        print("gave up", flush=True)
        await anyio.sleep(60)


anyio.run(main)
