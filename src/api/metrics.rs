//! `GET /metrics`: Prometheus text exposition (0.0.4), every metric
//! `hivelog_…`, encoded by `prometheus-client`. Everything is read from
//! counters the layers already keep, at scrape time (a `Collector`), so
//! no metric is updated on a hot path for the sake of metrics.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    prometheus_text, DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeMetric,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::AppState;
use crate::api::openapi::{get_op, Routes};

/// HTTP requests, counted by the middleware below.
#[derive(Debug, Default)]
pub struct HttpStats {
    in_flight: AtomicI64,
    /// Answers by status class: 1xx … 5xx.
    by_class: [AtomicU64; 5],
}

pub fn routes() -> Routes {
    Routes::new("server").route(
        "/metrics",
        get(metrics),
        vec![get_op(
            "Prometheus metrics (text format), every name starting hivelog_",
        )],
    )
}

/// Middleware: requests in flight and answers by status class.
pub async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    state.http.in_flight.fetch_add(1, Ordering::Relaxed);
    let resp = next.run(req).await;
    state.http.in_flight.fetch_sub(1, Ordering::Relaxed);
    let class = (resp.status().as_u16() / 100).clamp(1, 5) as usize - 1;
    state.http.by_class[class].fetch_add(1, Ordering::Relaxed);
    resp
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape(state)));
    let mut text = String::new();
    match prometheus_text::encode(&mut text, &registry) {
        Ok(()) => (
            [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not encode the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// One scrape: the server's counters, read as they are now.
struct Scrape(AppState);

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scrape")
    }
}

/// Writes metrics into a scrape. A counter's name is given without its
/// `_total`, which the encoder appends.
struct Out<'a>(DescriptorEncoder<'a>);

type Fmt = Result<(), std::fmt::Error>;

impl Out<'_> {
    fn counter<N: EncodeCounterValue>(&mut self, name: &str, help: &str, value: N) -> Fmt {
        let metric = ConstCounter::new(value);
        metric.encode(
            self.0
                .encode_descriptor(name, help, None, MetricType::Counter)?,
        )
    }

    fn gauge<N: EncodeGaugeValue>(&mut self, name: &str, help: &str, value: N) -> Fmt {
        let metric = ConstGauge::new(value);
        metric.encode(
            self.0
                .encode_descriptor(name, help, None, MetricType::Gauge)?,
        )
    }

    /// One metric with a value per label set.
    fn family<'l>(
        &mut self,
        name: &str,
        help: &str,
        kind: MetricType,
        values: impl IntoIterator<Item = (Vec<(&'l str, String)>, u64)>,
    ) -> Fmt {
        let mut family = self.0.encode_descriptor(name, help, None, kind)?;
        for (labels, value) in values {
            let metric = family.encode_family(&labels)?;
            match kind {
                MetricType::Counter => ConstCounter::new(value).encode(metric)?,
                _ => ConstGauge::new(value).encode(metric)?,
            }
        }
        Ok(())
    }
}

impl Collector for Scrape {
    fn encode(&self, encoder: DescriptorEncoder) -> Fmt {
        let mut o = Out(encoder);
        streams(&mut o, &self.0)?;
        log(&mut o, &self.0)?;
        surfaces(&mut o, &self.0)?;
        coordination(&mut o, &self.0)
    }
}

/// Each stream and consumer: what it holds, has taken in and handed out.
fn streams(o: &mut Out, state: &AppState) -> Fmt {
    let log = state.streams.log();
    let streams = log.streams();
    let per_stream = |f: fn(&crate::log::StreamInfo) -> u64| {
        streams
            .iter()
            .map(move |s| (vec![("stream", s.config.name.clone())], f(s)))
    };
    o.family(
        "hivelog_stream_messages_in",
        "Messages appended to each stream (its last sequence).",
        MetricType::Counter,
        per_stream(|s| s.state.last_seq),
    )?;
    o.family(
        "hivelog_stream_messages",
        "Messages stored in each stream.",
        MetricType::Gauge,
        per_stream(|s| s.state.messages),
    )?;
    o.family(
        "hivelog_stream_bytes",
        "Bytes stored in each stream.",
        MetricType::Gauge,
        per_stream(|s| s.state.bytes),
    )?;
    let consumers: Vec<_> = streams
        .iter()
        .flat_map(|s| log.consumers(&s.config.name).unwrap_or_default())
        .collect();
    let per_consumer = |f: fn(&crate::log::ConsumerInfo) -> u64| {
        consumers.iter().map(move |c| {
            let labels = vec![
                ("stream", c.stream_name.clone()),
                ("consumer", c.name.clone()),
            ];
            (labels, f(c))
        })
    };
    o.family(
        "hivelog_consumer_pending_messages",
        "Messages a consumer has not been given yet.",
        MetricType::Gauge,
        per_consumer(|c| c.num_pending),
    )?;
    o.family(
        "hivelog_consumer_ack_pending_messages",
        "Messages delivered to a consumer and not acknowledged.",
        MetricType::Gauge,
        per_consumer(|c| c.num_ack_pending),
    )?;
    o.family(
        "hivelog_consumer_delivered",
        "Deliveries from each stream through each consumer, redeliveries included (messages out per stream).",
        MetricType::Counter,
        per_consumer(|c| c.delivered.consumer_seq),
    )?;
    Ok(())
}

