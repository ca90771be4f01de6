//! The single writer: publishers hand their message to this thread and
//! wait; it takes everything queued so far, applies each stream's share as
//! one atomic sled batch (one state and counter write per group, one commit
//! ticket), and hands the group to the committer. While the committer
//! fsyncs one group the writer applies the next, so concurrent publishers
//! share both sled's per-batch cost and the fsync.
//!
//! Publishes are not the only writes to a stream: message delete, purge
//! and the max-age sweeper change it too, without going through this
//! thread. What keeps them ordered is the stream's `inner` mutex: every
//! change to a stream's tree — a group here, a delete, a purge chunk, a
//! sweep — is computed from `inner.state` and applied (one atomic sled
//! batch, counters included) while that lock is held, and `inner.state`
//! is replaced only after the batch is applied. So no change can read
//! counters another one is about to invalidate, and the counters always
//! describe exactly the messages stored (`tests_concurrent.rs` checks this
//! under concurrent publishes). Those writers then wait for a flush of
//! their own through the committer, as publishes do.
//!
//! A publish may carry a follower (`Queued::then`, possibly for another
//! stream) that is stored only if the publish itself is. Followers are
//! applied in the same round, and a round hands its groups to the
//! committer as one ticket once all of it is applied, so a publish and
//! its follower become durable in one flush.

use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::commit::{Committer, Waiter};
use super::error::{LogError, Result};
use super::fanout::Fanout;
use super::index::last_seq_of_subject;
use super::message::{headers_len, Message, StoredMessage};
use super::options::{PubAck, PublishOptions};
use super::retention::make_room;
use super::retention::Change;
use super::space::SpaceGuard;
use super::store::{decode, encode, keys};
use super::stream::StreamConfig;
use super::{lock, now_ns, StreamHandle, StreamInner};

/// The most publishes applied as one batch.
const MAX_GROUP: usize = 1024;

pub(crate) type Request = (Arc<StreamHandle>, Queued);
type Reply = oneshot::Sender<Result<(PubAck, Waiter)>>;

