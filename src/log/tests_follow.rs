//! A publish with a follower (`Log::publish_then`): the follower is stored
//! only if the publish is, both become durable in one flush, and under
//! concurrency the followers keep their publishes' order.

use std::sync::atomic::Ordering;

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
