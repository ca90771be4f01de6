//! The embedded log: a small JetStream on sled. Streams capture subjects and
//! keep messages under limits; consumers track what was delivered and
//! acknowledged; subscribers get new messages live. Nothing here knows about
//! tasks or HTTP.

mod blocks;
mod catalog;
mod commit;
mod consumer;
mod durable;
pub mod duration;
mod error;
mod fanout;
mod guard;
mod index;
mod manifest;
mod message;
mod options;
mod publish;
mod read;
mod replay;
mod retention;
mod space;
mod stats;
mod store;
mod stream;
pub mod subject;
mod sweeper;
mod writer;
pub use writer::Hook;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

pub use commit::{CommitStats, SyncPolicy};
pub use consumer::{
    AckKind, AckOutcome, AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy, Delivered,
    SequenceInfo, MAX_FETCH_BATCH,
};
pub use error::{DiskTrouble, LogError, Result};
pub use fanout::{Subscription, SubscriptionEnded, DEFAULT_SUBSCRIBER_QUEUE};
pub use guard::{Guard, SystemWriter};
pub use message::{Headers, Message};
pub use options::{PubAck, PublishOptions};
pub use publish::PendingPublish;
pub use read::{ReadRange, MAX_READ_LIMIT};
pub use replay::{DeliverFrom, Replay, ReplayEnded};
pub use stats::Histogram;
pub use store::current_version as format_version;
pub use stream::{
    DiscardPolicy, StreamConfig, StreamConfigInput, StreamState, DEFAULT_MAX_MSG_SIZE,
    MAX_MSG_SIZE_CAP,
};
pub use sweeper::SweepReport;

use commit::Committer;
use consumer::ConsumerHandle;
use fanout::Fanout;
use store::{decode, keys, Store, StreamRecord};
use subject::SubjectTrie;

/// How to open the log.
#[derive(Debug, Clone)]
pub struct LogOptions {
    pub sync: SyncPolicy,
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
    pub subscriber_queue: usize,
    /// New messages are refused (507) while the disk has less free space
    /// than this; 0 turns the reserve off (see space.rs).
    pub min_free_bytes: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            sync: SyncPolicy::Always,
            // Most of a busy server's memory: 64 MiB doubled RSS in
            // `hivelog bench` without changing any figure.
            cache_bytes: 16 * 1024 * 1024,
            subscriber_queue: DEFAULT_SUBSCRIBER_QUEUE,
            min_free_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A stream's configuration and counters, as reported to users.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamInfo {
    pub config: StreamConfig,
    pub state: StreamState,
    pub created_ns: i64,
    pub consumer_count: usize,
}

/// Cheap to clone; every clone is the same log.
#[derive(Clone)]
pub struct Log {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    store: Store,
    streams: RwLock<BTreeMap<String, Arc<StreamHandle>>>,
    /// Stream subjects → stream name, to find which stream captures a subject.
    routes: RwLock<SubjectTrie<Arc<str>>>,
    fanout: Arc<Fanout>,
    committer: Arc<Committer>,
    writer: writer::Writer,
    space: Arc<space::SpaceGuard>,
    options: LogOptions,
    opened: Instant,
    closed: AtomicBool,
    published: std::sync::atomic::AtomicU64,
    publish_latency: Histogram,
    /// Streams that a layer above depends on, by name (`guard.rs`).
    guards: RwLock<std::collections::HashMap<String, Guard>>,
    /// Held for the whole of a stream create, update or delete: the
    /// overlap check reads every stream's subjects, and a change that
    /// started after it must see the stream it is checked against.
    config_changes: Mutex<()>,
}

pub(crate) struct StreamHandle {
    pub name: Arc<str>,
    pub tree: sled::Tree,
    pub created_ns: i64,
    /// The writer lock: held while a change is computed and applied.
    pub inner: Mutex<StreamInner>,
    /// The last sequence that is durable (and therefore visible to consumers).
    pub committed: watch::Sender<u64>,
    pub consumers: Mutex<BTreeMap<String, Arc<ConsumerHandle>>>,
    pub deleted: AtomicBool,
}

