//! Message bodies in blocks (format 3): the messages one writer round
//! appends to a stream go into a few sled values (up to the limits below),
//! each keyed by its first sequence, instead of a key each. sled's cost is
//! per key (a tree insert, a log record, its share of node rewrites), so a
//! round of 16 publishes of 256 bytes costs three inserts for its bodies
//! instead of sixteen.
//!
//! A block is `n: u32`, then per message `seq - first: u32` and the end of
//! its body `: u32` (both little-endian, ascending), then the bodies (each
//! the bincode `StoredMessage` format 2 kept under its own key). Reading
//! one message decodes only its body. A removal rewrites its block without
//! it (or removes the block when nothing is left), keeping the key, so a
//! block's key is at most its first sequence and blocks never overlap.

use sled::IVec;

use super::error::{LogError, Result};
use super::message::StoredMessage;
use super::store::{decode, keys};

/// A block is closed at this many messages or body bytes (whichever comes
/// first). Small on purpose: sled rewrites a whole node (up to 16 keys)
/// every 10 updates to it, so its bytes on disk grow with the size of the
/// values. Measured with `benches/disk_bytes.py` (256-byte messages): 1–2
/// KiB blocks take what a key per message took (about 600–680 bytes a
/// message), 6 KiB about 10 % more and 32 KiB 30 % more, while the writer's
/// gain from fewer inserts is about the same from 1 KiB up.
pub(crate) const MAX_BLOCK_MSGS: usize = 64;
pub(crate) const MAX_BLOCK_BYTES: usize = 2 * 1024;

const ENTRY: usize = 8;

/// A stored block, checked when read; bodies are decoded on demand.
pub(crate) struct Block {
    pub first: u64,
    raw: IVec,
    n: usize,
}

fn corrupt() -> LogError {
    LogError::Corrupt("message block".into())
}

fn u32_at(raw: &[u8], at: usize) -> u32 {
    let mut b = [0; 4];
    b.copy_from_slice(&raw[at..at + 4]);
    u32::from_le_bytes(b)
}

