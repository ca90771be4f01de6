//! `LogPort` on the embedded log. Each subject is read from the stream
//! that captures it; the log's errors become the port's neutral kinds.

use super::{LogPort, PortError, Record, Watch};
use crate::log::{
    DeliverFrom, DiskTrouble, Log, LogError, Message, PublishOptions, ReadRange, StreamConfig,
    SystemWriter,
};

impl From<Message> for Record {
    fn from(m: Message) -> Self {
        Record {
            subject: m.subject,
            seq: m.seq,
            payload: m.payload,
        }
    }
}

impl From<LogError> for PortError {
    fn from(e: LogError) -> Self {
        match e.disk_trouble() {
            Some(DiskTrouble::Full) => return PortError::Full(e.to_string()),
            Some(DiskTrouble::ReadOnly) => {
                return PortError::Unavailable(format!("the data directory is read-only: {e}"))
            }
            None => {}
        }
        match e {
            LogError::WrongLastSubjectSequence { actual, .. } => PortError::Conflict { actual },
            LogError::NoStream { .. } | LogError::StreamNotFound(_) => {
                PortError::NotFound(e.to_string())
            }
            LogError::InvalidSubject { .. }
            | LogError::InvalidMsgId(_)
            | LogError::MessageTooLarge { .. } => PortError::Invalid(e.to_string()),
            LogError::ShuttingDown => PortError::Unavailable(e.to_string()),
            LogError::Storage(_) => PortError::Unavailable(e.to_string()),
            other => PortError::Corrupt(other.to_string()),
        }
    }
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

    /// The log underneath, for whole-stream reads (`copy.rs`).
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// The only writer of the state stream, for copies into it.
    pub(super) fn writer(&self) -> &SystemWriter {
        &self.writer
    }

    fn stream_of(&self, subject: &str) -> Result<String, PortError> {
        let probe = subject.replace(['*', '>'], "x");
        self.log
            .stream_name_for(&probe)
            .ok_or_else(|| PortError::NotFound(format!("no stream stores {subject}")))
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
        let ack = self.writer.publish(subject, payload, opts).await?;
        ack.seq
            .ok_or_else(|| PortError::NotFound(format!("no stream stores {subject}")))
    }

    async fn append_with_copy(
        &self,
        subject: &str,
        payload: Vec<u8>,
        expect: Option<u64>,
        (copy_subject, copy): (&str, Vec<u8>),
        on_stored: super::OnStored,
    ) -> Result<(u64, Result<u64, PortError>), PortError> {
        let opts = PublishOptions {
            expected_last_subject_seq: expect,
            ..Default::default()
        };
        let (ack, copied) = self
            .writer
            .publish_then(
                (subject, payload, opts),
                (copy_subject, copy, PublishOptions::default()),
                on_stored,
            )
            .await?;
        let stored = |ack: crate::log::PubAck, subject: &str| {
            ack.seq
                .ok_or_else(|| PortError::NotFound(format!("no stream stores {subject}")))
        };
        let copied = copied
            .map_err(PortError::from)
            .and_then(|ack| stored(ack, copy_subject));
        Ok((stored(ack, subject)?, copied))
    }

    async fn last_per_subject(&self, filter: &str) -> Result<Vec<Record>, PortError> {
        let stream = self.stream_of(filter)?;
        Ok(self
            .log
            .last_per_subject(&stream, Some(filter), usize::MAX)?
            .into_iter()
            .map(Record::from)
            .collect())
    }

    async fn last(&self, subject: &str) -> Result<Option<Record>, PortError> {
        let stream = self.stream_of(subject)?;
        match self.log.last_message(&stream, subject) {
            Ok(m) => Ok(Some(m.into())),
            Err(LogError::NoMessageForSubject { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn scan(
        &self,
        subject: &str,
        start_seq: u64,
        limit: usize,
    ) -> Result<Vec<Record>, PortError> {
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

    async fn tail(&self, subject: &str, limit: usize) -> Result<Vec<Record>, PortError> {
        let stream = self.stream_of(subject)?;
        Ok(self
            .log
            .tail(&stream, subject, limit)?
            .into_iter()
            .map(Record::from)
            .collect())
    }

    async fn head(&self, filter: &str) -> Result<u64, PortError> {
        let stream = self.stream_of(filter)?;
        Ok(self.log.stream_info(&stream)?.state.last_seq)
    }

    async fn watch(&self, filter: &str, after: u64) -> Result<Watch, PortError> {
        let replay = self
            .log
            .subscribe_from(filter, DeliverFrom::StartSeq(after + 1))?;
        Ok(Box::pin(futures_util::stream::unfold(
            Some(replay),
            |replay| async move {
                let mut replay = replay?;
                match replay.next().await {
                    Ok(m) => Some((Ok(Record::from((*m).clone())), Some(replay))),
                    Err(e) => Some((Err(PortError::Unavailable(e.to_string())), None)),
                }
            },
        )))
    }

    /// One process holds the data directory (its lock refuses a second),
    /// so it always leads.
    async fn lead(&self, _: &str, _: &str, _: std::time::Duration) -> Result<bool, PortError> {
        Ok(true)
    }

    async fn load_snapshot(&self) -> Result<Option<Vec<u8>>, PortError> {
        let path = self.log.data_dir().join(SNAPSHOT_FILE);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PortError::Unavailable(format!("{}: {e}", path.display()))),
        }
    }

    /// Written beside the store under a temporary name, fsynced, then
    /// renamed over the old one: a crash leaves the old or the new, whole.
    async fn save_snapshot(&self, bytes: Vec<u8>) -> Result<(), PortError> {
        let dir = self.log.data_dir().to_path_buf();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let tmp = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, dir.join(SNAPSHOT_FILE))?;
            std::fs::File::open(&dir)?.sync_all()
        })
        .await
        .map_err(|e| PortError::Unavailable(e.to_string()))?
        .map_err(|e| PortError::Unavailable(format!("cannot write the coordination snapshot: {e}")))
    }
}

/// The coordination snapshot's file in the data directory.
pub const SNAPSHOT_FILE: &str = "coord.snapshot";
