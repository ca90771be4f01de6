//! The answers of the stream routes (`/api/streams…`), one type each,
//! which the API renders and the CLI reads back.

use serde::{Deserialize, Serialize};

use super::messages::rfc3339;
use crate::log::{StreamConfig, StreamInfo};

/// A stream: its configuration and what it holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stream {
    pub config: StreamConfig,
    pub created: Option<String>,
    pub state: Held,
}

/// What a stream holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Held {
    pub messages: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    pub num_subjects: u64,
    pub consumer_count: usize,
}

impl From<StreamInfo> for Stream {
    fn from(info: StreamInfo) -> Self {
        let s = &info.state;
        Stream {
            created: rfc3339(info.created_ns),
            state: Held {
                messages: s.messages,
                bytes: s.bytes,
                first_seq: s.first_seq,
                last_seq: s.last_seq,
                first_ts: rfc3339(s.first_ts),
                last_ts: rfc3339(s.last_ts),
                num_subjects: s.num_subjects,
                consumer_count: info.consumer_count,
            },
            config: info.config,
        }
    }
}

/// Every stream.
#[derive(Debug, Serialize, Deserialize)]
pub struct Streams {
    pub streams: Vec<Stream>,
}

/// A stream deleted.
#[derive(Debug, Serialize, Deserialize)]
pub struct StreamRemoved {
    pub success: bool,
    pub stream: String,
}

/// Messages purged from a stream.
#[derive(Debug, Serialize, Deserialize)]
pub struct Purged {
    pub success: bool,
    pub purged: u64,
}

/// `POST /api/streams/{name}/purge`: everything, or one subject's
/// messages, keeping the newest `keep`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<u64>,
}
