//! One subscription of a WebSocket connection, as a task.
//!
//! Plain subscriptions replay stored history first (for every `deliver`
//! but `new`), paced by the socket, then follow the live feed. To have no
//! gap and no duplicate at the seam: replay until caught up, subscribe to
//! the live feed, replay what was appended in between, then pass live
//! messages on, skipping any sequence already sent.
//!
//! Durable subscriptions are consumers in the log (ack policy `explicit`
//! with `ack: true`, else `none`), so their position survives disconnects
//! and restarts; they fetch only as many messages as the outbound queue has
//! room for, so nothing fetched is dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::protocol::{self, Deliver};
use super::Shared;
use crate::api::render::parse_time;
use crate::log::{
    AckKind, AckPolicy, ConsumerConfig, DeliverPolicy, Log, LogError, Message, ReadRange,
    Subscription, SubscriptionEnded, MAX_READ_LIMIT,
};

/// What the connection queues for its socket.
#[derive(Debug)]
pub enum Outbound {
    Json(Value),
}

/// What a durable `ack: true` subscription has sent but not had acked.
#[derive(Debug, Default)]
pub struct DurableAcks {
    pub stream: String,
    pub consumer: String,
    pub unacked: std::collections::BTreeSet<u64>,
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
    /// For `deliver: new`, the live feed, registered while the `sub` frame
    /// was handled so that later frames (a `pub`) cannot overtake it.
    pub feed: Option<Subscription>,
}

pub async fn run(log: Log, shared: Arc<Shared>, mut job: Job) {
    let result = match job.durable.clone() {
        Some(name) => durable(&log, &shared, &job, &name).await,
        None => live(&log, &shared, &mut job).await,
    };
    if let Err(detail) = result {
        shared.push(json!({"op": "err", "sid": job.sid, "detail": detail}));
    }
}

/// Queues a frame, waiting for room (used while replaying history, which
/// the socket paces). False when the connection is gone.
async fn send_paced(shared: &Shared, frame: Value) -> bool {
    shared.out.send(super::Outbound::Json(frame)).await.is_ok()
}

fn text(e: LogError) -> String {
    e.to_string()
}

/// Messages to start with for `deliver` in one stream, and the last
/// sequence they cover.
fn initial(log: &Log, stream: &str, job: &Job) -> Result<(Vec<Message>, u64), String> {
    let upto = log.stream_info(stream).map_err(text)?.state.last_seq;
    let pattern = Some(job.subject.as_str());
    let msgs = match &job.deliver {
        Deliver::New => Vec::new(),
        Deliver::Last => {
            let mut last = log
                .last_per_subject(stream, pattern, MAX_READ_LIMIT)
                .map_err(text)?;
            last.sort_by_key(|m| m.seq);
            last.pop().into_iter().collect()
        }
        Deliver::LastPerSubject => log
            .last_per_subject(stream, pattern, usize::MAX)
            .map_err(text)?,
        // Range policies are read page by page by the caller.
        Deliver::All | Deliver::StartSeq(_) | Deliver::StartTime(_) => Vec::new(),
    };
    Ok((msgs, upto))
}

/// Where a range policy starts reading in `stream`.
fn range_start(log: &Log, stream: &str, deliver: &Deliver) -> Result<Option<u64>, String> {
    Ok(match deliver {
        Deliver::All => Some(1),
        Deliver::StartSeq(n) => Some(*n),
        Deliver::StartTime(t) => {
            let t = parse_time(t).map_err(|e| e.detail)?;
            let ns = t
                .timestamp_nanos_opt()
                .ok_or("start_time is out of range")?;
            log.seq_for_time(stream, ns).map_err(text)?
        }
        _ => None,
    })
}

/// Sends stored messages of `stream` matching the pattern from `start` on,
/// until caught up with the stream; returns the last sequence covered.
async fn replay_from(
    log: &Log,
    shared: &Shared,
    job: &Job,
    stream: &str,
    start: u64,
) -> Result<Option<u64>, String> {
    let mut next = start;
    let mut last = None;
    loop {
        let range = ReadRange {
            start_seq: Some(next),
            subject: Some(job.subject.clone()),
            limit: 1_000,
            ..Default::default()
        };
        let page = log.read_range(stream, &range).map_err(text)?;
        let Some(end) = page.last().map(|m| m.seq) else {
            return Ok(last);
        };
        for m in &page {
            if !send_paced(shared, protocol::msg(&job.sid, m)).await {
                return Ok(last);
            }
        }
        last = Some(end);
        next = end + 1;
    }
}

