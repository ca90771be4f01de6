//! Coordination benchmarks over HTTP on loopback, with `--sync always`.
//! Run with `cargo bench --bench coord` (see benches/README.md).
//!
//! For each backlog size (1k, 10k, 100k tasks; HIVELOG_BENCH_TASKS overrides
//! the list, e.g. "1000,10000"), the store is filled, the server reopened
//! (which also measures loading the coordination state), and then:
//! p50/p99 latency of GET /api/tasks/available?limit=10, GET /api/tasks/{id}
//! and POST /api/tasks/{id}/claim. Also tasks created/s and claim+complete
//! pairs/s with 16 concurrent agents.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hivelog::api::{router, AppState};
use hivelog::coord::task::TaskInput;
use hivelog::coord::{CoordConfig, Coordinator};
use hivelog::log::{Log, LogOptions, SyncPolicy};
use hivelog::streams::{Backend, LogBackend};
use serde_json::json;

const SAMPLES: usize = 300;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

struct Server {
    base: String,
    log: Log,
    task: tokio::task::JoinHandle<()>,
}

async fn serve(dir: &std::path::Path, sync: SyncPolicy) -> (Server, Duration) {
    let log = Log::open(
        dir,
        LogOptions {
            sync,
            ..Default::default()
        },
    )
    .expect("open");
    let started = Instant::now();
    let port = Backend::Embedded(LogBackend::open(log.clone(), "mjwork").expect("port"));
    let coord = Coordinator::open(port, CoordConfig::default())
        .await
        .expect("coordinator");
    let load = started.elapsed();
    let app = router(AppState::new(log.clone(), coord, Default::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (Server { base, log, task }, load)
}

impl Server {
    fn stop(self) {
        self.task.abort();
        self.log.close().expect("close");
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

async fn latency(
    label: &str,
    n_tasks: usize,
    mut make: impl FnMut(usize) -> reqwest::RequestBuilder,
) -> (f64, f64) {
    let mut times = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let req = make(i);
        let t = Instant::now();
        let resp = req.send().await.expect("request");
        assert!(resp.status().is_success(), "{label}: {}", resp.status());
        resp.bytes().await.expect("body");
        times.push(t.elapsed());
    }
    times.sort();
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    println!("  {n_tasks:>7} tasks  {label:<34} p50 {p50:7.2} ms   p99 {p99:7.2} ms");
    (p50, p99)
}

/// Fills the store directly through the coordinator (interval sync: filling
/// is not what is measured).
async fn fill(dir: &std::path::Path, n: usize) {
    let log = Log::open(
        dir,
        LogOptions {
            sync: SyncPolicy::Interval(Duration::from_millis(200)),
            ..Default::default()
        },
    )
    .expect("open");
    let coord = Coordinator::open(
        Backend::Embedded(LogBackend::open(log.clone(), "mjwork").expect("port")),
        CoordConfig::default(),
    )
    .await
    .expect("coord");
    let mut jobs = Vec::new();
    for w in 0..16 {
        let coord = coord.clone();
        jobs.push(tokio::spawn(async move {
            let mut i = w;
            while i < n {
                let priority = ["low", "medium", "high"][i % 3];
                let input: TaskInput = serde_json::from_value(
                    json!({"task_id": format!("task-{i}"), "title": "bench", "priority": priority}),
                )
                .expect("input");
                coord.tasks().post(input).await.expect("post");
                i += 16;
            }
        }));
    }
    for j in jobs {
        j.await.expect("filler");
    }
    drop(coord);
    log.close().expect("close");
}

async fn run() {
    let sizes: Vec<usize> = std::env::var("HIVELOG_BENCH_TASKS")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    let client = reqwest::Client::new();

    // Tasks created per second and claim+complete pairs per second.
    let dir = tempfile::tempdir().expect("dir");
    let (server, _) = serve(dir.path(), SyncPolicy::Always).await;
    let created = throughput(&server.base, 2_000, |base, i| {
        (
            format!("{base}/api/tasks"),
            json!({"task_id": format!("new-{i}"), "title": "t", "description": ""}),
        )
    })
    .await;
    println!("tasks created (POST /api/tasks, 16 clients): {created:.0}/s");
    let pairs = claim_complete(&server.base, 1_000).await;
    println!("claim-next + complete pairs (16 agents): {pairs:.0}/s");
    server.stop();

    println!("\nlatency by backlog (GET/claim against a store of N tasks; {SAMPLES} samples each)");
    let mut rows = Vec::new();
    for &n in &sizes {
        let dir = tempfile::tempdir().expect("dir");
        let t = Instant::now();
        fill(dir.path(), n).await;
        let filled = t.elapsed();
        let (server, load) = serve(dir.path(), SyncPolicy::Always).await;
        println!(
            "  {n:>7} tasks  filled in {:.1}s, state loaded at start in {:.0} ms",
            filled.as_secs_f64(),
            load.as_secs_f64() * 1e3
        );
        let base = server.base.clone();
        let avail = latency("GET /api/tasks/available?limit=10", n, |_| {
            client.get(format!("{base}/api/tasks/available?limit=10"))
        })
        .await;
        let get = latency("GET /api/tasks/{id}", n, |i| {
            client.get(format!("{base}/api/tasks/task-{}", (i * 7919) % n))
        })
        .await;
        let claim = latency("POST /api/tasks/{id}/claim", n, |i| {
            client
                .post(format!("{base}/api/tasks/task-{}/claim", (i * 7919) % n))
                .json(&json!({"agent_id": "bench"}))
        })
        .await;
        rows.push((n, avail, get, claim));
        server.stop();
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        println!(
            "\np50 ratio {} tasks / {} tasks (target <= 1.5):",
            last.0, first.0
        );
        println!(
            "  available {:.2}   get {:.2}   claim {:.2}",
            last.1 .0 / first.1 .0,
            last.2 .0 / first.2 .0,
            last.3 .0 / first.3 .0
        );
    }
}

async fn throughput(
    base: &str,
    total: usize,
    body: impl Fn(&str, usize) -> (String, serde_json::Value) + Send + Sync + 'static,
) -> f64 {
    let body = Arc::new(body);
    let start = Instant::now();
    let mut jobs = Vec::new();
    for w in 0..16 {
        let (base, body) = (base.to_string(), body.clone());
        jobs.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut i = w;
            while i < total {
                let (url, json) = body(&base, i);
                let resp = client.post(url).json(&json).send().await.expect("post");
                assert!(resp.status().is_success());
                i += 16;
            }
        }));
    }
    for j in jobs {
        j.await.expect("client");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

async fn claim_complete(base: &str, tasks: usize) -> f64 {
    let client = reqwest::Client::new();
    for i in 0..tasks {
        client
            .post(format!("{base}/api/tasks"))
            .json(&json!({"task_id": format!("job-{i}"), "title": "job", "description": ""}))
            .send()
            .await
            .expect("post");
    }
    let start = Instant::now();
    let mut agents = Vec::new();
    for a in 0..16 {
        let base = base.to_string();
        agents.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let me = format!("agent-{a}");
            let mut done = 0;
            loop {
                let resp = client
                    .post(format!("{base}/api/tasks/claim-next"))
                    .json(&json!({"agent_id": me}))
                    .send()
                    .await
                    .expect("claim");
                if resp.status() == 204 {
                    return done;
                }
                let body: serde_json::Value = resp.json().await.expect("json");
                let id = body["task_id"].as_str().expect("id").to_string();
                let resp = client
                    .post(format!("{base}/api/tasks/{id}/complete"))
                    .json(&json!({"agent_id": me, "success": true}))
                    .send()
                    .await
                    .expect("complete");
                assert!(resp.status().is_success());
                done += 1;
            }
        }));
    }
    let mut total = 0;
    for a in agents {
        total += a.await.expect("agent");
    }
    assert!(
        total >= tasks,
        "every posted task was claimed and completed"
    );
    total as f64 / start.elapsed().as_secs_f64()
}
