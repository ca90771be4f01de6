//! Agent coordination: tasks with atomic claims, leases and dependencies;
//! agents with heartbeats and liveness; messages on channels. State lives in
//! the log, reached only through [`crate::streams::LogPort`]:
//!
//! - `hivelog.state.task.<id>` / `hivelog.state.agent.<id>` hold every
//!   version of each task and agent (a key-value stream). A change is an
//!   append that expects the subject's last sequence, so two concurrent
//!   claims cannot both succeed.
//! - `<prefix>.tasks`, `<prefix>.<channel>`, `<prefix>.heartbeat.<id>` get
//!   what the replaced stack published there, for anyone reading history.
//!
//! In-memory views answer reads; they are loaded from the newest record per
//! subject at start (not by replaying history) and updated on each write.

pub mod agent;
pub mod agents;
pub mod board;
pub mod channels;
mod claims;
pub mod clock;
mod control;
mod facets;
mod follow;
pub mod glob;
mod held;
pub mod import;
pub mod inbox;
mod load;
pub mod project;
pub mod projects;
mod reaper;
mod reservation;
pub mod reservations;
mod retries;
pub mod slots;
mod snapshot;
pub mod task;
pub mod tasks;
pub mod time;
mod transitions;
mod view;

#[cfg(test)]
#[macro_use]
mod lifecycle_tests;
#[cfg(test)]
mod facet_tests;
#[cfg(test)]
mod gone_tests;
#[cfg(test)]
mod jetstream_tests;
#[cfg(test)]
mod project_tests;
#[cfg(test)]
mod projects_tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::streams::{LogPort, PortError};
use agents::{Agent, AgentRecord};
use clock::{Clock, SystemClock};
use task::Task;
use view::TaskView;

pub use claims::GONE_BEFORE_ANSWER;
pub use control::Pause;
pub use facets::{Agents, Channels, Inbox, Reservations, Slots, Tasks};
pub use import::Imported;
pub use projects::{ProjectInfo, Projects};
pub use transitions::Finish;

pub use crate::streams::STATE_SUBJECTS;

#[derive(Debug, Clone)]
pub struct CoordConfig {
    /// The project this coordinator serves (`project.rs`).
    pub project: String,
    /// Subject prefix of the compatible subjects (`mjwork`).
    pub prefix: String,
    /// Name reported as `stream` in answers (the history stream).
    pub history_stream: String,
    pub task_lease: Duration,
    pub agent_stale_after: Duration,
    pub agent_dead_after: Duration,
    pub max_attempts: u32,
    pub reap_every: Duration,
    /// A failed attempt's first wait before the task is granted again;
    /// doubled with each further attempt, up to `retry_backoff_max`.
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    /// How long a file reservation lasts unless renewed.
    pub reservation_ttl: Duration,
}