impl Block {
    pub fn parse(key: &[u8], raw: IVec) -> Result<Block> {
        let first = keys::trailing_seq(key).ok_or_else(corrupt)?;
        if raw.len() < 4 {
            return Err(corrupt());
        }
        let n = u32_at(&raw, 0) as usize;
        let header = n
            .checked_mul(ENTRY)
            .and_then(|h| h.checked_add(4))
            .filter(|&h| h <= raw.len())
            .ok_or_else(corrupt)?;
        let block = Block { first, raw, n };
        let (mut delta, mut end) = (None, 0);
        for i in 0..n {
            let d = u32_at(&block.raw, 4 + i * ENTRY);
            let e = u32_at(&block.raw, 8 + i * ENTRY) as usize;
            if delta.is_some_and(|p| d <= p) || e < end {
                return Err(corrupt());
            }
            (delta, end) = (Some(d), e);
        }
        if header + end != block.raw.len() || n == 0 {
            return Err(corrupt());
        }
        Ok(block)
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn seq(&self, i: usize) -> u64 {
        self.first + u64::from(u32_at(&self.raw, 4 + i * ENTRY))
    }

    pub fn last_seq(&self) -> u64 {
        self.seq(self.n - 1)
    }

    fn end(&self, i: usize) -> usize {
        u32_at(&self.raw, 8 + i * ENTRY) as usize
    }

    /// The encoded message at `i` (checked in `parse`).
    pub fn body(&self, i: usize) -> &[u8] {
        let base = 4 + self.n * ENTRY;
        let start = if i == 0 { 0 } else { self.end(i - 1) };
        &self.raw[base + start..base + self.end(i)]
    }

    pub fn message(&self, i: usize) -> Result<StoredMessage> {
        decode(self.body(i))
    }

    /// The index of the first message at or after `seq`.
    pub fn position(&self, seq: u64) -> usize {
        let (mut lo, mut hi) = (0, self.n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.seq(mid) < seq {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    pub fn find(&self, seq: u64) -> Option<usize> {
        let i = self.position(seq);
        (i < self.n && self.seq(i) == seq).then_some(i)
    }
}

/// Encodes messages (ascending, all at or after `first`, within 2^32 of
/// it) as one block.
pub(crate) fn encode_block(first: u64, entries: &[(u64, &[u8])]) -> Result<Vec<u8>> {
    let bodies: usize = entries.iter().map(|(_, b)| b.len()).sum();
    let mut out = Vec::with_capacity(4 + entries.len() * ENTRY + bodies);
    let n = u32::try_from(entries.len()).map_err(|_| corrupt())?;
    out.extend_from_slice(&n.to_le_bytes());
    let mut end = 0usize;
    for (seq, body) in entries {
        let delta = seq
            .checked_sub(first)
            .and_then(|d| u32::try_from(d).ok())
            .ok_or_else(corrupt)?;
        end += body.len();
        let e = u32::try_from(end).map_err(|_| corrupt())?;
        out.extend_from_slice(&delta.to_le_bytes());
        out.extend_from_slice(&e.to_le_bytes());
    }
    for (_, body) in entries {
        out.extend_from_slice(body);
    }
    Ok(out)
}

/// Splits appended messages into blocks: (key's sequence, value).
pub(crate) fn pack(appended: &[(u64, Vec<u8>)]) -> Result<Vec<(u64, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < appended.len() {
        let mut end = start;
        let mut bytes = 0;
        let first = appended[start].0;
        while end < appended.len()
            && end - start < MAX_BLOCK_MSGS
            && (end == start
                || (bytes + appended[end].1.len() <= MAX_BLOCK_BYTES
                    && appended[end].0 - first <= u64::from(u32::MAX)))
        {
            bytes += appended[end].1.len();
            end += 1;
        }
        let entries: Vec<(u64, &[u8])> = appended[start..end]
            .iter()
            .map(|(s, b)| (*s, b.as_slice()))
            .collect();
        out.push((first, encode_block(first, &entries)?));
        start = end;
    }
    Ok(out)
}

/// The block whose key is the greatest at or before `seq`: the only one
/// that can hold it. Tried first as the block that starts at `seq`: a
/// point lookup, where a reverse range in sled clones a node, and every
/// block a lone publish stores starts at its message.
pub(crate) fn block_at(tree: &sled::Tree, seq: u64) -> Result<Option<Block>> {
    let key = keys::block(seq);
    if let Some(v) = tree.get(key)? {
        return Ok(Some(Block::parse(&key, v)?));
    }
    match tree.range(keys::block(0)..key).next_back() {
        Some(item) => {
            let (k, v) = item?;
            Ok(Some(Block::parse(&k, v)?))
        }
        None => Ok(None),
    }
}

/// Message `seq`, if stored.
pub(crate) fn read(tree: &sled::Tree, seq: u64) -> Result<Option<StoredMessage>> {
    let Some(block) = block_at(tree, seq)? else {
        return Ok(None);
    };
    block.find(seq).map(|i| block.message(i)).transpose()
}

/// Stored messages from `start` to `end` (inclusive), in order.
pub(crate) fn scan(tree: &sled::Tree, start: u64, end: u64) -> Scan {
    let mut scan = Scan {
        current: None,
        rest: None,
        end,
        failed: None,
    };
    if start > end {
        return scan;
    }
    match block_at(tree, start) {
        Ok(block) => {
            scan.current = block.map(|b| {
                let i = b.position(start);
                (b, i)
            })
        }
        Err(e) => {
            scan.failed = Some(e);
            return scan;
        }
    }
    scan.rest = start
        .checked_add(1)
        .filter(|next| *next <= end)
        .map(|next| tree.range(keys::block(next)..=keys::block(end)));
    scan
}

pub(crate) struct Scan {
    current: Option<(Block, usize)>,
    rest: Option<sled::Iter>,
    end: u64,
    failed: Option<LogError>,
}

impl Iterator for Scan {
    type Item = Result<(u64, StoredMessage)>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.failed.take() {
            self.rest = None;
            return Some(Err(e));
        }
        loop {
            if let Some((block, i)) = &mut self.current {
                if *i < block.len() {
                    let seq = block.seq(*i);
                    if seq > self.end {
                        self.current = None;
                        self.rest = None;
                        return None;
                    }
                    let at = *i;
                    *i += 1;
                    return Some(block.message(at).map(|m| (seq, m)));
                }
                self.current = None;
            }
            let item = self.rest.as_mut()?.next()?;
            match item
                .map_err(LogError::from)
                .and_then(|(k, v)| Block::parse(&k, v))
            {
                Ok(b) => self.current = Some((b, 0)),
                Err(e) => {
                    self.rest = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn msg(i: u64, size: usize) -> Vec<u8> {
        crate::log::store::encode(&StoredMessage {
            subject: format!("s.{i}"),
            time_ns: i as i64,
            headers: Default::default(),
            payload: vec![b'x'; size],
        })
        .unwrap()
    }

    proptest! {
        /// Whatever is packed reads back, one by one and as a range, and
        /// every sequence not stored reads as absent.
        #[test]
        fn packed_messages_read_back(
            gaps in proptest::collection::vec(1u64..4, 1..200),
            size in 0usize..3000,
            from in 0u64..400,
            len in 0u64..400,
        ) {
            let db = sled::Config::new().temporary(true).open().unwrap();
            let tree = db.open_tree("t").unwrap();
            let mut seq = 0;
            let appended: Vec<(u64, Vec<u8>)> = gaps
                .iter()
                .map(|g| { seq += g; (seq, msg(seq, size)) })
                .collect();
            // Written as two rounds, as the writer would.
            let (a, b) = appended.split_at(appended.len() / 2);
            for part in [a, b] {
                for (first, value) in pack(part).unwrap() {
                    prop_assert!(value.len() <= 4 + MAX_BLOCK_MSGS * 8 + MAX_BLOCK_BYTES.max(size + 100));
                    tree.insert(keys::block(first), value).unwrap();
                }
            }
            for s in 0..=seq + 1 {
                let want = appended.iter().find(|(x, _)| *x == s).map(|(_, b)| b.clone());
                let got = read(&tree, s).unwrap().map(|m| crate::log::store::encode(&m).unwrap());
                prop_assert_eq!(got, want);
            }
            let end = from + len;
            let want: Vec<u64> = appended.iter().map(|(s, _)| *s).filter(|s| *s >= from && *s <= end).collect();
            let got: Vec<u64> = scan(&tree, from, end).map(|r| r.unwrap().0).collect();
            prop_assert_eq!(got, want);
        }

        /// A damaged block is an error, never a panic.
        #[test]
        fn damaged_blocks_are_refused(raw in proptest::collection::vec(any::<u8>(), 0..64), seq in 0u64..10) {
            let key = keys::block(3);
            if let Ok(b) = Block::parse(&key, IVec::from(raw)) {
                for i in 0..b.len() {
                    let _ = b.message(i);
                }
                let _ = b.find(seq);
            }
        }
    }

    #[test]
    fn a_block_cut_short_is_corrupt() {
        let value = encode_block(5, &[(5, b"ab"), (7, b"cd")]).unwrap();
        let key = keys::block(5);
        assert!(Block::parse(&key, IVec::from(value.clone())).is_ok());
        assert!(Block::parse(&key, IVec::from(&value[..value.len() - 1])).is_err());
        assert!(encode_block(6, &[(5, b"ab")]).is_err(), "before the key");
    }
}
