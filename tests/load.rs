//! Load: 1,000 WebSocket subscribers plus 50 HTTP agents working a queue,
//! for a bounded time (HIVELOG_LOAD_SECS, default 8), with one subscriber
//! that never reads (and is sent 20 MB on a subject of its own). The slow one is cut off; every other subscriber
//! receives every message; publish latency p99 stays under a stated bound
//! (2 s on a debug build on 2 shared cores: the bound is generous, the
//! point is that nothing stalls); the server's memory stays bounded.
//! Figures are printed for the record (`cargo test --test load -- --nocapture`).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client, rss_kib, send, Server, Ws};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

const SUBSCRIBERS: usize = 1_000;
const AGENTS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_subscribers_and_fifty_agents() {
    let secs: u64 = std::env::var("HIVELOG_LOAD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let dir = tempfile::tempdir().unwrap();
    // Every client here is 127.0.0.1: raise the per-address cap.
    let server = Server::start_in(
        dir.path(),
        &[
            "--ws-max-pending-mb",
            "2",
            "--ws-max-connections-per-client",
            "2000",
        ],
    );
    let base_rss = rss_kib(server.pid());

    // The slow one subscribes first and never reads again.
    let mut slow = Ws::connect(&server).await;
    slow.next_op("info").await;
    slow.send(json!({"op": "sub", "sid": "s", "subject": "load.>"}))
        .await;
    slow.send(json!({"op": "ping"})).await;
    slow.next_op("pong").await;

    // 1,000 readers, each counting what it gets.
    let counts: Arc<Vec<AtomicU64>> =
        Arc::new((0..SUBSCRIBERS).map(|_| AtomicU64::new(0)).collect());
    let mut readers = Vec::new();
    for i in 0..SUBSCRIBERS {
        let mut ws = Ws::connect(&server).await;
        ws.next_op("info").await;
        ws.send(json!({"op": "sub", "sid": "s", "subject": "load.a"}))
            .await;
        ws.send(json!({"op": "ping"})).await;
        ws.next_op("pong").await;
        let counts = counts.clone();
        readers.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = ws.stream.next().await {
                if let tokio_tungstenite::tungstenite::Message::Text(t) = frame {
                    if t.contains("\"op\":\"msg\"") {
                        counts[i].fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let subscribed_rss = rss_kib(server.pid());
    // 20 MB on a subject only the slow one follows: more than its 2 MB
    // (and what the sockets hold) can take.
    let big = "b".repeat(100 * 1024);
    for _ in 0..200 {
        send(
            client()
                .post(server.url("/api/pub/load.big"))
                .body(big.clone()),
        )
        .await;
    }

    // 50 agents work a queue over HTTP while a publisher sends 1 KiB
    // messages over its own WebSocket, timing each answer.
    let stop = Arc::new(AtomicBool::new(false));
    let c = client();
    for i in 0..500 {
        send(
            c.post(server.url("/api/tasks"))
                .json(&json!({"task_id": format!("job-{i}"), "title": "job", "description": ""})),
        )
        .await;
    }
    let pairs = Arc::new(AtomicU64::new(0));
    let mut agents = Vec::new();
    for a in 0..AGENTS {
        let (base, stop, pairs) = (server.base.clone(), stop.clone(), pairs.clone());
        agents.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            let me = format!("agent-{a}");
            while !stop.load(Ordering::Relaxed) {
                let Ok(r) = c
                    .post(format!("{base}/api/tasks/claim-next"))
                    .json(&json!({"agent_id": me}))
                    .send()
                    .await
                else {
                    break;
                };
                if r.status() != 200 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                let v: Value = r.json().await.unwrap_or_default();
                let id = v["task_id"].as_str().unwrap_or_default().to_string();
                let _ = c
                    .post(format!("{base}/api/tasks/{id}/complete"))
                    .json(&json!({"agent_id": me, "success": true}))
                    .send()
                    .await;
                pairs.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let url = server.base.replacen("http://", "ws://", 1) + "/ws";
    let (publisher, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let (mut sink, mut answers) = publisher.split();
    let payload = "p".repeat(1024);
    let mut latencies = Vec::new();
    let mut published = 0u64;
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        let t = Instant::now();
        let frame =
            json!({"op": "pub", "id": published, "subject": "load.a", "text": payload}).to_string();
        sink.send(tokio_tungstenite::tungstenite::Message::Text(frame.into()))
            .await
            .unwrap();
        // Wait for this publish's answer.
        loop {
            let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(a))) = answers.next().await
            else {
                panic!("the publisher's connection ended");
            };
            if a.contains("puback") {
                break;
            }
        }
        latencies.push(t.elapsed());
        published += 1;
        // About 200 messages a second: 200,000 deliveries a second in all.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for a in agents {
        let _ = a.await;
    }
    // Everyone but the slow one receives everything.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let behind = counts
            .iter()
            .filter(|c| c.load(Ordering::Relaxed) < published)
            .count();
        if behind == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{behind} subscribers did not receive all {published} messages"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let peak_rss = rss_kib(server.pid());
    // The slow one ran over its budget while reading nothing; its blocked
    // write timed out and the server dropped it, counted as a slow
    // consumer. Its stream ended after what its socket already held (it
    // read nothing, so the closing `slow consumer` frame did not reach it).
    let (_, health) = send(client().get(server.url("/health"))).await;
    assert!(
        health["ws_slow_consumers"].as_u64() >= Some(1),
        "the slow one was not cut off: {health}"
    );
    let mut frames = 0;
    while let Some(f) = slow.next_within(Duration::from_secs(5)).await {
        frames += 1;
        if f["op"] == "err" {
            assert_eq!(f["detail"], "slow consumer");
        }
    }
    assert!(
        frames < 200,
        "the slow one got all {frames} frames: it was never cut off"
    );
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let (p50, p99) = (p(0.5), p(0.99));
    eprintln!(
        "load: {SUBSCRIBERS} subscribers + 1 slow, {AGENTS} agents, {secs}s: {published} messages ({} deliveries), {} claim+complete pairs; publish p50 {p50:?}, p99 {p99:?}; RSS {base_rss} KiB at start, {subscribed_rss} KiB with subscribers, {peak_rss} KiB at the end",
        published * SUBSCRIBERS as u64,
        pairs.load(Ordering::Relaxed)
    );
    assert!(published > 20, "too few messages to mean anything");
    assert!(p99 < Duration::from_secs(2), "publish p99 {p99:?}");
    assert!(
        peak_rss < 1024 * 1024,
        "server RSS {peak_rss} KiB: not bounded"
    );
    for r in readers {
        r.abort();
    }
}
