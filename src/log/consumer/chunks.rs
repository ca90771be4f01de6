//! How a durable consumer's pending acks are stored: in chunks, one sled
//! value per group of deliveries made together (at most `CHUNK` each), so
//! a fetch of 100 writes one value and acking those 100 removes one,
//! instead of a key per message each way. Those keys were half of what a
//! fetch + ack cost (`hivelog bench --workload fetch-ack`).
//!
//! A chunk is rewritten whole when one of its entries changes (an ack, a
//! redelivery), from the consumer's pending map; `CHUNK` bounds that
//! rewrite. Key: `B` consumer 0x00 chunk id (u64, big endian); value: the
//! bincode of `Vec<(seq, Pending)>` (see migrations/v2_pending_chunks.rs).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::acks::Pending;
use crate::log::error::{LogError, Result};
use crate::log::store::{decode, encode, keys};

/// The most entries in one chunk.
pub(crate) const CHUNK: usize = 128;

/// Which chunk holds each stored pending entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chunks {
    members: BTreeMap<u64, BTreeSet<u64>>,
    of: HashMap<u64, u64>,
    next: u64,
}

pub(crate) fn encode_chunk(entries: &[(u64, Pending)]) -> Result<Vec<u8>> {
    encode(&entries)
}

impl Chunks {
    /// Reads a consumer's chunks: its pending entries and where each is.
    pub fn load(tree: &sled::Tree, consumer: &str) -> Result<(BTreeMap<u64, Pending>, Chunks)> {
        let mut pending = BTreeMap::new();
        let mut chunks = Chunks::default();
        for item in tree.scan_prefix(keys::pending_chunk_prefix(consumer)) {
            let (k, v) = item?;
            let id = keys::trailing_seq(&k)
                .ok_or_else(|| LogError::Corrupt("pending chunk key".into()))?;
            let entries: Vec<(u64, Pending)> = decode(&v)?;
            for (seq, p) in entries {
                pending.insert(seq, p);
                chunks.place(seq, id);
            }
            chunks.next = chunks.next.max(id + 1);
        }
        Ok((pending, chunks))
    }

    fn place(&mut self, seq: u64, id: u64) {
        self.members.entry(id).or_default().insert(seq);
        self.of.insert(seq, id);
    }

    /// Adds to `batch` what stores `changes` (in the order they were
    /// made), given the pending map after them.
    pub fn write(
        &mut self,
        consumer: &str,
        changes: Vec<(u64, Option<Pending>)>,
        pending: &BTreeMap<u64, Pending>,
        batch: &mut sled::Batch,
    ) -> Result<()> {
        let mut touched = BTreeSet::new();
        let mut fresh = BTreeSet::new();
        for (seq, p) in changes {
            match (self.of.get(&seq).copied(), p) {
                (Some(id), Some(_)) => {
                    touched.insert(id);
                }
                (Some(id), None) => {
                    touched.insert(id);
                    self.of.remove(&seq);
                    if let Some(m) = self.members.get_mut(&id) {
                        m.remove(&seq);
                    }
                }
                (None, Some(_)) => {
                    fresh.insert(seq);
                }
                // Added and settled since the last write: nothing stored.
                (None, None) => {
                    fresh.remove(&seq);
                }
            }
        }
        for id in touched {
            let key = keys::pending_chunk(consumer, id);
            let entries = self.entries(id, pending);
            if entries.is_empty() {
                self.members.remove(&id);
                batch.remove(key);
            } else {
                batch.insert(key, encode_chunk(&entries)?);
            }
        }
        let fresh: Vec<u64> = fresh.into_iter().collect();
        for group in fresh.chunks(CHUNK) {
            let id = self.next;
            self.next += 1;
            for &seq in group {
                self.place(seq, id);
            }
            let entries = self.entries(id, pending);
            batch.insert(keys::pending_chunk(consumer, id), encode_chunk(&entries)?);
        }
        Ok(())
    }

