//! The ack state machine: which messages were delivered, which await an
//! ack and when they are redelivered. Pure bookkeeping (time is passed in);
//! `mod.rs` reads messages and persists what changes here.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::{AckKind, AckPolicy, ConsumerConfig};
use crate::log::error::{LogError, Result};

/// A delivered message that awaits an ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub consumer_seq: u64,
    pub deliveries: u64,
    /// When it becomes due for redelivery (ns since the epoch).
    pub deadline_ns: i64,
}

/// The small, frequently written part of a consumer's state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConsumerState {
    /// Every stream sequence up to this one has been looked at.
    pub cursor: u64,
    /// Deliveries made, counting redeliveries.
    pub consumer_seq: u64,
    /// Messages still to deliver first (deliver_policy last_per_subject).
    pub backlog: VecDeque<u64>,
    pub created_ns: i64,
    pub last_active_ns: i64,
}

/// Ack bookkeeping for one consumer. Changes to `pending` are recorded in
/// `changes` so the caller can persist exactly what moved.
#[derive(Debug, Clone)]
pub struct AckState {
    pub config: ConsumerConfig,
    pub state: ConsumerState,
    pub pending: BTreeMap<u64, Pending>,
    changes: Vec<(u64, Option<Pending>)>,
}

impl AckState {
    pub fn new(
        config: ConsumerConfig,
        state: ConsumerState,
        pending: BTreeMap<u64, Pending>,
    ) -> Self {
        AckState {
            config,
            state,
            pending,
            changes: Vec::new(),
        }
    }

    fn tracks_acks(&self) -> bool {
        self.config.ack_policy != AckPolicy::None
    }

    fn deadline(&self, now_ns: i64, wait: Duration) -> i64 {
        now_ns.saturating_add(i64::try_from(wait.as_nanos()).unwrap_or(i64::MAX))
    }

    fn set(&mut self, seq: u64, p: Option<Pending>) {
        match p {
            Some(p) => self.pending.insert(seq, p),
            None => self.pending.remove(&seq),
        };
        self.changes.push((seq, p));
    }

    /// Pending entries changed since the last call, for persisting.
    pub fn take_changes(&mut self) -> Vec<(u64, Option<Pending>)> {
        std::mem::take(&mut self.changes)
    }

    /// How many more messages may be handed out before hitting
    /// `max_ack_pending`.
    pub fn room(&self) -> usize {
        if !self.tracks_acks() {
            return usize::MAX;
        }
        (self.config.max_ack_pending as usize).saturating_sub(self.pending.len())
    }

