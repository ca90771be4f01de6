//! What happens after an attempt does not finish: the task goes back to the
//! queue with an exponential backoff (`not_before`), until its attempts run
//! out and it waits for a human (`needs_human`). Also the ways an agent or
//! a person puts a task back without spending an attempt: `snooze`,
//! `handoff`, and `retry` of a task that needs a human.

use std::time::Duration;

use super::facets::Tasks;
use super::inbox::InboxItem;
use super::task::validate_id;
use super::tasks::Written;
use super::transitions;
use super::CoordError;
use crate::streams::LogPort;

/// Longest note a handoff or snooze keeps.
const MAX_NOTE: usize = 10_000;

fn check_note(note: &Option<String>) -> Result<(), CoordError> {
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(CoordError::Invalid(format!(
            "note is longer than {MAX_NOTE} characters"
        )));
    }
    Ok(())
}

impl<P: LogPort> Tasks<'_, P> {
    /// The holder puts the task back until `delay` has passed, without
    /// spending an attempt.
    pub async fn snooze(
        self,
        id: &str,
        agent: &str,
        delay: Duration,
        note: Option<String>,
        fence: Option<u64>,
    ) -> Result<Written, CoordError> {
        check_note(&note)?;
        let w = self
            .c
            .change_task(id, |t, _| {
                transitions::snooze(t, agent, fence, delay, note.as_deref(), self.c.clock.now())
            })
            .await?;
        self.c.release_task_reservations(id).await;
        Ok(w)
    }

    /// The holder gives the task back with a note for whoever takes it
    /// next (and, with `to`, in that agent's inbox); no attempt is spent.
    pub async fn handoff(
        self,
        id: &str,
        agent: &str,
        note: String,
        to: Option<&str>,
        fence: Option<u64>,
    ) -> Result<Written, CoordError> {
        if let Some(to) = to {
            validate_id("to", to, 128)?;
        }
        check_note(&Some(note.clone()))?;
        let w = self
            .c
            .change_task(id, |t, _| {
                transitions::handoff(t, agent, fence, &note, self.c.clock.now())
            })
            .await?;
        self.c.release_task_reservations(id).await;
        if let Some(to) = to {
            let item = InboxItem {
                seq: 0,
                kind: "handoff".into(),
                from: Some(agent.to_string()),
                text: note,
                task_id: Some(id.to_string()),
                channel: None,
                at: self.c.clock.now(),
            };
            self.c.inbox().deliver(to, item).await?;
        }
        Ok(w)
    }

    /// A person sends a task that needs a human (or failed) back to the
    /// queue with fresh attempts.
    pub async fn retry(self, id: &str) -> Result<Written, CoordError> {
        self.c
            .change_task(id, |t, _| transitions::retry(t, self.c.clock.now()))
            .await
    }
}
