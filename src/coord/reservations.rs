//! File reservations: advisory leases on path globs, held by an agent,
//! exclusive or shared, with a time to live. Two reservations conflict
//! when their globs overlap (`glob.rs`), they belong to different agents,
//! and at least one is exclusive.
//!
//! Each reservation is a record on `hivelog.state.reservation.<id>` (the
//! id is a hash of holder and glob, so reserving again renews); `null`
//! releases it. Changes are serialized by one lock, so the conflict check
//! and the write cannot interleave with another reservation. They end when
//! released, when their TTL runs out, when the task they were taken for is
//! finished or handed back, or when their agent is declared dead.

use super::facets::Reservations;
use super::glob::Glob;
use super::held::Held;
pub use super::reservation::{Conflict, Reservation, ReserveRequest};
use super::task::validate_id;
use super::time::Timestamp;
use super::{lock, CoordError, Coordinator};
use crate::streams::LogPort;

/// Most globs in one request, and most active reservations per agent.
pub const MAX_GLOBS: usize = 256;
pub const MAX_PER_AGENT: usize = 10_000;

/// A stable id for (holder, glob): FNV-1a, so it is the same across
/// versions and restarts.
fn reservation_id(agent: &str, glob: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in agent.bytes().chain([0]).chain(glob.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("r{h:016x}")
}

/// Conflicts between `globs` (wanted by `agent`) and the reservations in
/// `held` that `live` says are in force.
pub(super) fn conflicts<'a>(
    held: impl Iterator<Item = &'a std::sync::Arc<Held>>,
    live: impl Fn(&Reservation) -> bool,
    agent: &str,
    globs: &[Glob],
    exclusive: bool,
) -> Vec<Conflict> {
    let mut out = Vec::new();
    for h in held {
        let r = &h.r;
        if r.agent_id == agent || !(exclusive || r.exclusive) || !live(r) {
            continue;
        }
        for g in globs {
            if let Some(path) = g.overlap(&h.glob) {
                out.push(Conflict {
                    glob: g.as_str().to_string(),
                    holder: r.agent_id.clone(),
                    held_glob: r.glob.clone(),
                    exclusive: r.exclusive,
                    example_path: path,
                    expires_at: r.expires_at,
                });
            }
        }
    }
    out
}

impl<P: LogPort> Coordinator<P> {
    fn reservation_subject(&self, id: &str) -> String {
        format!("{}.{id}", self.subjects.reservation)
    }

    /// In force: not expired, or taken for a task its agent still holds
    /// (such a reservation lasts as long as the claim, however often the
    /// lease is renewed).
    fn live(&self, r: &Reservation, now: Timestamp) -> bool {
        r.expires_at > now
            || r.task_id.as_ref().is_some_and(|t| {
                lock(&self.task_view).get(t).is_some_and(|e| {
                    e.task.status == super::task::TaskStatus::Claimed
                        && e.task.owner.as_deref() == Some(r.agent_id.as_str())
                })
            })
    }

    pub(super) fn load_reservation(&self, r: Reservation) {
        lock(&self.held).insert(r);
    }

    /// Held reservations whose globs could overlap any of `globs`.
    fn candidates(&self, globs: &[Glob]) -> Vec<std::sync::Arc<Held>> {
        let set = lock(&self.held);
        let mut out: Vec<std::sync::Arc<Held>> = Vec::new();
        for g in globs {
            for h in set.candidates_for_glob(g) {
                if !out.iter().any(|o| o.r.id == h.r.id) {
                    out.push(h);
                }
            }
        }
        out
    }

