//! The narrow door from coordination to storage. `coord` never sees sled or
//! streams: it appends to subjects (optionally only if the subject's last
//! sequence is what it expects), reads the newest record of each subject,
//! and reads a subject's records in order. `LogBackend` implements it on the
//! embedded log; an implementation on an external JetStream cluster would
//! map each call to the JetStream API of the same name.

use std::future::Future;

use crate::log::{Log, LogError, Message, PublishOptions, ReadRange, StreamConfig, SystemWriter};

/// One stored record on a subject.
#[derive(Debug, Clone)]
pub struct Record {
    pub subject: String,
    pub seq: u64,
    pub payload: Vec<u8>,
}

impl From<Message> for Record {
    fn from(m: Message) -> Self {
        Record {
            subject: m.subject,
            seq: m.seq,
            payload: m.payload,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The subject's last sequence was not the expected one.
    #[error("the subject changed concurrently (its last sequence is {actual})")]
    Conflict { actual: u64 },
    #[error(transparent)]
    Log(#[from] LogError),
}

pub trait LogPort: Send + Sync + 'static {
    /// Appends durably; with `expect_last_subject_seq`, only if the
    /// subject's newest record has that sequence (0: no record yet).
    fn append(
        &self,
        subject: &str,
        payload: Vec<u8>,
        expect_last_subject_seq: Option<u64>,
    ) -> impl Future<Output = Result<u64, PortError>> + Send;

    /// The newest record of every subject matching `filter`, by sequence.
    fn last_per_subject(&self, filter: &str) -> Result<Vec<Record>, PortError>;

    /// The newest record on `subject`.
    fn last(&self, subject: &str) -> Result<Option<Record>, PortError>;

    /// Records on `subject` from `start_seq` on, oldest first.
    fn scan(&self, subject: &str, start_seq: u64, limit: usize) -> Result<Vec<Record>, PortError>;

    /// The newest `limit` records on `subject`, oldest first.
    fn tail(&self, subject: &str, limit: usize) -> Result<Vec<Record>, PortError>;
}

/// `LogPort` on the embedded log. Each subject is read from the stream that
/// captures it. The state stream is a system stream: only this backend's
/// writer can append to it; the history stream is marked in use.
#[derive(Clone)]
pub struct LogBackend {
    log: Log,
    writer: SystemWriter,
}

/// Who the guarded streams belong to, as the refusals name it.
const OWNER: &str = "hivelog's coordination state";

/// The stream the replaced stack used, with its 7-day retention.
pub const HISTORY_STREAM: &str = "MJ_ONLINE_WORK";
/// Where every version of each task and agent lives.
pub const STATE_STREAM: &str = "HIVELOG_STATE";
/// Versions kept per task or agent in the state stream.
pub const STATE_VERSIONS_KEPT: u64 = 1_000;
const HISTORY_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

impl LogBackend {
    /// The port on `log`, creating the history stream (`<prefix>.>`, 7
    /// days) and the state stream if they do not exist. Existing streams are
    /// left as the operator configured them.
    pub fn open(log: Log, prefix: &str) -> Result<Self, LogError> {
        let mut history = StreamConfig::new(HISTORY_STREAM, &[&format!("{prefix}.>")]);
        history.max_age = Some(HISTORY_MAX_AGE);
        history.description = Some(
            "tasks, coordination, errors and heartbeats, as the replaced stack published them"
                .into(),
        );
        let mut state = StreamConfig::new(STATE_STREAM, &[super::STATE_SUBJECTS]);
        // Agents rewrite their record with every heartbeat; keep a bounded
        // history per task and agent (the newest version always stays).
        state.max_msgs_per_subject = Some(STATE_VERSIONS_KEPT);
        state.description = Some(
            "every version of each task and agent; the source of hivelog's current state".into(),
        );
        for config in [history, state] {
            match log.stream_info(&config.name) {
                Ok(_) => {}
                Err(LogError::StreamNotFound(_)) => {
                    log.create_stream(config)?;
                }
                Err(e) => return Err(e),
            }
        }
        // Whatever the operator made of the history stream, the subjects
        // coordination writes to must stay captured.
        let ours = format!("{prefix}.>");
        let kept: Vec<String> = log
            .stream_info(HISTORY_STREAM)?
            .config
            .subjects
            .into_iter()
            .filter(|s| crate::log::subject::overlaps(s, &ours))
            .collect();
        let kept: Vec<&str> = kept.iter().map(String::as_str).collect();
        log.mark_in_use(HISTORY_STREAM, OWNER, &kept)?;
        let writer = log.claim_system_stream(STATE_STREAM, OWNER)?;
        Ok(LogBackend { log, writer })
    }

    fn stream_of(&self, subject: &str) -> Result<String, PortError> {
        let probe = subject.replace(['*', '>'], "x");
        self.log.stream_name_for(&probe).ok_or_else(|| {
            PortError::Log(LogError::NoStream {
                subject: subject.to_string(),
            })
        })
    }
}

impl LogPort for LogBackend {
    async fn append(
        &self,
        subject: &str,
        payload: Vec<u8>,
        expect: Option<u64>,
    ) -> Result<u64, PortError> {
        let opts = PublishOptions {
            expected_last_subject_seq: expect,
            ..Default::default()
        };
        match self.writer.publish(subject, payload, opts).await {
            Ok(ack) => ack.seq.ok_or_else(|| {
                PortError::Log(LogError::NoStream {
                    subject: subject.to_string(),
                })
            }),
            Err(LogError::WrongLastSubjectSequence { actual, .. }) => {
                Err(PortError::Conflict { actual })
            }
            Err(e) => Err(e.into()),
        }
    }

    fn last_per_subject(&self, filter: &str) -> Result<Vec<Record>, PortError> {
        let stream = self.stream_of(filter)?;
        Ok(self
            .log
            .last_per_subject(&stream, Some(filter), usize::MAX)?
            .into_iter()
            .map(Record::from)
            .collect())
    }

    fn last(&self, subject: &str) -> Result<Option<Record>, PortError> {
        let stream = self.stream_of(subject)?;
        match self.log.last_message(&stream, subject) {
            Ok(m) => Ok(Some(m.into())),
            Err(LogError::NoMessageForSubject { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn scan(&self, subject: &str, start_seq: u64, limit: usize) -> Result<Vec<Record>, PortError> {
        let stream = self.stream_of(subject)?;
        let range = ReadRange {
            start_seq: Some(start_seq),
            subject: Some(subject.to_string()),
            limit,
            ..Default::default()
        };
        Ok(self
            .log
            .read_range(&stream, &range)?
            .into_iter()
            .map(Record::from)
            .collect())
    }

    fn tail(&self, subject: &str, limit: usize) -> Result<Vec<Record>, PortError> {
        let stream = self.stream_of(subject)?;
        Ok(self
            .log
            .tail(&stream, subject, limit)?
            .into_iter()
            .map(Record::from)
            .collect())
    }
}
