//! The claim lifecycle: claim, claim-next, progress, complete, release,
//! cancel, and the reaper's requeue. Each is a `change_task` step with a
//! pure transition from transitions.rs: decide from the version read,
//! append expecting that version, retry on conflict.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::facets::Tasks;
use super::reservations::ReserveRequest;
use super::task::{validate_id, Task};
use super::tasks::Written;
use super::transitions::{self, Finish};
use super::{lock, CoordError, Coordinator};
use crate::streams::LogPort;

fn check_agent(agent: &str) -> Result<(), CoordError> {
    if agent.is_empty() {
        return Err(CoordError::MissingAgent);
    }
    validate_id("agent_id", agent, 128)
}

/// Why a grant is given back when its caller left before the answer.
pub const GONE_BEFORE_ANSWER: &str = "the caller left before it got the grant";

impl<P: LogPort> Coordinator<P> {
    async fn claim_plain(&self, id: &str, agent: &str) -> Result<Written, CoordError> {
        let lease = self.config.task_lease;
        let result = self
            .change_task(id, |t, view| {
                transitions::claim(t, agent, view.unmet(t), lease, self.clock.now())
            })
            .await
            .map_err(|e| match e {
                CoordError::TaskNotFound => CoordError::NotClaimable {
                    status: None,
                    owner: None,
                },
                other => other,
            });
        let counter = match &result {
            Ok(_) => Some(&self.stats.claims_won),
            Err(CoordError::NotClaimable { .. }) => Some(&self.stats.claims_lost),
            Err(_) => None,
        };
        if let Some(c) = counter {
            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }

    /// The end of a claim-next that found nothing: paused says so.
    fn nothing_granted(&self) -> Result<Option<Written>, CoordError> {
        if self.is_paused() {
            return Err(CoordError::Paused);
        }
        Ok(None)
    }

    /// Returns a claimed task to the queue after a backoff (or hands it to
    /// a human after its last attempt), for the reaper.
    pub(super) async fn requeue(
        &self,
        id: &str,
        owner: &str,
        reason: &str,
    ) -> Result<Written, CoordError> {
        let config = &self.config;
        let w = self
            .change_task(id, |t, _| {
                transitions::requeue(t, owner, reason, config, self.clock.now())
            })
            .await?;
        self.release_task_reservations(id).await;
        Ok(w)
    }
}

impl<P: LogPort> Tasks<'_, P> {
    /// Grants task `id` to `agent`. A task that names `files` is granted
    /// only together with exclusive reservations on them.
    pub async fn claim(self, id: &str, agent: &str) -> Result<Written, CoordError> {
        check_agent(agent)?;
        if self.c.is_paused() {
            return Err(CoordError::Paused);
        }
        let has_files = lock(&self.c.task_view)
            .get(id)
            .is_some_and(|e| !e.task.files.is_empty());
        if !has_files {
            return self.c.claim_plain(id, agent).await;
        }
        // The conflict check, the claim and the reservations happen under
        // the reservation lock, so no reservation slips in between.
        let _serial = self.c.reservation_lock.lock().await;
        let w = self.c.claim_plain(id, agent).await?;
        if w.task.files.is_empty() {
            return Ok(w);
        }
        let req = ReserveRequest {
            agent: agent.to_string(),
            globs: w.task.files.clone(),
            exclusive: true,
            ttl: self.c.config.task_lease,
            task_id: Some(id.to_string()),
            reason: Some(format!("claimed task {id}")),
        };
        match self.c.reserve_locked(req).await {
            Ok(_) => Ok(w),
            Err(e) => {
                // Give the grant back untouched (no attempt spent).
                let token = w.task.fencing_token;
                let why = "its files are reserved by another agent";
                if let Err(undo) = self
                    .c
                    .change_task(id, |t, _| {
                        transitions::undo_claim(t, token, why, self.c.clock.now())
                    })
                    .await
                {
                    tracing::warn!(task = %id, error = %undo, "could not undo a claim whose files are reserved");
                }
                Err(e)
            }
        }
    }

