//! `/api/streams`: create, inspect, update, delete and purge streams.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Json, OptionalJson, Path};
use super::openapi::{delete_op, get_op, post_op, put_op, Routes};
use super::render::time;
use super::{ApiError, AppState};
use crate::log::{StreamConfig, StreamInfo};

pub fn routes() -> Routes {
    Routes::new("streams")
        .route(
            "/api/streams",
            get(list).post(create),
            vec![
                get_op("List streams with their configuration and state"),
                post_op("Create a stream")
                    .about("Durations are seconds or \"90s\"/\"2h\"/\"7d\"; absent limits mean no limit. Creating a stream that exists with the same configuration is a no-op (200).")
                    .body(r#"{"name":"ORDERS","subjects":["orders.>"],"max_age":"1d","max_msgs_per_subject":100,"discard":"old","duplicate_window":"2m"}"#)
                    .answers(201, "created")
                    .answers(409, "exists with another configuration, or its subjects overlap another stream's"),
            ],
        )
        .route(
            "/api/streams/{name}",
            get(info).put(update).delete(remove),
            vec![
                get_op("A stream's configuration and state").answers(404, "no such stream"),
                put_op("Change a stream's subjects and limits (messages beyond new limits are removed at once)")
                    .body(r#"{"subjects":["orders.>"],"max_msgs":1000}"#)
                    .answers(403, "HIVELOG_STATE (a system stream), or MJ_ONLINE_WORK without the subjects coordination writes to")
                    .answers(404, "no such stream"),
                delete_op("Delete a stream and its messages")
                    .answers(403, "HIVELOG_STATE (a system stream) or MJ_ONLINE_WORK (coordination runs on it)")
                    .answers(404, "no such stream"),
            ],
        )
        .route(
            "/api/streams/{name}/purge",
            post(purge),
            vec![post_op("Delete messages: all, or on a subject, optionally keeping the newest N")
                .body(r#"{"subject":"orders.eu","keep":1}"#)
                .answers(403, "a system stream (HIVELOG_STATE)")
                .answers(404, "no such stream")],
        )
}

pub fn render(info: &StreamInfo) -> Value {
    let s = &info.state;
    json!({
        "config": info.config,
        "created": time(info.created_ns),
        "state": {
            "messages": s.messages,
            "bytes": s.bytes,
            "first_seq": s.first_seq,
            "last_seq": s.last_seq,
            "first_ts": time(s.first_ts),
            "last_ts": time(s.last_ts),
            "num_subjects": s.num_subjects,
            "consumer_count": info.consumer_count,
        }
    })
}

async fn list(State(state): State<AppState>) -> Result<axum::Json<Value>, ApiError> {
    let streams: Vec<Value> = state.streams.streams().await?.iter().map(render).collect();
    Ok(axum::Json(json!({ "streams": streams })))
}

async fn create(
    State(state): State<AppState>,
    Json(config): Json<StreamConfig>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let names = state.streams.stream_names();
    if !names.contains(&config.name) {
        state.limits.new_stream(names.len())?;
    }
    let (info, created) = state.streams.create_stream(config)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(render(&info))))
}

async fn info(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let info = state.streams.stream_info(&name).await?;
    Ok(axum::Json(render(&info)))
}

async fn update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(mut config): Json<Value>,
) -> Result<axum::Json<Value>, ApiError> {
    // The name comes from the path; a body that names another stream is a
    // mistake worth reporting rather than guessing.
    if let Some(obj) = config.as_object_mut() {
        match obj.get("name") {
            Some(Value::String(n)) if *n != name => {
                return Err(ApiError::bad_request(format!(
                "body names stream {n:?} but the path names {name:?}; a stream cannot be renamed"
            )))
            }
            _ => {
                obj.insert("name".into(), Value::String(name.clone()));
            }
        }
    }
    let config: StreamConfig = serde_json::from_value(config)?;
    Ok(axum::Json(render(&state.streams.update_stream(config)?)))
}

async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    state.streams.delete_stream(&name)?;
    Ok(axum::Json(json!({ "success": true, "stream": name })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeRequest {
    subject: Option<String>,
    keep: Option<u64>,
}

async fn purge(
    State(state): State<AppState>,
    Path(name): Path<String>,
    OptionalJson(req): OptionalJson<PurgeRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let purged = state
        .streams
        .purge(&name, req.subject.as_deref(), req.keep)
        .await?;
    Ok(axum::Json(json!({ "success": true, "purged": purged })))
}
