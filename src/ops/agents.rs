//! The answers of the agent routes (`/api/agents…`, `/api/v2/agents`),
//! which the API renders and the CLI reads back. The compatible ones keep
//! the replaced service's keys.

use serde::{Deserialize, Serialize};

use crate::coord::agent::{AgentView, Health};

/// `POST /api/agents/register`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Registered {
    pub success: bool,
    pub agent_id: String,
    pub agent: AgentView,
}

/// `POST /api/agents/heartbeat`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Beat {
    pub success: bool,
    pub agent_id: String,
    pub health: Health,
}

/// `GET /api/v2/agents`: the agents, with a count.
#[derive(Debug, Serialize, Deserialize)]
pub struct AgentList {
    pub agents: Vec<AgentView>,
    pub count: usize,
}

/// `DELETE /api/agents/{id}`: the record removed, as the listing showed it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Removed {
    pub success: bool,
    pub agent_id: String,
    pub removed: AgentView,
}

/// `POST /api/agents/cleanup`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CleanedUp {
    pub success: bool,
    pub removed_count: usize,
    pub removed_agents: Vec<String>,
    /// The list the client sent, as sent.
    pub kept_agents: Vec<String>,
}
