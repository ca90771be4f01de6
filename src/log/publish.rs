//! The write path: publish with de-duplication and expectations, limits
//! enforced in the same atomic batch, then group commit before the answer.
//! Also message delete and purge, which are writes too.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::error::{LogError, Result};
use super::guard::Op;
use super::index::subject_counts;
use super::message::{Message, StoredMessage};
use super::options::{PubAck, PublishOptions};
use super::retention::Change;
use super::subject::{matches, validate_pattern, validate_subject};
use super::writer::{Hook, Queued};
use super::{lock, now_ns, Log};

pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";
const MAX_MSG_ID_LEN: usize = 256;
/// Removals per atomic batch when purging, so a huge purge neither builds a
/// giant batch nor holds the writer lock for long.
const PURGE_CHUNK: u64 = 5_000;

fn validate_msg_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_MSG_ID_LEN {
        return Err(LogError::InvalidMsgId(format!(
            "must be 1 to {MAX_MSG_ID_LEN} bytes long"
        )));
    }
    if id.chars().any(|c| c.is_control()) {
        return Err(LogError::InvalidMsgId(
            "must not contain control characters".into(),
        ));
    }
    Ok(())
}

/// Where a checked publish goes.
enum Route {
    /// No stream stores the subject: delivered live only.
    Live(Message),
    Stored(Arc<super::StreamHandle>, StoredMessage, PublishOptions),
}

/// A publish handed to the writer, not yet answered. Publishes enqueued
/// one after another are stored (and delivered) in that order, so a
/// connection can pipeline many and still keep its order: enqueue each in
/// turn, then wait for their answers in the same order.
#[must_use = "a publish is answered only by waiting for it"]
pub struct PendingPublish {
    state: Pending,
    log: Log,
}

enum Pending {
    Answered(Result<PubAck>),
    Queued {
        answer: oneshot::Receiver<Result<(PubAck, super::commit::Waiter)>>,
        started: std::time::Instant,
    },
}

impl PendingPublish {
    /// The answer: under `SyncPolicy::Always`, once the message is on disk.
    pub async fn wait(self) -> Result<PubAck> {
        match self.state {
            Pending::Answered(result) => result,
            Pending::Queued { answer, started } => {
                let (ack, waiter) = answer.await.map_err(|_| LogError::ShuttingDown)??;
                waiter.wait().await?;
                self.log.shared.publish_latency.observe(started.elapsed());
                Ok(ack)
            }
        }
    }
}

impl Log {
    /// Appends a message to the stream that captures `subject` (if any) and
    /// delivers it to live subscribers. Under `SyncPolicy::Always` it returns
    /// only once the message is on disk.
    pub async fn publish(
        &self,
        subject: &str,
        payload: Vec<u8>,
        opts: PublishOptions,
    ) -> Result<PubAck> {
        self.enqueue(subject, payload, opts, None).wait().await
    }

    /// Hands a message to live subscribers only, stored by no stream here
    /// (messages another server stored, relayed to this one's subscribers).
    pub fn deliver_live(&self, subject: &str, payload: Vec<u8>) -> Result<()> {
        validate_subject(subject)?;
        let msg = Message {
            stream: None,
            seq: 0,
            subject: subject.into(),
            time_ns: now_ns(),
            headers: Default::default(),
            payload,
        };
        self.shared.fanout.deliver(&Arc::new(msg));
        Ok(())
    }

    /// Hands a message another server stored (with its stream, sequence,
    /// time and headers) to live subscribers here.
    pub fn deliver_stored(&self, msg: Message) {
        self.shared.fanout.deliver(&Arc::new(msg));
    }

    /// Starts a publish without waiting for it: checked, handed to the
    /// writer (or, when no stream stores the subject, delivered live at
    /// once) before this returns. See [`PendingPublish`].
    pub fn publish_pipelined(
        &self,
        subject: &str,
        payload: Vec<u8>,
        opts: PublishOptions,
    ) -> PendingPublish {
        self.enqueue(subject, payload, opts, None)
    }

