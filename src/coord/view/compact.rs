//! A task's compact form: what the view keeps in memory for each task
//! (about 100 bytes for a typical one, against some 600 as a `Task` with
//! its strings) and what the snapshot writes, byte for byte. Decoded on
//! access; the view keeps beside it only what its indexes and hot paths
//! read without decoding.

use std::borrow::Cow;

use chrono::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::coord::task::{Details, Handoff, Priority, Progress, Task, TaskStatus};
use crate::coord::time::{ClientTime, Timestamp};

/// A task's compact form: times as microseconds since the epoch and
/// free-form JSON as text, so bincode can carry it (it cannot carry
/// `serde_json::Value` or flattened maps). Decoding borrows the plain
/// `Cow<str>` fields from the bytes (serde borrows no nested `Cow`).
#[derive(Serialize, Deserialize)]
struct SnapTask<'a> {
    seq: u64,
    #[serde(borrow)]
    task_id: Cow<'a, str>,
    #[serde(borrow)]
    title: Cow<'a, str>,
    #[serde(borrow)]
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
    result: Option<Cow<'a, str>>,
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
    /// Carried whole: a detail added to the task needs no edit here.
    details: Cow<'a, Details>,
    /// `extra` as JSON, empty when there is none.
    #[serde(borrow)]
    extra: Cow<'a, str>,
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
            result: t.result.as_ref().map(|v| Cow::Owned(v.to_string())),
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
            details: Cow::Borrowed(&t.details),
            extra: if t.extra.is_empty() {
                Cow::Borrowed("")
            } else {
                Cow::Owned(Value::Object(t.extra.clone()).to_string())
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
        let extra = match &*self.extra {
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
            details: self.details.into_owned(),
            extra,
        };
        Ok((task, self.seq))
    }
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// `task` as of record `seq`, in its compact form.
pub fn encode(task: &Task, seq: u64) -> Result<Box<[u8]>, String> {
    bincode::serde::encode_to_vec(SnapTask::of(task, seq), config())
        .map(Vec::into_boxed_slice)
        .map_err(|e| e.to_string())
}

/// The sequence a compact record carries (its first field), without
/// decoding the rest.
pub fn seq(bytes: &[u8]) -> Result<u64, String> {
    bincode::serde::decode_from_slice::<u64, _>(bytes, config())
        .map(|(seq, _)| seq)
        .map_err(|e| e.to_string())
}

fn snap_task(bytes: &[u8]) -> Result<(SnapTask<'_>, usize), String> {
    bincode::serde::borrow_decode_from_slice(bytes, config()).map_err(|e| e.to_string())
}

/// The task at the start of `bytes`, its sequence, and how many bytes it
/// took.
pub fn decode(bytes: &[u8]) -> Result<(Task, u64, usize), String> {
    let (task, used) = snap_task(bytes)?;
    let (task, seq) = task.into_task()?;
    Ok((task, seq, used))
}

/// What the view's indexes need of a task, read without building the
/// task (its id stays borrowed from the bytes): how a start from the
/// snapshot indexes 100,000 tasks in a few tens of milliseconds.
pub struct Facts<'a> {
    pub task_id: Cow<'a, str>,
    pub status: TaskStatus,
    pub priority: Priority,
    pub created_at: Timestamp,
    pub depends_on: Vec<String>,
    pub capabilities: Vec<String>,
    pub lease_expires_at: Option<Timestamp>,
    pub not_before: Option<Timestamp>,
    pub dedup_key: Option<Cow<'a, str>>,
}

/// The facts of the task at the start of `bytes`, and how many bytes it
/// took.
pub fn facts(bytes: &[u8]) -> Result<(Facts<'_>, usize), String> {
    let (t, used) = snap_task(bytes)?;
    let facts = Facts {
        task_id: t.task_id,
        status: t.status,
        priority: t.priority,
        created_at: time(t.created_at)?,
        depends_on: t.depends_on.into_owned(),
        capabilities: t.capabilities.into_owned(),
        lease_expires_at: opt_time(t.lease_expires_at)?,
        not_before: opt_time(t.not_before)?,
        dedup_key: t.dedup_key,
    };
    Ok((facts, used))
}