    /// `reserve` for a caller that already holds `reservation_lock`.
    pub(super) async fn reserve_locked(
        &self,
        req: ReserveRequest,
    ) -> Result<Vec<Reservation>, CoordError> {
        validate_id("agent_id", &req.agent, 128)?;
        if req.globs.is_empty() || req.globs.len() > MAX_GLOBS {
            return Err(CoordError::Invalid(format!(
                "give 1 to {MAX_GLOBS} file globs"
            )));
        }
        let globs: Vec<Glob> = req
            .globs
            .iter()
            .map(|g| Glob::parse(g))
            .collect::<Result<_, _>>()
            .map_err(CoordError::Invalid)?;
        let now = self.clock.now();
        let held = self.candidates(&globs);
        let found = conflicts(
            held.iter(),
            |r| self.live(r, now),
            &req.agent,
            &globs,
            req.exclusive,
        );
        if !found.is_empty() {
            return Err(CoordError::Reserved(found));
        }
        if self.reservations().list(Some(&req.agent)).len() + globs.len() > MAX_PER_AGENT {
            return Err(CoordError::Invalid(format!(
                "an agent may hold at most {MAX_PER_AGENT} reservations"
            )));
        }
        let mut out = Vec::new();
        for g in globs {
            let id = reservation_id(&req.agent, g.as_str());
            let created_at = lock(&self.held)
                .get(&id)
                .filter(|h| h.r.expires_at > now)
                .map_or(now, |h| h.r.created_at);
            let r = Reservation {
                id: id.clone(),
                agent_id: req.agent.clone(),
                glob: g.as_str().to_string(),
                exclusive: req.exclusive,
                task_id: req.task_id.clone(),
                reason: req.reason.clone(),
                created_at,
                expires_at: now.plus(req.ttl),
            };
            self.store_reservation(&id, Some(&r)).await?;
            out.push(r);
        }
        Ok(out)
    }

    async fn store_reservation(&self, id: &str, r: Option<&Reservation>) -> Result<(), CoordError> {
        let payload = serde_json::to_vec(&r).map_err(|e| CoordError::Corrupt(e.to_string()))?;
        self.port
            .append(&self.reservation_subject(id), payload, None)
            .await?;
        match r {
            Some(r) => self.load_reservation(r.clone()),
            None => {
                lock(&self.held).remove(id);
            }
        }
        Ok(())
    }

    /// Ends the reservations taken for a task's claim.
    pub(super) async fn release_task_reservations(&self, task_id: &str) {
        if let Err(e) = self
            .reservations()
            .release_where(|r| r.task_id.as_deref() == Some(task_id))
            .await
        {
            tracing::warn!(task = %task_id, error = %e, "could not release the task's file reservations");
        }
    }

    /// Drops expired reservations and those of agents judged `gone`; for
    /// the reaper. Returns how many ended.
    pub(super) async fn expire_reservations(&self, gone: impl Fn(&str) -> bool) -> usize {
        let now = self.clock.now();
        match self
            .reservations()
            .release_where(|r| !self.live(r, now) || gone(&r.agent_id))
            .await
        {
            Ok(ended) => ended.len(),
            Err(e) => {
                tracing::warn!(error = %e, "could not expire file reservations");
                0
            }
        }
    }
}

