use super::*;
use crate::coord::task::sample_task;
use proptest::prelude::*;

#[test]
fn backoff_doubles_and_is_capped() {
    let c = CoordConfig {
        retry_backoff: Duration::from_secs(10),
        retry_backoff_max: Duration::from_secs(60),
        ..CoordConfig::default()
    };
    let waits: Vec<u64> = (1..=6).map(|a| backoff(&c, a).as_secs()).collect();
    assert_eq!(waits, vec![10, 20, 40, 60, 60, 60]);
    assert_eq!(backoff(&c, u32::MAX), Duration::from_secs(60));
}

#[test]
fn the_last_attempt_needs_a_human() {
    let c = CoordConfig::default();
    let mut t = sample_task("t", TaskStatus::Available, Default::default(), 0, vec![]);
    t.max_attempts = 2;
    let now = Timestamp::now();
    let t = claim(&t, "a", vec![], c.task_lease, now).unwrap();
    let t = requeue(&t, "a", "lease expired", &c, now).unwrap();
    assert_eq!((t.status, t.owner.clone()), (TaskStatus::Available, None));
    assert_eq!(t.not_before, Some(now.plus(c.retry_backoff)));
    assert!(
        claim(&t, "a", vec![], c.task_lease, now).is_err(),
        "in backoff"
    );
    let later = now.plus(c.retry_backoff);
    let t = claim(&t, "a", vec![], c.task_lease, later).unwrap();
    let t = requeue(&t, "a", "lease expired", &c, later).unwrap();
    assert_eq!(t.status, TaskStatus::NeedsHuman);
    assert!(t
        .error
        .as_deref()
        .unwrap()
        .contains("gave up after 2 attempts"));
    let t = retry(&t, later).unwrap();
    assert_eq!((t.status, t.attempts), (TaskStatus::Available, 0));
}

#[derive(Debug, Clone)]
enum Op {
    Claim(u8),
    Complete(u8, bool, bool),
    Release(u8),
    Snooze(u8, u8),
    Handoff(u8),
    Progress(u8),
    Requeue(u8),
    Cancel,
    Retry,
    /// Acts with a token one behind the current one.
    Stale(u8),
    Wait(u16),
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0u8..3;
    prop_oneof![
        who.clone().prop_map(Op::Claim),
        (who.clone(), any::<bool>(), any::<bool>()).prop_map(|(a, s, r)| Op::Complete(a, s, r)),
        who.clone().prop_map(Op::Release),
        (who.clone(), 0u8..30).prop_map(|(a, d)| Op::Snooze(a, d)),
        who.clone().prop_map(Op::Handoff),
        who.clone().prop_map(Op::Progress),
        who.clone().prop_map(Op::Requeue),
        Just(Op::Cancel),
        Just(Op::Retry),
        who.prop_map(Op::Stale),
        (0u16..120).prop_map(Op::Wait),
    ]
}

proptest! {
    /// Any sequence of requests, by any agent, with any timing: an owner
    /// exactly while claimed; the token rises by one per grant and never
    /// otherwise; a stale token changes nothing; attempts stay within
    /// the limit; a claim is never granted before its backoff ends or
    /// to a finished task.
    #[test]
    fn the_task_state_machine_keeps_its_rules(ops in proptest::collection::vec(op(), 1..80)) {
        let c = CoordConfig::default();
        let mut now = Timestamp::now();
        let mut t = sample_task("t", TaskStatus::Available, Default::default(), 0, vec![]);
        for op in ops {
            let agent = |a: u8| format!("a{a}");
            let fence = Some(t.fencing_token);
            let next = match &op {
                Op::Claim(a) => claim(&t, &agent(*a), vec![], c.task_lease, now),
                Op::Complete(a, success, retry) => {
                    let f = Finish { success: *success, result: None, error: None, retry: *retry, fence };
                    complete(&t, &agent(*a), &f, &c, now)
                }
                Op::Release(a) => release(&t, &agent(*a), fence, now),
                Op::Snooze(a, d) => snooze(&t, &agent(*a), fence, Duration::from_secs((*d).into()), None, now),
                Op::Handoff(a) => handoff(&t, &agent(*a), fence, "over to you", now),
                Op::Progress(a) => progress(&t, &agent(*a), fence, (None, Some(50.0)), c.task_lease, now),
                Op::Requeue(a) => requeue(&t, &agent(*a), "lease expired", &c, now),
                Op::Cancel => cancel(&t, None, None, now),
                Op::Retry => retry(&t, now),
                Op::Stale(a) => {
                    let old = t.fencing_token.checked_sub(1);
                    let r = release(&t, &agent(*a), old, now);
                    if old.is_some() {
                        prop_assert!(r.is_err(), "a stale token released the task");
                    }
                    r
                }
                Op::Wait(s) => {
                    now = now.plus(Duration::from_secs((*s).into()));
                    continue;
                }
            };
            let Ok(n) = next else { continue };
            // Who may act: the owner, for everything but claim, cancel
            // and retry.
            if let Op::Claim(_) = op {
                prop_assert_eq!(t.status, TaskStatus::Available);
                prop_assert!(t.not_before.is_none_or(|nb| nb <= now));
                prop_assert_eq!(n.fencing_token, t.fencing_token + 1);
            } else {
                prop_assert_eq!(n.fencing_token, t.fencing_token);
            }
            prop_assert_eq!(n.owner.is_some(), n.status == TaskStatus::Claimed || (n.status.is_final() && n.owner == t.owner && t.owner.is_some()));
            prop_assert!(n.status != TaskStatus::Claimed || n.lease_expires_at.is_some());
            prop_assert!(n.attempts <= n.max_attempts);
            prop_assert!(n.updated_at >= t.updated_at);
            t = n;
        }
    }
}
