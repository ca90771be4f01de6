//! One subscription of a WebSocket connection, as a task.
//!
//! Plain subscriptions are the log's `Replay`: stored history first (for
//! every `deliver` but `new`), paced by the socket, then the live feed,
//! with the seam between them decided in the log.
//!
//! Durable subscriptions are consumers in the log (ack policy `explicit`
//! with `ack: true`, else `none`), so their position survives disconnects
//! and restarts; they fetch only as many messages as the outbound queue has
//! room for, so nothing fetched is dropped.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::protocol::{self, Deliver};
use super::Shared;
use crate::log::{
    AckKind, AckPolicy, ConsumerConfig, DeliverFrom, DeliverPolicy, Log, LogError, Replay,
    ReplayEnded, SubscriptionEnded,
};

/// What the connection queues for its socket: a serialized frame and the
/// bytes of budget it holds.
#[derive(Debug)]
pub enum Outbound {
    Text {
        text: axum::extract::ws::Utf8Bytes,
        cost: u32,
    },
}

/// What a durable `ack: true` subscription has taken from its consumer
/// (sent, or waiting to be) and not had acked.
#[derive(Debug, Default)]
pub struct DurableAcks {
    pub stream: String,
    pub consumer: String,
    pub unacked: std::collections::BTreeSet<u64>,
    /// Set when the consumer is JetStream's (`on_nats.rs`).
    pub nats: Option<crate::coord::port::JetStreamPort>,
}

/// When a durable subscription ends (unsub, disconnect, slow consumer),
/// what it sent without an ack goes back to the consumer at once, so a
/// client that reconnects resumes right after its last ack instead of
/// waiting out `ack_wait`.
struct ReturnUnacked<'a> {
    log: &'a Log,
    shared: &'a Shared,
    sid: String,
}

impl Drop for ReturnUnacked<'_> {
    fn drop(&mut self) {
        let Some(acks) = crate::log::lock_unpoisoned(&self.shared.acks).remove(&self.sid) else {
            return;
        };
        if acks.nats.is_some() {
            return;
        }
        for seq in acks.unacked {
            // The consumer may be gone (deleted meanwhile); nothing to return then.
            let _ = self
                .log
                .ack(&acks.stream, &acks.consumer, seq, AckKind::Nak, None);
        }
    }
}

pub struct Job {
    pub sid: Value,
    pub subject: String,
    pub deliver: Deliver,
    pub durable: Option<String>,
    pub ack: bool,
    /// For a plain subscription, its replay, made while the `sub` frame
    /// was handled: with `deliver: new` its live feed exists before any
    /// later frame (a `pub`) is read.
    pub replay: Option<Replay>,
    /// Set when the subscription reads a stream NATS keeps (`on_nats.rs`).
    pub nats: Option<crate::coord::port::JetStreamPort>,
}

pub async fn run(log: Log, shared: Arc<Shared>, mut job: Job) {
    let nats = job.nats.take();
    let result = match (job.durable.clone(), job.replay.take(), nats) {
        (Some(name), _, Some(port)) => super::on_nats::durable(&port, &shared, &job, &name).await,
        (None, _, Some(port)) => super::on_nats::follow(&port, &shared, &job).await,
        (Some(name), _, None) => durable(&log, &shared, &job, &name).await,
        (None, Some(mut replay), None) => live(&shared, &mut replay, &job.sid).await,
        (None, None, None) => Ok(()),
    };
    if let Err(detail) = result {
        tracing::debug!(sid = %job.sid, subject = %job.subject, %detail, "subscription ended");
        shared.push(json!({"op": "err", "sid": job.sid, "detail": detail}));
    }
}

/// Queues a frame, waiting for room (used while replaying history, which
/// the socket paces). False when the connection is gone.
async fn send_paced(shared: &Shared, frame: Value) -> bool {
    shared.send_paced(frame).await
}

fn text(e: LogError) -> String {
    e.to_string()
}

/// Stored history (paced by the socket: it waits for room) then live
/// messages (a full queue marks the connection slow), from the log's
/// `Replay`, which owns the seam between the two.
async fn live(shared: &Shared, replay: &mut Replay, sid: &Value) -> Result<(), String> {
    loop {
        let m = match replay.next().await {
            Ok(m) => m,
            Err(ReplayEnded::Live(SubscriptionEnded::SlowConsumer)) => {
                shared.mark_slow();
                return Ok(());
            }
            Err(ReplayEnded::Live(SubscriptionEnded::Closed)) => return Ok(()),
            Err(ReplayEnded::Log(e)) => return Err(text(e)),
        };
        let frame = protocol::msg(sid, &m);
        let sent = if replay.is_live() {
            shared.push(frame)
        } else {
            send_paced(shared, frame).await
        };
        if !sent {
            return Ok(());
        }
    }
}

