//! Consumers through the log's own API: redelivery until acked and across
//! a restart, long-polled fetches, deliver policies, and which idle
//! consumers are removed.

use std::time::Duration;

use super::tests::{open, payloads, put, stream};
use super::*;

#[tokio::test]
async fn consumer_redelivers_until_acked_and_resumes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path());
        log.create_stream(stream("Q", &["q.*"])).unwrap();
        for i in 1..=3 {
            put(&log, "q.x", &i.to_string()).await;
        }
        let config = ConsumerConfig {
            durable_name: Some("worker".into()),
            ack_wait: Duration::from_millis(100),
            max_deliver: Some(3),
            ..Default::default()
        };
        log.create_consumer("Q", config.clone()).unwrap();
        let (_, created) = log.create_consumer("Q", config).unwrap();
        assert!(!created, "same durable config is idempotent");
        let got = log.fetch("Q", "worker", 10, Duration::ZERO).await.unwrap();
        assert_eq!(
            got.iter().map(|d| d.message.seq).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        log.ack("Q", "worker", 1, AckKind::Ack, None).unwrap();
        log.ack("Q", "worker", 3, AckKind::Ack, None).unwrap();
        assert!(matches!(
            log.ack("Q", "worker", 3, AckKind::Ack, None),
            Err(LogError::NotPending { .. })
        ));
        // Message 2 is not acked: it comes back after ack_wait, counted.
        let again = log
            .fetch("Q", "worker", 10, Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(
            again
                .iter()
                .map(|d| (d.message.seq, d.delivered))
                .collect::<Vec<_>>(),
            [(2, 2)]
        );
        let info = log.consumer_info("Q", "worker").unwrap();
        assert_eq!(
            (
                info.num_ack_pending,
                info.num_redelivered,
                info.ack_floor.stream_seq,
                info.num_pending
            ),
            (1, 1, 1, 0)
        );
        log.close().unwrap();
    }
    let log = open(dir.path());
    let info = log.consumer_info("Q", "worker").unwrap();
    assert_eq!(
        (info.delivered.stream_seq, info.num_ack_pending),
        (3, 1),
        "durable state survived"
    );
    log.ack("Q", "worker", 2, AckKind::Ack, None).unwrap();
    assert_eq!(
        log.consumer_info("Q", "worker")
            .unwrap()
            .ack_floor
            .stream_seq,
        3
    );
    put(&log, "q.x", "4").await;
    let next = log.fetch("Q", "worker", 10, Duration::ZERO).await.unwrap();
    assert_eq!(next.iter().map(|d| d.message.seq).collect::<Vec<_>>(), [4]);
}

#[tokio::test]
async fn fetch_long_polls_until_a_message_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_stream(stream("L", &["l"])).unwrap();
    log.create_consumer(
        "L",
        ConsumerConfig {
            durable_name: Some("c".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let waiter = {
        let log = log.clone();
        tokio::spawn(async move { log.fetch("L", "c", 5, Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished(), "nothing to deliver yet");
    put(&log, "l", "hello").await;
    let got = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        payloads(&got.into_iter().map(|d| d.message).collect::<Vec<_>>()),
        ["hello"]
    );
}

#[tokio::test]
async fn deliver_policies_pick_the_right_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_stream(stream("DP", &["dp.*"])).unwrap();
    for (s, v) in [("dp.a", "1"), ("dp.b", "2"), ("dp.a", "3"), ("dp.b", "4")] {
        put(&log, s, v).await;
    }
    let first = |policy: DeliverPolicy, seq: Option<u64>, filter: Option<&str>| {
        let log = log.clone();
        let filter = filter.map(str::to_string);
        async move {
            let config = ConsumerConfig {
                deliver_policy: policy,
                opt_start_seq: seq,
                filter_subject: filter,
                ack_policy: AckPolicy::None,
                ..Default::default()
            };
            let (info, _) = log.create_consumer("DP", config).unwrap();
            let got = log
                .fetch("DP", &info.name, 10, Duration::ZERO)
                .await
                .unwrap();
            got.iter().map(|d| d.message.seq).collect::<Vec<_>>()
        }
    };
    assert_eq!(first(DeliverPolicy::All, None, None).await, [1, 2, 3, 4]);
    assert_eq!(first(DeliverPolicy::Last, None, None).await, [4]);
    assert_eq!(first(DeliverPolicy::Last, None, Some("dp.a")).await, [3]);
    assert_eq!(
        first(DeliverPolicy::New, None, None).await,
        Vec::<u64>::new()
    );
    assert_eq!(
        first(DeliverPolicy::ByStartSequence, Some(3), None).await,
        [3, 4]
    );
    assert_eq!(
        first(DeliverPolicy::LastPerSubject, None, None).await,
        [3, 4]
    );
    assert_eq!(first(DeliverPolicy::All, None, Some("dp.b")).await, [2, 4]);
}

#[tokio::test]
async fn idle_ephemeral_consumers_are_removed_and_durables_kept() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_stream(stream("I", &["i"])).unwrap();
    let short = Duration::from_millis(100);
    let (eph, _) = log
        .create_consumer(
            "I",
            ConsumerConfig {
                inactive_threshold: short,
                ..Default::default()
            },
        )
        .unwrap();
    let durable = ConsumerConfig {
        durable_name: Some("d".into()),
        inactive_threshold: short,
        ..Default::default()
    };
    log.create_consumer("I", durable).unwrap();
    assert_eq!(log.sweep().unwrap().removed_consumers, 0, "not idle yet");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(log.sweep().unwrap().removed_consumers, 1);
    assert!(matches!(
        log.consumer_info("I", &eph.name),
        Err(LogError::ConsumerNotFound { .. })
    ));
    assert!(log.consumer_info("I", "d").is_ok());
}
