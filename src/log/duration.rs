//! Durations as users write them: integer seconds (`90`) or a number with a
//! unit (`"1500ms"`, `"90s"`, `"5m"`, `"2h"`, `"7d"`), and a compact form
//! for answers that reads back the same way.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;

/// The longest duration accepted anywhere (about 100 years); anything
/// larger is a typo, and it keeps arithmetic on timestamps from overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (use whole seconds like 90, or a number with a unit: 1500ms, 90s, 5m, 2h, 7d)")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

/// Parses `"90"`, `"90s"`, `"1500ms"`, `"5m"`, `"2h"`, `"7d"`.
///
/// ```
/// use std::time::Duration;
/// use hivelog::log::duration::parse_duration;
/// assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: text.chars().take(40).collect(),
        reason,
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    if digits.is_empty() {
        return Err(err("it does not start with a number"));
    }
    let value: u64 = digits.parse().map_err(|_| err("the number is too large"))?;
    let millis_per_unit: u64 = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(err("unknown unit")),
    };
    let millis = value
        .checked_mul(millis_per_unit)
        .ok_or_else(|| err("the duration is too large"))?;
    let duration = Duration::from_millis(millis);
    if duration > MAX_DURATION {
        return Err(err("the duration is longer than 100 years"));
    }
    Ok(duration)
}

/// The largest unit that expresses `d` exactly: `7d`, `2h`, `90s`, `1500ms`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// `#[serde(with = "duration::serde_human")]` for a `Duration` field.
pub mod serde_human {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(HumanDuration)
    }
}

/// The same for an `Option<Duration>`; `null` or absent means none.
pub mod serde_human_opt {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        d.deserialize_option(OptionalHumanDuration)
    }

    struct OptionalHumanDuration;

    impl<'de> Visitor<'de> for OptionalHumanDuration {
        type Value = Option<Duration>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a duration (seconds, or a string like \"90s\") or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(HumanDuration).map(Some)
        }
    }
}

struct HumanDuration;

impl Visitor<'_> for HumanDuration {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a duration: whole seconds, or a string like \"1500ms\", \"90s\", \"2h\", \"7d\"",
        )
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        let d = Duration::from_secs(v);
        if d > MAX_DURATION {
            return Err(E::custom(format!("duration {v}s is longer than 100 years")));
        }
        Ok(d)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map_err(|_| E::custom(format!("duration {v} is negative")))
            .and_then(|v| self.visit_u64(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        if !(v.is_finite() && v >= 0.0 && v <= MAX_DURATION.as_secs_f64()) {
            return Err(E::custom(format!(
                "duration {v} is not a valid number of seconds"
            )));
        }
        Ok(Duration::from_secs_f64(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86400)
        );
        for bad in [
            "",
            "s",
            "-5s",
            "5x",
            "1.5h",
            "99999999999999999999",
            "40000d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format_duration(Duration::from_secs(7 * 86400)), "7d");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[derive(serde::Deserialize)]
    struct Holder {
        #[serde(with = "serde_human")]
        d: Duration,
        #[serde(default, with = "serde_human_opt")]
        o: Option<Duration>,
    }

    #[test]
    fn deserializes_numbers_strings_and_null() {
        let h: Holder = serde_json::from_str(r#"{"d": 30, "o": "2m"}"#).unwrap();
        assert_eq!(
            (h.d, h.o),
            (Duration::from_secs(30), Some(Duration::from_secs(120)))
        );
        let h: Holder = serde_json::from_str(r#"{"d": "1h", "o": null}"#).unwrap();
        assert_eq!((h.d, h.o), (Duration::from_secs(3600), None));
        let h: Holder = serde_json::from_str(r#"{"d": 0.5}"#).unwrap();
        assert_eq!((h.d, h.o), (Duration::from_millis(500), None));
        assert!(serde_json::from_str::<Holder>(r#"{"d": -1}"#).is_err());
        assert!(serde_json::from_str::<Holder>(r#"{"d": "soon"}"#).is_err());
        assert!(serde_json::from_str::<Holder>(r#"{"d": true}"#).is_err());
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ms in 0u64..(100 * 365 * 86_400_000u64)) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,24}") {
            let _ = parse_duration(&text);
        }
    }
}
