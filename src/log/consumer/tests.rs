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

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// A consumer filtered on literal subjects (read through the subject
    /// index) and one whose filters match the same subjects through a
    /// wildcard (read by scanning) deliver the same messages: every message
    /// on those subjects, in order, once, whatever the batch sizes, the
    /// ack-pending limit and the deletes.
    #[test]
    fn literal_filters_deliver_what_a_scan_delivers(
        subjects in proptest::collection::vec(0usize..4, 1..80),
        batches in proptest::collection::vec(1usize..7, 1..40),
        deleted in proptest::collection::vec(1u64..80, 0..5),
        max_ack_pending in 1u64..6,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let log = open_for_test(dir.path());
            log.create_stream(StreamConfig::new("Q", &["q.>"])).unwrap();
            let names = ["q.a", "q.b", "q.c.x", "q.d"];
            for (i, s) in subjects.iter().enumerate() {
                log.publish(names[*s], i.to_string().into_bytes(), PublishOptions::default()).await.unwrap();
            }
            for seq in &deleted {
                let _ = log.delete_message("Q", *seq).await;
            }
            let make = |name: &str, filters: &[&str]| ConsumerConfig {
                durable_name: Some(name.into()),
                filter_subjects: filters.iter().map(|f| f.to_string()).collect(),
                max_ack_pending,
                ..Default::default()
            };
            log.create_consumer("Q", make("lit", &["q.a", "q.c.x"])).unwrap();
            log.create_consumer("Q", make("wild", &["q.a", "q.c.*"])).unwrap();
            let mut got = std::collections::HashMap::new();
            for name in ["lit", "wild"] {
                let mut seqs = Vec::new();
                let mut i = 0;
                loop {
                    let batch = batches[i % batches.len()];
                    i += 1;
                    let d = log.fetch("Q", name, batch, Duration::ZERO).await.unwrap();
                    if d.is_empty() {
                        break;
                    }
                    assert!(d.len() <= batch && d.len() as u64 <= max_ack_pending);
                    for m in d {
                        seqs.push(m.message.seq);
                        log.ack("Q", name, m.message.seq, AckKind::Ack, None).unwrap();
                    }
                }
                got.insert(name, seqs);
            }
            let want: Vec<u64> = subjects
                .iter()
                .enumerate()
                .map(|(i, s)| (i as u64 + 1, *s))
                .filter(|(seq, s)| (*s == 0 || *s == 2) && !deleted.contains(seq))
                .map(|(seq, _)| seq)
                .collect();
            assert_eq!(got["lit"], want);
            assert_eq!(got["wild"], want);
        });
    }
}

/// A store written by format 1 (a key per pending ack) opens with its
/// consumers' pending acks intact, now kept in chunks.
#[tokio::test]
async fn format_1_pending_acks_are_upgraded_to_chunks() {
    use super::Pending;
    use crate::log::store::{decode, encode, keys};
    let dir = tempfile::tempdir().unwrap();
    let log = open_for_test(dir.path());
    with_messages(&log, 300, 1000).await;
    let got = log.fetch("Q", "c", 250, Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 250);
    log.ack("Q", "c", 3, AckKind::Ack, None).unwrap();
    let before = log.consumer_info("Q", "c").unwrap();
    assert_eq!(before.num_ack_pending, 249);
    log.close().unwrap();
    drop(log);

    // Write those acks back as format 1 kept them.
    let db = loop {
        match sled::Config::new().path(dir.path().join("sled")).open() {
            Ok(db) => break db,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let tree = db.open_tree("stream/Q").unwrap();
    let mut batch = sled::Batch::default();
    let mut count = 0;
    for item in tree.scan_prefix(keys::pending_chunk_prefix("c")) {
        let (k, v) = item.unwrap();
        batch.remove(k);
        let entries: Vec<(u64, Pending)> = decode(&v).unwrap();
        for (seq, p) in entries {
            let mut key = vec![keys::PENDING];
            key.extend_from_slice(b"c\0");
            key.extend_from_slice(&seq.to_be_bytes());
            batch.insert(key, encode(&p).unwrap());
            count += 1;
        }
    }
    assert_eq!(count, 249);
    tree.apply_batch(batch).unwrap();
    db.open_tree("meta")
        .unwrap()
        .insert("format_version", &1u32.to_be_bytes())
        .unwrap();
    db.flush().unwrap();
    drop((tree, db));
    tokio::time::sleep(Duration::from_millis(100)).await;

    let log = open_for_test(dir.path());
    let after = log.consumer_info("Q", "c").unwrap();
    assert_eq!(
        (after.num_ack_pending, after.delivered, after.ack_floor),
        (before.num_ack_pending, before.delivered, before.ack_floor)
    );
    // The 249 sit in two chunks (128 + 121), and no format 1 key is left.
    let (tree, chunks) = {
        let handle = log.stream("Q").unwrap();
        let tree = handle.tree.clone();
        let n = tree.scan_prefix(keys::pending_chunk_prefix("c")).count();
        (tree, n)
    };
    assert_eq!(chunks, 2);
    assert_eq!(tree.scan_prefix([keys::PENDING]).count(), 0);
    // They are still pending: acked, they are gone; the rest comes next.
    for seq in [1, 2, 4, 250] {
        log.ack("Q", "c", seq, AckKind::Ack, None).unwrap();
    }
    assert!(log.ack("Q", "c", 3, AckKind::Ack, None).is_err());
    let rest = log.fetch("Q", "c", 100, Duration::ZERO).await.unwrap();
    assert_eq!(rest.first().map(|d| d.message.seq), Some(251));
    assert_eq!(
        log.consumer_info("Q", "c").unwrap().num_ack_pending,
        245 + 50
    );
}
