//! A task as stored and answered (the replaced service's JSON, plus what
//! hivelog adds), and the shape clients post.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::time::{ClientTime, Timestamp};
use super::CoordError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Available,
    Claimed,
    Completed,
    Failed,
    /// Out of attempts (or failed for good): waits for a person to look and
    /// `retry` it. The compatible routes show it as `failed`.
    #[serde(rename = "needs_human")]
    NeedsHuman,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Available => "available",
            TaskStatus::Claimed => "claimed",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::NeedsHuman => "needs_human",
        }
    }

    /// Finished: nothing more happens unless someone re-queues it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::NeedsHuman
        )
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
}

impl Priority {
    /// The vocabulary, as every surface spells it.
    pub const NAMES: [&'static str; 3] = ["low", "medium", "high"];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }
}

/// The owner's latest progress report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub note: Option<String>,
    pub percent: Option<f64>,
    pub at: Timestamp,
}

/// A note left when an agent hands a task back for the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    pub by: String,
    pub note: String,
    pub at: Timestamp,
}

/// A task. `blocked_by` in answers lists only the dependencies that are not
/// completed yet (old clients skip tasks with a non-empty `blocked_by`);
/// `depends_on` keeps the full list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub task_id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub status: TaskStatus,
    pub owner: Option<String>,
    #[serde(default)]
    pub blocked_by: Vec<String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default)]
    pub priority: Priority,
    pub created_at: ClientTime,
    pub claimed_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    /// Boxed (as are progress and handoff, rarely set): the view keeps
    /// every task in memory, and these would make each one larger.
    pub result: Option<Box<Value>>,
    pub error: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub max_attempts: u32,
    pub lease_expires_at: Option<Timestamp>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub progress: Option<Box<Progress>>,
    /// Dependencies that failed, so this task cannot run as planned.
    #[serde(default)]
    pub failed_dependencies: Vec<String>,
    #[serde(default)]
    pub cancelled: bool,
    /// Why the task last went back to the queue (lease expired, agent died,
    /// released by its owner).
    #[serde(default)]
    pub release_reason: Option<String>,
    /// Raised by one on every grant: a holder must show the token of the
    /// current grant, so one whose claim was taken away cannot finish or
    /// renew what its successor now holds.
    #[serde(default)]
    pub fencing_token: u64,
    /// Not granted before this time (a retry's backoff, a snooze, a
    /// delayed task).
    #[serde(default)]
    pub not_before: Option<Timestamp>,
    /// Two adds with the same key while the first task is not completed
    /// make one task.
    #[serde(default)]
    pub dedup_key: Option<String>,
    /// Path globs the task will touch; reserved with the claim.
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub handoff: Option<Box<Handoff>>,
    /// What the client set that the queue only carries (`task/details.rs`).
    /// Before `extra`, which takes the fields it does not claim.
    #[serde(flatten)]
    pub details: Details,
    /// Fields clients sent that hivelog does not interpret; kept and
    /// returned as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What `POST /api/tasks` accepts. Clients send whole task objects,
/// often with `owner`, `claimed_at`, … as null, and extra fields. The CLI
/// sends it too, without what it leaves unset.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TaskInput {
    pub task_id: Option<Value>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<TaskStatus>,
    pub priority: Option<Priority>,
    pub blocked_by: Option<Vec<String>>,
    pub depends_on: Option<Vec<String>>,
    pub capabilities: Option<Vec<String>>,
    pub created_at: Option<ClientTime>,
    pub max_attempts: Option<u32>,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub not_before: Option<Timestamp>,
    pub dedup_key: Option<String>,
    pub files: Option<Vec<String>>,
    // Fields the server owns: accepted (old clients send them as null) and
    // ignored.
    #[serde(default)]
    pub owner: Option<Value>,
    #[serde(default)]
    pub claimed_at: Option<Value>,
    #[serde(default)]
    pub completed_at: Option<Value>,
    #[serde(default)]
    pub updated_at: Option<Value>,
    #[serde(default)]
    pub attempts: Option<Value>,
    #[serde(default)]
    pub lease_expires_at: Option<Value>,
    #[serde(default)]
    pub progress: Option<Value>,
    #[serde(default)]
    pub failed_dependencies: Option<Value>,
    #[serde(default)]
    pub cancelled: Option<Value>,
    #[serde(default)]
    pub release_reason: Option<Value>,
    #[serde(default)]
    pub fencing_token: Option<Value>,
    #[serde(default)]
    pub handoff: Option<Value>,
    #[serde(flatten)]
    pub details: DetailsInput,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

const MAX_ID_LEN: usize = 128;
const MAX_TITLE: usize = 1_000;
const MAX_DESCRIPTION: usize = 100_000;
const MAX_LIST: usize = 256;

/// Task and agent ids: 1–128 characters, no whitespace, control
/// characters or URL-path separators, so every id can be addressed as
/// `/api/tasks/{id}`.
pub fn validate_id(kind: &str, id: &str, max: usize) -> Result<(), CoordError> {
    if id.is_empty() || id.chars().count() > max {
        return Err(CoordError::Invalid(format!(
            "{kind} must be 1 to {max} characters long"
        )));
    }
    if let Some(c) = id
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#' | '%'))
    {
        return Err(CoordError::Invalid(format!(
            "{kind} {id:?} contains {c:?}, which is not allowed"
        )));
    }
    Ok(())
}

