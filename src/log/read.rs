//! The read path: a message by sequence, the last one on a subject, ranges
//! by sequence or time with a subject filter, and the last message of every
//! subject. Reads go straight to sled and never take the writer lock.

use super::blocks;
use super::error::{LogError, Result};
use super::index::{last_seq_of_subject, subject_counts, subject_counts_under};
use super::message::Message;
use super::store::keys;
use super::subject::{is_literal, matches, validate_pattern, validate_subject};
use super::{lock, Log, StreamHandle};

/// The most messages one read returns.
pub const MAX_READ_LIMIT: usize = 10_000;
/// A wildcard filter matching at most this many subjects is read through
/// the subject index; wider filters scan messages in order.
const INDEX_MERGE_MAX_SUBJECTS: usize = 64;

/// Which messages a range read returns.
#[derive(Debug, Clone, Default)]
pub struct ReadRange {
    pub start_seq: Option<u64>,
    /// Nanoseconds since the epoch; used when `start_seq` is absent.
    pub start_time_ns: Option<i64>,
    pub subject: Option<String>,
    pub limit: usize,
}

pub(super) fn read_stored(handle: &StreamHandle, seq: u64) -> Result<Option<Message>> {
    Ok(blocks::read(&handle.tree, seq)?
        .map(|stored| stored.into_message(Some(handle.name.clone()), seq)))
}

impl Log {
    pub fn get_message(&self, stream: &str, seq: u64) -> Result<Message> {
        let handle = self.stream(stream)?;
        read_stored(&handle, seq)?.ok_or_else(|| LogError::MessageNotFound {
            stream: stream.into(),
            seq,
        })
    }

    /// The newest `limit` messages on a literal subject, oldest first, read
    /// backwards through the subject index (cost grows with `limit`, not
    /// with the stream).
    pub fn tail(&self, stream: &str, subject: &str, limit: usize) -> Result<Vec<Message>> {
        validate_subject(subject)?;
        let handle = self.stream(stream)?;
        let limit = limit.clamp(1, MAX_READ_LIMIT);
        let mut seqs = Vec::with_capacity(limit);
        for item in handle.tree.scan_prefix(keys::subject_prefix(subject)).rev() {
            if seqs.len() >= limit {
                break;
            }
            let (k, _) = item?;
            seqs.extend(keys::trailing_seq(&k));
        }
        seqs.reverse();
        let mut out = Vec::with_capacity(seqs.len());
        for seq in seqs {
            out.extend(read_stored(&handle, seq)?);
        }
        Ok(out)
    }

    /// The newest message on a literal subject.
    pub fn last_message(&self, stream: &str, subject: &str) -> Result<Message> {
        validate_subject(subject)?;
        let handle = self.stream(stream)?;
        let not_found = || LogError::NoMessageForSubject {
            stream: stream.into(),
            subject: subject.into(),
        };
        let seq = last_seq_of_subject(&handle.tree, subject)?.ok_or_else(not_found)?;
        read_stored(&handle, seq)?.ok_or_else(not_found)
    }

