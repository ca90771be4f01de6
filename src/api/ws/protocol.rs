//! The `/ws` protocol: text frames, one JSON object each, with an `op`.
//! Client ops are parsed here into typed values; server frames are built
//! here, so the wire format lives in one file.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::render;
use crate::log::Message;
use crate::ops::messages::Shown;

/// Where a subscription starts.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Deliver {
    #[default]
    New,
    All,
    Last,
    LastPerSubject,
    StartSeq(u64),
    StartTime(String),
}

impl Deliver {
    /// The log's deliver policy for this one (a start time is parsed here).
    pub fn start(&self) -> Result<crate::log::DeliverFrom, String> {
        use crate::log::DeliverFrom;
        Ok(match self {
            Deliver::New => DeliverFrom::New,
            Deliver::All => DeliverFrom::All,
            Deliver::Last => DeliverFrom::Last,
            Deliver::LastPerSubject => DeliverFrom::LastPerSubject,
            Deliver::StartSeq(n) => DeliverFrom::StartSeq(*n),
            Deliver::StartTime(t) => {
                DeliverFrom::StartTime(render::parse_time(t).map_err(|e| e.detail)?)
            }
        })
    }
}

impl Serialize for Deliver {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let word = match self {
            Deliver::New => "new",
            Deliver::All => "all",
            Deliver::Last => "last",
            Deliver::LastPerSubject => "last_per_subject",
            Deliver::StartSeq(n) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("start_seq", n)?;
                return m.end();
            }
            Deliver::StartTime(t) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("start_time", t)?;
                return m.end();
            }
        };
        s.serialize_str(word)
    }
}

impl<'de> Deserialize<'de> for Deliver {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::String(s) => match s.as_str() {
                "new" => Ok(Deliver::New),
                "all" => Ok(Deliver::All),
                "last" => Ok(Deliver::Last),
                "last_per_subject" => Ok(Deliver::LastPerSubject),
                other => Err(D::Error::custom(format!(
                    "deliver {other:?}: use \"new\", \"all\", \"last\", \"last_per_subject\", {{\"start_seq\": n}} or {{\"start_time\": \"...\"}}"
                ))),
            },
            Value::Object(o) => match (o.get("start_seq"), o.get("start_time")) {
                (Some(Value::Number(n)), None) => n
                    .as_u64()
                    .filter(|n| *n >= 1)
                    .map(Deliver::StartSeq)
                    .ok_or_else(|| D::Error::custom("start_seq must be a whole number >= 1")),
                (None, Some(Value::String(t))) => Ok(Deliver::StartTime(t.clone())),
                _ => Err(D::Error::custom("deliver object must be {\"start_seq\": n} or {\"start_time\": \"...\"}")),
            },
            _ => Err(D::Error::custom("deliver must be a string or an object")),
        }
    }
}

/// A frame a client sends. The CLI sends these.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum ClientOp {
    Sub {
        sid: Value,
        subject: String,
        #[serde(default)]
        deliver: Deliver,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        durable: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ack: bool,
    },
    Unsub {
        sid: Value,
    },
    Ack {
        sid: Value,
        seq: u64,
    },
    Pub {
        #[serde(default)]
        id: Value,
        subject: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data_b64: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        msg_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect_last_subject_seq: Option<u64>,
    },
    Ping,
}

/// A `sid` as a map key: clients may use strings or numbers.
pub fn sid_key(sid: &Value) -> Result<String, String> {
    match sid {
        Value::String(s) if !s.is_empty() && s.len() <= 128 => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err("sid must be a non-empty string (at most 128 characters) or a number".into()),
    }
}

/// The payload of a `pub`: exactly one of `data` (any JSON), `text`, or
/// `data_b64`.
pub fn payload(
    data: Option<Value>,
    text: Option<String>,
    data_b64: Option<String>,
) -> Result<Vec<u8>, String> {
    match (data, text, data_b64) {
        (Some(v), None, None) => Ok(serde_json::to_vec(&v).unwrap_or_default()),
        (None, Some(t), None) => Ok(t.into_bytes()),
        (None, None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| format!("data_b64 is not valid base64: {e}")),
        (None, None, None) => Ok(Vec::new()),
        _ => Err("give only one of data, text, data_b64".into()),
    }
}

/// A frame the server sends. The CLI reads these back.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum ServerFrame {
    /// The first frame of every connection.
    Info {
        version: String,
        server_id: String,
        max_payload: u64,
        ping_interval: u64,
        stale_timeout: u64,
    },
    Msg {
        sid: Value,
        #[serde(flatten)]
        message: Shown,
        /// How often a durable subscription's message has been delivered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delivered: Option<u64>,
    },
    Puback {
        id: Value,
        stream: Option<String>,
        seq: Option<u64>,
        duplicate: bool,
    },
    Pong,
    Err {
        /// The `pub` this answers, when it answers one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        /// The subscription this ends or concerns.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sid: Option<Value>,
        detail: String,
    },
}

pub fn info(server_id: &str, max_payload: u64, ping_secs: u64, stale_secs: u64) -> ServerFrame {
    ServerFrame::Info {
        version: env!("CARGO_PKG_VERSION").to_string(),
        server_id: server_id.to_string(),
        max_payload,
        ping_interval: ping_secs,
        stale_timeout: stale_secs,
    }
}

