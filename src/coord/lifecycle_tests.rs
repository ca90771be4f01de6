//! The task lifecycle with a manual clock: leases, dead agents, backoff,
//! attempts, dependencies, fencing and wall-clock jumps, with no sleeping —
//! time moves when a test says so. Each scenario runs on the in-memory port
//! and on a real `nats-server -js` through the JetStream port, so both
//! backends are held to the same behaviour. The second-scale integration
//! tests (tests/coord_*.rs) stay as the end-to-end checks on the real
//! server.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::agents::HeartbeatInput;
use super::clock::ManualClock;
use super::task::{TaskInput, TaskStatus};
use super::transitions::Finish;
use super::{CoordConfig, CoordError, Coordinator};
use crate::streams::{JetStreamPort, LogPort, MemoryPort};

pub(super) type Coord<P> = Arc<Coordinator<P>>;

fn config() -> CoordConfig {
    CoordConfig {
        task_lease: Duration::from_secs(60),
        agent_stale_after: Duration::from_secs(20),
        agent_dead_after: Duration::from_secs(30),
        max_attempts: 3,
        retry_backoff: Duration::from_secs(10),
        retry_backoff_max: Duration::from_secs(40),
        ..CoordConfig::default()
    }
}

pub(super) async fn open_on<P: LogPort>(port: P) -> (Coord<P>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let coord = Coordinator::open_with_clock(port, config(), clock.clone())
        .await
        .unwrap();
    (coord, clock)
}

async fn open() -> (Coord<MemoryPort>, Arc<ManualClock>) {
    open_on(MemoryPort::new()).await
}

/// Runs `scenario` on the in-memory port and on a fresh nats-server.
macro_rules! on_both_ports {
    ($memory:ident, $jetstream:ident, $scenario:ident) => {
        #[tokio::test]
        async fn $memory() {
            $scenario(MemoryPort::new()).await;
        }

        #[tokio::test]
        async fn $jetstream() {
            let Some(server) = crate::streams::nats_testing::start(stringify!($jetstream)) else {
                return;
            };
            let port = JetStreamPort::connect(&server.url, "mjwork", 1)
                .await
                .unwrap();
            $scenario(port).await;
        }
    };
}

pub(super) async fn add<P: LogPort>(c: &Coord<P>, v: Value) {
    let input: TaskInput = serde_json::from_value(v).unwrap();
    c.tasks().post(input).await.unwrap();
}

pub(super) async fn beat<P: LogPort>(c: &Coord<P>, agent: &str) {
    let input: HeartbeatInput = serde_json::from_value(json!({"agent_id": agent})).unwrap();
    c.agents().heartbeat(input).await.unwrap();
}

pub(super) async fn next<P: LogPort>(c: &Coord<P>, agent: &str) -> Option<(String, u64)> {
    c.tasks()
        .claim_next(agent, None, Duration::ZERO, &Default::default())
        .await
        .unwrap()
        .map(|w| (w.task.task_id, w.task.fencing_token))
}

fn done(fence: u64) -> Finish {
    Finish {
        success: true,
        result: None,
        error: None,
        retry: true,
        fence: Some(fence),
    }
}

fn status<P: LogPort>(c: &Coord<P>, id: &str) -> TaskStatus {
    c.tasks().get(id).unwrap().status
}

on_both_ports!(
    lease_expiry_in_memory,
    lease_expiry_on_jetstream,
    an_expired_lease_returns_the_task_after_its_backoff_and_fences_the_old_holder
);

async fn an_expired_lease_returns_the_task_after_its_backoff_and_fences_the_old_holder<
    P: LogPort,
>(
    port: P,
) {
    let (c, clock) = open_on(port).await;
    add(&c, json!({"task_id": "t", "title": "T"})).await;
    beat(&c, "a").await;
    let (_, first) = next(&c, "a").await.unwrap();
    // Alive all along (heartbeats that name no task do not renew a lease).
    for _ in 0..3 {
        clock.advance(Duration::from_secs(19));
        beat(&c, "a").await;
        beat(&c, "b").await;
    }
    c.reap().await;
    assert_eq!(
        status(&c, "t"),
        TaskStatus::Claimed,
        "not before the lease ends"
    );

    clock.advance(Duration::from_secs(4));
    assert_eq!(c.reap().await, 1, "the lease ended at 60 s");
    let t = c.tasks().get("t").unwrap();
    assert_eq!((t.status, t.attempts), (TaskStatus::Available, 1));
    assert_eq!(next(&c, "b").await, None, "backoff: not granted at once");

    clock.advance(Duration::from_secs(10));
    c.reap().await;
    let (_, second) = next(&c, "b").await.unwrap();
    assert!(second > first);
    // The old holder, with its token, cannot finish what is no longer its.
    let err = c.tasks().complete("t", "a", done(first)).await.unwrap_err();
    assert!(
        matches!(
            err,
            CoordError::StaleToken { .. } | CoordError::NotOwner { .. }
        ),
        "{err}"
    );
    c.tasks().complete("t", "b", done(second)).await.unwrap();
    assert_eq!(status(&c, "t"), TaskStatus::Completed);
}

