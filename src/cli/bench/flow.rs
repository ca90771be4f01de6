//! Workloads that keep many messages in flight: one publisher with a
//! window of unanswered publishes, and that publisher fanned out to many
//! live subscribers. hivelog: WebSocket `pub` ops (stored and answered in
//! the order sent) and WebSocket subscribers; nats-server: JetStream
//! publishes whose ack futures are held, and core subscribers, each on a
//! connection of its own as separate processes would be.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::workloads::{Sample, Target};
use crate::api::ws::protocol::{ClientOp, Deliver};

/// How long to wait for an answer, and for the last deliveries once the
/// publisher stops.
const PATIENCE: Duration = Duration::from_secs(5);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Each subscriber's arrivals: (message number, when).
type Arrivals = Arc<Mutex<Vec<(usize, Instant)>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A 256-byte payload that carries its number, so a subscriber can time
/// it from its send.
pub fn numbered(i: usize) -> String {
    let mut p = format!("n-{i}-");
    p.extend(std::iter::repeat_n('x', 256usize.saturating_sub(p.len())));
    p
}

pub fn number_of(text: &str) -> Option<usize> {
    text.strip_prefix("n-")?.split('-').next()?.parse().ok()
}

/// A WebSocket subscribed to `subject`, confirmed: ops on a connection are
/// handled in order, so the pong says the subscription is in place.
pub async fn ws_subscriber(base: &str, subject: &str) -> anyhow::Result<Ws> {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(base)).await?;
    let sub = ClientOp::Sub {
        sid: Value::from(1),
        subject: subject.to_string(),
        deliver: Deliver::New,
        durable: None,
        ack: false,
    };
    ws.send(WsMessage::text(serde_json::to_string(&sub)?))
        .await?;
    ws.send(WsMessage::text(serde_json::to_string(&ClientOp::Ping)?))
        .await?;
    tokio::time::timeout(PATIENCE, async {
        while let Some(frame) = ws.next().await {
            if let Some(v) = json_frame(frame?) {
                anyhow::ensure!(v["op"] != "err", "subscribe refused: {v}");
                if v["op"] == "pong" {
                    return Ok(());
                }
            }
        }
        anyhow::bail!("the WebSocket closed before answering ping")
    })
    .await
    .map_err(|_| anyhow::anyhow!("no pong within {PATIENCE:?}"))??;
    Ok(ws)
}

fn ws_url(base: &str) -> String {
    format!("{}/ws", base.replacen("http", "ws", 1))
}

fn json_frame(frame: WsMessage) -> Option<Value> {
    match frame {
        WsMessage::Text(text) => serde_json::from_str(&text).ok(),
        _ => None,
    }
}

/// The number a delivered message carries (a hivelog `msg` frame).
pub fn ws_delivery(frame: WsMessage) -> Option<usize> {
    let v = json_frame(frame)?;
    (v["op"] == "msg").then(|| v["text"].as_str().and_then(number_of))?
}

/// What a window run sent: each message's send time (message `i` at
/// `i - 1`) and each ack's latency.
struct Sent {
    at: Vec<Instant>,
    acks: Vec<Duration>,
}

impl Target {
    /// Publishes until `for_how_long` has passed, keeping up to `window`
    /// publishes unanswered.
    pub(super) async fn pipelined(
        &self,
        for_how_long: Duration,
        window: usize,
    ) -> anyhow::Result<Sample> {
        let started = Instant::now();
        let sent = self
            .publish_window("bench.w", window, started + for_how_long)
            .await?;
        Ok(Sample {
            ops: sent.acks.len() as u64,
            elapsed: started.elapsed(),
            latencies: sent.acks,
            lost: 0,
        })
    }

