//! The agent registry: registration, heartbeats, derived health, removal.
//! Each registration and heartbeat stores the agent's whole record (so
//! agents and their last heartbeats survive restarts) and publishes the
//! heartbeat on `<prefix>.heartbeat.<agent_id>`.

use std::collections::HashMap;
use std::sync::Mutex;

use super::facets::Agents;
use super::task::{token, validate_id};
use super::{lock, CoordError, Coordinator};
use crate::streams::LogPort;

pub use super::agent::{
    Agent, AgentRecord, AgentStatus, AgentView, Health, HeartbeatInput, RegisterInput,
};

const MAX_AGENT_ID: usize = 50;
const MAX_DESCRIPTION: usize = 200;
/// `touch` stores an agent's liveness at most this often.
const TOUCH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Puts a stored agent record in the registry unless a newer one is there.
fn apply_agent(
    agents: &Mutex<HashMap<String, AgentRecord>>,
    agent: Agent,
    seq: u64,
    heard: std::time::Instant,
) {
    let mut agents = lock(agents);
    if agents.get(&agent.agent_id).is_none_or(|r| r.seq < seq) {
        agents.insert(agent.agent_id.clone(), AgentRecord { agent, seq, heard });
    }
}

fn check_agent_id(id: &str) -> Result<(), CoordError> {
    validate_id("agent_id", id, MAX_AGENT_ID)
}

impl<P: LogPort> Coordinator<P> {
    fn agent_subject(&self, id: &str) -> String {
        format!("{}.{}", self.subjects.agent, token(id))
    }

    fn view_of(&self, agent: &Agent) -> AgentView {
        AgentView {
            agent: agent.clone(),
            health: self.agents().health(agent),
            seconds_since_heartbeat: self.clock.since(agent.seen()).as_secs(),
        }
    }

    pub(super) fn agent_capabilities(&self, id: &str) -> Vec<String> {
        lock(&self.agent_records)
            .get(id)
            .map(|r| r.agent.capabilities.clone())
            .unwrap_or_default()
    }

    /// True when the agent has been silent past `--agent-dead-after` by
    /// the monotonic clock (for the reaper).
    pub(super) fn is_dead(&self, id: &str) -> Option<bool> {
        lock(&self.agent_records).get(id).map(|r| {
            self.clock.instant().saturating_duration_since(r.heard) > self.config.agent_dead_after
        })
    }

    pub(super) fn agent(&self, id: &str) -> Option<Agent> {
        lock(&self.agent_records).get(id).map(|r| r.agent.clone())
    }

    /// Stores the agent's record and, given one, its heartbeat on the
    /// subject the replaced stack published it on, right behind the record
    /// (one flush for both; the registry has the record before anyone can
    /// read the heartbeat).
    async fn store_agent(&self, agent: Agent, beat: Option<Vec<u8>>) -> Result<(), CoordError> {
        let payload = serde_json::to_vec(&agent).map_err(|e| CoordError::Corrupt(e.to_string()))?;
        let record = self.agent_subject(&agent.agent_id);
        let heard = self.clock.instant_of(agent.seen());
        let Some(beat) = beat else {
            let seq = self.port.append(&record, payload, None).await?;
            apply_agent(&self.agent_records, agent, seq, heard);
            return Ok(());
        };
        let subject = self.subject(&format!("heartbeat.{}", token(&agent.agent_id)));
        let agents = self.agent_records.clone();
        let on_stored = Box::new(move |seq| apply_agent(&agents, agent, seq, heard));
        let (_, copied) = self
            .port
            .append_with_copy(&record, payload, None, (&subject, beat), on_stored)
            .await?;
        if let Err(e) = copied {
            tracing::warn!(error = %e, "could not publish the heartbeat on its subject");
        }
        Ok(())
    }
}

