//! `GET /metrics`: Prometheus text exposition, every metric `hivelog_…`.
//! Everything is read from counters the layers already keep, at scrape time.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

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

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn line(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {value}");
        } else {
            let _ = writeln!(self.0, "{name}{{{}}} {value}", labels.join(","));
        }
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.head(name, kind, help);
        self.line(name, &[], value);
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut o = Out(String::new());
    let log = state.streams.log();
    let streams = log.streams();

    o.head(
        "hivelog_stream_messages_in_total",
        "counter",
        "Messages appended to each stream (its last sequence).",
    );
    for s in &streams {
        o.line(
            "hivelog_stream_messages_in_total",
            &[("stream", &s.config.name)],
            s.state.last_seq,
        );
    }
    o.head(
        "hivelog_stream_messages",
        "gauge",
        "Messages stored in each stream.",
    );
    for s in &streams {
        o.line(
            "hivelog_stream_messages",
            &[("stream", &s.config.name)],
            s.state.messages,
        );
    }
    o.head(
        "hivelog_stream_bytes",
        "gauge",
        "Bytes stored in each stream.",
    );
    for s in &streams {
        o.line(
            "hivelog_stream_bytes",
            &[("stream", &s.config.name)],
            s.state.bytes,
        );
    }
    o.head(
        "hivelog_consumer_pending_messages",
        "gauge",
        "Messages a consumer has not been given yet.",
    );
    let mut consumers = Vec::new();
    for s in &streams {
        for c in log.consumers(&s.config.name).unwrap_or_default() {
            consumers.push(c);
        }
    }
    for c in &consumers {
        o.line(
            "hivelog_consumer_pending_messages",
            &[("stream", &c.stream_name), ("consumer", &c.name)],
            c.num_pending,
        );
    }
    o.head(
        "hivelog_consumer_ack_pending_messages",
        "gauge",
        "Messages delivered to a consumer and not acknowledged.",
    );
    for c in &consumers {
        o.line(
            "hivelog_consumer_ack_pending_messages",
            &[("stream", &c.stream_name), ("consumer", &c.name)],
            c.num_ack_pending,
        );
    }
    o.head(
        "hivelog_consumer_delivered_total",
        "counter",
        "Deliveries from each stream through each consumer, redeliveries included (messages out per stream).",
    );
    for c in &consumers {
        o.line(
            "hivelog_consumer_delivered_total",
            &[("stream", &c.stream_name), ("consumer", &c.name)],
            c.delivered.consumer_seq,
        );
    }
    o.one(
        "hivelog_messages_published_total",
        "counter",
        "Messages published, stored or not.",
        log.published_total(),
    );
    let (delivered, slow) = log.fanout_totals();
    o.one(
        "hivelog_messages_delivered_total",
        "counter",
        "Messages handed to live subscribers.",
        delivered,
    );
    o.one(
        "hivelog_slow_subscribers_total",
        "counter",
        "Live subscribers cut off for being slow.",
        slow,
    );
    o.one(
        "hivelog_store_bytes",
        "gauge",
        "Size of the data directory's store on disk.",
        log.size_on_disk(),
    );
    if let Some(free) = log.disk_free() {
        o.one(
            "hivelog_disk_free_bytes",
            "gauge",
            "Free space on the data directory's disk (new messages are refused under --min-free-disk-mb).",
            free,
        );
    }

    let (buckets, count, sum) = log.publish_latency().snapshot();
    o.head(
        "hivelog_publish_duration_seconds",
        "histogram",
        "Time to answer a stored publish (durable under --sync always).",
    );
    for (le, n) in buckets {
        o.line(
            "hivelog_publish_duration_seconds_bucket",
            &[("le", &le.to_string())],
            n,
        );
    }
    o.line(
        "hivelog_publish_duration_seconds_bucket",
        &[("le", "+Inf")],
        count,
    );
    o.line("hivelog_publish_duration_seconds_sum", &[], sum);
    o.line("hivelog_publish_duration_seconds_count", &[], count);

    let commit = log.commit_stats();
    let flushes = commit.flushes.load(Ordering::Relaxed);
    o.one(
        "hivelog_fsyncs_total",
        "counter",
        "Flushes to disk made by group commit.",
        flushes,
    );
    o.one(
        "hivelog_fsync_writes_total",
        "counter",
        "Writes answered after a group-commit flush (writes per fsync = this / fsyncs).",
        commit.writes.load(Ordering::Relaxed),
    );
    o.one(
        "hivelog_fsync_largest_batch",
        "gauge",
        "The most writes one flush answered.",
        commit.largest_batch.load(Ordering::Relaxed),
    );
    o.one(
        "hivelog_fsync_seconds_total",
        "counter",
        "Time spent in group-commit flushes.",
        commit.flush_micros.load(Ordering::Relaxed) as f64 / 1e6,
    );

    o.one(
        "hivelog_ws_connections",
        "gauge",
        "Open WebSocket connections.",
        state.ws_stats.connections.load(Ordering::Relaxed),
    );
    o.one(
        "hivelog_http_requests_in_flight",
        "gauge",
        "HTTP requests being answered.",
        state.http.in_flight.load(Ordering::Relaxed),
    );
    o.head(
        "hivelog_http_responses_total",
        "counter",
        "HTTP answers by status class.",
    );
    for (i, n) in state.http.by_class.iter().enumerate() {
        o.line(
            "hivelog_http_responses_total",
            &[("class", &format!("{}xx", i + 1))],
            n.load(Ordering::Relaxed),
        );
    }

    o.head("hivelog_tasks", "gauge", "Tasks by status.");
    let counts = state.coord.task_counts();
    for (status, n) in [
        ("available", counts.available),
        ("claimed", counts.claimed),
        ("completed", counts.completed),
        ("failed", counts.failed),
    ] {
        o.line("hivelog_tasks", &[("status", status)], n);
    }
    o.head("hivelog_agents", "gauge", "Agents by health.");
    for (health, n) in state.coord.agent_health_counts() {
        let h = serde_json::to_value(health)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        o.line("hivelog_agents", &[("health", &h)], n);
    }
    let stats = &state.coord.stats;
    o.one(
        "hivelog_state_records_skipped_total",
        "counter",
        "Coordination state records that did not decode and were skipped (the previous good version stayed in force).",
        stats.skipped_records.load(Ordering::Relaxed),
    );
    o.one(
        "hivelog_claims_won_total",
        "counter",
        "Claims granted.",
        stats.claims_won.load(Ordering::Relaxed),
    );
    o.one(
        "hivelog_claims_lost_total",
        "counter",
        "Claims refused because the task was taken or not available.",
        stats.claims_lost.load(Ordering::Relaxed),
    );
    o.one(
        "hivelog_grants_given_back_total",
        "counter",
        "Grants undone, without spending an attempt, because their caller left before the answer.",
        stats.grants_given_back.load(Ordering::Relaxed),
    );
    o.one(
        "hivelog_leases_expired_total",
        "counter",
        "Claimed tasks returned because their lease expired.",
        stats.leases_expired.load(Ordering::Relaxed),
    );
    o.one(
        "hivelog_dead_agent_releases_total",
        "counter",
        "Claimed tasks returned because their agent stopped heartbeating.",
        stats.dead_agent_releases.load(Ordering::Relaxed),
    );

    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        o.0,
    )
        .into_response()
}
