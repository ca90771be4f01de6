//! What agents do to a task through `/api/tasks/{id}/…`: claim (and
//! claim-next), complete, release, cancel and progress, each answered as
//! the replaced service answered a claim.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::PRECISE_HEADER;
use crate::api::extract::{Json, OptionalJson, Path, Query};
use crate::api::project::Project;
use crate::api::validation::ModelBody;
use crate::api::{ApiError, MAX_FETCH_WAIT};
use crate::coord::tasks::Written;
use crate::coord::{CoordError, Finish};
use crate::log::duration::parse_duration;
use crate::ops::tasks::{AgentStep, CompleteStep, TaskStep};

fn answer(w: Written, agent: &str) -> axum::Json<TaskStep> {
    axum::Json(TaskStep::new(w, agent))
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

pub(super) async fn claim(
    Project(coord): Project,
    Path(id): Path<String>,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<AgentStep>,
) -> Result<axum::Json<TaskStep>, ApiError> {
    let agent = body.agent_id.unwrap_or_default();
    let w = coord
        .tasks()
        .claim(&id, &agent)
        .await
        .map_err(|e| precise(&headers, e, &agent))?;
    Ok(answer(w, &agent))
}

#[derive(Debug, Deserialize)]
pub(super) struct WaitQuery {
    wait: Option<String>,
}

pub(super) async fn claim_next(
    Project(coord): Project,
    Query(q): Query<WaitQuery>,
    OptionalJson(body): OptionalJson<AgentStep>,
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
    // The claim runs on a task of its own, told when this request is
    // dropped (its client hung up or timed out): it then stops waiting,
    // and a grant it made meanwhile is given back rather than left with an
    // agent that never hears of it.
    let gone = CancellationToken::new();
    let _left = gone.clone().drop_guard();
    let claim = {
        let (coord, agent) = (coord.clone(), agent.clone());
        tokio::spawn(async move {
            coord
                .tasks()
                .claim_next(&agent, body.capabilities, wait, &gone)
                .await
        })
    };
    let claimed = claim.await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("claim-next stopped: {e}"),
        )
    })?;
    match claimed? {
        Some(w) => Ok(answer(w, &agent).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

pub(super) async fn complete(
    Project(coord): Project,
    Path(id): Path<String>,
    ModelBody(model): ModelBody,
) -> Result<axum::Json<TaskStep>, ApiError> {
    let body: CompleteStep = model.object_or_null("result").parse()?;
    let agent = body.agent_id.unwrap_or_default();
    let w = coord
        .tasks()
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

pub(super) async fn release(
    Project(coord): Project,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<AgentStep>,
) -> Result<axum::Json<TaskStep>, ApiError> {
    let agent = body.agent_id.unwrap_or_default();
    let w = coord
        .tasks()
        .release(&id, &agent, body.fencing_token)
        .await?;
    Ok(answer(w, &agent))
}

pub(super) async fn cancel(
    Project(coord): Project,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<AgentStep>,
) -> Result<axum::Json<TaskStep>, ApiError> {
    let w = coord
        .tasks()
        .cancel(&id, body.agent_id.as_deref(), body.reason)
        .await?;
    let agent = body.agent_id.unwrap_or_default();
    Ok(answer(w, &agent))
}

#[derive(Debug, Deserialize)]
pub(super) struct ProgressBody {
    agent_id: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    percent: Option<f64>,
    #[serde(default)]
    fencing_token: Option<u64>,
}

pub(super) async fn progress(
    Project(coord): Project,
    Path(id): Path<String>,
    Json(body): Json<ProgressBody>,
) -> Result<axum::Json<TaskStep>, ApiError> {
    let agent = body.agent_id.unwrap_or_default();
    let w = coord
        .tasks()
        .progress(&id, &agent, body.note, body.percent, body.fencing_token)
        .await?;
    Ok(answer(w, &agent))
}
