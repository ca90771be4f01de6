//! Messages a consumer has not been given yet, after its cursor: through
//! the per-subject index when every filter is a literal subject (a
//! filtered consumer behind many messages on other subjects would
//! otherwise read them all), else by scanning the stream in order.

use super::acks::AckState;
use super::{Delivered, MAX_SCAN_PER_FETCH};
use crate::log::blocks;
use crate::log::error::{LogError, Result};
use crate::log::message::Message;
use crate::log::read::read_stored;
use crate::log::store::keys;
use crate::log::subject::is_literal;
use crate::log::StreamHandle;

/// Records `message`'s first delivery to the consumer.
pub(super) fn first_delivery(m: &mut AckState, message: Message, now: i64) -> Delivered {
    m.deliver(message.seq, now);
    Delivered {
        message,
        delivered: 1,
        consumer_seq: m.state.consumer_seq,
    }
}

/// Delivers up to `batch - out.len()` new messages up to `committed`.
pub(super) fn deliver_new(
    handle: &StreamHandle,
    m: &mut AckState,
    committed: u64,
    batch: usize,
    now: i64,
    out: &mut Vec<Delivered>,
) -> Result<()> {
    let literal = !m.config.filter_subjects.is_empty()
        && m.config.filter_subjects.iter().all(|f| is_literal(f));
    if literal && out.len() < batch && m.room() > 0 && m.state.cursor < committed {
        let need = batch - out.len();
        let seqs = next_on_literal_subjects(
            handle,
            &m.config.filter_subjects,
            m.state.cursor,
            committed,
            need,
        )?;
        let exhausted = seqs.len() < need;
        for seq in seqs {
            if m.room() == 0 {
                break;
            }
            m.state.cursor = seq;
            if let Some(message) = read_stored(handle, seq)? {
                out.push(first_delivery(m, message, now));
            }
        }
        if exhausted && m.room() > 0 {
            m.state.cursor = committed;
        }
    } else if out.len() < batch && m.room() > 0 && m.state.cursor < committed {
        let mut scanned = 0;
        let mut exhausted = true;
        for item in blocks::scan(&handle.tree, m.state.cursor + 1, committed) {
            let (seq, stored) = item?;
            m.state.cursor = seq;
            if m.config.wants(&stored.subject) {
                let message = stored.into_message(Some(handle.name.clone()), seq);
                out.push(first_delivery(m, message, now));
            }
            scanned += 1;
            if out.len() >= batch || m.room() == 0 || scanned >= MAX_SCAN_PER_FETCH {
                exhausted = false;
                break;
            }
        }
        if exhausted {
            m.state.cursor = committed;
        }
    }
    Ok(())
}

/// With only literal filter subjects, the sequences a fetch delivers next
/// come from the per-subject index instead of a scan of every message
/// after the cursor (a filtered consumer behind many messages on other
/// subjects read them all): the `need` smallest sequences in
/// `after+1..=upto` on any of `filters`, in order.
fn next_on_literal_subjects(
    handle: &StreamHandle,
    filters: &[String],
    after: u64,
    upto: u64,
    need: usize,
) -> Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for f in filters {
        for item in handle
            .tree
            .range(keys::subject(f, after + 1)..=keys::subject(f, upto))
            .take(need)
        {
            let (k, _) = item?;
            seqs.push(
                keys::trailing_seq(&k)
                    .ok_or_else(|| LogError::Corrupt("subject index key".into()))?,
            );
        }
    }
    seqs.sort_unstable();
    seqs.dedup();
    seqs.truncate(need);
    Ok(seqs)
}
