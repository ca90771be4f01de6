//! Stream configuration (subjects and retention limits) and the stream's
//! running state, named as JetStream names them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::{serde_human, serde_human_opt};
use super::error::{LogError, Result};
use super::subject::{overlaps, validate_pattern};

/// NATS's default max payload; also the default per-stream message limit.
pub const DEFAULT_MAX_MSG_SIZE: u64 = 1024 * 1024;
/// The largest message any stream may be configured to accept. The HTTP
/// body limit is derived from it.
pub const MAX_MSG_SIZE_CAP: u64 = 8 * 1024 * 1024;
pub const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
const MAX_NAME_LEN: usize = 64;
const MAX_SUBJECTS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DiscardPolicy {
    /// Make room by removing the oldest messages.
    #[default]
    Old,
    /// Refuse new messages once a limit is reached.
    New,
}

/// What a stream captures and how much of it it keeps. Absent limits mean
/// "no limit". An absent `duplicate_window` is the default (2 minutes) or
/// `max_age` if that is shorter, as nats-server does: only a window given
/// explicitly longer than `max_age` is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StreamConfigInput")]
pub struct StreamConfig {
    pub name: String,
    pub subjects: Vec<String>,
    #[serde(
        default,
        with = "serde_human_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_age: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_msgs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_msgs_per_subject: Option<u64>,
    #[serde(default = "default_max_msg_size")]
    pub max_msg_size: u64,
    #[serde(default)]
    pub discard: DiscardPolicy,
    /// Read through `StreamConfigInput`, where its default is decided.
    #[serde(with = "serde_human")]
    pub duplicate_window: Duration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `StreamConfig` as written by a person (and sent by the CLI): the same
/// fields, with the duplicate window optional so its default can follow
/// `max_age`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfigInput {
    pub name: String,
    pub subjects: Vec<String>,
    #[serde(
        default,
        with = "serde_human_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_age: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_msgs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_msgs_per_subject: Option<u64>,
    #[serde(default = "default_max_msg_size")]
    pub max_msg_size: u64,
    #[serde(default)]
    pub discard: DiscardPolicy,
    #[serde(
        default,
        with = "serde_human_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub duplicate_window: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl From<StreamConfigInput> for StreamConfig {
    fn from(i: StreamConfigInput) -> Self {
        let duplicate_window = i.duplicate_window.unwrap_or(match i.max_age {
            Some(age) if age < DEFAULT_DUPLICATE_WINDOW => age,
            _ => DEFAULT_DUPLICATE_WINDOW,
        });
        StreamConfig {
            name: i.name,
            subjects: i.subjects,
            max_age: i.max_age,
            max_msgs: i.max_msgs,
            max_bytes: i.max_bytes,
            max_msgs_per_subject: i.max_msgs_per_subject,
            max_msg_size: i.max_msg_size,
            discard: i.discard,
            duplicate_window,
            description: i.description,
        }
    }
}

fn default_max_msg_size() -> u64 {
    DEFAULT_MAX_MSG_SIZE
}

impl StreamConfig {
    /// A stream with default limits capturing `subjects`.
    pub fn new(name: impl Into<String>, subjects: &[&str]) -> Self {
        StreamConfig {
            name: name.into(),
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            max_age: None,
            max_msgs: None,
            max_bytes: None,
            max_msgs_per_subject: None,
            max_msg_size: DEFAULT_MAX_MSG_SIZE,
            discard: DiscardPolicy::Old,
            duplicate_window: DEFAULT_DUPLICATE_WINDOW,
            description: None,
        }
    }

    /// Rejects names, subjects and limits that cannot work, with a message
    /// that says which field is wrong and why.
    pub fn validate(&self) -> Result<()> {
        validate_name("stream", &self.name)?;
        if self.subjects.is_empty() {
            return Err(invalid("subjects must list at least one subject pattern"));
        }
        if self.subjects.len() > MAX_SUBJECTS {
            return Err(invalid(format!(
                "a stream may capture at most {MAX_SUBJECTS} subject patterns"
            )));
        }
        for (i, s) in self.subjects.iter().enumerate() {
            validate_pattern(s)?;
            if let Some(other) = self.subjects[..i].iter().find(|o| overlaps(o, s)) {
                return Err(invalid(format!(
                    "subjects {other:?} and {s:?} overlap within the same stream"
                )));
            }
        }
        for (field, value) in [
            ("max_msgs", self.max_msgs),
            ("max_bytes", self.max_bytes),
            ("max_msgs_per_subject", self.max_msgs_per_subject),
        ] {
            if value == Some(0) {
                return Err(invalid(format!(
                    "{field} must be at least 1; leave it out (or null) for no limit"
                )));
            }
        }
        if self.max_msg_size == 0 || self.max_msg_size > MAX_MSG_SIZE_CAP {
            return Err(invalid(format!(
                "max_msg_size must be between 1 and {MAX_MSG_SIZE_CAP} bytes, not {}",
                self.max_msg_size
            )));
        }
        if self.max_age == Some(Duration::ZERO) {
            return Err(invalid(
                "max_age must be longer than 0; leave it out (or null) for no limit",
            ));
        }
        if let Some(age) = self.max_age {
            if self.duplicate_window > age {
                return Err(invalid("duplicate_window may not be longer than max_age"));
            }
        }
        if let Some(d) = &self.description {
            if d.len() > 1024 {
                return Err(invalid("description is longer than 1024 bytes"));
            }
        }
        Ok(())
    }

