//! `LogPort` on a NATS JetStream server or cluster (async-nats). The two
//! streams are the embedded backend's, by the same names: the state stream
//! (`hivelog.state.>`, a bounded history per subject) and the history
//! stream (`<prefix>.>`, 7 days), created if missing with `replicas`
//! copies. Each port call is the JetStream call of the same meaning:
//! appends carry `Nats-Expected-Last-Subject-Sequence`, so two hivelog
//! instances can never both win one write; reads use the message-get API
//! or a short-lived ordered consumer that is read only as far as it had
//! messages pending when it was created.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;

use super::embedded::{HISTORY_STREAM, STATE_STREAM, STATE_VERSIONS_KEPT};
use super::{LogPort, PortError, Record, Watch};

const HISTORY_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Consumers each of hivelog's streams may have in NATS: the embedded
/// log's default (`--max-consumers-per-stream`). nats-server 2.15 gives a
/// stream that names no limit 1,000, and every WebSocket subscription with
/// history is an ordered consumer there, kept for 30 s after its client
/// vanishes, so a burst of reconnecting clients would be refused.
const MAX_CONSUMERS: i32 = 10_000;

#[derive(Clone)]
pub struct JetStreamPort {
    pub(super) js: jetstream::Context,
    prefix: String,
    pub(super) replicas: usize,
    leases: std::sync::Arc<tokio::sync::OnceCell<jetstream::kv::Store>>,
    /// Where consumers' deliveries are acked (consumers.rs).
    pub(super) acks: std::sync::Arc<tokio::sync::OnceCell<jetstream::kv::Store>>,
}

/// Whether a publish was refused for an expected sequence. A clustered
/// stream says so with another code (10164) than a single server (10071),
/// and the client names only the latter.
pub(super) fn wrong_last_sequence(e: &jetstream::context::PublishError) -> bool {
    use jetstream::ErrorCode;
    e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence
        || std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<jetstream::Error>())
            .is_some_and(|j| {
                j.error_code() == ErrorCode::STREAM_WRONG_LAST_SEQUENCE
                    || j.error_code() == ErrorCode::STREAM_WRONG_LAST_SEQUENCE_CONSTANT
            })
}

fn unavailable(e: impl std::fmt::Display) -> PortError {
    PortError::Unavailable(format!("NATS JetStream: {e}"))
}

/// The metadata of the ordered consumers hivelog reads with, so listings
/// of a stream's consumers leave them out (they are not the user's).
pub(super) fn internal_consumer() -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([("hivelog".to_string(), "internal".to_string())])
}

/// `nats://a:4222,nats://b:4222` as the addresses async-nats takes (it
/// does not split a comma-separated string itself).
pub fn server_list(url: &str) -> Result<Vec<async_nats::ServerAddr>, PortError> {
    url.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<async_nats::ServerAddr>()
                .map_err(|e| PortError::Invalid(format!("{s:?} is not a NATS URL: {e}")))
        })
        .collect()
}

impl std::fmt::Debug for JetStreamPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamPort")
            .field("prefix", &self.prefix)
            .field("replicas", &self.replicas)
            .finish_non_exhaustive()
    }
}

impl JetStreamPort {
    /// Connects to `url` (comma-separated servers) and makes sure both
    /// streams exist; existing ones are left as the operator configured
    /// them.
    pub async fn connect(url: &str, prefix: &str, replicas: usize) -> Result<Self, PortError> {
        Self::connect_with(url, async_nats::ConnectOptions::new(), prefix, replicas).await
    }

    /// As `connect`, with credentials or a token in `options`.
    pub async fn connect_with(
        url: &str,
        options: async_nats::ConnectOptions,
        prefix: &str,
        replicas: usize,
    ) -> Result<Self, PortError> {
        // async-nats takes a list of addresses, not one comma-separated
        // string.
        let servers = server_list(url)?;
        // no_echo: what this instance relays to the others (`hivelog.live.>`)
        // it has already delivered to its own subscribers.
        let client = options
            .name("hivelog")
            .no_echo()
            .connect(servers)
            .await
            .map_err(unavailable)?;
        Self::on(client, prefix, replicas).await
    }

    /// "connected", "disconnected" or "pending", as the client sees it.
    pub fn connection_state(&self) -> String {
        format!("{:?}", self.js.client().connection_state()).to_lowercase()
    }

