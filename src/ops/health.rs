//! The answers of `/health` and `/ready`, which the API renders and
//! `hivelog status` reads back (`/health` keeps the replaced service's
//! `status` and `nats_connected`), and the vital signs published on
//! `$SYS.metrics` for the dashboard.

use serde::{Deserialize, Serialize};

use crate::coord::board::TaskCounts;

/// `GET /ready`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ready {
    pub status: String,
}

/// `GET /health`: liveness plus what an operator wants at a glance.
/// Read with defaults for what is missing, so `hivelog status` still
/// shows a server of an older version.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub uptime_seconds: u64,
    pub streams: usize,
    pub store_bytes: u64,
    pub format_version: u32,
    /// `always`, or `interval (100ms)`.
    pub sync: String,
    pub subscribers: usize,
    pub ws_connections: usize,
    pub ws_tasks: usize,
    pub ws_slow_consumers: usize,
    pub live_delivered: u64,
    /// Always true: kept for the replaced service's clients.
    pub nats_connected: bool,
    pub subject_prefix: String,
    pub agent_stale_after_seconds: f64,
    pub agent_dead_after_seconds: f64,
    pub broker: String,
    pub backend: String,
    /// Where instances share a cluster, one reaps at a time: `this
    /// instance` or `another instance`.
    pub reaper: String,
    pub tasks: TaskCounts,
    pub slow_consumers: u64,
    /// Damaged state records skipped at start or on read; the server's
    /// log names their subjects and sequences.
    pub state_records_skipped: u64,
}

/// What `$SYS.metrics` carries every interval.
#[derive(Debug, Serialize, Deserialize)]
pub struct SysMetrics {
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    pub memory_total_bytes: u64,
    pub memory_available_bytes: u64,
    pub msgs_in_per_sec: f64,
    pub msgs_out_per_sec: f64,
    pub ws_connections: usize,
    pub subscribers: usize,
    pub store_bytes: u64,
    pub uptime_seconds: u64,
    /// The board's counts, so a dashboard never counts a truncated list
    /// itself.
    pub tasks: TaskCounts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_servers_health_still_reads() {
        let old =
            serde_json::json!({"status": "healthy", "version": "0.0.9", "nats_connected": true});
        let h: Health = serde_json::from_value(old).unwrap();
        assert_eq!(h.status, "healthy");
        assert_eq!(h.state_records_skipped, 0);
        assert_eq!(h.tasks.available, 0);
    }
}
