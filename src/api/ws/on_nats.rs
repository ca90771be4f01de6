//! WebSocket subscriptions on the streams a NATS backend keeps. A plain
//! subscription that asks for history reads a JetStream ordered consumer,
//! which goes from stored to new messages without a gap or a repeat and
//! is paced by the socket; a durable one is a JetStream consumer (see
//! `coord/port/consumers.rs`), so its position is the cluster's, whichever
//! instance the client reconnects to. (`deliver: new` stays on the live
//! relay, which every instance already has.)

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

use super::gate::Turn;
use super::protocol;
use super::subscription::{consumer_config, DurableAcks, Job};
use super::Shared;
use crate::coord::port::streams::StreamError;
use crate::coord::port::JetStreamPort;
use crate::log::{AckKind, Delivered, LogError};

/// Whether this subscription reads from NATS rather than the local log.
pub fn wants_nats(port: &JetStreamPort, job_subject: &str, durable: bool, new_only: bool) -> bool {
    port.stream_for(job_subject).is_some() && (durable || !new_only)
}

/// History from where `deliver` says, then new messages.
pub async fn follow(port: &JetStreamPort, shared: &Shared, job: &Job) -> Result<(), String> {
    let from = job.deliver.start()?;
    let mut messages = port
        .follow(&job.subject, from)
        .await
        .map_err(|e| e.to_string())?;
    while let Some(m) = messages.next().await {
        let m = m.map_err(|e| e.to_string())?;
        if !shared.send_paced(protocol::msg(&job.sid, &m)).await {
            return Ok(());
        }
    }
    Ok(())
}

pub async fn durable(
    port: &JetStreamPort,
    shared: &Arc<Shared>,
    job: &Job,
    name: &str,
) -> Result<(), String> {
    let stream = port
        .stream_for(&job.subject)
        .ok_or_else(|| format!("no stream stores {:?}", job.subject))?;
    match port.consumer_info(stream, name).await {
        // Reconnecting: resume where the consumer is, whatever `deliver` says.
        Ok(info) if info.config.filter_subjects == [job.subject.clone()] => {}
        Ok(info) => {
            return Err(format!(
                "durable {name} follows {:?}, not {:?}",
                info.config.filter_subjects, job.subject
            ))
        }
        Err(StreamError::Log(LogError::ConsumerNotFound { .. })) => {
            port.create_consumer(stream, consumer_config(job, name)?)
                .await
                .map_err(|e| e.to_string())?;
        }
        Err(e) => return Err(e.to_string()),
    }
    // Only what is acked is given back; with `ack: false` there is
    // nothing to wait for.
    let turn = if job.ack {
        shared.gates.turn(stream, name).await
    } else {
        None
    };
    let sid = protocol::sid_key(&job.sid).unwrap_or_default();
    // What a fetch takes after the session ended, given back after what
    // the session held (see fetch_detached).
    let (late, late_taken) = tokio::sync::mpsc::unbounded_channel();
    let late = job.ack.then_some(late);
    let mut late_taken = Some(late_taken);
    let _return_unacked = job.ack.then(|| {
        crate::log::lock_unpoisoned(&shared.acks).insert(
            sid.clone(),
            DurableAcks {
                stream: stream.to_string(),
                consumer: name.to_string(),
                unacked: Default::default(),
                nats: Some(port.clone()),
            },
        );
        ReturnUnacked {
            shared: shared.clone(),
            sid: sid.clone(),
            turn: turn.clone(),
            late: late_taken.take(),
        }
    });
    loop {
        if !shared.room_for(64 * 1024).await {
            return Ok(());
        }
        let batch = fetch_detached(port, stream, name, late.clone()).await?;
        if job.ack {
            super::subscription::hold(shared, &sid, &batch);
        }
        for d in batch {
            let mut frame = protocol::msg(&job.sid, &d.message);
            frame["delivered"] = json!(d.delivered);
            if !shared.send_paced(frame).await {
                return Ok(());
            }
        }
    }
}

/// A fetch that the session's end cannot cut in half. JetStream's fetch
/// takes a message, then records its ack subject (a round trip each): a
/// session dropped in between lost what was taken until `ack_wait`. So the
/// fetch runs as a task of its own; the session's end stops its wait for
/// a first message, and what it took once nobody reads it goes to `late`,
/// for `ReturnUnacked` to give back.
async fn fetch_detached(
    port: &JetStreamPort,
    stream: &str,
    name: &str,
    late: Option<tokio::sync::mpsc::UnboundedSender<Vec<Delivered>>>,
) -> Result<Vec<Delivered>, String> {
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (answer, answered) = tokio::sync::oneshot::channel();
    let (port, stream, name) = (port.clone(), stream.to_string(), name.to_string());
    tokio::spawn(async move {
        let until = async {
            let _ = stopped.await;
        };
        let got = port
            .fetch_until(&stream, &name, 256, Duration::from_secs(5), until)
            .await;
        if let (Err(Ok(batch)), Some(late)) = (answer.send(got), late) {
            let _ = late.send(batch);
        }
    });
    answered
        .await
        .map_err(|_| "the fetch ended without an answer".to_string())?
        .map_err(|e| e.to_string())
}

/// As on the embedded log: what was sent without an ack goes back at once
/// when the subscription ends, so a reconnecting client resumes right
/// after its last ack.
struct ReturnUnacked {
    shared: Arc<Shared>,
    sid: String,
    /// Passed on to the naks, so the next session waits for them.
    turn: Turn,
    /// Batches fetches took after the session ended; closed once the
    /// last such fetch is over.
    late: Option<tokio::sync::mpsc::UnboundedReceiver<Vec<Delivered>>>,
}

impl Drop for ReturnUnacked {
    fn drop(&mut self) {
        let held = crate::log::lock_unpoisoned(&self.shared.acks).remove(&self.sid);
        let (Some(held), Some(mut late)) = (held, self.late.take()) else {
            return;
        };
        let Some(port) = held.nats.clone() else {
            return;
        };
        let turn = self.turn.take();
        if let Some(held) = &turn {
            // The next session of this durable waits for these naks.
            held.leaving();
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // One task, in ascending order: what the session held was fetched
        // before anything a fetch took after it ended. Two tasks would
        // interleave their naks, and JetStream redelivers in nak order.
        rt.spawn(async move {
            let nak = |seq| port.ack(&held.stream, &held.consumer, seq, AckKind::Nak, None);
            for seq in held.unacked.iter().copied() {
                let _ = nak(seq).await;
            }
            while let Some(batch) = late.recv().await {
                for d in batch {
                    let _ = nak(d.message.seq).await;
                }
            }
            drop(turn);
        });
    }
}

/// An ack of a durable subscription on NATS, answered with an `err` frame
/// if it does not take.
pub fn ack(
    port: JetStreamPort,
    shared: Arc<Shared>,
    sid: Value,
    stream: String,
    consumer: String,
    seq: u64,
) {
    tokio::spawn(async move {
        if let Err(e) = port.ack(&stream, &consumer, seq, AckKind::Ack, None).await {
            shared.push(json!({"op": "err", "sid": sid, "detail": e.to_string()}));
        }
    });
}
