//! Reading and writing whole streams of a backend, message by message with
//! subjects, headers and times, for `hivelog migrate`. JetStream stamps its
//! own time on every message, so a copy into it carries the original time
//! in the `Hivelog-Time` header, and a copy out of it takes that time back.

use super::embedded::LogBackend;
use super::generic::StreamError;
use super::{Backend, JetStreamPort, PortError};
use crate::log::{Message, PublishOptions, ReadRange, StreamState};

/// The header that keeps a copied message's original time (nanoseconds
/// since the Unix epoch) in a store that stamps its own.
pub const TIME_HEADER: &str = "Hivelog-Time";

impl Backend {
    /// Up to `limit` messages of stream `name` from sequence `start` on.
    pub async fn read_stream(
        &self,
        name: &str,
        start: u64,
        limit: usize,
    ) -> Result<Vec<Message>, StreamError> {
        let range = ReadRange {
            start_seq: Some(start),
            start_time_ns: None,
            subject: None,
            limit,
        };
        match self {
            Backend::Embedded(p) => Ok(p.log().read_range(name, &range)?),
            Backend::JetStream(p) => {
                let mut messages = p.read_messages(name, &range, false).await?;
                for m in &mut messages {
                    if let Some(t) = m.headers.remove(TIME_HEADER) {
                        m.time_ns = t.parse().unwrap_or(m.time_ns);
                    }
                }
                Ok(messages)
            }
        }
    }

    /// Stores a copy of `m` on its subject; returns its sequence here.
    pub async fn copy_in(&self, m: &Message) -> Result<u64, StreamError> {
        match self {
            Backend::Embedded(p) => copy_into_log(p, m).await,
            Backend::JetStream(p) => copy_into_jetstream(p, m).await,
        }
    }

    pub async fn stream_state(&self, name: &str) -> Result<StreamState, StreamError> {
        match self {
            Backend::Embedded(p) => Ok(p.log().stream_info(name)?.state),
            Backend::JetStream(p) => Ok(p.stream_info(name).await?.state),
        }
    }
}

async fn copy_into_log(p: &LogBackend, m: &Message) -> Result<u64, StreamError> {
    let opts = PublishOptions {
        headers: m.headers.clone(),
        at_ns: Some(m.time_ns),
        ..Default::default()
    };
    let ack = p
        .writer()
        .publish(&m.subject, m.payload.clone(), opts)
        .await?;
    ack.seq.ok_or_else(|| {
        StreamError::Port(PortError::NotFound(format!(
            "no stream stores {}",
            m.subject
        )))
    })
}

async fn copy_into_jetstream(p: &JetStreamPort, m: &Message) -> Result<u64, StreamError> {
    use async_nats::jetstream::message::PublishMessage;
    // A subject neither stream stores would find no stream to answer.
    p.stream_name(&m.subject)?;
    let mut publish = PublishMessage::build().payload(m.payload.clone().into());
    for (k, v) in &m.headers {
        // JetStream acts on its own headers (a message id would be
        // de-duplicated against the copy's neighbours); they are history
        // here, not instructions.
        if !k.to_ascii_lowercase().starts_with("nats-") {
            publish = publish.header(k.as_str(), v.as_str());
        }
    }
    publish = publish.header(TIME_HEADER, m.time_ns.to_string().as_str());
    let ack =
        p.js.send_publish(m.subject.clone(), publish)
            .await
            .map_err(|e| PortError::Unavailable(format!("NATS JetStream: {e}")))?
            .await
            .map_err(|e| PortError::Unavailable(format!("NATS JetStream: {e}")))?;
    Ok(ack.sequence)
}
