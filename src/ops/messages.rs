//! How a stored message looks in every answer and frame that carries one
//! (stream reads, consumer fetches, WebSocket `msg` frames), and the
//! answers of the stream-message and channel routes, which the API
//! renders and the CLI reads back.

use base64::Engine;
use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::coord::channels::ChannelMessage;
use crate::coord::time::ClientTime;
use crate::log::{Headers, Message};

/// A time in nanoseconds since the epoch as RFC 3339 with nanoseconds,
/// as JetStream reports times (null when unknown).
pub fn rfc3339(ns: i64) -> Option<String> {
    (ns != 0)
        .then(|| DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Nanos, true))
}

/// A payload as answers show it: the parsed JSON value when it is valid
/// JSON, else the text when it is UTF-8, else base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    Data(Value),
    Text(String),
    DataB64(String),
}

impl Payload {
    pub fn of(bytes: &[u8]) -> Self {
        if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
            Payload::Data(value)
        } else if let Ok(text) = std::str::from_utf8(bytes) {
            Payload::Text(text.to_string())
        } else {
            Payload::DataB64(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
    }
}

/// One message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Shown {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    pub subject: String,
    /// A message no stream captured has no sequence.
    pub seq: Option<u64>,
    pub time: Option<String>,
    pub headers: Headers,
    #[serde(flatten)]
    pub payload: Payload,
}

impl From<&Message> for Shown {
    fn from(m: &Message) -> Self {
        Shown {
            stream: m.stream.as_deref().map(str::to_string),
            subject: m.subject.clone(),
            seq: m.stream.is_some().then_some(m.seq),
            time: rfc3339(m.time_ns),
            headers: m.headers.clone(),
            payload: Payload::of(&m.payload),
        }
    }
}

/// `GET /api/streams/{name}/messages`.
#[derive(Debug, Serialize, Deserialize)]
pub struct StreamMessages {
    pub stream: String,
    pub messages: Vec<Shown>,
}

/// `DELETE /api/streams/{name}/messages/{seq}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct MessageRemoved {
    pub success: bool,
    pub stream: String,
    pub seq: u64,
}

/// What a post to a channel answers: the replaced service's keys, then
/// the message.
#[derive(Debug, Serialize, Deserialize)]
pub struct Posted {
    pub success: bool,
    pub sequence: Option<u64>,
    pub stream: String,
    pub timestamp: Option<ClientTime>,
    pub message: ChannelMessage,
}

/// `GET /api/v2/messages/{channel}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct MessageList {
    pub channel: String,
    pub messages: Vec<ChannelMessage>,
    pub count: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payload_rule() {
        assert_eq!(Payload::of(br#"{"a":1}"#), Payload::Data(json!({"a": 1})));
        assert_eq!(Payload::of(b"hello"), Payload::Text("hello".into()));
        assert_eq!(Payload::of(&[0xff, 0x00]), Payload::DataB64("/wA=".into()));
    }

    #[test]
    fn a_shown_message_reads_back_with_its_payload_fields() {
        for payload in [&br#"{"a":1}"#[..], b"hi", &[0xff, 0x00]] {
            let m = Message {
                stream: Some("S".into()),
                seq: 7,
                subject: "a.b".into(),
                time_ns: 0,
                headers: Headers::new(),
                payload: payload.to_vec(),
            };
            let shown = Shown::from(&m);
            let v = serde_json::to_value(&shown).unwrap();
            assert_eq!(v["seq"], json!(7));
            assert_eq!(v["stream"], json!("S"));
            let back: Shown = serde_json::from_value(v).unwrap();
            assert_eq!(back.payload, shown.payload);
        }
        let plain = Message {
            stream: None,
            seq: 0,
            subject: "a".into(),
            time_ns: 0,
            headers: Headers::new(),
            payload: vec![],
        };
        let v = serde_json::to_value(Shown::from(&plain)).unwrap();
        assert!(v.get("stream").is_none());
        assert_eq!(v["seq"], Value::Null);
    }
}
