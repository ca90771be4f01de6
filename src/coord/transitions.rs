//! Every change of a claimed task's state as a pure function: the task as
//! read, who asks, and `now` in; the next version, or why it may not
//! change, out. No storage, lock or clock is in reach here: the
//! coordinator applies these through its one retry-on-conflict loop
//! (`change_task`), and the property tests below drive them directly.
//!
//! The rules they keep: every grant raises the fencing token; a holder
//! that shows a token must show the current one (old clients show none
//! and are checked by owner only); a task has an owner exactly while it is
//! claimed; a spent attempt sends it back after a doubling backoff until
//! none remain, then a human is needed.

use std::time::Duration;

use serde_json::Value;

use super::task::{Handoff, Progress, Task, TaskStatus};
use super::time::Timestamp;
use super::{CoordConfig, CoordError};

/// How a holder finishes a task.
#[derive(Debug, Clone, Default)]
pub struct Finish {
    pub success: bool,
    pub result: Option<Value>,
    pub error: Option<String>,
    /// On failure: go back to the queue (with backoff) while attempts
    /// remain. The compatible route passes false: failed is final there.
    pub retry: bool,
    pub fence: Option<u64>,
}

/// The wait before attempt `attempts + 1`: the base doubled per attempt
/// already spent, capped.
pub fn backoff(config: &CoordConfig, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    config
        .retry_backoff
        .saturating_mul(1u32 << doublings)
        .min(config.retry_backoff_max)
}

/// The holder's token (when it shows one) must be the current grant's,
/// and the holder must own the task.
pub fn check_grant(t: &Task, agent: &str, fence: Option<u64>) -> Result<(), CoordError> {
    if let Some(given) = fence {
        if given != t.fencing_token || t.status != TaskStatus::Claimed {
            return Err(CoordError::StaleToken {
                given,
                current: t.fencing_token,
                claimed: t.status == TaskStatus::Claimed,
            });
        }
    }
    match (&t.status, &t.owner) {
        (TaskStatus::Claimed, Some(owner)) if owner == agent => Ok(()),
        (TaskStatus::Claimed, Some(owner)) => Err(CoordError::NotOwner {
            owner: owner.clone(),
            agent: agent.into(),
        }),
        _ => Err(CoordError::NotClaimed),
    }
}

fn unclaimed(t: &Task, now: Timestamp) -> Task {
    let mut n = t.clone();
    n.status = TaskStatus::Available;
    n.owner = None;
    n.claimed_at = None;
    n.lease_expires_at = None;
    n.progress = None;
    n.updated_at = now;
    n
}

/// One attempt spent: back to the queue after a backoff, or to a human
/// when none remain.
fn attempt_spent(t: &Task, reason: &str, config: &CoordConfig, now: Timestamp) -> Task {
    let mut n = t.clone();
    n.attempts += 1;
    n.release_reason = Some(reason.to_string());
    if n.attempts >= n.max_attempts.max(1) {
        n.status = TaskStatus::NeedsHuman;
        n.lease_expires_at = None;
        n.completed_at = Some(now);
        n.error = Some(format!("{reason}; gave up after {} attempts", n.attempts));
        n.updated_at = now;
        n
    } else {
        let mut n = unclaimed(&n, now);
        n.not_before = Some(now.plus(backoff(config, n.attempts)));
        n
    }
}

/// `agent` takes an available task whose dependencies (`unmet` lists the
/// unfinished ones) are done and whose backoff has passed.
pub fn claim(
    t: &Task,
    agent: &str,
    unmet: Vec<String>,
    lease: Duration,
    now: Timestamp,
) -> Result<Task, CoordError> {
    if t.status != TaskStatus::Available {
        return Err(CoordError::NotClaimable {
            status: Some(t.status.as_str()),
            owner: t.owner.clone(),
        });
    }
    if !unmet.is_empty() {
        return Err(CoordError::Blocked(unmet));
    }
    if t.not_before.is_some_and(|nb| nb > now) {
        return Err(CoordError::NotClaimable {
            status: Some("delayed"),
            owner: None,
        });
    }
    let mut n = t.clone();
    n.status = TaskStatus::Claimed;
    n.owner = Some(agent.to_string());
    n.claimed_at = Some(now);
    n.lease_expires_at = Some(now.plus(lease));
    n.updated_at = now;
    n.progress = None;
    n.not_before = None;
    n.fencing_token = t.fencing_token + 1;
    Ok(n)
}

/// Gives back the grant `token` untouched (no attempt spent): a claim whose
/// files turned out to be reserved, or whose caller left before its
/// answer. `why` stays in the history.
pub fn undo_claim(t: &Task, token: u64, why: &str, now: Timestamp) -> Result<Task, CoordError> {
    if t.fencing_token != token || t.status != TaskStatus::Claimed {
        return Err(CoordError::NotClaimed);
    }
    let mut n = unclaimed(t, now);
    n.release_reason = Some(format!("grant given back: {why}"));
    Ok(n)
}

