//! `/api/tasks`: the replaced service's task API, unchanged for old
//! clients, plus claim-next, progress, release, cancel and history.
//!
//! Claims answer 404 "Task not found or already claimed" when the task is
//! not available, as old clients expect; a client that sends
//! `X-Hivelog-Precise-Status: true` gets 409 for "exists but not available".

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::extract::{Json, OptionalJson, Path, Query};
use super::openapi::{get_op, post_op, Routes};
use super::validation::{ModelBody, QueryParams};
use super::{ApiError, AppState, MAX_FETCH_WAIT};
use crate::coord::task::{Task, TaskInput, TaskStatus};
use crate::coord::tasks::Written;
use crate::coord::{CoordError, Finish};
use crate::log::duration::parse_duration;

/// The compatible listing's default: every task, as the replaced service
/// listed them (up to the cap).
const MAX_LIMIT: usize = 100_000;
/// `available`'s default page: agents claim from the top.
const DEFAULT_AVAILABLE: usize = 100;
pub const PRECISE_HEADER: &str = "x-hivelog-precise-status";
pub const STATUSES: [&str; 4] = ["available", "claimed", "completed", "failed"];
const PRIORITIES: [&str; 3] = ["low", "medium", "high"];

pub fn routes() -> Routes {
    Routes::new("tasks")
        .route(
            "/api/tasks",
            get(list).post(create),
            vec![
                get_op("Tasks, newest first: a bare array of task objects")
                    .about("Paged and counted listings: GET /api/v2/tasks.")
                    .query("status", "available, claimed, completed or failed (422 otherwise)")
                    .query("limit", "a whole number >= 1 (422 otherwise); default and cap 100,000")
                    .array()
                    .answers(422, "bad status or limit"),
                post_op("Create or update a task")
                    .about("task_id, title and description are required (422 otherwise); created_at is kept as sent. Extra fields are kept. Re-posting updates title, description, priority, dependencies and capabilities; a task an agent holds is never changed this way (409). A dependency cycle is refused (400). POST /api/v2/tasks takes partial updates.")
                    .body(r#"{"task_id":"task-7","title":"Write page","description":"","priority":"high","blocked_by":["task-6"],"capabilities":["docs"]}"#)
                    .answers(409, "an agent holds the task")
                    .answers(422, "missing field, or a bad status, priority or result"),
            ],
        )
        .route(
            "/api/tasks/available",
            get(available),
            vec![get_op("Claimable tasks in claim order (priority high to low, then oldest): a bare array")
                .query("limit", "default 100")
                .array()
                .answers(422, "bad limit")],
        )
        .route(
            "/api/tasks/claim-next",
            post(claim_next),
            vec![post_op("Claim the first task this agent can do")
                .about("Capabilities default to those the agent registered. 204 when none within wait.")
                .query("wait", "long poll up to this long (default 0, at most 5m)")
                .body(r#"{"agent_id":"alice","capabilities":["docs"]}"#)
                .answers(200, "claimed: {\"success\", \"task_id\", \"agent_id\", \"task\"}")
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
                .answers(404, "not claimed")
                .answers(422, "result is not an object or null")],
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

/// `limit` as the compatible routes take it: a whole number >= 1 (422
/// otherwise), clamped at `MAX_LIMIT` rather than refused when huge.
fn limit(q: &QueryParams, default: usize) -> Result<usize, ApiError> {
    Ok(q.positive_int("limit")?
        .map_or(default, |n| n.min(MAX_LIMIT as u64) as usize))
}

pub fn parse_status(name: &str) -> Option<TaskStatus> {
    serde_json::from_value(Value::String(name.to_string())).ok()
}

async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<Vec<Task>>, ApiError> {
    let q = QueryParams::parse(raw.as_deref());
    let status = q.one_of("status", &STATUSES)?;
    let limit = limit(&q, MAX_LIMIT)?;
    let status = status.as_deref().and_then(parse_status);
    let mut tasks = state.coord.list_tasks(status, limit);
    if status == Some(TaskStatus::Failed) {
        // Tasks waiting for a human read as failed here.
        tasks.extend(state.coord.list_tasks(Some(TaskStatus::NeedsHuman), limit));
        tasks.sort_by_key(|t| std::cmp::Reverse(t.created_at.at()));
        tasks.truncate(limit);
    }
    Ok(axum::Json(tasks.into_iter().map(compat).collect()))
}

async fn available(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<Vec<Task>>, ApiError> {
    let q = QueryParams::parse(raw.as_deref());
    let limit = limit(&q, DEFAULT_AVAILABLE)?;
    if state.coord.is_paused() {
        // Old agents claim what this lists; while paused they find nothing.
        return Ok(axum::Json(Vec::new()));
    }
    Ok(axum::Json(state.coord.available_tasks(limit)))
}

/// What a task write answers: the replaced service's keys, then hivelog's.
#[derive(Debug, Serialize)]
pub struct TaskWritten {
    pub success: bool,
    pub task_id: String,
    /// The sequence of this version's copy on `<prefix>.tasks`.
    pub sequence: Option<u64>,
    pub stream: String,
    pub timestamp: crate::coord::time::Timestamp,
    /// True when the task did not exist before.
    pub created: bool,
    pub task: Task,
}

impl TaskWritten {
    pub fn new(state: &AppState, w: Written) -> Self {
        TaskWritten {
            success: true,
            task_id: w.task.task_id.clone(),
            sequence: w.history_seq,
            stream: state.coord.config().history_stream.clone(),
            timestamp: w.at,
            created: w.created,
            task: w.task,
        }
    }

    /// As the compatible routes answer it.
    pub fn compat(mut self) -> Self {
        self.task = compat(self.task);
        self
    }
}

async fn create(
    State(state): State<AppState>,
    ModelBody(model): ModelBody,
) -> Result<axum::Json<TaskWritten>, ApiError> {
    let input: TaskInput = model
        .required_strings(&["task_id", "title", "description"])
        .optional_one_of("status", &STATUSES)
        .optional_one_of("priority", &PRIORITIES)
        .object_or_null("result")
        .parse()?;
    let w = state.coord.post_task(input).await?;
    Ok(axum::Json(TaskWritten::new(&state, w).compat()))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Task>, ApiError> {
    Ok(axum::Json(compat(state.coord.get_task(&id)?)))
}

/// `{"agent_id": ...}` bodies; a missing or null id is a 400, as before.
#[derive(Debug, Default, Deserialize)]
struct AgentBody {
    agent_id: Option<String>,
    #[serde(default)]
    capabilities: Option<Vec<String>>,
    #[serde(default)]
    reason: Option<String>,
    /// New clients show the grant's token; old ones send none.
    #[serde(default)]
    fencing_token: Option<u64>,
}

/// A task as the compatible routes show it: the replaced service knew no
/// `needs_human`, so such a task reads as `failed` there.
pub fn compat(mut t: Task) -> Task {
    if t.status == TaskStatus::NeedsHuman {
        t.status = TaskStatus::Failed;
        t.extra.insert("needs_human".into(), Value::Bool(true));
    }
    t
}

fn answer(w: Written, agent: &str) -> axum::Json<Value> {
    axum::Json(
        json!({ "success": true, "task_id": w.task.task_id, "agent_id": agent, "task": compat(w.task) }),
    )
}

fn precise(headers: &HeaderMap, e: CoordError, agent: &str) -> ApiError {
    let wants = headers
        .get(PRECISE_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    match e {
        CoordError::NotClaimable {
            status: Some(_),
            owner: Some(owner),
        } if wants && owner == agent => ApiError::new(
            StatusCode::CONFLICT,
            format!("Task is already claimed by {agent} (you)"),
        ),
        CoordError::NotClaimable {
            status: Some(s),
            owner,
        } if wants => {
            let by = owner.map(|o| format!(" by {o}")).unwrap_or_default();
            ApiError::new(
                StatusCode::CONFLICT,
                format!("Task is {s}{by}, not available"),
            )
        }
        CoordError::NotClaimable { status: None, .. } if wants => {
            ApiError::not_found("Task not found")
        }
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
        .map_err(|e| precise(&headers, e, &agent))?;
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
    #[serde(default)]
    fencing_token: Option<u64>,
}

fn yes() -> bool {
    true
}

async fn complete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ModelBody(model): ModelBody,
) -> Result<axum::Json<Value>, ApiError> {
    let body: CompleteBody = model.object_or_null("result").parse()?;
    let agent = body.agent_id.unwrap_or_default();
    let w = state
        .coord
        .complete(
            &id,
            &agent,
            Finish {
                success: body.success,
                result: body.result,
                error: body.error,
                // Failed is final here, as it was; /api/v2 retries.
                retry: false,
                fence: body.fencing_token,
            },
        )
        .await?;
    Ok(answer(w, &agent))
}

async fn release(
    State(state): State<AppState>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<AgentBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let agent = body.agent_id.unwrap_or_default();
    let w = state.coord.release(&id, &agent, body.fencing_token).await?;
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
    #[serde(default)]
    fencing_token: Option<u64>,
}

async fn progress(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<ProgressBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let agent = body.agent_id.unwrap_or_default();
    let w = state
        .coord
        .progress(&id, &agent, body.note, body.percent, body.fencing_token)
        .await?;
    Ok(answer(w, &agent))
}

async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let versions: Vec<Value> = state
        .coord
        .history(&id)
        .await?
        .into_iter()
        .map(|(seq, task)| json!({ "sequence": seq, "task": task }))
        .collect();
    Ok(axum::Json(json!({ "task_id": id, "versions": versions })))
}
