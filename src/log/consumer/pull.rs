//! Pull fetches with long polling, and acks: how deliveries leave a
//! consumer and how their answers come back.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::acks::AckState;
use super::{fresh, persist, AckKind, AckOutcome, ConsumerHandle, Delivered, MAX_FETCH_BATCH};
use crate::log::error::{LogError, Result};
use crate::log::read::read_stored;
use crate::log::{lock, now_ns, Log, StreamHandle};

impl Log {
    /// Up to `batch` messages for this consumer: due redeliveries first, then
    /// new ones. When there are none, waits up to `expires` for the first
    /// to arrive, without polling.
    pub async fn fetch(
        &self,
        stream: &str,
        name: &str,
        batch: usize,
        expires: Duration,
    ) -> Result<Vec<Delivered>> {
        let (handle, consumer) = self.consumer(stream, name)?;
        let batch = batch.clamp(1, MAX_FETCH_BATCH);
        let give_up = tokio::time::Instant::now() + expires;
        let mut appended = handle.committed.subscribe();
        loop {
            appended.borrow_and_update();
            let acked = consumer.changed.notified();
            let (out, next_due) = fetch_now(&handle, &consumer, batch)?;
            if !out.is_empty() {
                return Ok(out);
            }
            let now = tokio::time::Instant::now();
            if now >= give_up {
                return Ok(out);
            }
            let wake = match next_due {
                Some(due_ns) => {
                    let wait = u64::try_from(due_ns.saturating_sub(now_ns())).unwrap_or(0);
                    give_up.min(now + Duration::from_nanos(wait))
                }
                None => give_up,
            };
            tokio::select! {
                changed = appended.changed() => {
                    if changed.is_err() {
                        return Err(LogError::StreamNotFound(stream.into()));
                    }
                }
                _ = acked => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
            if handle.deleted.load(Ordering::Acquire) {
                return Err(LogError::StreamNotFound(stream.into()));
            }
            if consumer.deleted.load(Ordering::Acquire) {
                return Err(LogError::ConsumerNotFound {
                    stream: stream.into(),
                    consumer: name.into(),
                });
            }
        }
    }

    /// Acknowledges (or naks, extends, terminates) one delivered message.
    pub fn ack(
        &self,
        stream: &str,
        name: &str,
        seq: u64,
        kind: AckKind,
        delay: Option<Duration>,
    ) -> Result<()> {
        let outcome = self.ack_many(stream, name, &[seq], kind, delay)?;
        match outcome.not_pending.first() {
            Some(_) => Err(LogError::NotPending {
                consumer: name.into(),
                seq,
            }),
            None => Ok(()),
        }
    }

    /// `ack` for many messages at once: one lock, one write. Sequences
    /// that are not awaiting an ack are reported, not an error.
    pub fn ack_many(
        &self,
        stream: &str,
        name: &str,
        seqs: &[u64],
        kind: AckKind,
        delay: Option<Duration>,
    ) -> Result<AckOutcome> {
        self.settle(stream, name, |m, now| {
            let mut outcome = AckOutcome::default();
            for &seq in seqs {
                match m.ack(seq, kind, delay, now) {
                    Ok(()) => outcome.done.push(seq),
                    Err(LogError::NotPending { .. }) => outcome.not_pending.push(seq),
                    Err(e) => return Err(e),
                }
            }
            Ok(outcome)
        })
    }

    /// Acknowledges every message delivered to this consumer up to and
    /// including stream sequence `seq`; returns how many were pending.
    pub fn ack_up_to(&self, stream: &str, name: &str, seq: u64) -> Result<usize> {
        self.settle(stream, name, |m, _| Ok(m.ack_up_to(seq)))
    }

    /// Applies `change` to a consumer's ack state, persists what moved and
    /// wakes its waiting fetchers at once: an ack makes room under
    /// `max_ack_pending`, a nak makes a message due, and a fetcher that
    /// slept until a timer instead would stall delivery.
    fn settle<T>(
        &self,
        stream: &str,
        name: &str,
        change: impl FnOnce(&mut AckState, i64) -> Result<T>,
    ) -> Result<T> {
        let (handle, consumer) = self.consumer(stream, name)?;
        let mut m = lock(&consumer.machine);
        let now = now_ns();
        let out = change(&mut m, now);
        m.state.last_active_ns = now;
        persist(&handle, &consumer, &mut m)?;
        drop(m);
        consumer.changed.notify_waiters();
        out
    }
}

/// One non-waiting pass of a fetch. Returns the deliveries and, when there
/// are none, when the next pending message falls due.
fn fetch_now(
    handle: &StreamHandle,
    consumer: &ConsumerHandle,
    batch: usize,
) -> Result<(Vec<Delivered>, Option<i64>)> {
    let mut m = lock(&consumer.machine);
    let now = now_ns();
    m.state.last_active_ns = now;
    let committed = *handle.committed.borrow();
    let mut out = Vec::new();
    for (seq, delivered) in m.take_due(now, batch) {
        match read_stored(handle, seq)? {
            Some(message) => {
                let consumer_seq = m
                    .pending
                    .get(&seq)
                    .map_or(m.state.consumer_seq, |p| p.consumer_seq);
                out.push(Delivered {
                    message,
                    delivered,
                    consumer_seq,
                });
            }
            None => m.forget(seq),
        }
    }
    while out.len() < batch && m.room() > 0 {
        let Some(seq) = m.state.backlog.pop_front() else {
            break;
        };
        if let Some(message) = read_stored(handle, seq)? {
            out.push(fresh::first_delivery(&mut m, message, now));
        }
    }
    fresh::deliver_new(handle, &mut m, committed, batch, now, &mut out)?;
    let next_due = m.next_deadline_ns();
    persist(handle, consumer, &mut m)?;
    Ok((out, next_due))
}
