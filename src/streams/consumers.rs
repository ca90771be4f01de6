//! Pull consumers of the streams kept in NATS, behind hivelog's consumer
//! routes: each is a JetStream consumer of the same name and settings, so
//! JetStream keeps its position and redeliveries, and NATS clients can use
//! it too. JetStream takes an ack on the delivery's reply subject, which
//! only the fetching connection learns; each fetch records it in the KV
//! bucket `HIVELOG_ACKS` under `<stream>.<consumer>.<seq>`, so an ack by
//! sequence works on any instance, as on the embedded backend.

use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;

mod settings;

use settings::{to_info, to_info_config, to_jetstream};

use super::generic::{unavailable, StreamError};
use super::JetStreamPort;
use crate::log::{
    AckKind, AckOutcome, ConsumerConfig, ConsumerInfo, Delivered, LogError, MAX_FETCH_BATCH,
};

type Result<T> = std::result::Result<T, StreamError>;

const ACKS_BUCKET: &str = "HIVELOG_ACKS";
/// A delivery not acked within this long can no longer be acked by
/// sequence (JetStream will have redelivered it long before, under a new
/// reply subject that is recorded in its turn).
const ACK_RECORD_AGE: Duration = Duration::from_secs(24 * 3600);

fn not_found(stream: &str, consumer: &str) -> StreamError {
    LogError::ConsumerNotFound {
        stream: stream.into(),
        consumer: consumer.into(),
    }
    .into()
}

/// How long one waiting pull lasts in JetStream at most, so that ending
/// a wait early costs at most this.
const PULL_EXPIRY: Duration = Duration::from_secs(1);

impl JetStreamPort {
    async fn acks(&self) -> Result<&jetstream::kv::Store> {
        self.acks
            .get_or_try_init(|| async {
                match self.js.get_key_value(ACKS_BUCKET).await {
                    Ok(kv) => Ok(kv),
                    Err(_) => self
                        .js
                        .create_key_value(jetstream::kv::Config {
                            bucket: ACKS_BUCKET.into(),
                            description: "where each delivery of a hivelog consumer is acked (its reply subject)".into(),
                            history: 1,
                            max_age: ACK_RECORD_AGE,
                            num_replicas: self.replicas,
                            ..Default::default()
                        })
                        .await
                        .map_err(unavailable),
                }
            })
            .await
    }

    async fn js_consumer(
        &self,
        stream: &str,
        name: &str,
    ) -> Result<consumer::Consumer<consumer::pull::Config>> {
        let s = self.js_stream(stream).await?;
        s.get_consumer(name)
            .await
            .map_err(|_| not_found(stream, name))
    }

    /// Creates the consumer, or finds it as it is (false when it existed
    /// with the same settings).
    pub async fn create_consumer(
        &self,
        stream: &str,
        mut config: ConsumerConfig,
    ) -> Result<(ConsumerInfo, bool)> {
        let info = self.stream_info(stream).await?;
        config.normalize_and_validate(&info.config)?;
        let name = config
            .name
            .clone()
            .unwrap_or_else(|| format!("hivelog-{:016x}", rand_u64()));
        config.name = Some(name.clone());
        let wanted = to_jetstream(&config)?;
        let s = self.js_stream(stream).await?;
        if let Ok(mut existing) = s.get_consumer::<consumer::pull::Config>(&name).await {
            let have = existing.info().await.map_err(unavailable)?;
            let same = to_info(have).config == to_info_config(&config);
            return if same {
                Ok((to_info(have), false))
            } else {
                Err(LogError::ConsumerExists {
                    stream: stream.into(),
                    consumer: name,
                }
                .into())
            };
        }
        let mut created = s.create_consumer(wanted).await.map_err(unavailable)?;
        let info = created.info().await.map_err(unavailable)?;
        Ok((to_info(info), true))
    }

