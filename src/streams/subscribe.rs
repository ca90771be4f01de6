//! Subscriptions, whatever the store: a live one (stored messages from
//! where it asks, then each new one) is a stream of messages; a durable
//! one is a consumer, read with `fetch_until` and settled with `ack`.
//! Where each runs is decided here: on the NATS backend the streams kept
//! in JetStream are read there (an ordered consumer for a live
//! subscription with history), everything else from the embedded log,
//! whose live feed every instance has (the relay fills it).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use super::generic::{Follow, StreamError};
use super::{JetStreamPort, Streams};
use crate::log::{
    DeliverFrom, Delivered, LogError, Message, Replay, ReplayEnded, SubscriptionEnded,
};

/// Why a subscription stopped delivering.
#[derive(Debug)]
pub enum Ended {
    /// Its reader fell too far behind the live feed; it was cut off.
    SlowConsumer,
    /// The feed closed (the server is stopping).
    Closed,
    /// Storage failed or refused; the reason, for the client.
    Failed(String),
}

/// Stored messages from where it was asked, then each new one.
pub struct Subscription(Inner);

enum Inner {
    Local(Replay),
    /// JetStream's ordered consumer, made on the first `next`.
    Nats {
        port: JetStreamPort,
        filter: String,
        from: DeliverFrom,
        follow: Option<Follow>,
    },
}

impl Subscription {
    /// The next message; an error ends the subscription.
    pub async fn next(&mut self) -> Result<Arc<Message>, Ended> {
        match &mut self.0 {
            Inner::Local(replay) => replay.next().await.map_err(|e| match e {
                ReplayEnded::Live(SubscriptionEnded::SlowConsumer) => Ended::SlowConsumer,
                ReplayEnded::Live(SubscriptionEnded::Closed) => Ended::Closed,
                ReplayEnded::Log(e) => Ended::Failed(e.to_string()),
            }),
            Inner::Nats {
                port,
                filter,
                from,
                follow,
            } => {
                if follow.is_none() {
                    let made = port.follow(filter, from.clone()).await;
                    *follow = Some(made.map_err(|e| Ended::Failed(e.to_string()))?);
                }
                match follow.as_mut().map(|f| f.next()) {
                    Some(next) => match next.await {
                        Some(Ok(m)) => Ok(Arc::new(m)),
                        Some(Err(e)) => Err(Ended::Failed(e.to_string())),
                        None => Err(Ended::Closed),
                    },
                    None => Err(Ended::Closed),
                }
            }
        }
    }

    /// Whether what comes next is live (a full queue then cuts the reader
    /// off) rather than stored (the reader paces it).
    pub fn is_live(&self) -> bool {
        match &self.0 {
            Inner::Local(replay) => replay.is_live(),
            // An ordered consumer is paced by its reader throughout.
            Inner::Nats { .. } => false,
        }
    }
}

impl Streams {
    /// Subscribes to `filter` from `from`. Made at once: with
    /// `DeliverFrom::New` it sees every message published after this
    /// returns.
    pub fn subscribe(&self, filter: &str, from: DeliverFrom) -> Result<Subscription, StreamError> {
        if let Some(port) = self.nats() {
            // New messages only come through the relay every instance
            // has; history of a stream JetStream keeps comes from there.
            if port.stream_for(filter).is_some() && from != DeliverFrom::New {
                crate::log::subject::validate_pattern(filter)?;
                return Ok(Subscription(Inner::Nats {
                    port: port.clone(),
                    filter: filter.to_string(),
                    from,
                    follow: None,
                }));
            }
        }
        Ok(Subscription(Inner::Local(
            self.log().subscribe_from(filter, from)?,
        )))
    }

    /// The one stream a durable subscription on `filter` reads.
    pub fn stream_for_durable(&self, filter: &str) -> Result<String, String> {
        if let Some(stream) = self.nats().and_then(|p| p.stream_for(filter)) {
            return Ok(stream.to_string());
        }
        let streams = self.log().streams_overlapping(filter);
        match streams.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(format!(
                "no stream stores {filter:?}; a durable subscription needs one"
            )),
            _ => Err(format!(
                "{filter:?} spans streams {streams:?}; a durable subscription reads one"
            )),
        }
    }

    /// As `fetch`, but the wait for a first message ends early when `stop`
    /// resolves: then only what already arrived is taken.
    pub async fn fetch_until(
        &self,
        stream: &str,
        consumer: &str,
        batch: usize,
        expires: Duration,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<Vec<Delivered>, StreamError> {
        match self.nats_stream(stream) {
            Some(n) => n.fetch_until(stream, consumer, batch, expires, stop).await,
            None => {
                // The log's fetch takes messages only as it returns, so
                // dropping it while it waits loses nothing.
                tokio::select! {
                    got = self.log().fetch(stream, consumer, batch, expires) => Ok(got?),
                    () = stop => Ok(Vec::new()),
                }
            }
        }
    }
}

/// Whether the consumer does not exist (so a durable subscription makes it).
pub fn consumer_missing(e: &StreamError) -> bool {
    matches!(e, StreamError::Log(LogError::ConsumerNotFound { .. }))
}
