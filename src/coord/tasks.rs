//! Task reads, the write path every task change goes through, and posting
//! (create or update). Every change reads the task's current version from the
//! view, computes the next version, and appends it expecting the stored
//! sequence it read; if another change got there first the append is
//! refused, the view is refreshed from the log and the decision is made
//! again. So of any number of concurrent claimers exactly one wins.

use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use super::board::{Column, Cursor, Filter, Page, TaskCounts};
use super::facets::Tasks;
use super::task::{token, Details, Task, TaskInput, TaskStatus};
use super::time::Timestamp;
use super::view::TaskView;
use super::{lock, CoordError, Coordinator};
use crate::streams::{LogPort, PortError};

/// Attempts at one change before giving up under extreme contention.
const MAX_RETRIES: usize = 16;
/// The most versions `history` returns.
const MAX_HISTORY: usize = 10_000;

/// A task as written: its new version, the state record's sequence, and
/// the sequence of the copy published on `<prefix>.tasks`.
#[derive(Debug, Clone)]
pub struct Written {
    pub task: Task,
    pub history_seq: Option<u64>,
    pub at: Timestamp,
    /// True when this write created the task.
    pub created: bool,
    /// True when nothing was written because a task with the same dedup
    /// key exists (`task` is that one).
    pub deduplicated: bool,
}

impl<P: LogPort> Coordinator<P> {
    fn task_subject(&self, id: &str) -> String {
        format!("{}.{}", self.subjects.task, token(id))
    }

    /// A task as answered: `blocked_by` lists the unmet dependencies and
    /// `failed_dependencies` the failed ones, as of now.
    fn render(view: &TaskView, task: &Task) -> Task {
        let mut t = task.clone();
        t.blocked_by = view.unmet(task);
        t.failed_dependencies = view.failed_dependencies(task);
        t
    }

    /// Appends `task` as the version after `expect`, then publishes it on
    /// `<prefix>.tasks` for history readers.
    pub(super) async fn write_task(&self, task: Task, expect: u64) -> Result<Written, PortError> {
        let at = task.updated_at;
        let stored = serde_json::to_vec(&task).map_err(|e| PortError::Corrupt(e.to_string()))?;
        // The copy for history readers goes with the record, so one flush
        // stores both and copies keep the records' order. Rendering reads
        // only the task's dependencies, so it is the same before the apply.
        let rendered = Self::render(&lock(&self.task_view), &task);
        let history = serde_json::to_vec(&rendered).unwrap_or_default();
        // The view takes the change once it is stored and before the copy
        // can be read, so a reader told of it (a subscriber to the tasks
        // subject that claims at once) finds it. The tasks that became
        // claimable by it come back through `ready`.
        let ready = Arc::new(Mutex::new(None));
        let on_stored = {
            let (view, ready, task) = (self.task_view.clone(), ready.clone(), task.clone());
            Box::new(move |seq| *lock(&ready) = Some(Self::apply_task(&view, task, seq)))
        };
        // From the append to the apply, no snapshot may be taken (see
        // snapshot.rs).
        let barrier = self.snapshot_barrier.read().await;
        let (seq, copied) = self
            .port
            .append_with_copy(
                &self.task_subject(&task.task_id),
                stored,
                Some(expect),
                (&self.subject("tasks"), history),
                on_stored,
            )
            .await?;
        let applied = lock(&ready).take();
        // Every backend runs the hook before answering; in case one did not.
        let ready = applied.unwrap_or_else(|| Self::apply_task(&self.task_view, task, seq));
        drop(barrier);
        self.claimable.notify_waiters();
        for t in ready {
            self.announce_ready(&t).await;
        }
        let history_seq = match copied {
            Ok(seq) => Some(seq),
            Err(e) => {
                // The change itself is stored; only the copy for history
                // readers is missing.
                tracing::warn!(task = %rendered.task_id, error = %e, "could not publish the task version on the tasks subject");
                None
            }
        };
        Ok(Written {
            task: rendered,
            history_seq,
            at,
            created: expect == 0,
            deduplicated: false,
        })
    }

    /// Applies a stored version to the view; returns the tasks (with
    /// required capabilities) that it made claimable.
    fn apply_task(view: &Mutex<TaskView>, task: Task, seq: u64) -> Vec<Task> {
        let mut view = lock(view);
        // This task, and those waiting for it, may become claimable.
        let mut ids = view.dependents_of(&task.task_id);
        ids.push(task.task_id.clone());
        let before: Vec<bool> = ids.iter().map(|id| view.is_claimable(id)).collect();
        view.apply(task, seq);
        ids.iter()
            .zip(before)
            .filter(|(id, was)| !was && view.is_claimable(id))
            .filter_map(|(id, _)| view.get(id).map(|e| e.task.clone()))
            .filter(|t| !t.capabilities.is_empty())
            .collect()
    }