pub(crate) struct Writer {
    tx: Mutex<Option<mpsc::Sender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub fn start(
        committer: Arc<Committer>,
        fanout: Arc<Fanout>,
        space: Arc<SpaceGuard>,
    ) -> Result<Writer> {
        let (tx, rx) = mpsc::channel::<Request>();
        let thread = std::thread::Builder::new()
            .name("hivelog-writer".into())
            .spawn(move || run(rx, &committer, &fanout, &space))
            .map_err(|e| LogError::Storage(sled::Error::Io(e)))?;
        Ok(Writer {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn send(&self, handle: Arc<StreamHandle>, q: Queued) -> Result<()> {
        let guard = lock(&self.tx);
        let tx = guard.as_ref().ok_or(LogError::ShuttingDown)?;
        tx.send((handle, q)).map_err(|_| LogError::ShuttingDown)
    }

    /// Applies everything queued, then stops the thread.
    pub fn close(&self) {
        lock(&self.tx).take();
        if let Some(thread) = lock(&self.thread).take() {
            if thread.join().is_err() {
                tracing::error!("the writer thread panicked");
            }
        }
    }
}

fn run(
    rx: mpsc::Receiver<Request>,
    committer: &Committer,
    fanout: &Arc<Fanout>,
    space: &SpaceGuard,
) {
    while let Ok(first) = rx.recv() {
        let mut requests = vec![first];
        requests.extend(rx.try_iter().take(MAX_GROUP - 1));
        let mut applied = Vec::new();
        while !requests.is_empty() {
            let mut followers = Vec::new();
            for (handle, group) in by_stream(requests) {
                // Refused before sled sees them: sled cannot recover from
                // running out of space mid-write.
                let bytes = group.iter().map(|q| q.stored.stored_size()).sum();
                if let Err(refused) = space.admit(bytes) {
                    tracing::warn!(stream = %handle.name, "{}", LogError::from(refused));
                    for q in group {
                        refuse(q, refused.into());
                    }
                    continue;
                }
                let mut inner = lock(&handle.inner);
                applied.extend(apply_group(
                    &handle,
                    &mut inner,
                    group,
                    committer,
                    fanout,
                    &mut followers,
                ));
            }
            requests = followers;
        }
        if applied.is_empty() {
            continue;
        }
        // Outside the streams' locks, but in the order the groups were
        // applied: only this thread submits groups of publishes, and
        // the other writers' tickets (delete, purge, sweep) carry no
        // after-commit action whose order matters.
        let parts = applied
            .iter_mut()
            .map(|g| (g.after_commit.take(), g.accepted.len()))
            .collect();
        let waiters = committer.submit_round(parts);
        for (group, waiters) in applied.into_iter().zip(waiters) {
            group.answer(waiters);
        }
    }
}

/// Groups requests per stream, keeping each stream's arrival order.
fn by_stream(requests: Vec<Request>) -> Vec<(Arc<StreamHandle>, Vec<Queued>)> {
    let mut groups: Vec<(Arc<StreamHandle>, Vec<Queued>)> = Vec::new();
    for (handle, q) in requests {
        match groups.iter_mut().find(|(h, _)| Arc::ptr_eq(h, &handle)) {
            Some((_, group)) => group.push(q),
            None => groups.push((handle, vec![q])),
        }
    }
    groups
}

/// Answers a publish that was not stored, and its follower with it.
fn refuse(q: Queued, e: LogError) {
    let _ = q.reply.send(Err(e));
    if let Some(f) = q.then {
        refuse(f.1, LogError::NotFollowed);
    }
}

/// A group applied to its stream, waiting to be handed to the committer.
struct Applied {
    after_commit: Option<Box<dyn FnOnce() + Send>>,
    /// Each stored publish's reply, sequence, and whether a duplicate.
    accepted: Vec<(Reply, u64, bool)>,
    stream: Arc<str>,
}

impl Applied {
    /// Duplicates wait too: their original may be in this very commit.
    fn answer(self, waiters: Vec<Waiter>) {
        let stream = Some(self.stream.to_string());
        for ((reply, seq, duplicate), waiter) in self.accepted.into_iter().zip(waiters) {
            let ack = PubAck {
                stream: stream.clone(),
                seq: Some(seq),
                duplicate,
            };
            let _ = reply.send(Ok((ack, waiter)));
        }
    }
}

/// Stages and applies one stream's group; the followers of what it
/// stored go to `followers`, for the next part of the round.
fn apply_group(
    handle: &Arc<StreamHandle>,
    inner: &mut StreamInner,
    group: Vec<Queued>,
    committer: &Committer,
    fanout: &Arc<Fanout>,
    followers: &mut Vec<Request>,
) -> Option<Applied> {
    if handle.deleted.load(std::sync::atomic::Ordering::Acquire) {
        for q in group {
            refuse(q, LogError::StreamNotFound(handle.name.to_string()));
        }
        return None;
    }
    if let Err(e) = committer.halt.check() {
        for q in group {
            refuse(q, e.for_another_writer());
        }
        return None;
    }
    let mut change = Change::new(&handle.tree, inner.state);
    let mut ids_in_group = HashMap::new();
    let mut accepted = Vec::new();
    let mut appended = Vec::new();
    let mut follow = Vec::new();
    let mut hooks = Vec::new();
    for q in group {
        match stage(
            handle,
            &inner.config,
            &mut change,
            &mut ids_in_group,
            q.stored,
            &q.opts,
        ) {
            Ok(Staged::Appended(msg)) => {
                accepted.push((q.reply, msg.seq, false));
                hooks.extend(q.on_stored.map(|h| (msg.seq, h)));
                appended.push(msg);
                follow.extend(q.then.map(|f| *f));
            }
            Ok(Staged::Duplicate(seq)) => {
                // Its original had its follower, if it had one.
                accepted.push((q.reply, seq, true));
                if let Some(f) = q.then {
                    refuse(f.1, LogError::NotFollowed);
                }
            }
            Err(e) => {
                let _ = q.reply.send(Err(e));
                if let Some(f) = q.then {
                    refuse(f.1, LogError::NotFollowed);
                }
            }
        }
    }
    if !appended.is_empty() {
        let applied = change.finish().and_then(|(batch, state)| {
            handle.tree.apply_batch(batch)?;
            Ok(state)
        });
        match applied {
            Ok(state) => inner.state = state,
            Err(e) => {
                tracing::error!(stream = %handle.name, error = %e, "append failed");
                committer.halt.note(&e);
                for (reply, _, _) in accepted {
                    let _ = reply.send(Err(e.for_another_writer()));
                }
                for (_, f) in follow {
                    refuse(f, LogError::NotFollowed);
                }
                return None;
            }
        }
    }
    followers.extend(follow);
    let after_commit: Option<Box<dyn FnOnce() + Send>> = match appended.last().map(|m| m.seq) {
        None => None,
        Some(last) => {
            let (h, fanout) = (handle.clone(), fanout.clone());
            Some(Box::new(move || {
                h.committed.send_if_modified(|c| {
                    let newer = last > *c;
                    *c = (*c).max(last);
                    newer
                });
                for msg in &appended {
                    fanout.deliver(msg);
                }
                // Before the next group of the round (the followers) is
                // made visible. A hook is the publisher's code running on
                // the commit thread: if it panics, that thread must live on
                // for every other writer.
                for (seq, hook) in hooks {
                    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(seq)));
                    if ran.is_err() {
                        tracing::error!(seq, "a publisher's on-stored hook panicked");
                    }
                }
            }))
        }
    };
    Some(Applied {
        after_commit,
        accepted,
        stream: handle.name.clone(),
    })
}

/// A publish waiting for the writer.
pub(crate) struct Queued {
    pub stored: StoredMessage,
    pub opts: PublishOptions,
    pub reply: Reply,
    /// Published right behind this one, in the same flush, only if this
    /// one is stored (not a duplicate, not refused).
    pub then: Option<Box<Request>>,
    /// Run with this one's sequence once it is committed, before its
    /// follower is visible to anyone (see `Log::publish_then`).
    pub on_stored: Option<Hook>,
}

/// What a publisher runs between its publish's commit and its follower's.
pub type Hook = Box<dyn FnOnce(u64) + Send>;

impl Queued {
    pub fn new(stored: StoredMessage, opts: PublishOptions, reply: Reply) -> Queued {
        Queued {
            stored,
            opts,
            reply,
            then: None,
            on_stored: None,
        }
    }
}

enum Staged {
    Appended(Arc<Message>),
    Duplicate(u64),
}

/// Checks one publish against the stream as changed so far by its group
/// and adds it to the change. An error leaves the change untouched.
fn stage(
    handle: &StreamHandle,
    config: &StreamConfig,
    change: &mut Change,
    ids_in_group: &mut HashMap<String, u64>,
    mut stored: StoredMessage,
    opts: &PublishOptions,
) -> Result<Staged> {
    let name = handle.name.to_string();
    if let Some(expected) = &opts.expected_stream {
        if *expected != name {
            return Err(LogError::WrongStream {
                expected: expected.clone(),
                subject: stored.subject,
                actual: Some(name),
            });
        }
    }
    // Timestamps never go backwards within a stream, so start-time lookups
    // can binary-search by sequence.
    let now = opts.at_ns.unwrap_or_else(now_ns).max(change.state.last_ts);
    if let Some(id) = &opts.msg_id {
        if let Some(seq) = ids_in_group.get(id) {
            return Ok(Staged::Duplicate(*seq));
        }
        if let Some(raw) = handle.tree.get(keys::dedup(id))? {
            let (seq, at): (u64, i64) = decode(&raw)?;
            let window = i64::try_from(config.duplicate_window.as_nanos()).unwrap_or(i64::MAX);
            if now.saturating_sub(at) < window {
                return Ok(Staged::Duplicate(seq));
            }
        }
    }
    if let Some(expected) = opts.expected_last_seq {
        if expected != change.state.last_seq {
            return Err(LogError::WrongLastSequence {
                expected,
                actual: change.state.last_seq,
            });
        }
    }
    if let Some(expected) = opts.expected_last_subject_seq {
        let actual = match change.last_appended(&stored.subject) {
            Some(seq) => seq,
            None => last_seq_of_subject(&handle.tree, &stored.subject)?.unwrap_or(0),
        };
        if expected != actual {
            return Err(LogError::WrongLastSubjectSequence {
                subject: stored.subject,
                expected,
                actual,
            });
        }
    }
    let size = (stored.payload.len() + headers_len(&stored.headers)) as u64;
    if size > config.max_msg_size {
        return Err(LogError::MessageTooLarge {
            stream: name,
            size,
            max: config.max_msg_size,
            limit: "max_msg_size",
        });
    }
    stored.time_ns = now;
    make_room(config, change, &stored)?;
    let seq = change.state.last_seq + 1;
    change.append(seq, &stored)?;
    if let Some(id) = &opts.msg_id {
        change.put(&keys::dedup(id), &encode(&(seq, now))?);
        change.put(&keys::dedup_time(now, id), &[]);
        ids_in_group.insert(id.clone(), seq);
    }
    Ok(Staged::Appended(Arc::new(
        stored.into_message(Some(handle.name.clone()), seq),
    )))
}
