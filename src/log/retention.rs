//! One atomic change to a stream: appends and removals collected into a
//! single sled batch together with the updated counters, so that a crash
//! never leaves the index, the per-subject counts and the state disagreeing
//! with the messages. Retention (limits, age, purge, delete) is expressed
//! as removals through this type; the stream limits themselves are applied
//! here too (`make_room` per publish, `enforce_limits` after an update).
//! What a change appends becomes new blocks, and the blocks it removes
//! from are rewritten (blocks.rs); limits reach the messages the change
//! itself appended too, so a group of publishes cannot overfill a stream.

use std::collections::{HashMap, HashSet};

use super::blocks::{self, block_at, pack, Block};
use super::error::{LogError, Result};
use super::index::subject_counts;
use super::message::StoredMessage;
use super::store::{decode, encode, keys};
use super::stream::{DiscardPolicy, StreamConfig, StreamState};
use super::{lock, StreamHandle};

pub(crate) struct Change<'a> {
    tree: &'a sled::Tree,
    batch: sled::Batch,
    pub state: StreamState,
    original_first: u64,
    /// Current per-subject counts for subjects this change touched.
    counts: HashMap<String, u64>,
    removed: HashSet<u64>,
    /// Where to continue looking for the oldest message.
    head: u64,
    appended: Option<(u64, i64)>,
    /// The newest sequence this change appended on each subject.
    last_by_subject: HashMap<String, u64>,
    /// What this change appends, encoded, for `blocks::pack`.
    bodies: Vec<(u64, Vec<u8>)>,
}

impl<'a> Change<'a> {
    pub fn new(tree: &'a sled::Tree, state: StreamState) -> Self {
        Change {
            tree,
            batch: sled::Batch::default(),
            state,
            original_first: state.first_seq,
            counts: HashMap::new(),
            removed: HashSet::new(),
            head: state.first_seq,
            appended: None,
            last_by_subject: HashMap::new(),
            bodies: Vec::new(),
        }
    }

