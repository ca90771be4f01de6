//! Invariant 2 (a task is granted to at most one agent) and invariant 5
//! (state survives a restart): 50 agents race over 20 tasks the way old
//! clients do (poll available, claim from the top); then a kill -9 in the
//! middle of work loses nothing.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::{client, send, Server};
use serde_json::{json, Value};

const AGENTS: usize = 50;
const TASKS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_claimers_over_twenty_tasks_never_share_one() {
    let server = Server::start();
    let c = client();
    for i in 0..TASKS {
        send(
            c.post(server.url("/api/tasks"))
                .json(&json!({"task_id": format!("t{i}"), "title": "race", "description": ""})),
        )
        .await;
    }
    let grants: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
    let mut agents = Vec::new();
    for a in 0..AGENTS {
        let (base, grants) = (server.base.clone(), grants.clone());
        agents.push(tokio::spawn(async move {
            let c = client();
            let me = format!("agent-{a}");
            loop {
                let (_, avail) = send(c.get(format!("{base}/api/tasks/available?limit=10"))).await;
                let tasks = avail.as_array().cloned().unwrap_or_default();
                if tasks.is_empty() {
                    break;
                }
                for t in tasks {
                    let id = t["task_id"].as_str().unwrap().to_string();
                    let (status, body) = send(
                        c.post(format!("{base}/api/tasks/{id}/claim"))
                            .json(&json!({"agent_id": me})),
                    )
                    .await;
                    match status {
                        200 => {
                            grants
                                .lock()
                                .unwrap()
                                .entry(id.clone())
                                .or_default()
                                .push(me.clone());
                            let done =
                                json!({"agent_id": me, "success": true, "result": {"by": me}});
                            let (status, body) = send(
                                c.post(format!("{base}/api/tasks/{id}/complete"))
                                    .json(&done),
                            )
                            .await;
                            assert_eq!(status, 200, "the winner completes: {body}");
                        }
                        404 => {}
                        other => panic!("unexpected claim answer {other}: {body}"),
                    }
                }
            }
        }));
    }
    for a in agents {
        a.await.unwrap();
    }
    let grants = grants.lock().unwrap().clone();
    assert_eq!(grants.len(), TASKS, "every task was granted");
    for (id, winners) in grants.iter() {
        assert_eq!(winners.len(), 1, "task {id} granted to {winners:?}");
    }
    for i in 0..TASKS {
        let (_, h) = send(c.get(server.url(&format!("/api/tasks/t{i}/history")))).await;
        let statuses: Vec<&str> = h["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["task"]["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            ["available", "claimed", "completed"],
            "t{i} was claimed and completed exactly once"
        );
        let (_, t) = send(c.get(server.url(&format!("/api/tasks/t{i}")))).await;
        assert_eq!(t["result"]["by"], t["owner"]);
        assert_eq!(
            t["owner"].as_str(),
            grants[&format!("t{i}")].first().map(String::as_str)
        );
    }
}

#[tokio::test]
async fn kill_9_in_the_middle_of_work_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let c = client();
    send(
        c.post(server.url("/api/agents/register"))
            .json(&json!({"agent_id": "alice", "capabilities": ["docs"]})),
    )
    .await;
    send(c.post(server.url("/api/agents/heartbeat")).json(&json!({"agent_id": "alice", "status": "busy", "current_task": "t1", "needs_approval": true, "approval_message": "ok?"}))).await;
    for i in 1..=4 {
        send(c.post(server.url("/api/tasks")).json(&json!({"task_id": format!("t{i}"), "title": "t", "description": "", "priority": "high", "blocked_by": if i == 4 { vec!["t3"] } else { vec![] }}))).await;
    }
    send(
        c.post(server.url("/api/tasks/t1/claim"))
            .json(&json!({"agent_id": "alice"})),
    )
    .await;
    send(
        c.post(server.url("/api/tasks/t2/claim"))
            .json(&json!({"agent_id": "alice"})),
    )
    .await;
    send(
        c.post(server.url("/api/tasks/t2/complete"))
            .json(&json!({"agent_id": "alice", "success": true, "result": {"n": 2}})),
    )
    .await;
    send(
        c.post(server.url("/api/messages")).json(
            &json!({"agent_id": "alice", "channel": "coordination", "content": "@bob t2 done"}),
        ),
    )
    .await;
    let before: Vec<Value> = {
        let (_, all) = send(c.get(server.url("/api/tasks"))).await;
        all.as_array().unwrap().clone()
    };
    server.kill();

    let server = Server::start_in(dir.path(), &[]);
    let (_, all) = send(c.get(server.url("/api/tasks"))).await;
    let after = all.as_array().unwrap();
    assert_eq!(after.len(), before.len());
    for (a, b) in after.iter().zip(&before) {
        for field in [
            "task_id",
            "status",
            "owner",
            "claimed_at",
            "completed_at",
            "result",
            "depends_on",
            "blocked_by",
            "priority",
        ] {
            assert_eq!(a[field], b[field], "{field} of {}", a["task_id"]);
        }
    }
    let (_, agents) = send(c.get(server.url("/api/agents?include_stale=true"))).await;
    let alice = &agents[0];
    assert_eq!(
        (
            alice["agent_id"].clone(),
            alice["current_task"].clone(),
            alice["needs_approval"].clone()
        ),
        (json!("alice"), json!("t1"), json!(true))
    );
    assert_eq!(alice["capabilities"], json!(["docs"]));
    let (_, msgs) = send(c.get(server.url("/api/messages/coordination"))).await;
    assert_eq!(msgs[0]["content"], "@bob t2 done");
    // Work continues where it stopped.
    let (status, _) = send(
        c.post(server.url("/api/tasks/t1/complete"))
            .json(&json!({"agent_id": "alice", "success": true})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, avail) = send(c.get(server.url("/api/tasks/available"))).await;
    let ids: Vec<&str> = avail
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["t3"], "t4 still waits for t3");
}
