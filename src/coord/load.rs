//! Reading state records back, tolerant of damage. A record that does not
//! decode (a bug, a bad disk block, something written by other means) must
//! not stop the server from starting or a task from being used: it is
//! logged with its subject and sequence, counted (`/health`, `/metrics`),
//! and the newest version before it that does decode stays in force.

use std::sync::atomic::Ordering;

use serde::de::DeserializeOwned;

use super::{CoordError, Coordinator};
use crate::streams::{LogPort, Record, STATE_VERSIONS_KEPT};

/// The newest readable version on a subject, and the sequence a write
/// there must expect (the subject's newest record, readable or not).
pub(super) struct Loaded<T> {
    pub value: Option<T>,
    pub last_seq: u64,
}

impl<P: LogPort> Coordinator<P> {
    /// Decodes `record`; if it is damaged, logs and counts it and falls
    /// back to the newest readable version before it.
    pub(super) async fn decode_or_fall_back<T: DeserializeOwned>(
        &self,
        record: &Record,
    ) -> Result<Loaded<T>, CoordError> {
        match serde_json::from_slice(&record.payload) {
            Ok(value) => Ok(Loaded {
                value: Some(value),
                last_seq: record.seq,
            }),
            Err(e) => {
                self.stats.skipped_records.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    subject = %record.subject,
                    seq = record.seq,
                    error = %e,
                    "skipping a state record that does not decode; the previous good version stays in force"
                );
                let older = self
                    .port
                    .tail(&record.subject, STATE_VERSIONS_KEPT as usize)
                    .await?
                    .into_iter()
                    .rev()
                    .filter(|r| r.seq < record.seq)
                    .find_map(|r| serde_json::from_slice(&r.payload).ok());
                Ok(Loaded {
                    value: older,
                    last_seq: record.seq,
                })
            }
        }
    }

    /// The newest readable version on `subject` (see `decode_or_fall_back`).
    pub(super) async fn load<T: DeserializeOwned>(
        &self,
        subject: &str,
    ) -> Result<Loaded<T>, CoordError> {
        match self.port.last(subject).await? {
            Some(r) => self.decode_or_fall_back(&r).await,
            None => Ok(Loaded {
                value: None,
                last_seq: 0,
            }),
        }
    }
}
