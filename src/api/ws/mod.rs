//! `GET /ws`: live subjects over WebSocket (protocol in `protocol.rs`).
//!
//! One loop per connection owns the socket: it reads client ops, writes
//! every outbound frame from one queue, and pings. Subscriptions and
//! publishes run as tasks in the connection's `JoinSet` and only ever push
//! into that queue. The queue is measured in bytes, as NATS measures a
//! slow consumer (`--ws-max-pending-mb`, 64 MiB): live messages that would
//! go past it mark the connection slow — it gets
//! `{"op":"err","detail":"slow consumer"}` and is closed — while replayed
//! history, durable deliveries and a publisher's own answers wait for room
//! instead (and a publisher's frames are not read while its answers wait). When the loop ends for any reason, every task is aborted and
//! awaited before the socket is dropped, so nothing is sent after close.

mod on_nats;
mod protocol;
mod subscription;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message as Frame, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};
use tokio::task::{AbortHandle, JoinSet};
use tracing::Instrument;

use super::auth::{Caller, Role};
use super::AppState;
use crate::api::openapi::{get_op, Routes};
use crate::log::{PubAck, PublishOptions, DEFAULT_MAX_MSG_SIZE};

/// A publish handed on in frame order, answered when it is stored.
type InFlight = std::pin::Pin<Box<dyn std::future::Future<Output = Result<PubAck, String>> + Send>>;
use protocol::ClientOp;
pub use subscription::Outbound;

/// Bytes queued per connection before live messages mark it slow, by
/// default (NATS's default is 64 MB too).
pub const DEFAULT_MAX_PENDING: usize = 64 * 1024 * 1024;
/// Consecutive bad frames after which a connection is closed.
const MAX_PROTOCOL_ERRORS: u32 = 20;
/// How long one socket write may take before the peer counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Keepalive settings (`--ws-ping-interval`, `--ws-stale-timeout`).
#[derive(Debug, Clone, Copy)]
pub struct WsConfig {
    pub ping_interval: Duration,
    pub stale_timeout: Duration,
    /// Bytes a connection may have queued (`--ws-max-pending-mb`).
    pub max_pending: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            ping_interval: Duration::from_secs(25),
            stale_timeout: Duration::from_secs(90),
            max_pending: DEFAULT_MAX_PENDING,
        }
    }
}

/// Live counts, for /health and `$SYS.metrics`; tests use them to check
/// that closed connections leave nothing behind.
#[derive(Debug, Default)]
pub struct WsStats {
    pub connections: AtomicUsize,
    pub tasks: AtomicUsize,
    pub slow_consumers: AtomicUsize,
}

pub fn routes() -> Routes {
    Routes::new("server").route(
        "/ws",
        get(upgrade),
        vec![
            get_op("WebSocket: subscribe to subjects, publish, ack (protocol in the README)")
                .answers(400, "not a WebSocket upgrade"),
        ],
    )
}

async fn upgrade(
    State(state): State<AppState>,
    caller: Option<axum::Extension<Caller>>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    ws: WebSocketUpgrade,
) -> Response {
    // Open routes carry no caller; /ws is never open, so this is only the
    // no-token case.
    let role = caller.map_or(Role::Admin, |c| c.0.role);
    let ip = peer.map(|p| p.0 .0.ip());
    let open_now = state.ws_stats.connections.load(Ordering::Relaxed);
    if let Err(e) = state.limits.open_ws(ip, open_now) {
        return axum::response::IntoResponse::into_response(e);
    }
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let span = tracing::info_span!("ws", conn = NEXT.fetch_add(1, Ordering::Relaxed));
    // tungstenite reads into a 128 KiB buffer by default; most frames are
    // small and idle dashboards are many, so start smaller (it grows).
    let failed = state.limits.clone();
    let max_frame = state.limits.config.ws_max_frame;
    ws.max_message_size(max_frame)
        .max_frame_size(max_frame)
        .read_buffer_size(16 * 1024)
        .write_buffer_size(16 * 1024)
        .on_failed_upgrade(move |e| {
            tracing::debug!(error = %e, "websocket upgrade failed");
            failed.close_ws(ip);
        })
        .on_upgrade(move |socket| async move {
            let limits = state.limits.clone();
            Connection::new(state, role)
                .run(socket)
                .instrument(span)
                .await;
            limits.close_ws(ip);
        })
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
    pub acks: std::sync::Mutex<HashMap<String, subscription::DurableAcks>>,
}

