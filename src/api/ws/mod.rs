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

mod durable;
mod gate;
mod ops;
pub mod protocol;
mod publish;
mod shared;
mod subscription;

pub use gate::DurableGates;
pub(crate) use protocol::fuzz_frame;
pub use shared::Shared;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message as Frame, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use tracing::Instrument;

use super::auth::{Caller, Role};
use super::AppState;
use crate::api::openapi::{get_op, Routes};
use crate::log::DEFAULT_MAX_MSG_SIZE;
use publish::InFlight;

pub use shared::Outbound;

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
        vec![get_op(
            "WebSocket: subscribe to subjects, publish, ack (protocol in docs/websocket.md)",
        )
        .answers(400, "not a WebSocket upgrade")],
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

impl Connection {
    fn new(state: AppState, role: Role) -> Self {
        let (out, outbound) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::new(
            state.ws.max_pending,
            out,
            state.ws_gates.clone(),
        ));
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
    frame: &protocol::ServerFrame,
) -> bool {
    let text = serde_json::to_string(frame).unwrap_or_default();
    write(sink, Frame::Text(Utf8Bytes::from(text))).await
}
