//! Agents and messages with the bodies old clients send: register,
//! heartbeat, listing with health, delete, cleanup, channels, mentions.

mod common;

use std::time::Duration;

use common::{assert_error, client, send, Server};
use serde_json::{json, Value};

/// The ids of a bare array of agents (what the compatible list answers).
fn agent_ids(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn register_heartbeat_list_and_health() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        dir.path(),
        &["--agent-stale-after", "1s", "--agent-dead-after", "4s"],
    );
    let c = client();
    let (status, body) = send(
        c.post(server.url("/api/agents/register"))
            .json(&json!({"agent_id": "alice", "description": null, "capabilities": []})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["success"].clone(), body["agent_id"].clone()),
        (json!(true), json!("alice"))
    );
    send(
        c.post(server.url("/api/agents/register")).json(
            &json!({"agent_id": "bob", "description": "writes docs", "capabilities": ["docs"]}),
        ),
    )
    .await;

    let beat = json!({"agent_id": "alice", "status": "busy", "current_task": "task-7", "current_task_title": "Write page",
                      "needs_approval": true, "approval_message": "may I delete the old page?"});
    let (status, body) = send(c.post(server.url("/api/agents/heartbeat")).json(&beat)).await;
    assert_eq!((status, body["success"].clone()), (200, json!(true)));
    // bob registered but never sent a heartbeat: listed only with
    // include_stale, as the replaced service did.
    let (_, list) = send(c.get(server.url("/api/agents"))).await;
    assert_eq!(agent_ids(&list), ["alice"]);
    let (_, all) = send(c.get(server.url("/api/agents?include_stale=true"))).await;
    assert_eq!(agent_ids(&all), ["alice", "bob"]);
    assert_eq!(all[1]["last_heartbeat"], Value::Null);
    let alice = &list[0];
    assert_eq!(alice["status"], "busy");
    assert_eq!(alice["current_task"], "task-7");
    assert_eq!(alice["needs_approval"], true);
    assert_eq!(alice["approval_message"], "may I delete the old page?");
    assert_eq!(alice["health"], "active");
    assert!(alice["last_heartbeat"].as_str().unwrap().len() == 26);

    // A heartbeat replaces the reported fields: omitted ones reset.
    send(
        c.post(server.url("/api/agents/heartbeat"))
            .json(&json!({"agent_id": "alice", "status": "idle"})),
    )
    .await;
    let (_, list) = send(c.get(server.url("/api/agents"))).await;
    let alice = &list[0];
    assert_eq!(
        (
            alice["current_task"].clone(),
            alice["needs_approval"].clone()
        ),
        (Value::Null, json!(false))
    );

    // A heartbeat from an unknown agent registers it.
    let (status, _) = send(
        c.post(server.url("/api/agents/heartbeat"))
            .json(&json!({"agent_id": "carol", "status": "active"})),
    )
    .await;
    assert_eq!(status, 200);

    // Health turns stale, then dead, on time, without new events.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    send(
        c.post(server.url("/api/agents/heartbeat"))
            .json(&json!({"agent_id": "carol", "status": "active"})),
    )
    .await;
    let (_, fresh) = send(c.get(server.url("/api/agents?include_stale=false"))).await;
    assert_eq!(agent_ids(&fresh), ["carol"]);
    let (_, all) = send(c.get(server.url("/api/agents?include_stale=true"))).await;
    let health: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["health"].as_str().unwrap())
        .collect();
    assert_eq!(health, ["stale", "stale", "active"]);
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let (_, all) = send(c.get(server.url("/api/agents?include_stale=true"))).await;
    assert_eq!(all[0]["health"], "dead");
}