impl TaskInput {
    /// The id, checked.
    pub fn id(&self) -> Result<String, CoordError> {
        let id = match &self.task_id {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(CoordError::Invalid("task_id must be a string".into())),
            None => return Err(CoordError::Invalid("task_id is required".into())),
        };
        validate_id("task_id", &id, MAX_ID_LEN)?;
        Ok(id)
    }

    /// Every dependency named, from `blocked_by` and `depends_on`.
    pub fn dependencies(&self) -> Vec<String> {
        let mut deps: Vec<String> = Vec::new();
        for d in self
            .depends_on
            .iter()
            .flatten()
            .chain(self.blocked_by.iter().flatten())
        {
            if !deps.contains(d) {
                deps.push(d.clone());
            }
        }
        deps
    }

    pub fn validate(&self) -> Result<(), CoordError> {
        let id = self.id()?;
        Details::check_input(&self.details)?;
        let too_long = |field: &str, max: usize| {
            CoordError::Invalid(format!("{field} is longer than {max} characters"))
        };
        if self
            .title
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_TITLE)
        {
            return Err(too_long("title", MAX_TITLE));
        }
        if self
            .description
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_DESCRIPTION)
        {
            return Err(too_long("description", MAX_DESCRIPTION));
        }
        let deps = self.dependencies();
        if deps.len() > MAX_LIST {
            return Err(CoordError::Invalid(format!(
                "a task may depend on at most {MAX_LIST} tasks"
            )));
        }
        for d in &deps {
            validate_id("blocked_by entry", d, MAX_ID_LEN)?;
            if *d == id {
                return Err(CoordError::Cycle(vec![id.clone(), id.clone()]));
            }
        }
        let caps = self.capabilities.as_deref().unwrap_or_default();
        if caps.len() > MAX_LIST || caps.iter().any(|c| c.is_empty() || c.len() > 64) {
            return Err(CoordError::Invalid(format!(
                "capabilities: at most {MAX_LIST} names of 1 to 64 characters"
            )));
        }
        if self.status == Some(TaskStatus::Claimed) {
            return Err(CoordError::Invalid(
                "a task cannot be posted as claimed; claim it with POST /api/tasks/{task_id}/claim"
                    .into(),
            ));
        }
        check_result(self.result.as_ref())?;
        if let Some(k) = &self.dedup_key {
            if k.is_empty() || k.chars().count() > 256 {
                return Err(CoordError::Invalid(
                    "dedup_key must be 1 to 256 characters long".into(),
                ));
            }
        }
        if let Some(files) = &self.files {
            if files.len() > MAX_LIST {
                return Err(CoordError::Invalid(format!(
                    "a task may name at most {MAX_LIST} file globs"
                )));
            }
            for f in files {
                super::glob::Glob::parse(f).map_err(CoordError::Invalid)?;
            }
        }
        if self.max_attempts == Some(0) || self.max_attempts.is_some_and(|m| m > 1000) {
            return Err(CoordError::Invalid(
                "max_attempts must be between 1 and 1000".into(),
            ));
        }
        Ok(())
    }
}

/// Ids as subject tokens: letters, digits, `_` and `-` stay; every other
/// byte becomes `~XX`, so any id maps to exactly one valid token and back.
pub fn token(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("~{b:02X}"));
        }
    }
    out
}

/// A task for unit tests: `id`, status and priority as given, created
/// `age` seconds after a fixed instant, depending on `deps`.
#[cfg(test)]
pub(crate) fn sample_task(
    id: &str,
    status: TaskStatus,
    priority: Priority,
    age: i64,
    deps: Vec<String>,
) -> Task {
    let at = Timestamp(chrono::DateTime::from_timestamp(1_700_000_000 + age, 0).unwrap());
    Task {
        task_id: id.to_string(),
        title: String::new(),
        description: String::new(),
        status,
        owner: (status == TaskStatus::Claimed).then(|| "a".to_string()),
        blocked_by: Vec::new(),
        depends_on: deps,
        priority,
        created_at: at.into(),
        claimed_at: None,
        completed_at: None,
        result: None,
        error: None,
        attempts: 0,
        max_attempts: 3,
        lease_expires_at: None,
        capabilities: Vec::new(),
        updated_at: at,
        progress: None,
        failed_dependencies: Vec::new(),
        cancelled: false,
        release_reason: None,
        fencing_token: 0,
        not_before: None,
        dedup_key: None,
        files: Vec::new(),
        handoff: None,
        details: Details::default(),
        extra: Map::new(),
    }
}

mod details;
pub use details::{Details, DetailsInput};

#[cfg(test)]
mod tests;

/// A task's `result` is a JSON object or null: old clients read it as a
/// dict, so a string or a list stored there would break them.
pub(super) fn check_result(result: Option<&Value>) -> Result<(), CoordError> {
    match result {
        None | Some(Value::Null | Value::Object(_)) => Ok(()),
        Some(_) => Err(CoordError::Invalid(
            "result must be a JSON object or null".into(),
        )),
    }
}