    /// Re-reads a task's newest readable version into the view; returns
    /// the sequence the next write must expect.
    pub(super) async fn refresh(&self, id: &str) -> Result<u64, CoordError> {
        let loaded = self.load::<Task>(&self.task_subject(id)).await?;
        if let Some(task) = loaded.value {
            lock(&self.task_view).apply(task, loaded.last_seq);
        }
        Ok(loaded.last_seq)
    }

    /// Applies `next` to the current version of task `id` until the write
    /// is not overtaken by a concurrent one.
    pub(super) async fn change_task<F>(&self, id: &str, next: F) -> Result<Written, CoordError>
    where
        F: Fn(&Task, &TaskView) -> Result<Task, CoordError>,
    {
        for _ in 0..MAX_RETRIES {
            let (task, seq) = {
                let view = lock(&self.task_view);
                let e = view.get(id).ok_or(CoordError::TaskNotFound)?;
                (next(&e.task, &view)?, e.seq)
            };
            match self.write_task(task, seq).await {
                Ok(w) => return Ok(w),
                Err(PortError::Conflict { .. }) => {
                    self.refresh(id).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(CoordError::Busy(format!("task {id}")))
    }

    pub(super) fn new_task(&self, id: &str, input: &TaskInput, deps: Vec<String>) -> Task {
        let now = self.clock.now();
        let status = input.status.unwrap_or(TaskStatus::Available);
        let finished = status.is_final();
        Task {
            task_id: id.to_string(),
            title: input.title.clone().unwrap_or_default(),
            description: input.description.clone().unwrap_or_default(),
            status,
            owner: None,
            blocked_by: Vec::new(),
            depends_on: deps,
            priority: input.priority.unwrap_or_default(),
            created_at: input.created_at.clone().unwrap_or_else(|| now.into()),
            claimed_at: None,
            completed_at: finished.then_some(now),
            result: if finished {
                input.result.clone().map(Box::new)
            } else {
                None
            },
            error: if finished { input.error.clone() } else { None },
            attempts: 0,
            max_attempts: input.max_attempts.unwrap_or(self.config.max_attempts),
            lease_expires_at: None,
            capabilities: input.capabilities.clone().unwrap_or_default(),
            updated_at: now,
            progress: None,
            failed_dependencies: Vec::new(),
            cancelled: false,
            release_reason: None,
            fencing_token: 0,
            not_before: input.not_before,
            dedup_key: input.dedup_key.clone(),
            files: input.files.clone().unwrap_or_default(),
            handoff: None,
            details: {
                let mut d = Details::default();
                d.merge(&input.details);
                d
            },
            extra: input.extra.clone(),
        }
    }

    fn updated_task(
        &self,
        old: &Task,
        input: &TaskInput,
        deps: Vec<String>,
    ) -> Result<Task, CoordError> {
        if old.status == TaskStatus::Claimed {
            return Err(CoordError::Held(old.owner.clone().unwrap_or_default()));
        }
        let mut t = old.clone();
        if let Some(v) = &input.title {
            t.title = v.clone();
        }
        if let Some(v) = &input.description {
            t.description = v.clone();
        }
        if let Some(v) = input.priority {
            t.priority = v;
        }
        if input.blocked_by.is_some() || input.depends_on.is_some() {
            t.depends_on = deps;
        }
        if let Some(v) = &input.capabilities {
            t.capabilities = v.clone();
        }
        if let Some(v) = input.max_attempts {
            t.max_attempts = v;
        }
        if let Some(v) = input.not_before {
            t.not_before = Some(v);
        }
        if let Some(v) = &input.files {
            t.files = v.clone();
        }
        if let Some(v) = &input.dedup_key {
            t.dedup_key = Some(v.clone());
        }
        t.details.merge(&input.details);
        merge_extra(&mut t.extra, &input.extra);
        let now = self.clock.now();
        match input.status {
            Some(TaskStatus::Available) if t.status != TaskStatus::Available => {
                // Re-posting a finished task as available queues it again,
                // as a fresh task: nothing of the last run stays on it
                // (its history keeps every version), only the fencing
                // token goes on rising.
                t.status = TaskStatus::Available;
                t.owner = None;
                t.claimed_at = None;
                t.lease_expires_at = None;
                t.progress = None;
                t.handoff = None;
                t.attempts = 0;
                t.completed_at = None;
                t.result = None;
                t.error = None;
                t.cancelled = false;
                t.release_reason = None;
                t.not_before = input.not_before;
            }
            Some(s) if s.is_final() && t.status != s => {
                t.status = s;
                t.completed_at = Some(now);
                t.result = input.result.clone().map(Box::new);
                t.error = input.error.clone();
            }
            _ => {}
        }
        t.updated_at = now;
        Ok(t)
    }
}

impl<P: LogPort> Tasks<'_, P> {
    pub fn get(self, id: &str) -> Result<Task, CoordError> {
        let view = lock(&self.c.task_view);
        let e = view.get(id).ok_or(CoordError::TaskNotFound)?;
        Ok(Coordinator::<P>::render(&view, &e.task))
    }

    /// Current tasks, newest first, one entry per task.
    pub fn list(self, status: Option<TaskStatus>, limit: usize) -> Vec<Task> {
        let view = lock(&self.c.task_view);
        view.newest(status)
            .take(limit)
            .map(|e| Coordinator::<P>::render(&view, &e.task))
            .collect()
    }

    /// Tasks an agent may claim now, in the order claim-next hands them out.
    pub fn available(self, limit: usize) -> Vec<Task> {
        let view = lock(&self.c.task_view);
        view.claimable()
            .take(limit)
            .map(|e| Coordinator::<P>::render(&view, &e.task))
            .collect()
    }

    /// Counts per status and per board column, for health and dashboards.
    pub fn counts(self) -> TaskCounts {
        lock(&self.c.task_view).counts()
    }

    /// One page of a board column (see [`Column`]), narrowed by `filter`.
    pub fn page(
        self,
        column: Column,
        after: Option<&Cursor>,
        limit: usize,
        filter: &Filter,
    ) -> Page {
        let view = lock(&self.c.task_view);
        let (entries, total, next) = view.page(column, after, limit, filter);
        Page {
            tasks: entries
                .into_iter()
                .map(|e| Coordinator::<P>::render(&view, &e.task))
                .collect(),
            total,
            next,
        }
    }

    /// Creates a task, or updates an existing one's editable fields. A task
    /// that an agent holds is never changed this way.
    pub async fn post(self, input: TaskInput) -> Result<Written, CoordError> {
        input.validate()?;
        let id = input.id()?;
        let deps = input.dependencies();
        // Held across the check and the write, so of two concurrent adds
        // with one key exactly one creates a task.
        let _dedup = match &input.dedup_key {
            Some(_) => Some(self.c.dedup_lock.lock().await),
            None => None,
        };
        if let Some(key) = &input.dedup_key {
            let view = lock(&self.c.task_view);
            if let Some(e) = view.by_dedup_key(key).filter(|e| e.task.task_id != id) {
                return Ok(Written {
                    task: Coordinator::<P>::render(&view, &e.task),
                    history_seq: None,
                    at: e.task.updated_at,
                    created: false,
                    deduplicated: true,
                });
            }
        }
        // Set when the subject holds records but none is readable: a new
        // task then replaces them.
        let mut unreadable_last = None;
        for _ in 0..MAX_RETRIES {
            let (task, expect, queued_again) = {
                let view = lock(&self.c.task_view);
                if let Some(cycle) = view.cycle_with(&id, &deps) {
                    return Err(CoordError::Cycle(cycle));
                }
                match view.get(&id) {
                    None if input.title.is_none() => {
                        return Err(CoordError::Invalid(
                            "title is required for a new task".into(),
                        ))
                    }
                    None => (
                        self.c.new_task(&id, &input, deps.clone()),
                        unreadable_last.unwrap_or(0),
                        false,
                    ),
                    Some(e) => {
                        let next = self.c.updated_task(&e.task, &input, deps.clone())?;
                        let again = e.task.status != TaskStatus::Available
                            && next.status == TaskStatus::Available;
                        (next, e.seq, again)
                    }
                }
            };
            match self.c.write_task(task, expect).await {
                Ok(w) => {
                    if queued_again {
                        // Nothing stays held for a task queued again.
                        self.c.release_task_reservations(&id).await;
                    }
                    return Ok(w);
                }
                Err(PortError::Conflict { .. }) => {
                    let last = self.c.refresh(&id).await?;
                    if lock(&self.c.task_view).get(&id).is_none() {
                        unreadable_last = Some(last);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(CoordError::Busy(format!("task {id}")))
    }

    /// The newest `limit` task versions published for history readers,
    /// oldest first (the dashboard's recent events).
    pub async fn recent_events(self, limit: usize) -> Result<Vec<Task>, CoordError> {
        Ok(self
            .c
            .port
            .tail(&self.c.subject("tasks"), limit)
            .await?
            .into_iter()
            .filter_map(|r| serde_json::from_slice(&r.payload).ok())
            .collect())
    }

    /// Every stored version of a task, oldest first, with its sequence.
    pub async fn history(self, id: &str) -> Result<Vec<(u64, Task)>, CoordError> {
        let records = self
            .c
            .port
            .scan(&self.c.task_subject(id), 1, MAX_HISTORY)
            .await?;
        if records.is_empty() {
            return Err(CoordError::TaskNotFound);
        }
        // A damaged version is left out; the others still tell the story.
        Ok(records
            .into_iter()
            .filter_map(|r| Some((r.seq, serde_json::from_slice(&r.payload).ok()?)))
            .collect())
    }
}

fn merge_extra(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        into.insert(k.clone(), v.clone());
    }
}
