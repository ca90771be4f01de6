//! Working on tasks as the new routes see it, against the real server with
//! second-scale flags: fencing tokens, retries with backoff and the
//! needs_human dead-letter, snooze, dedup keys under concurrent adds, the
//! pause switch under load, and inboxes.

mod common;

use std::time::Duration;

use common::{assert_error, client, send, Server};
use serde_json::{json, Value};

/// A server whose agents die after 2 s of silence and whose failed
/// attempts wait `backoff` (doubled) before the next grant.
fn fast_server(dir: &std::path::Path, backoff: &str, max_attempts: &str) -> Server {
    let args = [
        "--agent-stale-after",
        "1s",
        "--agent-dead-after",
        "2s",
        "--reap-interval",
        "100ms",
        "--retry-backoff",
        backoff,
        "--max-attempts",
        max_attempts,
    ];
    Server::start_in(dir, &args)
}

async fn add(server: &Server, body: Value) -> Value {
    let (status, answer) = send(client().post(server.url("/api/v2/tasks")).json(&body)).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

async fn claim(server: &Server, id: &str, agent: &str) -> (u16, Value) {
    send(
        client()
            .post(server.url(&format!("/api/tasks/{id}/claim")))
            .header("X-Hivelog-Precise-Status", "true")
            .json(&json!({ "agent_id": agent })),
    )
    .await
}

async fn v2(server: &Server, id: &str, action: &str, body: Value) -> (u16, Value) {
    send(
        client()
            .post(server.url(&format!("/api/v2/tasks/{id}/{action}")))
            .json(&body),
    )
    .await
}

async fn task(server: &Server, id: &str) -> Value {
    send(client().get(server.url(&format!("/api/tasks/{id}"))))
        .await
        .1
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_agent_declared_dead_cannot_overwrite_its_successor() {
    let dir = tempfile::tempdir().unwrap();
    let server = fast_server(dir.path(), "100ms", "5");
    add(&server, json!({"task_id": "t1", "title": "build"})).await;
    let (status, first) = claim(&server, "t1", "alice").await;
    assert_eq!(status, 200);
    let old_token = first["task"]["fencing_token"].as_u64().unwrap();
    // alice goes silent; she is declared dead and the task goes back.
    let s = &server;
    wait_until(
        "the task to come back",
        Duration::from_secs(10),
        || async move { claim(s, "t1", "bob").await.0 == 200 },
    )
    .await;
    let now = task(&server, "t1").await;
    assert_eq!(now["owner"], "bob");
    let new_token = now["fencing_token"].as_u64().unwrap();
    assert!(new_token > old_token, "tokens only grow");
    // alice comes back and tries to finish with her old grant.
    let late = v2(
        &server,
        "t1",
        "complete",
        json!({"agent_id": "alice", "fencing_token": old_token, "result": {"by": "alice"}}),
    )
    .await;
    assert_error(&late, 409, "stale fencing token");
    // Even under bob's name, the old token is refused; progress too.
    let (status, _) = v2(
        &server,
        "t1",
        "complete",
        json!({"agent_id": "bob", "fencing_token": old_token}),
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = send(
        client()
            .post(server.url("/api/tasks/t1/progress"))
            .json(&json!({"agent_id": "bob", "note": "x", "fencing_token": old_token})),
    )
    .await;
    assert_eq!(status, 409);
    let (status, done) = v2(
        &server,
        "t1",
        "complete",
        json!({"agent_id": "bob", "fencing_token": new_token, "result": {"by": "bob"}}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    let stored = task(&server, "t1").await;
    assert_eq!(stored["status"], "completed");
    assert_eq!(
        stored["result"],
        json!({"by": "bob"}),
        "the successor's result stands"
    );
}

#[tokio::test]
async fn failures_back_off_then_need_a_human_who_can_retry() {
    let dir = tempfile::tempdir().unwrap();
    let server = fast_server(dir.path(), "1s", "2");
    add(&server, json!({"task_id": "flaky", "title": "flaky"})).await;
    let (_, c) = claim(&server, "flaky", "a").await;
    let token = c["task"]["fencing_token"].as_u64().unwrap();
    let (status, failed) = v2(
        &server,
        "flaky",
        "complete",
        json!({"agent_id": "a", "fencing_token": token, "error": "tests fail"}),
    )
    .await;
    assert_eq!(status, 200, "{failed}");
    assert_eq!(failed["task"]["status"], "available");
    assert_eq!(failed["task"]["attempts"], 1);
    assert!(failed["task"]["not_before"].is_string());
    // During the backoff it is neither listed nor claimable.
    let (_, listed) = send(client().get(server.url("/api/tasks/available"))).await;
    assert_eq!(listed, json!([]));
    let early = claim(&server, "flaky", "b").await;
    assert_error(&early, 409, "delayed");
    let s = &server;
    wait_until(
        "the backoff to pass",
        Duration::from_secs(5),
        || async move { claim(s, "flaky", "b").await.0 == 200 },
    )
    .await;
    let token = task(&server, "flaky").await["fencing_token"]
        .as_u64()
        .unwrap();
    let (_, last) = v2(
        &server,
        "flaky",
        "complete",
        json!({"agent_id": "b", "fencing_token": token, "success": false, "error": "still"}),
    )
    .await;
    assert_eq!(last["task"]["status"], "needs_human");
    // Old clients see it as failed, in the listing and the failed filter.
    assert_eq!(task(&server, "flaky").await["status"], "failed");
    let (_, failed_list) = send(client().get(server.url("/api/tasks?status=failed"))).await;
    assert_eq!(failed_list[0]["task_id"], "flaky");
    let (_, page) = send(client().get(server.url("/api/v2/tasks?status=needs_human"))).await;
    assert_eq!(page["total"], 1);
    let (_, counts) = send(client().get(server.url("/api/v2/tasks/counts"))).await;
    assert_eq!(counts["needs_human"], 1);
    // A person retries it: fresh attempts, claimable at once.
    let (status, again) = v2(&server, "flaky", "retry", json!({})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["task"]["attempts"], 0);
    assert_eq!(claim(&server, "flaky", "c").await.0, 200);
    // A dead agent's lease expiry spends an attempt the same way.
    let (status, _) = v2(&server, "flaky", "retry", json!({})).await;
    assert_eq!(status, 422, "a claimed task is not retried");
}

#[tokio::test]
async fn snooze_and_delayed_tasks_wait_without_spending_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let server = fast_server(dir.path(), "1s", "2");
    let later = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    add(
        &server,
        json!({"task_id": "later", "title": "later", "not_before": later.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()}),
    )
    .await;
    add(&server, json!({"task_id": "now", "title": "now"})).await;
    let (_, c) = claim(&server, "now", "a").await;
    let token = c["task"]["fencing_token"].as_u64().unwrap();
    let (status, snoozed) = v2(
        &server,
        "now",
        "snooze",
        json!({"agent_id": "a", "fencing_token": token, "delay": "1s", "note": "waiting for CI"}),
    )
    .await;
    assert_eq!(status, 200, "{snoozed}");
    assert_eq!(snoozed["task"]["attempts"], 0);
    let (status, _) = send(
        client()
            .post(server.url("/api/tasks/claim-next"))
            .json(&json!({"agent_id": "b"})),
    )
    .await;
    assert_eq!(status, 204, "both tasks wait");
    // A long poll is woken when the first one's time comes.
    let (status, got) = send(
        client()
            .post(server.url("/api/tasks/claim-next?wait=5s"))
            .json(&json!({"agent_id": "b"})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(["now", "later"].contains(&got["task_id"].as_str().unwrap()));
    assert_eq!(got["task"]["attempts"], 0);
}

#[tokio::test]
async fn concurrent_adds_with_one_dedup_key_make_one_task() {
    let server = Server::start();
    let adds = (0..20).map(|i| {
        let req = client().post(server.url("/api/v2/tasks")).json(
            &json!({"task_id": format!("plan-{i}"), "title": "fix the build", "dedup_key": "fix-build"}),
        );
        send(req)
    });
    let answers = futures_util::future::join_all(adds).await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(_, a)| a["created"] == true)
        .map(|(_, a)| a)
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    let id = created[0]["task_id"].clone();
    for (status, a) in &answers {
        assert_eq!(*status, 200);
        assert_eq!(a["task_id"], id, "every add names the one task");
    }
    let (_, counts) = send(client().get(server.url("/api/v2/tasks/counts"))).await;
    assert_eq!(counts["total"], 1);
    // Once completed, the key is free again.
    let id = id.as_str().unwrap();
    let (_, c) = claim(&server, id, "a").await;
    let token = c["task"]["fencing_token"].as_u64().unwrap();
    v2(
        &server,
        id,
        "complete",
        json!({"agent_id": "a", "fencing_token": token}),
    )
    .await;
    let again = add(
        &server,
        json!({"task_id": "plan-x", "title": "fix the build", "dedup_key": "fix-build"}),
    )
    .await;
    assert_eq!(again["created"], true);
}

#[tokio::test]
async fn pause_stops_every_grant_until_resumed_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = fast_server(dir.path(), "1s", "2");
    for i in 0..20 {
        add(&server, json!({"task_id": format!("p{i}"), "title": "x"})).await;
    }
    let (status, state) = send(
        client()
            .post(server.url("/api/v2/pause"))
            .json(&json!({"paused": true, "by": "ops"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(state["paused"], true);
    // Under load: 20 agents asking at once all hear "paused".
    let asks = (0..20).map(|i| {
        send(
            client()
                .post(server.url("/api/tasks/claim-next"))
                .json(&json!({ "agent_id": format!("a{i}") })),
        )
    });
    for got in futures_util::future::join_all(asks).await {
        assert_error(&got, 503, "paused");
    }
    assert_error(&claim(&server, "p1", "a").await, 503, "paused");
    let (_, listed) = send(client().get(server.url("/api/tasks/available"))).await;
    assert_eq!(listed, json!([]), "old agents find nothing to claim");
    server.terminate();
    let server = fast_server(dir.path(), "1s", "2");
    assert_error(&claim(&server, "p1", "a").await, 503, "paused");
    send(
        client()
            .post(server.url("/api/v2/pause"))
            .json(&json!({"paused": false})),
    )
    .await;
    // A waiting claim-next is answered as soon as grants resume.
    let asks = (0..20).map(|i| {
        send(
            client()
                .post(server.url("/api/tasks/claim-next?wait=5s"))
                .json(&json!({ "agent_id": format!("a{i}") })),
        )
    });
    let got = futures_util::future::join_all(asks).await;
    let mut ids: Vec<String> = got
        .iter()
        .map(|(s, a)| {
            assert_eq!(*s, 200, "{a}");
            a["task_id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "each task granted once");
}

#[tokio::test]
async fn mentions_and_handoffs_land_in_the_inbox_until_acked() {
    let server = Server::start();
    let (status, _) = send(client().post(server.url("/api/messages")).json(
        &json!({"agent_id": "alice", "channel": "coordination", "content": "@bob can you review?\nthanks"}),
    ))
    .await;
    assert_eq!(status, 200);
    add(&server, json!({"task_id": "h1", "title": "parser"})).await;
    let (_, c) = claim(&server, "h1", "alice").await;
    let token = c["task"]["fencing_token"].as_u64().unwrap();
    let (status, handed) = v2(
        &server,
        "h1",
        "handoff",
        json!({"agent_id": "alice", "fencing_token": token, "note": "lexer done", "to": "bob"}),
    )
    .await;
    assert_eq!(status, 200, "{handed}");
    assert_eq!(handed["task"]["handoff"]["note"], "lexer done");
    assert_eq!(handed["task"]["status"], "available");
    let inbox_url = server.url("/api/v2/agents/bob/inbox");
    let (_, inbox) = send(client().get(&inbox_url)).await;
    assert_eq!(inbox["count"], 2, "{inbox}");
    assert_eq!(inbox["items"][0]["text"], "@bob can you review?\nthanks");
    assert_eq!(inbox["items"][1]["kind"], "handoff");
    // Peeking does not consume.
    assert_eq!(send(client().get(&inbox_url)).await.1["count"], 2);
    let first = inbox["items"][0]["seq"].as_u64().unwrap();
    send(
        client()
            .post(server.url("/api/v2/agents/bob/inbox/ack"))
            .json(&json!({"up_to": first})),
    )
    .await;
    assert_eq!(send(client().get(&inbox_url)).await.1["count"], 1);
    // A long poll returns as soon as something arrives.
    send(
        client()
            .post(server.url("/api/v2/agents/bob/inbox/ack"))
            .json(&json!({})),
    )
    .await;
    let waiting = tokio::spawn({
        let url = format!("{inbox_url}?wait=10s");
        async move { send(client().get(url)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    send(client().post(server.url("/api/messages")).json(
        &json!({"agent_id": "carol", "channel": "coordination", "content": "ping", "to": "bob"}),
    ))
    .await;
    let (_, woke) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the long poll returned")
        .unwrap();
    assert_eq!(woke["items"][0]["from"], "carol");
}

#[tokio::test]
async fn agents_hear_of_claimable_tasks_that_need_their_capabilities() {
    let server = Server::start();
    for (id, caps) in [("rustacean", json!(["rust"])), ("writer", json!(["docs"]))] {
        send(
            client()
                .post(server.url("/api/agents/register"))
                .json(&json!({"agent_id": id, "capabilities": caps})),
        )
        .await;
    }
    add(&server, json!({"task_id": "base", "title": "base"})).await;
    add(&server, json!({"task_id": "port", "title": "port to rust", "capabilities": ["rust"], "depends_on": ["base"]})).await;
    let inbox = |agent: &str| {
        let url = server.url(&format!("/api/v2/agents/{agent}/inbox"));
        async move { send(client().get(url)).await.1["items"].clone() }
    };
    assert_eq!(
        inbox("rustacean").await,
        json!([]),
        "blocked: not claimable yet"
    );
    let (_, c) = claim(&server, "base", "x").await;
    let token = c["task"]["fencing_token"].clone();
    v2(
        &server,
        "base",
        "complete",
        json!({"agent_id": "x", "fencing_token": token}),
    )
    .await;
    let items = inbox("rustacean").await;
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
    assert_eq!(items[0]["kind"], "task_ready");
    assert_eq!(items[0]["task_id"], "port");
    assert_eq!(
        inbox("writer").await,
        json!([]),
        "not for an agent without the capability"
    );
}
