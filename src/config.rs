//! The server's settings. Every flag has an environment variable, so a test
//! or a service manager can set them without a command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::log::duration::parse_duration;
use crate::log::{LogOptions, SyncPolicy, DEFAULT_SUBSCRIBER_QUEUE};

/// When a write is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncMode {
    /// Answer after the write is flushed to disk (group commit). Survives
    /// power loss and `kill -9`.
    Always,
    /// Answer at once and flush every --sync-interval, as NATS does. Faster;
    /// a crash can lose the writes of the last interval.
    Interval,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Where the data lives (created if missing).
    #[arg(long, env = "HIVELOG_DATA_DIR", default_value = "./hivelog-data")]
    pub data_dir: PathBuf,

    /// Address to listen on. Loopback by default; use 0.0.0.0:8001 to expose it.
    #[arg(long, env = "HIVELOG_LISTEN", default_value = "127.0.0.1:8001")]
    pub listen: String,

    /// When to answer a write: after it is on disk, or at once.
    #[arg(long, env = "HIVELOG_SYNC", value_enum, default_value_t = SyncMode::Always)]
    pub sync: SyncMode,

    /// With --sync interval: how often to flush (e.g. 100ms, 1s).
    #[arg(long, env = "HIVELOG_SYNC_INTERVAL", default_value = "100ms", value_parser = parse_duration)]
    pub sync_interval: Duration,

    /// Storage cache size in MiB.
    #[arg(long, env = "HIVELOG_CACHE_MB", default_value_t = 64)]
    pub cache_mb: u64,

    /// How often expired messages, dedup ids and idle consumers are removed.
    #[arg(long, env = "HIVELOG_SWEEP_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub sweep_interval: Duration,
}

impl ServeConfig {
    pub fn log_options(&self) -> LogOptions {
        LogOptions {
            sync: match self.sync {
                SyncMode::Always => SyncPolicy::Always,
                SyncMode::Interval => {
                    SyncPolicy::Interval(self.sync_interval.max(Duration::from_millis(1)))
                }
            },
            cache_bytes: self.cache_mb.max(1) * 1024 * 1024,
            subscriber_queue: DEFAULT_SUBSCRIBER_QUEUE,
        }
    }
}
