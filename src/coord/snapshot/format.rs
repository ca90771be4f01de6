//! The snapshot's bytes: a header, then each task as a `SnapTask` (bincode).
//! Times travel as microseconds and free-form JSON as text, because bincode
//! cannot carry `serde_json::Value` or flattened maps.

use std::borrow::Cow;

use chrono::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::coord::task::{Handoff, Priority, Progress, Task, TaskStatus};
use crate::coord::time::{ClientTime, Timestamp};
use crate::coord::view::TaskView;

/// Bumped whenever `SnapTask` changes; a snapshot of another version is
/// ignored (the view is rebuilt from the records and a new one written).
const FORMAT: u32 = 1;

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
pub(super) fn encode(view: &TaskView, state_seq: u64) -> Result<Vec<u8>, String> {
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
pub(super) fn decode(bytes: &[u8]) -> Result<(Vec<(Task, u64)>, u64), String> {
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