impl<P: LogPort> Agents<'_, P> {
    pub fn health(self, agent: &Agent) -> Health {
        let age = self.c.clock.since(agent.seen());
        if age <= self.c.config.agent_stale_after {
            Health::Active
        } else if age <= self.c.config.agent_dead_after {
            Health::Stale
        } else {
            Health::Dead
        }
    }

    /// Registers an agent, or updates its description and capabilities.
    pub async fn register(self, input: RegisterInput) -> Result<AgentView, CoordError> {
        check_agent_id(&input.agent_id)?;
        if input
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
        {
            return Err(CoordError::Invalid(format!(
                "description is longer than {MAX_DESCRIPTION} characters"
            )));
        }
        let caps = input.capabilities.clone().unwrap_or_default();
        if caps.len() > 256 || caps.iter().any(|c| c.is_empty() || c.len() > 64) {
            return Err(CoordError::Invalid(
                "capabilities: at most 256 names of 1 to 64 characters".into(),
            ));
        }
        let now = self.c.clock.now();
        let agent = match self.c.agent(&input.agent_id) {
            Some(mut a) => {
                a.description = input.description;
                a.capabilities = caps;
                a.last_seen = Some(now);
                a
            }
            None => Agent {
                description: input.description,
                capabilities: caps,
                ..Agent::new(input.agent_id, now)
            },
        };
        let view = self.c.view_of(&agent);
        self.c.store_agent(agent, None).await?;
        Ok(view)
    }

    /// Records a heartbeat. It replaces the reported fields (an omitted
    /// `current_task` or `needs_approval` becomes null/false). An agent that
    /// never registered is registered by its first heartbeat. A heartbeat
    /// naming a task the agent holds renews that task's lease.
    pub async fn heartbeat(self, input: HeartbeatInput) -> Result<AgentView, CoordError> {
        check_agent_id(&input.agent_id)?;
        let now = self.c.clock.now();
        let mut agent = self
            .c
            .agent(&input.agent_id)
            .unwrap_or_else(|| Agent::new(input.agent_id.clone(), now));
        agent.status = input.status.unwrap_or_default();
        agent.current_task = input.current_task;
        agent.current_task_title = input.current_task_title;
        agent.needs_approval = input.needs_approval.unwrap_or(false);
        agent.approval_message = input.approval_message;
        agent.last_heartbeat = Some(input.timestamp.unwrap_or_else(|| now.into()));
        agent.last_seen = Some(now);
        if let Some(task) = &agent.current_task {
            lock(&self.c.task_view).renew_lease(
                task,
                &agent.agent_id,
                now.plus(self.c.config.task_lease),
            );
        }
        let view = self.c.view_of(&agent);
        let beat = serde_json::to_vec(&view).map_err(|e| CoordError::Corrupt(e.to_string()))?;
        self.c.store_agent(agent, Some(beat)).await?;
        Ok(view)
    }

    /// An agent that calls a tool (MCP) is alive: the call counts as a
    /// heartbeat that keeps what the agent last reported. Stored at most
    /// every few seconds, so a burst of calls is one write.
    pub async fn touch(self, id: &str, current_task: Option<&str>) -> Result<(), CoordError> {
        check_agent_id(id)?;
        let now = self.c.clock.now();
        if let Some(task) = current_task {
            lock(&self.c.task_view).renew_lease(task, id, now.plus(self.c.config.task_lease));
        }
        let agent = {
            let mut agents = lock(&self.c.agent_records);
            match agents.get_mut(id) {
                // Recently stored: keep the news in memory; the next store
                // (at most TOUCH_EVERY later) carries it.
                Some(r) if self.c.clock.since(r.agent.seen()) < TOUCH_EVERY => {
                    r.heard = self.c.clock.instant();
                    if let Some(task) = current_task {
                        r.agent.current_task = Some(task.to_string());
                        r.agent.status = AgentStatus::Busy;
                    }
                    return Ok(());
                }
                Some(r) => r.agent.clone(),
                None => Agent::new(id.to_string(), now),
            }
        };
        let mut agent = agent;
        if let Some(task) = current_task {
            agent.current_task = Some(task.to_string());
            agent.status = AgentStatus::Busy;
        }
        agent.last_heartbeat = Some(now.into());
        agent.last_seen = Some(now);
        self.c.store_agent(agent, None).await
    }

    /// A person answers an agent's approval request: the answer goes to
    /// the agent's inbox and the request is cleared from its record.
    pub async fn answer_approval(
        self,
        id: &str,
        approved: bool,
        note: Option<String>,
        by: Option<String>,
    ) -> Result<AgentView, CoordError> {
        let mut agent = self
            .c
            .agent(id)
            .ok_or_else(|| CoordError::AgentNotFound(id.to_string()))?;
        if note.as_ref().is_some_and(|n| n.chars().count() > 10_000) {
            return Err(CoordError::Invalid(
                "note is longer than 10,000 characters".into(),
            ));
        }
        let verdict = if approved { "approved" } else { "denied" };
        let asked = agent.approval_message.clone().unwrap_or_default();
        let mut text = verdict.to_string();
        if !asked.is_empty() {
            text.push_str(&format!(" ({asked})"));
        }
        if let Some(n) = note.as_ref().filter(|n| !n.is_empty()) {
            text.push_str(&format!(": {n}"));
        }
        let item = super::inbox::InboxItem {
            seq: 0,
            kind: "approval".into(),
            from: Some(by.unwrap_or_else(|| "operator".into())),
            text,
            task_id: agent.current_task.clone(),
            channel: None,
            at: self.c.clock.now(),
        };
        self.c.inbox().deliver(id, item).await?;
        agent.needs_approval = false;
        agent.approval_message = None;
        let view = self.c.view_of(&agent);
        self.c.store_agent(agent, None).await?;
        Ok(view)
    }

    /// Agents sorted by id; without `include_stale`, only those whose
    /// `last_heartbeat` is within the stale threshold of now (an agent
    /// that registered but never sent a heartbeat is not listed), as the
    /// replaced service filtered them.
    pub fn list(self, include_stale: bool) -> Vec<AgentView> {
        let fresh = |a: &Agent| {
            a.last_heartbeat
                .as_ref()
                .is_some_and(|t| self.c.clock.since(t.at()) <= self.c.config.agent_stale_after)
        };
        let mut out: Vec<AgentView> = lock(&self.c.agent_records)
            .values()
            .filter(|r| include_stale || fresh(&r.agent))
            .map(|r| self.c.view_of(&r.agent))
            .collect();
        out.sort_by(|a, b| a.agent.agent_id.cmp(&b.agent.agent_id));
        out
    }

    /// Removes an agent. Tasks it held return to the queue through the
    /// reaper, as for a dead agent.
    pub async fn remove(self, id: &str) -> Result<AgentView, CoordError> {
        let agent = self
            .c
            .agent(id)
            .ok_or_else(|| CoordError::AgentNotFound(id.to_string()))?;
        self.c
            .port
            .append(&self.c.agent_subject(id), b"null".to_vec(), None)
            .await?;
        lock(&self.c.agent_records).remove(id);
        // A removed agent holds no files; its tasks come back through the
        // reaper (as an unregistered owner's), its permits with their TTL.
        let owner = id.to_string();
        if let Err(e) = self
            .c
            .reservations()
            .release_where(|r| r.agent_id == owner)
            .await
        {
            tracing::warn!(agent = %id, error = %e, "could not release a removed agent's reservations");
        }
        Ok(self.c.view_of(&agent))
    }

    /// Removes every agent not in `keep`; returns the ids removed.
    pub async fn cleanup(self, keep: &[String]) -> Result<Vec<String>, CoordError> {
        let ids: Vec<String> = lock(&self.c.agent_records).keys().cloned().collect();
        let mut removed = Vec::new();
        for id in ids.into_iter().filter(|id| !keep.contains(id)) {
            match self.remove(&id).await {
                Ok(_) => removed.push(id),
                // Removed by someone else meanwhile: not ours to report.
                Err(CoordError::AgentNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        removed.sort();
        Ok(removed)
    }

    pub fn health_counts(self) -> [(Health, usize); 3] {
        let mut counts = [(Health::Active, 0), (Health::Stale, 0), (Health::Dead, 0)];
        for r in lock(&self.c.agent_records).values() {
            let h = self.health(&r.agent);
            if let Some(c) = counts.iter_mut().find(|(k, _)| *k == h) {
                c.1 += 1;
            }
        }
        counts
    }
}
