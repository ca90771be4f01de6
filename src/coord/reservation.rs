//! A file reservation, a conflict with one, and a request for some: the
//! data the reservation operations (`reservations.rs`) and the in-memory
//! index (`held.rs`) share.

use serde::{Deserialize, Serialize};

use super::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: String,
    pub agent_id: String,
    pub glob: String,
    pub exclusive: bool,
    /// The task it was taken for: ends with that task's claim.
    pub task_id: Option<String>,
    pub reason: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Another agent's reservation in the way, and a path both cover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub glob: String,
    pub holder: String,
    pub held_glob: String,
    pub exclusive: bool,
    pub example_path: String,
    pub expires_at: Timestamp,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is reserved by {} ({}{}, e.g. {})",
            self.glob,
            self.holder,
            if self.exclusive {
                "exclusive "
            } else {
                "shared "
            },
            self.held_glob,
            self.example_path
        )
    }
}

pub struct ReserveRequest {
    pub agent: String,
    pub globs: Vec<String>,
    pub exclusive: bool,
    pub ttl: std::time::Duration,
    pub task_id: Option<String>,
    pub reason: Option<String>,
}
