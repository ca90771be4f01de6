//! The task board as people look at it: five columns (claimable, blocked,
//! claimed, completed, failed), their sizes, and pages through any of them
//! with a cursor, so a board of 100,000 tasks is read a page at a time and
//! its counts never come from a truncated list.

use std::cmp::Reverse;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use super::task::{Priority, Task, TaskStatus};
use super::time::Timestamp;
use super::view::{Entry, QueueKey, RecentKey, TaskView};

/// Which tasks a page lists, and in what order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Every task, newest first.
    All,
    /// Tasks of one status, newest first (`available` includes blocked ones).
    Status(TaskStatus),
    /// Available tasks whose dependencies are all completed, in the order
    /// claim-next hands them out.
    Claimable,
    /// Available tasks still waiting for a dependency, newest first.
    Blocked,
}

impl Column {
    /// `available` on the board means claimable; the other names are
    /// statuses.
    pub fn parse(name: &str) -> Option<Column> {
        Some(match name {
            "all" => Column::All,
            "available" | "claimable" => Column::Claimable,
            "blocked" => Column::Blocked,
            "claimed" => Column::Status(TaskStatus::Claimed),
            "completed" => Column::Status(TaskStatus::Completed),
            "failed" => Column::Status(TaskStatus::Failed),
            "needs_human" => Column::Status(TaskStatus::NeedsHuman),
            _ => return None,
        })
    }
}

/// Narrows a column to the tasks a person is looking for. Empty: all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Case-insensitive substring of the id, title or description.
    pub text: Option<String>,
    pub owner: Option<String>,
    pub priority: Option<Priority>,
    /// The task requires this capability.
    pub capability: Option<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    pub fn accepts(&self, t: &Task) -> bool {
        let text = self.text.as_ref().is_none_or(|q| {
            let q = q.to_lowercase();
            t.task_id.to_lowercase().contains(&q)
                || t.title.to_lowercase().contains(&q)
                || t.description.to_lowercase().contains(&q)
        });
        text && self
            .owner
            .as_ref()
            .is_none_or(|o| t.owner.as_ref() == Some(o))
            && self.priority.is_none_or(|p| t.priority == p)
            && self
                .capability
                .as_ref()
                .is_none_or(|c| t.capabilities.contains(c))
    }
}

/// Task counts by status and by board column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounts {
    pub total: usize,
    /// Every available task, blocked or not (the status count).
    pub available: usize,
    pub claimable: usize,
    pub blocked: usize,
    pub claimed: usize,
    pub completed: usize,
    pub failed: usize,
    pub needs_human: usize,
    /// Available tasks waiting out a backoff, snooze or start time (part
    /// of `blocked`).
    pub delayed: usize,
}

/// Where a page ends: the sort key of its last task, as text a client
/// hands back unchanged (`after=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    Recent(RecentKey),
    Queue(QueueKey),
}

