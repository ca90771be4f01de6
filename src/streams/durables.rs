//! The durable consumers of the history stream, read from one backend
//! and created in another, for `hivelog migrate`.

use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;

use super::generic::{unavailable, StreamError};
use super::{Backend, HISTORY_STREAM};
use crate::log::{ConsumerConfig, DeliverPolicy};

/// A durable consumer of the history stream, as a copy needs it.
pub struct Durable {
    pub name: String,
    pub filters: Vec<String>,
    /// The newest sequence at or below which everything is acknowledged.
    pub floor: u64,
    pub ack_wait: Duration,
}

impl Backend {
    /// The durable consumers of the history stream.
    pub async fn durables(&self) -> Result<Vec<Durable>, StreamError> {
        let from = self;
        match from {
            Backend::Embedded(p) => Ok(p
                .log()
                .consumers(HISTORY_STREAM)?
                .into_iter()
                .filter(|c| c.durable)
                .map(|c| Durable {
                    filters: c
                        .config
                        .filter_subject
                        .clone()
                        .into_iter()
                        .chain(c.config.filter_subjects.clone())
                        .collect(),
                    floor: c.ack_floor.stream_seq,
                    ack_wait: c.config.ack_wait,
                    name: c.name,
                })
                .collect()),
            Backend::JetStream(p) => {
                let js = jetstream::new(p.client());
                let stream = js.get_stream(HISTORY_STREAM).await.map_err(unavailable)?;
                let mut infos = stream.consumers();
                let mut out = Vec::new();
                while let Some(info) = infos.next().await {
                    let info = info.map_err(unavailable)?;
                    let Some(name) = info.config.durable_name.clone() else {
                        continue;
                    };
                    let mut filters = info.config.filter_subjects.clone();
                    if !info.config.filter_subject.is_empty() {
                        filters.push(info.config.filter_subject.clone());
                    }
                    out.push(Durable {
                        name,
                        filters,
                        floor: info.ack_floor.stream_sequence,
                        ack_wait: info.config.ack_wait,
                    });
                }
                Ok(out)
            }
        }
    }

    /// Creates durable `d` on the history stream, starting at `start`.
    pub async fn create_durable(&self, d: &Durable, start: u64) -> Result<(), StreamError> {
        let to = self;
        match to {
            Backend::Embedded(p) => {
                let config = ConsumerConfig {
                    durable_name: Some(d.name.clone()),
                    filter_subjects: d.filters.clone(),
                    deliver_policy: DeliverPolicy::ByStartSequence,
                    opt_start_seq: Some(start),
                    ack_wait: d.ack_wait,
                    ..Default::default()
                };
                p.log().create_consumer(HISTORY_STREAM, config)?;
            }
            Backend::JetStream(p) => {
                let js = jetstream::new(p.client());
                let stream = js.get_stream(HISTORY_STREAM).await.map_err(unavailable)?;
                stream
                    .create_consumer(consumer::pull::Config {
                        durable_name: Some(d.name.clone()),
                        filter_subjects: d.filters.clone(),
                        deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                            start_sequence: start,
                        },
                        ack_policy: consumer::AckPolicy::Explicit,
                        ack_wait: d.ack_wait,
                        ..Default::default()
                    })
                    .await
                    .map_err(unavailable)?;
            }
        }
        Ok(())
    }
}