    /// `publish_pipelined` by the holder of the system stream `system`
    /// (if any): a subject captured by any other system stream is refused.
    pub(super) fn enqueue(
        &self,
        subject: &str,
        payload: Vec<u8>,
        opts: PublishOptions,
        system: Option<&str>,
    ) -> PendingPublish {
        let state = match self.try_enqueue(subject, payload, opts, system) {
            Ok(state) => state,
            Err(e) => Pending::Answered(Err(e)),
        };
        PendingPublish {
            state,
            log: self.clone(),
        }
    }

    fn try_enqueue(
        &self,
        subject: &str,
        payload: Vec<u8>,
        opts: PublishOptions,
        system: Option<&str>,
    ) -> Result<Pending> {
        let route = self.route(subject, payload, opts, system)?;
        self.send_routed(route)
    }

    /// Publishes `first` and, only if it is stored, `then` right behind it
    /// (`system` as for [`Log::enqueue`]). When both subjects are stored
    /// the writer applies them in one round, so one flush makes both
    /// durable and nothing comes between them in a stream they share.
    /// The follower's own failure does not undo the first; it is the
    /// second result. `on_stored` runs with the first's sequence once the
    /// first is committed (and only then), before the follower is visible
    /// to any subscriber or consumer: what a reader of the follower looks
    /// up next is already in place.
    pub(super) async fn publish_then(
        &self,
        first: (&str, Vec<u8>, PublishOptions),
        then: (&str, Vec<u8>, PublishOptions),
        system: Option<&str>,
        on_stored: Hook,
    ) -> Result<(PubAck, Result<PubAck>)> {
        let first = self.route(first.0, first.1, first.2, system)?;
        let then = self.route(then.0, then.1, then.2, system);
        match (first, then) {
            (Route::Stored(handle, stored, opts), Ok(Route::Stored(h2, s2, o2))) => {
                let started = std::time::Instant::now();
                let (reply, second) = oneshot::channel();
                let follower = (h2, Queued::new(s2, o2, reply));
                let (reply, first) = oneshot::channel();
                let mut q = Queued::new(stored, opts, reply);
                q.then = Some(Box::new(follower));
                q.on_stored = Some(on_stored);
                self.shared.writer.send(handle, q)?;
                let first = self.pending(Pending::Queued {
                    answer: first,
                    started,
                });
                let second = self.pending(Pending::Queued {
                    answer: second,
                    started,
                });
                let ack = first.wait().await?;
                Ok((ack, second.wait().await))
            }
            // A subject no stream stores: one after the other.
            (first, then) => {
                let ack = self.pending(self.send_routed(first)?).wait().await?;
                if let (Some(seq), false) = (ack.seq, ack.duplicate) {
                    on_stored(seq);
                }
                let second = match then {
                    Ok(route) => match self.send_routed(route) {
                        Ok(state) => self.pending(state).wait().await,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                };
                Ok((ack, second))
            }
        }
    }

    fn pending(&self, state: Pending) -> PendingPublish {
        PendingPublish {
            state,
            log: self.clone(),
        }
    }

    /// Checks a publish and finds the stream that stores it, if any.
    fn route(
        &self,
        subject: &str,
        payload: Vec<u8>,
        mut opts: PublishOptions,
        system: Option<&str>,
    ) -> Result<Route> {
        if self.is_closed() {
            return Err(LogError::ShuttingDown);
        }
        validate_subject(subject)?;
        self.shared
            .published
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut headers = std::mem::take(&mut opts.headers);
        if let Some(id) = &opts.msg_id {
            validate_msg_id(id)?;
            headers.insert(MSG_ID_HEADER.to_string(), id.clone());
        }
        let Some(handle) = self.stream_for_subject(subject) else {
            if let Some(expected) = opts.expected_stream {
                return Err(LogError::WrongStream {
                    expected,
                    subject: subject.into(),
                    actual: None,
                });
            }
            if opts.expected_last_seq.is_some() || opts.expected_last_subject_seq.is_some() {
                return Err(LogError::NoStream {
                    subject: subject.into(),
                });
            }
            return Ok(Route::Live(Message {
                stream: None,
                seq: 0,
                subject: subject.into(),
                time_ns: now_ns(),
                headers,
                payload,
            }));
        };
        if system != Some(&*handle.name) {
            self.check_guard(&handle.name, Op::Publish, None)?;
        }
        let stored = StoredMessage {
            subject: subject.into(),
            time_ns: 0,
            headers,
            payload,
        };
        Ok(Route::Stored(handle, stored, opts))
    }

    /// Delivers a live-only publish, or hands a stored one to the writer.
    fn send_routed(&self, route: Route) -> Result<Pending> {
        match route {
            Route::Live(msg) => {
                self.shared.fanout.deliver(&Arc::new(msg));
                Ok(Pending::Answered(Ok(PubAck {
                    stream: None,
                    seq: None,
                    duplicate: false,
                })))
            }
            Route::Stored(handle, stored, opts) => {
                let started = std::time::Instant::now();
                let (reply, answer) = oneshot::channel();
                self.shared
                    .writer
                    .send(handle, Queued::new(stored, opts, reply))?;
                Ok(Pending::Queued { answer, started })
            }
        }
    }

    /// Removes one message.
    pub async fn delete_message(&self, stream: &str, seq: u64) -> Result<()> {
        let handle = self.stream(stream)?;
        self.check_guard(stream, Op::DeleteMessage, None)?;
        let waiter = {
            let mut inner = lock(&handle.inner);
            let mut change = Change::new(&handle.tree, inner.state);
            if !change.remove(seq)? {
                return Err(LogError::MessageNotFound {
                    stream: stream.into(),
                    seq,
                });
            }
            change.commit(&mut inner.state)?;
            self.shared.committer.submit(None)
        };
        waiter.wait().await
    }

    /// Removes all messages, or those on subjects matching `subject`, keeping
    /// the newest `keep` (per subject when a subject is given). Returns how
    /// many were removed.
    pub async fn purge(
        &self,
        stream: &str,
        subject: Option<&str>,
        keep: Option<u64>,
    ) -> Result<u64> {
        let handle = self.stream(stream)?;
        self.check_guard(stream, Op::Purge, None)?;
        let keep = keep.unwrap_or(0);
        let purged = match subject {
            None => {
                let mut purged = 0;
                loop {
                    let mut inner = lock(&handle.inner);
                    let excess = inner.state.messages.saturating_sub(keep);
                    if excess == 0 {
                        break;
                    }
                    let mut change = Change::new(&handle.tree, inner.state);
                    let mut n = 0;
                    while n < excess.min(PURGE_CHUNK) && change.remove_oldest()? {
                        n += 1;
                    }
                    change.commit(&mut inner.state)?;
                    purged += n;
                    if n == 0 {
                        break;
                    }
                }
                purged
            }
            Some(filter) => {
                validate_pattern(filter)?;
                let mut purged = 0;
                for (subj, count) in subject_counts(&handle.tree)? {
                    if !matches(filter, &subj) || count <= keep {
                        continue;
                    }
                    let mut remaining = count - keep;
                    while remaining > 0 {
                        let mut inner = lock(&handle.inner);
                        let mut change = Change::new(&handle.tree, inner.state);
                        let n =
                            change.remove_oldest_of_subject(&subj, remaining.min(PURGE_CHUNK))?;
                        change.commit(&mut inner.state)?;
                        purged += n;
                        if n == 0 {
                            break;
                        }
                        remaining -= n;
                    }
                }
                purged
            }
        };
        self.shared.committer.submit(None).wait().await?;
        if purged > 0 {
            tracing::info!(stream, purged, "stream purged");
        }
        Ok(purged)
    }
}
