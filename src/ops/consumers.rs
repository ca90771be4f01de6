//! The answers of the consumer routes (`/api/streams/{name}/consumers…`),
//! one type each, which the API renders and the CLI reads back: a field
//! renamed here breaks the CLI at compile time, not at run time.

use serde::{Deserialize, Serialize};

use super::messages::{rfc3339, Shown};
use crate::log::{AckKind, ConsumerConfig, ConsumerInfo, SequenceInfo};

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

/// `GET …/consumers/{consumer}/next`: what one fetch delivered.
#[derive(Debug, Serialize, Deserialize)]
pub struct Fetched {
    pub stream: String,
    pub consumer: String,
    pub messages: Vec<FetchedMessage>,
}

/// A fetched message: the message, how often it has been delivered, and
/// its place in the consumer's order.
#[derive(Debug, Serialize, Deserialize)]
pub struct FetchedMessage {
    #[serde(flatten)]
    pub message: Shown,
    pub delivered: u64,
    pub consumer_seq: u64,
}

/// `POST …/consumers/{consumer}/ack`: exactly one of `seq`, `seqs` or
/// `up_to`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seqs: Option<Vec<u64>>,
    /// Every delivered message up to and including this sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_to: Option<u64>,
    #[serde(default)]
    pub kind: AckKind,
    /// For `nak`: wait this long before redelivering.
    #[serde(
        default,
        with = "crate::log::duration::serde_human_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub delay: Option<std::time::Duration>,
}

/// The answer to an ack: which form was taken shows in which fields are
/// there (`seq`; `done` and `not_pending`; `up_to` and `acked`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Acked {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<AckKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_pending: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_to: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked: Option<u64>,
}

impl Acked {
    /// A success with no form's fields yet.
    pub fn succeeded() -> Self {
        Acked {
            success: true,
            seq: None,
            kind: None,
            done: None,
            not_pending: None,
            up_to: None,
            acked: None,
        }
    }
}
