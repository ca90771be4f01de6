//! Publishing (`POST /api/pub/{subject}`) and reading stored messages.
//!
//! Publish headers, as in NATS: `Nats-Msg-Id`, `Nats-Expected-Stream`,
//! `Nats-Expected-Last-Sequence`, `Nats-Expected-Last-Subject-Sequence`.
//! Headers named `Hdr-<name>` are stored on the message as `<name>`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use serde::Deserialize;

use super::extract::{Body, Path, Query};
use super::openapi::{delete_op, get_op, post_op, Routes};
use super::render::parse_time;
use super::{ApiError, AppState};
use crate::log::{Headers, PubAck, PublishOptions, ReadRange};
use crate::ops::messages::{MessageRemoved, Shown, StreamMessages};

const USER_HEADER_PREFIX: &str = "hdr-";
const DEFAULT_LIMIT: usize = 100;

pub fn routes() -> Routes {
    Routes::new("log messages")
        .route(
            "/api/pub/{subject}",
            post(publish),
            vec![post_op("Publish the raw body; answered once it is on disk")
                .about("Answer: {\"stream\",\"seq\",\"duplicate\"}; stream and seq are null when no stream stores the subject (live subscribers still get it). Headers named Hdr-<name> are stored with the message.")
                .body("any bytes, e.g. {\"id\":1}")
                .header("Nats-Msg-Id", "de-duplication id within the stream's duplicate_window")
                .header("Nats-Expected-Stream", "refuse unless this stream stores the subject")
                .header("Nats-Expected-Last-Sequence", "refuse unless the stream's last sequence is this")
                .header("Nats-Expected-Last-Subject-Sequence", "refuse unless the subject's last sequence is this (0: none yet)")
                .answers(403, "the subject is stored by a system stream (hivelog.state.>)")
                .answers(409, "a failed expectation; the detail gives the actual sequence")
                .answers(413, "larger than the stream's max_msg_size")
                .answers(507, "the stream is full and discards new messages")],
        )
        .route(
            "/api/streams/{name}/messages",
            get(list),
            vec![get_op("Read stored messages")
                .query("subject", "only subjects matching this pattern")
                .query("start_seq", "from this sequence")
                .query("start_time", "from this time (ISO-8601; naive means UTC)")
                .query("limit", "at most this many (default 100, at most 10,000)")
                .query("last_per_subject", "true: the newest message of each subject")
                .answers(404, "no such stream")],
        )
        .route(
            "/api/streams/{name}/messages/{seq}",
            get(get_one).delete(delete_one),
            vec![
                get_op("One message by sequence").answers(404, "no such stream or message"),
                delete_op("Delete one message")
                    .answers(403, "a system stream (HIVELOG_STATE)")
                    .answers(404, "no such stream or message"),
            ],
        )
        .route(
            "/api/streams/{name}/last/{subject}",
            get(last),
            vec![get_op("The newest message on a subject").answers(404, "no message on that subject")],
        )
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| ApiError::bad_request(format!("header {name} is not valid text"))),
    }
}

fn header_seq(headers: &HeaderMap, name: &str) -> Result<Option<u64>, ApiError> {
    header_text(headers, name)?
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "header {name} must be a sequence number, not {v:?}"
                ))
            })
        })
        .transpose()
}

pub(super) fn publish_options(headers: &HeaderMap) -> Result<PublishOptions, ApiError> {
    let mut stored = Headers::new();
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix(USER_HEADER_PREFIX) {
            let value = value
                .to_str()
                .map_err(|_| ApiError::bad_request(format!("header {name} is not valid text")))?;
            stored.insert(key.to_string(), value.to_string());
        }
    }
    Ok(PublishOptions {
        headers: stored,
        msg_id: header_text(headers, "Nats-Msg-Id")?.map(str::to_string),
        expected_stream: header_text(headers, "Nats-Expected-Stream")?.map(str::to_string),
        expected_last_seq: header_seq(headers, "Nats-Expected-Last-Sequence")?,
        expected_last_subject_seq: header_seq(headers, "Nats-Expected-Last-Subject-Sequence")?,
        at_ns: None,
    })
}

async fn publish(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<axum::Json<PubAck>, ApiError> {
    let opts = publish_options(&headers)?;
    let ack = state.streams.publish(&subject, body.to_vec(), opts).await?;
    Ok(axum::Json(ack))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    subject: Option<String>,
    start_seq: Option<u64>,
    start_time: Option<String>,
    limit: Option<usize>,
    #[serde(default)]
    last_per_subject: bool,
}

async fn list(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<StreamMessages>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if q.last_per_subject && (q.start_seq.is_some() || q.start_time.is_some()) {
        return Err(ApiError::bad_request(
            "last_per_subject cannot be combined with start_seq or start_time",
        ));
    }
    let start_time_ns = match &q.start_time {
        Some(t) => Some(
            parse_time(t)?
                .timestamp_nanos_opt()
                .ok_or_else(|| ApiError::bad_request("start_time is out of range"))?,
        ),
        None => None,
    };
    let range = ReadRange {
        start_seq: q.start_seq,
        start_time_ns,
        subject: q.subject,
        limit,
    };
    let messages = state
        .streams
        .read(&name, &range, q.last_per_subject)
        .await?;
    Ok(axum::Json(StreamMessages {
        stream: name,
        messages: messages.iter().map(Shown::from).collect(),
    }))
}

async fn get_one(
    State(state): State<AppState>,
    Path((name, seq)): Path<(String, u64)>,
) -> Result<axum::Json<Shown>, ApiError> {
    let m = state.streams.get_message(&name, seq).await?;
    Ok(axum::Json(Shown::from(&m)))
}

async fn delete_one(
    State(state): State<AppState>,
    Path((name, seq)): Path<(String, u64)>,
) -> Result<axum::Json<MessageRemoved>, ApiError> {
    state.streams.delete_message(&name, seq).await?;
    Ok(axum::Json(MessageRemoved {
        success: true,
        stream: name,
        seq,
    }))
}

async fn last(
    State(state): State<AppState>,
    Path((name, subject)): Path<(String, String)>,
) -> Result<axum::Json<Shown>, ApiError> {
    let m = state.streams.last_message(&name, &subject).await?;
    Ok(axum::Json(Shown::from(&m)))
}
