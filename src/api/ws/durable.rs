//! Durable WebSocket subscriptions: a consumer of the stream that stores
//! the subject (ack policy `explicit` with `ack: true`, else `none`), so
//! its position survives disconnects and restarts, and, on the NATS
//! backend, is the cluster's, whichever instance the client reconnects
//! to. It fetches only as many messages as the outbound queue has room
//! for, so nothing fetched is dropped.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;

use super::gate::Turn;
use super::protocol::{self, Job, ServerFrame};
use super::shared::{DurableAcks, Shared};
use crate::log::{AckKind, AckPolicy, ConsumerConfig, DeliverFrom, DeliverPolicy, Delivered};
use crate::ops::messages::Shown;
use crate::streams::{consumer_missing, Streams};

pub async fn run(
    streams: &Streams,
    shared: &Arc<Shared>,
    job: &Job,
    name: &str,
) -> Result<(), String> {
    let stream = streams.stream_for_durable(&job.subject)?;
    let stream = stream.as_str();
    match streams.consumer_info(stream, name).await {
        // Reconnecting: resume where the consumer is, whatever `deliver` says.
        Ok(info) if info.config.filter_subjects == [job.subject.clone()] => {}
        Ok(info) => {
            return Err(format!(
                "durable {name} follows {:?}, not {:?}",
                info.config.filter_subjects, job.subject
            ))
        }
        Err(e) if consumer_missing(&e) => {
            streams
                .create_consumer(stream, consumer_config(job, name)?)
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
            },
        );
        ReturnUnacked {
            streams: streams.clone(),
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
        // The fetch itself wakes on a new message or on an ack that makes
        // room under max_ack_pending.
        let batch = fetch_detached(streams, stream, name, late.clone()).await?;
        if job.ack {
            hold(shared, &sid, &batch);
        }
        for d in batch {
            let frame = ServerFrame::Msg {
                sid: job.sid.clone(),
                message: Shown::from(&d.message),
                delivered: Some(d.delivered),
            };
            // Paced, not dropped: what a durable fetched must reach the
            // client (other subscriptions may have taken the room).
            if !shared.send_paced(frame).await {
                return Ok(());
            }
        }
    }
}

/// Counts a fetched batch as the subscription's until acked, before any of
/// it is sent: a subscription that ends while it waits for room gives
/// back what it had not sent yet too, instead of leaving it pending on the
/// consumer until `ack_wait`.
fn hold(shared: &Shared, sid: &str, batch: &[Delivered]) {
    if let Some(acks) = crate::log::lock_unpoisoned(&shared.acks).get_mut(sid) {
        acks.unacked.extend(batch.iter().map(|d| d.message.seq));
    }
}

/// A fetch that the session's end cannot cut in half. JetStream's fetch
/// takes a message, then records its ack subject (a round trip each): a
/// session dropped in between lost what was taken until `ack_wait`. So the
/// fetch runs as a task of its own; the session's end stops its wait for
/// a first message, and what it took once nobody reads it goes to `late`,
/// for `ReturnUnacked` to give back.
async fn fetch_detached(
    streams: &Streams,
    stream: &str,
    name: &str,
    late: Option<tokio::sync::mpsc::UnboundedSender<Vec<Delivered>>>,
) -> Result<Vec<Delivered>, String> {
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (answer, answered) = tokio::sync::oneshot::channel();
    let (streams, stream, name) = (streams.clone(), stream.to_string(), name.to_string());
    tokio::spawn(async move {
        let until = async {
            let _ = stopped.await;
        };
        let got = streams
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

/// When a durable subscription ends (unsub, disconnect, slow consumer),
/// what it sent without an ack goes back to the consumer at once, so a
/// client that reconnects resumes right after its last ack instead of
/// waiting out `ack_wait`.
struct ReturnUnacked {
    streams: Streams,
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
        let streams = self.streams.clone();
        let turn = self.turn.take();
        if let Some(held) = &turn {
            // The next session of this durable waits for these naks.
            held.leaving();
        }
        // One sequence, in ascending order: what the session held was
        // fetched before anything a fetch took after it ended. Two tasks
        // would interleave their naks, and JetStream redelivers in nak
        // order.
        let give_back = async move {
            let nak = |seq| streams.ack(&held.stream, &held.consumer, seq, AckKind::Nak, None);
            for seq in held.unacked.iter().copied() {
                let _ = nak(seq).await;
            }
            while let Some(batch) = late.recv().await {
                for d in batch {
                    let _ = nak(d.message.seq).await;
                }
            }
            drop(turn);
        };
        // Done here when storage answers at once (the embedded log) and
        // no fetch is still out; else in the background, holding the turn.
        let mut give_back = Box::pin(give_back);
        if (&mut give_back).now_or_never().is_none() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(give_back);
            }
        }
    }
}

fn consumer_config(job: &Job, name: &str) -> Result<ConsumerConfig, String> {
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
