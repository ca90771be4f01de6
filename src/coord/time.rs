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

    pub fn plus(self, d: std::time::Duration) -> Self {
        Timestamp(self.0 + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX))
    }

    /// How long ago this was (zero if in the future).
    pub fn age(self) -> std::time::Duration {
        (Utc::now() - self.0).to_std().unwrap_or_default()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.naive_utc().format(FORMAT))
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

#[cfg(test)]
mod tests {
    use super::*;
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

    proptest! {
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
