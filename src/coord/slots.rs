//! Slots: named counting semaphores with a time to live, for agents to
//! hold around expensive work (`build` with 2 permits, `llm` with 5). A
//! slot is one record on `hivelog.state.slot.<name>` holding its size and
//! its holders; every change appends expecting the record it read, so
//! concurrent acquirers can never be granted more permits than there are.
//! A permit ends when released, when its TTL runs out, or when its agent
//! is declared dead.
//!
//! A slot belongs to its project, or, when it says `scope: machine`, to
//! the machine: then it is kept by the default project and every project
//! acquires from the same one (a `build` slot guarding the machine's CPUs;
//! `projects.rs` routes to it). A machine slot's permits end by release
//! or TTL; the death of an agent of another project is not seen there.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::facets::Slots;
use super::task::{token, validate_id};
use super::time::Timestamp;
use super::{CoordError, Coordinator};
use crate::streams::{LogPort, PortError};

pub const MAX_PERMITS: u32 = 10_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Permit {
    pub id: String,
    pub agent_id: String,
    pub acquired_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Whom a slot's permits are shared by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlotScope {
    /// The agents of its project.
    #[default]
    Project,
    /// Every project on the server.
    Machine,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub name: String,
    pub permits: u32,
    pub holders: Vec<Permit>,
    /// Slots written before scopes existed are their project's.
    #[serde(default)]
    pub scope: SlotScope,
}

impl Slot {
    /// The holders whose permits are still in force.
    fn prune(&mut self, now: Timestamp, gone: &impl Fn(&str) -> bool) -> bool {
        let before = self.holders.len();
        self.holders
            .retain(|p| p.expires_at > now && !gone(&p.agent_id));
        before != self.holders.len()
    }
}

fn check_name(name: &str) -> Result<(), CoordError> {
    validate_id("slot name", name, 64)
}

impl<P: LogPort> Coordinator<P> {
    fn slot_subject(&self, name: &str) -> String {
        format!("{}.{}", self.subjects.slot, token(name))
    }

    pub(super) async fn load_slot(&self, name: &str) -> Result<(Option<Slot>, u64), CoordError> {
        let loaded = self.load::<Slot>(&self.slot_subject(name)).await?;
        Ok((loaded.value, loaded.last_seq))
    }

    /// Reads, changes and writes a slot until no concurrent change got in
    /// between. `change` returns the new slot (or `None` to write nothing)
    /// and what to answer.
    async fn change_slot<T>(
        &self,
        name: &str,
        change: impl Fn(Option<Slot>) -> Result<(Option<Slot>, T), CoordError>,
    ) -> Result<T, CoordError> {
        for _ in 0..32 {
            let (slot, seq) = self.load_slot(name).await?;
            let (next, answer) = change(slot)?;
            let Some(next) = next else {
                return Ok(answer);
            };
            let payload =
                serde_json::to_vec(&next).map_err(|e| CoordError::Corrupt(e.to_string()))?;
            match self
                .port
                .append(&self.slot_subject(name), payload, Some(seq))
                .await
            {
                Ok(_) => {
                    self.slot_changed.notify_waiters();
                    return Ok(answer);
                }
                Err(PortError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CoordError::Busy(format!("slot {name}")))
    }

    fn dead(&self) -> impl Fn(&str) -> bool + '_ {
        |agent| self.is_dead(agent) == Some(true)
    }

    /// Drops expired permits and those of dead agents from stored slots,
    /// for the reaper, so waiters are woken and listings are exact.
    pub(super) async fn expire_permits(&self) {
        let names: Vec<String> = match self.slots().list().await {
            Ok(list) => list.into_iter().map(|s| s.name).collect(),
            Err(_) => return,
        };
        let gone = self.dead();
        for name in names {
            let result = self
                .change_slot(&name, |slot| {
                    let Some(mut s) = slot else {
                        return Ok((None, ()));
                    };
                    let changed = s.prune(self.clock.now(), &gone);
                    Ok((changed.then_some(s), ()))
                })
                .await;
            if let Err(e) = result {
                tracing::warn!(slot = %name, error = %e, "could not expire slot permits");
            }
        }
    }
}

impl<P: LogPort> Slots<'_, P> {
    /// Creates a slot or changes its size (holders beyond a smaller size
    /// keep their permits until they end) and, when given, its scope.
    pub async fn set(
        self,
        name: &str,
        permits: u32,
        scope: Option<SlotScope>,
    ) -> Result<Slot, CoordError> {
        check_name(name)?;
        if permits == 0 || permits > MAX_PERMITS {
            return Err(CoordError::Invalid(format!(
                "permits must be between 1 and {MAX_PERMITS}"
            )));
        }
        self.c
            .change_slot(name, |slot| {
                let mut s = slot.unwrap_or(Slot {
                    name: name.to_string(),
                    permits,
                    holders: Vec::new(),
                    scope: SlotScope::Project,
                });
                s.permits = permits;
                if let Some(scope) = scope {
                    s.scope = scope;
                }
                Ok((Some(s.clone()), s))
            })
            .await
    }