    /// Messages from a start sequence (or time) on, optionally only those
    /// matching a subject pattern, oldest first.
    pub fn read_range(&self, stream: &str, range: &ReadRange) -> Result<Vec<Message>> {
        let handle = self.stream(stream)?;
        if let Some(f) = &range.subject {
            validate_pattern(f)?;
        }
        let limit = range.limit.clamp(1, MAX_READ_LIMIT);
        let start = match (range.start_seq, range.start_time_ns) {
            (Some(seq), _) => seq.max(1),
            (None, Some(t)) => match seq_at_or_after(&handle, t)? {
                Some(seq) => seq,
                None => return Ok(Vec::new()),
            },
            (None, None) => 1,
        };
        // Only what is committed, read once before looking: sled's reads
        // are no snapshot, so while the writer applies more, one subject's
        // index (or a later part of a scan) can show a message while an
        // earlier one, applied just before it, is missed. A reader paging
        // on (a replay's seam) would then skip that one for good. Every
        // message up to the committed sequence was applied before it was
        // read, so up to there every read is complete.
        let upto = *handle.committed.borrow();
        if start > upto {
            return Ok(Vec::new());
        }
        let seqs = match range.subject.as_deref() {
            None | Some(">") => return scan(&handle, start, upto, limit, |_| true),
            Some(f) if is_literal(f) => index_seqs(&handle.tree, f, start, upto, limit)?,
            Some(f) => {
                let subjects: Vec<String> = subject_counts(&handle.tree)?
                    .into_iter()
                    .map(|(s, _)| s)
                    .filter(|s| matches(f, s))
                    .collect();
                if subjects.len() > INDEX_MERGE_MAX_SUBJECTS {
                    return scan(&handle, start, upto, limit, |s| matches(f, s));
                }
                let mut all = Vec::new();
                for s in &subjects {
                    all.extend(index_seqs(&handle.tree, s, start, upto, limit)?);
                }
                all.sort_unstable();
                all.truncate(limit);
                all
            }
        };
        let mut out = Vec::with_capacity(seqs.len());
        for seq in seqs {
            if let Some(m) = read_stored(&handle, seq)? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// The newest message of every subject matching `filter` (all subjects
    /// when `None`), in sequence order.
    pub fn last_per_subject(
        &self,
        stream: &str,
        filter: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Message>> {
        let handle = self.stream(stream)?;
        if let Some(f) = filter {
            validate_pattern(f)?;
        }
        let mut seqs = last_seqs_per_subject(
            &handle.tree,
            filter.map_or("", super::subject::literal_prefix),
            |s| filter.is_none_or(|f| matches(f, s)),
        )?;
        seqs.truncate(limit.max(1));
        let mut out = Vec::with_capacity(seqs.len());
        for seq in seqs {
            if let Some(m) = read_stored(&handle, seq)? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// The first sequence at or after `time_ns`, if any.
    pub fn seq_for_time(&self, stream: &str, time_ns: i64) -> Result<Option<u64>> {
        let handle = self.stream(stream)?;
        seq_at_or_after(&handle, time_ns)
    }
}

/// Sorted sequences of the newest message of each subject that `want`s.
/// Only subjects starting with `prefix` are looked at, so a filter like
/// `hivelog.state.agent.*` does not walk every task's subject.
pub(super) fn last_seqs_per_subject(
    tree: &sled::Tree,
    prefix: &str,
    want: impl Fn(&str) -> bool,
) -> Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for (subject, _) in subject_counts_under(tree, prefix)? {
        if want(&subject) {
            if let Some(seq) = last_seq_of_subject(tree, &subject)? {
                seqs.push(seq);
            }
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

fn scan(
    handle: &StreamHandle,
    start: u64,
    upto: u64,
    limit: usize,
    want: impl Fn(&str) -> bool,
) -> Result<Vec<Message>> {
    let mut out = Vec::new();
    for item in blocks::scan(&handle.tree, start, upto) {
        let (seq, stored) = item?;
        if want(&stored.subject) {
            out.push(stored.into_message(Some(handle.name.clone()), seq));
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}

/// Sequences from `start` to `upto` of one subject, from its index.
fn index_seqs(
    tree: &sled::Tree,
    subject: &str,
    start: u64,
    upto: u64,
    limit: usize,
) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for item in tree.range(keys::subject(subject, start)..=keys::subject(subject, upto)) {
        let (k, _) = item?;
        if out.len() >= limit {
            break;
        }
        if let Some(seq) = keys::trailing_seq(&k) {
            out.push(seq);
        }
    }
    Ok(out)
}

/// Binary search over sequences: timestamps never decrease with sequence,
/// so the first message at or after a time costs O(log n) lookups.
pub(super) fn seq_at_or_after(handle: &StreamHandle, time_ns: i64) -> Result<Option<u64>> {
    let state = lock(&handle.inner).state;
    let (mut lo, mut hi) = (state.first_seq, state.last_seq.saturating_add(1));
    let mut found = None;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let Some(item) = blocks::scan(&handle.tree, mid, state.last_seq).next() else {
            hi = mid;
            continue;
        };
        let (seq, stored) = item?;
        if stored.time_ns >= time_ns {
            found = Some(seq);
            hi = mid;
        } else {
            lo = seq + 1;
        }
    }
    Ok(found)
}
