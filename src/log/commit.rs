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
    /// One per writer whose answer waits on this commit.
    done: Vec<oneshot::Sender<Result<(), FlushFailed>>>,
}

/// A failed flush, shared by every writer that waited on it.
#[derive(Debug, Clone)]
struct FlushFailed(Arc<LogError>);

/// Counters for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct CommitStats {
    /// fsyncs done by the flusher.
    pub flushes: AtomicU64,
    /// Writers answered after a flush.
    pub writes: AtomicU64,
    /// The most writers one flush answered.
    pub largest_batch: AtomicU64,
    /// Time spent inside flushes, in microseconds.
    pub flush_micros: AtomicU64,
}

/// Set by the first write sled fails with an I/O error. sled cannot go on
/// after one: a buffer it could not write is never marked stable, so its
/// next flush waits forever. From then on every write fails at once with
/// the first one's cause (a full disk still reads as one), until a restart.
#[derive(Default)]
pub(crate) struct Halt(std::sync::OnceLock<(std::io::ErrorKind, String)>);

impl Halt {
    pub fn note(&self, e: &LogError) {
        if let LogError::Storage(sled::Error::Io(io)) = e {
            if self.0.set((io.kind(), io.to_string())).is_ok() {
                tracing::error!(error = %io, "a write failed; the store takes no more writes until hivelog restarts");
            }
        }
    }

    pub fn check(&self) -> Result<()> {
        match self.0.get() {
            None => Ok(()),
            Some((kind, cause)) => Err(LogError::Storage(sled::Error::Io(std::io::Error::new(
                *kind,
                format!("an earlier write failed ({cause}) and the store stopped writing to keep what it holds intact; restart hivelog once the cause is fixed"),
            )))),
        }
    }
}

pub(crate) struct Committer {
    policy: SyncPolicy,
    pub halt: Arc<Halt>,
    tx: Mutex<Option<mpsc::Sender<Ticket>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    pub stats: Arc<CommitStats>,
}

/// A write's place in the commit queue.
pub(crate) struct Waiter(Option<oneshot::Receiver<Result<(), FlushFailed>>>);

impl Waiter {
    /// Resolves once the write is durable (or at once under `Interval`).
    pub async fn wait(self) -> Result<()> {
        let Some(rx) = self.0 else { return Ok(()) };
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.0.for_another_writer()),
            Err(_) => Err(LogError::ShuttingDown),
        }
    }
}

