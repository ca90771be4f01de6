//! The server's settings. Every flag has an environment variable, so a test
//! or a service manager can set them without a command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::api::ws::WsConfig;
use crate::coord::CoordConfig;
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

/// How logs are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Where coordination is stored; `serve` and the import commands share
/// these flags.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// Where coordination (tasks, agents, messages) is stored: `embedded` (the data directory) or `nats://host:4222[,nats://host2:4222,…]`, a NATS JetStream server or cluster that several hivelog instances can share.
    #[arg(
        long,
        env = "HIVELOG_BACKEND",
        default_value = "embedded",
        value_name = "embedded|nats://…"
    )]
    pub backend: String,

    /// With a nats:// backend: copies of each stream (default: 3 when --backend names 3 or more servers, else 1).
    #[arg(long, env = "HIVELOG_REPLICAS", value_parser = clap::value_parser!(u8).range(1..=5))]
    pub replicas: Option<u8>,

    /// With a nats:// backend: a NATS credentials file.
    #[arg(long, env = "HIVELOG_BACKEND_CREDS", value_name = "FILE")]
    pub backend_creds: Option<PathBuf>,

    /// With a nats:// backend: a NATS token.
    #[arg(long, env = "HIVELOG_BACKEND_TOKEN", hide_env_values = true)]
    pub backend_token: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// A TOML file with any of these settings (`listen = "127.0.0.1:9000"`,
    /// `task-lease = "30m"`, …). Flags beat environment variables, which
    /// beat the file, which beats the defaults.
    #[arg(long, env = "HIVELOG_CONFIG")]
    pub config: Option<PathBuf>,

    /// Log format on stderr.
    #[arg(long, env = "HIVELOG_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Log level or filter (`info`, `debug`, `hivelog=debug,tower_http=warn`).
    #[arg(long, env = "HIVELOG_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Where the data lives (created if missing).
    #[arg(long, env = "HIVELOG_DATA_DIR", default_value = "./hivelog-data")]
    pub data_dir: PathBuf,

    /// Address to listen on. Loopback by default; use 0.0.0.0:8001 to expose it.
    #[arg(long, env = "HIVELOG_LISTEN", default_value = "127.0.0.1:8001")]
    pub listen: String,

    /// Require `Authorization: Bearer <token>` on the API and WebSocket
    /// (health, readiness, metrics and the pages stay open). Off by
    /// default, because the replaced service's clients send no token.
    #[arg(long, env = "HIVELOG_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// A TOML file of tokens with roles (admin, agent, read) and the agent ids each may act as; read again on SIGHUP.
    #[arg(long, env = "HIVELOG_TOKENS_FILE", value_name = "FILE")]
    pub tokens_file: Option<PathBuf>,

    /// A PEM certificate chain: serve HTTPS and WSS on --listen (with --tls-key). Read again on SIGHUP.
    #[arg(
        long,
        env = "HIVELOG_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        env = "HIVELOG_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// Refuse to start without a token (--token or --tokens-file).
    #[arg(long, env = "HIVELOG_REQUIRE_TOKEN")]
    pub require_token: bool,

    /// An agent token may act only as the agent ids it lists (or its name): heartbeats, claims, completions and posts as another agent are 403.
    #[arg(long, env = "HIVELOG_STRICT_AGENTS")]
    pub strict_agents: bool,

    #[command(flatten)]
    pub store: BackendArgs,

    /// When to answer a write: after it is on disk, or at once.
    #[arg(long, env = "HIVELOG_SYNC", value_enum, default_value_t = SyncMode::Always)]
    pub sync: SyncMode,

    /// With --sync interval: how often to flush (e.g. 100ms, 1s).
    #[arg(long, env = "HIVELOG_SYNC_INTERVAL", default_value = "100ms", value_parser = parse_duration)]
    pub sync_interval: Duration,

    /// Storage cache size in MiB (sled's cache of decoded pages; reads past it come from the OS page cache).
    #[arg(long, env = "HIVELOG_CACHE_MB", default_value_t = 16)]
    pub cache_mb: u64,

    /// New messages are refused (507) while the data directory's disk has less free space than this, in MiB, and taken again when space returns; 0 turns it off.
    #[arg(long, env = "HIVELOG_MIN_FREE_DISK_MB", default_value_t = 64)]
    pub min_free_disk_mb: u64,

    /// Subject prefix for tasks, messages and heartbeats (`<prefix>.tasks`, …).
    #[arg(long, env = "HIVELOG_SUBJECT_PREFIX", default_value = "mjwork", value_parser = parse_prefix)]
    pub subject_prefix: String,

    /// How long a claim lasts without a heartbeat or progress naming the task.
    #[arg(long, env = "HIVELOG_TASK_LEASE", default_value = "2h", value_parser = parse_duration)]
    pub task_lease: Duration,

    /// An agent is shown as stale after this long without a heartbeat.
    #[arg(long, env = "HIVELOG_AGENT_STALE_AFTER", default_value = "90s", value_parser = parse_duration)]
    pub agent_stale_after: Duration,

    /// An agent is dead after this long without a heartbeat; its tasks go back to the queue.
    #[arg(long, env = "HIVELOG_AGENT_DEAD_AFTER", default_value = "120s", value_parser = parse_duration)]
    pub agent_dead_after: Duration,

    /// Attempts a task gets (each failure, expired lease or dead agent spends one); then it needs a human.
    #[arg(long, env = "HIVELOG_MAX_ATTEMPTS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_attempts: u32,

    /// Wait before a task that failed an attempt is granted again; doubled per attempt.
    #[arg(long, env = "HIVELOG_RETRY_BACKOFF", default_value = "10s", value_parser = parse_duration)]
    pub retry_backoff: Duration,

    /// The longest wait between attempts.
    #[arg(long, env = "HIVELOG_RETRY_BACKOFF_MAX", default_value = "1h", value_parser = parse_duration)]
    pub retry_backoff_max: Duration,

    /// How long a file reservation lasts unless renewed (one taken with a claim lasts as long as the claim).
    #[arg(long, env = "HIVELOG_RESERVATION_TTL", default_value = "1h", value_parser = parse_duration)]
    pub reservation_ttl: Duration,

    /// How many projects (repositories) this server serves; each is named by the requests that use it (header X-Hivelog-Project).
    #[arg(long, env = "HIVELOG_MAX_PROJECTS", default_value_t = crate::coord::projects::DEFAULT_MAX_PROJECTS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    pub max_projects: usize,

    /// How often leases and agent liveness are checked.
    #[arg(long, env = "HIVELOG_REAP_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub reap_interval: Duration,

    /// A site whose pages may call the API from a browser (e.g. https://tools.example:8443); repeatable; "*" allows any. Others are refused.
    #[arg(
        long = "cors-origin",
        env = "HIVELOG_CORS_ORIGIN",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub cors_origins: Vec<String>,

    /// Requests per second one client may make (its token, or its address without one); 0: no limit. Over it: 429 with Retry-After.
    #[arg(long, env = "HIVELOG_RATE_LIMIT", default_value_t = 0)]
    pub rate_limit: u32,

    /// Requests a client may make at once above --rate-limit (default: twice the rate).
    #[arg(long, env = "HIVELOG_RATE_BURST")]
    pub rate_burst: Option<u32>,

    /// WebSocket connections the server holds at most.
    #[arg(long, env = "HIVELOG_WS_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub ws_max_connections: usize,

    /// WebSocket connections one address may hold.
    #[arg(
        long,
        env = "HIVELOG_WS_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 1_000
    )]
    pub ws_max_connections_per_client: usize,

    /// Subscriptions one WebSocket connection may hold.
    #[arg(long, env = "HIVELOG_WS_MAX_SUBSCRIPTIONS", default_value_t = 1_000)]
    pub ws_max_subscriptions: usize,

    /// The largest request body in MiB (413 beyond). Default: room for the largest message a stream may take (8 MiB) and its envelope.
    #[arg(long, env = "HIVELOG_MAX_BODY_MB")]
    pub max_body_mb: Option<usize>,

    /// The largest WebSocket frame a client may send, in KiB.
    #[arg(long, env = "HIVELOG_WS_MAX_FRAME_KB", default_value_t = 2048)]
    pub ws_max_frame_kb: usize,

    /// Streams the server holds at most.
    #[arg(long, env = "HIVELOG_MAX_STREAMS", default_value_t = 1_000)]
    pub max_streams: usize,

    /// Consumers one stream may have.
    #[arg(
        long,
        env = "HIVELOG_MAX_CONSUMERS_PER_STREAM",
        default_value_t = 10_000
    )]
    pub max_consumers_per_stream: usize,

    /// MiB a WebSocket connection may have queued before live messages mark it a slow consumer.
    #[arg(long, env = "HIVELOG_WS_MAX_PENDING_MB", default_value_t = 64)]
    pub ws_max_pending_mb: usize,

    /// How often the server pings WebSocket clients.
    #[arg(long, env = "HIVELOG_WS_PING_INTERVAL", default_value = "25s", value_parser = parse_duration)]
    pub ws_ping_interval: Duration,

    /// A WebSocket peer silent for this long is dropped.
    #[arg(long, env = "HIVELOG_WS_STALE_TIMEOUT", default_value = "90s", value_parser = parse_duration)]
    pub ws_stale_timeout: Duration,

    /// How often expired messages, dedup ids and idle consumers are removed.
    #[arg(long, env = "HIVELOG_SWEEP_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub sweep_interval: Duration,
}

