//! `hivelog bench`: the numbers a person can reproduce on their own
//! machine. It runs the same workloads against hivelog and, with
//! `--compare`, against a nats-server in alternating rounds of one run
//! (so both see the same machine load), and prints each side's median
//! with the ratio, the servers' CPU time and memory, and the durability
//! each side gave.

mod claim;
mod flow;
mod latency;
mod servers;
mod workloads;

use std::time::Duration;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cli::output::shown;

use workloads::{Params, Sample, Target, Workload};

/// The server measured without `--compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchTarget {
    Hivelog,
    Nats,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Also run every workload against a nats-server (started here unless --nats), alternating rounds, and print ratios.
    #[arg(long)]
    pub compare: bool,
    /// Which server to measure alone: hivelog, or a nats-server (started here unless --nats). `--compare` measures both.
    #[arg(
        long,
        value_enum,
        default_value = "hivelog",
        conflicts_with = "compare"
    )]
    pub target: BenchTarget,
    /// Workloads to run (default: all).
    #[arg(long = "workload", value_enum)]
    pub workloads: Vec<Workload>,
    /// A running hivelog to measure instead of starting one (e.g. http://127.0.0.1:8001).
    #[arg(long, value_name = "URL")]
    pub hivelog: Option<String>,
    /// A running nats-server with JetStream instead of starting one.
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// `--sync` of the hivelog started here: `always` (each ack after its fsync) or `interval` (like nats-server's default).
    #[arg(long, default_value = "always")]
    pub sync: String,
    /// Rounds; each side's median is reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// How long each publish run lasts.
    #[arg(long, default_value = "3s", value_parser = crate::log::duration::parse_duration)]
    pub duration: Duration,
    /// Messages per fetch+ack run and tasks per claim run.
    #[arg(long, default_value_t = 2_000)]
    pub size: usize,
    /// Publishes a pipelined publisher keeps unanswered (pipelined, fan-out).
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Live subscribers each message reaches (fan-out).
    #[arg(long, default_value_t = 8)]
    pub subscribers: usize,
    /// One JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
}

struct Side {
    name: &'static str,
    target: Target,
    pid: Option<u32>,
    _server: Option<servers::Spawned>,
}

