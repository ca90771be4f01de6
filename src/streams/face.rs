//! `Streams`: the one face of storage for the layers above. Every stream,
//! message and consumer call of the API and the WebSocket layer goes
//! through it, and it alone decides where the call runs: on the embedded
//! log, or, on the NATS backend, in JetStream for the streams that
//! backend keeps there (the history and state streams), answered in the
//! log's own types and errors either way.

use std::future::Future;
use std::time::Duration;

use super::generic::StreamError;
use super::{Backend, JetStreamPort, HISTORY_STREAM, STATE_STREAM};
use crate::log::{
    AckKind, AckOutcome, ConsumerConfig, ConsumerInfo, Delivered, Log, LogError, Message, PubAck,
    PublishOptions, ReadRange, StreamConfig, StreamInfo, MAX_READ_LIMIT,
};

type Result<T> = std::result::Result<T, StreamError>;

#[derive(Clone)]
pub struct Streams {
    log: Log,
    backend: Backend,
}

impl Streams {
    pub fn new(log: Log, backend: Backend) -> Self {
        Streams { log, backend }
    }

    /// The embedded log: its own counters and settings (`/health`,
    /// `/metrics`), and the live feed every instance has.
    pub fn log(&self) -> &Log {
        &self.log
    }

    pub(super) fn backend(&self) -> &Backend {
        &self.backend
    }

