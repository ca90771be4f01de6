//! Claims across instances: claim-next over HTTP on loopback with 16
//! agents, on the embedded backend (`--sync always`, the baseline), then
//! on a 3-node NATS JetStream cluster on loopback (3 replicas) with 1, 2
//! and 3 hivelog instances sharing it (the agents split between them),
//! and on a single nats-server (1 replica) for what replication costs.
//! Run with `cargo bench --bench instances` (needs nats-server on PATH;
//! see benches/README.md).

#[path = "../tests/common/nats.rs"]
mod nats;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hivelog::api::{router, AppState};
use hivelog::coord::task::TaskInput;
use hivelog::coord::{CoordConfig, Coordinator};
use hivelog::log::{Log, LogOptions};
use hivelog::streams::{Backend, JetStreamPort, LogBackend};
use serde_json::json;

const AGENTS: usize = 16;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

struct Instance {
    base: String,
    coord: Arc<Coordinator<Backend>>,
    stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

async fn instance(backend: Option<&str>, replicas: usize) -> Instance {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = Log::open(dir.path(), LogOptions::default()).expect("open");
    let port = match backend {
        None => Backend::Embedded(LogBackend::open(log.clone(), "mjwork").expect("port")),
        Some(url) => Backend::JetStream(Box::new(
            JetStreamPort::connect(url, "mjwork", replicas)
                .await
                .expect("connect"),
        )),
    };
    let coord = Coordinator::open(port, CoordConfig::default())
        .await
        .expect("coordinator");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    if backend.is_some() {
        coord.start_follower(stopped);
    }
    let app = router(AppState::new(log, coord.clone(), Default::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Instance {
        base,
        coord,
        stop,
        _dir: dir,
    }
}

struct Row {
    claims_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    lost: u64,
}

/// Creates `tasks` tasks through the first instance, waits until every
/// instance sees them, then lets 16 agents (split round-robin across the
/// instances) claim-next until the queue is empty.
async fn race(instances: &[Instance], tasks: usize, run: &str) -> Row {
    let first = &instances[0].coord;
    let mut fill = Vec::new();
    for w in 0..16 {
        let coord = first.clone();
        let run = run.to_string();
        fill.push(tokio::spawn(async move {
            let mut i = w;
            while i < tasks {
                let input: TaskInput = serde_json::from_value(
                    json!({"task_id": format!("{run}-{i}"), "title": "bench"}),
                )
                .expect("input");
                coord.tasks().post(input).await.expect("post");
                i += 16;
            }
        }));
    }
    for f in fill {
        f.await.expect("fill");
    }
    for i in instances {
        let deadline = Instant::now() + Duration::from_secs(60);
        while i.coord.tasks().counts().available < tasks {
            assert!(Instant::now() < deadline, "an instance never saw the tasks");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let lost_before: u64 = instances
        .iter()
        .map(|i| i.coord.stats.claims_lost.load(Ordering::Relaxed))
        .sum();
    let times: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let started = Instant::now();
    let mut agents = Vec::new();
    for a in 0..AGENTS {
        let base = instances[a % instances.len()].base.clone();
        let times = times.clone();
        let run = run.to_string();
        agents.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let t = Instant::now();
                let resp = client
                    .post(format!("{base}/api/tasks/claim-next"))
                    .json(&json!({"agent_id": format!("{run}-agent-{a}")}))
                    .send()
                    .await
                    .expect("claim-next");
                let status = resp.status().as_u16();
                let body = resp.bytes().await.expect("body");
                match status {
                    200 => times.lock().expect("times").push(t.elapsed()),
                    204 => return,
                    other => panic!(
                        "claim-next answered {other}: {}",
                        String::from_utf8_lossy(&body)
                    ),
                }
            }
        }));
    }
    for a in agents {
        a.await.expect("agent");
    }
    let elapsed = started.elapsed();
    let mut times = times.lock().expect("times").clone();
    assert_eq!(times.len(), tasks, "every task granted once");
    times.sort();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    let lost_after: u64 = instances
        .iter()
        .map(|i| i.coord.stats.claims_lost.load(Ordering::Relaxed))
        .sum();
    Row {
        claims_per_s: tasks as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        lost: lost_after - lost_before,
    }
}

fn print(label: &str, row: &Row, baseline: f64) {
    println!(
        "{label:<40} {:>8.0} claims/s ({:>4.2}x)   p50 {:>6.2} ms   p99 {:>6.2} ms   lost races {}",
        row.claims_per_s,
        row.claims_per_s / baseline,
        row.p50_ms,
        row.p99_ms,
        row.lost
    );
}

async fn run() {
    let tasks: usize = std::env::var("HIVELOG_BENCH_CLAIMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    println!("{tasks} tasks, {AGENTS} agents calling claim-next over HTTP on loopback\n");
    let embedded = instance(None, 1).await;
    let base = race(std::slice::from_ref(&embedded), tasks, "embedded").await;
    print("embedded, 1 instance (baseline)", &base, base.claims_per_s);
    let _ = embedded.stop.send(true);

    let Some(cluster) = nats::cluster("bench instances", 3) else {
        println!("nats-server is not installed: no cluster rows");
        return;
    };
    let mut instances = Vec::new();
    for n in 1..=3 {
        while instances.len() < n {
            instances.push(instance(Some(&cluster.url), 3).await);
        }
        let row = race(&instances, tasks, &format!("cluster{n}")).await;
        print(
            &format!("3-node cluster (R3), {n} instance(s)"),
            &row,
            base.claims_per_s,
        );
    }
    for i in &instances {
        let _ = i.stop.send(true);
    }
    drop(instances);
    drop(cluster);

    if let Some(single) = nats::start("bench instances single") {
        let one = instance(Some(&single.url), 1).await;
        let row = race(std::slice::from_ref(&one), tasks, "single").await;
        print("1 nats-server (R1), 1 instance", &row, base.claims_per_s);
        let _ = one.stop.send(true);
    }
}
