//! Per-agent inboxes: what an agent should see without polling every
//! channel — messages that mention it or are addressed to it, notes handed
//! to it, answers to its approval requests, and tasks that became
//! claimable and need capabilities it has. Each inbox is a subject (`hivelog.state.inbox.<agent>`)
//! read like a durable consumer: the agent's ack floor is a record of its
//! own (`hivelog.state.inbox_ack.<agent>`), peeking reads past the floor
//! without moving it, and acking moves it. The newest 1,000 entries of an
//! inbox are kept (the state stream's per-subject limit).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::facets::Inbox;
use super::task::{token, validate_id};
use super::time::Timestamp;
use super::{CoordError, Coordinator};
use crate::streams::LogPort;

/// Most entries one peek returns.
pub const MAX_PEEK: usize = 1_000;
/// Most agents told about one claimable task.
const MAX_ANNOUNCE: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxItem {
    /// Its sequence in the log: ack up to it.
    #[serde(default)]
    pub seq: u64,
    /// `message`, `handoff`, `approval` or `task_ready`.
    pub kind: String,
    pub from: Option<String>,
    pub text: String,
    pub task_id: Option<String>,
    pub channel: Option<String>,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Floor {
    acked: u64,
}

impl<P: LogPort> Coordinator<P> {
    fn inbox_subject(&self, agent: &str) -> String {
        format!("{}.{}", self.subjects.inbox, token(agent))
    }

    fn floor_subject(&self, agent: &str) -> String {
        format!("{}.{}", self.subjects.inbox_ack, token(agent))
    }

    async fn floor(&self, agent: &str) -> Result<(Floor, u64), CoordError> {
        let loaded = self.load::<Floor>(&self.floor_subject(agent)).await?;
        Ok((loaded.value.unwrap_or_default(), loaded.last_seq))
    }

    /// Tells the live agents that can do `task` (it requires capabilities
    /// they registered) that it became claimable. Tasks anyone can do are
    /// not announced: every agent's claim-next finds them anyway, and an
    /// item per agent per task would bury the inbox.
    pub(super) async fn announce_ready(&self, task: &super::task::Task) {
        let fit: Vec<String> = super::lock(&self.agent_records)
            .values()
            .filter(|r| {
                task.capabilities
                    .iter()
                    .all(|c| r.agent.capabilities.contains(c))
            })
            .filter(|r| self.agents().health(&r.agent) != super::agents::Health::Dead)
            .map(|r| r.agent.agent_id.clone())
            .take(MAX_ANNOUNCE)
            .collect();
        for agent in fit {
            let item = InboxItem {
                seq: 0,
                kind: "task_ready".into(),
                from: None,
                text: format!(
                    "task {} is claimable ({}; needs {})",
                    task.task_id,
                    task.title,
                    task.capabilities.join(", ")
                ),
                task_id: Some(task.task_id.clone()),
                channel: None,
                at: self.clock.now(),
            };
            if let Err(e) = self.inbox().deliver(&agent, item).await {
                tracing::warn!(%agent, error = %e, "could not announce a claimable task");
            }
        }
    }
}

impl<P: LogPort> Inbox<'_, P> {
    /// Puts an item in `agent`'s inbox and wakes whoever waits on it.
    pub async fn deliver(self, agent: &str, item: InboxItem) -> Result<u64, CoordError> {
        validate_id("agent_id", agent, 128)?;
        let payload = serde_json::to_vec(&item).map_err(|e| CoordError::Corrupt(e.to_string()))?;
        let seq = self
            .c
            .port
            .append(&self.c.inbox_subject(agent), payload, None)
            .await?;
        self.c.inbox_changed.notify_waiters();
        Ok(seq)
    }

    /// Unacked items, oldest first, without consuming them.
    pub async fn read(self, agent: &str, limit: usize) -> Result<Vec<InboxItem>, CoordError> {
        self.after(agent, 0, limit).await
    }

    /// Unacked items after sequence `after` (what a reader already saw),
    /// oldest first, without consuming them.
    pub async fn after(
        self,
        agent: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<InboxItem>, CoordError> {
        validate_id("agent_id", agent, 128)?;
        let subject = self.c.inbox_subject(agent);
        let mut after = after;
        if after > 0 {
            // A position beyond anything this inbox ever held was read
            // from another store (a server started afresh at the same
            // address): it says nothing here.
            let newest = self.c.port.last(&subject).await?.map_or(0, |r| r.seq);
            if after > newest {
                after = 0;
            }
        }
        let (floor, _) = self.c.floor(agent).await?;
        let records = self
            .c
            .port
            .scan(
                &subject,
                floor.acked.max(after) + 1,
                limit.clamp(1, MAX_PEEK),
            )
            .await?;
        Ok(records
            .into_iter()
            .filter_map(|r| {
                let mut item: InboxItem = serde_json::from_slice(&r.payload).ok()?;
                item.seq = r.seq;
                Some(item)
            })
            .collect())
    }

    /// Acks everything up to `up_to` (or all there is, with `None`);
    /// returns the new floor.
    pub async fn ack(self, agent: &str, up_to: Option<u64>) -> Result<u64, CoordError> {
        validate_id("agent_id", agent, 128)?;
        for _ in 0..16 {
            let (floor, expect) = self.c.floor(agent).await?;
            let newest = match up_to {
                Some(n) => n,
                None => self
                    .c
                    .port
                    .last(&self.c.inbox_subject(agent))
                    .await?
                    .map_or(0, |r| r.seq),
            };
            if newest <= floor.acked {
                return Ok(floor.acked);
            }
            let payload = serde_json::to_vec(&Floor { acked: newest })
                .map_err(|e| CoordError::Corrupt(e.to_string()))?;
            match self
                .c
                .port
                .append(&self.c.floor_subject(agent), payload, Some(expect))
                .await
            {
                Ok(_) => return Ok(newest),
                Err(crate::streams::PortError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CoordError::Busy(format!("the inbox of {agent}")))
    }

    /// Waits up to `timeout` for the inbox to hold something; returns what
    /// it holds (empty when the time ran out).
    pub async fn wait(
        self,
        agent: &str,
        after: u64,
        timeout: Duration,
    ) -> Result<Vec<InboxItem>, CoordError> {
        let give_up = tokio::time::Instant::now() + timeout;
        loop {
            let woken = self.c.inbox_changed.notified();
            let items = self.after(agent, after, MAX_PEEK).await?;
            if !items.is_empty() || tokio::time::Instant::now() >= give_up {
                return Ok(items);
            }
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep_until(give_up) => {}
            }
        }
    }
}
