//! The task as operations answer it: compact, only what the caller acts on
//! (every byte lands in an agent's context).

use serde::Serialize;

use crate::coord::task::{Priority, Task, TaskStatus};
use crate::coord::time::Timestamp;

/// The task as a claimer needs it.
#[derive(Debug, Serialize)]
pub struct BriefTask {
    pub task_id: String,
    pub title: String,
    pub description: String,
    pub priority: Priority,
    pub fencing_token: u64,
    pub files: Vec<String>,
    pub depends_on: Vec<String>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub lease_expires_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

impl From<&Task> for BriefTask {
    fn from(t: &Task) -> Self {
        BriefTask {
            task_id: t.task_id.clone(),
            title: t.title.clone(),
            description: t.description.clone(),
            priority: t.priority,
            fencing_token: t.fencing_token,
            files: t.files.clone(),
            depends_on: t.depends_on.clone(),
            attempts: t.attempts,
            max_attempts: t.max_attempts,
            lease_expires_at: t.lease_expires_at,
            last_error: t.error.clone(),
        }
    }
}

/// Where a task stands after a change.
#[derive(Debug, Serialize)]
pub struct ShortTask {
    pub task_id: String,
    pub status: TaskStatus,
    pub fencing_token: u64,
    pub attempts: u32,
    pub not_before: Option<Timestamp>,
}

impl From<&Task> for ShortTask {
    fn from(t: &Task) -> Self {
        ShortTask {
            task_id: t.task_id.clone(),
            status: t.status,
            fencing_token: t.fencing_token,
            attempts: t.attempts,
            not_before: t.not_before,
        }
    }
}
