//! Publish → subscriber latency at a fixed rate: one publisher sends a
//! stored message every millisecond (1,000 msgs/s) and a live subscriber
//! times each arrival from its send. hivelog: HTTP publish, WebSocket
//! subscriber; nats-server: JetStream publish, core NATS subscriber. Rate,
//! not throughput, is fixed, so the figure that matters is the tail
//! (p99, p99.9).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::flow::{number_of, numbered, ws_delivery, ws_subscriber};
use super::workloads::{Sample, Target};

pub const RATE_PER_S: u64 = 1_000;
const SUBJECT: &str = "bench.lat";
/// How long to wait for the last messages after the publisher stops.
const DRAIN: Duration = Duration::from_secs(2);

/// Send times by message number.
type Sent = Arc<Mutex<Vec<Option<Instant>>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn payload(i: usize) -> Vec<u8> {
    numbered(i).into_bytes()
}

impl Target {
    pub(super) async fn latency(&self, seconds: Duration) -> anyhow::Result<Sample> {
        let count = (seconds.as_secs_f64() * RATE_PER_S as f64).ceil().max(1.0) as usize;
        let sent: Sent = Arc::new(Mutex::new(vec![None; count + 1]));
        // The subscriber, ready before the first send (message 0 is a
        // warm-up that proves the subscription is live).
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
        let reader = match self {
            Target::Hivelog { base, http } => {
                let mut ws = ws_subscriber(base, SUBJECT).await?;
                let warm = http
                    .post(format!("{base}/api/pub/{SUBJECT}"))
                    .body(payload(0));
                let handle = tokio::spawn(async move {
                    while let Some(Ok(frame)) = ws.next().await {
                        let at = Instant::now();
                        if let Some(i) = ws_delivery(frame) {
                            if tx.send((i, at)).is_err() {
                                break;
                            }
                        }
                    }
                });
                anyhow::ensure!(
                    warm.send().await?.status().is_success(),
                    "the warm-up publish was refused"
                );
                handle
            }
            Target::Nats { js, client, .. } => {
                let mut sub = client.subscribe(SUBJECT.to_string()).await?;
                client.flush().await?;
                let handle = tokio::spawn(async move {
                    while let Some(m) = sub.next().await {
                        let at = Instant::now();
                        if let Some(i) = std::str::from_utf8(&m.payload).ok().and_then(number_of) {
                            if tx.send((i, at)).is_err() {
                                break;
                            }
                        }
                    }
                });
                js.publish(SUBJECT.to_string(), payload(0).into())
                    .await?
                    .await?;
                handle
            }
        };
        // The warm-up message arrives before timing starts.
        tokio::time::timeout(Duration::from_secs(5), async {
            while let Some((i, _)) = rx.recv().await {
                if i == 0 {
                    break;
                }
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("the subscriber did not receive the warm-up message"))?;

        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE_PER_S));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        // Each send is a task of its own: a slow publish must not hold
        // back the next one, or the rate would not be fixed.
        let sender = self.sender();
        let mut sends = Vec::with_capacity(count);
        for i in 1..=count {
            tick.tick().await;
            lock(&sent)[i] = Some(Instant::now());
            let s = sender.clone();
            sends.push(tokio::spawn(async move { s.send(i).await }));
        }
        for s in sends {
            s.await??;
        }
        let mut latencies = Vec::with_capacity(count);
        let mut seen = vec![false; count + 1];
        let deadline = tokio::time::Instant::now() + DRAIN;
        while latencies.len() < count {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((i, at))) if (1..=count).contains(&i) && !seen[i] => {
                    seen[i] = true;
                    if let Some(t) = lock(&sent)[i] {
                        latencies.push(at.saturating_duration_since(t));
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        reader.abort();
        anyhow::ensure!(
            latencies.len() == count,
            "{} of {count} messages reached the subscriber",
            latencies.len()
        );
        Ok(Sample {
            ops: latencies.len() as u64,
            elapsed: started.elapsed(),
            latencies,
            lost: 0,
        })
    }

    fn sender(&self) -> Sender {
        match self {
            Target::Hivelog { base, http } => Sender::Http {
                url: format!("{base}/api/pub/{SUBJECT}"),
                http: http.clone(),
            },
            Target::Nats { js, .. } => Sender::Js((**js).clone()),
        }
    }
}

/// What the publisher tasks send with.
#[derive(Clone)]
enum Sender {
    Http { url: String, http: reqwest::Client },
    Js(async_nats::jetstream::Context),
}

impl Sender {
    async fn send(&self, i: usize) -> anyhow::Result<()> {
        match self {
            Sender::Http { url, http } => {
                let r = http.post(url).body(payload(i)).send().await?;
                anyhow::ensure!(r.status().is_success(), "publish answered {}", r.status());
            }
            Sender::Js(js) => {
                js.publish(SUBJECT.to_string(), payload(i).into())
                    .await?
                    .await?;
            }
        }
        Ok(())
    }
}
