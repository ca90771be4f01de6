#!/usr/bin/env python3
"""A well-behaved hivelog agent, standard library only.

    python3 examples/agent.py --agent-id alice --capability docs

It registers, heartbeats every 30 s (naming the task it holds, which keeps
that task's lease), waits for work with claim-next's long poll instead of
polling every 2 s, reports progress, completes, and reports failures on the
errors channel.

Everything runs in ONE event loop, started once by asyncio.run(main()): the
heartbeat is a task in that loop, and blocking HTTP calls run in threads via
asyncio.to_thread. Never call asyncio.run() again from inside (for example
from a callback or per request): each call makes a new loop, and the
heartbeat task of the old one silently stops.
"""

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request


class Hivelog:
    """A tiny blocking client; its methods run in worker threads."""

    def __init__(self, server: str, timeout: float = 60.0):
        self.server = server.rstrip("/")
        self.timeout = timeout

    def call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            detail = json.loads(e.read() or b"{}").get("detail", str(e))
            raise RuntimeError(f"{method} {path}: {e.code} {detail}") from None


class Agent:
    def __init__(self, client: Hivelog, agent_id: str, capabilities, heartbeat_every: float):
        self.client = client
        self.agent_id = agent_id
        self.capabilities = capabilities
        self.heartbeat_every = heartbeat_every
        self.current = None  # (task_id, title) while working

    async def api(self, method, path, body=None):
        return await asyncio.to_thread(self.client.call, method, path, body)

    async def heartbeat_forever(self):
        while True:
            task_id, title = self.current or (None, None)
            try:
                await self.api("POST", "/api/agents/heartbeat", {
                    "agent_id": self.agent_id,
                    "status": "busy" if task_id else "idle",
                    "current_task": task_id,
                    "current_task_title": title,
                    "needs_approval": False,
                    "approval_message": None,
                })
            except Exception as e:  # keep beating; the server may be restarting
                print(f"heartbeat failed: {e}", file=sys.stderr)
            await asyncio.sleep(self.heartbeat_every)

    async def work(self, task):
        """Replace with real work. Reports progress halfway."""
        await asyncio.sleep(0.2)
        await self.api("POST", f"/api/tasks/{task['task_id']}/progress",
                       {"agent_id": self.agent_id, "note": "halfway", "percent": 50})
        await asyncio.sleep(0.2)
        return {"handled_by": self.agent_id, "title": task.get("title")}

    async def run(self, once: bool):
        await self.api("POST", "/api/agents/register", {
            "agent_id": self.agent_id, "description": "example agent", "capabilities": self.capabilities})
        beat = asyncio.create_task(self.heartbeat_forever())
        try:
            while True:
                status, claimed = await self.api(
                    "POST", "/api/tasks/claim-next?wait=20s",
                    {"agent_id": self.agent_id, "capabilities": self.capabilities})
                if status == 204:
                    continue  # nothing within 20 s: ask again
                task = claimed["task"]
                self.current = (task["task_id"], task.get("title"))
                try:
                    result = await self.work(task)
                    await self.api("POST", f"/api/tasks/{task['task_id']}/complete",
                                   {"agent_id": self.agent_id, "success": True, "result": result, "error": None})
                except Exception as e:
                    await self.api("POST", f"/api/tasks/{task['task_id']}/complete",
                                   {"agent_id": self.agent_id, "success": False, "result": None, "error": str(e)})
                    await self.api("POST", "/api/messages", {
                        "agent_id": self.agent_id, "channel": "errors",
                        "content": f"task {task['task_id']} failed: {e}"})
                finally:
                    self.current = None
                if once:
                    return
        finally:
            beat.cancel()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default="http://127.0.0.1:8001")
    p.add_argument("--agent-id", required=True)
    p.add_argument("--capability", action="append", default=[])
    p.add_argument("--heartbeat-every", type=float, default=30.0, help="seconds")
    p.add_argument("--once", action="store_true", help="exit after one task")
    args = p.parse_args()
    agent = Agent(Hivelog(args.server), args.agent_id, args.capability, args.heartbeat_every)
    asyncio.run(agent.run(args.once))  # the one and only event loop


if __name__ == "__main__":
    main()