#[tokio::test]
async fn agent_errors_delete_and_cleanup() {
    let server = Server::start();
    let c = client();
    let reg = |body: Value| c.post(server.url("/api/agents/register")).json(&body);
    assert_error(&send(reg(json!({"agent_id": ""}))).await, 422, "agent_id");
    assert_error(
        &send(reg(json!({"agent_id": "x".repeat(51)}))).await,
        422,
        "at most 50 characters",
    );
    assert_error(
        &send(reg(
            json!({"agent_id": "ok", "description": "d".repeat(201)}),
        ))
        .await,
        422,
        "200",
    );
    assert_error(
        &send(reg(json!({"description": "no id"}))).await,
        422,
        "agent_id",
    );
    assert_error(
        &send(
            c.post(server.url("/api/agents/heartbeat"))
                .json(&json!({"agent_id": "a", "status": "sleeping"})),
        )
        .await,
        422,
        "Input should be 'active', 'idle', 'busy' or 'offline'",
    );
    for id in ["a1", "a2", "a3"] {
        send(reg(json!({"agent_id": id}))).await;
    }
    let (status, removed) = send(c.delete(server.url("/api/agents/a1"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            removed["success"].clone(),
            removed["agent_id"].clone(),
            removed["removed"]["agent_id"].clone()
        ),
        (json!(true), json!("a1"), json!("a1"))
    );
    assert_error(
        &send(c.delete(server.url("/api/agents/a1"))).await,
        404,
        "Agent a1 not found",
    );
    let (status, body) = send(
        c.post(server.url("/api/agents/cleanup"))
            .json(&json!({"keep_agents": ["a3", "ghost"]})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"success": true, "removed_count": 1, "removed_agents": ["a2"], "kept_agents": ["a3", "ghost"]})
    );
    let (_, list) = send(c.get(server.url("/api/agents?include_stale=true"))).await;
    assert_eq!(agent_ids(&list), ["a3"]);
}

#[tokio::test]
async fn messages_newest_window_oldest_first_with_mentions() {
    let server = Server::start();
    let c = client();
    for i in 1..=5 {
        let content = if i % 2 == 0 {
            format!("@bob step {i}")
        } else {
            format!("step {i}")
        };
        let (status, body) = send(
            c.post(server.url("/api/messages"))
                .json(&json!({"agent_id": "alice", "channel": "coordination", "content": content})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["stream"], "MJ_ONLINE_WORK");
        assert!(body["sequence"].as_u64().is_some() && body["timestamp"].is_string());
    }
    send(
        c.post(server.url("/api/messages"))
            .json(&json!({"agent_id": "alice", "channel": "errors", "content": "boom"})),
    )
    .await;
    let (_, body) = send(c.get(server.url("/api/messages/coordination?limit=3"))).await;
    let contents: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        ["step 3", "@bob step 4", "step 5"],
        "the most recent 3, oldest first"
    );
    let m = &body[1];
    assert_eq!(
        (
            m["agent_id"].clone(),
            m["channel"].clone(),
            m["mentions"].clone()
        ),
        (json!("alice"), json!("coordination"), json!(["bob"]))
    );
    assert_eq!(m["message_id"], Value::Null, "what the client sent");
    assert!(m["sequence"].as_u64().is_some());
    let (_, bob) = send(c.get(server.url("/api/messages/coordination?mention=bob"))).await;
    assert_eq!(bob.as_array().unwrap().len(), 2);
    let (_, errors) = send(c.get(server.url("/api/messages/errors"))).await;
    assert_eq!(errors[0]["content"], "boom");
    let (_, raw) = send(c.get(server.url("/api/streams/MJ_ONLINE_WORK/last/mjwork.errors"))).await;
    assert_eq!(
        raw["data"]["content"], "boom",
        "messages are on mjwork.<channel>"
    );

    let post = |body: Value| c.post(server.url("/api/messages")).json(&body);
    assert_error(
        &send(post(json!({"channel": "coordination", "content": "x"}))).await,
        422,
        "agent_id",
    );
    assert_error(
        &send(post(
            json!({"agent_id": "a", "channel": "no spaces", "content": "x"}),
        ))
        .await,
        422,
        "channel",
    );
    assert_error(
        &send(post(json!({"agent_id": "a", "channel": "coordination"}))).await,
        422,
        "content",
    );
    assert_error(
        &send(c.get(server.url("/api/messages/coordination?limit=0"))).await,
        422,
        "greater than or equal to 1",
    );
}