    /// What `/health` names the backend.
    pub fn kind(&self) -> &'static str {
        self.backend.kind()
    }

    /// What carries the coordination records, in words for `/health`.
    pub fn broker(&self) -> String {
        match &self.backend {
            Backend::Embedded(_) => "embedded (hivelog's own JetStream-style log; nats_connected is kept for old clients)".to_string(),
            Backend::JetStream(p) => format!("NATS JetStream ({})", p.connection_state()),
        }
    }

    /// Why this instance should get no work now (cut off from its
    /// cluster: it can serve reads but no claims), if it should not.
    pub fn not_ready(&self) -> Option<String> {
        match &self.backend {
            Backend::JetStream(p) if p.connection_state() != "connected" => {
                Some(format!("NATS JetStream is {}", p.connection_state()))
            }
            _ => None,
        }
    }

    /// JetStream, when `name` is a stream the backend keeps there.
    pub(super) fn nats_stream(&self, name: &str) -> Option<&JetStreamPort> {
        match &self.backend {
            Backend::JetStream(p) if p.keeps_stream(name) => Some(p),
            _ => None,
        }
    }

    /// As `nats_stream`, for a subject being published to.
    pub(super) fn nats_subject(&self, subject: &str) -> Option<&JetStreamPort> {
        match &self.backend {
            Backend::JetStream(p) if p.keeps_subject(subject) => Some(p),
            _ => None,
        }
    }

    /// JetStream, on the NATS backend, whatever the stream.
    pub(super) fn nats(&self) -> Option<&JetStreamPort> {
        match &self.backend {
            Backend::JetStream(p) => Some(p),
            Backend::Embedded(_) => None,
        }
    }

    // ---- streams ----

    /// Every stream, by name; those kept in JetStream as JetStream has
    /// them (a local one by the same name is not what clients read).
    pub async fn streams(&self) -> Result<Vec<StreamInfo>> {
        let mut streams = self.log.streams();
        if let Some(nats) = self.nats() {
            streams.retain(|s| !nats.keeps_stream(&s.config.name));
            for name in [HISTORY_STREAM, STATE_STREAM] {
                streams.push(nats.stream_info(name).await?);
            }
            streams.sort_by(|a, b| a.config.name.cmp(&b.config.name));
        }
        Ok(streams)
    }

    pub fn stream_names(&self) -> Vec<String> {
        self.log.stream_names()
    }

    pub async fn stream_info(&self, name: &str) -> Result<StreamInfo> {
        match self.nats_stream(name) {
            Some(n) => n.stream_info(name).await,
            None => Ok(self.log.stream_info(name)?),
        }
    }

    /// Refuses to change, through hivelog, a stream kept in JetStream.
    fn changeable(&self, name: &str) -> Result<()> {
        match self.nats_stream(name) {
            Some(_) => Err(LogError::Protected {
                stream: name.to_string(),
                owner: "NATS JetStream".into(),
                detail: "on the nats:// backend it lives in the cluster; change it with NATS's own tools (nats stream edit/purge)".into(),
            }
            .into()),
            None => Ok(()),
        }
    }

    /// Creates the stream (true) or finds it as configured (false).
    pub fn create_stream(&self, config: StreamConfig) -> Result<(StreamInfo, bool)> {
        self.changeable(&config.name)?;
        Ok(self.log.create_stream(config)?)
    }

    pub fn update_stream(&self, config: StreamConfig) -> Result<StreamInfo> {
        self.changeable(&config.name)?;
        Ok(self.log.update_stream(config)?)
    }

    pub fn delete_stream(&self, name: &str) -> Result<()> {
        self.changeable(name)?;
        Ok(self.log.delete_stream(name)?)
    }

    /// Removes messages (those on `subject`, all but the newest `keep`);
    /// how many went.
    pub async fn purge(&self, name: &str, subject: Option<&str>, keep: Option<u64>) -> Result<u64> {
        self.changeable(name)?;
        Ok(self.log.purge(name, subject, keep).await?)
    }

    // ---- messages ----

    /// Stores a message in the stream that captures `subject` (or none),
    /// and delivers it live on every instance.
    pub async fn publish(
        &self,
        subject: &str,
        payload: Vec<u8>,
        opts: PublishOptions,
    ) -> Result<PubAck> {
        self.publish_in_order(subject, payload, opts).await
    }

    /// As `publish`, but its place in the stream is taken now, before the
    /// returned future is awaited: publishes handed over one after another
    /// are stored (and answered) in that order.
    pub fn publish_in_order(
        &self,
        subject: &str,
        payload: Vec<u8>,
        opts: PublishOptions,
    ) -> impl Future<Output = Result<PubAck>> + Send + 'static {
        enum Route {
            Nats(JetStreamPort, String, Vec<u8>, PublishOptions),
            Local(
                crate::log::PendingPublish,
                Option<(JetStreamPort, String, Vec<u8>)>,
            ),
        }
        let route = match self.nats_subject(subject) {
            // Sent when the answer before it is in, so in order.
            Some(n) => Route::Nats(n.clone(), subject.to_string(), payload, opts),
            None => {
                // Kept by no stream here: the other instances'
                // subscribers get it through NATS.
                let relay = self
                    .nats()
                    .map(|n| (n.clone(), subject.to_string(), payload.clone()));
                Route::Local(self.log.publish_pipelined(subject, payload, opts), relay)
            }
        };
        async move {
            match route {
                Route::Nats(n, subject, payload, opts) => n.publish(&subject, payload, opts).await,
                Route::Local(pending, relay) => {
                    let ack = pending.wait().await?;
                    if let (Some((n, subject, payload)), None) = (relay, &ack.stream) {
                        n.relay_unstored(&subject, payload);
                    }
                    Ok(ack)
                }
            }
        }
    }

    /// Messages of `name` as `range` asks, or the newest of each subject.
    pub async fn read(
        &self,
        name: &str,
        range: &ReadRange,
        last_per_subject: bool,
    ) -> Result<Vec<Message>> {
        if let Some(n) = self.nats_stream(name) {
            return n.read_messages(name, range, last_per_subject).await;
        }
        Ok(if last_per_subject {
            let limit = range.limit.min(MAX_READ_LIMIT);
            self.log
                .last_per_subject(name, range.subject.as_deref(), limit)?
        } else {
            self.log.read_range(name, range)?
        })
    }

    pub async fn get_message(&self, name: &str, seq: u64) -> Result<Message> {
        match self.nats_stream(name) {
            Some(n) => n.get_message(name, seq).await,
            None => Ok(self.log.get_message(name, seq)?),
        }
    }

    pub async fn last_message(&self, name: &str, subject: &str) -> Result<Message> {
        match self.nats_stream(name) {
            Some(n) => n.last_message(name, subject).await,
            None => Ok(self.log.last_message(name, subject)?),
        }
    }

    pub async fn delete_message(&self, name: &str, seq: u64) -> Result<()> {
        match self.nats_stream(name) {
            Some(n) => n.delete_message(name, seq).await,
            None => Ok(self.log.delete_message(name, seq).await?),
        }
    }

    // ---- consumers ----

    pub async fn consumers(&self, stream: &str) -> Result<Vec<ConsumerInfo>> {
        match self.nats_stream(stream) {
            Some(n) => n.consumers(stream).await,
            None => Ok(self.log.consumers(stream)?),
        }
    }

    /// Creates the consumer (true) or finds it as configured (false).
    pub async fn create_consumer(
        &self,
        stream: &str,
        config: ConsumerConfig,
    ) -> Result<(ConsumerInfo, bool)> {
        match self.nats_stream(stream) {
            Some(n) => n.create_consumer(stream, config).await,
            None => Ok(self.log.create_consumer(stream, config)?),
        }
    }

    pub async fn consumer_info(&self, stream: &str, name: &str) -> Result<ConsumerInfo> {
        match self.nats_stream(stream) {
            Some(n) => n.consumer_info(stream, name).await,
            None => Ok(self.log.consumer_info(stream, name)?),
        }
    }

    pub async fn delete_consumer(&self, stream: &str, name: &str) -> Result<()> {
        match self.nats_stream(stream) {
            Some(n) => n.delete_consumer(stream, name).await,
            None => Ok(self.log.delete_consumer(stream, name)?),
        }
    }

    /// Up to `batch` messages, waiting up to `expires` for the first.
    pub async fn fetch(
        &self,
        stream: &str,
        consumer: &str,
        batch: usize,
        expires: Duration,
    ) -> Result<Vec<Delivered>> {
        match self.nats_stream(stream) {
            Some(n) => n.fetch(stream, consumer, batch, expires).await,
            None => Ok(self.log.fetch(stream, consumer, batch, expires).await?),
        }
    }

    /// Acknowledges (or naks, extends, terminates) one delivered message.
    pub async fn ack(
        &self,
        stream: &str,
        consumer: &str,
        seq: u64,
        kind: AckKind,
        delay: Option<Duration>,
    ) -> Result<()> {
        match self.nats_stream(stream) {
            Some(n) => n.ack(stream, consumer, seq, kind, delay).await,
            None => Ok(self.log.ack(stream, consumer, seq, kind, delay)?),
        }
    }

    /// `ack` for many: sequences not awaiting an ack are reported.
    pub async fn ack_many(
        &self,
        stream: &str,
        consumer: &str,
        seqs: &[u64],
        kind: AckKind,
        delay: Option<Duration>,
    ) -> Result<AckOutcome> {
        match self.nats_stream(stream) {
            Some(n) => n.ack_many(stream, consumer, seqs, kind, delay).await,
            None => Ok(self.log.ack_many(stream, consumer, seqs, kind, delay)?),
        }
    }

    /// Acknowledges everything delivered up to `up_to`; how many were pending.
    pub async fn ack_up_to(&self, stream: &str, consumer: &str, up_to: u64) -> Result<usize> {
        match self.nats_stream(stream) {
            Some(n) => n.ack_up_to(stream, consumer, up_to).await,
            None => Ok(self.log.ack_up_to(stream, consumer, up_to)?),
        }
    }
}
