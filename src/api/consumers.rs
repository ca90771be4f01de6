//! `/api/streams/{name}/consumers`: durable and ephemeral pull consumers,
//! fetching with long polls, and acks.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;

use super::extract::{Json, Path, Query};
use super::openapi::{delete_op, get_op, post_op, Routes};
use super::{ApiError, AppState, MAX_FETCH_WAIT};
use crate::log::duration::parse_duration;
use crate::log::{AckKind, ConsumerConfig};
use crate::ops::consumers::{
    AckRequest, Acked, Consumer, ConsumerRemoved, Consumers, Fetched, FetchedMessage,
};
use crate::ops::messages::Shown;

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
                .query("batch", "at most this many (default 1, at most 10,000)")
                .query("expires", "wait up to this long for the first (default 0, at most 5m)")
                .query("no_wait", "true: answer at once with what is waiting, even if that is nothing (expires is ignored)")
                .answers(404, "no such consumer")],
        )
        .route(
            "/api/streams/{name}/consumers/{consumer}/ack",
            post(ack),
            vec![post_op("Acknowledge delivered messages: one, a list, or all up to a sequence")
                .body(r#"{"seqs":[1,2,3],"kind":"ack"}"#)
                .about("One of: {\"seq\": n} (404 if it is not awaiting an ack); {\"seqs\": [...]} (answers done and not_pending lists); {\"up_to\": n} (acks every delivered message up to n, like JetStream's AckAll; answers acked: count). kind: ack (done), nak (redeliver, after \"delay\"), wpi (still working: restart ack_wait), term (never redeliver); up_to takes ack only.")
                .answers(400, "none or more than one of seq, seqs, up_to")
                .answers(404, "that sequence is not awaiting an ack")],
        )
}

async fn create(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    Json(config): Json<ConsumerConfig>,
) -> Result<(StatusCode, axum::Json<Consumer>), ApiError> {
    let existing = state.streams.consumers(&stream).await?;
    let known = config
        .durable_name
        .as_ref()
        .is_some_and(|d| existing.iter().any(|c| &c.name == d));
    if !known {
        state.limits.new_consumer(existing.len())?;
    }
    let (info, created) = state.streams.create_consumer(&stream, config).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(info.into())))
}

async fn list(
    State(state): State<AppState>,
    Path(stream): Path<String>,
) -> Result<axum::Json<Consumers>, ApiError> {
    let consumers = state.streams.consumers(&stream).await?;
    Ok(axum::Json(Consumers {
        stream,
        consumers: consumers.into_iter().map(Consumer::from).collect(),
    }))
}

async fn info(
    State(state): State<AppState>,
    Path((stream, consumer)): Path<(String, String)>,
) -> Result<axum::Json<Consumer>, ApiError> {
    let info = state.streams.consumer_info(&stream, &consumer).await?;
    Ok(axum::Json(info.into()))
}

async fn remove(
    State(state): State<AppState>,
    Path((stream, consumer)): Path<(String, String)>,
) -> Result<axum::Json<ConsumerRemoved>, ApiError> {
    state.streams.delete_consumer(&stream, &consumer).await?;
    Ok(axum::Json(ConsumerRemoved {
        success: true,
        stream,
        consumer,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NextQuery {
    batch: Option<usize>,
    /// Seconds, or a duration like "500ms", "30s".
    expires: Option<String>,
    no_wait: Option<bool>,
}

async fn next(
    State(state): State<AppState>,
    Path((stream, consumer)): Path<(String, String)>,
    Query(q): Query<NextQuery>,
) -> Result<axum::Json<Fetched>, ApiError> {
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
    let expires = if q.no_wait == Some(true) {
        Duration::ZERO
    } else {
        expires
    };
    let delivered = state
        .streams
        .fetch(&stream, &consumer, batch, expires)
        .await?;
    let messages = delivered
        .iter()
        .map(|d| FetchedMessage {
            message: Shown::from(&d.message),
            delivered: d.delivered,
            consumer_seq: d.consumer_seq,
        })
        .collect();
    Ok(axum::Json(Fetched {
        stream,
        consumer,
        messages,
    }))
}

/// The most sequences one batch ack takes (as many as one fetch returns).
const MAX_ACK_BATCH: usize = crate::log::MAX_FETCH_BATCH;

async fn ack(
    State(state): State<AppState>,
    Path((stream, consumer)): Path<(String, String)>,
    Json(req): Json<AckRequest>,
) -> Result<axum::Json<Acked>, ApiError> {
    if req.delay.is_some() && req.kind != AckKind::Nak {
        return Err(ApiError::bad_request(
            "delay is only meaningful with kind \"nak\"",
        ));
    }
    let streams = &state.streams;
    match (req.seq, req.seqs, req.up_to) {
        (Some(seq), None, None) => {
            streams
                .ack(&stream, &consumer, seq, req.kind, req.delay)
                .await?;
            Ok(axum::Json(Acked {
                seq: Some(seq),
                kind: Some(req.kind),
                ..Acked::succeeded()
            }))
        }
        (None, Some(seqs), None) => {
            if seqs.len() > MAX_ACK_BATCH {
                return Err(ApiError::bad_request(format!(
                    "seqs may list at most {MAX_ACK_BATCH} sequences"
                )));
            }
            let outcome = streams
                .ack_many(&stream, &consumer, &seqs, req.kind, req.delay)
                .await?;
            Ok(axum::Json(Acked {
                kind: Some(req.kind),
                done: Some(outcome.done),
                not_pending: Some(outcome.not_pending),
                ..Acked::succeeded()
            }))
        }
        (None, None, Some(up_to)) => {
            if req.kind != AckKind::Ack {
                return Err(ApiError::bad_request(
                    "up_to acknowledges; nak, wpi and term take seq or seqs",
                ));
            }
            let acked = streams.ack_up_to(&stream, &consumer, up_to).await?;
            Ok(axum::Json(Acked {
                up_to: Some(up_to),
                acked: Some(acked as u64),
                ..Acked::succeeded()
            }))
        }
        _ => Err(ApiError::bad_request(
            "give exactly one of seq, seqs (a list) or up_to",
        )),
    }
}