impl<P: LogPort> Reservations<'_, P> {
    /// Active reservations, optionally of one agent, oldest first.
    pub fn list(self, agent: Option<&str>) -> Vec<Reservation> {
        let now = self.c.clock.now();
        let all: Vec<Reservation> = lock(&self.c.held)
            .all()
            .filter(|h| agent.is_none_or(|a| a == h.r.agent_id))
            .map(|h| h.r.clone())
            .collect();
        let mut out: Vec<Reservation> = all.into_iter().filter(|r| self.c.live(r, now)).collect();
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        out
    }

    /// Which active reservations cover `path`, except `agent`'s own.
    pub fn covering(self, path: &str, agent: Option<&str>) -> Vec<Reservation> {
        let now = self.c.clock.now();
        let path = path.strip_prefix("./").unwrap_or(path);
        let covering: Vec<Reservation> = lock(&self.c.held)
            .candidates_for_path(path)
            .into_iter()
            .filter(|h| agent != Some(h.r.agent_id.as_str()) && h.glob.matches(path))
            .map(|h| h.r.clone())
            .collect();
        covering
            .into_iter()
            .filter(|r| self.c.live(r, now))
            .collect()
    }

    /// Claimable tasks that no one can be granted now because another
    /// agent holds their files (the first `scan` claimable tasks looked at).
    pub fn waiting_on_files(self, scan: usize) -> Vec<(String, Vec<Conflict>)> {
        let wanted: Vec<(String, Vec<String>)> = lock(&self.c.task_view)
            .claimable()
            .take(scan)
            .filter(|e| !e.task.files.is_empty())
            .map(|e| (e.task.task_id.clone(), e.task.files.clone()))
            .collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        let now = self.c.clock.now();
        wanted
            .into_iter()
            .filter_map(|(id, files)| {
                let globs: Vec<Glob> = files.iter().filter_map(|f| Glob::parse(f).ok()).collect();
                let held = self.c.candidates(&globs);
                let found = conflicts(held.iter(), |r| self.c.live(r, now), "", &globs, true);
                (!found.is_empty()).then_some((id, found))
            })
            .collect()
    }

    /// Takes (or renews) every glob, or none of them when any conflicts.
    pub async fn reserve(self, req: ReserveRequest) -> Result<Vec<Reservation>, CoordError> {
        let _serial = self.c.reservation_lock.lock().await;
        self.c.reserve_locked(req).await
    }

    /// Releases the reservations that `which` picks; returns them.
    pub async fn release_where(
        self,
        which: impl Fn(&Reservation) -> bool,
    ) -> Result<Vec<Reservation>, CoordError> {
        let _serial = self.c.reservation_lock.lock().await;
        let gone: Vec<Reservation> = lock(&self.c.held)
            .all()
            .filter(|h| which(&h.r))
            .map(|h| h.r.clone())
            .collect();
        for r in &gone {
            self.c.store_reservation(&r.id, None).await?;
        }
        Ok(gone)
    }

    /// An agent lets go of some globs (or, with none named, all it holds).
    pub async fn release(
        self,
        agent: &str,
        globs: &[String],
    ) -> Result<Vec<Reservation>, CoordError> {
        let names: Vec<String> = globs
            .iter()
            .map(|g| Glob::parse(g).map(|g| g.as_str().to_string()))
            .collect::<Result<_, _>>()
            .map_err(CoordError::Invalid)?;
        self.c
            .reservations()
            .release_where(|r| r.agent_id == agent && (names.is_empty() || names.contains(&r.glob)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coord::held::HeldSet;

    fn held(agent: &str, glob: &str, exclusive: bool) -> Reservation {
        let now = Timestamp::now();
        Reservation {
            id: reservation_id(agent, glob),
            agent_id: agent.into(),
            glob: glob.into(),
            exclusive,
            task_id: None,
            reason: None,
            created_at: now,
            expires_at: now.plus(std::time::Duration::from_secs(60)),
        }
    }

    #[test]
    fn exclusive_conflicts_with_anything_shared_only_with_exclusive() {
        let want = [Glob::parse("src/api/*.rs").unwrap()];
        let mut set = HeldSet::default();
        for r in [
            held("bob", "src/**", false),
            held("carol", "docs", true),
            held("alice", "src", true),
        ] {
            set.insert(r);
        }
        let rs: Vec<std::sync::Arc<Held>> = set.all().cloned().collect();
        let now = Timestamp::now();
        let live = |r: &Reservation| r.expires_at > now;
        let c = conflicts(rs.iter(), live, "alice", &want, true);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].holder, "bob");
        assert!(
            conflicts(rs.iter(), live, "alice", &want, false).is_empty(),
            "shared + shared"
        );
        let mut expired = held("bob", "src/**", true);
        expired.expires_at = now;
        let mut set = HeldSet::default();
        set.insert(expired);
        let expired: Vec<std::sync::Arc<Held>> = set.all().cloned().collect();
        assert!(conflicts(expired.iter(), live, "alice", &want, true).is_empty());
    }

    #[test]
    fn ids_are_stable_and_per_holder() {
        assert_eq!(reservation_id("a", "x"), reservation_id("a", "x"));
        assert_ne!(reservation_id("a", "x"), reservation_id("b", "x"));
        assert_ne!(reservation_id("ax", ""), reservation_id("a", "x"));
    }
}
