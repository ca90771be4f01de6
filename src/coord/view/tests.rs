//! The view's indexes against naive recomputations (proptest).

use super::*;
use proptest::prelude::*;

fn task(id: usize, status: TaskStatus, priority: Priority, age: i64, deps: Vec<usize>) -> Task {
    let deps = deps.into_iter().map(|d| format!("t{d}")).collect();
    crate::coord::task::sample_task(&format!("t{id}"), status, priority, age, deps)
}

fn version() -> impl Strategy<Value = (usize, TaskStatus, Priority, i64, Vec<usize>)> {
    let status = prop_oneof![
        Just(TaskStatus::Available),
        Just(TaskStatus::Claimed),
        Just(TaskStatus::Completed),
        Just(TaskStatus::Failed)
    ];
    let priority = prop_oneof![
        Just(Priority::Low),
        Just(Priority::Medium),
        Just(Priority::High)
    ];
    (
        0usize..8,
        status,
        priority,
        0i64..5,
        prop::collection::vec(0usize..10, 0..3),
    )
}

proptest! {
    /// After any sequence of versions, the indexes agree with a naive
    /// recomputation: claimable = available with every dependency
    /// completed, in (priority desc, created asc, id) order; each
    /// status list holds exactly that status's tasks, newest first; an
    /// older sequence never overwrites a newer one.
    #[test]
    fn indexes_match_a_naive_recomputation(versions in prop::collection::vec(version(), 1..60)) {
        let mut view = TaskView::default();
        let mut latest: HashMap<String, (Task, u64)> = HashMap::new();
        for (seq, (id, status, priority, age, deps)) in versions.into_iter().enumerate() {
            let deps: Vec<usize> = deps.into_iter().filter(|d| *d != id).collect();
            let t = task(id, status, priority, age, deps);
            let seq = seq as u64 + 10;
            prop_assert!(view.apply(t.clone(), seq));
            prop_assert!(!view.apply(t.clone(), seq - 1), "a stale version must not apply");
            latest.insert(t.task_id.clone(), (t, seq));
        }
        let done = |id: &String| latest.get(id).is_some_and(|(t, _)| t.status == TaskStatus::Completed);
        let mut want: Vec<&Task> = latest
            .values()
            .map(|(t, _)| t)
            .filter(|t| t.status == TaskStatus::Available && t.depends_on.iter().all(done))
            .collect();
        want.sort_by(|a, b| (Reverse(a.priority), a.created_at.at(), &a.task_id).cmp(&(Reverse(b.priority), b.created_at.at(), &b.task_id)));
        let got: Vec<String> = view.claimable().map(|e| e.task.task_id).collect();
        let want: Vec<String> = want.iter().map(|t| t.task_id.clone()).collect();
        prop_assert_eq!(got, want);
        for status in [TaskStatus::Available, TaskStatus::Claimed, TaskStatus::Completed, TaskStatus::Failed] {
            let n = latest.values().filter(|(t, _)| t.status == status).count();
            prop_assert_eq!(view.count(status), n);
            let listed: Vec<Entry> = view.newest(Some(status)).collect();
            prop_assert_eq!(listed.len(), n);
            prop_assert!(listed.windows(2).all(|w| w[0].task.created_at.at() >= w[1].task.created_at.at()));
        }
        let all: Vec<Entry> = view.newest(None).collect();
        prop_assert_eq!(all.len(), latest.len());
        prop_assert!(all.windows(2).all(|w| (w[0].task.created_at.at(), &w[0].task.task_id) > (w[1].task.created_at.at(), &w[1].task.task_id)));
    }

    /// A cycle is reported exactly when the new edges would close one.
    #[test]
    fn cycle_detection_matches_reachability(edges in prop::collection::vec((0usize..6, 0usize..6), 0..12), from in 0usize..6, to in 0usize..6) {
        let mut view = TaskView::default();
        let mut deps: HashMap<usize, Vec<usize>> = HashMap::new();
        for (a, b) in edges {
            if a != b {
                deps.entry(a).or_default().push(b);
            }
        }
        // Only keep an acyclic set of edges, as the API would have.
        let mut accepted: HashMap<usize, Vec<usize>> = HashMap::new();
        for (seq, (a, bs)) in deps.into_iter().enumerate() {
            let names: Vec<String> = bs.iter().map(|b| format!("t{b}")).collect();
            if view.cycle_with(&format!("t{a}"), &names).is_none() {
                view.apply(task(a, TaskStatus::Available, Priority::Medium, 0, bs.clone()), seq as u64 + 1);
                accepted.insert(a, bs);
            }
        }
        fn reaches(g: &HashMap<usize, Vec<usize>>, from: usize, to: usize, seen: &mut HashSet<usize>) -> bool {
            from == to || (seen.insert(from) && g.get(&from).into_iter().flatten().any(|n| reaches(g, *n, to, seen)))
        }
        let closes = from == to || reaches(&accepted, to, from, &mut HashSet::new());
        let found = view.cycle_with(&format!("t{from}"), &[format!("t{to}")]);
        prop_assert_eq!(found.is_some(), closes);
        if let Some(path) = found {
            prop_assert_eq!(path.first(), path.last());
        }
    }
}
