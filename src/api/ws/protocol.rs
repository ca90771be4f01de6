//! The `/ws` protocol: text frames, one JSON object each, with an `op`.
//! Client ops are parsed here into typed values; server frames are built
//! here, so the wire format lives in one file.

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::render;
use crate::log::Message;

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

#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum ClientOp {
    Sub {
        sid: Value,
        subject: String,
        #[serde(default)]
        deliver: Deliver,
        #[serde(default)]
        durable: Option<String>,
        #[serde(default)]
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
        #[serde(default)]
        data: Option<Value>,
        #[serde(default)]
        text: Option<String>,
        #[serde(default)]
        data_b64: Option<String>,
        #[serde(default)]
        msg_id: Option<String>,
        #[serde(default)]
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

pub fn info(server_id: &str, max_payload: u64, ping_secs: u64, stale_secs: u64) -> Value {
    json!({
        "op": "info",
        "version": env!("CARGO_PKG_VERSION"),
        "server_id": server_id,
        "max_payload": max_payload,
        "ping_interval": ping_secs,
        "stale_timeout": stale_secs,
    })
}

pub fn msg(sid: &Value, m: &Message) -> Value {
    let mut out = Map::new();
    out.insert("op".into(), json!("msg"));
    out.insert("sid".into(), sid.clone());
    out.extend(render::message(m));
    Value::Object(out)
}

pub fn err(detail: impl Into<String>) -> Value {
    json!({ "op": "err", "detail": detail.into() })
}

pub fn err_for(id: &Value, detail: impl Into<String>) -> Value {
    json!({ "op": "err", "id": id, "detail": detail.into() })
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
