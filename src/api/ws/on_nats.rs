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

use super::protocol;
use super::subscription::{consumer_config, DurableAcks, Job};
use super::Shared;
use crate::coord::port::streams::StreamError;
use crate::coord::port::JetStreamPort;
use crate::log::{AckKind, LogError};

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
    let sid = protocol::sid_key(&job.sid).unwrap_or_default();
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
        }
    });
    loop {
        if !shared.room_for(64 * 1024).await {
            return Ok(());
        }
        let batch = port
            .fetch(stream, name, 256, Duration::from_secs(5))
            .await
            .map_err(|e| e.to_string())?;
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

/// As on the embedded log: what was sent without an ack goes back at once
/// when the subscription ends, so a reconnecting client resumes right
/// after its last ack.
struct ReturnUnacked {
    shared: Arc<Shared>,
    sid: String,
}

impl Drop for ReturnUnacked {
    fn drop(&mut self) {
        let Some(acks) = crate::log::lock_unpoisoned(&self.shared.acks).remove(&self.sid) else {
            return;
        };
        let Some(port) = acks.nats else { return };
        if acks.unacked.is_empty() {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                for seq in acks.unacked {
                    let _ = port
                        .ack(&acks.stream, &acks.consumer, seq, AckKind::Nak, None)
                        .await;
                }
            });
        }
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
