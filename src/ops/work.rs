//! The requests and answers of the pause switch, approvals and the inbox
//! routes (`/api/v2/pause`, `/api/v2/agents/{id}/…`), which the API takes
//! and renders and the CLI sends and reads back.

use serde::{Deserialize, Serialize};

use crate::coord::agent::AgentView;
use crate::coord::inbox::InboxItem;

/// `POST /api/v2/pause`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPause {
    pub paused: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /api/v2/agents/{id}/approval`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    pub approved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// Its answer: the agent as it is now.
#[derive(Debug, Serialize, Deserialize)]
pub struct Approved {
    pub agent: AgentView,
}

/// `GET /api/v2/agents/{id}/inbox`.
#[derive(Debug, Serialize, Deserialize)]
pub struct InboxPage {
    pub agent_id: String,
    pub count: usize,
    pub items: Vec<InboxItem>,
}

/// `POST /api/v2/agents/{id}/inbox/ack`: everything up to `up_to`, or
/// everything there is when it is left out.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxAck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_to: Option<u64>,
}

/// Its answer: the agent's ack floor now.
#[derive(Debug, Serialize, Deserialize)]
pub struct InboxAcked {
    pub agent_id: String,
    pub acked: u64,
}
