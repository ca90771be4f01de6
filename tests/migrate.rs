//! `hivelog migrate`: embedded → NATS JetStream → embedded loses nothing.
//! Every version of every task, every message (subject, payload, headers,
//! time), agents, reservations, an inbox with its ack floor and a durable
//! consumer's position come back as they were; in between, an instance on
//! NATS serves the same tasks and messages.

mod common;

use std::process::Command;

use common::{client, nats, send, Server};
use serde_json::{json, Value};

fn migrate(from: &str, to: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(["migrate", "--from", from, "--to", to])
        .output()
        .expect("run hivelog migrate");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything the round trip must keep, as clients read it (sequences
/// differ between stores, so they are left out; times are kept only where
/// the store can carry them).
async fn snapshot(server: &Server, with_times: bool) -> Value {
    let c = client();
    let (_, tasks) = send(c.get(server.url("/api/tasks?limit=1000"))).await;
    let mut histories = serde_json::Map::new();
    for t in tasks.as_array().unwrap() {
        let id = t["task_id"].as_str().unwrap();
        let (_, h) = send(c.get(server.url(&format!("/api/tasks/{id}/history")))).await;
        let versions: Vec<Value> = h["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["task"].clone())
            .collect();
        histories.insert(id.to_string(), json!(versions));
    }
    let (_, messages) =
        send(c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages?limit=10000"))).await;
    let messages: Vec<Value> = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let mut headers = m["headers"].clone();
            if let Some(h) = headers.as_object_mut() {
                h.remove("Hivelog-Time");
            }
            json!({
                "subject": m["subject"],
                "data": m.get("data").or(m.get("text")).cloned(),
                "headers": headers,
                "time": if with_times { m["time"].clone() } else { Value::Null },
            })
        })
        .collect();
    let (_, mut agents) = send(c.get(server.url("/api/agents?include_stale=true"))).await;
    // Relative to now, not stored.
    for a in agents.as_array_mut().unwrap() {
        a.as_object_mut().unwrap().remove("seconds_since_heartbeat");
    }
    let (_, reservations) = send(c.get(server.url("/api/v2/reservations"))).await;
    let (_, inbox) = send(c.get(server.url("/api/v2/agents/bob/inbox"))).await;
    let texts: Vec<Value> = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["text"].clone())
        .collect();
    json!({
        "histories": histories,
        "messages": messages,
        "agents": agents,
        "reservations": reservations["reservations"],
        "bob_unread": texts,
    })
}

#[tokio::test]
async fn embedded_to_nats_and_back_loses_nothing() {
    let Some(nats) = nats::start("embedded_to_nats_and_back_loses_nothing") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let (a, b, c_dir) = (
        root.path().join("a"),
        root.path().join("b"),
        root.path().join("c"),
    );
    let server = Server::start_in(&a, &[]);
    let c = client();
    for agent in ["alice", "bob"] {
        send(
            c.post(server.url("/api/agents/register"))
                .json(&json!({"agent_id": agent})),
        )
        .await;
    }
    for i in 1..=4 {
        let (status, body) = send(c.post(server.url("/api/tasks")).json(
            &json!({"task_id": format!("t{i}"), "title": format!("task {i}"), "description": "", "blocked_by": if i == 4 { json!(["t1"]) } else { json!([]) }}),
        ))
        .await;
        assert_eq!(status, 200, "{body}");
    }
    send(
        c.post(server.url("/api/tasks/t1/claim"))
            .json(&json!({"agent_id": "alice"})),
    )
    .await;
    send(c.post(server.url("/api/tasks/t1/complete")).json(
        &json!({"agent_id": "alice", "success": true, "result": {"pages": 3}, "error": null}),
    ))
    .await;
    send(
        c.post(server.url("/api/tasks/t2/claim"))
            .json(&json!({"agent_id": "bob"})),
    )
    .await;
    send(
        c.post(server.url("/api/v2/reservations"))
            .json(&json!({"agent_id": "alice", "globs": ["src/api/**"], "reason": "refactor"})),
    )
    .await;
    for text in ["@bob first", "@bob second", "@bob third"] {
        send(
            c.post(server.url("/api/messages"))
                .json(&json!({"agent_id": "alice", "channel": "coordination", "content": text})),
        )
        .await;
    }
    let (_, inbox) = send(c.get(server.url("/api/v2/agents/bob/inbox"))).await;
    let first = inbox["items"][0]["seq"].as_u64().unwrap();
    send(
        c.post(server.url("/api/v2/agents/bob/inbox/ack"))
            .json(&json!({"up_to": first})),
    )
    .await;
    for i in 0..3 {
        send(
            c.post(server.url("/api/pub/mjwork.notes"))
                .header("Hdr-Origin", "laptop")
                .body(format!("{{\"n\":{i}}}")),
        )
        .await;
    }
    let consumers = server.url("/api/streams/MJ_ONLINE_WORK/consumers");
    let (status, body) = send(c.post(&consumers).json(
        &json!({"durable_name": "reader", "filter_subject": "mjwork.notes", "ack_wait": "30s"}),
    ))
    .await;
    assert_eq!(status, 201, "{body}");
    let (_, got) = send(c.post(format!("{consumers}/reader/next?batch=2"))).await;
    for m in got["messages"].as_array().unwrap() {
        send(
            c.post(format!("{consumers}/reader/ack"))
                .json(&json!({"seq": m["seq"]})),
        )
        .await;
    }
    let before = snapshot(&server, true).await;
    assert_eq!(before["bob_unread"], json!(["@bob second", "@bob third"]));
    // Stopped as an operator would, so its last acks are written.
    let mut server = server;
    assert!(server.terminate().success());

    let text = migrate(&a.display().to_string(), &nats.url);
    assert!(
        text.contains("consumers of MJ_ONLINE_WORK copied at their positions: reader"),
        "{text}"
    );
    // An instance on NATS serves the same (times are JetStream's there).
    let on_nats = Server::start_in(&b, &["--backend", &nats.url]);
    let mut expected = before.clone();
    for m in expected["messages"].as_array_mut().unwrap() {
        m["time"] = Value::Null;
    }
    assert_eq!(snapshot(&on_nats, false).await, expected);
    let mut on_nats = on_nats;
    assert!(on_nats.terminate().success());

    let text = migrate(&nats.url, &c_dir.display().to_string());
    assert!(text.contains("reader"), "{text}");
    let back = Server::start_in(&c_dir, &[]);
    assert_eq!(snapshot(&back, true).await, before);
    // The consumer goes on after what it had acknowledged.
    let consumers = back.url("/api/streams/MJ_ONLINE_WORK/consumers");
    let (_, got) = send(c.post(format!("{consumers}/reader/next?batch=5"))).await;
    let data: Vec<Value> = got["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["data"].clone())
        .collect();
    assert_eq!(data, [json!({"n": 2})], "{got}");
    // Migrating into a store that has state already is refused: while its
    // server holds it, and then because of what it holds.
    let again = || {
        Command::new(env!("CARGO_BIN_EXE_hivelog"))
            .args([
                "migrate",
                "--from",
                &nats.url,
                "--to",
                &c_dir.display().to_string(),
            ])
            .output()
            .unwrap()
    };
    assert!(!again().status.success());
    drop(back);
    let out = again();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already holds hivelog state"),
        "{out:?}"
    );
}

#[test]
fn two_directories_or_two_servers_are_refused_with_the_way_to_do_it() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    for (from, to) in [
        (a.display().to_string(), b.display().to_string()),
        (
            "nats://127.0.0.1:1".to_string(),
            "nats://127.0.0.1:2".to_string(),
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_hivelog"))
            .args(["migrate", "--from", &from, "--to", &to])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("one side must be a data directory"), "{err}");
    }
    assert!(!a.exists() && !b.exists(), "nothing was created");
}
