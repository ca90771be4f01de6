//! The arguments of each MCP tool as a type. Each type is the one source
//! of its tool's input schema (schemars), of how a call is parsed (serde:
//! unknown arguments refused, required ones required, each with its type)
//! and of its bounds (validator's `range`/`length`, which schemars writes
//! into the schema as `minimum`, `maximum`, `minLength`): what `tools/list`
//! promises is exactly what a call is held to. Errors name the argument.

use rmcp::model::{ErrorData, JsonObject};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::coord::task::Priority;

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ClaimNext {
    #[validate(length(min = 1, max = 128))]
    pub agent_id: Option<String>,
    pub capabilities: Option<Vec<String>>,
    // The longest wait is `MAX_FETCH_WAIT`, as on every other route (a
    // test holds the two equal). Doc comments here would become schema
    // descriptions, which every agent pays for in its context.
    #[validate(range(max = 300))]
    pub wait_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Complete {
    #[validate(length(min = 1, max = 128))]
    pub agent_id: Option<String>,
    #[validate(length(min = 1))]
    pub task_id: String,
    pub fencing_token: u64,
    pub result: Option<Map<String, Value>>,
    pub error: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    #[validate(length(min = 1, max = 128))]
    pub agent_id: Option<String>,
    #[validate(length(min = 1))]
    pub task_id: String,
    pub fencing_token: u64,
    pub note: String,
    #[validate(range(min = 0.0, max = 100.0))]
    pub percent: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    #[validate(length(min = 1, max = 128))]
    pub agent_id: Option<String>,
    #[validate(length(min = 1))]
    pub task_id: String,
    pub fencing_token: u64,
    pub note: String,
    pub to: Option<String>,
    #[validate(range(min = 1))]
    pub delay_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct AddTask {
    #[validate(length(min = 1, max = 128))]
    pub agent_id: Option<String>,
    #[validate(length(min = 1))]
    pub title: String,
    pub description: Option<String>,
    #[validate(length(min = 1))]
    pub task_id: Option<String>,
    pub priority: Option<Priority>,
    pub depends_on: Option<Vec<String>>,
    pub capabilities: Option<Vec<String>>,
    pub files: Option<Vec<String>>,
    pub dedup_key: Option<String>,
    #[validate(range(min = 1))]
    pub delay_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    #[validate(length(min = 1, max = 128))]
    pub agent_id: Option<String>,
    #[validate(length(min = 1))]
    pub content: String,
    pub to: Option<String>,
    pub channel: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Inbox {
    #[validate(length(min = 1, max = 128))]
    pub agent_id: Option<String>,
    pub ack: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Reserve {
    #[validate(length(min = 1, max = 128))]
    pub agent_id: Option<String>,
    pub globs: Option<Vec<String>>,
    pub exclusive: Option<bool>,
    #[validate(range(min = 1))]
    pub ttl_seconds: Option<u64>,
    pub release: Option<bool>,
}

/// Every tool's arguments name the agent the same way.
pub trait Agent {
    fn agent_id(&self) -> Option<&str>;
}

macro_rules! agent_of {
    ($($t:ty),*) => {$(
        impl Agent for $t {
            fn agent_id(&self) -> Option<&str> {
                self.agent_id.as_deref()
            }
        }
    )*};
}
agent_of!(
    ClaimNext,
    Complete,
    Progress,
    Handoff,
    AddTask,
    SendMessage,
    Inbox,
    Reserve
);

/// A tool call's arguments as `T`, or invalid params naming the argument
/// that is wrong and why.
pub fn parse<T: DeserializeOwned + Validate>(args: JsonObject) -> Result<T, ErrorData> {
    let parsed: T = serde_path_to_error::deserialize(Value::Object(args)).map_err(|e| {
        let path = e.path().to_string();
        ErrorData::invalid_params(plain(&path, &e.into_inner().to_string()), None)
    })?;
    parsed
        .validate()
        .map_err(|e| ErrorData::invalid_params(describe(&e), None))?;
    Ok(parsed)
}

/// serde's message about the argument at `path`, in an agent's words.
fn plain(path: &str, serde: &str) -> String {
    if let Some(field) = serde
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        return format!("{field} is required");
    }
    if let Some(rest) = serde.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known = expected
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .replace('`', "");
        return format!("unknown argument {field:?}; this tool takes {known}");
    }
    let wrong = serde
        .strip_prefix("invalid type: ")
        .or_else(|| serde.strip_prefix("invalid value: "))
        .and_then(|r| r.split_once(", expected "));
    match wrong {
        Some((got, expected)) => {
            let expected = match expected {
                "u64" | "u32" => "a whole number >= 0",
                "f64" => "a number",
                "a sequence" => "a list",
                "a map" => "an object",
                other => other,
            };
            format!("{path} must be {expected} (got {got})")
        }
        None if path == "." => serde.to_string(),
        None => format!("{path}: {serde}"),
    }
}

/// Validation errors as "argument: what is wrong", one per argument.
fn describe(errors: &ValidationErrors) -> String {
    let mut out = Vec::new();
    for (field, kind) in errors.errors() {
        let ValidationErrorsKind::Field(list) = kind else {
            out.push(format!("{field}: is not valid"));
            continue;
        };
        for e in list {
            let bound = |name: &str| e.params.get(name).map(|v| v.to_string());
            let value = e
                .params
                .get("value")
                .map(|v| format!(" (got {v})"))
                .unwrap_or_default();
            let what = match e.code.as_ref() {
                "range" => match (bound("min"), bound("max")) {
                    (Some(min), Some(max)) => format!("must be between {min} and {max}"),
                    (Some(min), None) => format!("must be at least {min}"),
                    (None, Some(max)) => format!("must be at most {max}"),
                    (None, None) => "is out of range".into(),
                },
                "length" => match (bound("min"), bound("max")) {
                    (Some(min), Some(max)) if min == "1" => {
                        format!("must not be empty nor longer than {max}")
                    }
                    (Some(min), _) if min == "1" => "must not be empty".into(),
                    (_, Some(max)) => format!("must be at most {max} long"),
                    _ => "has the wrong length".into(),
                },
                other => format!("is not valid ({other})"),
            };
            out.push(format!("{field}: {what}{value}"));
        }
    }
    out.sort();
    out.join("; ")
}
