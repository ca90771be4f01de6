//! Times as clients write them in queries and frames (how messages and
//! times look in answers is `ops::messages`).

use chrono::{DateTime, NaiveDateTime, Utc};

use super::error::ApiError;

/// Accepts RFC 3339 (`...Z` or with an offset) and naive ISO-8601 times,
/// which are taken as UTC.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|t| t.and_utc())
        .map_err(|_| {
            ApiError::bad_request(format!(
                "invalid time {text:?}: use ISO-8601, e.g. 2026-11-25T14:46:30Z"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_with_and_without_offset() {
        let a = parse_time("2026-11-25T14:46:30.468599").unwrap();
        let b = parse_time("2026-11-25T14:46:30.468599Z").unwrap();
        let c = parse_time("2026-11-25T15:46:30.468599+01:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert!(parse_time("yesterday").is_err());
    }
}
