//! Tasks as the replaced stack stored them. It published every version of
//! a task whole on `<prefix>.tasks`, and served the newest; an import
//! turns that version into a hivelog task, keeping who holds it and what
//! it produced, so no claim and no result is lost by moving.

use serde_json::Value;

use super::agents::RegisterInput;
use super::facets::Tasks;
use super::task::{token, validate_id, Priority, TaskInput, TaskStatus};
use super::time::Timestamp;
use super::{lock, CoordError, Coordinator};
use crate::streams::{LogPort, PortError};

/// What importing one task did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    Created,
    /// hivelog already has a task with that id; it is left as it is, so
    /// an import can run again without undoing work done since.
    Kept,
}

/// A priority hivelog does not know (the old service took any string),
/// and the one the imported task got instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityMapped {
    pub from: String,
    pub to: Priority,
}

/// The field where an imported task keeps a priority it had to map.
pub const ORIGINAL_PRIORITY: &str = "original_priority";

/// hivelog's priority for one the old service accepted. A migration never
/// leaves a task behind for its priority: the usual words for urgent work
/// map to high, those for minor work to low, anything else to medium.
fn map_priority(old: &Value) -> Option<PriorityMapped> {
    let from = match old {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if serde_json::from_value::<Priority>(old.clone()).is_ok() {
        return None;
    }
    let word = from.trim().to_ascii_lowercase();
    let to = match word.as_str() {
        "high" | "urgent" | "critical" | "crit" | "highest" | "blocker" | "asap" | "immediate"
        | "important" | "p0" | "p1" => Priority::High,
        "low" | "lowest" | "minor" | "trivial" | "later" | "someday" | "p3" | "p4" => Priority::Low,
        _ => Priority::Medium,
    };
    Some(PriorityMapped { from, to })
}

impl<P: LogPort> Coordinator<P> {
    async fn import_version(&self, old: &Value) -> Result<Imported, CoordError> {
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
        if lock(&self.task_view).get(&id).is_some() {
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
                self.agents()
                    .register(RegisterInput {
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

impl<P: LogPort> Tasks<'_, P> {
    /// Creates the task that `old` (one version as the old stack published
    /// it) describes, unless a task with its id exists. A priority hivelog
    /// does not know is mapped (see `map_priority`), kept as sent in
    /// `original_priority`, and returned so the import can list it.
    pub async fn import(
        self,
        old: &Value,
    ) -> Result<(Imported, Option<PriorityMapped>), CoordError> {
        let mut old = old.clone();
        let mapped = old.get("priority").and_then(map_priority);
        if let (Some(m), Some(fields)) = (&mapped, old.as_object_mut()) {
            fields.insert(
                "priority".into(),
                serde_json::to_value(m.to).unwrap_or_default(),
            );
            fields.insert(ORIGINAL_PRIORITY.into(), Value::String(m.from.clone()));
        }
        let outcome = self.c.import_version(&old).await?;
        Ok((outcome, mapped.filter(|_| outcome == Imported::Created)))
    }
}

impl<P: LogPort> Tasks<'_, P> {
    /// The last sequence of source stream `stream` whose message was copied
    /// (0: none yet).
    pub async fn import_position(self, stream: &str) -> Result<u64, CoordError> {
        let subject = format!("{}.{}", self.c.subjects.import, token(stream));
        let Some(r) = self.c.port.last(&subject).await? else {
            return Ok(0);
        };
        Ok(serde_json::from_slice::<Value>(&r.payload)
            .ok()
            .and_then(|v| v["copied_through"].as_u64())
            .unwrap_or(0))
    }

    /// Records that source stream `stream` is copied through `seq`.
    pub async fn set_import_position(self, stream: &str, seq: u64) -> Result<(), CoordError> {
        let subject = format!("{}.{}", self.c.subjects.import, token(stream));
        let record = serde_json::json!({"stream": stream, "copied_through": seq});
        self.c
            .port
            .append(&subject, record.to_string().into_bytes(), None)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn any_priority_the_old_service_took_maps_to_one_of_three() {
        let to = |v: Value| map_priority(&v).map(|m| (m.from, m.to));
        assert_eq!(to(json!("high")), None);
        assert_eq!(to(json!(null)), None);
        assert_eq!(to(json!("urgent")), Some(("urgent".into(), Priority::High)));
        assert_eq!(to(json!(" P0 ")), Some((" P0 ".into(), Priority::High)));
        assert_eq!(to(json!("High")), Some(("High".into(), Priority::High)));
        assert_eq!(
            to(json!("trivial")),
            Some(("trivial".into(), Priority::Low))
        );
        assert_eq!(
            to(json!("whenever")),
            Some(("whenever".into(), Priority::Medium))
        );
        assert_eq!(to(json!(2)), Some(("2".into(), Priority::Medium)));
    }
}
