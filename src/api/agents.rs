//! `/api/agents`: registration, heartbeats, listing with health, removal.

use axum::extract::State;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Json, Path, Query};
use super::openapi::{delete_op, get_op, post_op, Routes};
use super::{ApiError, AppState};
use crate::coord::agents::{HeartbeatInput, RegisterInput};

pub fn routes() -> Routes {
    Routes::new("agents")
        .route(
            "/api/agents",
            get(list),
            vec![get_op("Agents with their health: {\"agents\":[...],\"count\"}")
                .query("include_stale", "true: also stale and dead agents")],
        )
        .route(
            "/api/agents/register",
            post(register),
            vec![post_op("Register an agent")
                .body(r#"{"agent_id":"alice","description":"writes docs","capabilities":["docs"]}"#)
                .answers(422, "invalid fields")],
        )
        .route(
            "/api/agents/heartbeat",
            post(heartbeat),
            vec![post_op("Report status; replaces the reported fields and renews the lease of the named task")
                .body(r#"{"agent_id":"alice","status":"busy","current_task":"task-7","current_task_title":"Write page","needs_approval":false,"approval_message":null}"#)],
        )
        .route(
            "/api/agents/cleanup",
            post(cleanup),
            vec![post_op("Remove stale and dead agents, except those named")
                .body(r#"{"keep_agents":["alice"]}"#)],
        )
        .route(
            "/api/agents/{agent_id}",
            delete(remove),
            vec![delete_op("Remove an agent (its tasks return to the queue)").answers(404, "no such agent")],
        )
}

async fn register(
    State(state): State<AppState>,
    Json(input): Json<RegisterInput>,
) -> Result<axum::Json<Value>, ApiError> {
    let agent = state.coord.register(input).await?;
    Ok(axum::Json(
        json!({ "success": true, "agent_id": agent.agent.agent_id, "agent": agent }),
    ))
}

async fn heartbeat(
    State(state): State<AppState>,
    Json(input): Json<HeartbeatInput>,
) -> Result<axum::Json<Value>, ApiError> {
    let agent = state.coord.heartbeat(input).await?;
    Ok(axum::Json(
        json!({ "success": true, "agent_id": agent.agent.agent_id, "health": agent.health }),
    ))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    include_stale: bool,
}

async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> axum::Json<Value> {
    let agents = state.coord.agents(q.include_stale);
    axum::Json(json!({ "agents": agents, "count": agents.len() }))
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let removed = state.coord.remove_agent(&id).await?;
    Ok(axum::Json(
        json!({ "success": true, "agent_id": id, "removed": removed }),
    ))
}

#[derive(Debug, Default, Deserialize)]
struct CleanupBody {
    #[serde(default)]
    keep_agents: Vec<String>,
}

async fn cleanup(
    State(state): State<AppState>,
    Json(body): Json<CleanupBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let (removed, kept) = state.coord.cleanup_agents(&body.keep_agents).await?;
    Ok(axum::Json(json!({
        "success": true,
        "removed_count": removed.len(),
        "removed_agents": removed,
        "kept_agents": kept,
    })))
}
