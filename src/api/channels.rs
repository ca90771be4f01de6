//! `/api/messages`: messages on channels, as the replaced service served
//! them, plus `mention` filtering.

use axum::extract::State;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Json, Path, Query};
use super::openapi::{get_op, post_op, Routes};
use super::{ApiError, AppState};
use crate::coord::channels::MessageInput;

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 10_000;

pub fn routes() -> Routes {
    Routes::new("messages")
        .route(
            "/api/messages",
            post(post_message),
            vec![post_op("Post to a channel; @name mentions an agent")
                .body(r#"{"agent_id":"alice","channel":"coordination","content":"@bob the schema is ready"}"#)],
        )
        .route(
            "/api/messages/{channel}",
            get(list),
            vec![get_op("A channel's newest messages, oldest first")
                .query("limit", "how many (default 50)")
                .query("mention", "only messages mentioning this agent")],
        )
}

async fn post_message(
    State(state): State<AppState>,
    Json(input): Json<MessageInput>,
) -> Result<axum::Json<Value>, ApiError> {
    let m = state.coord.post_message(input).await?;
    Ok(axum::Json(json!({
        "success": true,
        "sequence": m.message_id,
        "stream": state.coord.config().history_stream,
        "timestamp": m.timestamp,
        "message": m,
    })))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<u64>,
    mention: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let limit = match q.limit {
        Some(0) => return Err(ApiError::bad_request("limit must be at least 1")),
        Some(n) => n.min(MAX_LIMIT as u64) as usize,
        None => DEFAULT_LIMIT,
    };
    let messages = state
        .coord
        .messages(&channel, limit, q.mention.as_deref())?;
    Ok(axum::Json(
        json!({ "channel": channel, "messages": messages, "count": messages.len() }),
    ))
}