impl Cursor {
    pub fn parse(text: &str) -> Option<Cursor> {
        let mut parts = text.splitn(3, '~');
        let (head, micros, id) = (parts.next()?, parts.next()?, parts.next()?);
        let at = Timestamp(chrono::DateTime::from_timestamp_micros(
            micros.parse().ok()?,
        )?);
        let id: std::sync::Arc<str> = id.into();
        Some(match head {
            "r" => Cursor::Recent((at, id)),
            "h" => Cursor::Queue((Reverse(Priority::High), at, id)),
            "m" => Cursor::Queue((Reverse(Priority::Medium), at, id)),
            "l" => Cursor::Queue((Reverse(Priority::Low), at, id)),
            _ => return None,
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (head, at, id) = match self {
            Cursor::Recent((at, id)) => ("r", at, id),
            Cursor::Queue((Reverse(p), at, id)) => {
                let head = match p {
                    Priority::High => "h",
                    Priority::Medium => "m",
                    Priority::Low => "l",
                };
                (head, at, id)
            }
        };
        write!(f, "{head}~{}~{id}", at.0.timestamp_micros())
    }
}

/// One page of a column.
#[derive(Debug, Clone)]
pub struct Page {
    pub tasks: Vec<Task>,
    /// How many tasks the whole column holds.
    pub total: usize,
    /// Hand back as `after` for the next page; `None` on the last one.
    pub next: Option<Cursor>,
}

impl TaskView {
    pub fn counts(&self) -> TaskCounts {
        let available = self.count(TaskStatus::Available);
        TaskCounts {
            total: self.len(),
            available,
            claimable: self.claimable.len(),
            blocked: available.saturating_sub(self.claimable.len()),
            claimed: self.count(TaskStatus::Claimed),
            completed: self.count(TaskStatus::Completed),
            failed: self.count(TaskStatus::Failed),
            needs_human: self.count(TaskStatus::NeedsHuman),
            delayed: self.delayed.len(),
        }
    }

    /// Up to `limit` entries of `column` after `after` that `filter`
    /// accepts, how many the column holds (that it accepts), and the cursor
    /// of the last one when more follow.
    pub fn page(
        &self,
        column: Column,
        after: Option<&Cursor>,
        limit: usize,
        filter: &Filter,
    ) -> (Vec<Entry>, usize, Option<Cursor>) {
        let counts = self.counts();
        let keep =
            |id: &str| filter.is_empty() || self.get(id).is_some_and(|e| filter.accepts(&e.task));
        match column {
            Column::Claimable => {
                let start = match after {
                    Some(Cursor::Queue(k)) => Bound::Excluded(k.clone()),
                    _ => Bound::Unbounded,
                };
                let keys = self
                    .claimable
                    .range((start, Bound::Unbounded))
                    .filter(|k| keep(&k.2));
                let (entries, next) = self.take(keys.map(|k| (k, &k.2)), limit);
                let total = if filter.is_empty() {
                    counts.claimable
                } else {
                    self.claimable.iter().filter(|k| keep(&k.2)).count()
                };
                (entries, total, next.map(Cursor::Queue))
            }
            Column::All | Column::Status(_) | Column::Blocked => {
                let status = match column {
                    Column::Status(s) => Some(s),
                    Column::Blocked => Some(TaskStatus::Available),
                    _ => None,
                };
                let blocked_only = column == Column::Blocked;
                let in_column =
                    |k: &RecentKey| (!blocked_only || !self.in_claim_order(k)) && keep(&k.1);
                let total = if filter.is_empty() {
                    match column {
                        Column::All => counts.total,
                        Column::Blocked => counts.blocked,
                        Column::Status(s) => self.count(s),
                        Column::Claimable => counts.claimable,
                    }
                } else {
                    self.newest_keys(status, Bound::Unbounded)
                        .filter(|k| in_column(k))
                        .count()
                };
                let end = match after {
                    Some(Cursor::Recent(k)) => Bound::Excluded(k.clone()),
                    _ => Bound::Unbounded,
                };
                let keys = self.newest_keys(status, end).filter(|k| in_column(k));
                let (entries, next) = self.take(keys.map(|k| (k, &k.1)), limit);
                (entries, total, next.map(Cursor::Recent))
            }
        }
    }

    /// The first `limit` entries of `keys`, and the key of the last one
    /// when at least one more follows.
    fn take<'a, K: Clone + 'a>(
        &'a self,
        keys: impl Iterator<Item = (&'a K, &'a std::sync::Arc<str>)>,
        limit: usize,
    ) -> (Vec<Entry>, Option<K>) {
        let mut out = Vec::new();
        let mut last = None;
        for (key, id) in keys {
            if out.len() == limit {
                return (out, last);
            }
            if let Some(e) = self.get(id) {
                out.push(e);
                last = Some(key.clone());
            }
        }
        (out, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn task(id: usize, status: TaskStatus, prio: Priority, age: i64, dep: Option<usize>) -> Task {
        let deps = dep.map(|d| format!("t~{d}")).into_iter().collect();
        crate::coord::task::sample_task(&format!("t~{id}"), status, prio, age, deps)
    }

    fn status() -> impl Strategy<Value = TaskStatus> {
        prop_oneof![
            Just(TaskStatus::Available),
            Just(TaskStatus::Claimed),
            Just(TaskStatus::Completed),
            Just(TaskStatus::Failed),
        ]
    }

    fn priority() -> impl Strategy<Value = Priority> {
        prop_oneof![
            Just(Priority::Low),
            Just(Priority::Medium),
            Just(Priority::High)
        ]
    }

    proptest! {
        /// Paging through a column with any page size yields exactly the
        /// column's tasks, in order, each once; the counts agree.
        #[test]
        fn pages_cover_each_column_exactly_once(
            tasks in prop::collection::vec((status(), priority(), 0i64..20, prop::option::of(0usize..30)), 1..40),
            size in 1usize..7,
        ) {
            let mut view = TaskView::default();
            for (i, (s, p, age, dep)) in tasks.iter().enumerate() {
                view.apply(task(i, *s, *p, *age, *dep), i as u64 + 1);
            }
            let counts = view.counts();
            let filters = [
                Filter::default(),
                Filter { priority: Some(Priority::High), ..Filter::default() },
                Filter { text: Some("T1".into()), ..Filter::default() },
            ];
            for (column, filter) in ["all", "available", "blocked", "claimed", "completed", "failed"]
                .iter()
                .flat_map(|c| filters.iter().map(move |f| (*c, f)))
            {
                let column = Column::parse(column).unwrap();
                let mut seen = Vec::new();
                let mut after: Option<Cursor> = None;
                loop {
                    let (entries, total, next) = view.page(column, after.as_ref(), size, filter);
                    prop_assert!(entries.len() <= size);
                    seen.extend(entries.iter().map(|e| e.task.task_id.clone()));
                    let text = next.as_ref().map(|c| c.to_string());
                    after = text.as_deref().map(|t| Cursor::parse(t).unwrap());
                    prop_assert_eq!(&after, &next);
                    if next.is_none() {
                        prop_assert_eq!(seen.len(), total);
                        break;
                    }
                }
                let want: Vec<String> = match column {
                    Column::Claimable => view.claimable().map(|e| e.task.task_id.clone()).collect(),
                    Column::All => view.newest(None).map(|e| e.task.task_id.clone()).collect(),
                    Column::Status(s) => view.newest(Some(s)).map(|e| e.task.task_id.clone()).collect(),
                    Column::Blocked => view
                        .newest(Some(TaskStatus::Available))
                        .filter(|e| !view.unmet(&e.task).is_empty())
                        .map(|e| e.task.task_id.clone())
                        .collect(),
                };
                let want: Vec<String> = want
                    .into_iter()
                    .filter(|id| filter.accepts(&view.get(id).unwrap().task))
                    .collect();
                prop_assert_eq!(&seen, &want);
            }
            prop_assert_eq!(counts.claimable + counts.blocked, counts.available);
            prop_assert_eq!(
                counts.available + counts.claimed + counts.completed + counts.failed,
                counts.total
            );
        }
    }
}
