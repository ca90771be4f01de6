//! The workloads, each written for both targets with their own best
//! client: HTTP for hivelog, `async-nats` for nats-server. A run measures
//! operations per second and the latency of each operation.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::log::ConsumerConfig;
use crate::ops::consumers::{AckRequest, Fetched};
use anyhow::Context;
use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;

pub(super) const PAYLOAD: usize = 256;
pub(super) const AGENTS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// One publisher, each publish waiting for its ack.
    Publish,
    /// 16 publishers at once, each waiting for its acks.
    Publish16,
    /// A pull consumer fetching 100 at a time and acking them.
    FetchAck,
    /// 16 agents taking work and finishing it (hivelog: claim-next +
    /// complete; NATS: a work-queue stream, fetch 1 + acked ack).
    Claim,
    /// Publish → live subscriber latency at 1,000 msgs/s (latency.rs).
    Latency,
    /// One publisher keeping `--window` publishes unanswered (flow.rs).
    Pipelined,
    /// A `--window` publisher, `--subscribers` live subscribers; an
    /// operation is one delivery (flow.rs).
    FanOut,
}

/// How big and how long each run is.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub duration: Duration,
    /// Messages per fetch+ack run and tasks per claim run.
    pub size: usize,
    pub window: usize,
    pub subscribers: usize,
}

pub enum Target {
    Hivelog {
        base: String,
        http: reqwest::Client,
    },
    Nats {
        js: Box<jetstream::Context>,
        client: async_nats::Client,
        /// For subscribers on connections of their own.
        url: String,
    },
}

/// What one run did.
pub struct Sample {
    pub ops: u64,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
    /// Deliveries that never arrived (fan-out: a subscriber too slow for
    /// the publisher; core NATS drops for it, hivelog disconnects it).
    pub lost: u64,
}

pub(super) type Lat = Arc<Mutex<Vec<Duration>>>;

/// This run's tag, part of every task id, subject and consumer name the
/// workloads create, so a second run against the same running server
/// starts from nothing of the first's (same ids would find the first
/// run's tasks already done and measure nothing).
pub(super) fn run_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{:x}", nanos % (1 << 48))
    })
}

impl Target {
    pub async fn hivelog(base: &str) -> anyhow::Result<Target> {
        let t = Target::Hivelog {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        };
        let body = crate::log::StreamConfig::new("BENCH", &["bench.>"]);
        let resp = t.post("/api/streams", &body).await?;
        anyhow::ensure!(
            resp.status().is_success() || resp.status().as_u16() == 409,
            "cannot create stream BENCH: {}",
            resp.status()
        );
        Ok(t)
    }

    pub async fn nats(url: &str) -> anyhow::Result<Target> {
        let client = async_nats::connect(url)
            .await
            .context("cannot connect to NATS")?;
        let js = jetstream::new(client.clone());
        js.get_or_create_stream(stream::Config {
            name: "BENCH".into(),
            subjects: vec!["bench.>".into()],
            ..Default::default()
        })
        .await?;
        js.get_or_create_stream(stream::Config {
            name: "BENCHQ".into(),
            subjects: vec!["benchq.>".into()],
            retention: stream::RetentionPolicy::WorkQueue,
            ..Default::default()
        })
        .await?;
        Ok(Target::Nats {
            js: Box::new(js),
            client,
            url: url.to_string(),
        })
    }

    pub(super) async fn post(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> anyhow::Result<reqwest::Response> {
        let Target::Hivelog { base, http } = self else {
            anyhow::bail!("not hivelog");
        };
        Ok(http.post(format!("{base}{path}")).json(body).send().await?)
    }

    /// One publish of 256 bytes, answered once stored.
    async fn publish(&self, subject: &str) -> anyhow::Result<()> {
        let payload = vec![b'x'; PAYLOAD];
        match self {
            Target::Hivelog { base, http } => {
                let r = http
                    .post(format!("{base}/api/pub/{subject}"))
                    .body(payload)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "publish answered {}", r.status());
            }
            Target::Nats { js, .. } => {
                js.publish(subject.to_string(), payload.into())
                    .await?
                    .await?;
            }
        }
        Ok(())
    }

