//! The backend a server runs coordination on, chosen at start
//! (`--backend`): the embedded log, or a NATS JetStream server or cluster.

use std::time::Duration;

use super::{JetStreamPort, LogBackend, LogPort, PortError, Record, Watch};

#[derive(Clone)]
pub enum Backend {
    Embedded(LogBackend),
    JetStream(Box<JetStreamPort>),
}

impl Backend {
    /// What `/health` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Backend::Embedded(_) => "embedded",
            Backend::JetStream(_) => "jetstream",
        }
    }
}

impl LogPort for Backend {
    fn is_shared(&self) -> bool {
        matches!(self, Backend::JetStream(_))
    }

    async fn append(
        &self,
        subject: &str,
        payload: Vec<u8>,
        expect: Option<u64>,
    ) -> Result<u64, PortError> {
        match self {
            Backend::Embedded(p) => p.append(subject, payload, expect).await,
            Backend::JetStream(p) => p.append(subject, payload, expect).await,
        }
    }

    async fn append_with_copy(
        &self,
        subject: &str,
        payload: Vec<u8>,
        expect: Option<u64>,
        copy: (&str, Vec<u8>),
        on_stored: super::OnStored,
    ) -> Result<(u64, Result<u64, PortError>), PortError> {
        match self {
            Backend::Embedded(p) => {
                p.append_with_copy(subject, payload, expect, copy, on_stored)
                    .await
            }
            Backend::JetStream(p) => {
                p.append_with_copy(subject, payload, expect, copy, on_stored)
                    .await
            }
        }
    }

    async fn last_per_subject(&self, filter: &str) -> Result<Vec<Record>, PortError> {
        match self {
            Backend::Embedded(p) => p.last_per_subject(filter).await,
            Backend::JetStream(p) => p.last_per_subject(filter).await,
        }
    }

    async fn last(&self, subject: &str) -> Result<Option<Record>, PortError> {
        match self {
            Backend::Embedded(p) => p.last(subject).await,
            Backend::JetStream(p) => p.last(subject).await,
        }
    }

    async fn scan(
        &self,
        subject: &str,
        start: u64,
        limit: usize,
    ) -> Result<Vec<Record>, PortError> {
        match self {
            Backend::Embedded(p) => p.scan(subject, start, limit).await,
            Backend::JetStream(p) => p.scan(subject, start, limit).await,
        }
    }

    async fn tail(&self, subject: &str, limit: usize) -> Result<Vec<Record>, PortError> {
        match self {
            Backend::Embedded(p) => p.tail(subject, limit).await,
            Backend::JetStream(p) => p.tail(subject, limit).await,
        }
    }

    async fn head(&self, filter: &str) -> Result<u64, PortError> {
        match self {
            Backend::Embedded(p) => p.head(filter).await,
            Backend::JetStream(p) => p.head(filter).await,
        }
    }

    async fn watch(&self, filter: &str, after: u64) -> Result<Watch, PortError> {
        match self {
            Backend::Embedded(p) => p.watch(filter, after).await,
            Backend::JetStream(p) => p.watch(filter, after).await,
        }
    }

    async fn lead(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, PortError> {
        match self {
            Backend::Embedded(p) => p.lead(name, holder, ttl).await,
            Backend::JetStream(p) => p.lead(name, holder, ttl).await,
        }
    }

    async fn load_snapshot(&self) -> Result<Option<Vec<u8>>, PortError> {
        match self {
            Backend::Embedded(p) => p.load_snapshot().await,
            Backend::JetStream(p) => p.load_snapshot().await,
        }
    }

    async fn save_snapshot(&self, bytes: Vec<u8>) -> Result<(), PortError> {
        match self {
            Backend::Embedded(p) => p.save_snapshot(bytes).await,
            Backend::JetStream(p) => p.save_snapshot(bytes).await,
        }
    }
}
