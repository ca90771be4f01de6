//! What happens after an attempt does not finish: the task goes back to the
//! queue with an exponential backoff (`not_before`), until its attempts run
//! out and it waits for a human (`needs_human`). Also the ways an agent or
//! a person puts a task back without spending an attempt: `snooze`,
//! `handoff`, and `retry` of a task that needs a human.

use std::time::Duration;

use super::claims::unclaim;
use super::inbox::InboxItem;
use super::port::LogPort;
use super::task::{validate_id, Handoff, Task, TaskStatus};
use super::tasks::Written;
use super::time::Timestamp;
use super::{CoordConfig, CoordError, Coordinator};

/// Longest note a handoff or snooze keeps.
const MAX_NOTE: usize = 10_000;

/// The wait before attempt `attempts + 1`: the base doubled per attempt
/// already spent, capped.
pub fn backoff(config: &CoordConfig, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    config
        .retry_backoff
        .saturating_mul(1u32 << doublings)
        .min(config.retry_backoff_max)
}

/// One attempt spent: back to the queue after a backoff, or to a human
/// when none remain.
pub(super) fn spend_attempt(n: &mut Task, reason: &str, config: &CoordConfig, now: Timestamp) {
    n.attempts += 1;
    n.release_reason = Some(reason.to_string());
    if n.attempts >= n.max_attempts.max(1) {
        n.status = TaskStatus::NeedsHuman;
        n.lease_expires_at = None;
        n.completed_at = Some(now);
        n.error = Some(format!("{reason}; gave up after {} attempts", n.attempts));
        n.updated_at = now;
    } else {
        unclaim(n, now);
        n.not_before = Some(now.plus(backoff(config, n.attempts)));
    }
}

fn check_note(note: &Option<String>) -> Result<(), CoordError> {
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(CoordError::Invalid(format!(
            "note is longer than {MAX_NOTE} characters"
        )));
    }
    Ok(())
}

impl<P: LogPort> Coordinator<P> {
    /// The holder puts the task back until `delay` has passed, without
    /// spending an attempt.
    pub async fn snooze(
        &self,
        id: &str,
        agent: &str,
        delay: Duration,
        note: Option<String>,
        fence: Option<u64>,
    ) -> Result<Written, CoordError> {
        check_note(&note)?;
        let w = self
            .change_task(id, |t, _| {
                Self::check_grant(t, agent, fence)?;
                let mut n = t.clone();
                unclaim(&mut n, self.clock.now());
                let until = self.clock.now().plus(delay);
                n.not_before = Some(until);
                n.release_reason = Some(match &note {
                    Some(note) => format!("snoozed by {agent}: {note}"),
                    None => format!("snoozed by {agent}"),
                });
                Ok(n)
            })
            .await?;
        self.release_task_reservations(id).await;
        Ok(w)
    }

    /// The holder gives the task back with a note for whoever takes it
    /// next (and, with `to`, in that agent's inbox); no attempt is spent.
    pub async fn handoff(
        &self,
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
            .change_task(id, |t, _| {
                Self::check_grant(t, agent, fence)?;
                let mut n = t.clone();
                unclaim(&mut n, self.clock.now());
                n.handoff = Some(Handoff {
                    by: agent.to_string(),
                    note: note.clone(),
                    at: self.clock.now(),
                });
                n.release_reason = Some(format!("handed off by {agent}"));
                Ok(n)
            })
            .await?;
        self.release_task_reservations(id).await;
        if let Some(to) = to {
            let item = InboxItem {
                seq: 0,
                kind: "handoff".into(),
                from: Some(agent.to_string()),
                text: note,
                task_id: Some(id.to_string()),
                channel: None,
                at: self.clock.now(),
            };
            self.deliver(to, item).await?;
        }
        Ok(w)
    }

    /// A person sends a task that needs a human (or failed) back to the
    /// queue with fresh attempts.
    pub async fn retry(&self, id: &str) -> Result<Written, CoordError> {
        self.change_task(id, |t, _| {
            if !matches!(t.status, TaskStatus::NeedsHuman | TaskStatus::Failed) {
                return Err(CoordError::Invalid(format!(
                    "only a failed or needs_human task can be retried; this one is {}",
                    t.status.as_str()
                )));
            }
            let mut n = t.clone();
            unclaim(&mut n, self.clock.now());
            n.attempts = 0;
            n.not_before = None;
            n.completed_at = None;
            n.cancelled = false;
            n.release_reason = Some("retried by a person".into());
            Ok(n)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let c = CoordConfig {
            retry_backoff: Duration::from_secs(10),
            retry_backoff_max: Duration::from_secs(60),
            ..CoordConfig::default()
        };
        let waits: Vec<u64> = (1..=6).map(|a| backoff(&c, a).as_secs()).collect();
        assert_eq!(waits, vec![10, 20, 40, 60, 60, 60]);
        assert_eq!(backoff(&c, u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn the_last_attempt_needs_a_human() {
        let c = CoordConfig::default();
        let mut t = crate::coord::task::sample_task(
            "t",
            TaskStatus::Claimed,
            Default::default(),
            0,
            vec![],
        );
        t.max_attempts = 2;
        let now = Timestamp::now();
        spend_attempt(&mut t, "lease expired", &c, now);
        assert_eq!(t.status, TaskStatus::Available);
        assert_eq!(t.not_before, Some(now.plus(c.retry_backoff)));
        assert_eq!(t.owner, None);
        spend_attempt(&mut t, "lease expired", &c, now);
        assert_eq!(t.status, TaskStatus::NeedsHuman);
        assert!(t
            .error
            .as_deref()
            .unwrap()
            .contains("gave up after 2 attempts"));
    }
}
