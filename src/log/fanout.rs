//! Live delivery of new messages to subscribers, stored or not.
//!
//! Each subscriber has a bounded queue. Delivery never waits: a subscriber
//! whose queue is full is cut off (it keeps what was already queued, then
//! learns it was too slow), so one stuck reader cannot hold up a writer or
//! the other readers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::mpsc;

use super::error::Result;
use super::message::Message;
use super::subject::{validate_pattern, SubjectTrie};

/// Default queue length per subscriber.
pub const DEFAULT_SUBSCRIBER_QUEUE: usize = 4096;

type SubId = u64;

struct Entry {
    pattern: String,
    tx: mpsc::Sender<Arc<Message>>,
    slow: Arc<AtomicBool>,
}

#[derive(Default)]
struct Subscribers {
    trie: SubjectTrie<SubId>,
    by_id: HashMap<SubId, Entry>,
}

#[derive(Default)]
pub struct Fanout {
    subs: RwLock<Subscribers>,
    next_id: AtomicU64,
    delivered: AtomicU64,
    dropped_slow: AtomicU64,
}

/// Why a subscription stopped yielding messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionEnded {
    #[error("slow consumer: the subscriber's queue was full, so it was disconnected")]
    SlowConsumer,
    #[error("the log closed")]
    Closed,
}

/// A live feed of messages matching one pattern. Dropping it unsubscribes.
pub struct Subscription {
    id: SubId,
    pattern: String,
    rx: mpsc::Receiver<Arc<Message>>,
    slow: Arc<AtomicBool>,
    fanout: Arc<Fanout>,
}

impl Subscription {
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The next message; after a slow-consumer cut-off, the messages queued
    /// before it are still returned, then `SlowConsumer`.
    pub async fn recv(&mut self) -> Result<Arc<Message>, SubscriptionEnded> {
        match self.rx.recv().await {
            Some(m) => Ok(m),
            None => Err(self.end_reason()),
        }
    }

    /// A message if one is queued now.
    pub fn try_recv(&mut self) -> Option<Result<Arc<Message>, SubscriptionEnded>> {
        match self.rx.try_recv() {
            Ok(m) => Some(Ok(m)),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => Some(Err(self.end_reason())),
        }
    }

    fn end_reason(&self) -> SubscriptionEnded {
        if self.slow.load(Ordering::Acquire) {
            SubscriptionEnded::SlowConsumer
        } else {
            SubscriptionEnded::Closed
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.fanout.remove(self.id);
    }
}

impl Fanout {
    pub fn new() -> Arc<Self> {
        Arc::new(Fanout::default())
    }

    pub fn subscribe(self: &Arc<Self>, pattern: &str, queue: usize) -> Result<Subscription> {
        validate_pattern(pattern)?;
        let (tx, rx) = mpsc::channel(queue.max(1));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slow = Arc::new(AtomicBool::new(false));
        let mut subs = super::write(&self.subs);
        subs.trie.insert(pattern, id);
        subs.by_id.insert(
            id,
            Entry {
                pattern: pattern.to_string(),
                tx,
                slow: slow.clone(),
            },
        );
        drop(subs);
        Ok(Subscription {
            id,
            pattern: pattern.to_string(),
            rx,
            slow,
            fanout: self.clone(),
        })
    }

    /// Hands `msg` to every matching subscriber without waiting.
    pub fn deliver(&self, msg: &Arc<Message>) {
        let mut cut = Vec::new();
        {
            let subs = super::read(&self.subs);
            if subs.by_id.is_empty() {
                return;
            }
            subs.trie.for_each_match(&msg.subject, |id| {
                let Some(entry) = subs.by_id.get(id) else {
                    return;
                };
                match entry.tx.try_send(msg.clone()) {
                    Ok(()) => {
                        self.delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        entry.slow.store(true, Ordering::Release);
                        cut.push(*id);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => cut.push(*id),
                }
            });
        }
        for id in cut {
            if self.remove(id) {
                tracing::warn!(subscription = id, "slow or gone subscriber disconnected");
            }
        }
    }

    fn remove(&self, id: SubId) -> bool {
        let mut subs = super::write(&self.subs);
        let Some(entry) = subs.by_id.remove(&id) else {
            return false;
        };
        subs.trie.remove(&entry.pattern, &id);
        if entry.slow.load(Ordering::Acquire) {
            self.dropped_slow.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    pub fn subscriber_count(&self) -> usize {
        super::read(&self.subs).by_id.len()
    }

    /// Messages handed to subscribers since start.
    pub fn delivered_total(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Subscribers cut off for being slow since start.
    pub fn slow_consumers_total(&self) -> u64 {
        self.dropped_slow.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(subject: &str, seq: u64) -> Arc<Message> {
        Arc::new(Message {
            stream: None,
            seq,
            subject: subject.into(),
            time_ns: 0,
            headers: Default::default(),
            payload: vec![],
        })
    }

    #[tokio::test]
    async fn delivers_by_pattern_and_unsubscribes_on_drop() {
        let fanout = Fanout::new();
        let mut all = fanout.subscribe("a.>", 16).unwrap();
        let mut one = fanout.subscribe("a.b", 16).unwrap();
        fanout.deliver(&msg("a.b", 1));
        fanout.deliver(&msg("a.c", 2));
        fanout.deliver(&msg("z", 3));
        assert_eq!(all.recv().await.unwrap().seq, 1);
        assert_eq!(all.recv().await.unwrap().seq, 2);
        assert_eq!(one.recv().await.unwrap().seq, 1);
        assert!(one.try_recv().is_none());
        drop(one);
        assert_eq!(fanout.subscriber_count(), 1);
        assert!(fanout.subscribe("bad..pattern", 1).is_err());
    }

    #[tokio::test]
    async fn slow_subscriber_is_cut_off_and_others_keep_receiving() {
        let fanout = Fanout::new();
        let mut slow = fanout.subscribe(">", 2).unwrap();
        let mut fast = fanout.subscribe(">", 100).unwrap();
        for seq in 1..=10 {
            fanout.deliver(&msg("x", seq));
            assert_eq!(fast.recv().await.unwrap().seq, seq);
        }
        // The slow one keeps what was queued before the cut, then is told.
        assert_eq!(slow.recv().await.unwrap().seq, 1);
        assert_eq!(slow.recv().await.unwrap().seq, 2);
        assert_eq!(
            slow.recv().await.unwrap_err(),
            SubscriptionEnded::SlowConsumer
        );
        assert_eq!(fanout.subscriber_count(), 1);
        assert_eq!(fanout.slow_consumers_total(), 1);
    }
}
