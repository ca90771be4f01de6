//! hivelog's consumer settings and state as JetStream's, and back: every
//! setting hivelog takes maps one to one.

use std::time::Duration;

use async_nats::jetstream::consumer;

use super::Result;
use crate::log::{AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy, LogError, SequenceInfo};

fn nanos(t: async_nats::datetime::DateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(0)
}

/// hivelog's consumer settings as JetStream's.
pub(super) fn to_jetstream(c: &ConsumerConfig) -> Result<consumer::pull::Config> {
    let deliver_policy = match c.deliver_policy {
        DeliverPolicy::All => consumer::DeliverPolicy::All,
        DeliverPolicy::Last => consumer::DeliverPolicy::Last,
        DeliverPolicy::New => consumer::DeliverPolicy::New,
        DeliverPolicy::LastPerSubject => consumer::DeliverPolicy::LastPerSubject,
        DeliverPolicy::ByStartSequence => consumer::DeliverPolicy::ByStartSequence {
            start_sequence: c.opt_start_seq.unwrap_or(1),
        },
        DeliverPolicy::ByStartTime => consumer::DeliverPolicy::ByStartTime {
            start_time: async_nats::datetime::DateTime::from_unix_timestamp_nanos(
                c.opt_start_time
                    .and_then(|t| t.timestamp_nanos_opt())
                    .map(i128::from)
                    .unwrap_or(0),
            )
            .map_err(|e| LogError::InvalidConfig(format!("opt_start_time: {e}")))?,
        },
    };
    Ok(consumer::pull::Config {
        durable_name: c.durable_name.clone(),
        name: c.name.clone(),
        description: c.description.clone(),
        filter_subjects: c.filter_subjects.clone(),
        deliver_policy,
        ack_policy: match c.ack_policy {
            AckPolicy::Explicit => consumer::AckPolicy::Explicit,
            AckPolicy::None => consumer::AckPolicy::None,
            AckPolicy::All => consumer::AckPolicy::All,
        },
        ack_wait: c.ack_wait,
        max_deliver: c
            .max_deliver
            .map_or(-1, |m| i64::try_from(m).unwrap_or(i64::MAX)),
        max_ack_pending: i64::try_from(c.max_ack_pending).unwrap_or(i64::MAX),
        // JetStream removes a durable consumer only when asked.
        inactive_threshold: if c.durable_name.is_some() {
            Duration::ZERO
        } else {
            c.inactive_threshold
        },
        ..Default::default()
    })
}

/// JetStream's view of a consumer as hivelog answers it (every setting
/// hivelog takes maps back one to one).
pub(super) fn to_info(i: &consumer::Info) -> ConsumerInfo {
    let c = &i.config;
    let (deliver_policy, opt_start_seq, opt_start_time) = match c.deliver_policy {
        consumer::DeliverPolicy::All => (DeliverPolicy::All, None, None),
        consumer::DeliverPolicy::Last => (DeliverPolicy::Last, None, None),
        consumer::DeliverPolicy::New => (DeliverPolicy::New, None, None),
        consumer::DeliverPolicy::LastPerSubject => (DeliverPolicy::LastPerSubject, None, None),
        consumer::DeliverPolicy::ByStartSequence { start_sequence } => {
            (DeliverPolicy::ByStartSequence, Some(start_sequence), None)
        }
        consumer::DeliverPolicy::ByStartTime { start_time } => (
            DeliverPolicy::ByStartTime,
            None,
            Some(chrono::DateTime::from_timestamp_nanos(nanos(start_time))),
        ),
    };
    let mut filters = c.filter_subjects.clone();
    if !c.filter_subject.is_empty() {
        filters.push(c.filter_subject.clone());
    }
    let config = ConsumerConfig {
        durable_name: c.durable_name.clone(),
        name: Some(i.name.clone()),
        description: c.description.clone(),
        filter_subject: None,
        filter_subjects: filters,
        deliver_policy,
        opt_start_seq,
        opt_start_time,
        ack_policy: match c.ack_policy {
            consumer::AckPolicy::None => AckPolicy::None,
            consumer::AckPolicy::All => AckPolicy::All,
            _ => AckPolicy::Explicit,
        },
        ack_wait: c.ack_wait,
        max_deliver: u64::try_from(c.max_deliver).ok().filter(|m| *m > 0),
        max_ack_pending: u64::try_from(c.max_ack_pending).unwrap_or(0),
        inactive_threshold: c.inactive_threshold,
    };
    ConsumerInfo {
        stream_name: i.stream_name.clone(),
        name: i.name.clone(),
        durable: c.durable_name.is_some(),
        config,
        created_ns: nanos(i.created),
        delivered: SequenceInfo {
            consumer_seq: i.delivered.consumer_sequence,
            stream_seq: i.delivered.stream_sequence,
        },
        ack_floor: SequenceInfo {
            consumer_seq: i.ack_floor.consumer_sequence,
            stream_seq: i.ack_floor.stream_sequence,
        },
        num_ack_pending: i.num_ack_pending as u64,
        num_redelivered: i.num_redelivered as u64,
        num_pending: i.num_pending,
    }
}

/// The settings as `to_info` would show them back, for comparing.
pub(super) fn to_info_config(c: &ConsumerConfig) -> ConsumerConfig {
    let mut c = c.clone();
    if let Some(f) = c.filter_subject.take() {
        c.filter_subjects.push(f);
    }
    if c.durable_name.is_some() {
        c.inactive_threshold = Duration::ZERO;
    }
    c
}