    /// Claims the first claimable task whose required capabilities the agent
    /// has. With `wait`, waits that long for one to appear. `None` when
    /// there is none, or when the caller is `gone`: nothing is granted to
    /// a caller that left (a client that timed out, cancelled or hung up),
    /// and a grant made as it left is given back at once, without spending
    /// an attempt. `Paused` while grants are paused.
    pub async fn claim_next(
        self,
        agent: &str,
        capabilities: Option<Vec<String>>,
        wait: Duration,
        gone: &CancellationToken,
    ) -> Result<Option<Written>, CoordError> {
        check_agent(agent)?;
        if self.c.is_paused() {
            return Err(CoordError::Paused);
        }
        let caps = match capabilities {
            Some(c) => c,
            None => self.c.agent_capabilities(agent),
        };
        let give_up = tokio::time::Instant::now() + wait;
        loop {
            let woken = self.c.claimable.notified();
            let fits = |needs: &[String]| needs.iter().all(|c| caps.contains(c));
            let mut tried = Vec::new();
            loop {
                if gone.is_cancelled() {
                    return Ok(None);
                }
                let Some(id) = lock(&self.c.task_view)
                    .reserve_next(|id, caps| fits(caps) && !tried.iter().any(|t: &String| t == id))
                else {
                    break;
                };
                let claimed = self.claim(&id, agent).await;
                lock(&self.c.task_view).unreserve(&id);
                match claimed {
                    Ok(w) if gone.is_cancelled() => {
                        self.give_back(&w.task, GONE_BEFORE_ANSWER).await;
                        return Ok(None);
                    }
                    Ok(w) => return Ok(Some(w)),
                    // Someone claimed it through the plain claim route, or
                    // its files are reserved; let waiting claim-next
                    // callers look again.
                    Err(
                        CoordError::NotClaimable { .. }
                        | CoordError::Blocked(_)
                        | CoordError::Reserved(_),
                    ) => {
                        self.c.claimable.notify_waiters();
                        tried.push(id);
                    }
                    Err(e) => return Err(e),
                }
            }
            if tokio::time::Instant::now() >= give_up {
                return self.c.nothing_granted();
            }
            tokio::select! {
                _ = woken => {}
                _ = gone.cancelled() => return Ok(None),
                _ = tokio::time::sleep_until(give_up) => return self.c.nothing_granted(),
            }
        }
    }

    /// Gives back grant `task` (this very grant: its fencing token) as if
    /// it had not been made: available again, no attempt spent, nothing
    /// held for it; `why` goes into its history. For a grant whose answer
    /// could not reach its caller. A grant already finished or taken over
    /// is left alone.
    pub async fn give_back(self, task: &Task, why: &str) {
        let token = task.fencing_token;
        let undone = self
            .c
            .change_task(&task.task_id, |t, _| {
                transitions::undo_claim(t, token, why, self.c.clock.now())
            })
            .await;
        match undone {
            Ok(_) => {
                self.c
                    .stats
                    .grants_given_back
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.c.release_task_reservations(&task.task_id).await;
                tracing::info!(task = %task.task_id, token, why, "grant given back");
            }
            Err(e) => {
                tracing::warn!(task = %task.task_id, token, error = %e, "could not give back a grant")
            }
        }
    }

    /// The holder finishes the task. A failure with `retry` goes back to
    /// the queue after a backoff while attempts remain, else it needs a
    /// human.
    pub async fn complete(self, id: &str, agent: &str, f: Finish) -> Result<Written, CoordError> {
        check_agent(agent)?;
        super::task::check_result(f.result.as_ref())?;
        let config = &self.c.config;
        let w = self
            .c
            .change_task(id, |t, _| {
                transitions::complete(t, agent, &f, config, self.c.clock.now())
            })
            .await?;
        self.c.release_task_reservations(id).await;
        Ok(w)
    }

    /// The owner gives the task back; it does not count as a failed attempt.
    pub async fn release(
        self,
        id: &str,
        agent: &str,
        fence: Option<u64>,
    ) -> Result<Written, CoordError> {
        check_agent(agent)?;
        let w = self
            .c
            .change_task(id, |t, _| {
                transitions::release(t, agent, fence, self.c.clock.now())
            })
            .await?;
        self.c.release_task_reservations(id).await;
        Ok(w)
    }

    /// Stops a task that is not finished: it becomes `failed` with
    /// `cancelled: true`.
    pub async fn cancel(
        self,
        id: &str,
        by: Option<&str>,
        reason: Option<String>,
    ) -> Result<Written, CoordError> {
        let w = self
            .c
            .change_task(id, |t, _| {
                transitions::cancel(t, by, reason.as_deref(), self.c.clock.now())
            })
            .await?;
        self.c.release_task_reservations(id).await;
        Ok(w)
    }

    /// The owner reports progress; this also renews the lease.
    pub async fn progress(
        self,
        id: &str,
        agent: &str,
        note: Option<String>,
        percent: Option<f64>,
        fence: Option<u64>,
    ) -> Result<Written, CoordError> {
        check_agent(agent)?;
        if percent.is_some_and(|p| !(0.0..=100.0).contains(&p)) {
            return Err(CoordError::Invalid(
                "percent must be between 0 and 100".into(),
            ));
        }
        let lease = self.c.config.task_lease;
        self.c
            .change_task(id, |t, _| {
                let report = (note.clone(), percent);
                transitions::progress(t, agent, fence, report, lease, self.c.clock.now())
            })
            .await
    }
}
