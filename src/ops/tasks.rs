//! The requests and answers of the task routes (`/api/tasks…`,
//! `/api/v2/tasks…`), which the API takes and renders and the CLI sends
//! and reads back. The compatible ones keep the replaced service's keys.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::coord::task::{Task, TaskStatus};
use crate::coord::tasks::Written;
use crate::coord::time::ClientTime;

/// A task as the compatible routes show it: the replaced service knew no
/// `needs_human`, so such a task reads as `failed` there.
pub fn compat(mut t: Task) -> Task {
    if t.status == TaskStatus::NeedsHuman {
        t.status = TaskStatus::Failed;
        t.extra.insert("needs_human".into(), Value::Bool(true));
    }
    t
}

/// What a task write answers: the replaced service's keys, then hivelog's.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskWritten {
    pub success: bool,
    pub task_id: String,
    /// The sequence of this version's copy on `<prefix>.tasks`.
    pub sequence: Option<u64>,
    pub stream: String,
    /// When this version was written; the compatible create echoes the
    /// client's own `created_at` here instead, as the replaced service did.
    pub timestamp: ClientTime,
    /// True when the task did not exist before.
    pub created: bool,
    /// True when a dedup key matched a task already there and nothing was
    /// added; left out otherwise, and always on the compatible route.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deduplicated: bool,
    pub task: Task,
}

impl TaskWritten {
    /// `w`, whose copy went to `stream`.
    pub fn new(w: Written, stream: String) -> Self {
        TaskWritten {
            success: true,
            task_id: w.task.task_id.clone(),
            sequence: w.history_seq,
            stream,
            timestamp: w.at.into(),
            created: w.created,
            deduplicated: w.deduplicated,
            task: w.task,
        }
    }

    /// As the compatible routes answer it.
    pub fn compat(mut self) -> Self {
        self.task = compat(self.task);
        self.deduplicated = false;
        self
    }
}

/// What a claim, and every other step an agent takes on a task through
/// `/api/tasks/{id}/…`, answers (the replaced service's claim answer).
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskStep {
    pub success: bool,
    pub task_id: String,
    pub agent_id: String,
    pub task: Task,
}

impl TaskStep {
    pub fn new(w: Written, agent: &str) -> Self {
        TaskStep {
            success: true,
            task_id: w.task.task_id.clone(),
            agent_id: agent.to_string(),
            task: compat(w.task),
        }
    }
}

/// `{"agent_id": ...}` bodies of the steps (claim, claim-next, release,
/// cancel); a missing or null id is a 400, as the replaced service had it.
#[serde_with::skip_serializing_none]
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AgentStep {
    pub agent_id: Option<String>,
    /// For claim-next: what the agent can do, when not what it registered.
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    #[serde(default)]
    pub reason: Option<String>,
    /// New clients show the grant's token; old ones send none.
    #[serde(default)]
    pub fencing_token: Option<u64>,
}

impl AgentStep {
    pub fn by(agent: impl Into<String>) -> Self {
        AgentStep {
            agent_id: Some(agent.into()),
            ..AgentStep::default()
        }
    }
}

/// `POST /api/tasks/{id}/complete` (`success: false` fails it).
#[derive(Debug, Serialize, Deserialize)]
pub struct CompleteStep {
    pub agent_id: Option<String>,
    #[serde(default = "yes")]
    pub success: bool,
    #[serde(default)]
    pub result: Option<Value>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fencing_token: Option<u64>,
}

fn yes() -> bool {
    true
}

/// `GET /api/tasks/{id}/history`: every stored version, oldest first.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskHistory {
    pub task_id: String,
    pub versions: Vec<TaskVersion>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TaskVersion {
    pub sequence: u64,
    pub task: Task,
}

/// `GET /api/v2/tasks`: one page, with the total and the next page's cursor.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    pub count: usize,
    pub total: usize,
    pub next: Option<String>,
}

/// `GET /api/v2/tasks/events`: the newest task versions, newest first.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskEvents {
    pub events: Vec<Task>,
}
