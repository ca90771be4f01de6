//! `add_task`: a new task; the same `dedup_key` as an unfinished task
//! answers that task instead.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use validator::Validate;

use super::{Ctx, OpError, Operation};
use crate::coord::task::{Priority, TaskInput, TaskStatus};
use crate::coord::time::Timestamp;

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct AddTask {
    #[validate(length(min = 1, max = 128))]
    pub agent_id: Option<String>,
    #[validate(length(min = 1))]
    pub title: String,
    pub description: Option<String>,
    #[validate(length(min = 1))]
    pub task_id: Option<String>,
    pub priority: Option<Priority>,
    pub depends_on: Option<Vec<String>>,
    pub capabilities: Option<Vec<String>>,
    pub files: Option<Vec<String>>,
    pub dedup_key: Option<String>,
    #[validate(range(min = 1))]
    pub delay_seconds: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Added {
    pub task_id: String,
    pub status: TaskStatus,
    pub created: bool,
    pub deduplicated: bool,
}

impl Operation for AddTask {
    const NAME: &'static str = "add_task";
    const HELP: &'static str =
        "Add a task. Same dedup_key as an unfinished task: that task is returned instead.";
    type Answer = Added;

    fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }

    async fn apply(self, ctx: &Ctx) -> Result<Added, OpError> {
        let input = TaskInput {
            task_id: Some(Value::String(self.task_id.unwrap_or_else(new_task_id))),
            title: Some(self.title),
            description: Some(self.description.unwrap_or_default()),
            priority: self.priority,
            depends_on: self.depends_on,
            capabilities: self.capabilities,
            files: self.files,
            dedup_key: self.dedup_key,
            not_before: self
                .delay_seconds
                .map(|d| Timestamp::now().plus(Duration::from_secs(d))),
            ..TaskInput::default()
        };
        let w = ctx.coord.tasks().post(input).await?;
        Ok(Added {
            task_id: w.task.task_id,
            status: w.task.status,
            created: w.created,
            deduplicated: w.deduplicated,
        })
    }
}

/// A task id for tasks added without one: time-ordered and unique within
/// this process.
fn new_task_id() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let micros = chrono::Utc::now().timestamp_micros();
    format!("t-{micros:x}-{n:x}")
}
