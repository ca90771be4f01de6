//! The log under concurrent writers of different kinds: stream config
//! changes are serialized (two overlapping creates cannot both pass the
//! overlap check), and purges, deletes and sweeps running beside
//! publishes leave counters that match the messages stored.

use std::sync::Arc;
use std::time::Duration;

use super::*;

#[test]
fn overlapping_stream_creates_at_the_same_time_cannot_both_succeed() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let log = open_for_test(dir.path());
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (log, barrier) = (log.clone(), barrier.clone());
                std::thread::spawn(move || {
                    // All capture orders.eu: every pair overlaps.
                    let subjects: &[&str] = match i % 3 {
                        0 => &["orders.>"],
                        1 => &["orders.eu"],
                        _ => &["orders.*"],
                    };
                    barrier.wait();
                    log.create_stream(StreamConfig::new(format!("S{i}"), subjects))
                        .is_ok()
                })
            })
            .collect();
        let won = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(won, 1, "round {round}: {:?}", log.stream_names());
        assert_eq!(log.stream_names().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purges_and_deletes_beside_publishes_keep_counters_true() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_for_test(dir.path());
    log.create_stream(StreamConfig::new("C", &["c.*"])).unwrap();
    let publishers: Vec<_> = (0..4)
        .map(|p| {
            let log = log.clone();
            tokio::spawn(async move {
                for i in 0..400 {
                    let subject = format!("c.{}", (p + i) % 5);
                    log.publish(&subject, vec![b'x'; 10 + i % 50], PublishOptions::default())
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let cleaner = {
        let log = log.clone();
        tokio::spawn(async move {
            for round in 0..60u64 {
                match round % 3 {
                    0 => {
                        log.purge("C", Some("c.1"), Some(2)).await.unwrap();
                    }
                    1 => {
                        let last = log.stream_info("C").unwrap().state.last_seq;
                        // Gone already or not yet stored: both fine.
                        let _ = log.delete_message("C", last.saturating_sub(3)).await;
                    }
                    _ => {
                        log.purge("C", None, Some(300)).await.unwrap();
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    for p in publishers {
        p.await.unwrap();
    }
    cleaner.await.unwrap();
    log.sweep().unwrap();

    let info = log.stream_info("C").unwrap().state;
    let mut stored = Vec::new();
    let mut next = 1;
    loop {
        let page = log
            .read_range(
                "C",
                &ReadRange {
                    start_seq: Some(next),
                    limit: 1_000,
                    ..Default::default()
                },
            )
            .unwrap();
        let Some(last) = page.last() else { break };
        next = last.seq + 1;
        stored.extend(page);
    }
    assert_eq!(info.last_seq, 1_600, "every publish got a sequence");
    assert_eq!(info.messages, stored.len() as u64);
    let bytes: usize = stored
        .iter()
        .map(|m| m.subject.len() + message::headers_len(&m.headers) + m.payload.len())
        .sum();
    assert_eq!(info.bytes, bytes as u64);
    assert_eq!(
        info.first_seq,
        stored.first().map_or(info.last_seq + 1, |m| m.seq)
    );
    let subjects: std::collections::BTreeSet<&str> =
        stored.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(info.num_subjects, subjects.len() as u64);
    // Per subject counts agree with the messages (last_per_subject reads
    // the subject index, which purge and delete maintain too).
    let heads = log.last_per_subject("C", None, usize::MAX).unwrap();
    assert_eq!(heads.len(), subjects.len());
    for h in heads {
        let newest = stored
            .iter()
            .rev()
            .find(|m| m.subject == h.subject)
            .unwrap();
        assert_eq!(h.seq, newest.seq);
    }
    // And the same after a reopen, from what is on disk.
    log.close().unwrap();
    drop(log);
    let log = open_for_test(dir.path());
    let again = log.stream_info("C").unwrap().state;
    assert_eq!(
        (again.messages, again.bytes, again.first_seq),
        (info.messages, info.bytes, info.first_seq)
    );
}

/// A reader paging on through a wildcard filter (next page from the last
/// sequence + 1, as a replay does) while publishers keep writing: every
/// message once, in order. Reads merge several subjects' indexes, which
/// sled does not read as one snapshot; without the committed bound a page
/// could hold a message while one just before it was missed for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paging_a_wildcard_while_publishing_skips_nothing() {
    const PUBLISHERS: u64 = 4;
    const EACH: u64 = 1_500;
    let dir = tempfile::tempdir().unwrap();
    let log = open_for_test(dir.path());
    log.create_stream(StreamConfig::new("P", &["p.>"])).unwrap();
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let log = log.clone();
            tokio::spawn(async move {
                for chunk in 0..EACH / 50 {
                    let pending: Vec<_> = (0..50)
                        .map(|i| {
                            let subject = format!("p.{}", (p + chunk + i) % 7);
                            log.publish_pipelined(
                                &subject,
                                vec![b'x'; 16],
                                PublishOptions::default(),
                            )
                        })
                        .collect();
                    for w in pending {
                        w.wait().await.unwrap();
                    }
                }
            })
        })
        .collect();
    let total = PUBLISHERS * EACH;
    let mut next = 1;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while next <= total {
        assert!(std::time::Instant::now() < deadline, "stuck at {next}");
        let range = ReadRange {
            start_seq: Some(next),
            subject: Some("p.>".into()),
            limit: 64,
            ..Default::default()
        };
        let page = log.read_range("P", &range).unwrap();
        for m in &page {
            assert_eq!(m.seq, next, "a page skipped a message");
            next += 1;
        }
        if page.is_empty() {
            tokio::task::yield_now().await;
        }
    }
    for p in publishers {
        p.await.unwrap();
    }
}
