//! Engine tests: the log used as a library, with real sled stores in
//! temporary directories.

use std::time::Duration;

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

#[test]
fn a_data_dir_in_use_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path());
    let err = Log::open(dir.path(), LogOptions::default())
        .err()
        .expect("second open must fail");
    assert!(err.to_string().contains("in use"), "{err}");
}