on_both_ports!(
    dead_agent_in_memory,
    dead_agent_on_jetstream,
    a_dead_agents_task_comes_back_exactly_once
);

async fn a_dead_agents_task_comes_back_exactly_once<P: LogPort>(port: P) {
    let (c, clock) = open_on(port).await;
    add(&c, json!({"task_id": "t", "title": "T"})).await;
    beat(&c, "a").await;
    next(&c, "a").await.unwrap();
    for _ in 0..2 {
        clock.advance(Duration::from_secs(15));
        beat(&c, "other").await;
        c.reap().await;
        assert_eq!(status(&c, "t"), TaskStatus::Claimed, "a is only stale");
    }
    clock.advance(Duration::from_secs(15));
    assert_eq!(c.reap().await, 1, "a has been silent for 45 s");
    assert_eq!(c.reap().await, 0, "released once");
    let t = c.tasks().get("t").unwrap();
    assert_eq!(
        (t.status, t.attempts, t.owner),
        (TaskStatus::Available, 1, None)
    );
}

on_both_ports!(
    backoff_in_memory,
    backoff_on_jetstream,
    every_attempt_spent_doubles_the_wait_then_a_human_is_needed
);

async fn every_attempt_spent_doubles_the_wait_then_a_human_is_needed<P: LogPort>(port: P) {
    let (c, clock) = open_on(port).await;
    add(&c, json!({"task_id": "t", "title": "T"})).await;
    let mut waits = Vec::new();
    for attempt in 1..=3 {
        // Find how long after the failure the task is granted again.
        let mut waited = 0;
        let fence = loop {
            c.reap().await;
            if let Some((_, fence)) = next(&c, "a").await {
                break fence;
            }
            clock.advance(Duration::from_secs(1));
            waited += 1;
            assert!(waited < 1000, "attempt {attempt} never granted");
        };
        waits.push(waited);
        let failed = Finish {
            success: false,
            error: Some("broke".into()),
            ..done(fence)
        };
        c.tasks().complete("t", "a", failed).await.unwrap();
    }
    assert_eq!(waits, vec![0, 10, 20]);
    let t = c.tasks().get("t").unwrap();
    assert_eq!((t.status, t.attempts), (TaskStatus::NeedsHuman, 3));
    clock.advance(Duration::from_secs(3600));
    c.reap().await;
    assert_eq!(
        next(&c, "a").await,
        None,
        "a task that needs a human is not granted"
    );
    c.tasks().retry("t").await.unwrap();
    assert!(next(&c, "a").await.is_some());
}

on_both_ports!(
    wall_jump_in_memory,
    wall_jump_on_jetstream,
    a_wall_clock_jump_expires_nothing_but_real_time_does
);

async fn a_wall_clock_jump_expires_nothing_but_real_time_does<P: LogPort>(port: P) {
    let (c, clock) = open_on(port).await;
    add(&c, json!({"task_id": "t", "title": "T"})).await;
    beat(&c, "a").await;
    next(&c, "a").await.unwrap();
    clock.jump_wall(Duration::from_secs(10 * 3600), true);
    c.reap().await;
    assert_eq!(
        status(&c, "t"),
        TaskStatus::Claimed,
        "a jump is not time passing"
    );
    clock.advance(Duration::from_secs(31));
    c.reap().await;
    assert_eq!(status(&c, "t"), TaskStatus::Available);
}

on_both_ports!(
    dependencies_in_memory,
    dependencies_on_jetstream,
    dependencies_hold_a_task_until_they_complete
);