pub fn msg(sid: &Value, m: &Message) -> ServerFrame {
    ServerFrame::Msg {
        sid: sid.clone(),
        message: Shown::from(m),
        delivered: None,
    }
}

pub fn err(detail: impl Into<String>) -> ServerFrame {
    ServerFrame::Err {
        id: None,
        sid: None,
        detail: detail.into(),
    }
}

pub fn err_for(id: &Value, detail: impl Into<String>) -> ServerFrame {
    ServerFrame::Err {
        id: Some(id.clone()),
        sid: None,
        detail: detail.into(),
    }
}

pub fn err_on(sid: &Value, detail: impl Into<String>) -> ServerFrame {
    ServerFrame::Err {
        id: None,
        sid: Some(sid.clone()),
        detail: detail.into(),
    }
}

/// A text frame through the parsing and checks `on_text` applies before it
/// touches any state (for the fuzz targets).
pub(crate) fn fuzz_frame(text: &str) {
    let Ok(op) = serde_json::from_str::<ClientOp>(text) else {
        return;
    };
    match op {
        ClientOp::Sub {
            sid,
            subject,
            deliver,
            ..
        } => {
            let _ = sid_key(&sid);
            let _ = crate::log::subject::validate_pattern(&subject);
            let _ = deliver.start();
        }
        ClientOp::Unsub { sid } => {
            let _ = sid_key(&sid);
        }
        ClientOp::Pub {
            data,
            text,
            data_b64,
            subject,
            ..
        } => {
            let _ = payload(data, text, data_b64);
            let _ = crate::log::subject::validate_subject(&subject);
        }
        ClientOp::Ack { .. } | ClientOp::Ping => {}
    }
}

/// A `sub` frame, checked: what its subscription task runs.
pub struct Job {
    pub sid: Value,
    pub subject: String,
    pub deliver: Deliver,
    pub durable: Option<String>,
    pub ack: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn what_the_cli_sends_reads_back_as_sent() {
        for deliver in [
            Deliver::New,
            Deliver::All,
            Deliver::Last,
            Deliver::LastPerSubject,
            Deliver::StartSeq(7),
            Deliver::StartTime("2026-11-25T10:00:00Z".into()),
        ] {
            let sub = ClientOp::Sub {
                sid: json!(1),
                subject: "a.>".into(),
                deliver: deliver.clone(),
                durable: Some("d".into()),
                ack: true,
            };
            let text = serde_json::to_string(&sub).unwrap();
            match serde_json::from_str::<ClientOp>(&text).unwrap() {
                ClientOp::Sub {
                    deliver: back,
                    durable,
                    ack,
                    ..
                } => {
                    assert_eq!(back, deliver, "{text}");
                    assert_eq!(durable.as_deref(), Some("d"));
                    assert!(ack);
                }
                other => panic!("{text} read back as {other:?}"),
            }
        }
        // Left out, not null: the server refuses unknown fields, and a
        // plain subscription sends only what it sets.
        let plain = ClientOp::Sub {
            sid: json!("s"),
            subject: "a".into(),
            deliver: Deliver::New,
            durable: None,
            ack: false,
        };
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            json!({"op": "sub", "sid": "s", "subject": "a", "deliver": "new"})
        );
        let ack = ClientOp::Ack {
            sid: json!(1),
            seq: 3,
        };
        assert_eq!(
            serde_json::to_value(&ack).unwrap(),
            json!({"op": "ack", "sid": 1, "seq": 3})
        );
    }

    #[test]
    fn parses_every_op_and_refuses_unknown_ones() {
        let sub: ClientOp = serde_json::from_str(r#"{"op":"sub","sid":1,"subject":"a.>","deliver":{"start_seq":5},"durable":"d","ack":true}"#).unwrap();
        assert!(matches!(
            sub,
            ClientOp::Sub {
                deliver: Deliver::StartSeq(5),
                ack: true,
                ..
            }
        ));
        let sub: ClientOp =
            serde_json::from_str(r#"{"op":"sub","sid":"s","subject":"a"}"#).unwrap();
        assert!(matches!(
            sub,
            ClientOp::Sub {
                deliver: Deliver::New,
                ack: false,
                ..
            }
        ));
        assert!(serde_json::from_str::<ClientOp>(r#"{"op":"fly"}"#).is_err());
        assert!(serde_json::from_str::<ClientOp>(
            r#"{"op":"sub","sid":1,"subject":"a","deliver":"sometimes"}"#
        )
        .is_err());
        assert!(serde_json::from_str::<ClientOp>(
            r#"{"op":"sub","sid":1,"subject":"a","bogus":1}"#
        )
        .is_err());
        assert_eq!(payload(None, Some("hi".into()), None).unwrap(), b"hi");
        assert_eq!(
            payload(Some(json!({"a":1})), None, None).unwrap(),
            br#"{"a":1}"#
        );
        assert!(payload(Some(json!(1)), Some("x".into()), None).is_err());
        assert!(sid_key(&json!(null)).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_frames_never_panic(text in ".{0,120}") {
            let _ = serde_json::from_str::<ClientOp>(&text);
        }
    }
}
