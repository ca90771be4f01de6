//! Slots against the real server: twenty agents acquiring a two-permit
//! slot at once are never granted more than two permits at any moment; a
//! full slot names its holders; permits end with their TTL; the CLI.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{assert_error, client, send, Server};
use serde_json::json;

#[tokio::test]
async fn a_slot_is_never_over_granted_under_concurrent_acquirers() {
    let server = Server::start();
    let (status, _) = send(
        client()
            .put(server.url("/api/v2/slots/build"))
            .json(&json!({"permits": 2})),
    )
    .await;
    assert_eq!(status, 200);
    let t0 = Instant::now();
    let workers = (0..20).map(|i| {
        let acquire = server.url("/api/v2/slots/build/acquire");
        let release = server.url("/api/v2/slots/build/release");
        async move {
            let agent = format!("w{i}");
            let (status, got) = send(
                client()
                    .post(acquire)
                    .json(&json!({"agent_id": agent, "wait": "30s", "ttl": "1m"})),
            )
            .await;
            assert_eq!(status, 200, "{got}");
            assert!(got["in_use"].as_u64().unwrap() <= 2, "{got}");
            // Held from after the grant arrived to before the release left.
            let start = t0.elapsed();
            tokio::time::sleep(Duration::from_millis(30)).await;
            let end = t0.elapsed();
            let (status, r) = send(client().post(release).json(&json!({"agent_id": agent}))).await;
            assert_eq!((status, r["released"].clone()), (200, json!(1)));
            (start, end)
        }
    });
    let spans = futures_util::future::join_all(workers).await;
    for (s, _) in &spans {
        let holding = spans.iter().filter(|(a, b)| a <= s && s < b).count();
        assert!(holding <= 2, "{holding} holders at {s:?}: {spans:?}");
    }
    let (_, slots) = send(client().get(server.url("/api/v2/slots"))).await;
    assert_eq!(slots["slots"][0]["holders"], json!([]));
}

#[tokio::test]
async fn a_full_slot_names_its_holders_and_permits_expire() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--reap-interval", "100ms"]);
    let acquire = |agent: &str, ttl: &str| {
        client()
            .post(server.url("/api/v2/slots/llm/acquire"))
            .json(&json!({"agent_id": agent, "ttl": ttl, "permits": 1}))
    };
    let unknown = send(
        client()
            .post(server.url("/api/v2/slots/nope/acquire"))
            .json(&json!({"agent_id": "a"})),
    )
    .await;
    assert_error(&unknown, 422, "no slot named nope");
    assert_eq!(send(acquire("alice", "1s")).await.0, 200);
    assert_error(&send(acquire("bob", "1m")).await, 409, "by alice");
    // alice's permit runs out; a waiting bob gets it.
    let (status, got) = send(
        client()
            .post(server.url("/api/v2/slots/llm/acquire"))
            .json(&json!({"agent_id": "bob", "wait": "10s"})),
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["permit"]["agent_id"], "bob");
    let out = Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(["--server", &server.base, "slot", "ls"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("llm") && table.contains("1/1") && table.contains("bob"),
        "{table}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args([
            "--server",
            &server.base,
            "slot",
            "acquire",
            "llm",
            "--agent",
            "carol",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("slot llm is full"));
}
