//! `/api/v2` routes for how agents work on a task once they hold it, and
//! for the people watching: finishing with retries (a failure goes back to
//! the queue with backoff), snoozing, handing off with a note, retrying a
//! task that needs a human, the pause switch, and per-agent inboxes. Every
//! holder call may carry the grant's `fencing_token`; a stale one is a 409.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;

use super::extract::{Json, OptionalJson, Path};
use super::openapi::{get_op, post_op, Routes};
use super::tasks::written;
use super::validation::QueryParams;
use super::{ApiError, AppState, MAX_FETCH_WAIT};
use crate::api::project::Project;
use crate::coord::inbox::MAX_PEEK;
use crate::coord::{Finish, Pause};
use crate::log::duration::parse_duration;
use crate::ops::tasks::TaskWritten;
use crate::ops::work::{Approval, Approved, InboxAck, InboxAcked, InboxPage, SetPause};

pub fn routes() -> Routes {
    Routes::new("v2")
        .route(
            "/api/v2/tasks/{task_id}/complete",
            post(complete),
            vec![post_op("Finish a held task; a failure is retried with backoff")
                .about("success false (or an error) spends an attempt: the task goes back to the queue after retry-backoff (doubled per attempt) until max_attempts, then needs_human. retry: false fails it for good. A stale fencing_token is refused.")
                .body(r#"{"agent_id":"alice","fencing_token":3,"success":false,"error":"tests fail"}"#)
                .answers(403, "another agent holds it")
                .answers(409, "stale fencing token")],
        )
        .route(
            "/api/v2/tasks/{task_id}/snooze",
            post(snooze),
            vec![post_op("Give a held task back until later, without spending an attempt")
                .body(r#"{"agent_id":"alice","fencing_token":3,"delay":"10m","note":"waiting for CI"}"#)
                .answers(409, "stale fencing token")],
        )
        .route(
            "/api/v2/tasks/{task_id}/handoff",
            post(handoff),
            vec![post_op("Give a held task back with a note for the next agent")
                .about("The note is kept on the task (handoff) and, with to, put in that agent's inbox. No attempt is spent.")
                .body(r#"{"agent_id":"alice","fencing_token":3,"note":"parser done, tests left","to":"bob"}"#)
                .answers(409, "stale fencing token")],
        )
        .route(
            "/api/v2/tasks/{task_id}/retry",
            post(retry),
            vec![post_op("Send a needs_human (or failed) task back to the queue with fresh attempts")
                .answers(422, "the task is not failed or needs_human")],
        )
        .route(
            "/api/v2/pause",
            get(pause_state).post(set_pause),
            vec![
                get_op("Whether grants are paused"),
                post_op("Pause or resume all grants")
                    .about("While paused, claim and claim-next answer 503 and /api/tasks/available is empty; everything else works.")
                    .body(r#"{"paused":true,"by":"ops","reason":"deploying"}"#),
            ],
        )
        .route(
            "/api/v2/agents/{agent_id}/inbox",
            get(inbox),
            vec![get_op("An agent's unacked inbox items, oldest first, without consuming them")
                .about("Messages that mention the agent or are sent to it, and handoffs to it. With wait, answers as soon as there is one (long poll).")
                .query("limit", "at most 1,000 (default 100)")
                .query("after", "only items after this seq (what the reader already saw)")
                .query("wait", "long poll up to this long, e.g. 30s (at most 5m)")],
        )
        .route(
            "/api/v2/agents/{agent_id}/approval",
            post(approval),
            vec![post_op("Answer an agent's approval request")
                .about("The answer lands in the agent's inbox (kind approval) and its needs_approval flag is cleared.")
                .body(r#"{"approved":false,"note":"not on main","by":"ops"}"#)
                .answers(404, "no such agent")],
        )
        .route(
            "/api/v2/agents/{agent_id}/inbox/ack",
            post(ack_inbox),
            vec![post_op("Ack inbox items up to a sequence (all, without one)")
                .body(r#"{"up_to":42}"#)],
        )
}

fn parse_wait(text: Option<&str>) -> Result<Duration, ApiError> {
    let wait = match text {
        Some(w) => parse_duration(w).map_err(|e| ApiError::bad_request(format!("wait: {e}")))?,
        None => Duration::ZERO,
    };
    if wait > MAX_FETCH_WAIT {
        return Err(ApiError::bad_request(format!(
            "wait may be at most {}s",
            MAX_FETCH_WAIT.as_secs()
        )));
    }
    Ok(wait)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteBody {
    agent_id: String,
    #[serde(default)]
    fencing_token: Option<u64>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    retry: Option<bool>,
}

async fn complete(
    State(state): State<AppState>,
    Project(coord): Project,
    Path(id): Path<String>,
    Json(body): Json<CompleteBody>,
) -> Result<axum::Json<TaskWritten>, ApiError> {
    let success = body.success.unwrap_or(body.error.is_none());
    let finish = Finish {
        success,
        result: body.result,
        error: body.error,
        retry: body.retry.unwrap_or(true),
        fence: body.fencing_token,
    };
    let w = coord.tasks().complete(&id, &body.agent_id, finish).await?;
    Ok(axum::Json(written(&state, w)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnoozeBody {
    agent_id: String,
    #[serde(default)]
    fencing_token: Option<u64>,
    delay: String,
    #[serde(default)]
    note: Option<String>,
}

async fn snooze(
    State(state): State<AppState>,
    Project(coord): Project,
    Path(id): Path<String>,
    Json(body): Json<SnoozeBody>,
) -> Result<axum::Json<TaskWritten>, ApiError> {
    let delay =
        parse_duration(&body.delay).map_err(|e| ApiError::bad_request(format!("delay: {e}")))?;
    let w = coord
        .tasks()
        .snooze(&id, &body.agent_id, delay, body.note, body.fencing_token)
        .await?;
    Ok(axum::Json(written(&state, w)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HandoffBody {
    agent_id: String,
    #[serde(default)]
    fencing_token: Option<u64>,
    note: String,
    #[serde(default)]
    to: Option<String>,
}

async fn handoff(
    State(state): State<AppState>,
    Project(coord): Project,
    Path(id): Path<String>,
    Json(body): Json<HandoffBody>,
) -> Result<axum::Json<TaskWritten>, ApiError> {
    let w = coord
        .tasks()
        .handoff(
            &id,
            &body.agent_id,
            body.note,
            body.to.as_deref(),
            body.fencing_token,
        )
        .await?;
    Ok(axum::Json(written(&state, w)))
}

async fn retry(
    State(state): State<AppState>,
    Project(coord): Project,
    Path(id): Path<String>,
) -> Result<axum::Json<TaskWritten>, ApiError> {
    let w = coord.tasks().retry(&id).await?;
    Ok(axum::Json(written(&state, w)))
}

async fn pause_state(Project(coord): Project) -> axum::Json<Pause> {
    axum::Json(coord.pause_state())
}

/// A pause request's sizes (either switch).
pub(super) fn check_pause(body: &SetPause) -> Result<(), ApiError> {
    if body.reason.as_ref().is_some_and(|r| r.len() > 1_000)
        || body.by.as_ref().is_some_and(|b| b.len() > 128)
    {
        return Err(ApiError::bad_request("by or reason is too long"));
    }
    Ok(())
}

async fn set_pause(
    Project(coord): Project,
    Json(body): Json<SetPause>,
) -> Result<axum::Json<Pause>, ApiError> {
    check_pause(&body)?;
    Ok(axum::Json(
        coord.set_paused(body.paused, body.by, body.reason).await?,
    ))
}

async fn approval(
    Project(coord): Project,
    Path(agent): Path<String>,
    Json(body): Json<Approval>,
) -> Result<axum::Json<Approved>, ApiError> {
    let view = coord
        .agents()
        .answer_approval(&agent, body.approved, body.note, body.by)
        .await?;
    Ok(axum::Json(Approved { agent: view }))
}

async fn inbox(
    Project(coord): Project,
    Path(agent): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<InboxPage>, ApiError> {
    let q = QueryParams::parse(raw.as_deref());
    let limit = q.positive_int("limit")?.unwrap_or(100).min(MAX_PEEK as u64) as usize;
    let wait = parse_wait(q.get("wait"))?;
    let after = q.non_negative_int("after")?.unwrap_or(0);
    let mut items = if wait.is_zero() {
        coord.inbox().after(&agent, after, limit).await?
    } else {
        coord.inbox().wait(&agent, after, wait).await?
    };
    items.truncate(limit);
    Ok(axum::Json(InboxPage {
        agent_id: agent,
        count: items.len(),
        items,
    }))
}

async fn ack_inbox(
    Project(coord): Project,
    Path(agent): Path<String>,
    OptionalJson(body): OptionalJson<InboxAck>,
) -> Result<axum::Json<InboxAcked>, ApiError> {
    let floor = coord.inbox().ack(&agent, body.up_to).await?;
    Ok(axum::Json(InboxAcked {
        agent_id: agent,
        acked: floor,
    }))
}
