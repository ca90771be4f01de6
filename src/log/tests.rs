//! Engine tests: the log used as a library, with real sled stores in
//! temporary directories.

use std::time::Duration;

use proptest::prelude::*;

use super::*;

pub(super) fn open(dir: &Path) -> Log {
    Log::open(
        dir,
        LogOptions {
            cache_bytes: 8 << 20,
            ..Default::default()
        },
    )
    .unwrap()
}

pub(super) fn stream(name: &str, subjects: &[&str]) -> StreamConfig {
    StreamConfig::new(name, subjects)
}

pub(super) async fn put(log: &Log, subject: &str, body: &str) -> PubAck {
    log.publish(subject, body.as_bytes().to_vec(), PublishOptions::default())
        .await
        .unwrap()
}

pub(super) fn payloads(msgs: &[Message]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8(m.payload.clone()).unwrap())
        .collect()
}

pub(super) fn all(log: &Log, name: &str) -> Vec<Message> {
    log.read_range(
        name,
        &ReadRange {
            limit: 10_000,
            ..Default::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn sequences_count_up_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path());
        log.create_stream(stream("S", &["s.>"])).unwrap();
        for i in 1..=5 {
            assert_eq!(put(&log, "s.a", &format!("m{i}")).await.seq, Some(i));
        }
        log.close().unwrap();
    }
    let log = open(dir.path());
    let info = log.stream_info("S").unwrap();
    assert_eq!(
        (
            info.state.messages,
            info.state.first_seq,
            info.state.last_seq
        ),
        (5, 1, 5)
    );
    assert_eq!(
        put(&log, "s.a", "m6").await.seq,
        Some(6),
        "sequences are never reused"
    );
    assert_eq!(
        payloads(&all(&log, "S")),
        ["m1", "m2", "m3", "m4", "m5", "m6"]
    );
}

#[tokio::test]
async fn uncaptured_subjects_go_to_live_subscribers_only() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_stream(stream("S", &["s.>"])).unwrap();
    let mut sub = log.subscribe("chat.*").unwrap();
    let ack = put(&log, "chat.room", "hi").await;
    assert_eq!(
        ack,
        PubAck {
            stream: None,
            seq: None,
            duplicate: false
        }
    );
    let got = sub.recv().await.unwrap();
    assert_eq!(
        (got.subject.as_str(), got.payload.as_slice()),
        ("chat.room", &b"hi"[..])
    );
    assert_eq!(log.stream_info("S").unwrap().state.messages, 0);
}

#[tokio::test]
async fn max_msgs_discard_old_and_new() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let mut old = stream("OLD", &["old"]);
    old.max_msgs = Some(3);
    log.create_stream(old).unwrap();
    for i in 1..=5 {
        put(&log, "old", &i.to_string()).await;
    }
    assert_eq!(payloads(&all(&log, "OLD")), ["3", "4", "5"]);
    assert_eq!(log.stream_info("OLD").unwrap().state.first_seq, 3);

    let mut new = stream("NEW", &["new"]);
    new.max_msgs = Some(2);
    new.discard = DiscardPolicy::New;
    log.create_stream(new).unwrap();
    put(&log, "new", "1").await;
    put(&log, "new", "2").await;
    let err = log
        .publish("new", b"3".to_vec(), PublishOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LogError::StreamFull {
                limit: "max_msgs",
                value: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        payloads(&all(&log, "NEW")),
        ["1", "2"],
        "refused publish stored nothing"
    );
}

#[tokio::test]
async fn per_subject_limit_keeps_newest_of_each_subject() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let mut c = stream("KV", &["kv.*"]);
    c.max_msgs_per_subject = Some(1);
    log.create_stream(c).unwrap();
    for (s, v) in [
        ("kv.a", "a1"),
        ("kv.b", "b1"),
        ("kv.a", "a2"),
        ("kv.a", "a3"),
        ("kv.b", "b2"),
    ] {
        put(&log, s, v).await;
    }
    assert_eq!(payloads(&all(&log, "KV")), ["a3", "b2"]);
    let info = log.stream_info("KV").unwrap();
    assert_eq!((info.state.messages, info.state.num_subjects), (2, 2));
    assert_eq!(log.last_message("KV", "kv.a").unwrap().payload, b"a3");
}

