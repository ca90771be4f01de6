//! `/api/tasks`: the replaced service's task API, unchanged for old
//! clients, plus claim-next, progress, release, cancel and history.
//!
//! Claims answer 404 "Task not found or already claimed" when the task is
//! not available, as old clients expect; a client that sends
//! `X-Hivelog-Precise-Status: true` gets 409 for "exists but not available".

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Json, OptionalJson, Path, Query};
use super::openapi::{get_op, post_op, Routes};
use super::{ApiError, AppState, MAX_FETCH_WAIT};
use crate::coord::task::{TaskInput, TaskStatus};
use crate::coord::tasks::Written;
use crate::coord::CoordError;
use crate::log::duration::parse_duration;

const DEFAULT_LIMIT: usize = 100;
/// `limit` is clamped here rather than refused: old clients send anything.
const MAX_LIMIT: usize = 100_000;
pub const PRECISE_HEADER: &str = "x-hivelog-precise-status";

pub fn routes() -> Routes {
    Routes::new("tasks")
        .route(
            "/api/tasks",
            get(list).post(create),
            vec![
                get_op("Tasks, newest first: {\"tasks\":[...],\"count\"}")
                    .query("status", "available, claimed, completed or failed")
                    .query("limit", "default 100; larger values are clamped at 100,000"),
                post_op("Create or update a task")
                    .about("Extra fields are kept. Re-posting updates title, description, priority, dependencies and capabilities; a task an agent holds is never changed this way (409). A dependency cycle is refused (400).")
                    .body(r#"{"task_id":"task-7","title":"Write page","description":"","priority":"high","blocked_by":["task-6"],"capabilities":["docs"]}"#)
                    .answers(409, "an agent holds the task"),
            ],
        )
        .route(
            "/api/tasks/available",
            get(available),
            vec![get_op("Claimable tasks in claim order (priority high to low, then oldest)")
                .query("limit", "default 100")],
        )
        .route(
            "/api/tasks/claim-next",
            post(claim_next),
            vec![post_op("Claim the first task this agent can do")
                .about("Capabilities default to those the agent registered. 204 when none within wait.")
                .query("wait", "long poll up to this long (default 0, at most 5m)")
                .body(r#"{"agent_id":"alice","capabilities":["docs"]}"#)
                .answers(204, "no task for this agent")],
        )
        .route(
            "/api/tasks/{task_id}",
            get(show),
            vec![get_op("One task, with its status, owner and lease").answers(404, "Task not found")],
        )
        .route(
            "/api/tasks/{task_id}/claim",
            post(claim),
            vec![post_op("Claim a task; of concurrent claimers exactly one wins")
                .body(r#"{"agent_id":"alice"}"#)
                .header("X-Hivelog-Precise-Status", "true: 409 instead of 404 when the task exists but is not available")
                .answers(400, "no agent_id, or blocked by unfinished dependencies")
                .answers(404, "Task not found or already claimed")
                .answers(409, "exists but not available (with X-Hivelog-Precise-Status)")],
        )
        .route(
            "/api/tasks/{task_id}/complete",
            post(complete),
            vec![post_op("Finish a claimed task (success false: failed)")
                .body(r#"{"agent_id":"alice","success":true,"result":{"pages":3},"error":null}"#)
                .answers(403, "another agent holds it")
                .answers(404, "not claimed")],
        )
        .route(
            "/api/tasks/{task_id}/release",
            post(release),
            vec![post_op("Give a claimed task back (not counted as an attempt)")
                .body(r#"{"agent_id":"alice","reason":"out of time"}"#)
                .answers(403, "another agent holds it")],
        )
        .route(
            "/api/tasks/{task_id}/cancel",
            post(cancel),
            vec![post_op("Cancel an unfinished task (status failed, cancelled true)")
                .body(r#"{"agent_id":"alice","reason":"not needed"}"#)
                .answers(409, "already finished")],
        )
        .route(
            "/api/tasks/{task_id}/progress",
            post(progress),
            vec![post_op("Record progress and renew the lease")
                .body(r#"{"agent_id":"alice","note":"half way","percent":50}"#)
                .answers(403, "another agent holds it")],
        )
        .route(
            "/api/tasks/{task_id}/history",
            get(history),
            vec![get_op("Every stored version of a task, oldest first").answers(404, "Task not found")],
        )
}

/// Any positive `limit`; absurdly large ones are clamped, not refused.
fn parse_limit(raw: Option<&str>) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    let raw = raw.trim();
    if raw.is_empty() || !raw.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::bad_request(format!(
            "limit must be a positive whole number, not {raw:?}"
        )));
    }
    let n = raw
        .parse::<u128>()
        .map_or(MAX_LIMIT, |n| n.min(MAX_LIMIT as u128) as usize);
    if n == 0 {
        return Err(ApiError::bad_request("limit must be at least 1"));
    }
    Ok(n)
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            serde_json::from_value::<TaskStatus>(Value::String(s.to_lowercase())).map_err(
                |_| {
                    ApiError::bad_request(format!(
                        "status must be available, claimed, completed or failed, not {s:?}"
                    ))
                },
            )?,
        ),
    };
    let tasks = state
        .coord
        .list_tasks(status, parse_limit(q.limit.as_deref())?);
    Ok(axum::Json(json!({ "tasks": tasks, "count": tasks.len() })))
}

#[derive(Debug, Deserialize)]
struct LimitQuery {
    limit: Option<String>,
}

async fn available(
    State(state): State<AppState>,
    Query(q): Query<LimitQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let tasks = state
        .coord
        .available_tasks(parse_limit(q.limit.as_deref())?);
    Ok(axum::Json(json!({ "tasks": tasks, "count": tasks.len() })))
}

async fn create(
    State(state): State<AppState>,
    Json(input): Json<TaskInput>,
) -> Result<axum::Json<Value>, ApiError> {
    let w = state.coord.post_task(input).await?;
    Ok(axum::Json(json!({
        "success": true,
        "task_id": w.task.task_id,
        "sequence": w.history_seq,
        "stream": state.coord.config().history_stream,
        "timestamp": w.at,
        "task": w.task,
    })))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    Ok(axum::Json(json!(state.coord.get_task(&id)?)))
}

/// `{"agent_id": ...}` bodies; a missing or null id is a 400, as before.
#[derive(Debug, Default, Deserialize)]
struct AgentBody {
    agent_id: Option<String>,
    #[serde(default)]
    capabilities: Option<Vec<String>>,
    #[serde(default)]
    reason: Option<String>,
}

fn answer(w: Written, agent: &str) -> axum::Json<Value> {
    axum::Json(
        json!({ "success": true, "task_id": w.task.task_id, "agent_id": agent, "task": w.task }),
    )
}

fn precise(headers: &HeaderMap, e: CoordError) -> ApiError {
    let wants = headers
        .get(PRECISE_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    match e {
        CoordError::NotClaimable { status: Some(s) } if wants => {
            ApiError::new(StatusCode::CONFLICT, format!("Task is {s}, not available"))
        }
        CoordError::NotClaimable { status: None } if wants => ApiError::not_found("Task not found"),
        other => other.into(),
    }
}

async fn claim(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<AgentBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let agent = body.agent_id.unwrap_or_default();
    let w = state
        .coord
        .claim(&id, &agent)
        .await
        .map_err(|e| precise(&headers, e))?;
    Ok(answer(w, &agent))
}

#[derive(Debug, Deserialize)]
struct WaitQuery {
    wait: Option<String>,
}

async fn claim_next(
    State(state): State<AppState>,
    Query(q): Query<WaitQuery>,
    OptionalJson(body): OptionalJson<AgentBody>,
) -> Result<Response, ApiError> {
    let wait = match q.wait.as_deref() {
        Some(w) => parse_duration(w).map_err(|e| ApiError::bad_request(format!("wait: {e}")))?,
        None => Duration::ZERO,
    };
    if wait > MAX_FETCH_WAIT {
        return Err(ApiError::bad_request(format!(
            "wait may be at most {}s",
            MAX_FETCH_WAIT.as_secs()
        )));
    }
    let agent = body.agent_id.unwrap_or_default();
    match state
        .coord
        .claim_next(&agent, body.capabilities, wait)
        .await?
    {
        Some(w) => Ok(answer(w, &agent).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

#[derive(Debug, Deserialize)]
struct CompleteBody {
    agent_id: Option<String>,
    #[serde(default = "yes")]
    success: bool,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<String>,
}

fn yes() -> bool {
    true
}

async fn complete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<CompleteBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let agent = body.agent_id.unwrap_or_default();
    let w = state
        .coord
        .complete(&id, &agent, body.success, body.result, body.error)
        .await?;
    Ok(answer(w, &agent))
}

async fn release(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<AgentBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let agent = body.agent_id.unwrap_or_default();
    let w = state.coord.release(&id, &agent).await?;
    Ok(answer(w, &agent))
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<AgentBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let w = state
        .coord
        .cancel(&id, body.agent_id.as_deref(), body.reason)
        .await?;
    let agent = body.agent_id.unwrap_or_default();
    Ok(answer(w, &agent))
}

#[derive(Debug, Deserialize)]
struct ProgressBody {
    agent_id: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    percent: Option<f64>,
}

async fn progress(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<ProgressBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let agent = body.agent_id.unwrap_or_default();
    let w = state
        .coord
        .progress(&id, &agent, body.note, body.percent)
        .await?;
    Ok(answer(w, &agent))
}

async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let versions: Vec<Value> = state
        .coord
        .history(&id)?
        .into_iter()
        .map(|(seq, task)| json!({ "sequence": seq, "task": task }))
        .collect();
    Ok(axum::Json(json!({ "task_id": id, "versions": versions })))
}
