//! `examples/agent.py` works against the real server: it registers,
//! heartbeats, claims with a long poll, reports progress and completes.
//! Needs python3 (standard library only); says SKIPPED without it.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{client, send, Server};
use serde_json::json;

#[tokio::test]
async fn the_example_agent_does_a_task_end_to_end() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIPPED: python3 is not installed");
        return;
    }
    let server = Server::start();
    let c = client();
    send(
        c.post(server.url("/api/tasks"))
            .json(&json!({"description": "", "task_id": "py-1", "title": "from python"})),
    )
    .await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/agent.py");
    let base = server.base.clone();
    let run = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([
                script,
                "--server",
                &base,
                "--agent-id",
                "py-agent",
                "--once",
                "--heartbeat-every",
                "0.2",
            ])
            .output()
            .expect("run python3")
    });
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("agent finished in time")
        .unwrap();
    assert!(
        out.status.success(),
        "agent failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, task) = send(c.get(server.url("/api/tasks/py-1"))).await;
    assert_eq!(task["status"], "completed");
    assert_eq!(task["owner"], "py-agent");
    assert_eq!(
        task["result"],
        json!({"handled_by": "py-agent", "title": "from python"})
    );
    let (_, history) = send(c.get(server.url("/api/tasks/py-1/history"))).await;
    let progressed = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["task"]["progress"]["percent"] == 50.0);
    assert!(progressed, "the agent reported progress");
    let (_, agents) = send(c.get(server.url("/api/agents"))).await;
    assert_eq!(agents[0]["agent_id"], "py-agent");
}
