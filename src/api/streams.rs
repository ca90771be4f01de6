//! `/api/streams`: create, inspect, update, delete and purge streams.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::Value;

use super::extract::{Json, OptionalJson, Path};
use super::openapi::{delete_op, get_op, post_op, put_op, Routes};
use super::{ApiError, AppState};
use crate::log::StreamConfig;
use crate::ops::streams::{PurgeRequest, Purged, Stream, StreamRemoved, Streams};

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

async fn list(State(state): State<AppState>) -> Result<axum::Json<Streams>, ApiError> {
    let streams = state.streams.streams().await?;
    Ok(axum::Json(Streams {
        streams: streams.into_iter().map(Stream::from).collect(),
    }))
}

async fn create(
    State(state): State<AppState>,
    Json(config): Json<StreamConfig>,
) -> Result<(StatusCode, axum::Json<Stream>), ApiError> {
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
    Ok((status, axum::Json(info.into())))
}

async fn info(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<axum::Json<Stream>, ApiError> {
    let info = state.streams.stream_info(&name).await?;
    Ok(axum::Json(info.into()))
}

async fn update(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(mut config): Json<Value>,
) -> Result<axum::Json<Stream>, ApiError> {
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
    Ok(axum::Json(state.streams.update_stream(config)?.into()))
}

async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<axum::Json<StreamRemoved>, ApiError> {
    state.streams.delete_stream(&name)?;
    Ok(axum::Json(StreamRemoved {
        success: true,
        stream: name,
    }))
}

async fn purge(
    State(state): State<AppState>,
    Path(name): Path<String>,
    OptionalJson(req): OptionalJson<PurgeRequest>,
) -> Result<axum::Json<Purged>, ApiError> {
    let purged = state
        .streams
        .purge(&name, req.subject.as_deref(), req.keep)
        .await?;
    Ok(axum::Json(Purged {
        success: true,
        purged,
    }))
}
