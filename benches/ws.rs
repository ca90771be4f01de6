//! WebSocket benchmarks against the real server binary (a child process,
//! so its memory is measured alone). Run with `cargo bench --bench ws`.
//!
//! - publish → subscriber latency, p50/p99, at 1,000 msgs/s: on a subject
//!   no stream stores (pure fan-out) and on a stored subject (the publish
//!   is durable, fsync included, before it fans out);
//! - fan-out: messages/s delivered to 1, 10 and 100 subscribers;
//! - memory per idle connection.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{rss_kib, Server, Ws};
use serde_json::json;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn ready(server: &Server) -> Ws {
    let mut ws = Ws::connect(server).await;
    ws.next_op("info").await;
    ws
}

async fn latency(server: &Server, subject: &str, n: usize) -> (f64, f64) {
    let mut sub = ready(server).await;
    sub.send(json!({"op": "sub", "sid": 1, "subject": subject}))
        .await;
    let mut publisher = ready(server).await;
    // Make sure the subscription is in place before timing.
    publisher
        .send(json!({"op": "pub", "id": 0, "subject": subject, "text": "warm-up"}))
        .await;
    sub.next_op("msg").await;
    let origin = Instant::now();
    let reader = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(n);
        while lat.len() < n {
            let f = sub.next_op("msg").await;
            // A numeric body is valid JSON, so it arrives as `data`.
            let sent = f["data"].as_u64().expect("timestamp");
            lat.push(origin.elapsed().as_nanos() as u64 - sent);
        }
        lat
    });
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    for i in 0..n {
        tick.tick().await;
        let now = origin.elapsed().as_nanos().to_string();
        publisher
            .send(json!({"op": "pub", "id": i + 1, "subject": subject, "text": now}))
            .await;
    }
    let mut lat = reader.await.expect("reader");
    lat.sort_unstable();
    let p = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize] as f64 / 1e6;
    (p(0.5), p(0.99))
}

/// Publishes in windows of 256 and waits for every subscriber to receive
/// each window, so no subscriber is cut off as slow; returns deliveries/s.
async fn fanout(server: &Server, subscribers: usize, n: u64) -> f64 {
    let subject = format!("fan.{subscribers}");
    let received = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for _ in 0..subscribers {
        let mut ws = ready(server).await;
        ws.send(json!({"op": "sub", "sid": 1, "subject": subject}))
            .await;
        ws.send(json!({"op": "ping"})).await;
        ws.next_op("pong").await;
        let received = received.clone();
        readers.push(tokio::spawn(async move {
            for _ in 0..n {
                ws.next_op("msg").await;
                received.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut publisher = ready(server).await;
    let payload = "x".repeat(200);
    let start = Instant::now();
    let mut sent = 0;
    while sent < n {
        let window = 256.min(n - sent);
        for _ in 0..window {
            publisher
                .send(json!({"op": "pub", "subject": subject, "text": payload}))
                .await;
        }
        sent += window;
        while received.load(Ordering::Relaxed) < sent * subscribers as u64 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    for r in readers {
        r.await.expect("reader");
    }
    (n * subscribers as u64) as f64 / start.elapsed().as_secs_f64()
}

async fn run() {
    let server = Server::start();
    let (p50, p99) = latency(&server, "lat.live", 2_000).await;
    println!("publish -> subscriber latency at 1,000 msgs/s, unstored subject: p50 {p50:.3} ms, p99 {p99:.3} ms");
    let (p50, p99) = latency(&server, "mjwork.bench", 2_000).await;
    println!("publish -> subscriber latency at 1,000 msgs/s, stored (fsync) subject: p50 {p50:.3} ms, p99 {p99:.3} ms");
    for (subs, n) in [(1, 20_000), (10, 5_000), (100, 1_000)] {
        let rate = fanout(&server, subs, n).await;
        println!("fan-out to {subs:>3} subscribers: {rate:>9.0} deliveries/s ({n} messages each)");
    }
    drop(server);

    let server = Server::start();
    let pid = server.pid();
    let mut warm = Vec::new();
    for _ in 0..20 {
        warm.push(ready(&server).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(pid);
    let mut idle = Vec::new();
    for _ in 0..500 {
        idle.push(ready(&server).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss_kib(pid);
    println!(
        "memory per idle connection: {:.1} KiB (server RSS {} -> {} KiB for 500 connections)",
        (after.saturating_sub(before)) as f64 / 500.0,
        before,
        after
    );
}
