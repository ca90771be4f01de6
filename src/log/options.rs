//! What a publish asks (headers and expectations) and what it answers:
//! the types the write path, the writer and the guard share.

use serde::{Deserialize, Serialize};

use super::message::Headers;

/// Headers and expectations of one publish (the `Nats-*` headers).
#[derive(Debug, Default, Clone)]
pub struct PublishOptions {
    pub headers: Headers,
    pub msg_id: Option<String>,
    pub expected_stream: Option<String>,
    pub expected_last_seq: Option<u64>,
    pub expected_last_subject_seq: Option<u64>,
    /// A copy's original time (`hivelog migrate`); kept unless it is
    /// before the stream's newest message, whose time it then takes
    /// (times never go backwards within a stream).
    pub at_ns: Option<i64>,
}

/// The answer to a publish. `stream`/`seq` are `None` when no stream
/// captured the subject (delivered live only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PubAck {
    pub stream: Option<String>,
    pub seq: Option<u64>,
    pub duplicate: bool,
}