/// The holder finishes: completed, failed for good, or (a failure with
/// `retry`) an attempt spent.
pub fn complete(
    t: &Task,
    agent: &str,
    f: &Finish,
    config: &CoordConfig,
    now: Timestamp,
) -> Result<Task, CoordError> {
    check_grant(t, agent, f.fence)?;
    let mut n = t.clone();
    n.result = f.result.clone().map(Box::new);
    n.error = f.error.clone();
    if !f.success && f.retry {
        let reason = match &f.error {
            Some(e) => format!("failed: {e}"),
            None => "failed".to_string(),
        };
        return Ok(attempt_spent(&n, &reason, config, now));
    }
    n.status = if f.success {
        TaskStatus::Completed
    } else {
        TaskStatus::Failed
    };
    n.completed_at = Some(now);
    n.lease_expires_at = None;
    n.updated_at = now;
    Ok(n)
}

/// The holder gives the task back; no attempt is spent.
pub fn release(
    t: &Task,
    agent: &str,
    fence: Option<u64>,
    now: Timestamp,
) -> Result<Task, CoordError> {
    check_grant(t, agent, fence)?;
    let mut n = unclaimed(t, now);
    n.release_reason = Some(format!("released by {agent}"));
    Ok(n)
}

/// Stops an unfinished task: failed, with `cancelled`.
pub fn cancel(
    t: &Task,
    by: Option<&str>,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<Task, CoordError> {
    if t.status.is_final() {
        return Err(CoordError::Finished(t.status.as_str()));
    }
    let mut n = t.clone();
    n.status = TaskStatus::Failed;
    n.cancelled = true;
    n.lease_expires_at = None;
    n.completed_at = Some(now);
    n.updated_at = now;
    let who = by.map(|a| format!(" by {a}")).unwrap_or_default();
    n.error = Some(match reason {
        Some(r) => format!("cancelled{who}: {r}"),
        None => format!("cancelled{who}"),
    });
    Ok(n)
}

/// The holder reports progress, which renews the lease.
pub fn progress(
    t: &Task,
    agent: &str,
    fence: Option<u64>,
    report: (Option<String>, Option<f64>),
    lease: Duration,
    now: Timestamp,
) -> Result<Task, CoordError> {
    check_grant(t, agent, fence)?;
    let mut n = t.clone();
    n.progress = Some(Box::new(Progress {
        note: report.0,
        percent: report.1,
        at: now,
    }));
    n.lease_expires_at = Some(now.plus(lease));
    n.updated_at = now;
    Ok(n)
}

/// The reaper takes a claimed task from `owner` (lease expired, agent
/// dead): an attempt is spent.
pub fn requeue(
    t: &Task,
    owner: &str,
    reason: &str,
    config: &CoordConfig,
    now: Timestamp,
) -> Result<Task, CoordError> {
    if t.status != TaskStatus::Claimed || t.owner.as_deref() != Some(owner) {
        return Err(CoordError::NotClaimed);
    }
    Ok(attempt_spent(t, reason, config, now))
}

/// The holder puts the task back until `delay` has passed; no attempt is
/// spent.
pub fn snooze(
    t: &Task,
    agent: &str,
    fence: Option<u64>,
    delay: Duration,
    note: Option<&str>,
    now: Timestamp,
) -> Result<Task, CoordError> {
    check_grant(t, agent, fence)?;
    let mut n = unclaimed(t, now);
    n.not_before = Some(now.plus(delay));
    n.release_reason = Some(match note {
        Some(note) => format!("snoozed by {agent}: {note}"),
        None => format!("snoozed by {agent}"),
    });
    Ok(n)
}

/// The holder gives the task back with a note for whoever takes it next.
pub fn handoff(
    t: &Task,
    agent: &str,
    fence: Option<u64>,
    note: &str,
    now: Timestamp,
) -> Result<Task, CoordError> {
    check_grant(t, agent, fence)?;
    let mut n = unclaimed(t, now);
    n.handoff = Some(Box::new(Handoff {
        by: agent.to_string(),
        note: note.to_string(),
        at: now,
    }));
    n.release_reason = Some(format!("handed off by {agent}"));
    Ok(n)
}

/// A person sends a task that needs a human (or failed) back to the queue
/// with fresh attempts.
pub fn retry(t: &Task, now: Timestamp) -> Result<Task, CoordError> {
    if !matches!(t.status, TaskStatus::NeedsHuman | TaskStatus::Failed) {
        return Err(CoordError::Invalid(format!(
            "only a failed or needs_human task can be retried; this one is {}",
            t.status.as_str()
        )));
    }
    let mut n = unclaimed(t, now);
    n.attempts = 0;
    n.not_before = None;
    n.completed_at = None;
    n.cancelled = false;
    n.release_reason = Some("retried by a person".into());
    Ok(n)
}

#[cfg(test)]
mod tests;
