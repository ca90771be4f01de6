//! The requests and answers of the reservation routes
//! (`/api/v2/reservations…`), which the API takes and renders and the CLI
//! sends and reads back.

use serde::{Deserialize, Serialize};

use crate::coord::reservations::{Conflict, Reservation};

/// `POST /api/v2/reservations`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reserve {
    pub agent_id: String,
    pub globs: Vec<String>,
    /// Exclusive unless said otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Its answer: what the agent holds now.
#[derive(Debug, Serialize, Deserialize)]
pub struct Reserved {
    pub reservations: Vec<Reservation>,
}

/// `POST /api/v2/reservations/release`: these globs, or all of the
/// agent's when none are named.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub agent_id: String,
    #[serde(default)]
    pub globs: Vec<String>,
}

/// Its answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Released {
    pub released: usize,
    pub reservations: Vec<Reservation>,
}

/// `POST /api/v2/reservations/check`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Whose own reservations do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    pub paths: Vec<String>,
}

/// Its answer: `ok` when no other agent holds any of the paths.
#[derive(Debug, Serialize, Deserialize)]
pub struct Checked {
    pub ok: bool,
    pub conflicts: Vec<Held>,
}

/// A path others hold, and who.
#[derive(Debug, Serialize, Deserialize)]
pub struct Held {
    pub path: String,
    pub holders: Vec<Reservation>,
}

/// `GET /api/v2/reservations`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Listing {
    pub count: usize,
    pub reservations: Vec<Reservation>,
    /// Claimable tasks held back by files others reserved.
    pub waiting: Vec<Waiting>,
}

/// A task waiting on files, and what is in its way.
#[derive(Debug, Serialize, Deserialize)]
pub struct Waiting {
    pub task_id: String,
    pub conflicts: Vec<Conflict>,
}
