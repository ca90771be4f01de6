//! The current state of every task, kept in memory and updated with each
//! write, with the indexes requests need: the claim order (priority, then
//! age) of claimable tasks, each status's tasks newest first, and who
//! depends on whom. Rebuilt at start from the newest record per task.
//!
//! Each task is held in its compact form (`compact.rs`, ~100 bytes) and
//! decoded when asked for: at 100,000 tasks a `Task` per entry cost about
//! 1 KB each with its map slot and strings. Ids are shared (`Arc<str>`)
//! between the map and the indexes; what the hot paths read without
//! decoding (status, and the capabilities of tasks that require some)
//! sits beside the bytes.

mod bulk;
pub(crate) mod compact;
mod cycles;
mod newest;

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Bound;

use std::sync::Arc;

use super::clock::{Clock, SystemClock};
use super::task::{Priority, Task, TaskStatus};
use super::time::Timestamp;

pub(super) type QueueKey = (Reverse<Priority>, Timestamp, Arc<str>);
pub(super) type RecentKey = (Timestamp, Arc<str>);

/// A task as a caller gets it: decoded, with the sequence of the stored
/// record it reflects.
#[derive(Debug, Clone)]
pub struct Entry {
    pub task: Task,
    pub seq: u64,
}

/// A task as the view holds it: 24 bytes beside its compact record.
pub(super) struct Stored {
    status: TaskStatus,
    bytes: Box<[u8]>,
}

impl Stored {
    fn of(task: &Task, seq: u64) -> Result<Stored, String> {
        Ok(Stored {
            status: task.status,
            bytes: compact::encode(task, seq)?,
        })
    }

    fn seq(&self) -> u64 {
        compact::seq(&self.bytes).unwrap_or(0)
    }

    fn entry(&self) -> Option<Entry> {
        match compact::decode(&self.bytes) {
            Ok((task, seq, _)) => Some(Entry { task, seq }),
            Err(e) => {
                // The view encoded these bytes itself; not decoding them
                // back is a bug, not bad input.
                tracing::error!(error = %e, "a task kept in memory does not decode");
                None
            }
        }
    }
}

pub struct TaskView {
    /// Whose time decides deadlines and delays.
    clock: Arc<dyn Clock>,
    pub(super) tasks: HashMap<Arc<str>, Stored>,
    /// Available tasks with every dependency completed, in claim order.
    pub(super) claimable: BTreeSet<QueueKey>,
    pub(super) by_status: HashMap<TaskStatus, BTreeSet<RecentKey>>,
    /// Capabilities a claimer must have, for the tasks that name any
    /// (claim-next passes over tasks it cannot take without decoding them).
    needs: HashMap<Arc<str>, Box<[String]>>,
    /// dependency id → tasks that name it.
    dependents: HashMap<String, HashSet<String>>,
    /// Tasks a claim-next caller is claiming right now: other claim-next
    /// callers pass over them instead of racing for the same task.
    reserved: HashSet<String>,
    /// Available tasks that would be claimable but for `not_before`, by
    /// when they become claimable.
    pub(super) delayed: BTreeSet<(Timestamp, Arc<str>)>,
    /// dedup key → the task holding it (until that task completes).
    dedup: HashMap<String, String>,
    /// Claimed tasks' lease ends on the monotonic clock (the reaper goes
    /// by these; `lease_expires_at` is for display and restarts).
    deadlines: HashMap<String, std::time::Instant>,
}

impl Default for TaskView {
    fn default() -> Self {
        TaskView::new(Arc::new(SystemClock))
    }
}

pub(super) fn queue_key(t: &Task, id: Arc<str>) -> QueueKey {
    (Reverse(t.priority), t.created_at.at(), id)
}

impl TaskView {
    pub fn new(clock: Arc<dyn Clock>) -> TaskView {
        TaskView {
            clock,
            tasks: HashMap::new(),
            claimable: BTreeSet::new(),
            by_status: HashMap::new(),
            needs: HashMap::new(),
            dependents: HashMap::new(),
            reserved: HashSet::new(),
            delayed: BTreeSet::new(),
            dedup: HashMap::new(),
            deadlines: HashMap::new(),
        }
    }

    pub fn get(&self, id: &str) -> Option<Entry> {
        self.tasks.get(id)?.entry()
    }

    /// The id as the view shares it, if the task is known.
    fn shared_id(&self, id: &str) -> Option<Arc<str>> {
        self.tasks.get_key_value(id).map(|(k, _)| k.clone())
    }

