//! `/api/tasks`: the replaced service's task API, unchanged for old
//! clients, plus claim-next, progress, release, cancel and history.
//!
//! Claims answer 404 "Task not found or already claimed" when the task is
//! not available, as old clients expect; a client that sends
//! `X-Hivelog-Precise-Status: true` gets 409 for "exists but not available".

use axum::extract::{RawQuery, State};
use axum::routing::{get, post};
use serde_json::Value;

use super::extract::Path;
use super::openapi::{get_op, post_op, Routes};
use super::validation::{ModelBody, QueryParams};
use super::{ApiError, AppState};
use crate::api::project::Project;
use crate::coord::task::{Priority, Task, TaskInput, TaskStatus};
use crate::coord::tasks::Written;
use crate::ops::tasks::{compat, TaskHistory, TaskVersion, TaskWritten};

/// The compatible listing's default: every task, as the replaced service
/// listed them (up to the cap).
const MAX_LIMIT: usize = 100_000;
/// `available`'s default page: agents claim from the top.
const DEFAULT_AVAILABLE: usize = 100;
pub const PRECISE_HEADER: &str = "x-hivelog-precise-status";
pub const STATUSES: [&str; 4] = ["available", "claimed", "completed", "failed"];

mod actions;

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
            post(actions::claim_next),
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
            post(actions::claim),
            vec![post_op("Claim a task; of concurrent claimers exactly one wins")
                .body(r#"{"agent_id":"alice"}"#)
                .header("X-Hivelog-Precise-Status", "true: 409 instead of 404 when the task exists but is not available")
                .answers(400, "no agent_id, or blocked by unfinished dependencies")
                .answers(404, "Task not found or already claimed")
                .answers(409, "exists but not available (with X-Hivelog-Precise-Status)")],
        )
        .route(
            "/api/tasks/{task_id}/complete",
            post(actions::complete),
            vec![post_op("Finish a claimed task (success false: failed)")
                .body(r#"{"agent_id":"alice","success":true,"result":{"pages":3},"error":null}"#)
                .answers(403, "another agent holds it")
                .answers(404, "not claimed")
                .answers(422, "result is not an object or null")],
        )
        .route(
            "/api/tasks/{task_id}/release",
            post(actions::release),
            vec![post_op("Give a claimed task back (not counted as an attempt)")
                .body(r#"{"agent_id":"alice","reason":"out of time"}"#)
                .answers(403, "another agent holds it")],
        )
        .route(
            "/api/tasks/{task_id}/cancel",
            post(actions::cancel),
            vec![post_op("Cancel an unfinished task (status failed, cancelled true)")
                .body(r#"{"agent_id":"alice","reason":"not needed"}"#)
                .answers(409, "already finished")],
        )
        .route(
            "/api/tasks/{task_id}/progress",
            post(actions::progress),
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
    Project(coord): Project,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<Vec<Task>>, ApiError> {
    let q = QueryParams::parse(raw.as_deref());
    let status = q.one_of("status", &STATUSES)?;
    let limit = limit(&q, MAX_LIMIT)?;
    let status = status.as_deref().and_then(parse_status);
    let mut tasks = coord.tasks().list(status, limit);
    if status == Some(TaskStatus::Failed) {
        // Tasks waiting for a human read as failed here.
        tasks.extend(coord.tasks().list(Some(TaskStatus::NeedsHuman), limit));
        tasks.sort_by_key(|t| std::cmp::Reverse(t.created_at.at()));
        tasks.truncate(limit);
    }
    Ok(axum::Json(tasks.into_iter().map(compat).collect()))
}

async fn available(
    Project(coord): Project,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<Vec<Task>>, ApiError> {
    let q = QueryParams::parse(raw.as_deref());
    let limit = limit(&q, DEFAULT_AVAILABLE)?;
    if coord.is_paused() {
        // Old agents claim what this lists; while paused they find nothing.
        return Ok(axum::Json(Vec::new()));
    }
    Ok(axum::Json(coord.tasks().available(limit)))
}

async fn create(
    State(state): State<AppState>,
    Project(coord): Project,
    ModelBody(model): ModelBody,
) -> Result<axum::Json<TaskWritten>, ApiError> {
    let input: TaskInput = model
        .required_strings(&["task_id", "title", "description"])
        .optional_one_of("status", &STATUSES)
        .optional_one_of("priority", &Priority::NAMES)
        .object_or_null("result")
        .parse()?;
    let sent_created_at = input.created_at.clone();
    let w = coord.tasks().post(input).await?;
    let mut answer = written(&state, w).compat();
    // The replaced service answered `"timestamp": task.created_at`: the
    // client's own time when it sent one, so an old client that records
    // the answer's time keeps the time it wrote.
    if let Some(at) = sent_created_at {
        answer.timestamp = at;
    }
    Ok(axum::Json(answer))
}

async fn show(
    Project(coord): Project,
    Path(id): Path<String>,
) -> Result<axum::Json<Task>, ApiError> {
    Ok(axum::Json(compat(coord.tasks().get(&id)?)))
}

async fn history(
    Project(coord): Project,
    Path(id): Path<String>,
) -> Result<axum::Json<TaskHistory>, ApiError> {
    let versions = coord
        .tasks()
        .history(&id)
        .await?
        .into_iter()
        .map(|(sequence, task)| TaskVersion { sequence, task })
        .collect();
    Ok(axum::Json(TaskHistory {
        task_id: id,
        versions,
    }))
}

/// How a task write is answered, naming the stream its copy went to.
pub fn written(state: &AppState, w: Written) -> TaskWritten {
    TaskWritten::new(
        w,
        state
            .projects
            .default_project()
            .config()
            .history_stream
            .clone(),
    )
}
