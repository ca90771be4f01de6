//! `hivelog import-jetstream`: a stream written the way the replaced NATS +
//! FastAPI stack wrote it (every version of a task whole on
//! `mjwork.tasks`, messages on `mjwork.coordination`, heartbeats) becomes
//! hivelog's state: the newest version of each task wins, claims keep
//! their holder, results stay, messages are served again; a second run
//! changes nothing. Into the embedded store, and into hivelog's state on
//! the old stack's own NATS server.

mod common;

use common::nats;

use std::process::{Command, Output};

use async_nats::jetstream;
use common::{client, send, Server};
use serde_json::{json, Value};

fn hivelog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(args)
        .output()
        .expect("run hivelog")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What the old stack left behind: the stream with its task versions,
/// some of them not tasks at all, and its messages.
async fn old_stack(url: &str) {
    let js = jetstream::new(async_nats::connect(url).await.unwrap());
    js.create_stream(jetstream::stream::Config {
        name: "MJ_ONLINE_WORK".into(),
        subjects: vec!["mjwork.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let task = |id: &str, status: &str, extra: Value| {
        let mut t = json!({
            "task_id": id, "title": format!("title of {id}"), "description": "d",
            "status": status, "owner": null, "blocked_by": [], "priority": "medium",
            "created_at": "2026-01-30T10:12:00.123456", "claimed_at": null,
            "completed_at": null, "result": null, "error": null,
        });
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        ("mjwork.tasks", t.to_string())
    };
    let messages = [
        task("t1", "available", json!({})),
        task("t2", "available", json!({"priority": "high"})),
        task("t3", "available", json!({"blocked_by": ["t1"]})),
        // The old service took any priority; a migration leaves no task
        // behind for one hivelog does not know.
        task("t4", "completed", json!({"priority": "urgent", "owner": "carol",
             "completed_at": "2026-01-30T10:15:00.000000"})),
        task("t1", "claimed", json!({"owner": "alice", "claimed_at": "2026-01-30T10:13:00.000001"})),
        ("mjwork.tasks", "not json".to_string()),
        ("mjwork.tasks", json!({"no": "id"}).to_string()),
        (
            "mjwork.coordination",
            json!({"agent_id": "alice", "channel": "coordination", "content": "@bob the schema is ready",
                   "timestamp": "2026-01-30T10:14:00.000000", "message_id": null})
            .to_string(),
        ),
        task("t1", "completed", json!({"owner": "alice", "claimed_at": "2026-01-30T10:13:00.000001",
             "completed_at": "2026-01-30T10:20:00.000002", "result": {"pages": 3}})),
        task("t2", "claimed", json!({"owner": "bob", "claimed_at": "2026-01-30T10:21:00.000000", "priority": "high"})),
        (
            "mjwork.heartbeat.alice",
            json!({"agent_id": "alice", "status": "idle"}).to_string(),
        ),
    ];
    for (subject, payload) in messages {
        js.publish(subject, payload.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

/// What the import must have built, as the compatible routes show it.
async fn assert_imported(server: &Server) {
    let c = client();
    let (status, t1) = send(c.get(server.url("/api/tasks/t1"))).await;
    assert_eq!(status, 200, "{t1}");
    assert_eq!(t1["status"], "completed", "the newest version wins: {t1}");
    assert_eq!(t1["owner"], "alice", "{t1}");
    assert_eq!(t1["result"], json!({"pages": 3}), "{t1}");
    assert_eq!(t1["completed_at"], "2026-01-30T10:20:00.000002", "{t1}");
    let (_, t2) = send(c.get(server.url("/api/tasks/t2"))).await;
    assert_eq!(t2["status"], "claimed", "{t2}");
    assert_eq!(t2["owner"], "bob", "{t2}");
    assert_eq!(t2["priority"], "high", "{t2}");
    let (_, t4) = send(c.get(server.url("/api/tasks/t4"))).await;
    assert_eq!(t4["status"], "completed", "{t4}");
    assert_eq!(t4["priority"], "high", "{t4}");
    assert_eq!(t4["original_priority"], "urgent", "{t4}");
    // t3 waited for t1, which is done: it is the one task on offer.
    let (_, available) = send(c.get(server.url("/api/tasks/available"))).await;
    let ids: Vec<&str> = available
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["t3"], "{available}");
    // Bob still holds t2: his completion is accepted as on the old stack.
    let (status, body) = send(
        c.post(server.url("/api/tasks/t2/complete"))
            .json(&json!({"agent_id": "bob", "success": true, "result": null, "error": null})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_old_stacks_stream_becomes_the_embedded_store() {
    let Some(nats) = nats::start("the_old_stacks_stream_becomes_the_embedded_store") else {
        return;
    };
    old_stack(&nats.url).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let out = hivelog(&["import-jetstream", &nats.url, "--data-dir", &data]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("read 11 messages"), "{text}");
    assert!(text.contains("copied 11 messages"), "{text}");
    assert!(
        text.contains("4 tasks created, 0 already in hivelog and kept, 2 unreadable"),
        "{text}"
    );
    assert!(
        text.contains(r#"priority mapped: t4: "urgent" -> high"#),
        "{text}"
    );

    // Again: nothing more is created or copied.
    let again = hivelog(&["import-jetstream", &nats.url, "--data-dir", &data]);
    assert!(again.status.success(), "{again:?}");
    let text = stdout(&again);
    assert!(text.contains("copied 0 messages"), "{text}");
    assert!(
        text.contains("0 tasks created, 4 already in hivelog"),
        "{text}"
    );

    let server = Server::start_in(dir.path(), &[]);
    assert_imported(&server).await;
    let (_, messages) = send(client().get(server.url("/api/messages/coordination?limit=50"))).await;
    let contents: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(contents, ["@bob the schema is ready"], "{messages}");
}

#[tokio::test]
async fn on_the_old_stacks_server_the_stream_stays_and_state_is_built_beside_it() {
    let Some(nats) =
        nats::start("on_the_old_stacks_server_the_stream_stays_and_state_is_built_beside_it")
    else {
        return;
    };
    old_stack(&nats.url).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let out = hivelog(&[
        "import-jetstream",
        &nats.url,
        "--backend",
        &nats.url,
        "--data-dir",
        &data,
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("messages not copied"), "{text}");
    assert!(text.contains("4 tasks created"), "{text}");
    let server = Server::start_in(dir.path(), &["--backend", &nats.url]);
    assert_imported(&server).await;
}

#[test]
fn a_missing_stream_is_a_clear_error() {
    let Some(nats) = nats::start("a_missing_stream_is_a_clear_error") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = hivelog(&[
        "import-jetstream",
        &nats.url,
        "--stream",
        "NOPE",
        "--data-dir",
        &dir.path().display().to_string(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no stream NOPE"), "{err}");
}
