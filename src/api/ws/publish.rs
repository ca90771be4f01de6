//! Publishes over a WebSocket: handed to the log in frame order, so what
//! is stored, delivered and answered follows the order sent, with up to
//! `PUBLISHES_IN_FLIGHT` of them pipelined.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;

use super::protocol::{self, ServerFrame};
use super::{Connection, Shared, TaskCount};
use crate::log::{PubAck, PublishOptions};

/// A publish handed on in frame order, answered when it is stored.
pub(super) type InFlight =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<PubAck, String>> + Send>>;

/// Publishes of one connection in flight at once; past this the
/// connection stops reading until answers go out.
const PUBLISHES_IN_FLIGHT: usize = 1024;

impl Connection {
    /// The queue of publishes waiting for answers, started on first use.
    fn publishes(&mut self) -> &mpsc::Sender<(Value, InFlight)> {
        self.pubs.get_or_insert_with(|| {
            let (pubs, in_flight) = mpsc::channel(PUBLISHES_IN_FLIGHT);
            let (answers, count) = (
                self.shared.clone(),
                TaskCount::new(self.state.ws_stats.clone()),
            );
            self.tasks.spawn(async move {
                let _count = count;
                answer_publishes(answers, in_flight).await;
            });
            pubs
        })
    }

    /// Room for one more publish (reading pauses without it).
    pub(super) fn can_publish(&self) -> bool {
        self.pubs.as_ref().is_none_or(|p| p.capacity() > 0)
    }

    /// A `pub` frame, its payload and options already read: handed to the
    /// log (or JetStream) now, answered by `answer_publishes` in order.
    pub(super) fn on_pub(
        &mut self,
        id: Value,
        subject: String,
        payload: Vec<u8>,
        opts: PublishOptions,
    ) -> bool {
        // Handed to the log here, in frame order, so the stored
        // order and what subscribers see is the order sent; the
        // answers come back in that order too.
        let pending = self.state.streams.publish_in_order(&subject, payload, opts);
        let pending: InFlight = Box::pin(async move { pending.await.map_err(|e| e.to_string()) });
        if self.publishes().try_send((id, pending)).is_err() {
            // Only this loop sends, and it reads only with room.
            return self.protocol_error("too many publishes in flight");
        }
        true
    }
}

/// Answers a connection's publishes in the order they were sent. Waiting
/// for each in turn costs nothing in throughput: every one of them is
/// already queued in the log, so they are committed together.
async fn answer_publishes(shared: Arc<Shared>, mut in_flight: mpsc::Receiver<(Value, InFlight)>) {
    while let Some((id, pending)) = in_flight.recv().await {
        let frame = match pending.await {
            Ok(ack) => ServerFrame::Puback {
                id: id.clone(),
                stream: ack.stream,
                seq: ack.seq,
                duplicate: ack.duplicate,
            },
            Err(e) => protocol::err_for(&id, e),
        };
        // Paced by the socket: an answer is never dropped as "slow".
        if !shared.send_paced(frame).await {
            return;
        }
    }
}
