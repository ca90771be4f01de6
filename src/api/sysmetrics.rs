//! Publishes the server's vital signs on `$SYS.metrics` every interval, for
//! the dashboard and any subscriber: CPU and memory of the process, the
//! machine's memory, messages per second in and out, WebSocket
//! connections, store size, task counts. No stream captures `$SYS.>`, so nothing is
//! stored.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::AppState;
use crate::log::PublishOptions;
use crate::ops::health::SysMetrics;

pub const SUBJECT: &str = "$SYS.metrics";

/// CPU ticks used by this process so far (utime + stime), Linux only.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn kib_field(path: &str, name: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find(|l| l.starts_with(name))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn start(
    state: AppState,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Linux reports CPU time in 1/100 s on every platform we run on.
        const TICKS_PER_SEC: f64 = 100.0;
        let mut tick = tokio::time::interval(every);
        let (mut last_at, mut last_cpu) = (Instant::now(), cpu_ticks());
        let (mut last_in, mut last_out) = (
            state.streams.log().published_total(),
            state.streams.log().fanout_totals().0,
        );
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => break,
            }
            state.limits.tidy();
            let secs = last_at.elapsed().as_secs_f64().max(1e-3);
            let cpu = cpu_ticks();
            let cpu_percent = match (cpu, last_cpu) {
                (Some(now), Some(before)) => {
                    (now.saturating_sub(before)) as f64 / TICKS_PER_SEC / secs * 100.0
                }
                _ => 0.0,
            };
            let (msgs_in, msgs_out) = (
                state.streams.log().published_total(),
                state.streams.log().fanout_totals().0,
            );
            let report = SysMetrics {
                cpu_percent: (cpu_percent * 10.0).round() / 10.0,
                rss_bytes: kib_field("/proc/self/status", "VmRSS:").unwrap_or(0) * 1024,
                memory_total_bytes: kib_field("/proc/meminfo", "MemTotal:").unwrap_or(0) * 1024,
                memory_available_bytes: kib_field("/proc/meminfo", "MemAvailable:").unwrap_or(0)
                    * 1024,
                msgs_in_per_sec: ((msgs_in.saturating_sub(last_in)) as f64 / secs).round(),
                msgs_out_per_sec: ((msgs_out.saturating_sub(last_out)) as f64 / secs).round(),
                ws_connections: state.ws_stats.connections.load(Ordering::Relaxed),
                subscribers: state.streams.log().subscriber_count(),
                store_bytes: state.streams.log().size_on_disk(),
                uptime_seconds: state.streams.log().uptime().as_secs(),
                tasks: state.projects.default_project().tasks().counts(),
            };
            (last_at, last_cpu, last_in, last_out) = (Instant::now(), cpu, msgs_in, msgs_out);
            if let Err(e) = state
                .streams
                .log()
                .publish(
                    SUBJECT,
                    serde_json::to_vec(&report).unwrap_or_default(),
                    PublishOptions::default(),
                )
                .await
            {
                tracing::debug!(error = %e, "could not publish system metrics");
            }
        }
    })
}