    fn entries(&self, id: u64, pending: &BTreeMap<u64, Pending>) -> Vec<(u64, Pending)> {
        self.members
            .get(&id)
            .into_iter()
            .flatten()
            .filter_map(|seq| pending.get(seq).map(|p| (*seq, *p)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// Delivers this many new messages.
        Deliver(usize),
        /// Settles the pending entry at this index (ack, term).
        Settle(usize),
        /// Settles every entry up to this index (ack_up_to).
        SettleUpTo(usize),
        /// Redelivers the entry at this index (a new deadline and count).
        Redeliver(usize),
        /// Persists what changed since the last write.
        Write,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1usize..300).prop_map(Op::Deliver),
            any::<usize>().prop_map(Op::Settle),
            any::<usize>().prop_map(Op::SettleUpTo),
            any::<usize>().prop_map(Op::Redeliver),
            Just(Op::Write),
        ]
    }

    fn set(
        pending: &mut BTreeMap<u64, Pending>,
        changes: &mut Vec<(u64, Option<Pending>)>,
        seq: u64,
        p: Option<Pending>,
    ) {
        match p {
            Some(p) => pending.insert(seq, p),
            None => pending.remove(&seq),
        };
        changes.push((seq, p));
    }

    fn nth(pending: &BTreeMap<u64, Pending>, i: usize) -> Option<u64> {
        (!pending.is_empty()).then(|| *pending.keys().nth(i % pending.len()).unwrap())
    }

    proptest! {
        /// Whatever the order of deliveries, acks and redeliveries, and
        /// however they are grouped into writes, the chunks on disk read
        /// back as exactly the pending map, none above `CHUNK` entries.
        #[test]
        fn stored_chunks_read_back_as_the_pending_map(ops in prop::collection::vec(op(), 1..60)) {
            let db = sled::Config::new().temporary(true).open().unwrap();
            let tree = db.open_tree("s").unwrap();
            let mut pending = BTreeMap::new();
            let mut changes = Vec::new();
            let mut chunks = Chunks::default();
            let mut next = 1u64;
            let mut writes = 0;
            for op in ops.into_iter().chain([Op::Write]) {
                match op {
                    Op::Deliver(n) => {
                        for _ in 0..n {
                            let p = Pending { consumer_seq: next, deliveries: 1, deadline_ns: 0 };
                            set(&mut pending, &mut changes, next, Some(p));
                            next += 1;
                        }
                    }
                    Op::Settle(i) => {
                        if let Some(seq) = nth(&pending, i) {
                            set(&mut pending, &mut changes, seq, None);
                        }
                    }
                    Op::SettleUpTo(i) => {
                        if let Some(last) = nth(&pending, i) {
                            let done: Vec<u64> = pending.range(..=last).map(|(s, _)| *s).collect();
                            for seq in done {
                                set(&mut pending, &mut changes, seq, None);
                            }
                        }
                    }
                    Op::Redeliver(i) => {
                        if let Some(seq) = nth(&pending, i) {
                            let mut p = pending[&seq];
                            p.deliveries += 1;
                            p.deadline_ns += 7;
                            set(&mut pending, &mut changes, seq, Some(p));
                        }
                    }
                    Op::Write => {
                        writes += 1;
                        let mut batch = sled::Batch::default();
                        chunks.write("c", std::mem::take(&mut changes), &pending, &mut batch).unwrap();
                        tree.apply_batch(batch).unwrap();
                        let (loaded, _) = Chunks::load(&tree, "c").unwrap();
                        prop_assert_eq!(&loaded, &pending, "after write {}", writes);
                        for item in tree.scan_prefix(keys::pending_chunk_prefix("c")) {
                            let entries: Vec<(u64, Pending)> = decode(&item.unwrap().1).unwrap();
                            prop_assert!(!entries.is_empty() && entries.len() <= CHUNK);
                        }
                    }
                }
            }
        }
    }
}
