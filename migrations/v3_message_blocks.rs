//! Version 3: messages are kept in blocks.
//!
//! In every stream tree, format 2's `m` seq → message keys become `b`
//! first seq → block values (src/log/blocks.rs) of up to the block limits,
//! each holding the same encoded messages in sequence order. A block
//! only ever holds a run of what were consecutive keys, and each batch
//! removes the keys it packs, so a step cut short by a crash leaves whole
//! blocks and whole keys, and running it again packs the keys left.

use crate::log::blocks::pack;
use crate::log::store::keys;

/// Messages converted per atomic batch: a store of millions is not held
/// in memory at once.
const PER_BATCH: usize = 4096;

pub fn up(db: &sled::Db) -> sled::Result<()> {
    for name in db.tree_names() {
        if !name.starts_with(b"stream/") {
            continue;
        }
        let tree = db.open_tree(&name)?;
        loop {
            let mut run = Vec::with_capacity(PER_BATCH);
            for item in tree.scan_prefix([keys::MSG]).take(PER_BATCH) {
                let (k, v) = item?;
                let seq = keys::trailing_seq(&k)
                    .filter(|_| k.len() == 9)
                    .ok_or_else(|| corrupt("message key"))?;
                run.push((seq, v.to_vec()));
            }
            if run.is_empty() {
                break;
            }
            let mut batch = sled::Batch::default();
            for (seq, _) in &run {
                batch.remove(&msg_key(*seq));
            }
            for (first, value) in pack(&run).map_err(|_| corrupt("message"))? {
                batch.insert(&keys::block(first), value);
            }
            tree.apply_batch(batch)?;
        }
    }
    Ok(())
}

fn msg_key(seq: u64) -> [u8; 9] {
    let mut k = [keys::MSG; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn corrupt(what: &str) -> sled::Error {
    sled::Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("upgrading to format 3: a {what} of format 2 could not be read"),
    ))
}
