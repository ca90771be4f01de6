//! File reservations against the real server: conflicts between
//! overlapping globs, shared and exclusive, the pre-commit check from the
//! CLI, tasks whose files are reserved with the claim (claim-next passes
//! over a task whose files another agent holds), and every way a
//! reservation ends: release, TTL, the task finishing, the agent dying.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{assert_error, client, send, Server};
use serde_json::{json, Value};

async fn reserve(server: &Server, body: Value) -> (u16, Value) {
    send(
        client()
            .post(server.url("/api/v2/reservations"))
            .json(&body),
    )
    .await
}

async fn listed(server: &Server) -> Vec<Value> {
    send(client().get(server.url("/api/v2/reservations")))
        .await
        .1["reservations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn cli(server: &Server, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(["--server", &server.base])
        .args(args)
        .output()
        .expect("run hivelog")
}

#[tokio::test]
async fn overlapping_globs_conflict_unless_both_are_shared() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let (status, held) = reserve(
        &server,
        json!({"agent_id": "alice", "globs": ["src/api/**", "README.md"], "reason": "refactor"}),
    )
    .await;
    assert_eq!(status, 200, "{held}");
    let clash = reserve(
        &server,
        json!({"agent_id": "bob", "globs": ["src/*/mod.rs"]}),
    )
    .await;
    assert_error(&clash, 409, "reserved by alice");
    assert_error(&clash, 409, "src/api/mod.rs");
    // All or nothing: bob's free glob was not taken either.
    let clash = reserve(
        &server,
        json!({"agent_id": "bob", "globs": ["docs/**", "README.md"]}),
    )
    .await;
    assert_eq!(clash.0, 409);
    assert!(listed(&server)
        .await
        .iter()
        .all(|r| r["agent_id"] == "alice"));
    // Shared + shared is fine; shared against exclusive is not.
    assert_eq!(
        reserve(
            &server,
            json!({"agent_id": "bob", "globs": ["docs/**"], "exclusive": false})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        reserve(
            &server,
            json!({"agent_id": "carol", "globs": ["docs/guide.md"], "exclusive": false})
        )
        .await
        .0,
        200
    );
    assert_error(
        &reserve(&server, json!({"agent_id": "dave", "globs": ["docs"]})).await,
        409,
        "reserved by",
    );
    // An agent's own reservations never conflict; reserving again renews.
    assert_eq!(
        reserve(
            &server,
            json!({"agent_id": "alice", "globs": ["src/api/mod.rs"]})
        )
        .await
        .0,
        200
    );
    // The pre-commit check: exit 1 naming the holder, 0 for one's own paths.
    let out = cli(
        &server,
        &[
            "reservations",
            "check",
            "src/api/mod.rs",
            "Cargo.toml",
            "--agent",
            "bob",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("src/api/mod.rs is reserved by alice"), "{err}");
    let out = cli(
        &server,
        &[
            "reservations",
            "check",
            "src/api/mod.rs",
            "--agent",
            "alice",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&server, &["reservations", "ls"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("src/api/**") && table.contains("alice"),
        "{table}"
    );
    // Bad globs are refused with a reason.
    let bad = reserve(
        &server,
        json!({"agent_id": "bob", "globs": ["../etc/passwd"]}),
    )
    .await;
    assert_error(&bad, 422, "..");
    // Reservations survive a restart; release ends them.
    server.terminate();
    let server = Server::start_in(dir.path(), &[]);
    assert_eq!(
        reserve(&server, json!({"agent_id": "bob", "globs": ["README.md"]}))
            .await
            .0,
        409
    );
    let (status, gone) = send(
        client()
            .post(server.url("/api/v2/reservations/release"))
            .json(&json!({"agent_id": "alice"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(gone["released"], 3);
    assert_eq!(
        reserve(&server, json!({"agent_id": "bob", "globs": ["README.md"]}))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_task_with_files_is_claimed_with_them_and_claim_next_fails_over() {
    let server = Server::start();
    for (id, files, priority) in [
        ("api-1", json!(["src/api/**"]), "high"),
        ("api-2", json!(["src/api/mod.rs"]), "high"),
        ("docs", json!(["docs/**"]), "low"),
    ] {
        let (status, a) = send(
            client()
                .post(server.url("/api/v2/tasks"))
                .json(&json!({"task_id": id, "title": id, "files": files, "priority": priority})),
        )
        .await;
        assert_eq!(status, 200, "{a}");
    }
    let next = |agent: &'static str| {
        send(
            client()
                .post(server.url("/api/tasks/claim-next"))
                .json(&json!({ "agent_id": agent })),
        )
    };
    let (_, first) = next("alice").await;
    assert_eq!(first["task_id"], "api-1");
    let held = listed(&server).await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["task_id"], "api-1");
    assert_eq!(held[0]["exclusive"], true);
    // api-2's files overlap alice's: bob gets the docs task instead.
    let (_, second) = next("bob").await;
    assert_eq!(second["task_id"], "docs");
    let (status, _) = next("carol").await;
    assert_eq!(status, 204, "api-2 waits for alice's files");
    let direct = send(
        client()
            .post(server.url("/api/tasks/api-2/claim"))
            .json(&json!({"agent_id": "carol"})),
    )
    .await;
    assert_error(&direct, 409, "reserved by alice");
    assert_eq!(
        send(client().get(server.url("/api/tasks/api-2"))).await.1["status"],
        "available",
        "a refused claim leaves the task as it was"
    );
    // Completing releases the files; api-2 becomes grantable.
    let (status, _) = send(
        client()
            .post(server.url("/api/tasks/api-1/complete"))
            .json(&json!({"agent_id": "alice", "success": true})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, third) = next("carol").await;
    assert_eq!(third["task_id"], "api-2");
}

#[tokio::test]
async fn reservations_end_with_their_ttl_and_with_their_dead_agent() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        dir.path(),
        &[
            "--agent-stale-after",
            "1s",
            "--agent-dead-after",
            "2s",
            "--reap-interval",
            "100ms",
        ],
    );
    assert_eq!(
        reserve(
            &server,
            json!({"agent_id": "brief", "globs": ["a/**"], "ttl": "1s"})
        )
        .await
        .0,
        200
    );
    // A registered agent that stops heartbeating loses what it held.
    send(
        client()
            .post(server.url("/api/agents/register"))
            .json(&json!({"agent_id": "ghost"})),
    )
    .await;
    send(
        client()
            .post(server.url("/api/agents/heartbeat"))
            .json(&json!({"agent_id": "ghost"})),
    )
    .await;
    assert_eq!(
        reserve(
            &server,
            json!({"agent_id": "ghost", "globs": ["b/**"], "ttl": "1h"})
        )
        .await
        .0,
        200
    );
    assert_eq!(listed(&server).await.len(), 2);
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = listed(&server).await;
        if left.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < end, "still held: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        reserve(&server, json!({"agent_id": "x", "globs": ["a/b", "b/c"]}))
            .await
            .0,
        200
    );
}
