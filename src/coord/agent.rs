//! An agent as the registry keeps and answers it: its record, its status
//! and derived health, and the inputs of registration and heartbeat
//! (`agents.rs` holds the operations).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::time::{ClientTime, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    #[default]
    Active,
    Idle,
    Busy,
    Offline,
}

/// Derived from the time since the last heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Active,
    Stale,
    Dead,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub agent_id: String,
    pub description: Option<String>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    pub status: AgentStatus,
    pub current_task: Option<String>,
    pub current_task_title: Option<String>,
    #[serde(default)]
    pub needs_approval: bool,
    pub approval_message: Option<String>,
    pub registered_at: Timestamp,
    /// The last heartbeat's own `timestamp` (the client's clock) or, when it
    /// sent none, when it arrived; null until the first heartbeat. The
    /// compatible listing filters on it, as the replaced service did.
    pub last_heartbeat: Option<ClientTime>,
    /// When the server last heard from the agent (registration or
    /// heartbeat), by its own clock: liveness and dead-agent release go by
    /// this, so a client with a wrong clock is not declared dead. Records
    /// written before it existed fall back to `last_heartbeat`.
    #[serde(default)]
    pub last_seen: Option<Timestamp>,
}

impl Agent {
    /// A newly seen agent, as of `now`.
    pub(super) fn new(agent_id: String, now: Timestamp) -> Self {
        Agent {
            agent_id,
            description: None,
            capabilities: Vec::new(),
            status: AgentStatus::Active,
            current_task: None,
            current_task_title: None,
            needs_approval: false,
            approval_message: None,
            registered_at: now,
            last_heartbeat: None,
            last_seen: Some(now),
        }
    }

    /// When the server last heard from this agent.
    pub fn seen(&self) -> Timestamp {
        self.last_seen
            .or_else(|| self.last_heartbeat.as_ref().map(ClientTime::at))
            .unwrap_or(self.registered_at)
    }
}

#[derive(Debug, Clone)]
pub struct AgentRecord {
    pub agent: Agent,
    pub seq: u64,
    /// When this process last heard from the agent, on the monotonic
    /// clock: death is judged by it, so a wall-clock jump does not kill
    /// every agent at once.
    pub heard: std::time::Instant,
}

/// An agent as answered: its record plus its health.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentView {
    #[serde(flatten)]
    pub agent: Agent,
    pub health: Health,
    pub seconds_since_heartbeat: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RegisterInput {
    pub agent_id: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HeartbeatInput {
    pub agent_id: String,
    #[serde(default)]
    pub status: Option<AgentStatus>,
    #[serde(default)]
    pub current_task: Option<String>,
    #[serde(default)]
    pub current_task_title: Option<String>,
    #[serde(default)]
    pub needs_approval: Option<bool>,
    #[serde(default)]
    pub approval_message: Option<String>,
    /// The client's own time of the heartbeat, echoed as `last_heartbeat`.
    #[serde(default)]
    pub timestamp: Option<ClientTime>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