async fn live(log: &Log, shared: &Shared, job: &mut Job) -> Result<(), String> {
    let streams = if job.deliver == Deliver::New {
        Vec::new()
    } else {
        log.streams_overlapping(&job.subject)
    };
    // Sent up to here, per stream.
    let mut sent: HashMap<String, u64> = HashMap::new();
    for stream in &streams {
        let (msgs, upto) = initial(log, stream, job)?;
        for m in &msgs {
            if !send_paced(shared, protocol::msg(&job.sid, m)).await {
                return Ok(());
            }
        }
        let mut covered = upto;
        if let Some(start) = range_start(log, stream, &job.deliver)? {
            covered = replay_from(log, shared, job, stream, start)
                .await?
                .unwrap_or(start.saturating_sub(1));
        }
        sent.insert(stream.clone(), covered);
    }
    let mut feed = match job.feed.take() {
        Some(feed) => feed,
        None => log.subscribe(&job.subject).map_err(text)?,
    };
    // Whatever was appended between the replay and the subscription.
    for stream in &streams {
        let from = sent.get(stream).copied().unwrap_or(0) + 1;
        if let Some(last) = replay_from(log, shared, job, stream, from).await? {
            sent.insert(stream.clone(), last);
        }
    }
    loop {
        let m = match feed.recv().await {
            Ok(m) => m,
            Err(SubscriptionEnded::SlowConsumer) => {
                shared.mark_slow();
                return Ok(());
            }
            Err(SubscriptionEnded::Closed) => return Ok(()),
        };
        if let Some(stream) = &m.stream {
            if sent.get(stream.as_ref()).is_some_and(|s| m.seq <= *s) {
                continue;
            }
        }
        if !shared.push(protocol::msg(&job.sid, &m)) {
            return Ok(());
        }
    }
}

fn consumer_config(job: &Job, name: &str) -> Result<ConsumerConfig, String> {
    let (deliver_policy, opt_start_seq, opt_start_time) = match &job.deliver {
        Deliver::New => (DeliverPolicy::New, None, None),
        Deliver::All => (DeliverPolicy::All, None, None),
        Deliver::Last => (DeliverPolicy::Last, None, None),
        Deliver::LastPerSubject => (DeliverPolicy::LastPerSubject, None, None),
        Deliver::StartSeq(n) => (DeliverPolicy::ByStartSequence, Some(*n), None),
        Deliver::StartTime(t) => (
            DeliverPolicy::ByStartTime,
            None,
            Some(parse_time(t).map_err(|e| e.detail)?),
        ),
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
    let sid = protocol::sid_key(&job.sid).unwrap_or_default();
    let _return_unacked = job.ack.then(|| {
        let acks = DurableAcks {
            stream: stream.clone(),
            consumer: name.to_string(),
            unacked: Default::default(),
        };
        crate::log::lock_unpoisoned(&shared.acks).insert(sid.clone(), acks);
        ReturnUnacked {
            log,
            shared,
            sid: sid.clone(),
        }
    });
    loop {
        let room = shared.out.capacity();
        if room == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let batch = log
            .fetch(&stream, name, room.min(256), Duration::from_secs(5))
            .await
            .map_err(text)?;
        for d in batch {
            let mut frame = protocol::msg(&job.sid, &d.message);
            frame["delivered"] = json!(d.delivered);
            if job.ack {
                if let Some(acks) = crate::log::lock_unpoisoned(&shared.acks).get_mut(&sid) {
                    acks.unacked.insert(d.message.seq);
                }
            }
            if !shared.push(frame) {
                return Ok(());
            }
        }
    }
}

/// `{"op":"ack","sid","seq"}` for a durable subscription with `ack: true`.
pub fn ack(log: &Log, shared: &Shared, sid: &Value, seq: u64) {
    let key = protocol::sid_key(sid).unwrap_or_default();
    let target = crate::log::lock_unpoisoned(&shared.acks)
        .get_mut(&key)
        .map(|a| {
            a.unacked.remove(&seq);
            (a.stream.clone(), a.consumer.clone())
        });
    let result = match target {
        Some((stream, consumer)) => log
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