    pub async fn run(&self, w: Workload, p: &Params, round: usize) -> anyhow::Result<Sample> {
        match w {
            Workload::Publish => self.publishers(1, p.duration).await,
            Workload::Publish16 => self.publishers(AGENTS, p.duration).await,
            Workload::FetchAck => self.fetch_ack(p.size, round).await,
            Workload::Claim => self.claim(p.size, round).await,
            Workload::Latency => self.latency(p.duration).await,
            Workload::Pipelined => self.pipelined(p.duration, p.window).await,
            Workload::FanOut => self.fan_out(p.duration, p.window, p.subscribers).await,
        }
    }

    async fn publishers(&self, n: usize, seconds: Duration) -> anyhow::Result<Sample> {
        let lat: Lat = Arc::default();
        let started = Instant::now();
        let until = started + seconds;
        let mut jobs = Vec::new();
        for _ in 0..n {
            let lat = lat.clone();
            jobs.push(async move {
                let mut mine = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    self.publish("bench.p").await?;
                    mine.push(t.elapsed());
                }
                lock(&lat).extend(mine);
                anyhow::Ok(())
            });
        }
        for r in futures_util::future::join_all(jobs).await {
            r?;
        }
        Ok(sample(lat, started.elapsed()))
    }

    /// Publishes `size` messages (not measured), then reads them through a
    /// new pull consumer, 100 per fetch, acking each batch.
    async fn fetch_ack(&self, size: usize, round: usize) -> anyhow::Result<Sample> {
        let subject = format!("bench.f{}.{round}", run_tag());
        let fill: Vec<_> = (0..AGENTS)
            .map(|w| {
                let subject = subject.clone();
                async move {
                    for _ in (w..size).step_by(AGENTS) {
                        self.publish(&subject).await?;
                    }
                    anyhow::Ok(())
                }
            })
            .collect();
        for r in futures_util::future::join_all(fill).await {
            r?;
        }
        let name = format!("fa{}-{round}", run_tag());
        let consumers = "/api/streams/BENCH/consumers";
        let nats_consumer = match self {
            Target::Hivelog { .. } => {
                let config = ConsumerConfig {
                    durable_name: Some(name.clone()),
                    filter_subjects: vec![subject.clone()],
                    ..ConsumerConfig::default()
                };
                let r = self.post(consumers, &config).await?;
                anyhow::ensure!(r.status().is_success(), "create consumer: {}", r.status());
                None
            }
            Target::Nats { js, .. } => Some(
                js.get_stream("BENCH")
                    .await?
                    .create_consumer(consumer::pull::Config {
                        durable_name: Some(name.clone()),
                        filter_subject: subject,
                        ..Default::default()
                    })
                    .await?,
            ),
        };
        let mut latencies = Vec::new();
        let started = Instant::now();
        let mut done = 0;
        while done < size {
            let t = Instant::now();
            let got = match &nats_consumer {
                None => {
                    // Waits for the first (with --sync interval a message is readable
                    // once flushed), then takes what is there.
                    let next = format!("{consumers}/{name}/next?batch=100&expires=2s");
                    let got: Fetched = self.post(&next, &()).await?.json().await?;
                    let seqs: Vec<u64> =
                        got.messages.iter().filter_map(|m| m.message.seq).collect();
                    let n = seqs.len();
                    if n > 0 {
                        let ack = format!("{consumers}/{name}/ack");
                        let body = AckRequest {
                            seqs: Some(seqs),
                            ..AckRequest::default()
                        };
                        let r = self.post(&ack, &body).await?;
                        anyhow::ensure!(r.status().is_success(), "ack: {}", r.status());
                    }
                    n
                }
                Some(c) => {
                    let mut batch = c.fetch().max_messages(100).messages().await?;
                    let mut got = 0;
                    while let Some(m) = batch.next().await {
                        let m = m.map_err(|e| anyhow::anyhow!("{e}"))?;
                        m.ack().await.map_err(|e| anyhow::anyhow!("{e}"))?;
                        got += 1;
                    }
                    got
                }
            };
            anyhow::ensure!(got > 0, "the consumer ran dry at {done} of {size}");
            done += got;
            latencies.push(t.elapsed());
        }
        Ok(Sample {
            ops: done as u64,
            elapsed: started.elapsed(),
            latencies,
            lost: 0,
        })
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn sample(lat: Lat, elapsed: Duration) -> Sample {
    let latencies = std::mem::take(&mut *lock(&lat));
    Sample {
        ops: latencies.len() as u64,
        elapsed,
        latencies,
        lost: 0,
    }
}
