//! `GET /health`: liveness plus what an operator wants at a glance.

use axum::extract::State;
use axum::routing::get;
use axum::Json;

use super::openapi::{get_op, Routes};
use super::AppState;
use crate::api::project::Project;
use crate::log::SyncPolicy;
use crate::ops::health::{Health, Ready};

pub fn routes() -> Routes {
    Routes::new("server")
        .route(
            "/health",
            get(health),
            vec![get_op("Liveness: status, version, uptime, streams, store size, tasks by status, WebSocket counts")],
        )
        .route(
            "/ready",
            get(ready),
            vec![get_op("Readiness: 200 once the store is open and background jobs run")
                .answers(503, "starting or shutting down")],
        )
}

/// 200 once the store is open and background jobs run; 503 before that,
/// once shutdown has begun, and while a NATS backend is out of reach, so a
/// load balancer stops sending work.
async fn ready(State(state): State<AppState>) -> Result<Json<Ready>, super::ApiError> {
    if !state.ready.load(std::sync::atomic::Ordering::Acquire) {
        return Err(super::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "not ready: starting or shutting down",
        ));
    }
    // Cut off from its cluster, an instance can serve reads but no
    // claims: a load balancer should send work elsewhere meanwhile.
    if let Some(why) = state.streams.not_ready() {
        return Err(super::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}"),
        ));
    }
    Ok(Json(Ready {
        status: "ready".into(),
    }))
}

async fn health(State(state): State<AppState>, Project(coord): Project) -> Json<Health> {
    use std::sync::atomic::Ordering::Relaxed;
    let log = state.streams.log();
    let sync = match log.sync_policy() {
        SyncPolicy::Always => "always".to_string(),
        SyncPolicy::Interval(d) => {
            format!("interval ({})", crate::log::duration::format_duration(d))
        }
    };
    let config = coord.config();
    let (live_delivered, slow_consumers) = log.fanout_totals();
    Json(Health {
        status: "healthy".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_seconds: log.uptime().as_secs(),
        streams: log.stream_names().len(),
        store_bytes: log.size_on_disk(),
        format_version: crate::log::format_version(),
        sync,
        subscribers: log.subscriber_count(),
        ws_connections: state.ws_stats.connections.load(Relaxed),
        ws_tasks: state.ws_stats.tasks.load(Relaxed),
        ws_slow_consumers: state.ws_stats.slow_consumers.load(Relaxed),
        live_delivered,
        nats_connected: true,
        subject_prefix: config.prefix.clone(),
        agent_stale_after_seconds: config.agent_stale_after.as_secs_f64(),
        agent_dead_after_seconds: config.agent_dead_after.as_secs_f64(),
        broker: state.streams.broker(),
        backend: state.streams.kind().into(),
        reaper: if coord.stats.reaping.load(Relaxed) {
            "this instance"
        } else {
            "another instance"
        }
        .into(),
        tasks: coord.tasks().counts(),
        slow_consumers,
        state_records_skipped: coord.stats.skipped_records.load(Relaxed),
    })
}
