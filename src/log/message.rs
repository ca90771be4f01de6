//! A stored message: what is kept on disk and what readers get back.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Message headers. NATS allows repeated keys; hivelog keeps one value per
/// key, which is all the headers it interprets need.
pub type Headers = BTreeMap<String, String>;

/// The on-disk record under a stream sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredMessage {
    pub subject: String,
    pub time_ns: i64,
    pub headers: Headers,
    pub payload: Vec<u8>,
}

impl StoredMessage {
    /// What counts against `max_bytes`.
    pub fn stored_size(&self) -> u64 {
        (self.subject.len() + headers_len(&self.headers) + self.payload.len()) as u64
    }

    pub fn into_message(self, stream: Option<Arc<str>>, seq: u64) -> Message {
        Message {
            stream,
            seq,
            subject: self.subject,
            time_ns: self.time_ns,
            headers: self.headers,
            payload: self.payload,
        }
    }
}

/// The bytes a message's headers count for, against `max_msg_size` and
/// `max_bytes`.
pub fn headers_len(headers: &Headers) -> usize {
    headers.iter().map(|(k, v)| k.len() + v.len() + 4).sum()
}

/// A message as readers and subscribers see it. `stream` and `seq` are
/// `None`/0 for a message that no stream captured (plain pub/sub).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub stream: Option<Arc<str>>,
    pub seq: u64,
    pub subject: String,
    /// Nanoseconds since the Unix epoch, UTC.
    pub time_ns: i64,
    pub headers: Headers,
    pub payload: Vec<u8>,
}
