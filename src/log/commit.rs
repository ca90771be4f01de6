//! Group commit: writers apply their changes to sled, queue a ticket here,
//! and wait; one flusher thread takes every ticket queued so far, makes them
//! durable with a single fsync, then runs each ticket's after-commit action
//! (live fan-out, waking consumers) in queue order and answers its writer.
//! Sixteen concurrent writers cost about one fsync, not sixteen.
//!
//! With `SyncPolicy::Interval`, tickets complete at once and sled's own
//! background flusher makes data durable every interval, as NATS does by
//! default: faster, but a crash can lose the last interval's acknowledged
//! writes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use super::error::{LogError, Result};
use super::store::Store;

/// When an acknowledged write is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Answer a write only after it is flushed (group commit).
    Always,
    /// Answer at once; flush in the background every interval.
    Interval(Duration),
}

type Action = Box<dyn FnOnce() + Send>;

struct Ticket {
    after_commit: Option<Action>,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// Counters for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct CommitStats {
    pub flushes: AtomicU64,
    pub tickets: AtomicU64,
    pub largest_batch: AtomicU64,
}

pub(crate) struct Committer {
    policy: SyncPolicy,
    tx: Mutex<Option<mpsc::Sender<Ticket>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    pub stats: Arc<CommitStats>,
}

/// A write's place in the commit queue.
pub(crate) struct Waiter(Option<oneshot::Receiver<Result<(), String>>>);

impl Waiter {
    /// Resolves once the write is durable (or at once under `Interval`).
    pub async fn wait(self) -> Result<()> {
        let Some(rx) = self.0 else { return Ok(()) };
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(LogError::Storage(sled::Error::Io(std::io::Error::other(e)))),
            Err(_) => Err(LogError::ShuttingDown),
        }
    }
}

impl Committer {
    pub fn start(store: Store, policy: SyncPolicy) -> Result<Committer> {
        let stats = Arc::new(CommitStats::default());
        let (tx, thread) = match policy {
            SyncPolicy::Interval(_) => (None, None),
            SyncPolicy::Always => {
                let (tx, rx) = mpsc::channel::<Ticket>();
                let stats = stats.clone();
                let thread = std::thread::Builder::new()
                    .name("hivelog-commit".into())
                    .spawn(move || run_flusher(store, rx, &stats))
                    .map_err(|e| LogError::Storage(sled::Error::Io(e)))?;
                (Some(tx), Some(thread))
            }
        };
        Ok(Committer {
            policy,
            tx: Mutex::new(tx),
            thread: Mutex::new(thread),
            stats,
        })
    }

    pub fn policy(&self) -> SyncPolicy {
        self.policy
    }

    /// Queues a write that has been applied to sled. Call it while holding
    /// the lock that ordered the write, so that after-commit actions run in
    /// the same order as the writes.
    pub fn submit(&self, after_commit: Option<Action>) -> Waiter {
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = guard.as_ref() else {
            // Interval mode, or closed: nothing to wait for.
            if let Some(action) = after_commit {
                action();
            }
            return Waiter(None);
        };
        let (done_tx, done_rx) = oneshot::channel();
        if tx
            .send(Ticket {
                after_commit,
                done: Some(done_tx),
            })
            .is_err()
        {
            // The flusher is gone; the receiver resolves to ShuttingDown.
        }
        Waiter(Some(done_rx))
    }

    /// Stops the flusher after it has committed everything queued.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            if thread.join().is_err() {
                tracing::error!("the commit thread panicked");
            }
        }
    }
}

fn run_flusher(store: Store, rx: mpsc::Receiver<Ticket>, stats: &CommitStats) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let result = store.flush().map(|_| ()).map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, "flush failed; failing the writes that waited on it");
        }
        stats.flushes.fetch_add(1, Ordering::Relaxed);
        stats
            .tickets
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        stats
            .largest_batch
            .fetch_max(batch.len() as u64, Ordering::Relaxed);
        for mut ticket in batch {
            if result.is_ok() {
                if let Some(action) = ticket.after_commit.take() {
                    action();
                }
            }
            if let Some(done) = ticket.done.take() {
                // The writer may have given up waiting; that is fine.
                let _ = done.send(result.clone());
            }
        }
    }
}