fn parse_prefix(text: &str) -> Result<String, String> {
    crate::log::subject::validate_subject(text).map_err(|e| e.to_string())?;
    Ok(text.to_string())
}

impl ServeConfig {
    pub fn ws_config(&self) -> WsConfig {
        WsConfig {
            ping_interval: self.ws_ping_interval.max(Duration::from_millis(100)),
            stale_timeout: self.ws_stale_timeout.max(self.ws_ping_interval),
            max_pending: self.ws_max_pending_mb.max(1).saturating_mul(1024 * 1024),
        }
    }

    pub fn limits(&self) -> crate::api::limits::LimitsConfig {
        crate::api::limits::LimitsConfig {
            rate_per_sec: self.rate_limit,
            burst: self.rate_burst.unwrap_or(self.rate_limit.saturating_mul(2)),
            ws_connections: self.ws_max_connections.max(1),
            ws_connections_per_client: self.ws_max_connections_per_client.max(1),
            ws_subscriptions: self.ws_max_subscriptions.max(1),
            streams: self.max_streams.max(2),
            consumers_per_stream: self.max_consumers_per_stream.max(1),
            max_body: self.max_body_mb.map_or(crate::api::MAX_BODY, |mb| {
                mb.max(1).saturating_mul(1024 * 1024)
            }),
            ws_max_frame: self.ws_max_frame_kb.max(1).saturating_mul(1024),
        }
    }