    fn status_of(&self, id: &str) -> Option<TaskStatus> {
        self.tasks.get(id).map(|s| s.status)
    }

    /// Every task's compact record (the snapshot writes these as they are).
    pub fn records(&self) -> impl Iterator<Item = &[u8]> {
        self.tasks.values().map(|s| &*s.bytes)
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn count(&self, status: TaskStatus) -> usize {
        self.by_status.get(&status).map_or(0, BTreeSet::len)
    }

    /// Dependencies of `task` that are not completed (unknown ids count as
    /// not completed).
    pub fn unmet(&self, task: &Task) -> Vec<String> {
        task.depends_on
            .iter()
            .filter(|d| self.status_of(d) != Some(TaskStatus::Completed))
            .cloned()
            .collect()
    }

    pub fn failed_dependencies(&self, task: &Task) -> Vec<String> {
        task.depends_on
            .iter()
            .filter(|d| {
                matches!(
                    self.status_of(d),
                    Some(TaskStatus::Failed | TaskStatus::NeedsHuman)
                )
            })
            .cloned()
            .collect()
    }

    /// Replaces a task's entry if `seq` is newer than what is held. Returns
    /// true when the view changed.
    pub fn apply(&mut self, task: Task, seq: u64) -> bool {
        if self
            .tasks
            .get(task.task_id.as_str())
            .is_some_and(|old| old.seq() >= seq)
        {
            return false;
        }
        let stored = match Stored::of(&task, seq) {
            Ok(stored) => stored,
            Err(e) => {
                tracing::error!(task = %task.task_id, error = %e, "a task cannot be kept in memory");
                return false;
            }
        };
        let id: Arc<str> = self
            .shared_id(&task.task_id)
            .unwrap_or_else(|| Arc::from(task.task_id.as_str()));
        let old = self.get(&id);
        if let Some(old) = &old {
            self.claimable.remove(&queue_key(&old.task, id.clone()));
            if let Some(nb) = old.task.not_before {
                self.delayed.remove(&(nb, id.clone()));
            }
            if let Some(k) = &old.task.dedup_key {
                if self.dedup.get(k).map(String::as_str) == Some(&*id) {
                    self.dedup.remove(k);
                }
            }
            let key = (old.task.created_at.at(), id.clone());
            if let Some(set) = self.by_status.get_mut(&old.task.status) {
                set.remove(&key);
            }
            for d in &old.task.depends_on {
                if let Some(set) = self.dependents.get_mut(d) {
                    set.remove(&*id);
                }
            }
        }
        for d in &task.depends_on {
            self.dependents
                .entry(d.clone())
                .or_default()
                .insert(task.task_id.clone());
        }
        let key = (task.created_at.at(), id.clone());
        self.by_status.entry(task.status).or_default().insert(key);
        if task.capabilities.is_empty() {
            self.needs.remove(&*id);
        } else {
            self.needs
                .insert(id.clone(), task.capabilities.clone().into_boxed_slice());
        }
        if let Some(k) = &task.dedup_key {
            if task.status != TaskStatus::Completed {
                self.dedup.insert(k.clone(), task.task_id.clone());
            }
        }
        let status_changed = old.as_ref().is_none_or(|o| o.task.status != task.status);
        match (task.status, task.lease_expires_at) {
            (TaskStatus::Claimed, Some(until)) => {
                self.deadlines
                    .insert(task.task_id.clone(), self.clock.instant_of(until));
            }
            _ => {
                self.deadlines.remove(&*id);
            }
        }
        self.tasks.insert(id.clone(), stored);
        self.reindex_task(&task, id.clone());
        if status_changed {
            // A completion (or a reopening) can unblock or block dependents.
            for d in self.dependents_of(&id) {
                self.reindex(&d);
            }
        }
        true
    }

    /// Renews a claimed task's lease in memory (heartbeats do this often;
    /// the stored record is not rewritten each time).
    pub fn renew_lease(&mut self, id: &str, owner: &str, until: Timestamp) -> bool {
        let Some(Entry { mut task, seq }) = self.get(id) else {
            return false;
        };
        if task.status != TaskStatus::Claimed || task.owner.as_deref() != Some(owner) {
            return false;
        }
        if task.lease_expires_at.is_none_or(|l| l < until) {
            task.lease_expires_at = Some(until);
            match Stored::of(&task, seq) {
                Ok(stored) => {
                    if let Some(slot) = self.tasks.get_mut(id) {
                        *slot = stored;
                    }
                }
                Err(e) => {
                    tracing::error!(task = %id, error = %e, "a renewed lease cannot be kept in memory")
                }
            }
            let deadline = self.clock.instant_of(until);
            self.deadlines.insert(id.to_string(), deadline);
        }
        true
    }

    fn reindex(&mut self, id: &str) {
        if let (Some(entry), Some(id)) = (self.get(id), self.shared_id(id)) {
            self.reindex_task(&entry.task, id);
        }
    }

    /// Puts `task` (as held) in or out of the claim order and the delayed set.
    fn reindex_task(&mut self, task: &Task, id: Arc<str>) {
        let ready = task.status == TaskStatus::Available && self.unmet(task).is_empty();
        let later = task.not_before.filter(|nb| ready && *nb > self.clock.now());
        if let Some(nb) = task.not_before {
            self.delayed.remove(&(nb, id.clone()));
        }
        let key = queue_key(task, id.clone());
        match (ready, later) {
            (true, None) => {
                self.claimable.insert(key);
            }
            (true, Some(nb)) => {
                self.claimable.remove(&key);
                self.delayed.insert((nb, id));
            }
            (false, _) => {
                self.claimable.remove(&key);
            }
        }
    }

    /// Moves delayed tasks whose time has come into the claim order;
    /// returns how many.
    pub fn promote_due(&mut self, now: Timestamp) -> usize {
        let due: Vec<Arc<str>> = self
            .delayed
            .iter()
            .take_while(|(nb, _)| *nb <= now)
            .map(|(_, id)| id.clone())
            .collect();
        for id in &due {
            self.reindex(id);
        }
        due.len()
    }

    /// Has a claimed task's lease run out, by the monotonic clock?
    pub fn lease_expired(&self, id: &str, now: std::time::Instant) -> bool {
        self.deadlines.get(id).is_some_and(|d| *d < now)
    }

    /// Can claim-next hand this task out now?
    pub fn is_claimable(&self, id: &str) -> bool {
        match (self.get(id), self.shared_id(id)) {
            (Some(e), Some(id)) => self.claimable.contains(&queue_key(&e.task, id)),
            _ => false,
        }
    }

    /// Is the task of this sort key in the claim order? Listing blocked
    /// tasks asks it of every available one, so it decodes nothing: the
    /// task's priority can only be one of three.
    pub(super) fn in_claim_order(&self, key: &RecentKey) -> bool {
        [Priority::High, Priority::Medium, Priority::Low]
            .into_iter()
            .any(|p| self.claimable.contains(&(Reverse(p), key.0, key.1.clone())))
    }

    /// Tasks that name `id` as a dependency.
    pub fn dependents_of(&self, id: &str) -> Vec<String> {
        self.dependents
            .get(id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The task that holds `key` (not completed), if any.
    pub fn by_dedup_key(&self, key: &str) -> Option<Entry> {
        self.dedup.get(key).and_then(|id| self.get(id))
    }

    /// Reserves the first claimable task that `fits` (given its id and the
    /// capabilities it requires) and nobody else is claiming through
    /// claim-next; the caller must `unreserve` it.
    pub fn reserve_next(&mut self, fits: impl Fn(&str, &[String]) -> bool) -> Option<String> {
        let id = self
            .claimable
            .iter()
            .map(|(_, _, id)| id)
            .filter(|id| !self.reserved.contains(&***id))
            .find(|id| fits(id, self.needs.get(&***id).map_or(&[], |n| &n[..])))?
            .to_string();
        self.reserved.insert(id.clone());
        Some(id)
    }

    pub fn unreserve(&mut self, id: &str) {
        self.reserved.remove(id);
    }

    /// Claimable tasks in the order claim-next hands them out.
    pub fn claimable(&self) -> impl Iterator<Item = Entry> + '_ {
        self.claimable.iter().filter_map(|(_, _, id)| self.get(id))
    }

    /// Tasks newest first, optionally of one status.
    pub fn newest(&self, status: Option<TaskStatus>) -> impl Iterator<Item = Entry> + '_ {
        self.newest_keys(status, Bound::Unbounded)
            .filter_map(|(_, id)| self.get(id))
    }

    /// Claimed tasks, for the reaper.
    pub fn claimed(&self) -> Vec<Task> {
        self.newest(Some(TaskStatus::Claimed))
            .map(|e| e.task)
            .collect()
    }
}

#[cfg(test)]
mod tests;
