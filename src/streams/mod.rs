//! The streams layer: the one face of storage for everything above it.
//! `coord` reaches storage only through `LogPort` (below): it appends to
//! subjects (optionally only if the subject's last sequence is what it
//! expects), reads the newest record of each subject, and reads a
//! subject's records in order; every error is one of a few
//! backend-neutral kinds, so the same coordination runs on the embedded
//! log (`embedded.rs`), in memory for tests (`memory.rs`), or on a NATS
//! JetStream server or cluster (`jetstream.rs`). The surfaces reach
//! streams, messages, consumers and subscriptions through `Streams`
//! (`face.rs`, `subscribe.rs`), which alone decides where each call runs.

use std::future::Future;
use std::pin::Pin;

/// Records as they are stored, oldest first; an `Err` ends the watch (the
/// watcher starts again after the last record it saw).
pub type Watch = Pin<Box<dyn futures_util::Stream<Item = Result<Record, PortError>> + Send>>;

pub mod backend;
pub mod consumers;
pub mod copy;
mod durables;
pub mod embedded;
mod face;
pub mod generic;
pub mod jetstream;
pub mod memory;
mod relay;
mod subscribe;
// The integration tests' throwaway nats-server, shared with the unit tests.
#[cfg(test)]
#[path = "../../tests/common/nats.rs"]
pub(crate) mod nats_testing;

pub use backend::Backend;
pub use durables::Durable;
pub use embedded::{LogBackend, HISTORY_STREAM, STATE_STREAM, STATE_VERSIONS_KEPT};
pub use face::Streams;
pub use jetstream::JetStreamPort;
pub use memory::MemoryPort;
pub use subscribe::{consumer_missing, Ended, Subscription};

/// Subjects of the coordination state stream (key-value records).
pub const STATE_SUBJECTS: &str = "hivelog.state.>";

/// What `append_with_copy` runs between storing a record and showing its
/// copy (the embedded log runs it on its commit thread: keep it short).
pub type OnStored = Box<dyn FnOnce(u64) + Send>;

/// One stored record on a subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub subject: String,
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// Why storage did not do what was asked, in terms any backend can give.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PortError {
    /// The subject's last sequence was not the expected one.
    #[error("the subject changed concurrently (its last sequence is {actual})")]
    Conflict { actual: u64 },
    /// Nothing stores that subject.
    #[error("{0}")]
    NotFound(String),
    /// What was asked cannot be stored or read as asked (a subject too
    /// long, a record too large): the request's fault, not storage's.
    #[error("{0}")]
    Invalid(String),
    /// Storage is out of space; nothing was written.
    #[error("{0}")]
    Full(String),
    /// Storage cannot take writes now (read-only, unreachable, stopping);
    /// nothing was written.
    #[error("{0}")]
    Unavailable(String),
    /// What storage holds or returned does not make sense.
    #[error("{0}")]
    Corrupt(String),
}

