//! Consumers and time: an ack wakes a fetch that waits for room at once,
//! and the batch forms of ack (a list, everything up to a sequence).

use std::time::Duration;

use crate::log::{open_for_test, AckKind, ConsumerConfig, Log, PublishOptions, StreamConfig};

async fn with_messages(log: &Log, n: usize, max_ack_pending: u64) {
    log.create_stream(StreamConfig::new("Q", &["q.>"])).unwrap();
    for i in 0..n {
        log.publish("q.x", i.to_string().into_bytes(), PublishOptions::default())
            .await
            .unwrap();
    }
    let config = ConsumerConfig {
        durable_name: Some("c".into()),
        max_ack_pending,
        ..Default::default()
    };
    log.create_consumer("Q", config).unwrap();
}

/// A fetch blocked by max_ack_pending returns as soon as an ack makes
/// room, not when its own wait (a minute here) runs out.
#[tokio::test]
async fn an_ack_wakes_a_fetch_waiting_for_room() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_for_test(dir.path());
    with_messages(&log, 3, 1).await;
    let first = log.fetch("Q", "c", 10, Duration::ZERO).await.unwrap();
    assert_eq!(first.len(), 1, "max_ack_pending 1");
    let waiting = {
        let log = log.clone();
        tokio::spawn(async move { log.fetch("Q", "c", 10, Duration::from_secs(60)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiting.is_finished(),
        "nothing may be delivered before the ack"
    );
    log.ack("Q", "c", first[0].message.seq, AckKind::Ack, None)
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the ack woke the fetch")
        .unwrap()
        .unwrap();
    assert_eq!(next[0].message.seq, 2);
}

#[tokio::test]
async fn acks_in_batches_and_up_to_a_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_for_test(dir.path());
    with_messages(&log, 10, 100).await;
    let got = log.fetch("Q", "c", 10, Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 10);
    let outcome = log
        .ack_many("Q", "c", &[1, 2, 3, 42], AckKind::Ack, None)
        .unwrap();
    assert_eq!(outcome.done, [1, 2, 3]);
    assert_eq!(outcome.not_pending, [42]);
    // Acking the same ones again: nothing pending any more.
    let again = log.ack_many("Q", "c", &[1, 2], AckKind::Ack, None).unwrap();
    assert_eq!((again.done.len(), again.not_pending.len()), (0, 2));
    assert_eq!(log.ack_up_to("Q", "c", 7).unwrap(), 4);
    let info = log.consumer_info("Q", "c").unwrap();
    assert_eq!((info.ack_floor.stream_seq, info.num_ack_pending), (7, 3));
    // A nak in a batch makes them due again at once.
    let naked = log.ack_many("Q", "c", &[8, 9], AckKind::Nak, None).unwrap();
    assert_eq!(naked.done, [8, 9]);
    let redelivered = log.fetch("Q", "c", 10, Duration::ZERO).await.unwrap();
    let seqs: Vec<u64> = redelivered.iter().map(|d| d.message.seq).collect();
    assert_eq!(seqs, [8, 9]);
    assert!(redelivered.iter().all(|d| d.delivered == 2));
}
