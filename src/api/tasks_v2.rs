//! `/api/v2/tasks`: the task queue for new clients (the CLI, the
//! dashboard): pages through any board column with a `next` cursor, the
//! board's counts in one call, and partial updates. The compatible
//! `/api/tasks` routes keep answering exactly what old clients read.

use axum::extract::{RawQuery, State};
use axum::routing::get;

use super::openapi::{get_op, post_op, Routes};
use super::tasks::{parse_status, written, STATUSES};
use crate::api::project::Project;
use crate::ops::tasks::{TaskEvents, TaskPage, TaskWritten};

/// The statuses of the new routes: the old four and `needs_human`.
const V2_STATUSES: [&str; 5] = ["available", "claimed", "completed", "failed", "needs_human"];
use super::validation::{FieldError, ModelBody, QueryParams};
use super::{ApiError, AppState};
use crate::coord::board::{Column, Cursor, Filter, TaskCounts};
use crate::coord::task::{Priority, TaskInput};

const DEFAULT_PAGE: u64 = 100;
const MAX_PAGE: u64 = 10_000;
const COLUMNS: [&str; 7] = [
    "all",
    "available",
    "blocked",
    "claimed",
    "completed",
    "failed",
    "needs_human",
];

pub fn routes() -> Routes {
    Routes::new("v2")
        .route(
            "/api/v2/tasks",
            get(list).post(create),
            vec![
                get_op("A page of tasks: {\"tasks\", \"count\", \"total\", \"next\"}")
                    .about("column: a board column — available (claimable, in claim order), blocked, claimed, completed, failed, or all (newest first). status: a status, newest first (available includes blocked tasks). Pass next back as after for the following page; next is null on the last page.")
                    .query("column", "available, blocked, claimed, completed, failed, needs_human or all (default all)")
                    .query("status", "available, claimed, completed, failed or needs_human (instead of column)")
                    .query("limit", "page size (default 100, at most 10,000)")
                    .query("after", "the next cursor of the previous page")
                    .query("q", "only tasks whose id, title or description contains this (any case)")
                    .query("owner", "only tasks this agent holds (or held last)")
                    .query("priority", "low, medium or high")
                    .query("capability", "only tasks that require this capability")
                    .answers(422, "bad column, status, limit or cursor"),
                post_op("Create a task, or update only the fields sent")
                    .about("As POST /api/tasks, but title and description may be left out (a new task needs a title); answers created: true for a new task, false for an update.")
                    .body(r#"{"task_id":"task-7","priority":"high"}"#)
                    .answers(409, "an agent holds the task")
                    .answers(422, "bad field"),
            ],
        )
        .route(
            "/api/v2/tasks/events",
            get(events),
            vec![get_op("The newest task versions as published on <prefix>.tasks, oldest first")
                .query("limit", "default 40, at most 1,000")],
        )
        .route(
            "/api/v2/tasks/counts",
            get(counts),
            vec![get_op("How many tasks each status and board column holds")
                .about("total; available (all available tasks) = claimable + blocked; claimed; completed; failed.")],
        )
}

fn bad_query(name: &str, msg: &str, input: &str) -> ApiError {
    let mut e = FieldError::new(&["query", name], "value_error", msg);
    e.input = Some(input.into());
    ApiError::validation(vec![e])
}

async fn list(
    Project(coord): Project,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<TaskPage>, ApiError> {
    let q = QueryParams::parse(raw.as_deref());
    let column = match (
        q.one_of("column", &COLUMNS)?,
        q.one_of("status", &V2_STATUSES)?,
    ) {
        (Some(_), Some(_)) => {
            return Err(bad_query("status", "give column or status, not both", ""))
        }
        (Some(c), None) => Column::parse(&c),
        (None, Some(s)) => parse_status(&s).map(Column::Status),
        (None, None) => Some(Column::All),
    }
    .unwrap_or(Column::All);
    let limit = q
        .positive_int("limit")?
        .unwrap_or(DEFAULT_PAGE)
        .min(MAX_PAGE) as usize;
    let after = match q.get("after").filter(|a| !a.is_empty()) {
        Some(text) => Some(
            Cursor::parse(text)
                .ok_or_else(|| bad_query("after", "not a cursor this server handed out", text))?,
        ),
        None => None,
    };
    let priority = q.one_of("priority", &Priority::NAMES)?;
    let filter = Filter {
        text: q.get("q").filter(|t| !t.is_empty()).map(String::from),
        owner: q.get("owner").filter(|t| !t.is_empty()).map(String::from),
        priority: priority.and_then(|p| serde_json::from_value(serde_json::Value::String(p)).ok()),
        capability: q
            .get("capability")
            .filter(|t| !t.is_empty())
            .map(String::from),
    };
    let page = coord.tasks().page(column, after.as_ref(), limit, &filter);
    Ok(axum::Json(TaskPage {
        count: page.tasks.len(),
        tasks: page.tasks,
        total: page.total,
        next: page.next.map(|c| c.to_string()),
    }))
}

async fn events(
    Project(coord): Project,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<TaskEvents>, ApiError> {
    let q = QueryParams::parse(raw.as_deref());
    let limit = q.positive_int("limit")?.unwrap_or(40).min(1_000) as usize;
    let events = coord.tasks().recent_events(limit).await?;
    Ok(axum::Json(TaskEvents { events }))
}

async fn counts(Project(coord): Project) -> axum::Json<TaskCounts> {
    axum::Json(coord.tasks().counts())
}

async fn create(
    State(state): State<AppState>,
    Project(coord): Project,
    ModelBody(model): ModelBody,
) -> Result<axum::Json<TaskWritten>, ApiError> {
    let input: TaskInput = model
        .required_strings(&["task_id"])
        .optional_one_of("status", &STATUSES)
        .object_or_null("result")
        .parse()?;
    let w = coord.tasks().post(input).await?;
    Ok(axum::Json(written(&state, w)))
}
