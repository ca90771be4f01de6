//! The snapshot's bytes: a header, then each task in its compact form
//! (`view/compact.rs`), as the view holds it. A start reads only what the
//! indexes need of each record and decodes the rest on demand, so damage
//! inside a record would surface late, as a task gone missing; the header's
//! checksum of the records refuses a damaged snapshot up front instead.

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::coord::clock::Clock;
use crate::coord::task::Details;
use crate::coord::view::TaskView;

/// Bumped whenever the compact form's own fields change (a task's
/// details change the layout by themselves: `Details::layout`); a snapshot
/// of another version or layout is ignored (the view is rebuilt from the
/// records and a new one written).
const FORMAT: u32 = 3;

#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    /// `Details::layout()` of the build that wrote it.
    details: u32,
    /// Every task record up to this sequence is reflected in `tasks`.
    state_seq: u64,
    tasks: u64,
    /// CRC-32 of the records after the header.
    crc: u32,
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// The view's tasks as snapshot bytes, reflecting records up to `state_seq`.
pub(super) fn encode(view: &TaskView, state_seq: u64) -> Result<Vec<u8>, String> {
    // The view keeps each task in the snapshot's own form.
    let records: Vec<u8> = view.records().flatten().copied().collect();
    let header = Header {
        format: FORMAT,
        details: Details::layout(),
        state_seq,
        tasks: view.len() as u64,
        crc: crc32fast::hash(&records),
    };
    let mut out = bincode::serde::encode_to_vec(&header, config()).map_err(|e| e.to_string())?;
    out.extend_from_slice(&records);
    Ok(out)
}

/// Snapshot bytes back as the view they hold and the `state_seq` it
/// reflects.
pub(super) fn decode(bytes: &[u8], clock: Arc<dyn Clock>) -> Result<(TaskView, u64), String> {
    let (header, at): (Header, usize) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(|e| e.to_string())?;
    if header.format != FORMAT {
        return Err(format!(
            "format {} (this build reads {FORMAT})",
            header.format
        ));
    }
    if header.details != Details::layout() {
        return Err("written with other task details than this build's".into());
    }
    let records = bytes.get(at..).ok_or("truncated")?;
    if crc32fast::hash(records) != header.crc {
        return Err("the records do not match their checksum".into());
    }
    let view = TaskView::from_records(clock, records, header.tasks)?;
    Ok((view, header.state_seq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coord::task::Task;
    use serde_json::json;

    fn clock() -> Arc<dyn Clock> {
        Arc::new(crate::coord::clock::SystemClock)
    }

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
        let (back, seq) = decode(&bytes, clock()).unwrap();
        assert_eq!(seq, 12);
        assert_eq!(back.len(), 2);
        let got = |id: &str| back.get(id).map(|e| (e.task, e.seq)).unwrap();
        assert_eq!(got("t1"), (t.clone(), 5));
        assert_eq!(got("t2"), (plain, 9));
        // The client's own spelling of created_at survives.
        assert_eq!(
            serde_json::to_value(got("t1").0).unwrap(),
            serde_json::to_value(&t).unwrap()
        );
    }

    #[test]
    fn damaged_or_foreign_snapshots_are_refused() {
        let mut view = TaskView::default();
        view.apply(sample("t1"), 1);
        let bytes = encode(&view, 1).unwrap();
        assert!(decode(&bytes[..bytes.len() - 3], clock()).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer, clock()).is_err());
        let header = |format, details| {
            bincode::serde::encode_to_vec(
                Header {
                    format,
                    details,
                    state_seq: 1,
                    tasks: 0,
                    crc: 0,
                },
                config(),
            )
            .unwrap()
        };
        let mut other = header(FORMAT + 1, Details::layout());
        other.extend_from_slice(&bytes[3..]);
        assert!(decode(&other, clock()).err().unwrap().contains("format"));
        // Written by a build whose tasks had other details.
        let mut other = header(FORMAT, Details::layout().wrapping_add(1));
        other.extend_from_slice(&bytes[3..]);
        assert!(decode(&other, clock()).err().unwrap().contains("details"));
        // Damage that still decodes as a record (the client's extra JSON
        // no longer parses): a start reads no JSON, so only the checksum
        // keeps the task from going missing later.
        let at = bytes.windows(6).position(|w| w == b"\"kept\"").unwrap();
        let mut flipped = bytes.clone();
        flipped[at] = b'x';
        let err = decode(&flipped, clock()).err().unwrap();
        assert!(err.contains("checksum"), "{err}");
    }
}
