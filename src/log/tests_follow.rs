//! A publish with a follower (`Log::publish_then`): the follower is stored
//! only if the publish is, both become durable in one flush, the hook runs
//! between the publish's commit and the follower's visibility, and under
//! concurrency the followers keep their publishes' order.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::tests::{all, open, payloads, put, stream};
use super::*;

fn expecting(seq: u64) -> PublishOptions {
    PublishOptions {
        expected_last_subject_seq: Some(seq),
        ..Default::default()
    }
}

fn plain(subject: &str, body: &str) -> (String, Vec<u8>, PublishOptions) {
    (
        subject.into(),
        body.as_bytes().to_vec(),
        PublishOptions::default(),
    )
}

async fn pair(
    log: &Log,
    first: (String, Vec<u8>, PublishOptions),
    then: (String, Vec<u8>, PublishOptions),
) -> Result<(PubAck, Result<PubAck>)> {
    log.publish_then(
        (&first.0, first.1, first.2),
        (&then.0, then.1, then.2),
        None,
        Box::new(|_| {}),
    )
    .await
}

#[tokio::test]
async fn a_publish_and_its_follower_are_stored_with_one_flush() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_stream(stream("STATE", &["state.>"])).unwrap();
    log.create_stream(stream("COPIES", &["copies"])).unwrap();
    let before = log.commit_stats().flushes.load(Ordering::SeqCst);
    let (ack, copied) = pair(
        &log,
        ("state.t1".into(), b"v1".to_vec(), expecting(0)),
        plain("copies", "t1 is v1"),
    )
    .await
    .unwrap();
    let copied = copied.unwrap();
    assert_eq!((ack.stream.as_deref(), ack.seq), (Some("STATE"), Some(1)));
    assert_eq!(
        (copied.stream.as_deref(), copied.seq),
        (Some("COPIES"), Some(1))
    );
    let flushes = log.commit_stats().flushes.load(Ordering::SeqCst) - before;
    assert_eq!(
        flushes, 1,
        "the publish and its follower took {flushes} flushes"
    );
    assert_eq!(payloads(&all(&log, "COPIES")), ["t1 is v1"]);
}

#[tokio::test]
async fn a_refused_or_duplicate_publish_stores_no_follower() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_stream(stream("STATE", &["state.>"])).unwrap();
    log.create_stream(stream("COPIES", &["copies"])).unwrap();
    put(&log, "state.t1", "v1").await;
    // The subject's last sequence is 1, not 0: refused, and so its copy.
    let refused = pair(
        &log,
        ("state.t1".into(), b"v2".to_vec(), expecting(0)),
        plain("copies", "t1 is v2"),
    )
    .await;
    assert!(
        matches!(
            refused,
            Err(LogError::WrongLastSubjectSequence { actual: 1, .. })
        ),
        "{refused:?}"
    );
    // A duplicate: its original was published without this follower.
    let id = PublishOptions {
        msg_id: Some("once".into()),
        ..Default::default()
    };
    log.publish("state.t2", b"a".to_vec(), id.clone())
        .await
        .unwrap();
    let (ack, copied) = pair(
        &log,
        ("state.t2".into(), b"a".to_vec(), id),
        plain("copies", "t2 again"),
    )
    .await
    .unwrap();
    assert!(ack.duplicate);
    assert!(matches!(copied, Err(LogError::NotFollowed)), "{copied:?}");
    assert!(all(&log, "COPIES").is_empty());
    // The log goes on: the next pair is stored whole.
    let (_, copied) = pair(
        &log,
        ("state.t1".into(), b"v2".to_vec(), expecting(1)),
        plain("copies", "t1 is v2"),
    )
    .await
    .unwrap();
    assert_eq!(copied.unwrap().seq, Some(1));
}