    pub async fn consumers(&self, stream: &str) -> Result<Vec<ConsumerInfo>> {
        let s = self.js_stream(stream).await?;
        let mut infos = s.consumers();
        let mut out = Vec::new();
        while let Some(i) = infos.next().await {
            let i = i.map_err(unavailable)?;
            // The server adds keys of its own; ours marks hivelog's readers.
            if i.config.metadata.get("hivelog").map(String::as_str) != Some("internal") {
                out.push(to_info(&i));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub async fn consumer_info(&self, stream: &str, name: &str) -> Result<ConsumerInfo> {
        let mut c = self.js_consumer(stream, name).await?;
        Ok(to_info(c.info().await.map_err(unavailable)?))
    }

    pub async fn delete_consumer(&self, stream: &str, name: &str) -> Result<()> {
        let s = self.js_stream(stream).await?;
        s.delete_consumer(name)
            .await
            .map_err(|_| not_found(stream, name))?;
        Ok(())
    }

    /// Up to `batch` messages, waiting up to `expires` for the first (then
    /// taking what is already there), as the embedded fetch does.
    pub async fn fetch(
        &self,
        stream: &str,
        name: &str,
        batch: usize,
        expires: Duration,
    ) -> Result<Vec<Delivered>> {
        self.fetch_until(stream, name, batch, expires, std::future::pending())
            .await
    }

    /// As `fetch`, but the wait for a first message ends early when `stop`
    /// resolves: then only what already arrived is taken. For a fetch that
    /// outlives its reader (a WebSocket session that ended), so it stops
    /// taking messages and its caller can give back what it took.
    pub async fn fetch_until(
        &self,
        stream: &str,
        name: &str,
        batch: usize,
        expires: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<Vec<Delivered>> {
        use futures_util::FutureExt;
        let batch = batch.min(MAX_FETCH_BATCH);
        let c = self.js_consumer(stream, name).await?;
        let mut got = Vec::new();
        let mut stopped = false;
        if expires > Duration::ZERO {
            // Waits in pulls of one message, each of which JetStream ends
            // after at most a second, the last one at our deadline: when
            // the wait ends, or the reader stops, the pull under way is
            // read to its end rather than dropped, since a message
            // JetStream has sent it may be on its way, and one dropped
            // there stays pending, delivered to nobody, until ack_wait.
            // Reading to the end costs nothing at the deadline and at most
            // a second after a stop.
            let deadline = tokio::time::Instant::now() + expires;
            let mut stop = std::pin::pin!(stop.fuse());
            loop {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if !got.is_empty() || stopped || left.is_zero() {
                    break;
                }
                let pull = c
                    .batch()
                    .max_messages(1)
                    .expires(left.clamp(Duration::from_millis(10), PULL_EXPIRY))
                    .messages()
                    .await
                    .map_err(unavailable)?;
                let mut pull = Box::pin(pull);
                let ended = tokio::select! {
                    m = pull.next() => {
                        if let Some(m) = m {
                            got.push(m.map_err(unavailable)?);
                        }
                        false
                    }
                    () = &mut stop => {
                        stopped = true;
                        true
                    }
                    () = tokio::time::sleep_until(deadline) => true,
                };
                if ended {
                    let rest = tokio::time::timeout(PULL_EXPIRY * 2, pull.next()).await;
                    if let Ok(Some(m)) = rest {
                        got.push(m.map_err(unavailable)?);
                    }
                }
            }
        }
        if !stopped && got.len() < batch {
            let rest = c
                .fetch()
                .max_messages(batch - got.len())
                .messages()
                .await
                .map_err(unavailable)?;
            let mut rest = Box::pin(rest);
            while let Some(m) = rest.next().await {
                got.push(m.map_err(unavailable)?);
            }
        }
        let kv = self.acks().await?;
        let mut out = Vec::with_capacity(got.len());
        for m in got {
            let info = m.info().map_err(unavailable)?;
            let (delivered, consumer_seq) = (
                u64::try_from(info.delivered).unwrap_or(1),
                info.consumer_sequence,
            );
            let message = super::generic::delivered(&m, stream)?;
            if let Some(reply) = &m.reply {
                kv.put(ack_key(stream, name, message.seq), reply.to_string().into())
                    .await
                    .map_err(unavailable)?;
            }
            out.push(Delivered {
                message,
                delivered,
                consumer_seq,
            });
        }
        Ok(out)
    }

    /// Acks message `seq` of the consumer, on whichever instance fetched it.
    pub async fn ack(
        &self,
        stream: &str,
        name: &str,
        seq: u64,
        kind: AckKind,
        delay: Option<Duration>,
    ) -> Result<()> {
        self.js_consumer(stream, name).await?;
        self.ack_one(stream, name, seq, kind, delay).await
    }

    async fn ack_one(
        &self,
        stream: &str,
        name: &str,
        seq: u64,
        kind: AckKind,
        delay: Option<Duration>,
    ) -> Result<()> {
        let kv = self.acks().await?;
        let key = ack_key(stream, name, seq);
        let reply = match kv.get(&key).await.map_err(unavailable)? {
            Some(r) => String::from_utf8_lossy(&r).into_owned(),
            None => {
                return Err(LogError::NotPending {
                    consumer: name.into(),
                    seq,
                }
                .into())
            }
        };
        let payload = match (kind, delay) {
            (AckKind::Ack, _) => "+ACK".to_string(),
            (AckKind::Nak, Some(d)) => format!("-NAK {{\"delay\":{}}}", d.as_nanos()),
            (AckKind::Nak, None) => "-NAK".to_string(),
            (AckKind::Wpi, _) => "+WPI".to_string(),
            (AckKind::Term, _) => "+TERM".to_string(),
        };
        // A request, so JetStream confirms it took the ack.
        self.js
            .client()
            .request(reply, payload.into())
            .await
            .map_err(unavailable)?;
        if kind != AckKind::Wpi {
            kv.delete(&key).await.map_err(unavailable)?;
        }
        Ok(())
    }

    pub async fn ack_many(
        &self,
        stream: &str,
        name: &str,
        seqs: &[u64],
        kind: AckKind,
        delay: Option<Duration>,
    ) -> Result<AckOutcome> {
        self.js_consumer(stream, name).await?;
        let mut outcome = AckOutcome::default();
        for &seq in seqs {
            match self.ack_one(stream, name, seq, kind, delay).await {
                Ok(()) => outcome.done.push(seq),
                Err(StreamError::Log(LogError::NotPending { .. })) => outcome.not_pending.push(seq),
                Err(e) => return Err(e),
            }
        }
        Ok(outcome)
    }

    /// Acks every delivery awaiting an ack up to `up_to`.
    pub async fn ack_up_to(&self, stream: &str, name: &str, up_to: u64) -> Result<usize> {
        self.js_consumer(stream, name).await?;
        let kv = self.acks().await?;
        let prefix = format!("{stream}.{name}.");
        let mut keys = kv.keys().await.map_err(unavailable)?;
        let mut seqs = Vec::new();
        while let Some(k) = keys.next().await {
            let k = k.map_err(unavailable)?;
            if let Some(seq) = k.strip_prefix(&prefix).and_then(|s| s.parse::<u64>().ok()) {
                if seq <= up_to {
                    seqs.push(seq);
                }
            }
        }
        seqs.sort_unstable();
        let outcome = self
            .ack_many(stream, name, &seqs, AckKind::Ack, None)
            .await?;
        Ok(outcome.done.len())
    }
}

fn ack_key(stream: &str, consumer: &str, seq: u64) -> String {
    format!("{stream}.{consumer}.{seq}")
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}
