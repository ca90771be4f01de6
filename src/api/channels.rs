//! `/api/messages`: messages on channels. The compatible routes take the
//! replaced service's four channels and answer bare arrays; `/api/v2`
//! takes any channel name and answers with a count.

use axum::extract::RawQuery;
use axum::routing::{get, post};

use super::extract::Path;
use super::openapi::{get_op, post_op, Routes};
use super::validation::{bad_path, Model, ModelBody, QueryParams};
use super::ApiError;
use crate::api::project::Project;
use crate::coord::channels::{ChannelMessage, MessageInput};
use crate::coord::Coordinator;
use crate::ops::messages::{MessageList, Posted};
use crate::streams::Backend;

const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 10_000;
/// The channels the replaced service knew; other names live under /api/v2.
pub const CHANNELS: [&str; 4] = ["tasks", "coordination", "errors", "status"];

pub fn routes() -> Routes {
    Routes::new("messages")
        .route(
            "/api/messages",
            post(post_message),
            vec![post_op("Post to a channel; @name mentions an agent")
                .about("channel is one of tasks, coordination, errors, status (other names: POST /api/v2/messages). A timestamp or message_id sent is kept and echoed.")
                .body(r#"{"agent_id":"alice","channel":"coordination","content":"@bob the schema is ready"}"#)
                .answers(422, "agent_id or content missing, or an unknown channel")],
        )
        .route(
            "/api/messages/{channel}",
            get(list),
            vec![get_op("A channel's newest messages, oldest first: a bare array")
                .query("limit", "how many (default 50)")
                .query("mention", "only messages mentioning this agent")
                .array()
                .answers(422, "unknown channel or bad limit")],
        )
        .route(
            "/api/v2/messages",
            post(post_message_v2),
            vec![post_op("Post to any channel (letters, digits, _ and -)")
                .body(r#"{"agent_id":"alice","channel":"roadmap","content":"v2 ships friday"}"#)
                .answers(422, "agent_id or content missing, or a bad channel name")],
        )
        .route(
            "/api/v2/messages/{channel}",
            get(list_v2),
            vec![get_op("Any channel's newest messages, oldest first: {\"channel\", \"messages\", \"count\"}")
                .query("limit", "how many (default 50)")
                .query("mention", "only messages mentioning this agent")],
        )
}

fn message_model(model: Model) -> Model {
    model.required_strings(&["agent_id"]).required(&["content"])
}

async fn store(
    coord: &Coordinator<Backend>,
    input: MessageInput,
) -> Result<axum::Json<Posted>, ApiError> {
    let m = coord.channels().post(input).await?;
    Ok(axum::Json(Posted {
        success: true,
        sequence: m.sequence,
        stream: coord.config().history_stream.clone(),
        timestamp: m.timestamp.clone(),
        message: m,
    }))
}

async fn post_message(
    Project(coord): Project,
    ModelBody(model): ModelBody,
) -> Result<axum::Json<Posted>, ApiError> {
    let input = message_model(model)
        .required_one_of("channel", &CHANNELS)
        .parse()?;
    store(&coord, input).await
}

async fn post_message_v2(
    Project(coord): Project,
    ModelBody(model): ModelBody,
) -> Result<axum::Json<Posted>, ApiError> {
    let input = message_model(model)
        .required_strings(&["channel"])
        .parse()?;
    store(&coord, input).await
}

/// A channel's newest messages; `messages_only` as the compatible route
/// reads them (see `coord.channels().messages`).
async fn read(
    coord: &Coordinator<Backend>,
    channel: &str,
    raw: Option<&str>,
    messages_only: bool,
) -> Result<Vec<ChannelMessage>, ApiError> {
    let q = QueryParams::parse(raw);
    let limit = q
        .positive_int("limit")?
        .unwrap_or(DEFAULT_LIMIT)
        .min(MAX_LIMIT) as usize;
    Ok(coord
        .channels()
        .messages(channel, limit, q.get("mention"), messages_only)
        .await?)
}

async fn list(
    Project(coord): Project,
    Path(channel): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<Vec<ChannelMessage>>, ApiError> {
    if !CHANNELS.contains(&channel.as_str()) {
        return Err(bad_path("channel", &CHANNELS, &channel));
    }
    // Old clients parse every item as a message (agent_id, content, …):
    // the task versions on `tasks` are not shown to them, as the replaced
    // service did not.
    Ok(axum::Json(
        read(&coord, &channel, raw.as_deref(), true).await?,
    ))
}

async fn list_v2(
    Project(coord): Project,
    Path(channel): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<MessageList>, ApiError> {
    let messages = read(&coord, &channel, raw.as_deref(), false).await?;
    Ok(axum::Json(MessageList {
        channel,
        count: messages.len(),
        messages,
    }))
}
