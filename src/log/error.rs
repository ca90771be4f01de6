//! The log layer's one error type. Each variant is a distinct answer a
//! caller can act on; the API layer maps each to exactly one status code.

use super::duration::DurationError;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("invalid subject {subject:?}: {reason}")]
    InvalidSubject { subject: String, reason: String },

    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    #[error(transparent)]
    InvalidDuration(#[from] DurationError),

    #[error("stream {0} not found")]
    StreamNotFound(String),

    #[error("stream {0} already exists with a different configuration")]
    StreamExists(String),

    #[error(
        "subjects overlap with stream {stream}: {ours:?} and {theirs:?} can match the same subject"
    )]
    SubjectsOverlap {
        stream: String,
        ours: String,
        theirs: String,
    },

    #[error("message {seq} not found in stream {stream}")]
    MessageNotFound { stream: String, seq: u64 },

    #[error("no message on subject {subject:?} in stream {stream}")]
    NoMessageForSubject { stream: String, subject: String },

    #[error("expected stream {expected} but subject {subject:?} is captured by {}", .actual.as_deref().unwrap_or("no stream"))]
    WrongStream {
        expected: String,
        subject: String,
        actual: Option<String>,
    },

    #[error("wrong last sequence: expected {expected}, the stream's last sequence is {actual}")]
    WrongLastSequence { expected: u64, actual: u64 },

    #[error("wrong last sequence for subject {subject:?}: expected {expected}, the subject's last sequence is {actual}")]
    WrongLastSubjectSequence {
        subject: String,
        expected: u64,
        actual: u64,
    },

    #[error("message is {size} bytes; stream {stream} accepts at most {max} ({limit})")]
    MessageTooLarge {
        stream: String,
        size: u64,
        max: u64,
        limit: &'static str,
    },

    #[error(
        "no stream captures subject {subject:?}, so the publish expectations cannot be checked"
    )]
    NoStream { subject: String },

    #[error("invalid message id: {0}")]
    InvalidMsgId(String),

    #[error(
        "stream {stream} is full: {limit} = {value} reached and the discard policy is \"new\""
    )]
    StreamFull {
        stream: String,
        limit: &'static str,
        value: u64,
    },

    #[error("consumer {consumer} not found on stream {stream}")]
    ConsumerNotFound { stream: String, consumer: String },

    #[error(
        "consumer {consumer} already exists on stream {stream} with a different configuration"
    )]
    ConsumerExists { stream: String, consumer: String },

    #[error("message {seq} is not awaiting an ack from consumer {consumer}")]
    NotPending { consumer: String, seq: u64 },

    /// A guarded stream (see `guard.rs`) refused a generic operation.
    #[error("stream {stream} belongs to {owner}: {detail}")]
    Protected {
        stream: String,
        owner: String,
        detail: String,
    },

    #[error("the on-disk data is damaged: {0}")]
    Corrupt(String),

    #[error("data directory was written by on-disk format version {found}; this hivelog understands up to version {supported}. Upgrade hivelog, or point --data-dir elsewhere")]
    FormatTooNew { found: u32, supported: u32 },

    #[error("data directory {0} is in use by another hivelog process")]
    DataDirInUse(String),

    #[error("{0}")]
    ForeignDataDir(String),

    #[error("{0}")]
    DamagedStore(String),

    #[error("only {} MiB free on the data directory's disk, under the reserve of {} MiB kept so the store never runs out mid-write (--min-free-disk-mb)", free / (1024 * 1024), reserve / (1024 * 1024))]
    DiskFull { free: u64, reserve: u64 },

    #[error("the log is shutting down")]
    ShuttingDown,

    #[error("not published: the publish it was to follow was not stored")]
    NotFollowed,

    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
}

pub type Result<T, E = LogError> = std::result::Result<T, E>;

/// Why the disk refused a write, when it is the disk's state rather than
/// a fault in the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskTrouble {
    Full,
    ReadOnly,
}

impl LogError {
    /// The same failure again, for another writer that waited on it
    /// (`LogError` is not `Clone`); an I/O error keeps its kind, so a full
    /// disk is still recognised.
    pub(crate) fn for_another_writer(&self) -> LogError {
        let (kind, detail) = match self {
            LogError::Storage(sled::Error::Io(io)) => (io.kind(), io.to_string()),
            LogError::DiskFull { free, reserve } => {
                return LogError::DiskFull {
                    free: *free,
                    reserve: *reserve,
                }
            }
            _ => (std::io::ErrorKind::Other, self.to_string()),
        };
        LogError::Storage(sled::Error::Io(std::io::Error::new(kind, detail)))
    }

    pub fn disk_trouble(&self) -> Option<DiskTrouble> {
        if let LogError::DiskFull { .. } = self {
            return Some(DiskTrouble::Full);
        }
        let LogError::Storage(sled::Error::Io(io)) = self else {
            return None;
        };
        match io.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                Some(DiskTrouble::Full)
            }
            std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied => {
                Some(DiskTrouble::ReadOnly)
            }
            _ => None,
        }
    }
}

impl From<bincode::error::DecodeError> for LogError {
    fn from(e: bincode::error::DecodeError) -> Self {
        LogError::Corrupt(e.to_string())
    }
}

impl From<bincode::error::EncodeError> for LogError {
    fn from(e: bincode::error::EncodeError) -> Self {
        LogError::Corrupt(format!("could not encode a record: {e}"))
    }
}

impl From<serde_json::Error> for LogError {
    fn from(e: serde_json::Error) -> Self {
        LogError::Corrupt(format!("could not read a stored configuration: {e}"))
    }
}
