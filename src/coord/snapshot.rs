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

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::DateTime;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::port::LogPort;
use super::task::{Handoff, Priority, Progress, Task, TaskStatus};
use super::time::{ClientTime, Timestamp};
use super::view::TaskView;
use super::{lock, CoordError, Coordinator, TASK_STATE};

/// Bumped whenever `SnapTask` changes; a snapshot of another version is
/// ignored (the view is rebuilt from the records and a new one written).
const FORMAT: u32 = 1;
/// How often the running server considers writing a snapshot.
pub const SNAPSHOT_CHECK: Duration = Duration::from_secs(60);
/// Task records since the last snapshot that make a new one worth it.
pub const SNAPSHOT_AFTER_WRITES: u64 = 10_000;

/// How long reading the records after a snapshot may wait for the next.
const TAIL_WAIT: Duration = Duration::from_secs(5);

/// Held for reading by a task write from its append to its apply, and for
/// writing by a snapshot while it reads the head and copies the view.
pub(super) type SnapshotBarrier = tokio::sync::RwLock<()>;

#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    /// Every task record up to this sequence is reflected in `tasks`.
    state_seq: u64,
    tasks: u64,
}

/// A task as the snapshot keeps it: times as microseconds since the epoch
/// and free-form JSON as text, so bincode can carry it (it cannot carry
/// `serde_json::Value` or flattened maps).
#[derive(Serialize, Deserialize)]
struct SnapTask<'a> {
    seq: u64,
    task_id: Cow<'a, str>,
    title: Cow<'a, str>,
    description: Cow<'a, str>,
    status: TaskStatus,
    owner: Option<Cow<'a, str>>,
    blocked_by: Cow<'a, [String]>,
    depends_on: Cow<'a, [String]>,
    priority: Priority,
    created_at: i64,
    created_text: Option<Cow<'a, str>>,
    claimed_at: Option<i64>,
    completed_at: Option<i64>,
    result: Option<String>,
    error: Option<Cow<'a, str>>,
    attempts: u32,
    max_attempts: u32,
    lease_expires_at: Option<i64>,
    capabilities: Cow<'a, [String]>,
    updated_at: i64,
    progress: Option<(Option<Cow<'a, str>>, Option<f64>, i64)>,
    failed_dependencies: Cow<'a, [String]>,
    cancelled: bool,
    release_reason: Option<Cow<'a, str>>,
    fencing_token: u64,
    not_before: Option<i64>,
    dedup_key: Option<Cow<'a, str>>,
    files: Cow<'a, [String]>,
    handoff: Option<(Cow<'a, str>, Cow<'a, str>, i64)>,
    /// `extra` as JSON, empty when there is none.
    extra: String,
}

fn micros(t: Timestamp) -> i64 {
    t.0.timestamp_micros()
}

fn time(us: i64) -> Result<Timestamp, String> {
    DateTime::from_timestamp_micros(us)
        .map(Timestamp)
        .ok_or_else(|| format!("time {us} out of range"))
}

fn opt_time(us: Option<i64>) -> Result<Option<Timestamp>, String> {
    us.map(time).transpose()
}

fn borrowed(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(Cow::Borrowed)
}

fn owned(s: Option<Cow<'_, str>>) -> Option<String> {
    s.map(Cow::into_owned)
}

