//! Timestamps as the replaced service wrote them: UTC, ISO-8601 with
//! microseconds and no offset (`2026-11-25T14:46:30.468599`), because old
//! Python clients parse them with `datetime.fromisoformat` and compare them
//! with naive datetimes. Input is accepted with or without `Z` or an offset.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Now, truncated to the microseconds the wire format carries.
    pub fn now() -> Self {
        Timestamp(Utc::now().trunc_subsecs(6))
    }

    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Some(Timestamp(t.with_timezone(&Utc).trunc_subsecs(6)));
        }
        // Naive forms, also with a space instead of 'T' (Python's str()).
        for fmt in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
        ] {
            if let Ok(t) = NaiveDateTime::parse_from_str(text, fmt) {
                return Some(Timestamp(t.and_utc().trunc_subsecs(6)));
            }
        }
        None
    }

    /// Saturates at the end of time rather than overflowing.
    pub fn plus(self, d: std::time::Duration) -> Self {
        let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        self.0
            .checked_add_signed(d)
            .map_or(Timestamp(DateTime::<Utc>::MAX_UTC), Timestamp)
    }

    pub fn minus(self, d: std::time::Duration) -> Self {
        let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        self.0
            .checked_sub_signed(d)
            .map_or(Timestamp(DateTime::<Utc>::MIN_UTC), Timestamp)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use chrono::{Datelike, Timelike};
        let t = self.0.naive_utc();
        // Written field by field: chrono's `format` parses FORMAT again on
        // every call, and every task and message answer carries times.
        // Years past four digits (only saturated times) and leap seconds
        // (written as second 60) take chrono's way.
        if !(0..=9999).contains(&t.year()) || t.nanosecond() >= 1_000_000_000 {
            return write!(f, "{}", t.format(FORMAT));
        }
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.nanosecond() / 1_000
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).ok_or_else(|| {
            de::Error::custom(format!(
                "invalid timestamp {text:?}: use ISO-8601, e.g. 2026-01-30T10:12:00.123456"
            ))
        })
    }
}

/// A time a client may send (a task's `created_at`, a message's or a
/// heartbeat's `timestamp`): echoed exactly as sent, because old clients
/// compare what they read back with what they wrote, and parsed so it can
/// still order tasks and age heartbeats. The server's own times are plain
/// [`Timestamp`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTime {
    at: Timestamp,
    /// The text as the client sent it, when it differs from `at`'s
    /// canonical form.
    text: Option<Box<str>>,
}

impl ClientTime {
    pub fn at(&self) -> Timestamp {
        self.at
    }

    /// The client's own spelling, when it differs from `at`'s.
    pub fn original_text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// `at` as a client spelled it (a snapshot's copy; see `parse`).
    pub fn with_text(at: Timestamp, text: String) -> Self {
        ClientTime {
            at,
            text: Some(text.into()),
        }
    }

    /// Parses a client's text, keeping it for the answer.
    pub fn parse(text: &str) -> Option<Self> {
        let at = Timestamp::parse(text)?;
        let text = (at.to_string() != text).then(|| text.into());
        Some(ClientTime { at, text })
    }
}

impl From<Timestamp> for ClientTime {
    fn from(at: Timestamp) -> Self {
        ClientTime { at, text: None }
    }
}

impl fmt::Display for ClientTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text {
            Some(text) => f.write_str(text),
            None => self.at.fmt(f),
        }
    }
}

impl Serialize for ClientTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClientTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ClientTime::parse(&text).ok_or_else(|| {
            de::Error::custom(format!(
                "invalid timestamp {text:?}: use ISO-8601, e.g. 2026-01-30T10:12:00.123456"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_and_minus_saturate_instead_of_overflowing() {
        let t = Timestamp::now();
        assert_eq!(t.plus(std::time::Duration::MAX).0, DateTime::<Utc>::MAX_UTC);
        assert_eq!(
            t.minus(std::time::Duration::MAX).0,
            DateTime::<Utc>::MIN_UTC
        );
        let d = std::time::Duration::from_secs(10);
        assert_eq!(t.plus(d).minus(d), t);
    }
    use proptest::prelude::*;

    #[test]
    fn writes_naive_microseconds_and_reads_every_common_form() {
        let t = Timestamp::parse("2026-11-25T14:46:30.468599").unwrap();
        assert_eq!(t.to_string(), "2026-11-25T14:46:30.468599");
        for other in [
            "2026-11-25T14:46:30.468599Z",
            "2026-11-25T15:46:30.468599+01:00",
            "2026-11-25 14:46:30.468599",
        ] {
            assert_eq!(Timestamp::parse(other), Some(t), "{other}");
        }
        assert_eq!(
            Timestamp::parse("2026-01-30T10:12:00").unwrap().to_string(),
            "2026-01-30T10:12:00.000000"
        );
        assert!(Timestamp::parse("yesterday").is_none());
    }

    #[test]
    fn client_times_are_echoed_as_sent() {
        for sent in [
            "2026-01-30T10:12:00",
            "2026-01-30T10:12:00.123456",
            "2026-01-30T10:12:00.123Z",
            "2026-01-30 11:12:00+01:00",
        ] {
            let t = ClientTime::parse(sent).unwrap();
            assert_eq!(t.to_string(), sent);
            assert_eq!(serde_json::to_value(&t).unwrap(), sent);
        }
        let a = ClientTime::parse("2026-01-30T10:12:00Z").unwrap();
        let b = ClientTime::parse("2026-01-30T11:12:00+01:00").unwrap();
        assert_eq!(a.at(), b.at());
        assert!(serde_json::from_str::<ClientTime>("\"soon\"").is_err());
    }

    #[test]
    fn the_ends_of_time_and_leap_seconds_are_written_as_chrono_writes_them() {
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_234_567_891))
            .map(|t| t.and_utc());
        for t in [DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC]
            .into_iter()
            .chain(leap)
        {
            assert_eq!(
                Timestamp(t).to_string(),
                t.naive_utc().format(FORMAT).to_string()
            );
        }
    }

    proptest! {
        #[test]
        fn display_writes_what_chrono_formats(
            secs in -70_000_000_000i64..300_000_000_000,
            nanos in 0u32..1_000_000_000,
        ) {
            let t = DateTime::<Utc>::from_timestamp(secs, nanos).unwrap();
            prop_assert_eq!(
                Timestamp(t).to_string(),
                t.naive_utc().format(FORMAT).to_string()
            );
        }

        #[test]
        fn display_then_parse_round_trips(micros in 0i64..4_000_000_000_000_000) {
            let t = Timestamp(DateTime::from_timestamp_micros(micros).unwrap());
            prop_assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,40}") {
            let _ = Timestamp::parse(&text);
        }
    }
}
