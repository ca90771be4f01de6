//! The generic stream routes on the NATS backend. The streams this backend
//! keeps (the history stream `<prefix>.>` and the state stream) live in
//! JetStream, so reading them, and publishing to the history stream's
//! subjects, goes there, answered in the embedded log's own types and
//! errors: a client sees the same JSON, sequences and status codes on
//! either backend, and on every instance.

use std::time::Duration;

use async_nats::datetime::DateTime;
use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;

use super::embedded::{HISTORY_STREAM, STATE_STREAM};
use super::{JetStreamPort, LogPort, PortError};
use crate::log::{
    subject, DiscardPolicy, Headers, LogError, Message, PubAck, PublishOptions, ReadRange,
    StreamConfig, StreamInfo, StreamState, MAX_READ_LIMIT,
};

/// Subjects no stream keeps are passed between instances under this
/// prefix (core NATS, not stored), so a live subscriber on any instance
/// gets them (cli/backend.rs relays them back).
pub const LIVE_RELAY: &str = "hivelog.live";

/// Either the log's own refusal (mapped to HTTP as on the embedded
/// backend) or the cluster being out of reach.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Port(#[from] PortError),
}

type Result<T> = std::result::Result<T, StreamError>;

pub(super) fn unavailable(e: impl std::fmt::Display) -> StreamError {
    StreamError::Port(PortError::Unavailable(format!("NATS JetStream: {e}")))
}

fn stored(t: async_nats::jetstream::message::StreamMessage) -> Message {
    let time_ns = i64::try_from(t.time.unix_timestamp_nanos()).unwrap_or(i64::MAX);
    Message {
        stream: None,
        seq: t.sequence,
        subject: t.subject.to_string(),
        time_ns,
        headers: headers_of(Some(&t.headers)),
        payload: t.payload.to_vec(),
    }
}

/// NATS headers as the log stores them: one value per name (the last).
pub(super) fn headers_of(h: Option<&async_nats::HeaderMap>) -> Headers {
    let mut out = Headers::new();
    for (name, values) in h.into_iter().flat_map(|h| h.iter()) {
        if let Some(v) = values.last() {
            out.insert(name.to_string(), v.as_str().to_string());
        }
    }
    out
}

impl JetStreamPort {
    /// Whether `name` is one of the streams this backend keeps in NATS.
    pub fn keeps_stream(&self, name: &str) -> bool {
        name == HISTORY_STREAM || name == STATE_STREAM
    }

    /// Whether a publish to `subject` belongs in NATS (the history stream
    /// or the state stream, which refuses it).
    pub fn keeps_subject(&self, subject: &str) -> bool {
        self.stream_name(subject).is_ok()
    }

    pub(super) async fn js_stream(&self, name: &str) -> Result<stream::Stream> {
        match self.js.get_stream(name).await {
            Ok(s) => Ok(s),
            Err(e) => match e.kind() {
                jetstream::context::GetStreamErrorKind::JetStream(j)
                    if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
                {
                    Err(LogError::StreamNotFound(name.to_string()).into())
                }
                _ => Err(unavailable(e)),
            },
        }
    }

    pub async fn stream_info(&self, name: &str) -> Result<StreamInfo> {
        let mut s = self.js_stream(name).await?;
        let info = s.info().await.map_err(unavailable)?;
        let c = &info.config;
        let positive = |v: i64| u64::try_from(v).ok().filter(|v| *v > 0);
        let config = StreamConfig {
            name: c.name.clone(),
            subjects: c.subjects.clone(),
            max_age: (!c.max_age.is_zero()).then_some(c.max_age),
            max_msgs: positive(c.max_messages),
            max_bytes: positive(c.max_bytes),
            max_msgs_per_subject: positive(c.max_messages_per_subject),
            max_msg_size: u64::try_from(c.max_message_size)
                .ok()
                .filter(|v| *v > 0)
                .unwrap_or(crate::log::DEFAULT_MAX_MSG_SIZE),
            discard: match c.discard {
                stream::DiscardPolicy::New => DiscardPolicy::New,
                _ => DiscardPolicy::Old,
            },
            duplicate_window: c.duplicate_window,
            description: c.description.clone(),
        };
        let st = &info.state;
        let time = |t: DateTime| {
            if st.messages == 0 {
                0
            } else {
                i64::try_from(t.unix_timestamp_nanos()).unwrap_or(0)
            }
        };
        Ok(StreamInfo {
            config,
            state: StreamState {
                messages: st.messages,
                bytes: st.bytes,
                first_seq: st.first_sequence,
                last_seq: st.last_sequence,
                first_ts: time(st.first_timestamp),
                last_ts: time(st.last_timestamp),
                num_subjects: st.subjects_count,
            },
            created_ns: i64::try_from(info.created.unix_timestamp_nanos()).unwrap_or(0),
            consumer_count: st.consumer_count,
        })
    }

