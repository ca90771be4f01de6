//! Property tests of the log against models: deduplication within the
//! window (serial and concurrent repeats) and retention (limits, deletes,
//! purges) against a plain list of what should be kept.

use proptest::prelude::*;

use super::tests::{all, open, stream};
use super::*;

#[derive(Debug, Clone)]
enum Op {
    Publish(u8, u8),
    /// Publishes handed to the writer together, so that they tend to be
    /// applied as one group (one block, one change).
    Burst(Vec<(u8, u8)>),
    Delete(u64),
    Purge(Option<u8>, Option<u64>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..4, 1u8..40).prop_map(|(s, n)| Op::Publish(s, n)),
        2 => prop::collection::vec((0u8..4, 1u8..40), 2..12).prop_map(Op::Burst),
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
                let burst = match op {
                    Op::Publish(s, n) => vec![(s, n)],
                    Op::Burst(b) => b,
                    Op::Delete(seq) => {
                        let exists = model.iter().any(|m| m.0 == seq);
                        prop_assert_eq!(log.delete_message("M", seq).await.is_ok(), exists);
                        model.retain(|m| m.0 != seq);
                        continue;
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
                        continue;
                    }
                };
                let pending: Vec<_> = burst.iter().map(|(s, n)| {
                    log.publish_pipelined(&format!("m.s{s}"), vec![b'x'; *n as usize], PublishOptions::default())
                }).collect();
                let mut results = Vec::new();
                for p in pending {
                    results.push(p.wait().await);
                }
                for ((s, n), result) in burst.into_iter().zip(results) {
                        let subject = format!("m.s{s}");
                        let size = subject.len() as u64 + n as u64;
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
