//! Live messages on the NATS backend: what a subscription follows (an
//! ordered consumer from stored to new messages) and the relay of
//! messages no stream keeps to the other instances' subscribers.

use async_nats::datetime::DateTime;
use async_nats::jetstream::consumer;
use futures_util::StreamExt;

use super::{delivered, unavailable, Result, LIVE_RELAY};
use crate::log::{subject, LogError, Message};
use crate::streams::JetStreamPort;

/// Messages as a subscription reads them: stored ones from where `from`
/// says, then each new one as it is stored.
pub type Follow = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Message>> + Send>>;

impl JetStreamPort {
    /// Passes a message no stream keeps to the other instances' live
    /// subscribers (this one has delivered it already). Not stored, so
    /// best effort, as core NATS is.
    pub fn relay_unstored(&self, subject: &str, payload: Vec<u8>) {
        let client = self.js.client();
        let subject = format!("{LIVE_RELAY}.{subject}");
        tokio::spawn(async move {
            if let Err(e) = client.publish(subject, payload.into()).await {
                tracing::debug!(error = %e, "live message not relayed to other instances");
            }
        });
    }

    /// The stream that stores `subject` (a pattern is fine) here, if any.
    pub fn stream_for(&self, subject: &str) -> Option<&'static str> {
        self.stream_name(subject).ok()
    }

    /// Follows `filter` from `from` on through an ordered consumer, which
    /// goes from history to new messages without a gap or a repeat.
    pub async fn follow(&self, filter: &str, from: crate::log::DeliverFrom) -> Result<Follow> {
        use crate::log::DeliverFrom;
        subject::validate_pattern(filter)?;
        let name = self.stream_name(filter)?;
        let s = self.js_stream(name).await?;
        let deliver_policy = match from {
            DeliverFrom::New => consumer::DeliverPolicy::New,
            DeliverFrom::All => consumer::DeliverPolicy::All,
            DeliverFrom::Last => consumer::DeliverPolicy::Last,
            DeliverFrom::LastPerSubject => consumer::DeliverPolicy::LastPerSubject,
            DeliverFrom::StartSeq(n) => consumer::DeliverPolicy::ByStartSequence {
                start_sequence: n.max(1),
            },
            DeliverFrom::StartTime(t) => consumer::DeliverPolicy::ByStartTime {
                start_time: DateTime::from_unix_timestamp_nanos(i128::from(
                    t.timestamp_nanos_opt().unwrap_or(0),
                ))
                .map_err(|e| LogError::InvalidConfig(format!("start_time: {e}")))?,
            },
        };
        let consumer = s
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: filter.to_string(),
                deliver_policy,
                metadata: crate::streams::jetstream::internal_consumer(),
                ..Default::default()
            })
            .await
            .map_err(unavailable)?;
        let messages = consumer.messages().await.map_err(unavailable)?;
        Ok(Box::pin(
            messages.map(move |m| delivered(&m.map_err(unavailable)?, name)),
        ))
    }
}
