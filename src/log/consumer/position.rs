//! Where a consumer stands in its stream: the start position each deliver
//! policy picks, and how many matching messages it has not been given yet.

use std::collections::VecDeque;

use super::acks::AckState;
use super::config::{ConsumerConfig, DeliverPolicy};
use crate::log::error::Result;
use crate::log::index::{last_seq_of_subject, subject_counts};
use crate::log::read::{last_seqs_per_subject, seq_at_or_after};
use crate::log::store::keys;
use crate::log::stream::StreamState;
use crate::log::subject::{is_literal, matches};
use crate::log::StreamHandle;

/// Where a new consumer starts: its cursor and, for last_per_subject, the
/// messages to hand out first.
pub(crate) fn start_position(
    handle: &StreamHandle,
    config: &ConsumerConfig,
    state: StreamState,
) -> Result<(u64, VecDeque<u64>)> {
    let before = |seq: u64| seq.saturating_sub(1);
    Ok(match config.deliver_policy {
        DeliverPolicy::All => (before(state.first_seq), VecDeque::new()),
        DeliverPolicy::New => (state.last_seq, VecDeque::new()),
        DeliverPolicy::ByStartSequence => {
            (before(config.opt_start_seq.unwrap_or(1)), VecDeque::new())
        }
        DeliverPolicy::ByStartTime => {
            let t = config
                .opt_start_time
                .and_then(|t| t.timestamp_nanos_opt())
                .unwrap_or(0);
            match seq_at_or_after(handle, t)? {
                Some(seq) => (before(seq), VecDeque::new()),
                None => (state.last_seq, VecDeque::new()),
            }
        }
        DeliverPolicy::Last => (
            before(last_matching(handle, config, state)?.unwrap_or(state.last_seq + 1)),
            VecDeque::new(),
        ),
        DeliverPolicy::LastPerSubject => {
            let seqs = last_seqs_per_subject(&handle.tree, "", |s| config.wants(s))?;
            (state.last_seq, seqs.into())
        }
    })
}

/// The newest stored message this consumer wants.
fn last_matching(
    handle: &StreamHandle,
    config: &ConsumerConfig,
    state: StreamState,
) -> Result<Option<u64>> {
    if config.filter_subjects.is_empty() {
        return Ok((state.messages > 0).then_some(state.last_seq));
    }
    if config.filter_subjects.iter().all(|f| is_literal(f)) {
        let mut best = None;
        for f in &config.filter_subjects {
            best = best.max(last_seq_of_subject(&handle.tree, f)?);
        }
        return Ok(best);
    }
    let mut best = None;
    for (subject, _) in subject_counts(&handle.tree)? {
        if config.wants(&subject) {
            best = best.max(last_seq_of_subject(&handle.tree, &subject)?);
        }
    }
    Ok(best)
}

/// Messages the consumer has not been given yet.
pub(super) fn count_pending(
    handle: &StreamHandle,
    m: &AckState,
    state: StreamState,
) -> Result<u64> {
    let cursor = m.state.cursor;
    let backlog = m.state.backlog.len() as u64;
    if m.config.filter_subjects.is_empty() {
        let ahead = if cursor < state.first_seq {
            state.messages
        } else {
            state.last_seq.saturating_sub(cursor)
        };
        return Ok(ahead + backlog);
    }
    let mut n = 0;
    for (subject, count) in subject_counts(&handle.tree)? {
        if !m
            .config
            .filter_subjects
            .iter()
            .any(|f| matches(f, &subject))
        {
            continue;
        }
        if cursor < state.first_seq {
            n += count;
        } else {
            let prefix = keys::subject_prefix(&subject);
            n += handle
                .tree
                .range(keys::subject(&subject, cursor + 1)..)
                .take_while(|item| item.as_ref().is_ok_and(|(k, _)| k.starts_with(&prefix)))
                .count() as u64;
        }
    }
    Ok(n + backlog)
}