    /// A windowed publisher and `subscribers` live subscribers; an
    /// operation is one message reaching one subscriber, timed from its
    /// send.
    pub(super) async fn fan_out(
        &self,
        for_how_long: Duration,
        window: usize,
        subscribers: usize,
    ) -> anyhow::Result<Sample> {
        const SUBJECT: &str = "bench.fan";
        let mut readers = Vec::with_capacity(subscribers);
        let mut arrivals: Vec<Arrivals> = Vec::with_capacity(subscribers);
        for _ in 0..subscribers {
            let mine = Arrivals::default();
            arrivals.push(mine.clone());
            readers.push(match self {
                Target::Hivelog { base, .. } => {
                    let mut ws = ws_subscriber(base, SUBJECT).await?;
                    tokio::spawn(async move {
                        while let Some(Ok(frame)) = ws.next().await {
                            let at = Instant::now();
                            if let Some(i) = ws_delivery(frame) {
                                lock(&mine).push((i, at));
                            }
                        }
                    })
                }
                Target::Nats { url, .. } => {
                    let client = async_nats::connect(url.as_str()).await?;
                    let mut sub = client.subscribe(SUBJECT.to_string()).await?;
                    // The server has the subscription once it answers.
                    client.flush().await?;
                    tokio::spawn(async move {
                        let _client = client;
                        while let Some(m) = sub.next().await {
                            let at = Instant::now();
                            if let Some(i) =
                                std::str::from_utf8(&m.payload).ok().and_then(number_of)
                            {
                                lock(&mine).push((i, at));
                            }
                        }
                    })
                }
            });
        }
        let started = Instant::now();
        let published = self
            .publish_window(SUBJECT, window, started + for_how_long)
            .await;
        let count = published.as_ref().map_or(0, |s| s.at.len());
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline && arrivals.iter().any(|a| lock(a).len() < count) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for r in &readers {
            r.abort();
        }
        let sent = published?;
        let mut latencies = Vec::with_capacity(count * subscribers);
        let mut last = started;
        for a in &arrivals {
            for &(i, at) in lock(a).iter() {
                if let Some(t) = i.checked_sub(1).and_then(|k| sent.at.get(k)) {
                    latencies.push(at.saturating_duration_since(*t));
                    last = last.max(at);
                }
            }
        }
        // Counted, not fatal: how each side treats a subscriber that
        // falls behind is part of what is measured.
        let lost = (count * subscribers).saturating_sub(latencies.len()) as u64;
        Ok(Sample {
            ops: latencies.len() as u64,
            elapsed: last.saturating_duration_since(started),
            latencies,
            lost,
        })
    }

    /// Numbered publishes (1, 2, …) on `subject` until `until`, never more
    /// than `window` unanswered; every one answered before this returns.
    async fn publish_window(
        &self,
        subject: &str,
        window: usize,
        until: Instant,
    ) -> anyhow::Result<Sent> {
        let window = window.max(1);
        let mut sent = Sent {
            at: Vec::new(),
            acks: Vec::new(),
        };
        match self {
            Target::Hivelog { base, .. } => {
                let (ws, _) = tokio_tungstenite::connect_async(ws_url(base)).await?;
                let (mut sink, mut stream) = ws.split();
                let mut unanswered = 0;
                loop {
                    while unanswered < window && Instant::now() < until {
                        let i = sent.at.len() + 1;
                        let op = ClientOp::Pub {
                            id: Value::from(i),
                            subject: subject.to_string(),
                            data: None,
                            text: Some(numbered(i)),
                            data_b64: None,
                            msg_id: None,
                            expect_last_subject_seq: None,
                        };
                        sent.at.push(Instant::now());
                        sink.feed(WsMessage::text(serde_json::to_string(&op)?))
                            .await?;
                        unanswered += 1;
                    }
                    sink.flush().await?;
                    if unanswered == 0 {
                        break;
                    }
                    let frame = tokio::time::timeout(PATIENCE, stream.next())
                        .await
                        .map_err(|_| anyhow::anyhow!("no puback within {PATIENCE:?}"))?
                        .ok_or_else(|| anyhow::anyhow!("the publisher's WebSocket closed"))??;
                    let Some(v) = json_frame(frame) else { continue };
                    anyhow::ensure!(v["op"] != "err", "publish refused: {v}");
                    if v["op"] == "puback" {
                        let i = v["id"].as_u64().unwrap_or(0) as usize;
                        let t = i.checked_sub(1).and_then(|k| sent.at.get(k));
                        let t = t.ok_or_else(|| anyhow::anyhow!("a puback for no publish: {v}"))?;
                        sent.acks.push(t.elapsed());
                        unanswered -= 1;
                    }
                }
            }
            Target::Nats { js, .. } => {
                let mut unanswered = VecDeque::with_capacity(window);
                loop {
                    while unanswered.len() < window && Instant::now() < until {
                        let i = sent.at.len() + 1;
                        sent.at.push(Instant::now());
                        let ack = js.publish(subject.to_string(), numbered(i).into()).await?;
                        unanswered.push_back((i, ack));
                    }
                    let Some((i, ack)) = unanswered.pop_front() else {
                        break;
                    };
                    ack.await?;
                    sent.acks.push(sent.at[i - 1].elapsed());
                }
            }
        }
        Ok(sent)
    }
}
