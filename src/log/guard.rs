//! Streams a layer above the log depends on, and what the generic
//! operations may do to them. A *system* stream (hivelog's own state) can
//! be read by anyone but written only through the [`SystemWriter`] its
//! owner was handed: publish, purge, message delete, update and delete
//! are refused to everyone else. An *in-use* stream (the history stream
//! old clients publish to) stays open for writes, but cannot be deleted,
//! and an update must keep the subjects its user relies on.
//!
//! The guards live in memory: the owner claims them at start-up, before
//! the API serves its first request.

use std::sync::Arc;

use super::error::{LogError, Result};
use super::options::{PubAck, PublishOptions};
use super::stream::StreamConfig;
use super::{read, write, Log};

/// What a stream's owner protects it against.
#[derive(Debug, Clone)]
pub enum Guard {
    System {
        owner: String,
    },
    InUse {
        owner: String,
        subjects: Vec<String>,
    },
}

/// A generic operation a guard may refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Publish,
    Purge,
    DeleteMessage,
    Update,
    Delete,
}

impl Op {
    fn verb(self) -> &'static str {
        match self {
            Op::Publish => "published to",
            Op::Purge => "purged",
            Op::DeleteMessage => "have messages deleted",
            Op::Update => "reconfigured",
            Op::Delete => "deleted",
        }
    }
}

/// The one handle that may write to a system stream.
#[derive(Clone)]
pub struct SystemWriter {
    log: Log,
    stream: Arc<str>,
}

impl SystemWriter {
    /// Publishes like [`Log::publish`], and may also publish to the system
    /// stream this writer was made for.
    pub async fn publish(
        &self,
        subject: &str,
        payload: Vec<u8>,
        opts: PublishOptions,
    ) -> Result<PubAck> {
        self.log
            .enqueue(subject, payload, opts, Some(&self.stream))
            .wait()
            .await
    }

    /// [`Log::publish_then`] by this writer: `first` and, only if it is
    /// stored, `then`, durable in one flush, `on_stored` between them.
    pub async fn publish_then(
        &self,
        first: (&str, Vec<u8>, PublishOptions),
        then: (&str, Vec<u8>, PublishOptions),
        on_stored: super::writer::Hook,
    ) -> Result<(PubAck, Result<PubAck>)> {
        self.log
            .publish_then(first, then, Some(&self.stream), on_stored)
            .await
    }
}

impl Log {
    /// Makes `stream` a system stream owned by `owner`, and returns the
    /// only handle that can still write to it.
    pub fn claim_system_stream(&self, stream: &str, owner: &str) -> Result<SystemWriter> {
        self.stream(stream)?;
        write(&self.shared.guards).insert(
            stream.to_string(),
            Guard::System {
                owner: owner.to_string(),
            },
        );
        Ok(SystemWriter {
            log: self.clone(),
            stream: stream.into(),
        })
    }

    /// Marks `stream` as in use by `owner`: it cannot be deleted, and an
    /// update must keep `subjects`.
    pub fn mark_in_use(&self, stream: &str, owner: &str, subjects: &[&str]) -> Result<()> {
        self.stream(stream)?;
        write(&self.shared.guards).insert(
            stream.to_string(),
            Guard::InUse {
                owner: owner.to_string(),
                subjects: subjects.iter().map(|s| s.to_string()).collect(),
            },
        );
        Ok(())
    }

    /// The guard on `stream`, if any.
    pub fn guard(&self, stream: &str) -> Option<Guard> {
        read(&self.shared.guards).get(stream).cloned()
    }

    /// Refuses `op` on `stream` when its guard forbids it; `update` is the
    /// new configuration for `Op::Update`.
    pub(super) fn check_guard(
        &self,
        stream: &str,
        op: Op,
        update: Option<&StreamConfig>,
    ) -> Result<()> {
        let refuse = |owner: &str, why: String| LogError::Protected {
            stream: stream.to_string(),
            owner: owner.to_string(),
            detail: why,
        };
        match self.guard(stream) {
            None => Ok(()),
            Some(Guard::System { owner }) => Err(refuse(
                &owner,
                format!(
                    "it is a system stream: it can be read, but not {}",
                    op.verb()
                ),
            )),
            Some(Guard::InUse { owner, .. }) if op == Op::Delete => Err(refuse(
                &owner,
                "it cannot be deleted while coordination runs on it".to_string(),
            )),
            Some(Guard::InUse { owner, subjects }) => {
                let missing: Vec<&String> = match (op, update) {
                    (Op::Update, Some(config)) => subjects
                        .iter()
                        .filter(|s| !config.subjects.contains(s))
                        .collect(),
                    _ => Vec::new(),
                };
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(refuse(
                        &owner,
                        format!("its subjects must keep {missing:?}, which coordination writes to"),
                    ))
                }
            }
        }
    }
}
