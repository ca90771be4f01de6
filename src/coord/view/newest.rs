//! Tasks newest first: one status's set, or every status's sets merged.

use std::collections::{btree_set, BTreeSet};
use std::iter::{Peekable, Rev};
use std::ops::Bound;

use super::{RecentKey, TaskView};
use crate::coord::task::TaskStatus;

impl TaskView {
    /// The keys of one status's tasks, or of every task, before `end`,
    /// newest first. Every task is in exactly one status's set, so all of
    /// them is those sets merged (an index of its own would cost some
    /// 40 bytes a task).
    pub(in crate::coord) fn newest_keys(
        &self,
        status: Option<TaskStatus>,
        end: Bound<RecentKey>,
    ) -> NewestFirst<'_> {
        let sets: Vec<&BTreeSet<RecentKey>> = match status {
            Some(s) => self.by_status.get(&s).into_iter().collect(),
            None => self.by_status.values().collect(),
        };
        NewestFirst {
            runs: sets
                .into_iter()
                .map(|set| set.range((Bound::Unbounded, end.clone())).rev().peekable())
                .collect(),
        }
    }
}

/// Sorted runs of keys merged, largest first.
pub(in crate::coord) struct NewestFirst<'a> {
    runs: Vec<Peekable<Rev<btree_set::Range<'a, RecentKey>>>>,
}

impl<'a> Iterator for NewestFirst<'a> {
    type Item = &'a RecentKey;

    fn next(&mut self) -> Option<&'a RecentKey> {
        let mut best: Option<(usize, &RecentKey)> = None;
        for (i, run) in self.runs.iter_mut().enumerate() {
            if let Some(k) = run.peek() {
                if best.is_none_or(|(_, b)| *k > b) {
                    best = Some((i, k));
                }
            }
        }
        self.runs.get_mut(best?.0)?.next()
    }
}