impl Default for CoordConfig {
    fn default() -> Self {
        CoordConfig {
            project: project::DEFAULT_PROJECT.into(),
            prefix: "mjwork".into(),
            history_stream: "MJ_ONLINE_WORK".into(),
            task_lease: Duration::from_secs(2 * 3600),
            agent_stale_after: Duration::from_secs(90),
            agent_dead_after: Duration::from_secs(120),
            max_attempts: 3,
            reap_every: Duration::from_secs(1),
            retry_backoff: Duration::from_secs(10),
            retry_backoff_max: Duration::from_secs(3600),
            reservation_ttl: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    #[error("{0}")]
    Invalid(String),
    #[error("Task not found")]
    TaskNotFound,
    #[error("Task not found or already claimed")]
    NotClaimable {
        status: Option<&'static str>,
        owner: Option<String>,
    },
    #[error("Task is blocked by unfinished dependencies: {}", .0.join(", "))]
    Blocked(Vec<String>),
    #[error("Task is not claimed")]
    NotClaimed,
    #[error("agent_id is required")]
    MissingAgent,
    #[error("Task is already {0}")]
    Finished(&'static str),
    #[error("Task is claimed by {owner}, not {agent}")]
    NotOwner { owner: String, agent: String },
    #[error("Task is claimed by {0}; it cannot be changed until released or completed")]
    Held(String),
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    #[error("stale fencing token {given}: the task's current grant is {current}{}", if *.claimed { "" } else { " and it is no longer claimed" })]
    StaleToken {
        given: u64,
        current: u64,
        claimed: bool,
    },
    #[error("hivelog is paused: no task is granted until it is resumed")]
    Paused,
    #[error("files are reserved: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Reserved(Vec<reservations::Conflict>),
    #[error("slot {} is full: {} of {} permits held{}", .0.name, .0.holders.len(), .0.permits, holders(&.0.holders))]
    SlotFull(slots::Slot),
    #[error("Agent {0} not found")]
    AgentNotFound(String),
    #[error("too many concurrent changes to {0}; try again")]
    Busy(String),
    #[error("stored record is damaged: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Storage(PortError),
}

fn holders(permits: &[slots::Permit]) -> String {
    if permits.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = permits.iter().map(|p| p.agent_id.as_str()).collect();
    format!(" (by {})", names.join(", "))
}

impl From<PortError> for CoordError {
    fn from(e: PortError) -> Self {
        match e {
            PortError::Conflict { actual } => {
                CoordError::Busy(format!("a record (last sequence {actual})"))
            }
            other => CoordError::Storage(other),
        }
    }
}

/// Counters for metrics.
#[derive(Debug, Default)]
pub struct CoordStats {
    pub claims_won: std::sync::atomic::AtomicU64,
    /// Claims refused because the task was taken (or not available).
    pub claims_lost: std::sync::atomic::AtomicU64,
    /// Grants undone because their caller left before the answer.
    pub grants_given_back: std::sync::atomic::AtomicU64,
    pub leases_expired: std::sync::atomic::AtomicU64,
    /// Tasks returned because their agent stopped heartbeating or was removed.
    pub dead_agent_releases: std::sync::atomic::AtomicU64,
    /// State records that did not decode and were skipped.
    pub skipped_records: std::sync::atomic::AtomicU64,
    /// Whether this instance held the reaper's lease at its last check
    /// (always, on a store no other instance shares).
    pub reaping: std::sync::atomic::AtomicBool,
}

/// The one shared state of coordination. Its operations are reached
/// through the facets (`facets.rs`: `tasks()`, `agents()`,
/// `reservations()`, `inbox()`, `slots()`, `channels()`); the fields are
/// grouped by the facet that owns them.
pub struct Coordinator<P: LogPort> {
    pub stats: CoordStats,
    port: P,
    clock: Arc<dyn Clock>,
    config: CoordConfig,
    /// Where this project's records live.
    subjects: project::Subjects,
    /// This instance's name as a lease holder (reaper.rs).
    instance: String,
    /// The newest state record this instance has applied or loaded past
    /// (follow.rs watches from there).
    followed: std::sync::atomic::AtomicU64,
    pause: Mutex<control::Pause>,
    /// Shared by every project's coordinator in one server (control.rs).
    machine: Arc<control::Machine>,

    // Tasks.
    /// Shared with the hook that applies a stored change before its copy
    /// becomes visible (tasks.rs).
    task_view: Arc<Mutex<TaskView>>,
    /// Woken when a task may have become claimable (long-polling claim-next).
    claimable: Notify,
    /// Serializes creating tasks that carry a dedup key.
    dedup_lock: tokio::sync::Mutex<()>,
    /// Task writes against snapshots (snapshot.rs).
    snapshot_barrier: snapshot::SnapshotBarrier,
    snapshot: snapshot::SnapshotState,

    // Agents (shared with the apply hook, as the task view is).
    agent_records: Arc<Mutex<HashMap<String, AgentRecord>>>,

    // Reservations.
    held: Mutex<held::HeldSet>,
    /// Serializes reservation changes (check + write).
    reservation_lock: tokio::sync::Mutex<()>,

    // Inbox.
    /// Woken when any inbox gets an item (`hivelog wait`).
    inbox_changed: Notify,

    // Slots.
    /// Woken when a slot changes (waiting acquirers look again).
    slot_changed: Notify,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<P: LogPort> Coordinator<P> {
    /// Loads the newest version of every task and agent. A record that does
    /// not decode is skipped (logged and counted); the previous good
    /// version of that task or agent stays in force (`load.rs`).
    pub async fn open(port: P, config: CoordConfig) -> Result<Arc<Self>, CoordError> {
        Self::open_with_clock(port, config, Arc::new(SystemClock)).await
    }

    /// As `open`, on `clock` (a `ManualClock` in tests).
    pub async fn open_with_clock(
        port: P,
        config: CoordConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, CoordError> {
        Self::open_in(port, config, clock, Arc::default()).await
    }

    /// As `open_with_clock`, sharing `machine` with the other projects of
    /// one server (`projects.rs`).
    pub(crate) async fn open_in(
        port: P,
        config: CoordConfig,
        clock: Arc<dyn Clock>,
        machine: Arc<control::Machine>,
    ) -> Result<Arc<Self>, CoordError> {
        project::validate_project(&config.project)?;
        let coord = Coordinator {
            subjects: project::Subjects::of(&config.project),
            stats: CoordStats::default(),
            port,
            clock: clock.clone(),
            config,
            task_view: Arc::new(Mutex::new(TaskView::new(clock.clone()))),
            agent_records: Arc::new(Mutex::new(HashMap::new())),
            claimable: Notify::new(),
            held: Mutex::new(held::HeldSet::default()),
            reservation_lock: tokio::sync::Mutex::new(()),
            dedup_lock: tokio::sync::Mutex::new(()),
            pause: Mutex::new(control::Pause::default()),
            machine,
            inbox_changed: Notify::new(),
            slot_changed: Notify::new(),
            followed: std::sync::atomic::AtomicU64::new(0),
            instance: format!(
                "{}-{:x}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ),
            snapshot_barrier: Default::default(),
            snapshot: Default::default(),
        };
        // Read before loading: whatever is stored after this is watched
        // for (and re-applying what loading saw changes nothing).
        let head = coord.port.head(&coord.subjects.all()).await?;
        coord
            .followed
            .store(head, std::sync::atomic::Ordering::Release);
        let mut view = match coord.view_from_snapshot(head).await? {
            Some(view) => view,
            None => {
                let mut view = TaskView::new(clock);
                for r in coord
                    .port
                    .last_per_subject(&format!("{}.*", coord.subjects.task))
                    .await?
                {
                    let loaded = coord.decode_or_fall_back::<Task>(&r).await?;
                    if let Some(task) = loaded.value {
                        view.apply(task, loaded.last_seq);
                    }
                }
                view
            }
        };
        let mut agents = HashMap::new();
        for r in coord
            .port
            .last_per_subject(&format!("{}.*", coord.subjects.agent))
            .await?
        {
            // `null` is a removed agent.
            let loaded = coord.decode_or_fall_back::<Option<Agent>>(&r).await?;
            if let Some(agent) = loaded.value.flatten() {
                let seq = loaded.last_seq;
                let heard = coord.clock.instant_of(agent.seen());
                agents.insert(agent.agent_id.clone(), AgentRecord { agent, seq, heard });
            }
        }
        // A heartbeat that named a task renewed its lease in memory only;
        // the stored heartbeat says so, so renewals survive a restart.
        for a in agents.values() {
            if let Some(current) = &a.agent.current_task {
                view.renew_lease(
                    current,
                    &a.agent.agent_id,
                    a.agent.seen().plus(coord.config.task_lease),
                );
            }
        }
        for r in coord
            .port
            .last_per_subject(&format!("{}.*", coord.subjects.reservation))
            .await?
        {
            let loaded = coord
                .decode_or_fall_back::<Option<reservations::Reservation>>(&r)
                .await?;
            if let Some(res) = loaded.value.flatten() {
                coord.load_reservation(res);
            }
        }
        coord.load_pause().await?;
        tracing::info!(
            tasks = view.len(),
            agents = agents.len(),
            skipped = coord
                .stats
                .skipped_records
                .load(std::sync::atomic::Ordering::Relaxed),
            "coordination state loaded"
        );
        *lock(&coord.task_view) = view;
        *lock(&coord.agent_records) = agents;
        Ok(Arc::new(coord))
    }

    pub fn config(&self) -> &CoordConfig {
        &self.config
    }

    /// What this project's state records' subjects start with
    /// (`hivelog.state`, `hivelog.state.p.<name>`).
    pub fn state_root(&self) -> &str {
        &self.subjects.root
    }

    /// The storage coordination runs on.
    pub fn port(&self) -> &P {
        &self.port
    }

    /// Starts the reaper (expired leases, dead agents); it stops when
    /// `shutdown` turns true.
    pub fn start_reaper(
        self: &Arc<Self>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(reaper::run(self.clone(), shutdown))
    }

    fn subject(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.config.prefix)
    }
}