#[tokio::test]
async fn a_follower_no_stream_stores_goes_live_after_the_publish() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_stream(stream("STATE", &["state.>"])).unwrap();
    let mut sub = log.subscribe(">").unwrap();
    let (ack, copied) = pair(&log, plain("state.t1", "v1"), plain("live.copy", "c"))
        .await
        .unwrap();
    assert_eq!(ack.seq, Some(1));
    assert_eq!(copied.unwrap().seq, None);
    let order: Vec<String> = vec![sub.recv().await.unwrap(), sub.recv().await.unwrap()]
        .into_iter()
        .map(|m| m.subject.clone())
        .collect();
    assert_eq!(order, ["state.t1", "live.copy"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_concurrency_followers_keep_their_publishes_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_stream(stream("STATE", &["state.>"])).unwrap();
    log.create_stream(stream("COPIES", &["copies"])).unwrap();
    // 8 writers each change one shared record 25 times, each change
    // expecting the last and copied to one subject.
    let jobs: Vec<_> = (0..8)
        .map(|w| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut done = 0;
                while done < 25 {
                    let last = match log.last_message("STATE", "state.shared") {
                        Ok(m) => m.seq,
                        Err(LogError::NoMessageForSubject { .. }) => 0,
                        Err(e) => panic!("{e}"),
                    };
                    let body = format!("w{w}-{done}");
                    match pair(
                        &log,
                        (
                            "state.shared".into(),
                            body.clone().into_bytes(),
                            expecting(last),
                        ),
                        plain("copies", &body),
                    )
                    .await
                    {
                        Ok((_, copied)) => {
                            copied.unwrap();
                            done += 1;
                        }
                        Err(LogError::WrongLastSubjectSequence { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    for j in jobs {
        j.await.unwrap();
    }
    let records = payloads(&all(&log, "STATE"));
    assert_eq!(records.len(), 200);
    assert_eq!(payloads(&all(&log, "COPIES")), records);
}

/// What the hook saw when it ran: the sequence it was given, and whether
/// the follower had reached a subscriber yet.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(u64, bool)>>>;

fn watching_hook(log: &Log, subject: &str, seen: &Seen) -> Hook {
    let mut sub = log.subscribe(subject).unwrap();
    let seen = seen.clone();
    Box::new(move |seq| {
        let follower_visible = sub.try_recv().is_some();
        seen.lock().unwrap().push((seq, follower_visible));
    })
}

#[tokio::test]
async fn the_hook_runs_after_the_commit_and_before_the_follower_is_seen() {
    for sync in [
        SyncPolicy::Always,
        SyncPolicy::Interval(Duration::from_millis(50)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(
            dir.path(),
            LogOptions {
                sync,
                cache_bytes: 8 << 20,
                ..Default::default()
            },
        )
        .unwrap();
        log.create_stream(stream("STATE", &["state.>"])).unwrap();
        log.create_stream(stream("COPIES", &["copies"])).unwrap();
        let seen = Seen::default();
        let mut copies = log.subscribe("copies").unwrap();
        let (ack, copied) = log
            .publish_then(
                ("state.t1", b"v1".to_vec(), expecting(0)),
                ("copies", b"c1".to_vec(), PublishOptions::default()),
                None,
                watching_hook(&log, "copies", &seen),
            )
            .await
            .unwrap();
        assert_eq!(copied.unwrap().seq, Some(1));
        assert_eq!(
            *seen.lock().unwrap(),
            [(ack.seq.unwrap(), false)],
            "{sync:?}"
        );
        assert_eq!(copies.recv().await.unwrap().payload, b"c1");
        // Refused: no hook, no follower.
        let refused = log
            .publish_then(
                ("state.t1", b"v2".to_vec(), expecting(0)),
                ("copies", b"c2".to_vec(), PublishOptions::default()),
                None,
                watching_hook(&log, "copies", &seen),
            )
            .await;
        assert!(refused.is_err());
        assert_eq!(seen.lock().unwrap().len(), 1, "{sync:?}");
        // A follower no stream stores goes live after the hook too.
        let (ack, copied) = log
            .publish_then(
                ("state.t2", b"v1".to_vec(), PublishOptions::default()),
                ("live.copy", b"c".to_vec(), PublishOptions::default()),
                None,
                watching_hook(&log, "live.copy", &seen),
            )
            .await
            .unwrap();
        assert_eq!(copied.unwrap().seq, None);
        assert_eq!(
            seen.lock().unwrap()[1],
            (ack.seq.unwrap(), false),
            "{sync:?}"
        );
        log.close().unwrap();
    }
}

#[tokio::test]
async fn a_panicking_hook_leaves_the_log_writing() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_stream(stream("STATE", &["state.>"])).unwrap();
    log.create_stream(stream("COPIES", &["copies"])).unwrap();
    let (_, copied) = log
        .publish_then(
            ("state.t1", b"v1".to_vec(), PublishOptions::default()),
            ("copies", b"c1".to_vec(), PublishOptions::default()),
            None,
            Box::new(|_| panic!("a bug in the publisher's hook")),
        )
        .await
        .unwrap();
    assert_eq!(copied.unwrap().seq, Some(1));
    // The commit thread is still there for everyone else.
    assert_eq!(put(&log, "state.t2", "v1").await.seq, Some(2));
    let (_, copied) = pair(&log, plain("state.t3", "v1"), plain("copies", "c2"))
        .await
        .unwrap();
    assert_eq!(copied.unwrap().seq, Some(2));
}
