#!/usr/bin/env python3
"""An agent written the way agents of the replaced FastAPI service are:
httpx.AsyncClient, 30 s timeout, raise_for_status() then .json(), and the
list answers iterated directly. Run by tests/old_client.rs against the real
server; exits non-zero (with a traceback) if any answer has the wrong shape.

    python3 tests/clients/old_agent.py http://127.0.0.1:8001
"""

import asyncio
import datetime
import sys

import httpx


async def main(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
        async def call(method, path, **kw):
            resp = await client.request(method, path, **kw)
            resp.raise_for_status()
            return resp.json()

        now = datetime.datetime.now().isoformat()
        for n, prio in [(1, "low"), (2, "high")]:
            await call("POST", "/api/tasks", json={
                "task_id": f"old-{n}", "title": f"Old task {n}", "description": "from an old client",
                "status": "available", "priority": prio, "blocked_by": [], "created_at": now,
                "owner": None, "claimed_at": None, "completed_at": None, "result": None, "error": None,
            })

        await call("POST", "/api/agents/register",
                   json={"agent_id": "old-agent", "description": None, "capabilities": []})
        await call("POST", "/api/agents/heartbeat", json={
            "agent_id": "old-agent", "status": "active", "current_task": None,
            "current_task_title": None, "needs_approval": False, "approval_message": None})

        agents = await call("GET", "/api/agents")
        assert "old-agent" in [a["agent_id"] for a in agents], agents
        assert len(agents) == 1

        tasks = await call("GET", "/api/tasks/available", params={"limit": 10})
        assert len(tasks) == 2, tasks
        for t in tasks:
            assert not t["blocked_by"] and t["status"] == "available"
        task = tasks[0]
        assert task["task_id"] == "old-2", "high priority first"
        assert task["created_at"] == now, (task["created_at"], now)

        await call("POST", f"/api/tasks/{task['task_id']}/claim", json={"agent_id": "old-agent"})
        await call("POST", "/api/agents/heartbeat", json={
            "agent_id": "old-agent", "status": "busy", "current_task": task["task_id"],
            "current_task_title": task["title"], "needs_approval": False, "approval_message": None})
        claimed = await call("GET", "/api/tasks", params={"status": "claimed"})
        assert [t["task_id"] for t in claimed] == [task["task_id"]], claimed
        assert claimed[0]["owner"] == "old-agent"

        await call("POST", f"/api/tasks/{task['task_id']}/complete", json={
            "agent_id": "old-agent", "success": True, "result": {"pages": 3}, "error": None})
        done = await call("GET", f"/api/tasks/{task['task_id']}")
        assert done["status"] == "completed" and done["result"]["pages"] == 3, done

        stamp = datetime.datetime.now().isoformat()
        await call("POST", "/api/messages", json={
            "agent_id": "old-agent", "channel": "coordination",
            "content": f"@bob {task['task_id']} is done", "timestamp": stamp})
        await call("POST", "/api/messages", json={
            "agent_id": "old-agent", "channel": "errors", "content": "nothing broke"})
        messages = await call("GET", "/api/messages/coordination", params={"limit": 50})
        assert messages[-1]["content"] == f"@bob {task['task_id']} is done", messages
        assert messages[-1]["timestamp"] == stamp
        assert messages[-1]["message_id"] is None or isinstance(messages[-1]["message_id"], str)
        errors = await call("GET", "/api/messages/errors", params={"limit": 50})
        assert [m["content"] for m in errors] == ["nothing broke"], errors

        # The old dashboard's reads: every task, every agent including stale.
        everything = await call("GET", "/api/tasks")
        by_status = {}
        for t in everything:
            by_status[t["status"]] = by_status.get(t["status"], 0) + 1
        assert by_status == {"completed": 1, "available": 1}, by_status
        stale = await call("GET", "/api/agents", params={"include_stale": "true"})
        assert len(stale) == 1 and stale[0]["status"] in ("active", "idle", "busy", "offline")

        # Where the old service said 422, an old client gets an exception.
        try:
            await call("POST", "/api/messages", json={"agent_id": "old-agent", "channel": "nope",
                                                       "content": "x"})
        except httpx.HTTPStatusError as e:
            assert e.response.status_code == 422
            assert isinstance(e.response.json()["detail"], list)
        else:
            raise AssertionError("a message to channel 'nope' was accepted")

    print("old agent: ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