async fn dependencies_hold_a_task_until_they_complete<P: LogPort>(port: P) {
    let (c, _clock) = open_on(port).await;
    add(
        &c,
        json!({"task_id": "b", "title": "B", "depends_on": ["a"], "priority": "high"}),
    )
    .await;
    add(&c, json!({"task_id": "a", "title": "A", "priority": "low"})).await;
    let (id, fence) = next(&c, "x").await.unwrap();
    assert_eq!(id, "a", "b waits for a despite its priority");
    assert_eq!(next(&c, "y").await, None);
    let err = c.tasks().claim("b", "y").await.unwrap_err();
    assert!(matches!(err, CoordError::Blocked(_)), "{err}");
    c.tasks().complete("a", "x", done(fence)).await.unwrap();
    assert_eq!(next(&c, "y").await.map(|(id, _)| id).as_deref(), Some("b"));
}

#[tokio::test]
async fn storage_that_refuses_writes_changes_nothing_and_says_why() {
    let port = MemoryPort::new();
    let clock = Arc::new(ManualClock::default());
    let c = Coordinator::open_with_clock(port, config(), clock)
        .await
        .unwrap();
    add(&c, json!({"task_id": "t", "title": "T"})).await;
    c.port
        .fail_writes(Some(crate::streams::PortError::Full("disk full".into())));
    let err = c.tasks().claim("t", "a").await.unwrap_err();
    assert!(
        matches!(err, CoordError::Storage(crate::streams::PortError::Full(_))),
        "{err}"
    );
    assert_eq!(status(&c, "t"), TaskStatus::Available);
    c.port.fail_writes(None);
    assert!(c.tasks().claim("t", "a").await.is_ok());
}

#[derive(Debug, Clone)]
enum Op {
    Next(u8),
    Complete(u8),
    Release(u8),
    Beat(u8),
    Advance(u16),
    Reap,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..3).prop_map(Op::Next),
        (0u8..3).prop_map(Op::Complete),
        (0u8..3).prop_map(Op::Release),
        (0u8..3).prop_map(Op::Beat),
        (1u16..90).prop_map(Op::Advance),
        Just(Op::Reap),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever agents, time and the reaper do: a task has an owner exactly
    /// when it is claimed, each grant has a new, higher fencing token,
    /// attempts never exceed the limit, and a completed task stays so.
    #[test]
    fn grants_stay_exclusive_and_fenced_under_any_schedule(ops in proptest::collection::vec(op(), 1..60)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            let (c, clock) = open().await;
            for i in 0..3 {
                add(&c, json!({"task_id": format!("t{i}"), "title": "T"})).await;
            }
            // agent → (task, token) it believes it holds.
            let mut held: Vec<Option<(String, u64)>> = vec![None; 3];
            let mut last_token = std::collections::HashMap::<String, u64>::new();
            let mut completed = std::collections::HashSet::<String>::new();
            for op in ops {
                match op {
                    Op::Next(a) => {
                        if let Some((id, token)) = next(&c, &format!("a{a}")).await {
                            let before = last_token.insert(id.clone(), token).unwrap_or(0);
                            prop_assert!(token > before, "token {token} not above {before}");
                            held[a as usize] = Some((id, token));
                        }
                    }
                    Op::Complete(a) => {
                        if let Some((id, token)) = held[a as usize].take() {
                            if c.tasks().complete(&id, &format!("a{a}"), done(token)).await.is_ok() {
                                completed.insert(id);
                            }
                        }
                    }
                    Op::Release(a) => {
                        if let Some((id, token)) = held[a as usize].take() {
                            let _ = c.tasks().release(&id, &format!("a{a}"), Some(token)).await;
                        }
                    }
                    Op::Beat(a) => beat(&c, &format!("a{a}")).await,
                    Op::Advance(s) => clock.advance(Duration::from_secs(s.into())),
                    Op::Reap => {
                        c.reap().await;
                    }
                }
                for i in 0..3 {
                    let t = c.tasks().get(&format!("t{i}")).unwrap();
                    if t.status == TaskStatus::Claimed {
                        prop_assert!(t.owner.is_some(), "{:?}", t);
                    }
                    if t.status == TaskStatus::Available {
                        prop_assert!(t.owner.is_none(), "{:?}", t);
                    }
                    prop_assert!(t.attempts <= 3);
                    if completed.contains(&t.task_id) {
                        prop_assert_eq!(t.status, TaskStatus::Completed);
                    }
                }
            }
            Ok(())
        })?;
    }
}
