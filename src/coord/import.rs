//! Tasks as the replaced stack stored them. It published every version of
//! a task whole on `<prefix>.tasks`, and served the newest; an import
//! turns that version into a hivelog task, keeping who holds it and what
//! it produced, so no claim and no result is lost by moving.

use serde_json::Value;

use super::agents::RegisterInput;
use super::port::{LogPort, PortError};
use super::task::{token, validate_id, TaskInput, TaskStatus};
use super::time::Timestamp;
use super::{lock, CoordError, Coordinator};

/// What importing one task did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    Created,
    /// hivelog already has a task with that id; it is left as it is, so
    /// an import can run again without undoing work done since.
    Kept,
}

impl<P: LogPort> Coordinator<P> {
    /// Creates the task that `old` (one version as the old stack published
    /// it) describes, unless a task with its id exists.
    pub async fn import_task(&self, old: &Value) -> Result<Imported, CoordError> {
        let mut input: TaskInput = serde_json::from_value(old.clone())
            .map_err(|e| CoordError::Invalid(format!("not a task: {e}")))?;
        // Posting refuses `claimed` (a claim goes through the claim
        // route); here the claim already happened, on the old stack.
        let status = input.status.take().unwrap_or(TaskStatus::Available);
        input.validate()?;
        let id = input.id()?;
        if input.title.is_none() {
            return Err(CoordError::Invalid(format!("task {id} has no title")));
        }
        if lock(&self.tasks).get(&id).is_some() {
            return Ok(Imported::Kept);
        }
        input.status = Some(status);
        let mut task = self.new_task(&id, &input, input.dependencies());
        let now = self.clock.now();
        let time = |field: &str| {
            old.get(field)
                .and_then(Value::as_str)
                .and_then(Timestamp::parse)
        };
        let owner = old
            .get("owner")
            .and_then(Value::as_str)
            .filter(|o| validate_id("owner", o, 128).is_ok());
        match (status, owner) {
            (TaskStatus::Claimed, Some(owner)) => {
                task.owner = Some(owner.to_string());
                task.claimed_at = Some(time("claimed_at").unwrap_or(now));
                // The lease starts now: the old stack kept none.
                task.lease_expires_at = Some(now.plus(self.config.task_lease));
                task.fencing_token = 1;
            }
            // A claim without a holder can only go back to the queue.
            (TaskStatus::Claimed, None) => task.status = TaskStatus::Available,
            (s, owner) if s.is_final() => {
                task.owner = owner.map(str::to_string);
                task.claimed_at = time("claimed_at");
                task.completed_at = Some(time("completed_at").unwrap_or(now));
            }
            _ => {}
        }
        // The holder has kept working on the old stack: it is heard of
        // now, so it has the dead-agent threshold to heartbeat here before
        // its claim goes back (an unknown holder's claim would go back at
        // once, judged by the claim's old age).
        if let Some(owner) = task
            .owner
            .clone()
            .filter(|_| task.status == TaskStatus::Claimed)
        {
            if self.agent(&owner).is_none() {
                self.register(RegisterInput {
                    agent_id: owner,
                    description: Some("imported: held a claim on the replaced stack".into()),
                    capabilities: None,
                    extra: Default::default(),
                })
                .await?;
            }
        }
        match self.write_task(task, 0).await {
            Ok(_) => Ok(Imported::Created),
            // Created meanwhile (another instance, a client): theirs stays.
            Err(PortError::Conflict { .. }) => {
                self.refresh(&id).await?;
                Ok(Imported::Kept)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// How far an import copied a source stream's messages, so running it
/// again copies only what came after.
const IMPORT_STATE: &str = "hivelog.state.import";

impl<P: LogPort> Coordinator<P> {
    /// The last sequence of source stream `stream` whose message was copied
    /// (0: none yet).
    pub async fn import_position(&self, stream: &str) -> Result<u64, CoordError> {
        let subject = format!("{IMPORT_STATE}.{}", token(stream));
        let Some(r) = self.port.last(&subject).await? else {
            return Ok(0);
        };
        Ok(serde_json::from_slice::<Value>(&r.payload)
            .ok()
            .and_then(|v| v["copied_through"].as_u64())
            .unwrap_or(0))
    }

    /// Records that source stream `stream` is copied through `seq`.
    pub async fn set_import_position(&self, stream: &str, seq: u64) -> Result<(), CoordError> {
        let subject = format!("{IMPORT_STATE}.{}", token(stream));
        let record = serde_json::json!({"stream": stream, "copied_through": seq});
        self.port
            .append(&subject, record.to_string().into_bytes(), None)
            .await?;
        Ok(())
    }
}
