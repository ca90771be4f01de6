//! The durable consumers of the history stream, for `hivelog migrate`:
//! each is created in the target under its name and filters, starting
//! right after the copy of the last message it had acknowledged, so its
//! reader neither misses nor re-reads what it had finished. (Deliveries
//! not yet acknowledged come again, as after an ack wait.)

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use serde_json::json;

use super::migrate::SeqMap;
use crate::streams::{Backend, HISTORY_STREAM};

struct Durable {
    name: String,
    filters: Vec<String>,
    /// The newest sequence at or below which everything is acknowledged.
    floor: u64,
    ack_wait: Duration,
}

/// Copies every durable consumer of the history stream; returns their names.
pub async fn copy(from: &Backend, to: &Backend, map: &SeqMap) -> anyhow::Result<Vec<String>> {
    let durables = read(from).await?;
    let mut names = Vec::new();
    for d in durables {
        let start = map.at_or_before(d.floor) + 1;
        create(to, &d, start)
            .await
            .with_context(|| format!("cannot create consumer {}", d.name))?;
        names.push(d.name);
    }
    Ok(names)
}

async fn read(from: &Backend) -> anyhow::Result<Vec<Durable>> {
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
            let stream = js.get_stream(HISTORY_STREAM).await?;
            let mut infos = stream.consumers();
            let mut out = Vec::new();
            while let Some(info) = infos.next().await {
                let info = info?;
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

async fn create(to: &Backend, d: &Durable, start: u64) -> anyhow::Result<()> {
    match to {
        Backend::Embedded(p) => {
            let config = serde_json::from_value(json!({
                "durable_name": d.name,
                "filter_subjects": d.filters,
                "deliver_policy": "by_start_sequence",
                "opt_start_seq": start,
                "ack_wait": d.ack_wait.as_secs_f64(),
            }))?;
            p.log().create_consumer(HISTORY_STREAM, config)?;
        }
        Backend::JetStream(p) => {
            let js = jetstream::new(p.client());
            let stream = js.get_stream(HISTORY_STREAM).await?;
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
                .await?;
        }
    }
    Ok(())
}