impl<'a> SnapTask<'a> {
    fn of(t: &'a Task, seq: u64) -> SnapTask<'a> {
        SnapTask {
            seq,
            task_id: Cow::Borrowed(&t.task_id),
            title: Cow::Borrowed(&t.title),
            description: Cow::Borrowed(&t.description),
            status: t.status,
            owner: borrowed(&t.owner),
            blocked_by: Cow::Borrowed(&t.blocked_by),
            depends_on: Cow::Borrowed(&t.depends_on),
            priority: t.priority,
            created_at: micros(t.created_at.at()),
            created_text: t.created_at.original_text().map(Cow::Borrowed),
            claimed_at: t.claimed_at.map(micros),
            completed_at: t.completed_at.map(micros),
            result: t.result.as_ref().map(|v| v.to_string()),
            error: borrowed(&t.error),
            attempts: t.attempts,
            max_attempts: t.max_attempts,
            lease_expires_at: t.lease_expires_at.map(micros),
            capabilities: Cow::Borrowed(&t.capabilities),
            updated_at: micros(t.updated_at),
            progress: t.progress.as_ref().map(|p| {
                (
                    p.note.as_deref().map(Cow::Borrowed),
                    p.percent,
                    micros(p.at),
                )
            }),
            failed_dependencies: Cow::Borrowed(&t.failed_dependencies),
            cancelled: t.cancelled,
            release_reason: borrowed(&t.release_reason),
            fencing_token: t.fencing_token,
            not_before: t.not_before.map(micros),
            dedup_key: borrowed(&t.dedup_key),
            files: Cow::Borrowed(&t.files),
            handoff: t.handoff.as_ref().map(|h| {
                (
                    Cow::Borrowed(h.by.as_str()),
                    Cow::Borrowed(h.note.as_str()),
                    micros(h.at),
                )
            }),
            extra: if t.extra.is_empty() {
                String::new()
            } else {
                Value::Object(t.extra.clone()).to_string()
            },
        }
    }

    fn into_task(self) -> Result<(Task, u64), String> {
        let created = time(self.created_at)?;
        let created_at = match self.created_text {
            Some(text) => ClientTime::with_text(created, text.into_owned()),
            None => ClientTime::from(created),
        };
        let json = |text: &str| serde_json::from_str::<Value>(text).map_err(|e| e.to_string());
        let extra = match self.extra.as_str() {
            "" => Map::new(),
            text => match json(text)? {
                Value::Object(map) => map,
                _ => return Err("extra fields are not an object".into()),
            },
        };
        let task = Task {
            task_id: self.task_id.into_owned(),
            title: self.title.into_owned(),
            description: self.description.into_owned(),
            status: self.status,
            owner: owned(self.owner),
            blocked_by: self.blocked_by.into_owned(),
            depends_on: self.depends_on.into_owned(),
            priority: self.priority,
            created_at,
            claimed_at: opt_time(self.claimed_at)?,
            completed_at: opt_time(self.completed_at)?,
            result: self.result.as_deref().map(json).transpose()?.map(Box::new),
            error: owned(self.error),
            attempts: self.attempts,
            max_attempts: self.max_attempts,
            lease_expires_at: opt_time(self.lease_expires_at)?,
            capabilities: self.capabilities.into_owned(),
            updated_at: time(self.updated_at)?,
            progress: match self.progress {
                Some((note, percent, at)) => Some(Box::new(Progress {
                    note: owned(note),
                    percent,
                    at: time(at)?,
                })),
                None => None,
            },
            failed_dependencies: self.failed_dependencies.into_owned(),
            cancelled: self.cancelled,
            release_reason: owned(self.release_reason),
            fencing_token: self.fencing_token,
            not_before: opt_time(self.not_before)?,
            dedup_key: owned(self.dedup_key),
            files: self.files.into_owned(),
            handoff: match self.handoff {
                Some((by, note, at)) => Some(Box::new(Handoff {
                    by: by.into_owned(),
                    note: note.into_owned(),
                    at: time(at)?,
                })),
                None => None,
            },
            extra,
        };
        Ok((task, self.seq))
    }
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// The view's tasks as snapshot bytes, reflecting records up to `state_seq`.
fn encode(view: &TaskView, state_seq: u64) -> Result<Vec<u8>, String> {
    let header = Header {
        format: FORMAT,
        state_seq,
        tasks: view.len() as u64,
    };
    let mut out = bincode::serde::encode_to_vec(&header, config()).map_err(|e| e.to_string())?;
    for entry in view.entries() {
        let task = SnapTask::of(&entry.task, entry.seq);
        let bytes = bincode::serde::encode_to_vec(&task, config()).map_err(|e| e.to_string())?;
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

/// Snapshot bytes back as (tasks with their sequences, `state_seq`).
fn decode(bytes: &[u8]) -> Result<(Vec<(Task, u64)>, u64), String> {
    let (header, mut at): (Header, usize) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(|e| e.to_string())?;
    if header.format != FORMAT {
        return Err(format!(
            "format {} (this build reads {FORMAT})",
            header.format
        ));
    }
    let mut tasks = Vec::with_capacity(header.tasks.min(1 << 20) as usize);
    for _ in 0..header.tasks {
        let rest = bytes.get(at..).ok_or("truncated")?;
        let (task, used): (SnapTask, usize) =
            bincode::serde::decode_from_slice(rest, config()).map_err(|e| e.to_string())?;
        at += used;
        tasks.push(task.into_task()?);
    }
    if at != bytes.len() {
        return Err(format!("{} bytes after the last task", bytes.len() - at));
    }
    Ok((tasks, header.state_seq))
}

/// When the running server last wrote a snapshot.
#[derive(Default)]
pub(super) struct SnapshotState {
    /// The state sequence the newest snapshot reflects (loaded or written).
    pub at_seq: AtomicU64,
}

impl<P: LogPort> Coordinator<P> {
    /// Builds the task view from the snapshot and the task records stored
    /// after it; `None` when there is no usable snapshot.
    pub(super) async fn view_from_snapshot(
        &self,
        head: u64,
    ) -> Result<Option<TaskView>, CoordError> {
        let started = Instant::now();
        let bytes = match self.port.load_snapshot().await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the coordination snapshot; loading from the records");
                return Ok(None);
            }
        };
        let (tasks, state_seq) = match tokio::task::spawn_blocking(move || decode(&bytes)).await {
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
        let decoded = started.elapsed();
        let count = tasks.len();
        let mut view = TaskView::from_entries(self.clock.clone(), tasks);
        let built = started.elapsed();
        // Every state record after the snapshot, up to the head read
        // before loading (the newest record of a subject is never removed,
        // so the head's own record is there to end the read).
        let mut newer = 0;
        if state_seq < head {
            let mut watch = self.port.watch(super::STATE_SUBJECTS, state_seq).await?;
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
                if r.subject.starts_with(TASK_STATE)
                    && r.subject.as_bytes().get(TASK_STATE.len()) == Some(&b'.')
                {
                    let loaded = self.decode_or_fall_back::<Task>(&r).await?;
                    if let Some(task) = loaded.value {
                        view.apply(task, loaded.last_seq);
                    }
                    newer += 1;
                }
                if r.seq == head {
                    break;
                }
            }
        }
        self.snapshot.at_seq.store(state_seq, Ordering::Release);
        tracing::info!(
            tasks = count,
            newer_records = newer,
            read_ms = decoded.as_millis() as u64,
            built_ms = (built - decoded).as_millis() as u64,
            ms = started.elapsed().as_millis() as u64,
            "task view loaded from the snapshot"
        );
        Ok(Some(view))
    }

    /// Writes a snapshot of the task view (the port decides where; a port
    /// that keeps none ignores it). Returns the state sequence it reflects.
    pub async fn write_snapshot(&self) -> Result<u64, CoordError> {
        let started = Instant::now();
        let (bytes, state_seq) = {
            let _quiet = self.snapshot_barrier.write().await;
            let head = self.port.head(super::STATE_SUBJECTS).await?;
            let view = lock(&self.tasks);
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
        let head = match self.port.head(super::STATE_SUBJECTS).await {
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
            let head = coord.port.head(super::STATE_SUBJECTS).await.unwrap_or(0);
            if head != coord.snapshot.at_seq.load(Ordering::Acquire) {
                if let Err(e) = coord.write_snapshot().await {
                    tracing::warn!(error = %e, "cannot write the coordination snapshot at shutdown");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(id: &str) -> Task {
        serde_json::from_value(json!({
            "task_id": id, "title": "t", "description": "d", "status": "claimed",
            "owner": "a1", "blocked_by": ["x"], "depends_on": ["x", "y"], "priority": "high",
            "created_at": "2026-01-30 10:12:00", "claimed_at": "2026-01-30T10:13:00.000001",
            "completed_at": null, "result": {"ok": [1, 2.5, null]}, "error": "e",
            "attempts": 2, "max_attempts": 5, "lease_expires_at": "2026-01-30T11:13:00",
            "capabilities": ["rust"], "updated_at": "2026-01-30T10:13:00",
            "progress": {"note": "half", "percent": 50.0, "at": "2026-01-30T10:14:00"},
            "failed_dependencies": [], "cancelled": false, "release_reason": "lease expired",
            "fencing_token": 7, "not_before": null, "dedup_key": "k", "files": ["src/**"],
            "handoff": {"by": "a0", "note": "n", "at": "2026-01-30T10:12:30"},
            "custom": {"nested": true}, "other": "kept"
        }))
        .unwrap()
    }

    #[test]
    fn a_task_comes_back_exactly_as_it_was_including_its_json() {
        let mut view = TaskView::default();
        let t = sample("t1");
        let mut plain = sample("t2");
        plain.extra.clear();
        plain.result = None;
        plain.progress = None;
        plain.handoff = None;
        view.apply(t.clone(), 5);
        view.apply(plain.clone(), 9);
        let bytes = encode(&view, 12).unwrap();
        let (mut tasks, seq) = decode(&bytes).unwrap();
        tasks.sort_by(|a, b| a.0.task_id.cmp(&b.0.task_id));
        assert_eq!(seq, 12);
        assert_eq!(tasks, vec![(t.clone(), 5), (plain, 9)]);
        // The client's own spelling of created_at survives.
        assert_eq!(
            serde_json::to_value(&tasks[0].0).unwrap(),
            serde_json::to_value(&t).unwrap()
        );
    }

    #[test]
    fn damaged_or_foreign_snapshots_are_refused() {
        let mut view = TaskView::default();
        view.apply(sample("t1"), 1);
        let bytes = encode(&view, 1).unwrap();
        assert!(decode(&bytes[..bytes.len() - 3]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        let mut other = bincode::serde::encode_to_vec(
            Header {
                format: FORMAT + 1,
                state_seq: 1,
                tasks: 0,
            },
            config(),
        )
        .unwrap();
        other.extend_from_slice(&bytes[3..]);
        assert!(decode(&other).unwrap_err().contains("format"));
    }
}