/// The log as a whole: messages in and out, the store, publish latency
/// and group commit.
fn log(o: &mut Out, state: &AppState) -> Fmt {
    let log = state.streams.log();
    o.counter(
        "hivelog_messages_published",
        "Messages published, stored or not.",
        log.published_total(),
    )?;
    let (delivered, slow) = log.fanout_totals();
    o.counter(
        "hivelog_messages_delivered",
        "Messages handed to live subscribers.",
        delivered,
    )?;
    o.counter(
        "hivelog_slow_subscribers",
        "Live subscribers cut off for being slow.",
        slow,
    )?;
    o.gauge(
        "hivelog_store_bytes",
        "Size of the data directory's store on disk.",
        log.size_on_disk(),
    )?;
    if let Some(free) = log.disk_free() {
        o.gauge(
            "hivelog_disk_free_bytes",
            "Free space on the data directory's disk (new messages are refused under --min-free-disk-mb).",
            free,
        )?;
    }
    let (buckets, count, sum) = log.publish_latency().snapshot();
    o.0.encode_descriptor(
        "hivelog_publish_duration_seconds",
        "Time to answer a stored publish (durable under --sync always).",
        None,
        MetricType::Histogram,
    )?
    .encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)?;

    let commit = log.commit_stats();
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    o.counter(
        "hivelog_fsyncs",
        "Flushes to disk made by group commit.",
        load(&commit.flushes),
    )?;
    o.counter(
        "hivelog_fsync_writes",
        "Writes answered after a group-commit flush (writes per fsync = this / fsyncs).",
        load(&commit.writes),
    )?;
    o.gauge(
        "hivelog_fsync_largest_batch",
        "The most writes one flush answered.",
        load(&commit.largest_batch),
    )?;
    o.counter(
        "hivelog_fsync_seconds",
        "Time spent in group-commit flushes.",
        load(&commit.flush_micros) as f64 / 1e6,
    )?;

    Ok(())
}

/// Connections and requests.
fn surfaces(o: &mut Out, state: &AppState) -> Fmt {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    o.gauge(
        "hivelog_ws_connections",
        "Open WebSocket connections.",
        state.ws_stats.connections.load(Ordering::Relaxed),
    )?;
    o.gauge(
        "hivelog_http_requests_in_flight",
        "HTTP requests being answered.",
        state.http.in_flight.load(Ordering::Relaxed),
    )?;
    o.family(
        "hivelog_http_responses",
        "HTTP answers by status class.",
        MetricType::Counter,
        state
            .http
            .by_class
            .iter()
            .enumerate()
            .map(|(i, c)| (vec![("class", format!("{}xx", i + 1))], load(c))),
    )?;

    Ok(())
}

/// Projects named on their own in `project` labels; the rest are summed
/// under `_other`, so a server with many projects keeps a bounded number
/// of series.
pub const LABELED_PROJECTS: usize = 32;

/// The `project` label of the `i`th project (by name, default first).
fn project_label(i: usize, name: &str) -> String {
    if i < LABELED_PROJECTS {
        name.to_string()
    } else {
        "_other".to_string()
    }
}

/// Tasks, agents and what the coordinators did (summed over projects).
fn coordination(o: &mut Out, state: &AppState) -> Fmt {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let projects = state.projects.list();
    let mut tasks: std::collections::BTreeMap<(String, &str), u64> = Default::default();
    let mut agents: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for (i, (info, coord)) in projects.iter().enumerate() {
        let label = project_label(i, &info.name);
        let counts = coord.tasks().counts();
        for (status, count) in [
            ("available", counts.available),
            ("claimed", counts.claimed),
            ("completed", counts.completed),
            ("failed", counts.failed),
        ] {
            *tasks.entry((label.clone(), status)).or_default() += count as u64;
        }
        for (health, count) in coord.agents().health_counts() {
            let word = serde_json::to_value(health)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            *agents.entry((label.clone(), word)).or_default() += count as u64;
        }
    }
    o.family(
        "hivelog_tasks",
        "Tasks by project and status.",
        MetricType::Gauge,
        tasks.into_iter().map(|((project, status), count)| {
            (
                vec![("project", project), ("status", status.to_string())],
                count,
            )
        }),
    )?;
    o.family(
        "hivelog_agents",
        "Agents by project and health.",
        MetricType::Gauge,
        agents.into_iter().map(|((project, health), count)| {
            (vec![("project", project), ("health", health)], count)
        }),
    )?;
    o.gauge(
        "hivelog_projects",
        "Projects this server serves (the default one included).",
        projects.len() as u64,
    )?;
    let sum = |f: fn(&crate::coord::CoordStats) -> &AtomicU64| -> u64 {
        projects.iter().map(|(_, c)| load(f(&c.stats))).sum()
    };
    o.counter(
        "hivelog_state_records_skipped",
        "Coordination state records that did not decode and were skipped (the previous good version stayed in force).",
        sum(|s| &s.skipped_records),
    )?;
    o.counter(
        "hivelog_claims_won",
        "Claims granted.",
        sum(|s| &s.claims_won),
    )?;
    o.counter(
        "hivelog_claims_lost",
        "Claims refused because the task was taken or not available.",
        sum(|s| &s.claims_lost),
    )?;
    o.counter(
        "hivelog_grants_given_back",
        "Grants undone, without spending an attempt, because their caller left before the answer.",
        sum(|s| &s.grants_given_back),
    )?;
    o.counter(
        "hivelog_leases_expired",
        "Claimed tasks returned because their lease expired.",
        sum(|s| &s.leases_expired),
    )?;
    o.counter(
        "hivelog_dead_agent_releases",
        "Claimed tasks returned because their agent stopped heartbeating.",
        sum(|s| &s.dead_agent_releases),
    )
}