pub(crate) struct StreamInner {
    pub config: StreamConfig,
    pub state: StreamState,
}

pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// `lock` for code outside the log that shares its poison policy.
pub fn lock_unpoisoned<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock(m)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a lock is a bug, but it must not take every
    // later request down with it; the data under these locks is only
    // changed after a successful sled write.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Read access that survives a poisoned lock, as `lock` does.
pub(crate) fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl Log {
    /// Opens (or creates) the log in `dir`. Reads only stored counters and
    /// configs, never the messages, so opening is fast at any size.
    pub fn open(dir: &Path, options: LogOptions) -> Result<Log> {
        let flush_every = match options.sync {
            SyncPolicy::Interval(d) => d,
            SyncPolicy::Always => Duration::from_millis(500),
        };
        let store = Store::open(dir, options.cache_bytes, flush_every)?;
        let flusher = store.clone();
        let committer = Arc::new(Committer::start(
            move || flusher.flush().map(|_| ()),
            options.sync,
        )?);
        let fanout = Fanout::new();
        let space = Arc::new(space::SpaceGuard::new(dir, options.min_free_bytes));
        let writer = writer::Writer::start(committer.clone(), fanout.clone(), space.clone())?;
        let shared = Shared {
            dir: dir.to_path_buf(),
            store,
            streams: RwLock::new(BTreeMap::new()),
            routes: RwLock::new(SubjectTrie::new()),
            fanout,
            committer,
            writer,
            space,
            options,
            opened: Instant::now(),
            closed: AtomicBool::new(false),
            published: std::sync::atomic::AtomicU64::new(0),
            publish_latency: Histogram::default(),
            guards: RwLock::default(),
            config_changes: Mutex::new(()),
        };
        let log = Log {
            shared: Arc::new(shared),
        };
        for record in log.shared.store.stream_records()? {
            log.load_stream(record)?;
        }
        Ok(log)
    }

    fn load_stream(&self, record: StreamRecord) -> Result<Arc<StreamHandle>> {
        let name = record.config.name.clone();
        let tree = self.shared.store.stream_tree(&name)?;
        let state = match tree.get(keys::STATE)? {
            Some(raw) => decode(&raw)?,
            None => StreamState::empty(),
        };
        let (committed, _) = watch::channel(state.last_seq);
        let handle = Arc::new(StreamHandle {
            name: name.as_str().into(),
            tree,
            created_ns: record.created_ns,
            inner: Mutex::new(StreamInner {
                config: record.config.clone(),
                state,
            }),
            committed,
            consumers: Mutex::new(BTreeMap::new()),
            deleted: AtomicBool::new(false),
        });
        consumer::load_durables(&handle)?;
        let mut routes = write(&self.shared.routes);
        for s in &record.config.subjects {
            routes.insert(s, handle.name.clone());
        }
        drop(routes);
        write(&self.shared.streams).insert(name, handle.clone());
        Ok(handle)
    }

    pub(crate) fn stream(&self, name: &str) -> Result<Arc<StreamHandle>> {
        read(&self.shared.streams)
            .get(name)
            .cloned()
            .ok_or_else(|| LogError::StreamNotFound(name.to_string()))
    }

    /// The stream that captures `subject`, if any.
    pub(crate) fn stream_for_subject(&self, subject: &str) -> Option<Arc<StreamHandle>> {
        let routes = read(&self.shared.routes);
        let name = routes.matches(subject).into_iter().next()?.clone();
        drop(routes);
        self.stream(&name).ok()
    }

    /// Streams whose subjects can match a subject of `pattern`, by name.
    pub fn streams_overlapping(&self, pattern: &str) -> Vec<String> {
        read(&self.shared.streams)
            .values()
            .filter(|h| {
                lock(&h.inner)
                    .config
                    .subjects
                    .iter()
                    .any(|s| subject::overlaps(s, pattern))
            })
            .map(|h| h.name.to_string())
            .collect()
    }

    /// How long stored publishes took to be answered (durable, under
    /// `--sync always`).
    pub fn publish_latency(&self) -> &Histogram {
        &self.shared.publish_latency
    }

    /// Messages published (stored or not) since the log was opened.
    pub fn published_total(&self) -> u64 {
        self.shared.published.load(Ordering::Relaxed)
    }

    /// The name of the stream that captures `subject`, if any.
    pub fn stream_name_for(&self, subject: &str) -> Option<String> {
        self.stream_for_subject(subject).map(|h| h.name.to_string())
    }

    /// A live feed of new messages on `pattern`, stored or not.
    pub fn subscribe(&self, pattern: &str) -> Result<Subscription> {
        self.shared
            .fanout
            .subscribe(pattern, self.shared.options.subscriber_queue)
    }

    /// As `subscribe`, with a queue of `queue` messages.
    pub fn subscribe_with_queue(&self, pattern: &str, queue: usize) -> Result<Subscription> {
        self.shared.fanout.subscribe(pattern, queue)
    }

    pub fn sync_policy(&self) -> SyncPolicy {
        self.shared.committer.policy()
    }

    pub fn commit_stats(&self) -> &CommitStats {
        &self.shared.committer.stats
    }

    pub fn size_on_disk(&self) -> u64 {
        self.shared.store.size_on_disk()
    }

    /// Free bytes on the data directory's disk, if the disk says.
    pub fn disk_free(&self) -> Option<u64> {
        self.shared.space.free()
    }

    pub fn data_dir(&self) -> &Path {
        &self.shared.dir
    }

    pub fn uptime(&self) -> Duration {
        self.shared.opened.elapsed()
    }

    pub fn subscriber_count(&self) -> usize {
        self.shared.fanout.subscriber_count()
    }

    /// Messages handed to live subscribers, and subscribers cut off for
    /// being slow, since the log was opened.
    pub fn fanout_totals(&self) -> (u64, u64) {
        (
            self.shared.fanout.delivered_total(),
            self.shared.fanout.slow_consumers_total(),
        )
    }

    /// Starts the background sweeper (max age, dedup window, idle ephemeral
    /// consumers). It stops when `shutdown` turns true.
    pub fn start_sweeper(
        &self,
        every: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(sweeper::run(self.clone(), every, shutdown))
    }

    /// Runs one sweep now (used by the sweeper and by tests).
    pub fn sweep(&self) -> Result<SweepReport> {
        sweeper::sweep_once(self)
    }

    /// Commits everything queued and flushes. Later writes fail.
    pub fn close(&self) -> Result<()> {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.shared.writer.close();
        self.shared.committer.close();
        self.checkpoint()
    }

    /// Flushes, and records in the manifest the last sequence of every
    /// stream as now on disk (see manifest.rs). The sweeper calls it every
    /// few seconds, `close` once more at the end.
    pub fn checkpoint(&self) -> Result<()> {
        self.shared.store.checkpoint(|| {
            read(&self.shared.streams)
                .iter()
                .map(|(name, h)| (name.clone(), lock(&h.inner).state.last_seq))
                .collect()
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

/// A log in `dir` for unit tests: a small cache, and answers without
/// waiting for fsync (their subject is not durability).
#[cfg(test)]
pub(crate) fn open_for_test(dir: &Path) -> Log {
    let options = LogOptions {
        sync: SyncPolicy::Interval(Duration::from_millis(20)),
        cache_bytes: 8 << 20,
        ..Default::default()
    };
    match Log::open(dir, options) {
        Ok(log) => log,
        Err(e) => panic!("cannot open a test log in {}: {e}", dir.display()),
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_concurrent;
#[cfg(test)]
mod tests_consumers;
#[cfg(test)]
mod tests_follow;
#[cfg(test)]
mod tests_format;
#[cfg(test)]
mod tests_model;