    /// The connection, for core NATS subscriptions beside coordination.
    pub fn client(&self) -> async_nats::Client {
        self.js.client()
    }

    pub async fn on(
        client: async_nats::Client,
        prefix: &str,
        replicas: usize,
    ) -> Result<Self, PortError> {
        let js = jetstream::new(client);
        let state = stream::Config {
            name: STATE_STREAM.into(),
            subjects: vec![super::STATE_SUBJECTS.into()],
            max_messages_per_subject: STATE_VERSIONS_KEPT as i64,
            max_consumers: MAX_CONSUMERS,
            num_replicas: replicas.max(1),
            description: Some(
                "every version of each task and agent; the source of hivelog's current state"
                    .into(),
            ),
            ..Default::default()
        };
        let history = stream::Config {
            name: HISTORY_STREAM.into(),
            subjects: vec![format!("{prefix}.>")],
            max_age: HISTORY_MAX_AGE,
            max_consumers: MAX_CONSUMERS,
            num_replicas: replicas.max(1),
            description: Some(
                "tasks, coordination, errors and heartbeats, as the replaced stack published them"
                    .into(),
            ),
            ..Default::default()
        };
        for config in [state, history] {
            let stream = js.get_or_create_stream(config).await.map_err(unavailable)?;
            // Made before the limit was named (or by an older hivelog):
            // raise it. A nats-server before 2.12 cannot; it keeps its own.
            let mut kept = stream.cached_info().config.clone();
            if (1..MAX_CONSUMERS).contains(&kept.max_consumers) {
                kept.max_consumers = MAX_CONSUMERS;
                if let Err(e) = js.update_stream(&kept).await {
                    tracing::warn!(stream = %kept.name, error = %e, "could not raise the stream's consumer limit");
                }
            }
        }
        Ok(JetStreamPort {
            js,
            prefix: prefix.to_string(),
            replicas: replicas.max(1),
            leases: Default::default(),
            acks: Default::default(),
        })
    }

    pub(super) fn stream_name(&self, subject: &str) -> Result<&'static str, PortError> {
        if subject.starts_with("hivelog.state.") {
            Ok(STATE_STREAM)
        } else if subject.starts_with(&format!("{}.", self.prefix)) {
            Ok(HISTORY_STREAM)
        } else {
            Err(PortError::NotFound(format!("no stream stores {subject}")))
        }
    }

    async fn stream(&self, subject: &str) -> Result<stream::Stream, PortError> {
        let name = self.stream_name(subject)?;
        self.js.get_stream(name).await.map_err(unavailable)
    }

    /// Messages on `filter` from `deliver` on, as many as were pending
    /// when the read began, at most `limit`.
    async fn read(
        &self,
        filter: &str,
        deliver: consumer::DeliverPolicy,
        limit: usize,
    ) -> Result<Vec<Record>, PortError> {
        let (pending, consumer) = self.ordered(filter, deliver).await?;
        let want = pending.min(limit as u64) as usize;
        let mut out = Vec::with_capacity(want);
        if want == 0 {
            return Ok(out);
        }
        let mut messages = consumer.messages().await.map_err(unavailable)?;
        while out.len() < want {
            let next = tokio::time::timeout(Duration::from_secs(10), messages.next()).await;
            let message = match next {
                Ok(Some(Ok(m))) => m,
                Ok(Some(Err(e))) => return Err(unavailable(e)),
                Ok(None) => break,
                Err(_) => return Err(unavailable("timed out reading a stream")),
            };
            let seq = message.info().map_err(unavailable)?.stream_sequence;
            out.push(Record {
                subject: message.subject.to_string(),
                seq,
                payload: message.payload.to_vec(),
            });
        }
        Ok(out)
    }

    /// An ordered consumer on `filter` and how many messages it has to
    /// deliver.
    async fn ordered(
        &self,
        filter: &str,
        deliver: consumer::DeliverPolicy,
    ) -> Result<(u64, consumer::Consumer<consumer::pull::OrderedConfig>), PortError> {
        let stream = self.stream(filter).await?;
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: filter.to_string(),
                deliver_policy: deliver,
                metadata: internal_consumer(),
                ..Default::default()
            })
            .await
            .map_err(unavailable)?;
        Ok((consumer.cached_info().num_pending, consumer))
    }

    async fn last_seq(&self, subject: &str) -> Result<u64, PortError> {
        Ok(LogPort::last(self, subject).await?.map_or(0, |r| r.seq))
    }
}

