//! A compact binary copy of the task view, so a start with many tasks does
//! not parse one JSON record per task. Written at shutdown and, while
//! running, after enough task writes; a start loads it and then applies
//! only the task records stored after it. A snapshot that is missing,
//! damaged, of another format, or ahead of the store is ignored: the view
//! is then built from the records, as without one. The records stay the
//! source of truth; the snapshot only saves reading them.
//!
//! Consistency: a task write appends its record, then applies it to the
//! view. A snapshot taken between the two would miss that record while
//! naming a head past it. So writes hold `SnapshotBarrier` for reading from
//! before their append to after their apply, and a snapshot holds it for
//! writing while it reads the head and copies the view.

mod format;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::task::Task;
use super::view::TaskView;
use super::{lock, CoordError, Coordinator};
use crate::streams::{LogPort, Record};
use format::{decode, encode};

/// How often the running server considers writing a snapshot.
pub const SNAPSHOT_CHECK: Duration = Duration::from_secs(60);
/// Task records since the last snapshot that make a new one worth it.
pub const SNAPSHOT_AFTER_WRITES: u64 = 10_000;

/// How long reading the records after a snapshot may wait for the next.
const TAIL_WAIT: Duration = Duration::from_secs(5);

/// Held for reading by a task write from its append to its apply, and for
/// writing by a snapshot while it reads the head and copies the view.
pub(super) type SnapshotBarrier = tokio::sync::RwLock<()>;

/// When the running server last wrote a snapshot.
#[derive(Default)]
pub(super) struct SnapshotState {
    /// The state sequence the newest snapshot reflects (loaded or written).
    pub at_seq: AtomicU64,
}

impl<P: LogPort> Coordinator<P> {
    /// The port keeps one snapshot, the default project's; another
    /// project loads from its records (a project's board is small next to
    /// what snapshots are for).
    pub(super) fn keeps_snapshots(&self) -> bool {
        self.config.project == super::project::DEFAULT_PROJECT
    }

    /// Builds the task view from the snapshot and the task records stored
    /// after it; `None` when there is no usable snapshot.
    pub(super) async fn view_from_snapshot(
        &self,
        head: u64,
    ) -> Result<Option<TaskView>, CoordError> {
        if !self.keeps_snapshots() {
            return Ok(None);
        }
        let started = Instant::now();
        let bytes = match self.port.load_snapshot().await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the coordination snapshot; loading from the records");
                return Ok(None);
            }
        };
        let clock = self.clock.clone();
        let (mut view, state_seq) = match tokio::task::spawn_blocking(move || decode(&bytes, clock))
            .await
        {
            Ok(Ok(decoded)) => decoded,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the coordination snapshot does not decode; loading from the records");
                return Ok(None);
            }
            Err(e) => {
                tracing::warn!(error = %e, "decoding the coordination snapshot failed");
                return Ok(None);
            }
        };
        if state_seq > head {
            tracing::warn!(
                state_seq,
                head,
                "the coordination snapshot is ahead of the store (a store restored from a backup?); loading from the records"
            );
            return Ok(None);
        }
        let built = started.elapsed();
        let count = view.len();
        // Every state record after the snapshot, up to the head read
        // before loading (the newest record of a subject is never removed,
        // so the head's own record is there to end the read).
        // Only the newest of them per task counts, as when loading from the
        // records: a damaged version that a later one superseded is never
        // decoded (nor counted as skipped).
        let mut newest: HashMap<String, Record> = HashMap::new();
        if state_seq < head {
            let mut watch = self.port.watch(&self.subjects.all(), state_seq).await?;
            loop {
                let r = match tokio::time::timeout(TAIL_WAIT, watch.next()).await {
                    Ok(Some(next)) => next?,
                    Ok(None) | Err(_) => {
                        tracing::warn!(state_seq, head, "the records after the coordination snapshot ended early; loading from the records");
                        return Ok(None);
                    }
                };
                if r.seq > head {
                    break;
                }
                let at_head = r.seq == head;
                if self
                    .subjects
                    .kind_of(&r.subject)
                    .is_some_and(|(kind, _)| kind == super::project::Kind::Task)
                {
                    newest.insert(r.subject.clone(), r);
                }
                if at_head {
                    break;
                }
            }
        }
        let newer = newest.len();
        let mut newest: Vec<Record> = newest.into_values().collect();
        newest.sort_by_key(|r| r.seq);
        for r in newest {
            let loaded = self.decode_or_fall_back::<Task>(&r).await?;
            if let Some(task) = loaded.value {
                view.apply(task, loaded.last_seq);
            }
        }
        self.snapshot.at_seq.store(state_seq, Ordering::Release);
        tracing::info!(
            tasks = count,
            newer_records = newer,
            built_ms = built.as_millis() as u64,
            ms = started.elapsed().as_millis() as u64,
            "task view loaded from the snapshot"
        );
        Ok(Some(view))
    }

    /// Writes a snapshot of the task view (the port decides where; a port
    /// that keeps none ignores it). Returns the state sequence it reflects.
    pub async fn write_snapshot(&self) -> Result<u64, CoordError> {
        if !self.keeps_snapshots() {
            return Ok(0);
        }
        let started = Instant::now();
        let (bytes, state_seq) = {
            let _quiet = self.snapshot_barrier.write().await;
            let head = self.port.head(&self.subjects.all()).await?;
            let view = lock(&self.task_view);
            (encode(&view, head).map_err(CoordError::Corrupt)?, head)
        };
        let held = started.elapsed();
        let size = bytes.len();
        self.port.save_snapshot(bytes).await?;
        self.snapshot.at_seq.store(state_seq, Ordering::Release);
        tracing::info!(
            state_seq,
            bytes = size,
            writes_held_ms = held.as_millis() as u64,
            ms = started.elapsed().as_millis() as u64,
            "coordination snapshot written"
        );
        Ok(state_seq)
    }

    /// Writes a snapshot when enough has been stored since the last one.
    async fn snapshot_if_due(&self) {
        let head = match self.port.head(&self.subjects.all()).await {
            Ok(h) => h,
            Err(_) => return,
        };
        if head.saturating_sub(self.snapshot.at_seq.load(Ordering::Acquire)) < SNAPSHOT_AFTER_WRITES
        {
            return;
        }
        if let Err(e) = self.write_snapshot().await {
            tracing::warn!(error = %e, "cannot write the coordination snapshot");
        }
    }

    /// Writes snapshots while running (every `SNAPSHOT_CHECK`, when due)
    /// and a last one when `shutdown` turns true, after the server has
    /// stopped taking requests.
    pub fn start_snapshots(
        self: &Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let coord = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SNAPSHOT_CHECK);
            every.tick().await;
            loop {
                tokio::select! {
                    _ = every.tick() => coord.snapshot_if_due().await,
                    _ = shutdown.changed() => break,
                }
            }
            let head = coord.port.head(&coord.subjects.all()).await.unwrap_or(0);
            if head != coord.snapshot.at_seq.load(Ordering::Acquire) {
                if let Err(e) = coord.write_snapshot().await {
                    tracing::warn!(error = %e, "cannot write the coordination snapshot at shutdown");
                }
            }
        })
    }
}
