//! Consumers on a stream: creating them at the right start position,
//! pull fetches with long polling and acks (`pull.rs`), and persisting
//! durable consumers' state next to the stream's messages.
//!
//! Consumer state is written with every fetch and ack but not waited on:
//! like JetStream's, it reaches disk with the next flush. After a crash a
//! message whose ack was not yet flushed is delivered again, which
//! at-least-once delivery allows.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

mod acks;
mod chunks;
mod config;
mod fresh;
mod position;
mod pull;

pub use acks::{ConsumerState, Pending};
pub use config::{AckKind, AckPolicy, ConsumerConfig, DeliverPolicy};

use acks::AckState;
use chunks::Chunks;
pub(crate) use chunks::{encode_chunk, CHUNK};
use position::count_pending;
pub(crate) use position::start_position;

use super::error::{LogError, Result};
use super::message::Message;
use super::store::{decode, encode, keys};
use super::{lock, now_ns, Log, StreamHandle};

/// The most messages one fetch returns.
pub const MAX_FETCH_BATCH: usize = 10_000;
/// Messages looked at per fetch when a filter skips most of them; the
/// cursor keeps its place, so the next fetch continues from there.
const MAX_SCAN_PER_FETCH: usize = 100_000;

pub(crate) struct ConsumerHandle {
    pub name: String,
    pub machine: Mutex<AckState>,
    /// Where its pending entries are stored; locked after `machine`.
    stored: Mutex<Chunks>,
    /// Wakes long-polling fetchers when an ack or nak changes what is due.
    pub changed: Notify,
    pub deleted: AtomicBool,
}

/// What a durable consumer keeps under its `C` key.
#[derive(Serialize, Deserialize)]
struct ConsumerRecord {
    /// JSON: configs carry human durations, which bincode cannot read back.
    config_json: String,
    state: ConsumerState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceInfo {
    pub consumer_seq: u64,
    pub stream_seq: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsumerInfo {
    pub stream_name: String,
    pub name: String,
    pub config: ConsumerConfig,
    pub created_ns: i64,
    pub durable: bool,
    pub delivered: SequenceInfo,
    pub ack_floor: SequenceInfo,
    pub num_ack_pending: u64,
    pub num_redelivered: u64,
    pub num_pending: u64,
}

/// What a batch of acks did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AckOutcome {
    pub done: Vec<u64>,
    /// Sequences that were not awaiting an ack (already acked, never
    /// delivered, or redelivered to someone else's fetch and acked there).
    pub not_pending: Vec<u64>,
}

/// One message handed out by a fetch.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub message: Message,
    /// How many times this message has been delivered to this consumer.
    pub delivered: u64,
    pub consumer_seq: u64,
}

/// Restores the durable consumers of a stream on open.
pub(super) fn load_durables(handle: &StreamHandle) -> Result<()> {
    let mut consumers = lock(&handle.consumers);
    for item in handle.tree.scan_prefix([keys::CONSUMER]) {
        let (k, v) = item?;
        let name = String::from_utf8(k[1..].to_vec())
            .map_err(|_| LogError::Corrupt("consumer name".into()))?;
        let record: ConsumerRecord = decode(&v)?;
        let config: ConsumerConfig = serde_json::from_str(&record.config_json)?;
        let (pending, stored) = Chunks::load(&handle.tree, &name)?;
        let machine = AckState::new(config, record.state, pending);
        consumers.insert(name.clone(), Arc::new(new_handle(name, machine, stored)));
    }
    Ok(())
}

fn new_handle(name: String, machine: AckState, stored: Chunks) -> ConsumerHandle {
    ConsumerHandle {
        name,
        machine: Mutex::new(machine),
        stored: Mutex::new(stored),
        changed: Notify::new(),
        deleted: AtomicBool::new(false),
    }
}

fn ephemeral_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mix = (now_ns() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n.rotate_left(32);
    format!("eph-{mix:016x}")
}

/// Persists what changed in a durable consumer (pending entries and state).
fn persist(handle: &StreamHandle, consumer: &ConsumerHandle, m: &mut AckState) -> Result<()> {
    let changes = m.take_changes();
    if !m.config.is_durable() || consumer.deleted.load(Ordering::Acquire) {
        return Ok(());
    }
    let mut batch = sled::Batch::default();
    lock(&consumer.stored).write(&consumer.name, changes, &m.pending, &mut batch)?;
    let record = ConsumerRecord {
        config_json: serde_json::to_string(&m.config)?,
        state: m.state.clone(),
    };
    batch.insert(keys::consumer(&consumer.name), encode(&record)?);
    handle.tree.apply_batch(batch)?;
    Ok(())
}