impl LogPort for JetStreamPort {
    fn is_shared(&self) -> bool {
        true
    }

    async fn append(
        &self,
        subject: &str,
        payload: Vec<u8>,
        expect: Option<u64>,
    ) -> Result<u64, PortError> {
        self.stream_name(subject)?;
        let mut publish = jetstream::message::PublishMessage::build().payload(payload.into());
        if let Some(seq) = expect {
            publish = publish.expected_last_subject_sequence(seq);
        }
        let ack = self
            .js
            .send_publish(subject.to_string(), publish)
            .await
            .map_err(unavailable)?
            .await;
        match ack {
            Ok(ack) => Ok(ack.sequence),
            Err(e) if wrong_last_sequence(&e) => Err(PortError::Conflict {
                actual: self.last_seq(subject).await?,
            }),
            // The streams exist (they were made at start, and the subject
            // was checked against them above): nobody answering means the
            // stream has no leader for the moment, as while a cluster
            // replaces a lost node.
            Err(e) if e.kind() == jetstream::context::PublishErrorKind::StreamNotFound => Err(
                PortError::Unavailable(format!(
                    "NATS JetStream: no stream leader answered for {subject} (the cluster may be electing one)"
                )),
            ),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn last_per_subject(&self, filter: &str) -> Result<Vec<Record>, PortError> {
        self.read(filter, consumer::DeliverPolicy::LastPerSubject, usize::MAX)
            .await
    }

    async fn last(&self, subject: &str) -> Result<Option<Record>, PortError> {
        let stream = self.stream(subject).await?;
        match stream.get_last_raw_message_by_subject(subject).await {
            Ok(m) => Ok(Some(Record {
                subject: m.subject.to_string(),
                seq: m.sequence,
                payload: m.payload.to_vec(),
            })),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn scan(
        &self,
        subject: &str,
        start_seq: u64,
        limit: usize,
    ) -> Result<Vec<Record>, PortError> {
        let deliver = consumer::DeliverPolicy::ByStartSequence {
            start_sequence: start_seq.max(1),
        };
        self.read(subject, deliver, limit).await
    }

    async fn tail(&self, subject: &str, limit: usize) -> Result<Vec<Record>, PortError> {
        // JetStream reads forward only. Widen a window back from the
        // subject's last record until it holds `limit` records (counting
        // by a consumer's pending count, without reading), then read it.
        let last = self.last_seq(subject).await?;
        if last == 0 || limit == 0 {
            return Ok(Vec::new());
        }
        let mut window = (limit as u64).max(16);
        let start = loop {
            let start = last.saturating_sub(window).max(1);
            let (pending, _) = self
                .ordered(
                    subject,
                    consumer::DeliverPolicy::ByStartSequence {
                        start_sequence: start,
                    },
                )
                .await?;
            if pending >= limit as u64 || start == 1 {
                break (start, pending);
            }
            window = window.saturating_mul(4);
        };
        let (start, pending) = start;
        let skip = pending.saturating_sub(limit as u64) as usize;
        let records = self
            .read(
                subject,
                consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: start,
                },
                usize::MAX,
            )
            .await?;
        Ok(records.into_iter().skip(skip).collect())
    }

    async fn head(&self, filter: &str) -> Result<u64, PortError> {
        let mut stream = self.stream(filter).await?;
        Ok(stream
            .info()
            .await
            .map_err(unavailable)?
            .state
            .last_sequence)
    }

    async fn watch(&self, filter: &str, after: u64) -> Result<Watch, PortError> {
        let (_, consumer) = self
            .ordered(
                filter,
                consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: after + 1,
                },
            )
            .await?;
        let messages = consumer.messages().await.map_err(unavailable)?;
        Ok(Box::pin(messages.map(|m| {
            let m = m.map_err(unavailable)?;
            let seq = m.info().map_err(unavailable)?.stream_sequence;
            Ok(Record {
                subject: m.subject.to_string(),
                seq,
                payload: m.payload.to_vec(),
            })
        })))
    }

    async fn lead(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, PortError> {
        self.take_lease(name, holder, ttl).await
    }
}

mod leases;
