//! Nothing is granted to a caller that is gone: a claim-next whose caller
//! left stops waiting and claims nothing, a grant made as it left is given
//! back, and a grant given back costs no attempt and leaves nothing held.
//! On the in-memory port and on a real nats-server, as the lifecycle tests.

use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::lifecycle_tests::{add, beat, next, open_on};
use super::task::TaskStatus;
use super::{CoordError, GONE_BEFORE_ANSWER};
use crate::streams::{JetStreamPort, LogPort, MemoryPort};

on_both_ports!(
    gone_waiter_in_memory,
    gone_waiter_on_jetstream,
    a_waiter_that_left_claims_nothing
);

async fn a_waiter_that_left_claims_nothing<P: LogPort>(port: P) {
    let (c, _clock) = open_on(port).await;
    beat(&c, "orph").await;
    let gone = CancellationToken::new();
    let waiter = {
        let (c, gone) = (c.clone(), gone.clone());
        tokio::spawn(async move {
            c.tasks()
                .claim_next("orph", None, Duration::from_secs(30), &gone)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    gone.cancel();
    let answer = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the waiter stops when its caller leaves")
        .unwrap();
    assert!(matches!(answer, Ok(None)), "{answer:?}");
    add(&c, json!({"task_id": "t", "title": "T"})).await;
    let t = c.tasks().get("t").unwrap();
    assert_eq!((t.status, t.owner), (TaskStatus::Available, None));
    // A caller already gone when it asks gets nothing either.
    let left = CancellationToken::new();
    left.cancel();
    let answer = c
        .tasks()
        .claim_next("orph", None, Duration::ZERO, &left)
        .await;
    assert!(matches!(answer, Ok(None)), "{answer:?}");
    assert_eq!(c.tasks().get("t").unwrap().status, TaskStatus::Available);
}

on_both_ports!(
    give_back_in_memory,
    give_back_on_jetstream,
    a_grant_given_back_spends_no_attempt_and_holds_nothing
);

async fn a_grant_given_back_spends_no_attempt_and_holds_nothing<P: LogPort>(port: P) {
    let (c, _clock) = open_on(port).await;
    add(
        &c,
        json!({"task_id": "t", "title": "T", "files": ["src/**"]}),
    )
    .await;
    beat(&c, "a").await;
    let w = c
        .tasks()
        .claim_next("a", None, Duration::ZERO, &CancellationToken::new())
        .await
        .unwrap()
        .expect("granted");
    assert_eq!(c.reservations().list(None).len(), 1, "its files are held");
    c.tasks().give_back(&w.task, GONE_BEFORE_ANSWER).await;
    let t = c.tasks().get("t").unwrap();
    assert_eq!((t.status, t.owner.clone()), (TaskStatus::Available, None));
    assert_eq!(t.attempts, 0, "no attempt spent");
    assert!(
        t.release_reason
            .as_deref()
            .unwrap_or("")
            .contains(GONE_BEFORE_ANSWER),
        "{t:?}"
    );
    assert!(
        c.reservations().list(None).is_empty(),
        "nothing held for it"
    );
    // The next grant is a new one, fenced above the one given back.
    let (_, token) = next(&c, "b").await.unwrap();
    assert!(token > w.task.fencing_token);
    // Giving back a grant that is no longer current changes nothing.
    c.tasks().give_back(&w.task, GONE_BEFORE_ANSWER).await;
    let t = c.tasks().get("t").unwrap();
    assert_eq!(
        (t.status, t.owner.as_deref()),
        (TaskStatus::Claimed, Some("b"))
    );
}

on_both_ports!(
    paused_in_memory,
    paused_on_jetstream,
    a_paused_claim_next_says_so_even_with_nothing_to_grant
);

async fn a_paused_claim_next_says_so_even_with_nothing_to_grant<P: LogPort>(port: P) {
    let (c, _clock) = open_on(port).await;
    c.set_paused(true, None, None).await.unwrap();
    let answer = c
        .tasks()
        .claim_next("a", None, Duration::ZERO, &CancellationToken::new())
        .await;
    assert!(matches!(answer, Err(CoordError::Paused)), "{answer:?}");
    c.set_paused(false, None, None).await.unwrap();
    let answer = c
        .tasks()
        .claim_next("a", None, Duration::ZERO, &CancellationToken::new())
        .await;
    assert!(matches!(answer, Ok(None)), "{answer:?}");
}
