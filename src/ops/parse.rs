//! A request from JSON arguments: serde refuses unknown arguments and
//! wrong types, validator the bounds its type declares; either way the
//! error names the argument, in an agent's words.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use super::OpError;

/// A request's arguments as `T`, or `Invalid` naming the argument that
/// is wrong and why.
pub fn parse<T: DeserializeOwned + Validate>(args: Map<String, Value>) -> Result<T, OpError> {
    let parsed: T = serde_path_to_error::deserialize(Value::Object(args)).map_err(|e| {
        let path = e.path().to_string();
        OpError::Invalid(plain(&path, &e.into_inner().to_string()))
    })?;
    parsed
        .validate()
        .map_err(|e| OpError::Invalid(describe(&e)))?;
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