    pub async fn get_message(&self, name: &str, seq: u64) -> Result<Message> {
        let s = self.js_stream(name).await?;
        match s.get_raw_message(seq).await {
            Ok(m) => Ok(with_stream(stored(m), name)),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {
                Err(LogError::MessageNotFound {
                    stream: name.to_string(),
                    seq,
                }
                .into())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    pub async fn last_message(&self, name: &str, subject: &str) -> Result<Message> {
        subject::validate_subject(subject)?;
        let s = self.js_stream(name).await?;
        match s.get_last_raw_message_by_subject(subject).await {
            Ok(m) => Ok(with_stream(stored(m), name)),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {
                Err(LogError::NoMessageForSubject {
                    stream: name.to_string(),
                    subject: subject.to_string(),
                }
                .into())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Messages of `name` as `range` asks, or the newest of each subject.
    pub async fn read_messages(
        &self,
        name: &str,
        range: &ReadRange,
        last_per_subject: bool,
    ) -> Result<Vec<Message>> {
        if let Some(p) = &range.subject {
            subject::validate_pattern(p)?;
        }
        let s = self.js_stream(name).await?;
        let deliver = if last_per_subject {
            consumer::DeliverPolicy::LastPerSubject
        } else if let Some(ns) = range.start_time_ns {
            consumer::DeliverPolicy::ByStartTime {
                start_time: DateTime::from_unix_timestamp_nanos(i128::from(ns))
                    .map_err(|e| LogError::InvalidConfig(format!("start_time: {e}")))?,
            }
        } else {
            consumer::DeliverPolicy::ByStartSequence {
                start_sequence: range.start_seq.unwrap_or(1).max(1),
            }
        };
        let consumer = s
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: range.subject.clone().unwrap_or_default(),
                deliver_policy: deliver,
                metadata: super::jetstream::internal_consumer(),
                ..Default::default()
            })
            .await
            .map_err(unavailable)?;
        let want = consumer
            .cached_info()
            .num_pending
            .min(range.limit.min(MAX_READ_LIMIT) as u64) as usize;
        let mut out = Vec::with_capacity(want);
        if want == 0 {
            return Ok(out);
        }
        let mut messages = consumer.messages().await.map_err(unavailable)?;
        while out.len() < want {
            let m = match tokio::time::timeout(Duration::from_secs(10), messages.next()).await {
                Ok(Some(Ok(m))) => m,
                Ok(Some(Err(e))) => return Err(unavailable(e)),
                Ok(None) => break,
                Err(_) => return Err(unavailable("timed out reading a stream")),
            };
            out.push(delivered(&m, name)?);
        }
        Ok(out)
    }

    /// Publishes to the history stream with the log's publish options (the
    /// expectations become JetStream's own headers).
    pub async fn publish(
        &self,
        subject: &str,
        payload: Vec<u8>,
        opts: PublishOptions,
    ) -> Result<PubAck> {
        subject::validate_subject(subject)?;
        let name = self.stream_name(subject)?;
        if name == STATE_STREAM {
            return Err(LogError::Protected {
                stream: STATE_STREAM.into(),
                owner: "coordination".into(),
                detail: "its subjects are written by hivelog's own task and agent routes".into(),
            }
            .into());
        }
        let mut publish = jetstream::message::PublishMessage::build().payload(payload.into());
        for (k, v) in &opts.headers {
            publish = publish.header(k.as_str(), v.as_str());
        }
        if let Some(id) = &opts.msg_id {
            publish = publish.message_id(id.as_str());
        }
        if let Some(s) = &opts.expected_stream {
            if s != name {
                return Err(LogError::WrongStream {
                    expected: s.clone(),
                    subject: subject.to_string(),
                    actual: Some(name.to_string()),
                }
                .into());
            }
        }
        if let Some(seq) = opts.expected_last_seq {
            publish = publish.expected_last_sequence(seq);
        }
        if let Some(seq) = opts.expected_last_subject_seq {
            publish = publish.expected_last_subject_sequence(seq);
        }
        let ack = self
            .js
            .send_publish(subject.to_string(), publish)
            .await
            .map_err(unavailable)?
            .await;
        match ack {
            Ok(ack) => Ok(PubAck {
                stream: Some(ack.stream),
                seq: Some(ack.sequence),
                duplicate: ack.duplicate,
            }),
            Err(e) if super::jetstream::wrong_last_sequence(&e) => {
                let actual = match opts.expected_last_subject_seq {
                    Some(_) => self.last_message(name, subject).await.map_or(0, |m| m.seq),
                    None => self.head(subject).await.unwrap_or(0),
                };
                Err(match opts.expected_last_subject_seq {
                    Some(expected) => LogError::WrongLastSubjectSequence {
                        subject: subject.to_string(),
                        expected,
                        actual,
                    },
                    None => LogError::WrongLastSequence {
                        expected: opts.expected_last_seq.unwrap_or(0),
                        actual,
                    },
                }
                .into())
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// A message a JetStream consumer delivered from stream `name`, as the log
/// stores it.
pub(super) fn delivered(m: &jetstream::Message, name: &str) -> Result<Message> {
    let info = m.info().map_err(unavailable)?;
    Ok(Message {
        stream: Some(name.into()),
        seq: info.stream_sequence,
        subject: m.subject.to_string(),
        time_ns: i64::try_from(info.published.unix_timestamp_nanos()).unwrap_or(0),
        headers: headers_of(m.headers.as_ref()),
        payload: m.payload.to_vec(),
    })
}

fn with_stream(mut m: Message, name: &str) -> Message {
    m.stream = Some(name.into());
    m
}

impl JetStreamPort {
    /// Deletes one message of the history stream (the state stream's are
    /// coordination's own).
    pub async fn delete_message(&self, name: &str, seq: u64) -> Result<()> {
        if name == STATE_STREAM {
            return Err(LogError::Protected {
                stream: name.into(),
                owner: "coordination".into(),
                detail: "its records are the tasks' and agents' history".into(),
            }
            .into());
        }
        let s = self.js_stream(name).await?;
        match s.delete_message(seq).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(LogError::MessageNotFound {
                stream: name.to_string(),
                seq,
            }
            .into()),
            Err(e) => match e.kind() {
                stream::DeleteMessageErrorKind::JetStream(j)
                    if j.error_code() == jetstream::ErrorCode::SEQUENCE_NOT_FOUND =>
                {
                    Err(LogError::MessageNotFound {
                        stream: name.to_string(),
                        seq,
                    }
                    .into())
                }
                _ => Err(unavailable(e)),
            },
        }
    }
}

mod follow;
pub use follow::Follow;
