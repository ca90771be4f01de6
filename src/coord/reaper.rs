//! The background job that keeps claimed tasks from getting stuck: a task
//! whose lease expired, or whose owner stopped heartbeating (or was
//! removed), goes back to the queue with its attempts raised, or fails
//! after its last attempt. Each such event is also reported on
//! `<prefix>.errors`. Where several instances share a store, only the one
//! holding the `reaper` lease reaps; another takes the lease over within
//! half the dead-agent threshold if that one dies. (Were two to reap at
//! once, each requeue still expects the version it read, so none is
//! applied twice.)

use std::sync::Arc;

use serde_json::json;
use tokio::sync::watch;

use super::task::TaskStatus;
use super::{CoordError, Coordinator};
use crate::streams::LogPort;

pub(super) async fn run<P: LogPort>(
    coord: Arc<Coordinator<P>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(coord.config.reap_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        if !coord.leads_reaping().await {
            continue;
        }
        let released = coord.reap().await;
        if released > 0 {
            tracing::info!(released, "reaper returned tasks to the queue");
        }
    }
}

impl<P: LogPort> Coordinator<P> {
    /// Whether this instance holds (or now takes) the reaper's lease.
    pub async fn leads_reaping(&self) -> bool {
        let ttl = (self.config.agent_dead_after / 2).max(std::time::Duration::from_secs(1));
        // One reaper per project (the default project's keeps its name).
        let name = if self.config.project == super::project::DEFAULT_PROJECT {
            "reaper".to_string()
        } else {
            format!("reaper-{}", self.config.project)
        };
        let leads = match self.port.lead(&name, &self.instance, ttl).await {
            Ok(leads) => leads,
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell who reaps; not reaping this round");
                false
            }
        };
        let was = self
            .stats
            .reaping
            .swap(leads, std::sync::atomic::Ordering::Relaxed);
        if was != leads {
            tracing::info!(instance = %self.instance, leads, "reaper lease changed hands");
        }
        leads
    }

    /// One pass: returns how many tasks were requeued or failed.
    pub async fn reap(&self) -> usize {
        if super::lock(&self.task_view).promote_due(self.clock.now()) > 0 {
            self.claimable.notify_waiters();
        }
        let ended = self
            .expire_reservations(|agent| self.is_dead(agent) == Some(true))
            .await;
        if ended > 0 {
            tracing::info!(ended, "file reservations expired or lost their agent");
        }
        self.expire_permits().await;
        let claimed = super::lock(&self.task_view).claimed();
        let mono = self.clock.instant();
        let mut released = 0;
        for task in claimed {
            let Some(owner) = task.owner.clone() else {
                continue;
            };
            let lease_expired = super::lock(&self.task_view).lease_expired(&task.task_id, mono);
            let reason = if lease_expired {
                Some(format!("lease of {owner} expired"))
            } else {
                match self.agent(&owner) {
                    Some(a) if self.is_dead(&owner) == Some(true) => Some(format!(
                        "agent {owner} stopped heartbeating (last heard from {})",
                        a.seen()
                    )),
                    Some(_) => None,
                    // Never registered or removed: judge by the claim's age.
                    None => task
                        .claimed_at
                        .filter(|c| self.clock.since(*c) > self.config.agent_dead_after)
                        .map(|_| format!("agent {owner} is not registered and sent no heartbeat")),
                }
            };
            let Some(reason) = reason else { continue };
            match self.requeue(&task.task_id, &owner, &reason).await {
                Ok(w) => {
                    released += 1;
                    let counter = if lease_expired {
                        &self.stats.leases_expired
                    } else {
                        &self.stats.dead_agent_releases
                    };
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let what = if w.task.status == TaskStatus::NeedsHuman {
                        "needs a human"
                    } else {
                        "returned to the queue"
                    };
                    let text = format!("task {} {what}: {reason}", task.task_id);
                    tracing::warn!(task = %task.task_id, %owner, "{text}");
                    let report = json!({
                        "agent_id": "hivelog",
                        "channel": "errors",
                        "content": text,
                        "timestamp": self.clock.now(),
                        "task_id": task.task_id,
                        "mentions": [owner],
                    });
                    let subject = self.subject("errors");
                    if let Err(e) = self
                        .port
                        .append(&subject, report.to_string().into_bytes(), None)
                        .await
                    {
                        tracing::warn!(error = %e, "could not report a released task on the errors subject");
                    }
                }
                // Completed, released or re-claimed in the meantime.
                Err(CoordError::NotClaimed | CoordError::TaskNotFound) => {}
                Err(e) => {
                    tracing::error!(task = %task.task_id, error = %e, "could not release task")
                }
            }
        }
        released
    }
}
