"""Drives hivelog's MCP tools with the official Python SDK (`mcp` on PyPI),
unchanged, over Streamable HTTP or over stdio (`hivelog mcp`).

usage: mcp_agent.py http URL
       mcp_agent.py stdio HIVELOG_BINARY SERVER_URL

Lists the tools, calls each one, checks the answers and that mistakes come
back as errors with a clear message. Prints "mcp agent: ok" at the end.
"""
import asyncio
import json
import sys

from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError


def answer(result):
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


def refused(result, needle):
    assert result.is_error, f"expected a refusal, got {result.content[0].text}"
    text = result.content[0].text
    assert needle in text, f"{needle!r} not in {text!r}"


async def main():
    mode = sys.argv[1]
    if mode == "http":
        target, me = sys.argv[2], {"agent_id": "py-http"}
    else:
        # The agent comes from --agent: no agent_id in the calls.
        target = StdioServerParameters(
            command=sys.argv[2], args=["--server", sys.argv[3], "mcp", "--agent", "py-stdio"]
        )
        me = {}
    async with Client(target) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        assert sorted(tools) == sorted(
            ["claim_next", "complete", "progress", "handoff", "add_task", "send_message", "inbox", "reserve"]
        ), sorted(tools)
        assert all(t.description and t.input_schema["type"] == "object" for t in tools.values())

        tag = mode
        added = answer(await c.call_tool("add_task", {**me, "title": f"{tag} work", "files": [f"{tag}/**"], "dedup_key": f"{tag}-1"}))
        assert added["created"] and not added["deduplicated"], added
        again = answer(await c.call_tool("add_task", {**me, "title": f"{tag} work", "dedup_key": f"{tag}-1"}))
        assert again["deduplicated"] and again["task_id"] == added["task_id"], again

        brief = answer(await c.call_tool("claim_next", {**me}))
        task = brief["task"]
        assert task["task_id"] == added["task_id"], brief
        assert task["files"] == [f"{tag}/**"] and task["fencing_token"] >= 1, task
        token = task["fencing_token"]

        progressed = answer(await c.call_tool("progress", {**me, "task_id": task["task_id"], "fencing_token": token, "note": "half"}))
        assert progressed["lease_expires_at"], progressed
        refused(
            await c.call_tool("progress", {**me, "task_id": task["task_id"], "fencing_token": token + 7, "note": "x"}),
            "stale fencing token",
        )

        # Files held with the claim: another agent cannot reserve them.
        other = {"agent_id": f"{tag}-other"}
        refused(await c.call_tool("reserve", {**other, "globs": [f"{tag}/x.py"]}), "is reserved by")
        mine = answer(await c.call_tool("reserve", {**me, "globs": [f"{tag}-docs/**"], "ttl_seconds": 60}))
        assert mine["reserved"][0]["glob"] == f"{tag}-docs/**", mine
        released = answer(await c.call_tool("reserve", {**me, "globs": [f"{tag}-docs/**"], "release": True}))
        assert released["released"] == [f"{tag}-docs/**"], released

        # Handoff to the other agent: its inbox gets the note.
        handed = answer(await c.call_tool("handoff", {**me, "task_id": task["task_id"], "fencing_token": token, "note": "tests left", "to": other["agent_id"]}))
        assert handed["status"] == "available", handed
        sent = answer(await c.call_tool("send_message", {**me, "content": f"@{other['agent_id']} over to you"}))
        assert other["agent_id"] in sent["mentions"], sent
        box = answer(await c.call_tool("inbox", {**other}))
        kinds = [i["kind"] for i in box["items"]]
        assert kinds == ["handoff", "message"], box
        assert not box["acked"]
        assert len(answer(await c.call_tool("inbox", {**other, "ack": True}))["items"]) == 2
        assert answer(await c.call_tool("inbox", {**other}))["items"] == []

        # The next agent's brief carries the handoff note.
        brief = answer(await c.call_tool("claim_next", {**other}))
        assert brief["task"]["task_id"] == task["task_id"], brief
        assert brief["handoff"]["note"] == "tests left", brief
        token2 = brief["task"]["fencing_token"]
        assert token2 > token
        refused(await c.call_tool("complete", {**me, "task_id": task["task_id"], "fencing_token": token}), "stale fencing token")
        done = answer(await c.call_tool("complete", {**other, "task_id": task["task_id"], "fencing_token": token2, "result": {"ok": True}}))
        assert done["status"] == "completed", done
        empty = answer(await c.call_tool("claim_next", {**me}))
        assert empty["task"] is None, empty

        # Mistakes in the arguments are MCP errors with a clear message.
        for args, needle in [
            ({**me, "fencing_token": 1}, "task_id is required"),
            ({**me, "task_id": "x", "fencing_token": "one"}, "fencing_token must be a whole number"),
            ({**me, "task_id": "x", "fencing_token": 1, "colour": "red"}, 'unknown argument "colour"'),
        ]:
            try:
                await c.call_tool("complete", args)
            except MCPError as e:
                assert needle in str(e), f"{needle!r} not in {e}"
            else:
                raise AssertionError(f"no error for {args}")
        # The declared schema is what the server enforces, and each error
        # names its argument.
        for tool, args, needle in [
            ("claim_next", {**me, "wait_seconds": 1000}, "wait_seconds: must be at most 300"),
            ("add_task", {**me, "title": "x", "priority": "urgent"}, "priority: unknown variant `urgent`"),
            ("progress", {**me, "task_id": "x", "note": "n"}, "fencing_token is required"),
            ("handoff", {**me, "task_id": "x", "fencing_token": 1, "note": "n", "delay_seconds": 0}, "delay_seconds: must be at least 1"),
            ("inbox", {"agent_id": ""}, "agent_id: must not be empty"),
            ("reserve", {**me, "globs": ["lib/[ab.rs"]}, "without its `]`"),
        ]:
            try:
                await c.call_tool(tool, args)
            except MCPError as e:
                assert needle in str(e), f"{tool}: {needle!r} not in {e}"
            else:
                raise AssertionError(f"no error for {tool} {args}")
        schema = tools["claim_next"].input_schema["properties"]["wait_seconds"]
        assert schema["maximum"] == 300, schema
        assert not (tools["inbox"].annotations and tools["inbox"].annotations.read_only_hint), "inbox with ack writes"

        # Character classes in reservation globs conflict as they match.
        held = answer(await c.call_tool("reserve", {**me, "globs": [f"{tag}-lib/[ab].rs"]}))
        assert held["reserved"][0]["glob"] == f"{tag}-lib/[ab].rs", held
        refused(await c.call_tool("reserve", {**other, "globs": [f"{tag}-lib/a.rs"]}), "is reserved by")
        answer(await c.call_tool("reserve", {**other, "globs": [f"{tag}-lib/c.rs"]}))
        answer(await c.call_tool("reserve", {**me, "release": True}))
        answer(await c.call_tool("reserve", {**other, "release": True}))

        try:
            await c.call_tool("no_such_tool", {**me})
        except MCPError as e:
            assert "no_such_tool" in str(e), str(e)
        else:
            raise AssertionError("an unknown tool was accepted")
        refused(await c.call_tool("complete", {**me, "task_id": "missing", "fencing_token": 1}), "Task not found")
    print("mcp agent: ok")


asyncio.run(main())