impl Committer {
    /// Starts the flusher; `flush` must make every earlier write durable.
    pub fn start<F>(flush: F, policy: SyncPolicy) -> Result<Committer>
    where
        F: Fn() -> Result<()> + Send + 'static,
    {
        let stats = Arc::new(CommitStats::default());
        let halt = Arc::new(Halt::default());
        let (tx, thread) = match policy {
            SyncPolicy::Interval(_) => (None, None),
            SyncPolicy::Always => {
                let (tx, rx) = mpsc::channel::<Ticket>();
                let (stats, halt) = (stats.clone(), halt.clone());
                let thread = std::thread::Builder::new()
                    .name("hivelog-commit".into())
                    .spawn(move || run_flusher(flush, rx, &stats, &halt))
                    .map_err(|e| LogError::Storage(sled::Error::Io(e)))?;
                (Some(tx), Some(thread))
            }
        };
        Ok(Committer {
            policy,
            halt,
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
        self.submit_group(after_commit, 1)
            .pop()
            .unwrap_or(Waiter(None))
    }

    /// Queues one applied change that `writers` callers wait on (a group of
    /// publishes applied together); returns one waiter each.
    pub fn submit_group(&self, after_commit: Option<Action>, writers: usize) -> Vec<Waiter> {
        let guard = super::lock(&self.tx);
        let Some(tx) = guard.as_ref() else {
            // Interval mode, or closed: nothing to wait for.
            if let Some(action) = after_commit {
                action();
            }
            return (0..writers).map(|_| Waiter(None)).collect();
        };
        let (done, waiters): (Vec<_>, Vec<_>) = (0..writers)
            .map(|_| {
                let (tx, rx) = oneshot::channel();
                (tx, Waiter(Some(rx)))
            })
            .unzip();
        // If the flusher is gone the receivers resolve to ShuttingDown.
        let _ = tx.send(Ticket { after_commit, done });
        waiters
    }

    /// Queues several applied groups as one ticket, so one flush covers
    /// all of them (a publish and its follower on another stream); their
    /// after-commit actions run in the order given. One list of waiters
    /// per group, of the sizes given.
    pub fn submit_round(&self, groups: Vec<(Option<Action>, usize)>) -> Vec<Vec<Waiter>> {
        let sizes: Vec<usize> = groups.iter().map(|(_, n)| *n).collect();
        let mut actions: Vec<Action> = groups.into_iter().filter_map(|(a, _)| a).collect();
        let after_commit: Option<Action> = match actions.len() {
            0 | 1 => actions.pop(),
            _ => Some(Box::new(move || actions.into_iter().for_each(|a| a()))),
        };
        let mut waiters = self
            .submit_group(after_commit, sizes.iter().sum())
            .into_iter();
        sizes
            .into_iter()
            .map(|n| waiters.by_ref().take(n).collect())
            .collect()
    }

    /// Stops the flusher after it has committed everything queued.
    pub fn close(&self) {
        super::lock(&self.tx).take();
        if let Some(thread) = super::lock(&self.thread).take() {
            if thread.join().is_err() {
                tracing::error!("the commit thread panicked");
            }
        }
    }
}

fn run_flusher(
    flush: impl Fn() -> Result<()>,
    rx: mpsc::Receiver<Ticket>,
    stats: &CommitStats,
    halt: &Halt,
) {
    while let Ok(first) = rx.recv() {
        // Everything queued before this flush starts is covered by it;
        // whatever arrives while it runs waits for the next one.
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let started = std::time::Instant::now();
        let result = halt.check().and_then(|()| flush()).map_err(|e| {
            halt.note(&e);
            FlushFailed(Arc::new(e))
        });
        stats
            .flush_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        if let Err(e) = &result {
            tracing::error!(error = %e.0, "flush failed; failing the writes that waited on it");
        }
        stats.flushes.fetch_add(1, Ordering::Relaxed);
        let writers: u64 = batch.iter().map(|t| t.done.len() as u64).sum();
        stats.writes.fetch_add(writers, Ordering::Relaxed);
        stats.largest_batch.fetch_max(writers, Ordering::Relaxed);
        for mut ticket in batch {
            if result.is_ok() {
                if let Some(action) = ticket.after_commit.take() {
                    action();
                }
            }
            for done in ticket.done.drain(..) {
                // The writer may have given up waiting; that is fine.
                let _ = done.send(result.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// A flush that takes `ms` and counts starts and completions.
    fn slow_flush(
        ms: u64,
    ) -> (
        impl Fn() -> Result<()> + Send + 'static,
        Arc<(AtomicU64, AtomicU64)>,
    ) {
        let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let c = counts.clone();
        let flush = move || {
            c.0.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(ms));
            c.1.fetch_add(1, Ordering::SeqCst);
            Ok(())
        };
        (flush, counts)
    }

    #[tokio::test]
    async fn a_write_is_answered_only_after_a_flush_that_started_after_it() {
        let (flush, counts) = slow_flush(60);
        let committer = Committer::start(flush, SyncPolicy::Always).unwrap();
        let first = committer.submit(None);
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The first flush is running now; this write came too late for it.
        let started_before = counts.0.load(Ordering::SeqCst);
        assert_eq!(started_before, 1);
        let second = committer.submit(None);
        first.wait().await.unwrap();
        second.wait().await.unwrap();
        assert!(
            counts.1.load(Ordering::SeqCst) > started_before,
            "the second write must wait for a flush that began after it was queued"
        );
        committer.close();
    }

    #[tokio::test]
    async fn concurrent_writers_share_flushes() {
        let (flush, counts) = slow_flush(20);
        let committer = Arc::new(Committer::start(flush, SyncPolicy::Always).unwrap());
        let waiters: Vec<Waiter> = (0..64).map(|_| committer.submit(None)).collect();
        for w in waiters {
            w.wait().await.unwrap();
        }
        let flushes = counts.1.load(Ordering::SeqCst);
        assert!(flushes <= 2, "64 queued writes took {flushes} flushes");
        assert_eq!(committer.stats.writes.load(Ordering::SeqCst), 64);
        committer.close();
    }

    #[tokio::test]
    async fn a_round_of_groups_is_one_flush_with_its_actions_in_order() {
        let (flush, counts) = slow_flush(20);
        let committer = Committer::start(flush, SyncPolicy::Always).unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let action = |i: u32| -> Option<Action> {
            let order = order.clone();
            Some(Box::new(move || order.lock().unwrap().push(i)))
        };
        let groups = vec![(action(0), 1), (None, 2), (action(2), 0), (action(3), 1)];
        let waiters = committer.submit_round(groups);
        assert_eq!(
            waiters.iter().map(Vec::len).collect::<Vec<_>>(),
            [1, 2, 0, 1]
        );
        for w in waiters.into_iter().flatten() {
            w.wait().await.unwrap();
        }
        assert_eq!(counts.1.load(Ordering::SeqCst), 1, "one ticket, one flush");
        assert_eq!(*order.lock().unwrap(), vec![0, 2, 3]);
        committer.close();
    }

    #[tokio::test]
    async fn interval_policy_answers_at_once_and_runs_actions_in_order() {
        let committer = Committer::start(
            || panic!("interval mode must not flush inline"),
            SyncPolicy::Interval(Duration::from_secs(1)),
        )
        .unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        for i in 0..3 {
            let order = order.clone();
            committer
                .submit(Some(Box::new(move || order.lock().unwrap().push(i))))
                .wait()
                .await
                .unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2]);
    }
}
