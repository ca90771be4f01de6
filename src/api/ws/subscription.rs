//! One subscription of a WebSocket connection, as a task.
//!
//! A plain subscription reads a `streams::Subscription`: stored messages
//! first (for every `deliver` but `new`), paced by the socket, then the
//! live feed, with the seam between them decided below this layer. A
//! durable one is a consumer (`durable.rs`).

use std::sync::Arc;

use futures_util::FutureExt;
use serde_json::Value;

use super::protocol::{self, Job};
use super::shared::Shared;
use crate::log::AckKind;
use crate::streams::{Ended, Streams, Subscription};

/// Runs `job`; `live` is a plain subscription's feed, made while the `sub`
/// frame was handled: with `deliver: new` it exists before any later
/// frame (a `pub`) is read.
pub async fn run(streams: Streams, shared: Arc<Shared>, job: Job, live: Option<Subscription>) {
    let result = match (job.durable.clone(), live) {
        (Some(name), _) => super::durable::run(&streams, &shared, &job, &name).await,
        (None, Some(mut live)) => follow(&shared, &mut live, &job.sid).await,
        (None, None) => Ok(()),
    };
    if let Err(detail) = result {
        tracing::debug!(sid = %job.sid, subject = %job.subject, %detail, "subscription ended");
        shared.push(protocol::err_on(&job.sid, detail));
    }
}

/// Stored messages (paced by the socket: it waits for room) then live ones
/// (a full queue marks the connection slow).
async fn follow(shared: &Shared, sub: &mut Subscription, sid: &Value) -> Result<(), String> {
    loop {
        let m = match sub.next().await {
            Ok(m) => m,
            Err(Ended::SlowConsumer) => {
                shared.mark_slow();
                return Ok(());
            }
            Err(Ended::Closed) => return Ok(()),
            Err(Ended::Failed(e)) => return Err(e),
        };
        let frame = protocol::msg(sid, &m);
        let sent = if sub.is_live() {
            shared.push(frame)
        } else {
            shared.send_paced(frame).await
        };
        if !sent {
            return Ok(());
        }
    }
}

/// `{"op":"ack","sid","seq"}` for a durable subscription with `ack: true`;
/// answered with an `err` frame if it does not take.
pub fn ack(streams: &Streams, shared: &Arc<Shared>, sid: &Value, seq: u64) {
    let key = protocol::sid_key(sid).unwrap_or_default();
    let target = crate::log::lock_unpoisoned(&shared.acks)
        .get_mut(&key)
        .map(|a| {
            a.unacked.remove(&seq);
            (a.stream.clone(), a.consumer.clone())
        });
    let Some((stream, consumer)) = target else {
        shared.push(protocol::err_on(
            sid,
            format!("sid {key} is not a durable subscription with ack: true"),
        ));
        return;
    };
    let (streams, shared, sid) = (streams.clone(), shared.clone(), sid.clone());
    let acked = async move {
        if let Err(e) = streams
            .ack(&stream, &consumer, seq, AckKind::Ack, None)
            .await
        {
            shared.push(protocol::err_on(&sid, e.to_string()));
        }
    };
    // Settled here when storage answers at once (the embedded log), so
    // the ack takes before the next frame is read; else in the background.
    let mut acked = Box::pin(acked);
    if (&mut acked).now_or_never().is_none() {
        tokio::spawn(acked);
    }
}
