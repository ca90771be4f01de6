//! The answers of the consumer routes (`/api/streams/{name}/consumers…`),
//! one type each, which the API renders and the CLI reads back: a field
//! renamed here breaks the CLI at compile time, not at run time.

use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};

use crate::log::{ConsumerConfig, ConsumerInfo, SequenceInfo};

/// A time in nanoseconds since the epoch as RFC 3339 (null when unknown).
pub fn rfc3339(ns: i64) -> Option<String> {
    (ns != 0)
        .then(|| DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Nanos, true))
}

/// A consumer: its configuration and position.
#[derive(Debug, Serialize, Deserialize)]
pub struct Consumer {
    pub stream_name: String,
    pub name: String,
    pub durable: bool,
    pub config: ConsumerConfig,
    pub created: Option<String>,
    pub delivered: SequenceInfo,
    pub ack_floor: SequenceInfo,
    pub num_ack_pending: u64,
    pub num_redelivered: u64,
    pub num_pending: u64,
}

impl From<ConsumerInfo> for Consumer {
    fn from(info: ConsumerInfo) -> Self {
        Consumer {
            created: rfc3339(info.created_ns),
            stream_name: info.stream_name,
            name: info.name,
            durable: info.durable,
            config: info.config,
            delivered: info.delivered,
            ack_floor: info.ack_floor,
            num_ack_pending: info.num_ack_pending,
            num_redelivered: info.num_redelivered,
            num_pending: info.num_pending,
        }
    }
}

/// A stream's consumers.
#[derive(Debug, Serialize, Deserialize)]
pub struct Consumers {
    pub stream: String,
    pub consumers: Vec<Consumer>,
}

/// A consumer deleted.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConsumerRemoved {
    pub success: bool,
    pub stream: String,
    pub consumer: String,
}