    /// Every slot with its holders in force.
    pub async fn list(self) -> Result<Vec<Slot>, CoordError> {
        let now = self.c.clock.now();
        let gone = self.c.dead();
        let mut out = Vec::new();
        for r in self
            .c
            .port
            .last_per_subject(&format!("{}.*", self.c.subjects.slot))
            .await?
        {
            if let Ok(Some(mut s)) = serde_json::from_slice::<Option<Slot>>(&r.payload) {
                s.prune(now, &gone);
                out.push(s);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Takes a permit; with `wait`, waits that long for one to free up.
    /// `create` sizes a slot that does not exist yet.
    pub async fn acquire(
        self,
        name: &str,
        agent: &str,
        ttl: Duration,
        wait: Duration,
        create: Option<u32>,
    ) -> Result<(Permit, Slot), CoordError> {
        check_name(name)?;
        validate_id("agent_id", agent, 128)?;
        if create.is_some_and(|p| p == 0 || p > MAX_PERMITS) {
            return Err(CoordError::Invalid(format!(
                "permits must be between 1 and {MAX_PERMITS}"
            )));
        }
        let give_up = tokio::time::Instant::now() + wait;
        let gone = self.c.dead();
        loop {
            let woken = self.c.slot_changed.notified();
            let got = self.c
                .change_slot(name, |slot| {
                    let now = self.c.clock.now();
                    let mut s = match (slot, create) {
                        (Some(s), _) => s,
                        (None, Some(permits)) => Slot {
                            name: name.to_string(),
                            permits,
                            holders: Vec::new(),
                            scope: SlotScope::Project,
                        },
                        (None, None) => {
                            return Err(CoordError::Invalid(format!(
                                "there is no slot named {name}; create it with permits (hivelog slot set {name} N)"
                            )))
                        }
                    };
                    s.prune(now, &gone);
                    if s.holders.len() >= s.permits as usize {
                        return Ok((None, None));
                    }
                    let permit = Permit {
                        id: format!("{}-{}", token(agent), now.0.timestamp_micros()),
                        agent_id: agent.to_string(),
                        acquired_at: now,
                        expires_at: now.plus(ttl),
                    };
                    s.holders.push(permit.clone());
                    Ok((Some(s.clone()), Some((permit, s))))
                })
                .await?;
            if let Some(granted) = got {
                return Ok(granted);
            }
            if tokio::time::Instant::now() >= give_up {
                let (slot, _) = self.c.load_slot(name).await?;
                let mut slot = slot.unwrap_or(Slot {
                    name: name.to_string(),
                    permits: 0,
                    holders: Vec::new(),
                    scope: SlotScope::Project,
                });
                slot.prune(self.c.clock.now(), &gone);
                return Err(CoordError::SlotFull(slot));
            }
            // Expiry frees a permit without a write; look again at least
            // every second.
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(Duration::from_secs(1).min(give_up - tokio::time::Instant::now())) => {}
            }
        }
    }

    /// Gives back `agent`'s permit `permit` (or all its permits on the
    /// slot); answers how many ended.
    pub async fn release(
        self,
        name: &str,
        agent: &str,
        permit: Option<&str>,
    ) -> Result<usize, CoordError> {
        check_name(name)?;
        self.c
            .change_slot(name, |slot| {
                let Some(mut s) = slot else {
                    return Ok((None, 0));
                };
                let before = s.holders.len();
                s.holders
                    .retain(|p| p.agent_id != agent || permit.is_some_and(|id| id != p.id));
                let ended = before - s.holders.len();
                Ok(((ended > 0).then_some(s), ended))
            })
            .await
    }
}
