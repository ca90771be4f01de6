//! Benchmarks of the embedded log. Run with `cargo bench --bench log`
//! (see benches/README.md). Every figure is reported next to a baseline
//! measured in the same run on the same machine — one raw fsync'd 256-byte
//! file append — because this machine is shared and absolute numbers drift.
//!
//! HIVELOG_BENCH_OPEN_MSGS sets how many messages the open-time test stores
//! (default 1,000,000).

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::rss_kib;
use hivelog::api::{router, AppState};
use hivelog::coord::{CoordConfig, Coordinator};
use hivelog::log::{
    AckKind, ConsumerConfig, Log, LogOptions, PublishOptions, StreamConfig, SyncPolicy,
};
use hivelog::streams::{Backend, LogBackend};

const PAYLOAD: usize = 256;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--open-only") {
        open_only(Path::new(&args[i + 1]));
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

fn options(sync: SyncPolicy) -> LogOptions {
    LogOptions {
        sync,
        ..Default::default()
    }
}

fn fresh(sync: SyncPolicy) -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let log = Log::open(dir.path(), options(sync)).expect("open");
    log.create_stream(StreamConfig::new("BENCH", &["bench.>"]))
        .expect("stream");
    (dir, log)
}

/// Benchmarks write where the tests do not: under target/, on the same
/// disk as the build, so fsync costs what it costs for a user.
fn bench_dir() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("bench-data");
    std::fs::create_dir_all(&dir).expect("bench dir");
    dir
}

struct Row {
    name: &'static str,
    value: f64,
    unit: &'static str,
}

async fn run() {
    let mut rows = Vec::new();
    let baseline = raw_fsync_appends(2_000);
    rows.push(Row {
        name: "baseline: raw 256 B file append + fsync, serial",
        value: baseline,
        unit: "ops/s",
    });

    let serial = publish_rate(SyncPolicy::Always, 1, 2_000).await;
    rows.push(Row {
        name: "(1) durable appends, 1 publisher (sync always)",
        value: serial.0,
        unit: "msgs/s",
    });
    let grouped = publish_rate(SyncPolicy::Always, 16, 40_000).await;
    rows.push(Row {
        name: "(2) durable appends, 16 publishers (sync always)",
        value: grouped.0,
        unit: "msgs/s",
    });
    let interval1 =
        publish_rate(SyncPolicy::Interval(Duration::from_millis(100)), 1, 100_000).await;
    rows.push(Row {
        name: "(3a) appends, 1 publisher (sync interval 100ms)",
        value: interval1.0,
        unit: "msgs/s",
    });
    let interval16 = publish_rate(
        SyncPolicy::Interval(Duration::from_millis(100)),
        16,
        200_000,
    )
    .await;
    rows.push(Row {
        name: "(3b) appends, 16 publishers (sync interval 100ms)",
        value: interval16.0,
        unit: "msgs/s",
    });
    let fetch = fetch_ack_rate(100_000).await;
    rows.push(Row {
        name: "(4) consumer fetch (batch 100) + ack each",
        value: fetch,
        unit: "msgs/s",
    });
    let http16 = http_publish_rate(16, 20_000).await;
    rows.push(Row {
        name: "(6) HTTP POST /api/pub, 16 clients (sync always)",
        value: http16,
        unit: "msgs/s",
    });

    println!();
    println!("{:<56} {:>14} {:>10}", "benchmark", "value", "÷ baseline");
    for r in &rows {
        println!(
            "{:<56} {:>10.0} {:<6} {:>8.1}x",
            r.name,
            r.value,
            r.unit,
            r.value / baseline
        );
    }
    println!();
    println!(
        "group commit: 16 publishers / 1 publisher = {:.1}x (target >= 10x)",
        grouped.0 / serial.0
    );
    println!(
        "  flushes for (2): {} for {} messages ({:.1} messages per fsync, largest batch {})",
        grouped.1,
        40_000,
        40_000.0 / grouped.1.max(1) as f64,
        grouped.2
    );

    let n: u64 = std::env::var("HIVELOG_BENCH_OPEN_MSGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    open_time(n).await;
}

fn raw_fsync_appends(n: usize) -> f64 {
    let dir = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let mut f = std::fs::File::create(dir.path().join("raw")).expect("file");
    let buf = [b'x'; PAYLOAD];
    let t = Instant::now();
    for _ in 0..n {
        f.write_all(&buf).expect("write");
        f.sync_data().expect("fsync");
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// Returns (messages/s, flushes, largest batch).
async fn publish_rate(sync: SyncPolicy, publishers: usize, total: usize) -> (f64, u64, u64) {
    let (_dir, log) = fresh(sync);
    let per = total / publishers;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let payload = vec![b'x'; PAYLOAD];
            let subject = format!("bench.p{p}");
            for _ in 0..per {
                log.publish(&subject, payload.clone(), PublishOptions::default())
                    .await
                    .expect("publish");
            }
        }));
    }
    for t in tasks {
        t.await.expect("publisher");
    }
    let rate = (per * publishers) as f64 / start.elapsed().as_secs_f64();
    let stats = log.commit_stats();
    let flushes = stats.flushes.load(std::sync::atomic::Ordering::Relaxed);
    let largest = stats
        .largest_batch
        .load(std::sync::atomic::Ordering::Relaxed);
    let micros = stats
        .flush_micros
        .load(std::sync::atomic::Ordering::Relaxed);
    if flushes > 0 {
        println!(
            "  [{publishers} publishers] {flushes} flushes, average flush {:.0} us",
            micros as f64 / flushes as f64
        );
    }
    log.close().expect("close");
    (rate, flushes, largest)
}

