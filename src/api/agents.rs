//! `/api/agents`: registration, heartbeats, listing with health, removal.

use axum::extract::RawQuery;
use axum::routing::{delete, get, post};
use serde::Deserialize;

use super::extract::Path;
use super::openapi::{delete_op, get_op, post_op, Routes};
use super::validation::{ModelBody, QueryParams};
use super::ApiError;
use crate::api::project::Project;
use crate::coord::agents::{AgentView, HeartbeatInput, RegisterInput};
use crate::ops::agents::{AgentList, Beat, CleanedUp, Registered, Removed};

pub fn routes() -> Routes {
    Routes::new("agents")
        .route(
            "/api/agents",
            get(list),
            vec![get_op("Agents: a bare array of agent records with their health")
                .about("Without include_stale, only agents whose last_heartbeat is within 90 s (the stale threshold) of now; an agent that registered but never sent a heartbeat is listed only with include_stale=true. GET /api/v2/agents answers with a count.")
                .query("include_stale", "true: also stale and dead agents (422 unless a boolean)")
                .array()
                .answers(422, "include_stale is not a boolean")],
        )
        .route(
            "/api/v2/agents",
            get(list_v2),
            vec![get_op("Agents with a count: {\"agents\": [...], \"count\"}")
                .query("include_stale", "true: also stale and dead agents")],
        )
        .route(
            "/api/agents/register",
            post(register),
            vec![post_op("Register an agent")
                .body(r#"{"agent_id":"alice","description":"writes docs","capabilities":["docs"]}"#)
                .answers(422, "agent_id empty or over 50 characters, description over 200")],
        )
        .route(
            "/api/agents/heartbeat",
            post(heartbeat),
            vec![post_op("Report status; replaces the reported fields and renews the lease of the named task")
                .about("status is one of active, idle, busy, offline. A timestamp sent is echoed as last_heartbeat; liveness (stale, dead, releasing tasks) goes by when the server received it.")
                .body(r#"{"agent_id":"alice","status":"busy","current_task":"task-7","current_task_title":"Write page","needs_approval":false,"approval_message":null}"#)
                .answers(422, "agent_id or status missing, or status not one of the four")],
        )
        .route(
            "/api/agents/cleanup",
            post(cleanup),
            vec![post_op("Remove every agent except those named")
                .body(r#"{"keep_agents":["alice"]}"#)],
        )
        .route(
            "/api/agents/{agent_id}",
            delete(remove),
            vec![delete_op("Remove an agent (its tasks return to the queue)").answers(404, "no such agent")],
        )
}

const AGENT_STATUSES: [&str; 4] = ["active", "idle", "busy", "offline"];

async fn register(
    Project(coord): Project,
    ModelBody(model): ModelBody,
) -> Result<axum::Json<Registered>, ApiError> {
    let input: RegisterInput = model
        .required_strings(&["agent_id"])
        .length("agent_id", 1, 50)
        .length("description", 0, 200)
        .parse()?;
    let agent = coord.agents().register(input).await?;
    Ok(axum::Json(Registered {
        success: true,
        agent_id: agent.agent.agent_id.clone(),
        agent,
    }))
}

async fn heartbeat(
    Project(coord): Project,
    ModelBody(model): ModelBody,
) -> Result<axum::Json<Beat>, ApiError> {
    let input: HeartbeatInput = model
        .required_strings(&["agent_id"])
        .required_one_of("status", &AGENT_STATUSES)
        .parse()?;
    let agent = coord.agents().heartbeat(input).await?;
    Ok(axum::Json(Beat {
        success: true,
        agent_id: agent.agent.agent_id,
        health: agent.health,
    }))
}

fn include_stale(raw: Option<&str>) -> Result<bool, ApiError> {
    Ok(QueryParams::parse(raw)
        .boolean("include_stale")?
        .unwrap_or(false))
}

async fn list(
    Project(coord): Project,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<Vec<AgentView>>, ApiError> {
    Ok(axum::Json(
        coord.agents().list(include_stale(raw.as_deref())?),
    ))
}

async fn list_v2(
    Project(coord): Project,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<AgentList>, ApiError> {
    let agents = coord.agents().list(include_stale(raw.as_deref())?);
    Ok(axum::Json(AgentList {
        count: agents.len(),
        agents,
    }))
}

async fn remove(
    Project(coord): Project,
    Path(id): Path<String>,
) -> Result<axum::Json<Removed>, ApiError> {
    let removed = coord.agents().remove(&id).await?;
    Ok(axum::Json(Removed {
        success: true,
        agent_id: id,
        removed,
    }))
}

#[derive(Debug, Default, Deserialize)]
struct CleanupBody {
    #[serde(default)]
    keep_agents: Vec<String>,
}

async fn cleanup(
    Project(coord): Project,
    ModelBody(model): ModelBody,
) -> Result<axum::Json<CleanedUp>, ApiError> {
    let body: CleanupBody = model.parse()?;
    let removed = coord.agents().cleanup(&body.keep_agents).await?;
    Ok(axum::Json(CleanedUp {
        success: true,
        removed_count: removed.len(),
        removed_agents: removed,
        kept_agents: body.keep_agents,
    }))
}