    pub fn subject_count(&mut self, subject: &str) -> Result<u64> {
        if let Some(c) = self.counts.get(subject) {
            return Ok(*c);
        }
        let c = match self.tree.get(keys::count(subject))? {
            Some(v) => u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| LogError::Corrupt("subject count".into()))?,
            ),
            None => 0,
        };
        self.counts.insert(subject.to_string(), c);
        Ok(c)
    }

    /// Adds a raw key/value to the same atomic batch (dedup records).
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.batch.insert(key, value);
    }

    pub fn append(&mut self, seq: u64, msg: &StoredMessage) -> Result<()> {
        let count = self.subject_count(&msg.subject)?;
        if count == 0 {
            self.state.num_subjects += 1;
        }
        self.counts.insert(msg.subject.clone(), count + 1);
        self.bodies.push((seq, encode(msg)?));
        self.batch.insert(keys::subject(&msg.subject, seq), &[]);
        self.state.messages += 1;
        self.state.bytes += msg.stored_size();
        self.state.last_seq = seq;
        self.state.last_ts = msg.time_ns;
        if self.appended.is_none() {
            self.appended = Some((seq, msg.time_ns));
        }
        self.last_by_subject.insert(msg.subject.clone(), seq);
        Ok(())
    }

    /// The last sequence this change appended on `subject`, if any.
    pub fn last_appended(&self, subject: &str) -> Option<u64> {
        self.last_by_subject.get(subject).copied()
    }

    fn remove_decoded(&mut self, seq: u64, msg: &StoredMessage) -> Result<()> {
        let count = self.subject_count(&msg.subject)?;
        let count = count.saturating_sub(1);
        if count == 0 {
            self.state.num_subjects = self.state.num_subjects.saturating_sub(1);
        }
        self.counts.insert(msg.subject.clone(), count);
        self.batch.remove(keys::subject(&msg.subject, seq));
        self.state.messages = self.state.messages.saturating_sub(1);
        self.state.bytes = self.state.bytes.saturating_sub(msg.stored_size());
        self.removed.insert(seq);
        Ok(())
    }

    /// Removes message `seq`; false if it is not stored.
    pub fn remove(&mut self, seq: u64) -> Result<bool> {
        if self.removed.contains(&seq) {
            return Ok(false);
        }
        let msg = match blocks::read(self.tree, seq)? {
            Some(msg) => msg,
            None => match self.own(seq) {
                Some(body) => decode(body)?,
                None => return Ok(false),
            },
        };
        self.remove_decoded(seq, &msg)?;
        Ok(true)
    }

    /// A message this change appended, not in the tree yet: limits must
    /// reach those too, or a group of publishes could overfill a stream.
    fn own(&self, seq: u64) -> Option<&[u8]> {
        let i = self.bodies.binary_search_by_key(&seq, |(s, _)| *s).ok()?;
        Some(self.bodies[i].1.as_slice())
    }

    /// This change's own messages not removed, oldest first.
    fn own_left(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.bodies
            .iter()
            .filter(|(seq, _)| !self.removed.contains(seq))
            .map(|(seq, body)| (*seq, body.as_slice()))
    }

    /// The oldest stored message not yet removed by this change.
    pub fn oldest(&mut self) -> Result<Option<(u64, StoredMessage)>> {
        let end = self.state.last_seq.max(self.head);
        for item in blocks::scan(self.tree, self.head, end) {
            let (seq, msg) = item?;
            if self.removed.contains(&seq) {
                continue;
            }
            self.head = seq;
            return Ok(Some((seq, msg)));
        }
        let found = match self.own_left().find(|(seq, _)| *seq >= self.head) {
            Some((seq, body)) => Some((seq, decode::<StoredMessage>(body)?)),
            None => None,
        };
        if let Some((seq, _)) = &found {
            self.head = *seq;
        }
        Ok(found)
    }

    /// Removes the oldest stored message; false when none is left.
    pub fn remove_oldest(&mut self) -> Result<bool> {
        match self.oldest()? {
            Some((seq, msg)) => {
                self.remove_decoded(seq, &msg)?;
                self.head = seq + 1;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Removes up to `n` of the oldest messages on `subject`.
    pub fn remove_oldest_of_subject(&mut self, subject: &str, n: u64) -> Result<u64> {
        let mut victims = Vec::new();
        for item in self.tree.scan_prefix(keys::subject_prefix(subject)) {
            if victims.len() as u64 >= n {
                break;
            }
            let (k, _) = item?;
            let seq = keys::trailing_seq(&k)
                .ok_or_else(|| LogError::Corrupt("subject index key".into()))?;
            if !self.removed.contains(&seq) {
                victims.push(seq);
            }
        }
        if (victims.len() as u64) < n {
            for (seq, body) in self.own_left() {
                if victims.len() as u64 >= n {
                    break;
                }
                if decode::<StoredMessage>(body)?.subject == subject {
                    victims.push(seq);
                }
            }
        }
        let mut done = 0;
        for seq in victims {
            if self.remove(seq)? {
                done += 1;
            }
        }
        Ok(done)
    }

    /// Applies the change atomically and updates `state` to match.
    pub fn commit(self, state: &mut StreamState) -> Result<()> {
        let tree = self.tree;
        let (batch, new_state) = self.finish()?;
        tree.apply_batch(batch)?;
        *state = new_state;
        Ok(())
    }

    /// Rewrites each block this change removed messages from without
    /// them, or removes it when nothing is left in it.
    fn rewrite_blocks(&mut self) -> Result<()> {
        let own_from = self.bodies.first().map_or(u64::MAX, |(seq, _)| *seq);
        let mut removed: Vec<u64> = self
            .removed
            .iter()
            .copied()
            .filter(|seq| *seq < own_from)
            .collect();
        removed.sort_unstable();
        let mut i = 0;
        while let Some(&seq) = removed.get(i) {
            let Some(block) = block_at(self.tree, seq)? else {
                return Err(LogError::Corrupt("message block".into()));
            };
            // max: a block that does not hold `seq` (damaged) still moves on.
            let last = block.last_seq().max(seq);
            let kept = kept_of(&block, &self.removed);
            if kept.is_empty() {
                self.batch.remove(&keys::block(block.first));
            } else {
                let value = blocks::encode_block(block.first, &kept)?;
                self.batch.insert(&keys::block(block.first), value);
            }
            while removed.get(i).is_some_and(|s| *s <= last) {
                i += 1;
            }
        }
        Ok(())
    }

    /// Writes the counters into the batch and hands it over with the new
    /// state, ready for `Tree::apply_batch`.
    pub fn finish(mut self) -> Result<(sled::Batch, StreamState)> {
        self.rewrite_blocks()?;
        for (subject, count) in &self.counts {
            if *count == 0 {
                self.batch.remove(keys::count(subject));
            } else {
                self.batch
                    .insert(keys::count(subject), &count.to_be_bytes());
            }
        }
        if self.state.messages == 0 {
            self.state.first_seq = self.state.last_seq + 1;
            self.state.first_ts = 0;
        } else if self.removed.contains(&self.original_first)
            || self.original_first > self.state.last_seq
        {
            self.head = self.head.max(self.original_first);
            match self.oldest()? {
                Some((seq, msg)) => {
                    self.state.first_seq = seq;
                    self.state.first_ts = msg.time_ns;
                }
                None => {
                    // Only what this change appended is left.
                    let (seq, ts) = self
                        .appended
                        .ok_or_else(|| LogError::Corrupt("stream counters".into()))?;
                    self.state.first_seq = seq;
                    self.state.first_ts = ts;
                }
            }
        } else if self.state.first_ts == 0 {
            if let Some((_, ts)) = self.appended {
                self.state.first_ts = ts;
            }
        }
        let mut bodies = std::mem::take(&mut self.bodies);
        bodies.retain(|(seq, _)| !self.removed.contains(seq));
        for (first, value) in pack(&bodies)? {
            self.batch.insert(&keys::block(first), value);
        }
        self.batch.insert(keys::STATE, encode(&self.state)?);
        Ok((self.batch, self.state))
    }
}

fn kept_of<'b>(block: &'b Block, removed: &HashSet<u64>) -> Vec<(u64, &'b [u8])> {
    (0..block.len())
        .map(|i| (block.seq(i), i))
        .filter(|(seq, _)| !removed.contains(seq))
        .map(|(seq, i)| (seq, block.body(i)))
        .collect()
}

/// Makes space for `msg` under the stream's limits, or refuses it when the
/// discard policy is `new`.
pub(super) fn make_room(
    config: &StreamConfig,
    change: &mut Change,
    msg: &StoredMessage,
) -> Result<()> {
    let size = msg.stored_size();
    let full = |limit, value| LogError::StreamFull {
        stream: config.name.clone(),
        limit,
        value,
    };
    let discard_new = config.discard == DiscardPolicy::New;
    if let Some(max) = config.max_bytes {
        if size > max {
            return Err(LogError::MessageTooLarge {
                stream: config.name.clone(),
                size,
                max,
                limit: "max_bytes",
            });
        }
    }
    if let Some(max) = config.max_msgs_per_subject {
        let count = change.subject_count(&msg.subject)?;
        if count >= max {
            if discard_new {
                return Err(full("max_msgs_per_subject", max));
            }
            change.remove_oldest_of_subject(&msg.subject, count + 1 - max)?;
        }
    }
    if let Some(max) = config.max_msgs {
        while change.state.messages >= max {
            if discard_new {
                return Err(full("max_msgs", max));
            }
            if !change.remove_oldest()? {
                break;
            }
        }
    }
    if let Some(max) = config.max_bytes {
        while change.state.bytes + size > max {
            if discard_new {
                return Err(full("max_bytes", max));
            }
            if !change.remove_oldest()? {
                break;
            }
        }
    }
    Ok(())
}

/// After a config update: removes what no longer fits, oldest first.
pub(super) fn enforce_limits(handle: &StreamHandle) -> Result<()> {
    let mut inner = lock(&handle.inner);
    let config = inner.config.clone();
    let mut change = Change::new(&handle.tree, inner.state);
    if let Some(max) = config.max_msgs_per_subject {
        for (subject, count) in subject_counts(&handle.tree)? {
            if count > max {
                change.remove_oldest_of_subject(&subject, count - max)?;
            }
        }
    }
    while config
        .max_msgs
        .is_some_and(|max| change.state.messages > max)
        && change.remove_oldest()?
    {}
    while config.max_bytes.is_some_and(|max| change.state.bytes > max) && change.remove_oldest()? {}
    change.commit(&mut inner.state)?;
    Ok(())
}