async fn fetch_ack_rate(n: usize) -> f64 {
    let (_dir, log) = fresh(SyncPolicy::Interval(Duration::from_millis(100)));
    let payload = vec![b'x'; PAYLOAD];
    for _ in 0..n {
        log.publish("bench.q", payload.clone(), PublishOptions::default())
            .await
            .expect("publish");
    }
    let config = ConsumerConfig {
        durable_name: Some("bench".into()),
        ..Default::default()
    };
    log.create_consumer("BENCH", config).expect("consumer");
    let start = Instant::now();
    let mut done = 0;
    while done < n {
        let batch = log
            .fetch("BENCH", "bench", 100, Duration::ZERO)
            .await
            .expect("fetch");
        assert!(!batch.is_empty(), "ran dry at {done}");
        for d in &batch {
            log.ack("BENCH", "bench", d.message.seq, AckKind::Ack, None)
                .expect("ack");
        }
        done += batch.len();
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    log.close().expect("close");
    rate
}

async fn http_publish_rate(clients: usize, total: usize) -> f64 {
    let (_dir, log) = fresh(SyncPolicy::Always);
    let port = Backend::Embedded(LogBackend::open(log.clone(), "mjwork").expect("port"));
    let coord = Coordinator::open(port, CoordConfig::default())
        .await
        .expect("coordinator");
    let app = router(AppState::new(log.clone(), coord, Default::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let url = Arc::new(format!("http://{addr}/api/pub/bench.http"));
    let per = total / clients;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for _ in 0..per {
                let resp = client
                    .post(url.as_str())
                    .body(vec![b'x'; PAYLOAD])
                    .send()
                    .await
                    .expect("post");
                assert!(resp.status().is_success());
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    let rate = (per * clients) as f64 / start.elapsed().as_secs_f64();
    server.abort();
    log.close().expect("close");
    rate
}

/// Fills a store with `n` messages, then opens it in a fresh process and
/// reports that process's open time and resident memory.
async fn open_time(n: u64) {
    let (dir, log) = fresh(SyncPolicy::Interval(Duration::from_millis(200)));
    let start = Instant::now();
    let mut tasks = Vec::new();
    let publishers = 16;
    for _ in 0..publishers {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let payload = vec![b'x'; PAYLOAD];
            for i in 0..n / publishers {
                log.publish(
                    &format!("bench.fill.{}", i % 100),
                    payload.clone(),
                    PublishOptions::default(),
                )
                .await
                .expect("publish");
            }
        }));
    }
    for t in tasks {
        t.await.expect("filler");
    }
    let stored = log.stream_info("BENCH").expect("info").state.messages;
    log.close().expect("close");
    drop(log);
    println!(
        "(5) filled {stored} messages in {:.1}s; store on disk {:.0} MiB",
        start.elapsed().as_secs_f64(),
        dir_size(dir.path()) as f64 / 1048576.0
    );
    let exe = std::env::current_exe().expect("exe");
    for attempt in 1..=3 {
        let out = std::process::Command::new(&exe)
            .arg("--open-only")
            .arg(dir.path())
            .output()
            .expect("child");
        print!(
            "    open #{attempt}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

fn open_only(dir: &Path) {
    let start = Instant::now();
    let log = Log::open(dir, options(SyncPolicy::Always)).expect("open");
    let info = log.stream_info("BENCH").expect("info");
    let elapsed = start.elapsed();
    println!(
        "{} messages, open {:.0} ms, RSS after open {:.1} MiB",
        info.state.messages,
        elapsed.as_secs_f64() * 1000.0,
        rss_kib(std::process::id()) as f64 / 1024.0
    );
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
