//! A connection's outbound queue, shared with its subscription and
//! publish tasks: measured in bytes, as NATS measures a slow consumer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, Notify};

use super::protocol::ServerFrame;

/// What the connection queues for its socket: a serialized frame and the
/// bytes of budget it holds.
#[derive(Debug)]
pub enum Outbound {
    Text { text: Utf8Bytes, cost: u32 },
}

/// What a durable `ack: true` subscription has taken from its consumer
/// (sent, or waiting to be) and not had acked.
#[derive(Debug, Default)]
pub struct DurableAcks {
    pub stream: String,
    pub consumer: String,
    pub unacked: std::collections::BTreeSet<u64>,
}

/// Per-connection state shared with its tasks.
pub struct Shared {
    pub out: mpsc::UnboundedSender<Outbound>,
    /// The byte budget of the queue: a queued frame holds its size in
    /// permits until the socket has taken it.
    pub budget: tokio::sync::Semaphore,
    budget_total: usize,
    pub slow: AtomicBool,
    pub slow_signal: Notify,
    /// Durable subscriptions that take acks, by sid.
    pub acks: std::sync::Mutex<HashMap<String, DurableAcks>>,
    /// The server's durable sessions (gate.rs).
    pub gates: Arc<super::gate::DurableGates>,
}

impl Shared {
    /// A connection's queue, allowed `max_pending` bytes.
    pub fn new(
        max_pending: usize,
        out: mpsc::UnboundedSender<Outbound>,
        gates: Arc<super::gate::DurableGates>,
    ) -> Shared {
        let budget_total = max_pending.max(64 * 1024);
        Shared {
            out,
            budget: tokio::sync::Semaphore::new(budget_total),
            budget_total,
            slow: AtomicBool::new(false),
            slow_signal: Notify::new(),
            acks: Default::default(),
            gates,
        }
    }

    fn frame(&self, frame: &ServerFrame) -> (Utf8Bytes, u32) {
        // Our own frames always serialize.
        let text = serde_json::to_string(frame).unwrap_or_default();
        // A frame bigger than the whole budget takes all of it.
        let cost = text.len().clamp(1, self.budget_total) as u32;
        (Utf8Bytes::from(text), cost)
    }

    /// Queues a live frame; past the byte budget the connection is slow.
    pub fn push(&self, frame: ServerFrame) -> bool {
        let (text, cost) = self.frame(&frame);
        match self.budget.try_acquire_many(cost) {
            Ok(permit) => {
                permit.forget();
                self.out.send(Outbound::Text { text, cost }).is_ok()
            }
            Err(_) => {
                self.mark_slow();
                false
            }
        }
    }

    /// Queues a frame, waiting for room in the budget (history, durable
    /// deliveries, answers: paced by the socket, never dropped). False
    /// when the connection is gone.
    pub async fn send_paced(&self, frame: ServerFrame) -> bool {
        let (text, cost) = self.frame(&frame);
        match self.budget.acquire_many(cost).await {
            Ok(permit) => {
                permit.forget();
                self.out.send(Outbound::Text { text, cost }).is_ok()
            }
            Err(_) => false,
        }
    }

    /// Waits until at least `bytes` of the budget are free.
    pub async fn room_for(&self, bytes: usize) -> bool {
        let want = bytes.clamp(1, self.budget_total) as u32;
        self.budget.acquire_many(want).await.is_ok()
    }

    pub fn mark_slow(&self) {
        if !self.slow.swap(true, Ordering::AcqRel) {
            self.slow_signal.notify_one();
        }
    }
}