/// A workload's result on one side: per-round figures, then medians.
#[derive(Default)]
struct Results {
    ops_per_s: Vec<f64>,
    p50_ms: Vec<f64>,
    p99_ms: Vec<f64>,
    p999_ms: Vec<f64>,
    cpu_s: Vec<f64>,
    rss_kib: u64,
    /// Over every round: deliveries lost, and all there should have been.
    lost: u64,
    deliveries: u64,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rounds > 0 && args.size > 0 && args.window > 0 && args.subscribers > 0,
        "--rounds, --size, --window and --subscribers must be at least 1"
    );
    anyhow::ensure!(
        matches!(args.sync.as_str(), "always" | "interval"),
        "--sync is always or interval"
    );
    let workloads = if args.workloads.is_empty() {
        vec![
            Workload::Publish,
            Workload::Pipelined,
            Workload::Publish16,
            Workload::FanOut,
            Workload::FetchAck,
            Workload::Claim,
            Workload::Latency,
        ]
    } else {
        args.workloads.clone()
    };
    let mut sides = Vec::new();
    if args.compare || args.target == BenchTarget::Hivelog {
        sides.push(hivelog_side(&args).await?);
    }
    if args.compare || args.target == BenchTarget::Nats {
        sides.push(nats_side(&args).await?);
    }
    let params = Params {
        duration: args.duration,
        size: args.size,
        window: args.window,
        subscribers: args.subscribers,
    };
    let total = (args.rounds * workloads.len() * sides.len()) as u64;
    let bar = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total)
    };
    let mut results: Vec<Vec<Results>> = workloads
        .iter()
        .map(|_| sides.iter().map(|_| Results::default()).collect())
        .collect();
    for round in 0..args.rounds {
        for (wi, w) in workloads.iter().enumerate() {
            for (si, side) in sides.iter().enumerate() {
                bar.set_message(format!("{w:?} on {}", side.name));
                let before = side.pid.and_then(servers::usage);
                let sample = side.target.run(*w, &params, round).await?;
                let after = side.pid.and_then(servers::usage);
                record(&mut results[wi][si], &sample, before, after);
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();
    let hivelog_durability = if args.hivelog.is_some() {
        "as the running server is configured"
    } else if args.sync == "always" {
        "--sync always: every ack after its fsync"
    } else {
        "--sync interval: acked before fsync (flushed every 100 ms)"
    };
    let nats_durability = if args.nats.is_some() {
        "as the running server is configured"
    } else {
        "its default: acked once written, fsync'd every 2 minutes (sync_interval)"
    };
    let durability = [
        ("hivelog", hivelog_durability),
        ("nats-server", nats_durability),
    ]
    .into_iter()
    .filter(|(name, _)| sides.iter().any(|s| s.name == *name))
    .collect();
    let report = report(&workloads, &sides, &results, durability);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// The hivelog measured: the one at `--hivelog`, or one started here.
async fn hivelog_side(args: &BenchArgs) -> anyhow::Result<Side> {
    Ok(match &args.hivelog {
        Some(url) => Side {
            name: "hivelog",
            target: Target::hivelog(url).await?,
            pid: None,
            _server: None,
        },
        None => {
            let (server, url) = servers::hivelog(&args.sync)?;
            Side {
                name: "hivelog",
                target: Target::hivelog(&url).await?,
                pid: Some(server.pid()),
                _server: Some(server),
            }
        }
    })
}

/// The nats-server measured: the one at `--nats`, or one started here.
async fn nats_side(args: &BenchArgs) -> anyhow::Result<Side> {
    Ok(match &args.nats {
        Some(url) => Side {
            name: "nats-server",
            target: Target::nats(url).await?,
            pid: None,
            _server: None,
        },
        None => {
            let (server, url) = servers::nats()?;
            Side {
                name: "nats-server",
                target: Target::nats(&url).await?,
                pid: Some(server.pid()),
                _server: Some(server),
            }
        }
    })
}

fn record(r: &mut Results, s: &Sample, before: Option<(f64, u64)>, after: Option<(f64, u64)>) {
    let mut lat = s.latencies.clone();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len().max(1) - 1) as f64 * p).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    r.ops_per_s
        .push(s.ops as f64 / s.elapsed.as_secs_f64().max(1e-9));
    r.p50_ms.push(pct(0.5));
    r.p99_ms.push(pct(0.99));
    r.p999_ms.push(pct(0.999));
    r.lost += s.lost;
    r.deliveries += s.ops + s.lost;
    if let (Some((c0, _)), Some((c1, rss))) = (before, after) {
        r.cpu_s.push(c1 - c0);
        r.rss_kib = r.rss_kib.max(rss);
    }
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// What `hivelog bench --json` prints.
#[derive(Debug, Serialize)]
struct Report {
    workloads: Vec<Row>,
    /// How each side acknowledges a write.
    durability: BTreeMap<&'static str, &'static str>,
}

/// One workload's medians on each side that ran it.
#[derive(Debug, Serialize)]
struct Row {
    workload: Workload,
    #[serde(skip_serializing_if = "Option::is_none")]
    hivelog: Option<Figures>,
    #[serde(rename = "nats-server", skip_serializing_if = "Option::is_none")]
    nats_server: Option<Figures>,
    /// Higher is better for hivelog: its throughput over nats-server's,
    /// or, at a fixed rate, nats-server's p99 over hivelog's.
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio: Option<f64>,
}

impl Row {
    fn side(&self, name: &str) -> Option<&Figures> {
        match name {
            "hivelog" => self.hivelog.as_ref(),
            _ => self.nats_server.as_ref(),
        }
    }
}

#[derive(Debug, Serialize)]
struct Figures {
    ops_per_s: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    p999_ms: Option<f64>,
    server_cpu_s: Option<f64>,
    server_peak_rss_mib: Option<f64>,
    rounds: Vec<f64>,
    lost: u64,
    deliveries: u64,
}

fn report(
    workloads: &[Workload],
    sides: &[Side],
    results: &[Vec<Results>],
    durability: BTreeMap<&'static str, &'static str>,
) -> Report {
    let rows = workloads
        .iter()
        .zip(results)
        .map(|(w, per_side)| {
            let mut row = Row {
                workload: *w,
                hivelog: None,
                nats_server: None,
                ratio: None,
            };
            for (side, r) in sides.iter().zip(per_side) {
                let figures = Figures {
                    ops_per_s: median(&r.ops_per_s),
                    p50_ms: median(&r.p50_ms),
                    p99_ms: median(&r.p99_ms),
                    p999_ms: median(&r.p999_ms),
                    server_cpu_s: median(&r.cpu_s),
                    server_peak_rss_mib: (r.rss_kib > 0).then(|| r.rss_kib as f64 / 1024.0),
                    rounds: r.ops_per_s.clone(),
                    lost: r.lost,
                    deliveries: r.deliveries,
                };
                match side.name {
                    "hivelog" => row.hivelog = Some(figures),
                    _ => row.nats_server = Some(figures),
                }
            }
            if let [a, b] = per_side.as_slice() {
                let (x, y) = if *w == Workload::Latency {
                    (median(&b.p99_ms), median(&a.p99_ms))
                } else {
                    (median(&a.ops_per_s), median(&b.ops_per_s))
                };
                if let (Some(x), Some(y)) = (x, y) {
                    row.ratio = Some(x / y.max(1e-9));
                }
            }
            row
        })
        .collect();
    Report {
        workloads: rows,
        durability,
    }
}

fn print_table(report: &Report) {
    println!(
        "{:<11} {:>24}   {:>24}   {:>7}",
        "workload", "hivelog ops/s (p99 ms)", "nats-server ops/s (p99)", "ratio"
    );
    let name_of = |w: &Workload| shown(w);
    for row in &report.workloads {
        let side = |name: &str| match row.side(name).map(|f| (f.ops_per_s, f.p99_ms)) {
            Some((Some(ops), Some(p99))) => format!("{ops:>12.0} ({p99:>7.2})"),
            _ => "-".to_string(),
        };
        let ratio = row.ratio.map_or("-".to_string(), |r| format!("{r:.2}x"));
        println!(
            "{:<11} {:>24}   {:>24}   {:>7}",
            name_of(&row.workload),
            side("hivelog"),
            side("nats-server"),
            ratio
        );
    }
    for row in &report.workloads {
        if row.workload != Workload::Latency {
            continue;
        }
        for name in ["hivelog", "nats-server"] {
            if let Some(f) = row.side(name) {
                let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
                println!(
                    "latency at {} msgs/s, {name}: p50 {} ms, p99 {} ms, p99.9 {} ms",
                    latency::RATE_PER_S,
                    ms(f.p50_ms),
                    ms(f.p99_ms),
                    ms(f.p999_ms)
                );
            }
        }
    }
    for row in &report.workloads {
        for name in ["hivelog", "nats-server"] {
            if let Some(f) = row.side(name).filter(|f| f.lost > 0) {
                println!(
                    "{}, {name}: {} of {} deliveries lost (a subscriber fell behind the publisher)",
                    name_of(&row.workload),
                    f.lost,
                    f.deliveries
                );
            }
        }
    }
    for name in ["hivelog", "nats-server"] {
        let sides = report.workloads.iter().filter_map(|r| r.side(name));
        let cpu: f64 = sides.clone().filter_map(|f| f.server_cpu_s).sum();
        let rss = sides
            .filter_map(|f| f.server_peak_rss_mib)
            .fold(0.0, f64::max);
        if rss > 0.0 {
            println!("{name}: server CPU {cpu:.1} s over the medians' runs, peak RSS {rss:.0} MiB");
        }
    }
    for (name, how) in &report.durability {
        println!("durability, {name}: {how}");
    }
}