pub(super) fn consumer_config(job: &Job, name: &str) -> Result<ConsumerConfig, String> {
    let (deliver_policy, opt_start_seq, opt_start_time) = match job.deliver.start()? {
        DeliverFrom::New => (DeliverPolicy::New, None, None),
        DeliverFrom::All => (DeliverPolicy::All, None, None),
        DeliverFrom::Last => (DeliverPolicy::Last, None, None),
        DeliverFrom::LastPerSubject => (DeliverPolicy::LastPerSubject, None, None),
        DeliverFrom::StartSeq(n) => (DeliverPolicy::ByStartSequence, Some(n), None),
        DeliverFrom::StartTime(t) => (DeliverPolicy::ByStartTime, None, Some(t)),
    };
    Ok(ConsumerConfig {
        durable_name: Some(name.to_string()),
        filter_subjects: vec![job.subject.clone()],
        deliver_policy,
        opt_start_seq,
        opt_start_time,
        ack_policy: if job.ack {
            AckPolicy::Explicit
        } else {
            AckPolicy::None
        },
        ..Default::default()
    })
}

async fn durable(log: &Log, shared: &Shared, job: &Job, name: &str) -> Result<(), String> {
    let streams = log.streams_overlapping(&job.subject);
    let stream = match streams.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(format!(
                "no stream stores {:?}; a durable subscription needs one",
                job.subject
            ))
        }
        _ => {
            return Err(format!(
                "{:?} spans streams {streams:?}; a durable subscription reads one",
                job.subject
            ))
        }
    };
    match log.consumer_info(&stream, name) {
        // Reconnecting: resume where the consumer is, whatever `deliver` says.
        Ok(info) if info.config.filter_subjects == [job.subject.clone()] => {}
        Ok(info) => {
            return Err(format!(
                "durable {name} follows {:?}, not {:?}",
                info.config.filter_subjects, job.subject
            ));
        }
        Err(LogError::ConsumerNotFound { .. }) => {
            log.create_consumer(&stream, consumer_config(job, name)?)
                .map_err(text)?;
        }
        Err(e) => return Err(text(e)),
    }
    // Declared before `_return_unacked`, so released after its naks
    // (gate.rs); with `ack: false` nothing is given back.
    let _turn = if job.ack {
        shared.gates.turn(&stream, name).await
    } else {
        None
    };
    let sid = protocol::sid_key(&job.sid).unwrap_or_default();
    let _return_unacked = job.ack.then(|| {
        let acks = DurableAcks {
            stream: stream.clone(),
            consumer: name.to_string(),
            unacked: Default::default(),
            nats: None,
        };
        crate::log::lock_unpoisoned(&shared.acks).insert(sid.clone(), acks);
        ReturnUnacked {
            log,
            shared,
            sid: sid.clone(),
        }
    });
    loop {
        // Fetch only what the outbound queue has room for: wait for room
        // (woken as soon as the socket takes a frame), never on a timer.
        if !shared.room_for(64 * 1024).await {
            return Ok(());
        }
        let room = 256;
        // The fetch itself wakes on a new message or on an ack that makes
        // room under max_ack_pending.
        let batch = log
            .fetch(&stream, name, room.min(256), Duration::from_secs(5))
            .await
            .map_err(text)?;
        if job.ack {
            hold(shared, &sid, &batch);
        }
        for d in batch {
            let mut frame = protocol::msg(&job.sid, &d.message);
            frame["delivered"] = json!(d.delivered);
            // Paced, not dropped: what a durable fetched must reach the
            // client (other subscriptions may have taken the room).
            if !send_paced(shared, frame).await {
                return Ok(());
            }
        }
    }
}

/// Counts a fetched batch as the subscription's until acked, before any of
/// it is sent: a subscription that ends while it waits for room gives
/// back what it had not sent yet too, instead of leaving it pending on the
/// consumer until `ack_wait`.
pub(super) fn hold(shared: &Shared, sid: &str, batch: &[crate::log::Delivered]) {
    if let Some(acks) = crate::log::lock_unpoisoned(&shared.acks).get_mut(sid) {
        acks.unacked.extend(batch.iter().map(|d| d.message.seq));
    }
}

/// `{"op":"ack","sid","seq"}` for a durable subscription with `ack: true`.
pub fn ack(log: &Log, shared: &Arc<Shared>, sid: &Value, seq: u64) {
    let key = protocol::sid_key(sid).unwrap_or_default();
    let target = crate::log::lock_unpoisoned(&shared.acks)
        .get_mut(&key)
        .map(|a| {
            a.unacked.remove(&seq);
            (a.stream.clone(), a.consumer.clone(), a.nats.clone())
        });
    let result = match target {
        Some((stream, consumer, Some(port))) => {
            super::on_nats::ack(port, shared.clone(), sid.clone(), stream, consumer, seq);
            Ok(())
        }
        Some((stream, consumer, None)) => log
            .ack(&stream, &consumer, seq, AckKind::Ack, None)
            .map_err(text),
        None => Err(format!(
            "sid {key} is not a durable subscription with ack: true"
        )),
    };
    if let Err(detail) = result {
        shared.push(json!({"op": "err", "sid": sid, "detail": detail}));
    }
}
