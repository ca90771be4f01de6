//! What users configure on a consumer: where it starts, which subjects it
//! wants, how acks work, and the checks that keep those settings sane.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::log::duration::serde_human;
use crate::log::error::{LogError, Result};
use crate::log::stream::{validate_name, StreamConfig};
use crate::log::subject::{matches, overlaps, validate_pattern};

pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_ACK_PENDING: u64 = 1000;
pub const DEFAULT_INACTIVE_THRESHOLD: Duration = Duration::from_secs(300);
const MAX_ACK_PENDING_CAP: u64 = 1_000_000;
const MAX_FILTERS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeliverPolicy {
    #[default]
    All,
    Last,
    New,
    ByStartSequence,
    ByStartTime,
    LastPerSubject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AckPolicy {
    #[default]
    Explicit,
    None,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckKind {
    #[default]
    Ack,
    Nak,
    /// Work in progress: the consumer is still on it; restart the ack timer.
    Wpi,
    /// Stop redelivering this message.
    Term,
}

/// A consumer as users configure it. `durable_name` makes it durable (kept
/// across restarts); without it the consumer is ephemeral and goes away
/// after `inactive_threshold` without fetches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durable_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// NATS's single-filter spelling; merged into `filter_subjects`.
    #[serde(default, skip_serializing)]
    pub filter_subject: Option<String>,
    #[serde(default)]
    pub filter_subjects: Vec<String>,
    #[serde(default)]
    pub deliver_policy: DeliverPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_start_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_start_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ack_policy: AckPolicy,
    #[serde(default = "default_ack_wait", with = "serde_human")]
    pub ack_wait: Duration,
    /// `None` (or absent) means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_deliver: Option<u64>,
    #[serde(default = "default_max_ack_pending")]
    pub max_ack_pending: u64,
    #[serde(default = "default_inactive_threshold", with = "serde_human")]
    pub inactive_threshold: Duration,
}

fn default_ack_wait() -> Duration {
    DEFAULT_ACK_WAIT
}
fn default_max_ack_pending() -> u64 {
    DEFAULT_MAX_ACK_PENDING
}
fn default_inactive_threshold() -> Duration {
    DEFAULT_INACTIVE_THRESHOLD
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            durable_name: None,
            name: None,
            description: None,
            filter_subject: None,
            filter_subjects: Vec::new(),
            deliver_policy: DeliverPolicy::All,
            opt_start_seq: None,
            opt_start_time: None,
            ack_policy: AckPolicy::Explicit,
            ack_wait: DEFAULT_ACK_WAIT,
            max_deliver: None,
            max_ack_pending: DEFAULT_MAX_ACK_PENDING,
            inactive_threshold: DEFAULT_INACTIVE_THRESHOLD,
        }
    }
}

impl ConsumerConfig {
    pub fn is_durable(&self) -> bool {
        self.durable_name.is_some()
    }

    /// Folds `filter_subject` into `filter_subjects` and checks every field
    /// against the stream it will read.
    pub fn normalize_and_validate(&mut self, stream: &StreamConfig) -> Result<()> {
        let invalid = |m: String| LogError::InvalidConfig(m);
        if let Some(f) = self.filter_subject.take() {
            if !self.filter_subjects.contains(&f) {
                self.filter_subjects.insert(0, f);
            }
        }
        match (&self.durable_name, &self.name) {
            (Some(d), Some(n)) if d != n => {
                return Err(invalid(format!(
                    "durable_name {d:?} and name {n:?} differ; give one, or the same"
                )))
            }
            (Some(d), _) => {
                validate_name("consumer", d)?;
                self.name = Some(d.clone());
            }
            (None, Some(n)) => validate_name("consumer", n)?,
            (None, None) => {}
        }
        if self.filter_subjects.len() > MAX_FILTERS {
            return Err(invalid(format!("at most {MAX_FILTERS} filter subjects")));
        }
        for f in &self.filter_subjects {
            validate_pattern(f)?;
            if !stream.subjects.iter().any(|s| overlaps(s, f)) {
                return Err(invalid(format!(
                    "filter subject {f:?} matches none of stream {}'s subjects {:?}",
                    stream.name, stream.subjects
                )));
            }
        }
        match self.deliver_policy {
            DeliverPolicy::ByStartSequence => match self.opt_start_seq {
                Some(s) if s >= 1 => {}
                _ => {
                    return Err(invalid(
                        "deliver_policy by_start_sequence needs opt_start_seq >= 1".into(),
                    ))
                }
            },
            DeliverPolicy::ByStartTime if self.opt_start_time.is_none() => {
                return Err(invalid(
                    "deliver_policy by_start_time needs opt_start_time".into(),
                ))
            }
            _ => {}
        }
        if self.deliver_policy != DeliverPolicy::ByStartSequence && self.opt_start_seq.is_some() {
            return Err(invalid(
                "opt_start_seq is only allowed with deliver_policy by_start_sequence".into(),
            ));
        }
        if self.deliver_policy != DeliverPolicy::ByStartTime && self.opt_start_time.is_some() {
            return Err(invalid(
                "opt_start_time is only allowed with deliver_policy by_start_time".into(),
            ));
        }
        if self.ack_wait < Duration::from_millis(1) {
            return Err(invalid("ack_wait must be at least 1ms".into()));
        }
        if self.max_deliver == Some(0) {
            return Err(invalid(
                "max_deliver must be at least 1; leave it out for unlimited".into(),
            ));
        }
        if self.max_ack_pending == 0 || self.max_ack_pending > MAX_ACK_PENDING_CAP {
            return Err(invalid(format!(
                "max_ack_pending must be between 1 and {MAX_ACK_PENDING_CAP}"
            )));
        }
        if self.inactive_threshold.is_zero() {
            return Err(invalid("inactive_threshold must be longer than 0".into()));
        }
        Ok(())
    }

    /// Does a message on `subject` belong to this consumer?
    pub fn wants(&self, subject: &str) -> bool {
        self.filter_subjects.is_empty() || self.filter_subjects.iter().any(|f| matches(f, subject))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation_names_the_field() {
        let stream = StreamConfig::new("S", &["orders.>"]);
        let mut c = ConsumerConfig {
            filter_subject: Some("other.x".into()),
            ..Default::default()
        };
        assert!(c
            .normalize_and_validate(&stream)
            .unwrap_err()
            .to_string()
            .contains("matches none"));
        let mut c = ConsumerConfig {
            deliver_policy: DeliverPolicy::ByStartSequence,
            ..Default::default()
        };
        assert!(c
            .normalize_and_validate(&stream)
            .unwrap_err()
            .to_string()
            .contains("opt_start_seq"));
        let mut c = ConsumerConfig {
            durable_name: Some("bad name".into()),
            ..Default::default()
        };
        assert!(c.normalize_and_validate(&stream).is_err());
        let mut c = ConsumerConfig {
            filter_subject: Some("orders.*".into()),
            ..Default::default()
        };
        c.normalize_and_validate(&stream).unwrap();
        assert_eq!(c.filter_subjects, vec!["orders.*".to_string()]);
        assert!(c.wants("orders.1") && !c.wants("orders.1.x"));
    }
}