pub trait LogPort: Send + Sync + 'static {
    /// Appends durably; with `expect_last_subject_seq`, only if the
    /// subject's newest record has that sequence (0: no record yet).
    fn append(
        &self,
        subject: &str,
        payload: Vec<u8>,
        expect_last_subject_seq: Option<u64>,
    ) -> impl Future<Output = Result<u64, PortError>> + Send;

    /// `append`, then, only if that stored its record, `copy` appended to
    /// `copy_subject` with no expectation. `on_stored` runs with the
    /// record's sequence once it is stored and before anyone can read the
    /// copy, so whoever reads the copy and then asks about the record finds
    /// it applied. The second result is the copy's: its failure does not
    /// undo the append. A backend that can makes both durable with one
    /// flush (the embedded log does).
    fn append_with_copy(
        &self,
        subject: &str,
        payload: Vec<u8>,
        expect_last_subject_seq: Option<u64>,
        copy: (&str, Vec<u8>),
        on_stored: OnStored,
    ) -> impl Future<Output = Result<(u64, Result<u64, PortError>), PortError>> + Send {
        async move {
            let seq = self
                .append(subject, payload, expect_last_subject_seq)
                .await?;
            on_stored(seq);
            Ok((seq, self.append(copy.0, copy.1, None).await))
        }
    }

    /// The newest record of every subject matching `filter`, by sequence.
    fn last_per_subject(
        &self,
        filter: &str,
    ) -> impl Future<Output = Result<Vec<Record>, PortError>> + Send;

    /// The newest record on `subject`.
    fn last(&self, subject: &str)
        -> impl Future<Output = Result<Option<Record>, PortError>> + Send;

    /// Records on `subject` from `start_seq` on, oldest first.
    fn scan(
        &self,
        subject: &str,
        start_seq: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Record>, PortError>> + Send;

    /// The newest `limit` records on `subject`, oldest first.
    fn tail(
        &self,
        subject: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Record>, PortError>> + Send;

    /// The newest sequence in the store that holds `filter`'s subjects (0
    /// when it is empty): where a watch can start without a gap.
    fn head(&self, filter: &str) -> impl Future<Output = Result<u64, PortError>> + Send;

    /// Every record on `filter` after sequence `after`: first those stored,
    /// then each new one as it is stored, whoever wrote it.
    fn watch(
        &self,
        filter: &str,
        after: u64,
    ) -> impl Future<Output = Result<Watch, PortError>> + Send;

    /// Whether other instances may write to the same store (they are then
    /// followed, and jobs that must run once take a lease).
    fn is_shared(&self) -> bool {
        false
    }

    /// Takes or renews the lease `name` for `holder`: true while `holder`
    /// has it. A lease not renewed for `ttl` may be taken by another
    /// holder; so jobs that must run once (the reaper) run on one
    /// instance, and another takes over if that one dies.
    fn lead(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;

    /// The coordination snapshot kept beside this store, if the backend
    /// keeps one (`coord/snapshot.rs`; the records stay the truth).
    fn load_snapshot(&self) -> impl Future<Output = Result<Option<Vec<u8>>, PortError>> + Send {
        async { Ok(None) }
    }

    /// Replaces the snapshot, durably; a backend that keeps none ignores it.
    fn save_snapshot(&self, bytes: Vec<u8>) -> impl Future<Output = Result<(), PortError>> + Send {
        let _ = bytes;
        async { Ok(()) }
    }
}

/// Several coordinators (instances) on one store, as in tests.
impl<P: LogPort> LogPort for std::sync::Arc<P> {
    async fn append(
        &self,
        subject: &str,
        payload: Vec<u8>,
        expect: Option<u64>,
    ) -> Result<u64, PortError> {
        (**self).append(subject, payload, expect).await
    }

    async fn append_with_copy(
        &self,
        subject: &str,
        payload: Vec<u8>,
        expect: Option<u64>,
        copy: (&str, Vec<u8>),
        on_stored: OnStored,
    ) -> Result<(u64, Result<u64, PortError>), PortError> {
        (**self)
            .append_with_copy(subject, payload, expect, copy, on_stored)
            .await
    }

    async fn last_per_subject(&self, filter: &str) -> Result<Vec<Record>, PortError> {
        (**self).last_per_subject(filter).await
    }

    async fn last(&self, subject: &str) -> Result<Option<Record>, PortError> {
        (**self).last(subject).await
    }

    async fn scan(
        &self,
        subject: &str,
        start: u64,
        limit: usize,
    ) -> Result<Vec<Record>, PortError> {
        (**self).scan(subject, start, limit).await
    }

    async fn tail(&self, subject: &str, limit: usize) -> Result<Vec<Record>, PortError> {
        (**self).tail(subject, limit).await
    }

    async fn head(&self, filter: &str) -> Result<u64, PortError> {
        (**self).head(filter).await
    }

    fn is_shared(&self) -> bool {
        (**self).is_shared()
    }

    async fn watch(&self, filter: &str, after: u64) -> Result<Watch, PortError> {
        (**self).watch(filter, after).await
    }

    async fn lead(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, PortError> {
        (**self).lead(name, holder, ttl).await
    }

    async fn load_snapshot(&self) -> Result<Option<Vec<u8>>, PortError> {
        (**self).load_snapshot().await
    }

    async fn save_snapshot(&self, bytes: Vec<u8>) -> Result<(), PortError> {
        (**self).save_snapshot(bytes).await
    }
}
