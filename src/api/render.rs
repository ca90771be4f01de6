//! How messages and times look in answers. A payload is shown as `data`
//! (the parsed JSON value) when it is valid JSON, else as `text` when it is
//! UTF-8, else as base64 in `data_b64`.

use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{json, Map, Value};

use super::error::ApiError;
use crate::log::Message;

/// RFC 3339 in UTC with nanoseconds, as JetStream reports times.
pub fn time(ns: i64) -> Value {
    crate::ops::consumers::rfc3339(ns).map_or(Value::Null, Value::String)
}

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

pub fn payload_fields(payload: &[u8], into: &mut Map<String, Value>) {
    if let Ok(value) = serde_json::from_slice::<Value>(payload) {
        into.insert("data".into(), value);
    } else if let Ok(text) = std::str::from_utf8(payload) {
        into.insert("text".into(), Value::String(text.to_string()));
    } else {
        into.insert(
            "data_b64".into(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(payload)),
        );
    }
}

pub fn message(m: &Message) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(stream) = &m.stream {
        out.insert("stream".into(), json!(stream.as_ref()));
    }
    out.insert("subject".into(), json!(m.subject));
    // A message no stream captured has no sequence.
    out.insert(
        "seq".into(),
        if m.stream.is_some() {
            json!(m.seq)
        } else {
            Value::Null
        },
    );
    out.insert("time".into(), time(m.time_ns));
    out.insert("headers".into(), json!(m.headers));
    payload_fields(&m.payload, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_rule() {
        let mut m = Map::new();
        payload_fields(br#"{"a":1}"#, &mut m);
        assert_eq!(m["data"], json!({"a": 1}));
        let mut m = Map::new();
        payload_fields(b"hello", &mut m);
        assert_eq!(m["text"], json!("hello"));
        let mut m = Map::new();
        payload_fields(&[0xff, 0x00], &mut m);
        assert_eq!(m["data_b64"], json!("/wA="));
    }

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