    pub fn coord_config(&self) -> CoordConfig {
        CoordConfig {
            project: crate::coord::project::DEFAULT_PROJECT.to_string(),
            prefix: self.subject_prefix.clone(),
            history_stream: crate::streams::HISTORY_STREAM.to_string(),
            task_lease: self.task_lease,
            agent_stale_after: self.agent_stale_after,
            agent_dead_after: self.agent_dead_after.max(self.agent_stale_after),
            max_attempts: self.max_attempts,
            reap_every: self.reap_interval.max(Duration::from_millis(50)),
            retry_backoff: self.retry_backoff,
            retry_backoff_max: self.retry_backoff_max.max(self.retry_backoff),
            reservation_ttl: self.reservation_ttl.max(Duration::from_secs(1)),
        }
    }

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
            min_free_bytes: self.min_free_disk_mb.saturating_mul(1024 * 1024),
        }
    }
}

/// Settings a config file may hold: the long flag names of `serve`.
pub const FILE_KEYS: &[&str] = &[
    "data-dir",
    "listen",
    "sync",
    "token",
    "tokens-file",
    "backend",
    "replicas",
    "backend-creds",
    "backend-token",
    "tls-cert",
    "tls-key",
    "require-token",
    "strict-agents",
    "sync-interval",
    "cache-mb",
    "min-free-disk-mb",
    "subject-prefix",
    "task-lease",
    "agent-stale-after",
    "agent-dead-after",
    "max-attempts",
    "reap-interval",
    "retry-backoff",
    "retry-backoff-max",
    "reservation-ttl",
    "cors-origin",
    "rate-limit",
    "rate-burst",
    "ws-max-connections",
    "ws-max-connections-per-client",
    "ws-max-subscriptions",
    "max-body-mb",
    "ws-max-frame-kb",
    "max-streams",
    "max-consumers-per-stream",
    "ws-max-pending-mb",
    "ws-ping-interval",
    "ws-stale-timeout",
    "sweep-interval",
    "log-format",
    "log-level",
];

/// Reads a TOML config file and returns `(env var, value)` for each setting,
/// e.g. `task-lease = "30m"` → `("HIVELOG_TASK_LEASE", "30m")`. Keys may use
/// `-` or `_`. Unknown keys are an error, so a typo does not go unnoticed.
pub fn file_settings(path: &std::path::Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("config file {} is not valid TOML: {e}", path.display()))?;
    let mut out = Vec::new();
    for (key, value) in table {
        let flag = key.replace('_', "-");
        if !FILE_KEYS.contains(&flag.as_str()) {
            return Err(format!(
                "unknown setting {key:?} in {}; known settings: {}",
                path.display(),
                FILE_KEYS.join(", ")
            ));
        }
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(format!(
                    "setting {key:?} in {} must be a string or a number, not {}",
                    path.display(),
                    other.type_str()
                ))
            }
        };
        out.push((
            format!("HIVELOG_{}", flag.replace('-', "_").to_uppercase()),
            value,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