    /// Takes up to `limit` pending messages whose ack wait has run out and
    /// marks them delivered again; returns `(seq, deliveries)`. Messages that
    /// reached `max_deliver` are dropped instead.
    pub fn take_due(&mut self, now_ns: i64, limit: usize) -> Vec<(u64, u64)> {
        let due: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline_ns <= now_ns)
            .map(|(s, _)| *s)
            .collect();
        let mut out = Vec::new();
        for seq in due {
            if out.len() >= limit {
                break;
            }
            let Some(p) = self.pending.get(&seq).copied() else {
                continue;
            };
            if self
                .config
                .max_deliver
                .is_some_and(|max| p.deliveries >= max)
            {
                self.set(seq, None);
                continue;
            }
            self.state.consumer_seq += 1;
            let again = Pending {
                consumer_seq: self.state.consumer_seq,
                deliveries: p.deliveries + 1,
                deadline_ns: self.deadline(now_ns, self.config.ack_wait),
            };
            self.set(seq, Some(again));
            out.push((seq, again.deliveries));
        }
        out
    }

    /// Records the first delivery of stream message `seq`.
    pub fn deliver(&mut self, seq: u64, now_ns: i64) -> u64 {
        self.state.consumer_seq += 1;
        if self.tracks_acks() {
            let p = Pending {
                consumer_seq: self.state.consumer_seq,
                deliveries: 1,
                deadline_ns: self.deadline(now_ns, self.config.ack_wait),
            };
            self.set(seq, Some(p));
        }
        1
    }

    /// Forgets a pending message that no longer exists in the stream.
    pub fn forget(&mut self, seq: u64) {
        if self.pending.contains_key(&seq) {
            self.set(seq, None);
        }
    }

    pub fn ack(
        &mut self,
        seq: u64,
        kind: AckKind,
        delay: Option<Duration>,
        now_ns: i64,
    ) -> Result<()> {
        if !self.tracks_acks() {
            // As in NATS, acks to an ack-none consumer are accepted and ignored.
            return Ok(());
        }
        let not_pending = || LogError::NotPending {
            consumer: self.config.name.clone().unwrap_or_default(),
            seq,
        };
        if self.config.ack_policy == AckPolicy::All && kind == AckKind::Ack {
            let upto: Vec<u64> = self.pending.range(..=seq).map(|(s, _)| *s).collect();
            if upto.is_empty() {
                return Err(not_pending());
            }
            for s in upto {
                self.set(s, None);
            }
            return Ok(());
        }
        let Some(p) = self.pending.get(&seq).copied() else {
            return Err(not_pending());
        };
        match kind {
            AckKind::Ack | AckKind::Term => self.set(seq, None),
            AckKind::Nak => {
                let deadline = self.deadline(now_ns, delay.unwrap_or_default());
                self.set(
                    seq,
                    Some(Pending {
                        deadline_ns: deadline,
                        ..p
                    }),
                );
            }
            AckKind::Wpi => {
                let deadline = self.deadline(now_ns, self.config.ack_wait);
                self.set(
                    seq,
                    Some(Pending {
                        deadline_ns: deadline,
                        ..p
                    }),
                );
            }
        }
        Ok(())
    }

    /// Acknowledges every pending message at or below `seq` (what
    /// JetStream's AckAll policy does for one ack, on request for any
    /// consumer); returns how many. An ack-none consumer has none.
    pub fn ack_up_to(&mut self, seq: u64) -> usize {
        let upto: Vec<u64> = self.pending.range(..=seq).map(|(s, _)| *s).collect();
        for s in &upto {
            self.set(*s, None);
        }
        upto.len()
    }

    /// The highest stream sequence at or below which everything this
    /// consumer was given is settled.
    pub fn ack_floor(&self) -> u64 {
        let mut floor = self.state.cursor;
        if let Some((seq, _)) = self.pending.iter().next() {
            floor = floor.min(seq - 1);
        }
        if let Some(seq) = self.state.backlog.front() {
            floor = floor.min(seq - 1);
        }
        floor
    }

    /// The consumer sequence matching `ack_floor`.
    pub fn ack_floor_consumer_seq(&self) -> u64 {
        match self.pending.values().map(|p| p.consumer_seq).min() {
            Some(c) => c - 1,
            None => self.state.consumer_seq,
        }
    }

    pub fn num_redelivered(&self) -> u64 {
        self.pending.values().filter(|p| p.deliveries > 1).count() as u64
    }

    /// The earliest time a pending message becomes due.
    pub fn next_deadline_ns(&self) -> Option<i64> {
        self.pending.values().map(|p| p.deadline_ns).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn machine(ack_policy: AckPolicy, max_deliver: Option<u64>, max_ack_pending: u64) -> AckState {
        let config = ConsumerConfig {
            durable_name: Some("c".into()),
            name: Some("c".into()),
            ack_policy,
            ack_wait: Duration::from_nanos(10),
            max_deliver,
            max_ack_pending,
            ..Default::default()
        };
        AckState::new(config, ConsumerState::default(), BTreeMap::new())
    }

    #[test]
    fn redelivers_after_ack_wait_until_max_deliver() {
        let mut m = machine(AckPolicy::Explicit, Some(2), 10);
        m.state.cursor = 1;
        m.deliver(1, 0);
        assert!(m.take_due(5, 10).is_empty(), "not due before ack_wait");
        assert_eq!(m.take_due(10, 10), vec![(1, 2)]);
        // Second delivery was the last allowed one: it is dropped when due.
        assert!(m.take_due(100, 10).is_empty());
        assert!(m.pending.is_empty());
        assert_eq!(m.ack_floor(), 1);
    }

    #[test]
    fn nak_wpi_term_and_ack_all() {
        let mut m = machine(AckPolicy::Explicit, None, 10);
        for s in 1..=3 {
            m.state.cursor = s;
            m.deliver(s, 0);
        }
        m.ack(2, AckKind::Nak, Some(Duration::from_nanos(50)), 0)
            .unwrap();
        m.ack(1, AckKind::Wpi, None, 8).unwrap();
        assert_eq!(
            m.take_due(10, 10),
            vec![(3, 2)],
            "1 was extended, 2 delayed"
        );
        assert_eq!(m.take_due(60, 10), vec![(1, 2), (2, 2), (3, 3)]);
        m.ack(1, AckKind::Term, None, 60).unwrap();
        assert_eq!(m.ack_floor(), 1);
        assert!(m.ack(1, AckKind::Ack, None, 60).is_err(), "term removed it");

        let mut all = machine(AckPolicy::All, None, 10);
        for s in 1..=3 {
            all.state.cursor = s;
            all.deliver(s, 0);
        }
        all.ack(2, AckKind::Ack, None, 0).unwrap();
        assert_eq!(all.pending.keys().copied().collect::<Vec<_>>(), vec![3]);
        assert_eq!(all.ack_floor(), 2);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Deliver,
        Ack(u64, AckKind),
        Tick(i64),
        Redeliver,
    }

    fn op() -> impl Strategy<Value = Op> {
        let kind = prop_oneof![
            Just(AckKind::Ack),
            Just(AckKind::Nak),
            Just(AckKind::Wpi),
            Just(AckKind::Term)
        ];
        prop_oneof![
            3 => Just(Op::Deliver),
            3 => (1u64..30, kind).prop_map(|(s, k)| Op::Ack(s, k)),
            1 => (0i64..30).prop_map(Op::Tick),
            2 => Just(Op::Redeliver),
        ]
    }

    proptest! {
        /// Whatever the order of deliveries, acks and timeouts: pending never
        /// exceeds max_ack_pending, deliveries never exceed max_deliver, an
        /// acked or terminated message is never handed out again, and the
        /// ack floor never passes an unsettled message.
        #[test]
        fn ack_state_machine_invariants(
            ops in prop::collection::vec(op(), 1..120),
            max_deliver in prop::option::of(1u64..4),
            max_ack_pending in 1u64..6,
            policy in prop_oneof![Just(AckPolicy::Explicit), Just(AckPolicy::All)],
        ) {
            let mut m = machine(policy, max_deliver, max_ack_pending);
            let mut now = 0i64;
            let mut settled = std::collections::HashSet::new();
            let mut last_floor = 0;
            for op in ops {
                match op {
                    Op::Deliver => {
                        if m.room() > 0 {
                            let seq = m.state.cursor + 1;
                            m.state.cursor = seq;
                            m.deliver(seq, now);
                        }
                    }
                    Op::Ack(seq, kind) => {
                        let before: Vec<u64> = m.pending.keys().copied().collect();
                        if m.ack(seq, kind, None, now).is_ok() && matches!(kind, AckKind::Ack | AckKind::Term) {
                            for s in before.into_iter().filter(|s| !m.pending.contains_key(s)) {
                                settled.insert(s);
                            }
                        }
                    }
                    Op::Tick(dt) => now += dt,
                    Op::Redeliver => {
                        for (seq, deliveries) in m.take_due(now, 100) {
                            prop_assert!(!settled.contains(&seq), "settled {} redelivered", seq);
                            if let Some(max) = max_deliver {
                                prop_assert!(deliveries <= max);
                            }
                        }
                    }
                }
                prop_assert!(m.pending.len() as u64 <= max_ack_pending);
                let floor = m.ack_floor();
                prop_assert!(floor <= m.state.cursor);
                prop_assert!(m.pending.keys().all(|s| *s > floor && *s <= m.state.cursor));
                prop_assert!(floor >= last_floor, "ack floor went backwards");
                last_floor = floor;
            }
        }
    }
}
