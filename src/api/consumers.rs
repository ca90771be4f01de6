//! `/api/streams/{name}/consumers`: durable and ephemeral pull consumers,
//! fetching with long polls, and acks.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Json, Path, Query};
use super::openapi::{delete_op, get_op, post_op, Routes};
use super::render::{message, time};
use super::{ApiError, AppState, MAX_FETCH_WAIT};
use crate::log::duration::{parse_duration, serde_human_opt};
use crate::log::{AckKind, ConsumerConfig, ConsumerInfo};

pub fn routes() -> Routes {
    Routes::new("consumers")
        .route(
            "/api/streams/{name}/consumers",
            get(list).post(create),
            vec![
                get_op("A stream's consumers with what is pending").answers(404, "no such stream"),
                post_op("Create a pull consumer (durable when durable_name is given; idempotent)")
                    .about("deliver_policy: all, last, new, by_start_sequence (+opt_start_seq), by_start_time (+opt_start_time), last_per_subject. ack_policy: explicit, none, all.")
                    .body(r#"{"durable_name":"billing","filter_subject":"orders.>","ack_wait":"30s","max_deliver":5}"#)
                    .answers(201, "created")
                    .answers(409, "exists with another configuration"),
            ],
        )
        .route(
            "/api/streams/{name}/consumers/{consumer}",
            get(info).delete(remove),
            vec![
                get_op("A consumer's configuration and position").answers(404, "no such consumer"),
                delete_op("Delete a consumer").answers(404, "no such consumer"),
            ],
        )
        .route(
            "/api/streams/{name}/consumers/{consumer}/next",
            post(next),
            vec![post_op("Fetch messages (long poll)")
                .query("batch", "at most this many (default 1)")
                .query("expires", "wait up to this long for the first (default 0, at most 5m)")
                .answers(404, "no such consumer")],
        )
        .route(
            "/api/streams/{name}/consumers/{consumer}/ack",
            post(ack),
            vec![post_op("Acknowledge one delivered message")
                .body(r#"{"seq":1,"kind":"ack"}"#)
                .about("kind: ack (done), nak (redeliver, after \"delay\"), wpi (still working: restart ack_wait), term (never redeliver).")
                .answers(404, "that sequence is not awaiting an ack")],
        )
}

fn render(info: &ConsumerInfo) -> Value {
    json!({
        "stream_name": info.stream_name,
        "name": info.name,
        "durable": info.durable,
        "config": info.config,
        "created": time(info.created_ns),
        "delivered": info.delivered,
        "ack_floor": info.ack_floor,
        "num_ack_pending": info.num_ack_pending,
        "num_redelivered": info.num_redelivered,
        "num_pending": info.num_pending,
    })
}

async fn create(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    Json(config): Json<ConsumerConfig>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let (info, created) = state.log.create_consumer(&stream, config)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(render(&info))))
}

async fn list(
    State(state): State<AppState>,
    Path(stream): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let consumers: Vec<Value> = state.log.consumers(&stream)?.iter().map(render).collect();
    Ok(axum::Json(
        json!({ "stream": stream, "consumers": consumers }),
    ))
}

async fn info(
    State(state): State<AppState>,
    Path((stream, consumer)): Path<(String, String)>,
) -> Result<axum::Json<Value>, ApiError> {
    Ok(axum::Json(render(
        &state.log.consumer_info(&stream, &consumer)?,
    )))
}

async fn remove(
    State(state): State<AppState>,
    Path((stream, consumer)): Path<(String, String)>,
) -> Result<axum::Json<Value>, ApiError> {
    state.log.delete_consumer(&stream, &consumer)?;
    Ok(axum::Json(
        json!({ "success": true, "stream": stream, "consumer": consumer }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NextQuery {
    batch: Option<usize>,
    /// Seconds, or a duration like "500ms", "30s".
    expires: Option<String>,
}

async fn next(
    State(state): State<AppState>,
    Path((stream, consumer)): Path<(String, String)>,
    Query(q): Query<NextQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let batch = q.batch.unwrap_or(1);
    if batch == 0 {
        return Err(ApiError::bad_request("batch must be at least 1"));
    }
    let expires = match q.expires.as_deref() {
        Some(text) => {
            parse_duration(text).map_err(|e| ApiError::bad_request(format!("expires: {e}")))?
        }
        None => Duration::ZERO,
    };
    if expires > MAX_FETCH_WAIT {
        return Err(ApiError::bad_request(format!(
            "expires may be at most {}s",
            MAX_FETCH_WAIT.as_secs()
        )));
    }
    let delivered = state.log.fetch(&stream, &consumer, batch, expires).await?;
    let messages: Vec<Value> = delivered
        .iter()
        .map(|d| {
            let mut m = message(&d.message);
            m.insert("delivered".into(), json!(d.delivered));
            m.insert("consumer_seq".into(), json!(d.consumer_seq));
            Value::Object(m)
        })
        .collect();
    Ok(axum::Json(
        json!({ "stream": stream, "consumer": consumer, "messages": messages }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckRequest {
    seq: u64,
    #[serde(default = "default_kind")]
    kind: AckKind,
    /// For `nak`: wait this long before redelivering.
    #[serde(default, with = "serde_human_opt")]
    delay: Option<Duration>,
}

fn default_kind() -> AckKind {
    AckKind::Ack
}

async fn ack(
    State(state): State<AppState>,
    Path((stream, consumer)): Path<(String, String)>,
    Json(req): Json<AckRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    if req.delay.is_some() && req.kind != AckKind::Nak {
        return Err(ApiError::bad_request(
            "delay is only meaningful with kind \"nak\"",
        ));
    }
    state
        .log
        .ack(&stream, &consumer, req.seq, req.kind, req.delay)?;
    Ok(axum::Json(
        json!({ "success": true, "seq": req.seq, "kind": req.kind }),
    ))
}
