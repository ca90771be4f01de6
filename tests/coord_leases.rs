//! Invariant 3: a claimed task never stays stuck. With second-scale
//! thresholds: heartbeats naming a task keep its lease; an agent that stops
//! heartbeating loses its tasks; an expired lease returns the task with its
//! attempts raised; after the last attempt the task fails with the reason.

mod common;

use std::time::{Duration, Instant};

use common::{client, send, Server};
use serde_json::{json, Value};

const FLAGS: &[&str] = &[
    "--task-lease",
    "1500ms",
    "--agent-stale-after",
    "1s",
    "--agent-dead-after",
    "2s",
    "--reap-interval",
    "100ms",
    "--max-attempts",
    "2",
    // A returned task waits out a backoff before its next grant.
    "--retry-backoff",
    "100ms",
];

async fn task(server: &Server, id: &str) -> Value {
    send(client().get(server.url(&format!("/api/tasks/{id}"))))
        .await
        .1
}

/// Polls until `done` holds for the task, or fails after `within`.
async fn wait_for(
    server: &Server,
    id: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let t = task(server, id).await;
        if done(&t) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "task {id} did not change as expected: {t}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn heartbeats_keep_a_claim_and_silence_releases_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), FLAGS);
    let c = client();
    send(
        c.post(server.url("/api/agents/register"))
            .json(&json!({"agent_id": "worker"})),
    )
    .await;
    send(
        c.post(server.url("/api/tasks"))
            .json(&json!({"title": "t", "description": "", "task_id": "kept"})),
    )
    .await;
    send(
        c.post(server.url("/api/tasks/kept/claim"))
            .json(&json!({"agent_id": "worker"})),
    )
    .await;
    // Heartbeat every 300 ms for 3 s: twice the lease, beyond dead-after.
    for _ in 0..10 {
        send(
            c.post(server.url("/api/agents/heartbeat"))
                .json(&json!({"agent_id": "worker", "status": "busy", "current_task": "kept"})),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let t = task(&server, "kept").await;
    assert_eq!(
        (t["status"].clone(), t["owner"].clone()),
        (json!("claimed"), json!("worker")),
        "heartbeats renewed the lease"
    );

    // Silence: the task comes back with attempts + 1 and the reason.
    let t = wait_for(&server, "kept", Duration::from_secs(8), |t| {
        t["status"] == "available"
    })
    .await;
    assert_eq!(t["attempts"], 1);
    assert_eq!(t["owner"], Value::Null);
    let reason = t["release_reason"].as_str().unwrap();
    assert!(reason.contains("worker"), "{reason}");
    let (_, errors) = send(c.get(server.url("/api/messages/errors"))).await;
    let reported = errors.as_array().unwrap();
    assert!(
        reported.iter().any(|m| m["content"]
            .as_str()
            .unwrap()
            .contains("task kept returned to the queue")),
        "{errors}"
    );
    let (_, versions) =
        send(c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages?subject=mjwork.tasks"))).await;
    assert_eq!(
        versions["messages"].as_array().unwrap().last().unwrap()["data"]["status"],
        "available"
    );
}

#[tokio::test]
async fn expired_leases_requeue_then_fail_after_max_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), FLAGS);
    let c = client();
    send(
        c.post(server.url("/api/tasks"))
            .json(&json!({"title": "t", "description": "", "task_id": "slow"})),
    )
    .await;
    // A busy agent that heartbeats but never names the task: only the lease can free it.
    let keep_alive = {
        let (c, url) = (c.clone(), server.url("/api/agents/heartbeat"));
        tokio::spawn(async move {
            loop {
                send(
                    c.post(&url)
                        .json(&json!({"agent_id": "forgetful", "status": "busy"})),
                )
                .await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };
    send(
        c.post(server.url("/api/tasks/slow/claim"))
            .json(&json!({"agent_id": "forgetful"})),
    )
    .await;
    let t = wait_for(&server, "slow", Duration::from_secs(6), |t| {
        t["status"] == "available"
    })
    .await;
    assert_eq!(t["attempts"], 1);
    assert!(
        t["release_reason"].as_str().unwrap().contains("lease"),
        "{t}"
    );
    // Claimable again once the backoff has passed.
    let mut tries = 0;
    while send(
        c.post(server.url("/api/tasks/slow/claim"))
            .json(&json!({"agent_id": "forgetful"})),
    )
    .await
    .0 != 200
    {
        tries += 1;
        assert!(tries < 50, "the task never became claimable again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t = wait_for(&server, "slow", Duration::from_secs(6), |t| {
        t["status"] != "claimed"
    })
    .await;
    keep_alive.abort();
    assert_eq!(
        t["status"], "failed",
        "second expiry with --max-attempts 2 fails the task: {t}"
    );
    assert_eq!(t["attempts"], 2);
    assert!(
        t["error"]
            .as_str()
            .unwrap()
            .contains("gave up after 2 attempts"),
        "{t}"
    );
}

#[tokio::test]
async fn a_removed_agents_tasks_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), FLAGS);
    let c = client();
    send(
        c.post(server.url("/api/agents/register"))
            .json(&json!({"agent_id": "gone"})),
    )
    .await;
    send(
        c.post(server.url("/api/tasks"))
            .json(&json!({"title": "t", "description": "", "task_id": "orphan"})),
    )
    .await;
    send(
        c.post(server.url("/api/tasks/orphan/claim"))
            .json(&json!({"agent_id": "gone"})),
    )
    .await;
    send(c.delete(server.url("/api/agents/gone"))).await;
    let t = wait_for(&server, "orphan", Duration::from_secs(8), |t| {
        t["status"] == "available"
    })
    .await;
    assert_eq!(t["attempts"], 1);
}