impl Log {
    fn consumer(
        &self,
        stream: &str,
        name: &str,
    ) -> Result<(Arc<StreamHandle>, Arc<ConsumerHandle>)> {
        let handle = self.stream(stream)?;
        let consumer = lock(&handle.consumers).get(name).cloned().ok_or_else(|| {
            LogError::ConsumerNotFound {
                stream: stream.into(),
                consumer: name.into(),
            }
        })?;
        Ok((handle, consumer))
    }

    /// Creates a consumer; a durable that exists with the same config is
    /// returned as is (`created == false`).
    pub fn create_consumer(
        &self,
        stream: &str,
        mut config: ConsumerConfig,
    ) -> Result<(ConsumerInfo, bool)> {
        let handle = self.stream(stream)?;
        let (stream_config, state) = {
            let inner = lock(&handle.inner);
            (inner.config.clone(), inner.state)
        };
        config.normalize_and_validate(&stream_config)?;
        let name = config.name.clone().unwrap_or_else(ephemeral_name);
        config.name = Some(name.clone());
        let existing = lock(&handle.consumers).get(&name).cloned();
        if let Some(existing) = existing {
            let same = lock(&existing.machine).config == config;
            return if same {
                Ok((self.consumer_info(stream, &name)?, false))
            } else {
                Err(LogError::ConsumerExists {
                    stream: stream.into(),
                    consumer: name,
                })
            };
        }
        let (cursor, backlog) = start_position(&handle, &config, state)?;
        let now = now_ns();
        let cstate = ConsumerState {
            cursor,
            consumer_seq: 0,
            backlog,
            created_ns: now,
            last_active_ns: now,
        };
        let consumer = Arc::new(new_handle(
            name.clone(),
            AckState::new(config, cstate, BTreeMap::new()),
            Chunks::default(),
        ));
        persist(&handle, &consumer, &mut lock(&consumer.machine))?;
        lock(&handle.consumers).insert(name.clone(), consumer);
        tracing::info!(stream, consumer = %name, "consumer created");
        Ok((self.consumer_info(stream, &name)?, true))
    }

    pub fn delete_consumer(&self, stream: &str, name: &str) -> Result<()> {
        let (handle, consumer) = self.consumer(stream, name)?;
        lock(&handle.consumers).remove(name);
        consumer.deleted.store(true, Ordering::Release);
        consumer.changed.notify_waiters();
        let mut batch = sled::Batch::default();
        batch.remove(keys::consumer(name));
        for item in handle.tree.scan_prefix(keys::pending_chunk_prefix(name)) {
            batch.remove(item?.0);
        }
        handle.tree.apply_batch(batch)?;
        Ok(())
    }

    pub fn consumers(&self, stream: &str) -> Result<Vec<ConsumerInfo>> {
        let handle = self.stream(stream)?;
        let names: Vec<String> = lock(&handle.consumers).keys().cloned().collect();
        Ok(names
            .iter()
            .filter_map(|n| self.consumer_info(stream, n).ok())
            .collect())
    }

    pub fn consumer_info(&self, stream: &str, name: &str) -> Result<ConsumerInfo> {
        let (handle, consumer) = self.consumer(stream, name)?;
        let state = lock(&handle.inner).state;
        let m = lock(&consumer.machine).clone();
        let num_pending = count_pending(&handle, &m, state)?;
        Ok(ConsumerInfo {
            stream_name: stream.into(),
            name: name.into(),
            durable: m.config.is_durable(),
            created_ns: m.state.created_ns,
            delivered: SequenceInfo {
                consumer_seq: m.state.consumer_seq,
                stream_seq: m.state.cursor,
            },
            ack_floor: SequenceInfo {
                consumer_seq: m.ack_floor_consumer_seq(),
                stream_seq: m.ack_floor(),
            },
            num_ack_pending: m.pending.len() as u64,
            num_redelivered: m.num_redelivered(),
            num_pending,
            config: m.config,
        })
    }

    /// Removes ephemeral consumers idle for longer than their
    /// `inactive_threshold`; returns how many.
    pub(super) fn remove_idle_consumers(&self, handle: &StreamHandle) -> u64 {
        let now = now_ns();
        let idle: Vec<String> = lock(&handle.consumers)
            .iter()
            .filter(|(_, c)| {
                let m = lock(&c.machine);
                let threshold =
                    i64::try_from(m.config.inactive_threshold.as_nanos()).unwrap_or(i64::MAX);
                !m.config.is_durable() && now.saturating_sub(m.state.last_active_ns) > threshold
            })
            .map(|(n, _)| n.clone())
            .collect();
        for name in &idle {
            if let Some(c) = lock(&handle.consumers).remove(name) {
                c.deleted.store(true, Ordering::Release);
                c.changed.notify_waiters();
                tracing::info!(stream = %handle.name, consumer = %name, "idle ephemeral consumer removed");
            }
        }
        idle.len() as u64
    }
}

#[cfg(test)]
mod tests;