    /// Checks that none of our subjects can match a subject of `other`.
    pub fn check_no_overlap(&self, other: &StreamConfig) -> Result<()> {
        for ours in &self.subjects {
            if let Some(theirs) = other.subjects.iter().find(|t| overlaps(ours, t)) {
                return Err(LogError::SubjectsOverlap {
                    stream: other.name.clone(),
                    ours: ours.clone(),
                    theirs: theirs.clone(),
                });
            }
        }
        Ok(())
    }
}

fn invalid(msg: impl Into<String>) -> LogError {
    LogError::InvalidConfig(msg.into())
}

/// Stream and consumer names: 1–64 of `A-Z a-z 0-9 _ -`, as NATS
/// recommends, so a name is safe in a URL path, a subject and a key.
pub fn validate_name(kind: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(invalid(format!(
            "{kind} name must be 1 to {MAX_NAME_LEN} characters long"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(invalid(format!(
            "{kind} name {name:?} contains {c:?}; use only letters, digits, '_' and '-'"
        )));
    }
    Ok(())
}

/// The stream's counters, persisted with every change so that opening a
/// store never has to count messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StreamState {
    pub messages: u64,
    pub bytes: u64,
    /// Sequence of the oldest stored message; `last_seq + 1` when empty.
    pub first_seq: u64,
    pub last_seq: u64,
    /// Nanoseconds since the Unix epoch; 0 when there is no message.
    pub first_ts: i64,
    pub last_ts: i64,
    pub num_subjects: u64,
}

impl StreamState {
    pub fn empty() -> Self {
        StreamState {
            first_seq: 1,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults_and_human_durations() {
        let c: StreamConfig =
            serde_json::from_str(r#"{"name":"ORDERS","subjects":["orders.>"],"max_age":"7d"}"#)
                .unwrap();
        assert_eq!(c.max_age, Some(Duration::from_secs(7 * 86400)));
        assert_eq!(c.max_msg_size, DEFAULT_MAX_MSG_SIZE);
        assert_eq!(c.duplicate_window, DEFAULT_DUPLICATE_WINDOW);
        assert_eq!(c.discard, DiscardPolicy::Old);
        c.validate().unwrap();
        let back: StreamConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn rejects_bad_configs_with_the_field_named() {
        let cases = [
            (r#"{"name":"a b","subjects":["x"]}"#, "contains"),
            (r#"{"name":"A","subjects":[]}"#, "at least one"),
            (r#"{"name":"A","subjects":["x.>","x.y"]}"#, "overlap"),
            (r#"{"name":"A","subjects":["x"],"max_msgs":0}"#, "max_msgs"),
            (
                r#"{"name":"A","subjects":["x"],"max_msg_size":99999999999}"#,
                "max_msg_size",
            ),
            (
                r#"{"name":"A","subjects":["x"],"max_age":"1m","duplicate_window":"2m"}"#,
                "duplicate_window",
            ),
            (r#"{"name":"A","subjects":["a..b"]}"#, "empty"),
        ];
        // Without a window of its own, a short max_age shortens the
        // default window instead of being refused.
        let short: StreamConfig =
            serde_json::from_str(r#"{"name":"A","subjects":["x"],"max_age":2}"#).unwrap();
        assert_eq!(short.duplicate_window, Duration::from_secs(2));
        short.validate().unwrap();
        let long: StreamConfig =
            serde_json::from_str(r#"{"name":"A","subjects":["x"],"max_age":"1h"}"#).unwrap();
        assert_eq!(long.duplicate_window, DEFAULT_DUPLICATE_WINDOW);
        for (json, needle) in cases {
            let c: StreamConfig = serde_json::from_str(json).unwrap();
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{json}: {err}");
        }
        assert!(serde_json::from_str::<StreamConfig>(
            r#"{"name":"A","subjects":["x"],"max_msgs":-5}"#
        )
        .is_err());
        assert!(
            serde_json::from_str::<StreamConfig>(r#"{"name":"A","subjects":["x"],"bogus":1}"#)
                .is_err()
        );
    }

    #[test]
    fn streams_may_not_overlap() {
        let a = StreamConfig::new("A", &["mjwork.>"]);
        let b = StreamConfig::new("B", &["mjwork.tasks"]);
        let c = StreamConfig::new("C", &["other.*"]);
        assert!(b.check_no_overlap(&a).is_err());
        assert!(c.check_no_overlap(&a).is_ok());
    }
}
