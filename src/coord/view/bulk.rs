//! Building the whole view at once at start, from a snapshot's compact
//! records: each is kept as it is, and the indexes `apply` keeps are built
//! from sorted runs instead of one insert per task. The result must be
//! exactly what applying the same tasks one by one gives (tested below).

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::{compact, Stored, TaskView};
use crate::coord::clock::Clock;
use crate::coord::task::TaskStatus;

impl TaskView {
    /// The view of `count` compact task records laid end to end in
    /// `bytes` (as a snapshot stores them), which they must fill exactly.
    /// Each record is kept as it is; only what the indexes need is read
    /// from it. An id that appears twice makes the records damaged.
    pub fn from_records(
        clock: Arc<dyn Clock>,
        bytes: &[u8],
        count: u64,
    ) -> Result<TaskView, String> {
        let mut view = TaskView::new(clock);
        let count = usize::try_from(count).map_err(|e| e.to_string())?;
        // A damaged count must not reserve a damaged amount of memory.
        view.tasks.reserve(count.min(bytes.len() / 16));
        let mut by_status: HashMap<TaskStatus, Vec<_>> = HashMap::new();
        // Available tasks: claimable or not once every status is known.
        let mut waiting = Vec::new();
        let mut at = 0;
        for _ in 0..count {
            let rest = bytes.get(at..).ok_or("truncated")?;
            let (t, used) = compact::facts(rest)?;
            let record = rest.get(..used).ok_or("truncated")?;
            at += used;
            let id: Arc<str> = Arc::from(&*t.task_id);
            let stored = Stored {
                status: t.status,
                bytes: record.into(),
            };
            if view.tasks.insert(id.clone(), stored).is_some() {
                return Err(format!("task {id} is recorded twice"));
            }
            if !t.capabilities.is_empty() {
                view.needs
                    .insert(id.clone(), t.capabilities.into_boxed_slice());
            }
            by_status
                .entry(t.status)
                .or_default()
                .push((t.created_at, id.clone()));
            for d in &t.depends_on {
                view.dependents
                    .entry(d.clone())
                    .or_default()
                    .insert(id.to_string());
            }
            if let Some(k) = t.dedup_key {
                if t.status != TaskStatus::Completed {
                    view.dedup.insert(k.into_owned(), id.to_string());
                }
            }
            if let (TaskStatus::Claimed, Some(until)) = (t.status, t.lease_expires_at) {
                view.deadlines
                    .insert(id.to_string(), view.clock.instant_of(until));
            }
            if t.status == TaskStatus::Available {
                let key = (Reverse(t.priority), t.created_at, id);
                waiting.push((key, t.not_before, t.depends_on));
            }
        }
        if at != bytes.len() {
            return Err(format!("{} bytes after the last task", bytes.len() - at));
        }
        view.by_status = by_status
            .into_iter()
            .map(|(status, keys)| (status, BTreeSet::from_iter(keys)))
            .collect();
        let now = view.clock.now();
        let mut claimable = Vec::new();
        let mut delayed = Vec::new();
        for (key, not_before, depends_on) in waiting {
            let met = depends_on
                .iter()
                .all(|d| view.status_of(d) == Some(TaskStatus::Completed));
            if !met {
                continue;
            }
            match not_before.filter(|nb| *nb > now) {
                None => claimable.push(key),
                Some(nb) => delayed.push((nb, key.2)),
            }
        }
        view.claimable = BTreeSet::from_iter(claimable);
        view.delayed = BTreeSet::from_iter(delayed);
        Ok(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coord::clock::ManualClock;
    use crate::coord::task::{Priority, Task};
    use crate::coord::time::Timestamp;
    use proptest::prelude::*;

    #[test]
    fn records_that_repeat_an_id_or_do_not_fill_the_bytes_are_refused() {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::default());
        let t =
            crate::coord::task::sample_task("t1", TaskStatus::Available, Priority::High, 0, vec![]);
        let one = compact::encode(&t, 3).unwrap();
        let twice = [&one[..], &one[..]].concat();
        let err = TaskView::from_records(clock.clone(), &twice, 2)
            .err()
            .unwrap();
        assert!(err.contains("twice"), "{err}");
        assert!(TaskView::from_records(clock.clone(), &twice, 1).is_err());
        assert!(TaskView::from_records(clock.clone(), &one[..one.len() - 1], 1).is_err());
        assert!(TaskView::from_records(clock.clone(), &one, 2).is_err());
        let view = TaskView::from_records(clock, &one, 1).unwrap();
        assert_eq!(view.get("t1").map(|e| (e.task, e.seq)), Some((t, 3)));
    }

    proptest! {
        /// Every index equals the one applying the same versions in order
        /// builds: claim order, delayed tasks, statuses, dependents, dedup
        /// keys and lease deadlines.
        #[test]
        fn the_bulk_view_equals_the_applied_one(versions in prop::collection::vec(
            (0usize..10, 0usize..4, 0usize..3, 0i64..5, prop::collection::vec(0usize..10, 0..3), any::<bool>(), 0usize..3, any::<bool>()),
            1..60,
        )) {
            let clock = Arc::new(ManualClock::default());
            let now = clock.now();
            let mut applied = TaskView::new(clock.clone());
            let mut latest: HashMap<String, (Task, u64)> = HashMap::new();
            for (seq, (id, status, priority, age, deps, later, dedup, leased)) in versions.into_iter().enumerate() {
                let status = [TaskStatus::Available, TaskStatus::Claimed, TaskStatus::Completed, TaskStatus::Failed][status];
                let priority = [Priority::Low, Priority::Medium, Priority::High][priority];
                let deps = deps.into_iter().filter(|d| *d != id).map(|d| format!("t{d}")).collect();
                let mut t = crate::coord::task::sample_task(&format!("t{id}"), status, priority, age, deps);
                if later {
                    t.not_before = Some(now.plus(std::time::Duration::from_secs(60)));
                } else if age == 0 {
                    t.not_before = Some(now.minus(std::time::Duration::from_secs(60)));
                }
                t.dedup_key = (dedup > 0).then(|| format!("k{dedup}"));
                if leased {
                    t.lease_expires_at = Some(Timestamp::parse("2030-01-01T00:00:00").unwrap());
                }
                let seq = seq as u64 + 1;
                applied.apply(t.clone(), seq);
                latest.insert(t.task_id.clone(), (t, seq));
            }
            let mut records = Vec::new();
            for (t, seq) in latest.values() {
                records.extend_from_slice(&compact::encode(t, *seq).unwrap());
            }
            let bulk = TaskView::from_records(clock, &records, latest.len() as u64).unwrap();
            prop_assert_eq!(&bulk.claimable, &applied.claimable);
            prop_assert_eq!(&bulk.delayed, &applied.delayed);
            prop_assert_eq!(&bulk.needs, &applied.needs);
            prop_assert_eq!(&bulk.by_status.iter().filter(|(_, s)| !s.is_empty()).collect::<HashMap<_, _>>(), &applied.by_status.iter().filter(|(_, s)| !s.is_empty()).collect::<HashMap<_, _>>());
            prop_assert_eq!(&bulk.dependents.iter().filter(|(_, s)| !s.is_empty()).collect::<HashMap<_, _>>(), &applied.dependents.iter().filter(|(_, s)| !s.is_empty()).collect::<HashMap<_, _>>());
            prop_assert_eq!(&bulk.deadlines, &applied.deadlines);
            let seqs = |v: &TaskView| v.tasks.iter().map(|(k, e)| (k.clone(), (e.seq(), e.status, e.bytes.clone()))).collect::<HashMap<_, _>>();
            prop_assert_eq!(seqs(&bulk), seqs(&applied));
        }
    }
}
