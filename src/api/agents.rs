//! `/api/agents`: registration, heartbeats, listing with health, removal.

use axum::extract::State;
use axum::routing::{delete, get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{Json, Path, Query};
use super::{ApiError, AppState};
use crate::coord::agents::{HeartbeatInput, RegisterInput};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/agents", get(list))
        .route("/api/agents/register", post(register))
        .route("/api/agents/heartbeat", post(heartbeat))
        .route("/api/agents/cleanup", post(cleanup))
        .route("/api/agents/{agent_id}", delete(remove))
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
