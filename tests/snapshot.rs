//! The coordination snapshot (coord/snapshot.rs) against a real server: a
//! graceful stop writes it; a start after more writes and a `kill -9`
//! serves the snapshot plus every task record stored after it; a damaged
//! snapshot or one ahead of the store is ignored, never trusted.

mod common;

use std::path::Path;

use common::{client, send, Server};
use serde_json::{json, Value};

const SNAPSHOT: &str = "coord.snapshot";

/// Every task as the compatible list answers it, by id.
async fn tasks(server: &Server) -> Vec<Value> {
    let (status, body) = send(client().get(server.url("/api/tasks?limit=1000"))).await;
    assert_eq!(status, 200, "{body}");
    let mut list = body.as_array().expect("a bare array").clone();
    list.sort_by(|a, b| a["task_id"].as_str().cmp(&b["task_id"].as_str()));
    list
}

async fn add(server: &Server, id: &str) {
    let body = json!({"task_id": id, "title": format!("task {id}"), "description": "d", "priority": "high",
        "created_at": "2026-01-30 10:12:00", "custom": {"kept": [1, "two"]}});
    let (status, answer) = send(client().post(server.url("/api/tasks")).json(&body)).await;
    assert!(status < 300, "{status} {answer}");
}

/// The server's log lines up to the end of loading (stderr is read by a
/// thread of its own, so wait for the line that ends loading).
fn start_logs(server: &Server) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let logs = server.logs();
        if logs.iter().any(|l| l.contains("coordination state loaded")) {
            return logs;
        }
        assert!(std::time::Instant::now() < deadline, "{logs:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn loaded_from_snapshot(server: &Server) -> bool {
    start_logs(server)
        .iter()
        .any(|l| l.contains("task view loaded from the snapshot"))
}

#[tokio::test]
async fn a_restart_serves_the_snapshot_and_every_record_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    for i in 0..30 {
        add(&server, &format!("t{i:02}")).await;
    }
    let before = tasks(&server).await;
    assert!(server.terminate().success());
    assert!(
        dir.path().join(SNAPSHOT).exists(),
        "a graceful stop writes the snapshot"
    );

    // Changes after the snapshot, then no graceful stop.
    let mut server = Server::start_in(dir.path(), &[]);
    assert!(loaded_from_snapshot(&server), "{:?}", server.logs());
    assert_eq!(tasks(&server).await, before);
    let (status, claimed) = send(
        client()
            .post(server.url("/api/tasks/t07/claim"))
            .json(&json!({"agent_id": "a1"})),
    )
    .await;
    assert_eq!(status, 200, "{claimed}");
    add(&server, "t99").await;
    let after = tasks(&server).await;
    assert_ne!(after, before);
    server.kill();

    let server = Server::start_in(dir.path(), &[]);
    assert!(loaded_from_snapshot(&server), "{:?}", server.logs());
    assert_eq!(
        tasks(&server).await,
        after,
        "the records after the snapshot were applied"
    );
    let t07 = after.iter().find(|t| t["task_id"] == "t07").unwrap();
    assert_eq!(t07["status"], "claimed");
    assert_eq!(t07["owner"], "a1");
}

async fn filled(dir: &Path) -> Vec<Value> {
    let mut server = Server::start_in(dir, &[]);
    for i in 0..10 {
        add(&server, &format!("t{i}")).await;
    }
    let list = tasks(&server).await;
    assert!(server.terminate().success());
    list
}

#[tokio::test]
async fn a_damaged_snapshot_is_ignored_and_the_tasks_come_from_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let before = filled(dir.path()).await;
    let path = dir.path().join(SNAPSHOT);
    let mut bytes = std::fs::read(&path).unwrap();
    let cut = bytes.len() / 2;
    bytes.truncate(cut);
    std::fs::write(&path, &bytes).unwrap();
    let server = Server::start_in(dir.path(), &[]);
    assert!(!loaded_from_snapshot(&server));
    assert!(
        start_logs(&server)
            .iter()
            .any(|l| l.contains("does not decode")),
        "{:?}",
        server.logs()
    );
    assert_eq!(tasks(&server).await, before);
}

#[tokio::test]
async fn a_snapshot_ahead_of_the_store_is_not_trusted() {
    // A snapshot of a store with more records, beside one with fewer (a
    // data directory restored from a backup without its snapshot).
    let (ahead, behind) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    filled(ahead.path()).await;
    let mut server = Server::start_in(behind.path(), &[]);
    add(&server, "only-here").await;
    let before = tasks(&server).await;
    assert!(server.terminate().success());
    std::fs::copy(ahead.path().join(SNAPSHOT), behind.path().join(SNAPSHOT)).unwrap();
    let server = Server::start_in(behind.path(), &[]);
    assert!(!loaded_from_snapshot(&server));
    assert!(
        start_logs(&server)
            .iter()
            .any(|l| l.contains("ahead of the store")),
        "{:?}",
        server.logs()
    );
    assert_eq!(tasks(&server).await, before);
}
