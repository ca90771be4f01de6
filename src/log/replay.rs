//! Where stored history meets live delivery, decided once: a [`Replay`]
//! yields the stored messages on a pattern from a deliver policy on (from
//! every stream that can hold them), then the live ones, with no gap and
//! no repeat at the seam. Where each policy starts in a stream is the same
//! function consumers use (`consumer::position::start_position`), so a
//! subscription and a consumer with the same policy start at the same
//! message.
//!
//! The seam: replay each stream until caught up, subscribe to the live
//! feed, replay what was appended in between, then pass live messages on,
//! skipping any sequence already sent. Replay is paced by the caller (the
//! next page is read only when it asks), so a slow reader holds no more
//! than a page in memory, and the live queue starts filling only once the
//! history is behind it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::consumer::{start_position, ConsumerConfig, DeliverPolicy};
use super::error::{LogError, Result};
use super::fanout::{Subscription, SubscriptionEnded};
use super::message::Message;
use super::read::{read_stored, ReadRange};
use super::{lock, Log};

/// Messages read per page while replaying.
const PAGE: usize = 1_000;

/// Where a subscription starts (JetStream's deliver policies).
#[derive(Debug, Clone, PartialEq)]
pub enum DeliverFrom {
    /// Only messages published from now on.
    New,
    All,
    /// The newest stored message matching the pattern, then live ones.
    Last,
    /// The newest stored message of each matching subject, then live ones.
    LastPerSubject,
    StartSeq(u64),
    StartTime(DateTime<Utc>),
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayEnded {
    #[error(transparent)]
    Live(#[from] SubscriptionEnded),
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Stored then live messages on a pattern; see the module docs.
pub struct Replay {
    log: Log,
    pattern: String,
    from: DeliverFrom,
    /// Streams not started yet.
    streams: VecDeque<String>,
    /// The stream being replayed: its name, messages chosen up front
    /// (last per subject), and the next sequence to read.
    current: Option<(String, VecDeque<u64>, u64)>,
    /// Read and not yet handed out.
    buffer: VecDeque<Arc<Message>>,
    /// Per stream, every sequence up to this one has been covered.
    sent: HashMap<String, u64>,
    feed: Option<Subscription>,
    live: bool,
}

impl Log {
    /// Stored messages on `pattern` from `from` on, then live ones. With
    /// `DeliverFrom::New` the live feed is registered before this returns,
    /// so nothing published after the call can be missed.
    pub fn subscribe_from(&self, pattern: &str, from: DeliverFrom) -> Result<Replay> {
        super::subject::validate_pattern(pattern)?;
        let (streams, feed) = match from {
            DeliverFrom::New => (VecDeque::new(), Some(self.subscribe(pattern)?)),
            _ => (self.streams_overlapping(pattern).into(), None),
        };
        Ok(Replay {
            log: self.clone(),
            pattern: pattern.to_string(),
            from,
            streams,
            current: None,
            buffer: VecDeque::new(),
            sent: HashMap::new(),
            feed,
            live: false,
        })
    }
}

impl Replay {
    /// The next message: stored ones in sequence order per stream (streams
    /// one after another), then live ones as they are published.
    pub async fn next(&mut self) -> std::result::Result<Arc<Message>, ReplayEnded> {
        loop {
            if let Some(m) = self.buffer.pop_front() {
                if let Some(stream) = &m.stream {
                    let covered = self.sent.entry(stream.to_string()).or_default();
                    *covered = (*covered).max(m.seq);
                }
                return Ok(m);
            }
            if self.live {
                let feed = self.feed.as_mut().ok_or(SubscriptionEnded::Closed)?;
                let m = feed.recv().await?;
                let seen = m
                    .stream
                    .as_ref()
                    .is_some_and(|s| self.sent.get(s.as_ref()).is_some_and(|c| m.seq <= *c));
                if !seen {
                    return Ok(m);
                }
                continue;
            }
            if self.current.is_some() {
                self.read_page()?;
                continue;
            }
            if let Some(stream) = self.streams.pop_front() {
                self.start(stream)?;
                continue;
            }
            if self.feed.is_none() {
                // Caught up everywhere: now follow live, and replay once
                // more whatever was appended before the feed existed.
                self.feed = Some(self.log.subscribe(&self.pattern)?);
                let mut gap: Vec<(String, u64)> =
                    self.sent.iter().map(|(s, c)| (s.clone(), c + 1)).collect();
                gap.sort();
                for (stream, next) in gap {
                    self.current = Some((stream, VecDeque::new(), next));
                    while self.current.is_some() {
                        self.read_page()?;
                    }
                }
            }
            self.live = true;
        }
    }

    /// True once stored history is behind: messages now come from the
    /// live feed (or the short catch-up read just before it).
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Begins replaying `stream` where the policy says.
    fn start(&mut self, stream: String) -> Result<()> {
        let handle = match self.log.stream(&stream) {
            Ok(h) => h,
            // Deleted since the list was taken: nothing to replay there.
            Err(LogError::StreamNotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let (deliver_policy, opt_start_seq, opt_start_time) = match &self.from {
            DeliverFrom::New => (DeliverPolicy::New, None, None),
            DeliverFrom::All => (DeliverPolicy::All, None, None),
            DeliverFrom::Last => (DeliverPolicy::Last, None, None),
            DeliverFrom::LastPerSubject => (DeliverPolicy::LastPerSubject, None, None),
            DeliverFrom::StartSeq(n) => (DeliverPolicy::ByStartSequence, Some(*n), None),
            DeliverFrom::StartTime(t) => (DeliverPolicy::ByStartTime, None, Some(*t)),
        };
        let config = ConsumerConfig {
            filter_subjects: vec![self.pattern.clone()],
            deliver_policy,
            opt_start_seq,
            opt_start_time,
            ..Default::default()
        };
        let state = lock(&handle.inner).state;
        let (cursor, backlog) = start_position(&handle, &config, state)?;
        self.sent.insert(stream.clone(), cursor);
        self.current = Some((stream, backlog, cursor + 1));
        Ok(())
    }

    /// Reads the next page of the current stream into the buffer; clears
    /// `current` when the stream is caught up.
    fn read_page(&mut self) -> Result<()> {
        let Some((stream, backlog, next)) = self.current.as_mut() else {
            return Ok(());
        };
        if !backlog.is_empty() {
            let handle = self.log.stream(stream)?;
            let take = backlog.len().min(PAGE);
            for seq in backlog.drain(..take) {
                self.buffer.extend(read_stored(&handle, seq)?.map(Arc::new));
            }
            return Ok(());
        }
        let range = ReadRange {
            start_seq: Some(*next),
            subject: Some(self.pattern.clone()),
            limit: PAGE,
            ..Default::default()
        };
        let page = match self.log.read_range(stream, &range) {
            Ok(page) => page,
            Err(LogError::StreamNotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        match page.last() {
            Some(last) => {
                *next = last.seq + 1;
                self.buffer.extend(page.into_iter().map(Arc::new));
            }
            None => {
                let covered = self.sent.entry(stream.clone()).or_default();
                *covered = (*covered).max(next.saturating_sub(1));
                self.current = None;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::log::{open_for_test, PublishOptions, StreamConfig};

    /// Publishes `subjects` in order, pipelined (so it is quick).
    async fn publish_all(log: &Log, subjects: impl IntoIterator<Item = String>) {
        let pending: Vec<_> = subjects
            .into_iter()
            .map(|s| log.publish_pipelined(&s, s.clone().into_bytes(), PublishOptions::default()))
            .collect();
        for p in pending {
            p.wait().await.unwrap();
        }
    }

    async fn next(replay: &mut Replay) -> Arc<Message> {
        // A missed message would wait forever; 30 s only bounds a loaded
        // CI machine.
        match tokio::time::timeout(Duration::from_secs(30), replay.next()).await {
            Ok(m) => m.unwrap(),
            Err(_) => panic!(
                "no message within 30 s: live={} feed={} current={:?} streams={:?} buffer={} sent={:?}",
                replay.live,
                replay.feed.is_some(),
                replay.current.as_ref().map(|(s, q, n)| (s.clone(), q.len(), *n)),
                replay.streams,
                replay.buffer.len(),
                replay.sent
            ),
        }
    }

    /// More subjects than any one read returns: "last" is still the newest
    /// message of all of them, for a subscription and a consumer alike.
    #[tokio::test]
    async fn last_is_the_newest_message_among_more_than_10k_subjects() {
        let dir = tempfile::tempdir().unwrap();
        let log = open_for_test(dir.path());
        log.create_stream(StreamConfig::new("BIG", &["big.>"]))
            .unwrap();
        const N: usize = 10_050;
        // The newest message is on the first subject again, so "the newest
        // of the first 10,000 subject heads" would be wrong.
        publish_all(
            &log,
            (0..N)
                .map(|i| format!("big.s{i}"))
                .chain(["big.s0".to_string()]),
        )
        .await;
        let newest = N as u64 + 1;
        let mut replay = log.subscribe_from("big.>", DeliverFrom::Last).unwrap();
        let first = next(&mut replay).await;
        assert_eq!((first.seq, first.subject.as_str()), (newest, "big.s0"));
        let config = ConsumerConfig {
            durable_name: Some("c".into()),
            filter_subjects: vec!["big.>".into()],
            deliver_policy: DeliverPolicy::Last,
            ..Default::default()
        };
        log.create_consumer("BIG", config).unwrap();
        let got = log.fetch("BIG", "c", 1, Duration::ZERO).await.unwrap();
        assert_eq!(
            got[0].message.seq, newest,
            "a consumer starts at the same message"
        );
        // Then live, nothing in between.
        publish_all(&log, ["big.s7".to_string()]).await;
        let live = next(&mut replay).await;
        assert_eq!(live.seq, newest + 1);
        // A filter on one subject among many.
        let mut one = log.subscribe_from("big.s9999", DeliverFrom::Last).unwrap();
        assert_eq!(next(&mut one).await.seq, 10_000);
    }

    /// History, then live, while publishers keep going: every message once,
    /// in order, none missed at the seam.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replay_then_live_has_no_gap_and_no_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let log = open_for_test(dir.path());
        log.create_stream(StreamConfig::new("S", &["s.>"])).unwrap();
        publish_all(&log, (0..2_500).map(|i| format!("s.{}", i % 7))).await;
        let mut replay = log.subscribe_from("s.>", DeliverFrom::All).unwrap();
        let publisher = {
            let log = log.clone();
            tokio::spawn(async move {
                for chunk in 0..20 {
                    publish_all(&log, (0..100).map(|i| format!("s.{}", (chunk + i) % 7))).await;
                    tokio::task::yield_now().await;
                }
            })
        };
        let mut seqs = Vec::new();
        while seqs.len() < 4_500 {
            seqs.push(next(&mut replay).await.seq);
        }
        publisher.await.unwrap();
        assert_eq!(seqs, (1..=4_500).collect::<Vec<u64>>());
        // Caught up: asked for more before anything new is stored, the
        // replay finds no history left and follows the live feed.
        let (m, _) = tokio::join!(next(&mut replay), async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            publish_all(&log, ["s.1".to_string()]).await;
        });
        assert_eq!(m.seq, 4_501);
        assert!(replay.is_live());
        // From a sequence, and by time, the same function decides.
        let mut from = log
            .subscribe_from("s.3", DeliverFrom::StartSeq(4_000))
            .unwrap();
        let m = next(&mut from).await;
        assert!(m.seq >= 4_000 && m.subject == "s.3", "{}", m.seq);
    }
}