impl Shared {
    fn frame(&self, frame: &Value) -> (Utf8Bytes, u32) {
        let text = frame.to_string();
        // A frame bigger than the whole budget takes all of it.
        let cost = text.len().clamp(1, self.budget_total) as u32;
        (Utf8Bytes::from(text), cost)
    }

    /// Queues a live frame; past the byte budget the connection is slow.
    pub fn push(&self, frame: Value) -> bool {
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
    pub async fn send_paced(&self, frame: Value) -> bool {
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

struct Connection {
    state: AppState,
    shared: Arc<Shared>,
    outbound: mpsc::UnboundedReceiver<Outbound>,
    tasks: JoinSet<()>,
    subs: HashMap<String, AbortHandle>,
    /// Publishes handed to the log, in the order the client sent them,
    /// waiting for their answers (see `answer_publishes`). Made on the
    /// first publish: most connections (dashboards) only subscribe.
    pubs: Option<mpsc::Sender<(Value, InFlight)>>,
    errors: u32,
    /// What the connection's token may do: publishing needs `agent`.
    role: Role,
}

/// Publishes of one connection in flight at once; past this the
/// connection stops reading until answers go out.
const PUBLISHES_IN_FLIGHT: usize = 1024;

impl Connection {
    fn new(state: AppState, role: Role) -> Self {
        let (out, outbound) = mpsc::unbounded_channel();
        let budget_total = state.ws.max_pending.max(64 * 1024);
        let shared = Arc::new(Shared {
            out,
            budget: tokio::sync::Semaphore::new(budget_total),
            budget_total,
            slow: AtomicBool::new(false),
            slow_signal: Notify::new(),
            acks: Default::default(),
        });
        Connection {
            state,
            shared,
            outbound,
            tasks: JoinSet::new(),
            subs: HashMap::new(),
            pubs: None,
            errors: 0,
            role,
        }
    }

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
    fn can_publish(&self) -> bool {
        self.pubs.as_ref().is_none_or(|p| p.capacity() > 0)
    }

    async fn run(mut self, socket: WebSocket) {
        let stats = self.state.ws_stats.clone();
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let (mut sink, mut stream) = socket.split();
        let cfg = self.state.ws;
        let hello = protocol::info(
            &self.state.server_id,
            DEFAULT_MAX_MSG_SIZE,
            cfg.ping_interval.as_secs(),
            cfg.stale_timeout.as_secs(),
        );
        let mut open = send_json(&mut sink, &hello).await;
        let mut cut_slow = false;
        let mut last_heard = Instant::now();
        let mut ping = tokio::time::interval(cfg.ping_interval);
        ping.tick().await;
        while open {
            tokio::select! {
                biased;
                _ = self.shared.slow_signal.notified() => {
                    cut_slow = true;
                    break;
                }
                // Reads pause while the connection's publishes wait for
                // room, so one client cannot queue without bound.
                inbound = stream.next(), if self.can_publish() => {
                    last_heard = Instant::now();
                    match inbound {
                        Some(Ok(Frame::Text(text))) => open = self.on_text(&text),
                        Some(Ok(Frame::Binary(_))) => open = self.protocol_error("binary frames are not supported; send JSON text frames"),
                        Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => {}
                        // A normal close, or a peer that vanished: either way
                        // this connection is over, and neither is an error.
                        Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => break,
                    }
                }
                frame = self.outbound.recv() => {
                    let Some(frame) = frame else { break };
                    open = match frame {
                        Outbound::Text { text, cost } => {
                            let sent = write(&mut sink, Frame::Text(text)).await;
                            self.shared.budget.add_permits(cost as usize);
                            sent
                        }
                    };
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > cfg.stale_timeout {
                        tracing::info!("websocket peer silent for too long; dropping it");
                        break;
                    }
                    open = write(&mut sink, Frame::Ping(Default::default())).await;
                }
            }
        }
        // A client that ran over its budget while a write to it was
        // blocked (it stopped reading) ends here when that write times
        // out: it is a slow consumer too, and counted as one.
        if cut_slow || self.shared.slow.load(Ordering::Acquire) {
            stats.slow_consumers.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("websocket client too slow; disconnecting");
            // Bypass the full queue: this is the last frame. A client that
            // reads nothing at all never sees it.
            let _ = send_json(&mut sink, &protocol::err("slow consumer")).await;
        }
        // Cancel and await every task of this connection before the socket
        // goes away, so none of them can outlive it.
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        stats.connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Handles one text frame; false closes the connection.
    fn on_text(&mut self, text: &str) -> bool {
        let op: ClientOp = match serde_json::from_str(text) {
            Ok(op) => op,
            Err(e) => return self.protocol_error(&format!("bad frame: {e}")),
        };
        self.errors = 0;
        match op {
            ClientOp::Ping => {
                self.shared.push(json!({"op": "pong"}));
            }
            ClientOp::Sub {
                sid,
                subject,
                deliver,
                durable,
                ack,
            } => {
                let key = match protocol::sid_key(&sid) {
                    Ok(k) => k,
                    Err(e) => return self.protocol_error(&e),
                };
                if let Err(e) = crate::log::subject::validate_pattern(&subject) {
                    return self.protocol_error(&e.to_string());
                }
                let most = self.state.limits.config.ws_subscriptions;
                if self.subs.len() >= most {
                    return self.protocol_error(&format!(
                        "this connection holds its limit of {most} subscriptions (--ws-max-subscriptions); unsub one first"
                    ));
                }
                if self.subs.contains_key(&key) {
                    return self.protocol_error(&format!(
                        "sid {key} is already subscribed; unsub it first"
                    ));
                }
                let nats = match self.state.coord.port() {
                    crate::coord::port::Backend::JetStream(p)
                        if on_nats::wants_nats(
                            p,
                            &subject,
                            durable.is_some(),
                            matches!(deliver.start(), Ok(crate::log::DeliverFrom::New)),
                        ) =>
                    {
                        Some((**p).clone())
                    }
                    _ => None,
                };
                let replay = match &durable {
                    Some(_) => None,
                    None if nats.is_some() => None,
                    None => match deliver.start().and_then(|from| {
                        self.state
                            .log
                            .subscribe_from(&subject, from)
                            .map_err(|e| e.to_string())
                    }) {
                        Ok(replay) => Some(replay),
                        Err(e) => return self.protocol_error(&e),
                    },
                };
                let job = subscription::Job {
                    sid,
                    subject,
                    deliver,
                    durable,
                    ack,
                    replay,
                    nats,
                };
                let (log, shared, stats) = (
                    self.state.log.clone(),
                    self.shared.clone(),
                    self.state.ws_stats.clone(),
                );
                let count = TaskCount::new(stats);
                let handle = self.tasks.spawn(async move {
                    // Moved in, so it drops even if the task is aborted
                    // before it ever runs.
                    let _count = count;
                    subscription::run(log, shared, job).await;
                });
                self.subs.insert(key, handle);
            }
            ClientOp::Unsub { sid } => {
                let key = protocol::sid_key(&sid).unwrap_or_default();
                match self.subs.remove(&key) {
                    Some(h) => {
                        h.abort();
                        crate::log::lock_unpoisoned(&self.shared.acks).remove(&key);
                    }
                    None => return self.protocol_error(&format!("no subscription with sid {key}")),
                }
            }
            ClientOp::Ack { sid, seq } => {
                // Acks only mean something to durable subscriptions with
                // ack: true, which read them from the log's consumer.
                subscription::ack(&self.state.log, &self.shared, &sid, seq);
            }
            ClientOp::Pub {
                id,
                subject,
                data,
                text,
                data_b64,
                msg_id,
                expect_last_subject_seq,
            } => {
                if self.role < Role::Agent {
                    self.shared.push(protocol::err_for(
                        &id,
                        format!(
                            "this token has the {} role; publishing needs agent",
                            self.role.as_str()
                        ),
                    ));
                    return true;
                }
                let payload = match protocol::payload(data, text, data_b64) {
                    Ok(p) => p,
                    Err(e) => {
                        self.shared.push(protocol::err_for(&id, e));
                        return true;
                    }
                };
                // Handed to the log here, in frame order, so the stored
                // order and what subscribers see is the order sent; the
                // answers come back in that order too.
                let opts = PublishOptions {
                    msg_id,
                    expected_last_subject_seq: expect_last_subject_seq,
                    ..Default::default()
                };
                let pending: InFlight = match self.state.nats_subject(&subject) {
                    // On the NATS backend, the history stream's subjects
                    // go to JetStream; the relay brings them back live.
                    // Sent when the answer before it is in, so in order.
                    Some(nats) => {
                        let nats = nats.clone();
                        Box::pin(async move {
                            nats.publish(&subject, payload, opts)
                                .await
                                .map_err(|e| e.to_string())
                        })
                    }
                    None => {
                        let relay = match self.state.coord.port() {
                            crate::coord::port::Backend::JetStream(n) => {
                                Some(((**n).clone(), subject.clone(), payload.clone()))
                            }
                            _ => None,
                        };
                        let pending = self.state.log.publish_pipelined(&subject, payload, opts);
                        Box::pin(async move {
                            let ack = pending.wait().await.map_err(|e| e.to_string())?;
                            // Kept by no stream here: the other instances'
                            // subscribers get it through NATS.
                            if let (Some((n, subject, payload)), None) = (relay, &ack.stream) {
                                n.relay_unstored(&subject, payload);
                            }
                            Ok(ack)
                        })
                    }
                };
                if self.publishes().try_send((id, pending)).is_err() {
                    // Only this loop sends, and it reads only with room.
                    return self.protocol_error("too many publishes in flight");
                }
            }
        }
        // Reap finished tasks so the set does not grow with every publish.
        while self.tasks.try_join_next().is_some() {}
        true
    }

    fn protocol_error(&mut self, detail: &str) -> bool {
        self.errors += 1;
        self.shared.push(protocol::err(detail));
        if self.errors >= MAX_PROTOCOL_ERRORS {
            tracing::info!(
                "closing a websocket after {} bad frames in a row",
                self.errors
            );
            return false;
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
            Ok(ack) => {
                json!({"op": "puback", "id": id, "stream": ack.stream, "seq": ack.seq, "duplicate": ack.duplicate})
            }
            Err(e) => protocol::err_for(&id, e),
        };
        // Paced by the socket: an answer is never dropped as "slow".
        if !shared.send_paced(frame).await {
            return;
        }
    }
}

/// A text frame through the parsing and checks `on_text` applies before it
/// touches any state (for the fuzz targets).
pub(crate) fn fuzz_frame(text: &str) {
    let Ok(op) = serde_json::from_str::<ClientOp>(text) else {
        return;
    };
    match op {
        ClientOp::Sub {
            sid,
            subject,
            deliver,
            ..
        } => {
            let _ = protocol::sid_key(&sid);
            let _ = crate::log::subject::validate_pattern(&subject);
            let _ = deliver.start();
        }
        ClientOp::Unsub { sid } => {
            let _ = protocol::sid_key(&sid);
        }
        ClientOp::Pub {
            data,
            text,
            data_b64,
            subject,
            ..
        } => {
            let _ = protocol::payload(data, text, data_b64);
            let _ = crate::log::subject::validate_subject(&subject);
        }
        ClientOp::Ack { .. } | ClientOp::Ping => {}
    }
}

/// Counts a connection task from spawn until its future is dropped
/// (finished or aborted).
struct TaskCount(Arc<WsStats>);

impl TaskCount {
    fn new(stats: Arc<WsStats>) -> Self {
        stats.tasks.fetch_add(1, Ordering::Relaxed);
        TaskCount(stats)
    }
}

impl Drop for TaskCount {
    fn drop(&mut self) {
        self.0.tasks.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn write(sink: &mut futures_util::stream::SplitSink<WebSocket, Frame>, frame: Frame) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, sink.send(frame)).await,
        Ok(Ok(()))
    )
}

async fn send_json(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Frame>,
    v: &Value,
) -> bool {
    write(sink, Frame::Text(Utf8Bytes::from(v.to_string()))).await
}
