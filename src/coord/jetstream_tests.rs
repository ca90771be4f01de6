//! The JetStream port against a real nats-server (skipped without one,
//! required in CI): reads, and claims across two instances.

use std::sync::Arc;

use crate::coord::clock::ManualClock;
use crate::coord::{CoordConfig, CoordError, Coordinator};
use crate::streams::nats_testing;
use crate::streams::{JetStreamPort, LogPort, PortError};

#[tokio::test]
async fn reads_match_what_was_appended_interleaved_with_other_subjects() {
    let Some(server) = nats_testing::start("jetstream reads") else {
        return;
    };
    let p = JetStreamPort::connect(&server.url, "mjwork", 1)
        .await
        .unwrap();
    let mut mine = Vec::new();
    for i in 0..100u32 {
        let seq = p
            .append("mjwork.chan", format!("m{i}").into_bytes(), None)
            .await
            .unwrap();
        mine.push(seq);
        p.append("mjwork.other", b"x".to_vec(), None).await.unwrap();
    }
    let tail = p.tail("mjwork.chan", 10).await.unwrap();
    let seqs: Vec<u64> = tail.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, mine[90..].to_vec());
    assert_eq!(tail[9].payload, b"m99");
    assert_eq!(p.tail("mjwork.chan", 500).await.unwrap().len(), 100);
    let scanned = p.scan("mjwork.chan", mine[50], 5).await.unwrap();
    assert_eq!(
        scanned.iter().map(|r| r.seq).collect::<Vec<_>>(),
        mine[50..55].to_vec()
    );
    let last = p.last_per_subject("mjwork.*").await.unwrap();
    assert_eq!(last.len(), 2);
    assert!(last[0].seq < last[1].seq);
    assert_eq!(p.last("mjwork.none").await.unwrap(), None);
    assert!(p.tail("mjwork.none", 5).await.unwrap().is_empty());
    // Expected sequences: 0 means "nothing there yet".
    assert!(p
        .append("hivelog.state.task.t", b"1".to_vec(), Some(0))
        .await
        .is_ok());
    let conflict = p
        .append("hivelog.state.task.t", b"2".to_vec(), Some(0))
        .await;
    assert!(matches!(conflict, Err(PortError::Conflict { actual }) if actual > 0));
    assert!(matches!(
        p.append("elsewhere.x", vec![], None).await,
        Err(PortError::NotFound(_))
    ));
}

#[tokio::test]
async fn two_instances_never_grant_one_task_twice() {
    let Some(server) = nats_testing::start("jetstream two instances") else {
        return;
    };
    let open = || async {
        let port = JetStreamPort::connect(&server.url, "mjwork", 1)
            .await
            .unwrap();
        let clock = Arc::new(ManualClock::default());
        Coordinator::open_with_clock(port, CoordConfig::default(), clock)
            .await
            .unwrap()
    };
    let (one, two) = (open().await, open().await);
    for round in 0..20 {
        let id = format!("t{round}");
        let input =
            || serde_json::from_value(serde_json::json!({"task_id": id, "title": "T"})).unwrap();
        one.tasks().post(input()).await.unwrap();
        // The second instance learns of it by writing it too (its first
        // attempt conflicts and reloads); now each holds a view in
        // which the task is free, one of them already stale.
        two.tasks().post(input()).await.unwrap();
        let (a, b) = tokio::join!(one.tasks().claim(&id, "a"), two.tasks().claim(&id, "b"));
        let won = [a.is_ok(), b.is_ok()];
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: {a:?} / {b:?}"
        );
        for lost in [a, b].into_iter().filter_map(Result::err) {
            assert!(matches!(lost, CoordError::NotClaimable { .. }), "{lost}");
        }
    }
}