#[tokio::test]
async fn max_bytes_and_max_msg_size() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let mut c = stream("B", &["b"]);
    c.max_bytes = Some(30);
    c.max_msg_size = 20;
    log.create_stream(c).unwrap();
    for i in 0..10 {
        put(&log, "b", &format!("{i:09}")).await; // 1 + 9 = 10 bytes each
    }
    let info = log.stream_info("B").unwrap();
    assert_eq!((info.state.messages, info.state.bytes), (3, 30));
    let err = log
        .publish("b", vec![b'x'; 21], PublishOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LogError::MessageTooLarge {
                limit: "max_msg_size",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn dedup_within_window_returns_original_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let mut c = stream("D", &["d"]);
    c.duplicate_window = Duration::from_millis(300);
    log.create_stream(c).unwrap();
    let with_id = |id: &str| PublishOptions {
        msg_id: Some(id.into()),
        ..Default::default()
    };
    let first = log
        .publish("d", b"x".to_vec(), with_id("order-1"))
        .await
        .unwrap();
    let again = log
        .publish("d", b"x".to_vec(), with_id("order-1"))
        .await
        .unwrap();
    assert_eq!((again.seq, again.duplicate), (first.seq, true));
    assert_eq!(log.stream_info("D").unwrap().state.messages, 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(log.sweep().unwrap().expired_msg_ids, 1);
    let later = log
        .publish("d", b"x".to_vec(), with_id("order-1"))
        .await
        .unwrap();
    assert_eq!(
        (later.seq, later.duplicate),
        (Some(2), false),
        "after the window it is a new message"
    );
    let stored = log.get_message("D", 1).unwrap();
    assert_eq!(
        stored.headers.get("Nats-Msg-Id").map(String::as_str),
        Some("order-1")
    );
}

#[tokio::test]
async fn expected_sequences_are_optimistic_locks() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_stream(stream("E", &["e.*"])).unwrap();
    put(&log, "e.a", "1").await;
    put(&log, "e.b", "2").await;
    let expect_subject = |n| PublishOptions {
        expected_last_subject_seq: Some(n),
        ..Default::default()
    };
    let err = log
        .publish("e.a", vec![], expect_subject(2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LogError::WrongLastSubjectSequence { actual: 1, .. }),
        "{err}"
    );
    assert_eq!(
        log.publish("e.a", vec![], expect_subject(1))
            .await
            .unwrap()
            .seq,
        Some(3)
    );
    assert_eq!(
        log.publish("e.new", vec![], expect_subject(0))
            .await
            .unwrap()
            .seq,
        Some(4)
    );
    let err = log
        .publish(
            "e.a",
            vec![],
            PublishOptions {
                expected_last_seq: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LogError::WrongLastSequence {
                expected: 3,
                actual: 4
            }
        ),
        "{err}"
    );
    let err = log
        .publish(
            "e.a",
            vec![],
            PublishOptions {
                expected_stream: Some("OTHER".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LogError::WrongStream { .. }), "{err}");
}

#[tokio::test]
async fn concurrent_expected_subject_writes_have_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_stream(stream("C", &["claim.*"])).unwrap();
    put(&log, "claim.t1", "available").await;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let opts = PublishOptions {
                expected_last_subject_seq: Some(1),
                ..Default::default()
            };
            log.publish("claim.t1", format!("agent-{i}").into_bytes(), opts)
                .await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(LogError::WrongLastSubjectSequence { .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn reads_by_time_subject_and_last_per_subject() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_stream(stream("R", &["r.>"])).unwrap();
    for i in 0..6 {
        put(
            &log,
            if i % 2 == 0 { "r.even" } else { "r.odd" },
            &i.to_string(),
        )
        .await;
    }
    let mid = log.get_message("R", 4).unwrap().time_ns;
    let from_time = log
        .read_range(
            "R",
            &ReadRange {
                start_time_ns: Some(mid),
                limit: 100,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(from_time.first().map(|m| m.seq), Some(4));
    let odd = log
        .read_range(
            "R",
            &ReadRange {
                subject: Some("r.odd".into()),
                start_seq: Some(3),
                limit: 1,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(payloads(&odd), ["3"]);
    let wild = log
        .read_range(
            "R",
            &ReadRange {
                subject: Some("r.*".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(wild.len(), 6);
    let last = log.last_per_subject("R", None, 100).unwrap();
    assert_eq!(payloads(&last), ["4", "5"]);
    assert!(matches!(
        log.last_message("R", "r.none"),
        Err(LogError::NoMessageForSubject { .. })
    ));
}

#[tokio::test]
async fn delete_and_purge_keep_counters_right() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_stream(stream("P", &["p.*"])).unwrap();
    for i in 0..10 {
        put(&log, if i < 5 { "p.a" } else { "p.b" }, &i.to_string()).await;
    }
    log.delete_message("P", 1).await.unwrap();
    assert!(matches!(
        log.delete_message("P", 1).await,
        Err(LogError::MessageNotFound { .. })
    ));
    assert_eq!(log.stream_info("P").unwrap().state.first_seq, 2);
    assert_eq!(log.purge("P", Some("p.a"), Some(1)).await.unwrap(), 3);
    assert_eq!(payloads(&all(&log, "P")), ["4", "5", "6", "7", "8", "9"]);
    assert_eq!(log.purge("P", None, Some(2)).await.unwrap(), 4);
    let info = log.stream_info("P").unwrap();
    assert_eq!(
        (
            info.state.messages,
            info.state.first_seq,
            info.state.last_seq,
            info.state.num_subjects
        ),
        (2, 9, 10, 1)
    );
    assert_eq!(log.purge("P", None, None).await.unwrap(), 2);
    let info = log.stream_info("P").unwrap();
    assert_eq!(
        (info.state.messages, info.state.first_seq, info.state.bytes),
        (0, 11, 0)
    );
}

#[tokio::test]
async fn max_age_is_enforced_by_the_sweeper() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let mut c = stream("AGE", &["age"]);
    c.max_age = Some(Duration::from_millis(200));
    c.duplicate_window = Duration::from_millis(100);
    log.create_stream(c).unwrap();
    put(&log, "age", "old").await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    put(&log, "age", "new").await;
    assert_eq!(log.sweep().unwrap().expired_messages, 1);
    assert_eq!(payloads(&all(&log, "AGE")), ["new"]);
}

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

#[test]
fn a_data_dir_in_use_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path());
    let err = Log::open(dir.path(), LogOptions::default())
        .err()
        .expect("second open must fail");
    assert!(err.to_string().contains("in use"), "{err}");
}

#[derive(Debug, Clone)]
enum Op {
    Publish(u8, u8),
    Delete(u64),
    Purge(Option<u8>, Option<u64>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..4, 1u8..40).prop_map(|(s, n)| Op::Publish(s, n)),
        1 => (1u64..60).prop_map(Op::Delete),
        1 => (prop::option::of(0u8..4), prop::option::of(0u64..5)).prop_map(|(s, k)| Op::Purge(s, k)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Within the window, the first publish of an id gets a new sequence
    /// and every repeat gets that same sequence, marked duplicate, and
    /// stores nothing — whether repeats arrive one by one or concurrently.
    #[test]
    fn dedup_matches_a_model(ids in prop::collection::vec(prop::option::of(0u8..6), 1..40), concurrent in any::<bool>()) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let log = open(dir.path());
            log.create_stream(stream("DD", &["dd"])).unwrap();
            let publish = |id: Option<u8>| {
                let log = log.clone();
                async move {
                    let opts = PublishOptions { msg_id: id.map(|i| format!("id-{i}")), ..Default::default() };
                    log.publish("dd", vec![], opts).await.unwrap()
                }
            };
            let acks: Vec<PubAck> = if concurrent {
                let tasks: Vec<_> = ids.iter().map(|id| tokio::spawn(publish(*id))).collect();
                let mut out = Vec::new();
                for t in tasks { out.push(t.await.unwrap()); }
                out
            } else {
                let mut out = Vec::new();
                for id in &ids { out.push(publish(*id).await); }
                out
            };
            let mut first_seq: std::collections::HashMap<u8, u64> = Default::default();
            let mut stored = 0u64;
            for (id, ack) in ids.iter().zip(&acks) {
                let seq = ack.seq.unwrap();
                match id {
                    None => { prop_assert!(!ack.duplicate); stored += 1; }
                    Some(i) => match first_seq.get(i) {
                        // Concurrent publishes of one id: whichever was applied
                        // first owns the sequence; all others must match it.
                        Some(s) => prop_assert_eq!(*s, seq),
                        None => { first_seq.insert(*i, seq); stored += 1; }
                    },
                }
            }
            let originals = acks.iter().filter(|a| !a.duplicate).count() as u64;
            prop_assert_eq!(originals, stored);
            prop_assert_eq!(log.stream_info("DD").unwrap().state.messages, stored);
            Ok(())
        })?;
    }

    /// Against a simple in-memory model: whatever mix of publishes, deletes
    /// and purges under whatever limits, the stored messages are exactly
    /// the model's, and the stored counters agree with them (also after
    /// reopening).
    #[test]
    fn retention_matches_a_model(
        ops in prop::collection::vec(op(), 1..50),
        max_msgs in prop::option::of(1u64..12),
        max_bytes in prop::option::of(40u64..200),
        per_subject in prop::option::of(1u64..4),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let log = open(dir.path());
            let mut config = stream("M", &["m.*"]);
            config.max_msgs = max_msgs;
            config.max_bytes = max_bytes;
            config.max_msgs_per_subject = per_subject;
            log.create_stream(config).unwrap();
            // Model: (seq, subject, size) in order.
            let mut model: Vec<(u64, String, u64)> = Vec::new();
            let mut last_seq = 0;
            for op in ops {
                match op {
                    Op::Publish(s, n) => {
                        let subject = format!("m.s{s}");
                        let body = vec![b'x'; n as usize];
                        let size = subject.len() as u64 + n as u64;
                        let result = log.publish(&subject, body, PublishOptions::default()).await;
                        if max_bytes.is_some_and(|max| size > max) {
                            let refused = matches!(result, Err(LogError::MessageTooLarge { limit: "max_bytes", .. }));
                            prop_assert!(refused, "a message larger than max_bytes must be refused");
                            continue;
                        }
                        result.unwrap();
                        last_seq += 1;
                        if let Some(max) = per_subject {
                            let same: Vec<u64> = model.iter().filter(|m| m.1 == subject).map(|m| m.0).collect();
                            let excess = (same.len() as u64 + 1).saturating_sub(max) as usize;
                            model.retain(|m| !same[..excess].contains(&m.0));
                        }
                        if let Some(max) = max_msgs {
                            while model.len() as u64 >= max { model.remove(0); }
                        }
                        if let Some(max) = max_bytes {
                            while !model.is_empty() && model.iter().map(|m| m.2).sum::<u64>() + size > max { model.remove(0); }
                        }
                        model.push((last_seq, subject, size));
                    }
                    Op::Delete(seq) => {
                        let exists = model.iter().any(|m| m.0 == seq);
                        prop_assert_eq!(log.delete_message("M", seq).await.is_ok(), exists);
                        model.retain(|m| m.0 != seq);
                    }
                    Op::Purge(s, keep) => {
                        let subject = s.map(|s| format!("m.s{s}"));
                        log.purge("M", subject.as_deref(), keep).await.unwrap();
                        let keep = keep.unwrap_or(0) as usize;
                        let victims: Vec<u64> = model.iter()
                            .filter(|m| subject.as_ref().is_none_or(|s| &m.1 == s))
                            .map(|m| m.0).collect();
                        let cut = victims.len().saturating_sub(keep);
                        model.retain(|m| !victims[..cut].contains(&m.0));
                    }
                }
            }
            check_against_model(&log, &model, last_seq)?;
            log.close().unwrap();
            drop(log);
            check_against_model(&open(dir.path()), &model, last_seq)?;
            Ok(())
        })?;
    }
}

fn check_against_model(
    log: &Log,
    model: &[(u64, String, u64)],
    last_seq: u64,
) -> Result<(), TestCaseError> {
    let seqs: Vec<u64> = all(log, "M").iter().map(|m| m.seq).collect();
    prop_assert_eq!(seqs, model.iter().map(|m| m.0).collect::<Vec<_>>());
    let info = log.stream_info("M").unwrap();
    prop_assert_eq!(info.state.messages, model.len() as u64);
    prop_assert_eq!(info.state.bytes, model.iter().map(|m| m.2).sum::<u64>());
    prop_assert_eq!(info.state.last_seq, last_seq);
    prop_assert_eq!(
        info.state.first_seq,
        model.first().map_or(last_seq + 1, |m| m.0)
    );
    let subjects: std::collections::HashSet<&String> = model.iter().map(|m| &m.1).collect();
    prop_assert_eq!(info.state.num_subjects, subjects.len() as u64);
    Ok(())
}
