//! Version 2: a durable consumer's pending acks are kept in chunks.
//!
//! In every stream tree, format 1's `P` consumer 0x00 seq → pending entry
//! keys become `B` consumer 0x00 chunk id → `Vec<(seq, pending entry)>`
//! (bincode), at most `CHUNK` entries each, numbered from 0 per consumer
//! in sequence order (src/log/consumer/chunks.rs). One tree is converted
//! in one atomic batch, so a step cut short by a crash leaves each tree
//! either converted or not, and runs again from the start.

use std::collections::BTreeMap;

use crate::log::consumer::{encode_chunk, Pending, CHUNK};
use crate::log::store::{decode, keys};

pub fn up(db: &sled::Db) -> sled::Result<()> {
    for name in db.tree_names() {
        if !name.starts_with(b"stream/") {
            continue;
        }
        let tree = db.open_tree(&name)?;
        let mut batch = sled::Batch::default();
        let mut by_consumer: BTreeMap<Vec<u8>, Vec<(u64, Pending)>> = BTreeMap::new();
        for item in tree.scan_prefix([keys::PENDING]) {
            let (k, v) = item?;
            let split = k.len().checked_sub(9).filter(|&i| i >= 1 && k[i] == 0);
            let (Some(i), Some(seq)) = (split, keys::trailing_seq(&k)) else {
                return Err(corrupt("pending key"));
            };
            let pending: Pending = decode(&v).map_err(|_| corrupt("pending entry"))?;
            by_consumer
                .entry(k[1..i].to_vec())
                .or_default()
                .push((seq, pending));
            batch.remove(k);
        }
        for (consumer, entries) in by_consumer {
            let consumer = String::from_utf8(consumer).map_err(|_| corrupt("consumer name"))?;
            // Keys came in sequence order.
            for (id, chunk) in entries.chunks(CHUNK).enumerate() {
                let value = encode_chunk(chunk).map_err(|_| corrupt("pending entry"))?;
                batch.insert(keys::pending_chunk(&consumer, id as u64), value);
            }
        }
        tree.apply_batch(batch)?;
    }
    Ok(())
}

fn corrupt(what: &str) -> sled::Error {
    sled::Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("upgrading to format 2: a {what} of format 1 could not be read"),
    ))
}
