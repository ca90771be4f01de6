//! Format 3 (messages in blocks) against the store it replaces: a format 2
//! store opens with every message, header and gap intact, and the blocks
//! a removal rewrites keep what it did not remove.

use std::time::Duration;

use super::blocks::Block;
use super::store::keys;
use super::tests::{all, open, stream};
use super::*;

async fn reopen_raw(dir: &std::path::Path) -> sled::Db {
    loop {
        match sled::Config::new().path(dir.join("sled")).open() {
            Ok(db) => break db,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[tokio::test]
async fn a_format_2_store_opens_with_its_messages_in_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_stream(stream("F", &["f.>"])).unwrap();
    // Pipelined, so that they are stored in groups (blocks of several).
    let pending: Vec<_> = (0..5000)
        .map(|i| {
            let opts = PublishOptions {
                headers: [("n".to_string(), i.to_string())].into(),
                ..Default::default()
            };
            log.publish_pipelined(&format!("f.{}", i % 7), format!("m{i}").into_bytes(), opts)
        })
        .collect();
    for p in pending {
        p.wait().await.unwrap();
    }
    for seq in [1, 2, 100, 2500, 4999] {
        log.delete_message("F", seq).await.unwrap();
    }
    let before = all(&log, "F");
    let info_before = log.stream_info("F").unwrap().state;
    assert_eq!(before.len(), 4995);
    log.close().unwrap();
    drop(log);

    // Write the messages back as format 2 kept them: a key each.
    let db = reopen_raw(dir.path()).await;
    let tree = db.open_tree("stream/F").unwrap();
    let mut batch = sled::Batch::default();
    let (mut blocks, mut messages) = (0, 0);
    for item in tree.scan_prefix([keys::BLOCK]) {
        let (k, v) = item.unwrap();
        let block = Block::parse(&k, v).unwrap();
        for i in 0..block.len() {
            let mut key = vec![keys::MSG];
            key.extend_from_slice(&block.seq(i).to_be_bytes());
            batch.insert(key, block.body(i));
            messages += 1;
        }
        batch.remove(k);
        blocks += 1;
    }
    assert_eq!(messages, 4995);
    assert!(
        blocks < 4995 / 4,
        "{blocks} blocks: the messages were not grouped"
    );
    tree.apply_batch(batch).unwrap();
    db.open_tree("meta")
        .unwrap()
        .insert("format_version", &2u32.to_be_bytes())
        .unwrap();
    db.flush().unwrap();
    drop((tree, db));
    tokio::time::sleep(Duration::from_millis(100)).await;

    let log = open(dir.path());
    assert_eq!(all(&log, "F"), before);
    assert_eq!(log.stream_info("F").unwrap().state, info_before);
    assert_eq!(log.get_message("F", 3).unwrap().payload, b"m2");
    assert!(log.get_message("F", 2500).is_err());
    assert_eq!(
        log.last_message("F", "f.3").unwrap().seq,
        before
            .iter()
            .rev()
            .find(|m| m.subject == "f.3")
            .unwrap()
            .seq
    );
    let tree = log.stream("F").unwrap().tree.clone();
    assert_eq!(tree.scan_prefix([keys::MSG]).count(), 0);
    let converted = tree.scan_prefix([keys::BLOCK]).count();
    assert!(
        converted < 4995 / 32,
        "{converted} blocks after the upgrade"
    );
    // Still a store that takes writes and removals.
    log.publish("f.x", b"new".to_vec(), Default::default())
        .await
        .unwrap();
    log.purge("F", None, Some(10)).await.unwrap();
    let left = all(&log, "F");
    assert_eq!(left.len(), 10);
    assert_eq!(left.last().unwrap().payload, b"new");
    assert_eq!(left[0].seq, 4991);
}

/// Removing from the middle of blocks keeps their other messages, across
/// a restart.
#[tokio::test]
async fn removals_inside_a_block_keep_the_rest_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.create_stream(stream("R", &["r.*"])).unwrap();
    let pending: Vec<_> = (0..200)
        .map(|i| log.publish_pipelined(&format!("r.{}", i % 3), vec![i as u8], Default::default()))
        .collect();
    for p in pending {
        p.wait().await.unwrap();
    }
    for seq in (5..200).step_by(5) {
        log.delete_message("R", seq).await.unwrap();
    }
    log.purge("R", Some("r.1"), None).await.unwrap();
    let want: Vec<u64> = (1..=200u64)
        .filter(|s| s % 5 != 0 && (s - 1) % 3 != 1)
        .collect();
    let seqs = |log: &Log| all(log, "R").iter().map(|m| m.seq).collect::<Vec<_>>();
    assert_eq!(seqs(&log), want);
    for m in all(&log, "R") {
        assert_eq!(m.payload, vec![(m.seq - 1) as u8]);
    }
    log.close().unwrap();
    drop(log);
    let log = open(dir.path());
    assert_eq!(seqs(&log), want);
    assert_eq!(
        log.stream_info("R").unwrap().state.messages,
        want.len() as u64
    );
}
