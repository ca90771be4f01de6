//! The replaced service's validation answers. It was a FastAPI app, so a
//! request that does not fit its models got 422 with a *list* of field
//! errors — `{"detail": [{"loc": ["body", "title"], "msg": "Field
//! required", "type": "missing"}]}` — and old clients print or inspect
//! that list. This module holds those model checks (required fields,
//! allowed values, lengths, query parameter types) for the compatible
//! routes; `ApiError` renders every 422 in this shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::ApiError;
pub use super::error::FieldError;

/// `Input should be 'a', 'b' or 'c'`, as pydantic words it.
fn one_of_text(allowed: &[&str]) -> String {
    let quoted: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => {
            format!("Input should be {} or {last}", rest.join(", "))
        }
        _ => format!("Input should be {}", quoted.join("")),
    }
}

/// A JSON object body, checked field by field like a request model.
/// Errors are collected, so one answer names every problem.
pub struct Model {
    pub body: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Model {
    fn field(&self, name: &str) -> Option<&Value> {
        self.body.get(name).filter(|v| !v.is_null())
    }

    fn fail(&mut self, e: FieldError) {
        self.errors.push(e);
    }

    /// Fields that must be present as strings.
    pub fn required_strings(mut self, names: &[&str]) -> Self {
        for name in names {
            match self.body.get(*name).cloned() {
                None => self.fail(FieldError::new(
                    &["body", name],
                    "missing",
                    "Field required",
                )),
                Some(Value::String(_)) => {}
                Some(other) => self.fail(
                    FieldError::new(
                        &["body", name],
                        "string_type",
                        "Input should be a valid string",
                    )
                    .with_input(&other),
                ),
            }
        }
        self
    }

    /// Fields that must be present and not null, of any type.
    pub fn required(mut self, names: &[&str]) -> Self {
        for name in names {
            if self.field(name).is_none() {
                self.fail(FieldError::new(
                    &["body", name],
                    "missing",
                    "Field required",
                ));
            }
        }
        self
    }

    /// A required field that must be one of `allowed`.
    pub fn required_one_of(mut self, name: &str, allowed: &[&str]) -> Self {
        match self.body.get(name).cloned() {
            None => self.fail(FieldError::new(
                &["body", name],
                "missing",
                "Field required",
            )),
            Some(v) => self.check_one_of(name, &v, allowed),
        }
        self
    }

    /// An optional field that, when given (and not null), must be one of
    /// `allowed`.
    pub fn optional_one_of(mut self, name: &str, allowed: &[&str]) -> Self {
        if let Some(v) = self.field(name).cloned() {
            self.check_one_of(name, &v, allowed);
        }
        self
    }

    fn check_one_of(&mut self, name: &str, v: &Value, allowed: &[&str]) {
        if !v.as_str().is_some_and(|s| allowed.contains(&s)) {
            self.fail(FieldError::new(&["body", name], "enum", one_of_text(allowed)).with_input(v));
        }
    }

    /// A string field's length in characters, when present.
    pub fn length(mut self, name: &str, min: usize, max: usize) -> Self {
        if let Some(Value::String(s)) = self.field(name).cloned() {
            let n = s.chars().count();
            if n < min {
                let unit = if min == 1 { "character" } else { "characters" };
                self.fail(
                    FieldError::new(
                        &["body", name],
                        "string_too_short",
                        format!("String should have at least {min} {unit}"),
                    )
                    .with_input(&Value::String(s.clone())),
                );
            } else if n > max {
                self.fail(
                    FieldError::new(
                        &["body", name],
                        "string_too_long",
                        format!("String should have at most {max} characters"),
                    )
                    .with_input(&Value::String(s)),
                );
            }
        }
        self
    }

    /// A field that must be a JSON object or null when present.
    pub fn object_or_null(mut self, name: &str) -> Self {
        if let Some(v) = self.field(name).cloned() {
            if !v.is_object() {
                self.fail(
                    FieldError::new(
                        &["body", name],
                        "dict_type",
                        "Input should be a valid dictionary",
                    )
                    .with_input(&v),
                );
            }
        }
        self
    }

    /// The body as `T`, or 422 listing every problem found.
    pub fn parse<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        if !self.errors.is_empty() {
            return Err(ApiError::validation(self.errors));
        }
        serde_json::from_value(Value::Object(self.body)).map_err(|e| {
            ApiError::validation(vec![FieldError::new(
                &["body"],
                "value_error",
                e.to_string(),
            )])
        })
    }
}

/// A request body read as FastAPI reads one: not JSON, empty, or not an
/// object are all 422 (not 400), with the same list-shaped detail.
pub struct ModelBody(pub Model);

impl<S: Send + Sync> FromRequest<S> for ModelBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await?;
        let one = |e: FieldError| Err(ApiError::validation(vec![e]));
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return one(FieldError::new(&["body"], "missing", "Field required"));
        }
        let value: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                return one(FieldError::new(
                    &["body"],
                    "json_invalid",
                    format!("JSON decode error: {e}"),
                ))
            }
        };
        match value {
            Value::Object(body) => Ok(ModelBody(Model {
                body,
                errors: Vec::new(),
            })),
            other => one(FieldError::new(
                &["body"],
                "model_attributes_type",
                "Input should be a valid dictionary or object to extract fields from",
            )
            .with_input(&other)),
        }
    }
}

/// Query parameters read as FastAPI reads typed ones: a value of the wrong
/// type is a 422 naming the parameter. Unknown parameters are ignored.
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn parse(raw: Option<&str>) -> Self {
        QueryParams(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The last value given for `name` (FastAPI takes the last one too).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn bad(name: &str, kind: &'static str, msg: &str, input: &str) -> ApiError {
        ApiError::validation(vec![FieldError::new(&["query", name], kind, msg)
            .with_input(&Value::String(input.to_string()))])
    }

    /// A whole number of at least 1.
    pub fn positive_int(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.int_from(name, 1)
    }

    /// A whole number of at least 0.
    pub fn non_negative_int(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.int_from(name, 0)
    }

    fn int_from(&self, name: &str, min: i128) -> Result<Option<u64>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let n: i128 = raw.trim().parse().map_err(|_| {
            Self::bad(
                name,
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
                raw,
            )
        })?;
        if n < min {
            let msg = format!("Input should be greater than or equal to {min}");
            return Err(Self::bad(name, "greater_than_equal", &msg, raw));
        }
        Ok(Some(u64::try_from(n).unwrap_or(u64::MAX)))
    }

    /// A boolean as pydantic reads one from text.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Ok(Some(true)),
            "false" | "0" | "no" | "off" | "f" | "n" => Ok(Some(false)),
            _ => Err(Self::bad(
                name,
                "bool_parsing",
                "Input should be a valid boolean, unable to interpret input",
                raw,
            )),
        }
    }

    /// One of `allowed`, when given.
    pub fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v.to_string())),
            Some(v) => Err(Self::bad(name, "enum", &one_of_text(allowed), v)),
        }
    }
}

/// A 422 about a path parameter.
pub fn bad_path(name: &str, allowed: &[&str], input: &str) -> ApiError {
    ApiError::validation(vec![FieldError::new(
        &["path", name],
        "enum",
        one_of_text(allowed),
    )
    .with_input(&Value::String(input.to_string()))])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(v: Value) -> Model {
        match v {
            Value::Object(body) => Model {
                body,
                errors: Vec::new(),
            },
            _ => unreachable!("tests pass objects"),
        }
    }

    #[test]
    fn every_problem_is_listed_with_its_location() {
        let m = model(serde_json::json!({"task_id": "t", "status": "bogus", "result": "x"}))
            .required_strings(&["task_id", "title", "description"])
            .optional_one_of("status", &["available", "claimed"])
            .object_or_null("result");
        let e = m.parse::<Value>().unwrap_err();
        let locs: Vec<Value> = e
            .fields
            .iter()
            .map(|f| Value::from(f.loc.clone()))
            .collect();
        assert_eq!(
            locs,
            vec![
                serde_json::json!(["body", "title"]),
                serde_json::json!(["body", "description"]),
                serde_json::json!(["body", "status"]),
                serde_json::json!(["body", "result"]),
            ]
        );
        assert_eq!(e.fields[2].msg, "Input should be 'available' or 'claimed'");
    }

    #[test]
    fn query_values_of_the_wrong_type_are_refused() {
        let q = QueryParams::parse(Some("limit=abc&include_stale=maybe&status=bogus&ok=1"));
        assert!(q.positive_int("limit").is_err());
        assert!(q.boolean("include_stale").is_err());
        assert!(q.one_of("status", &["available"]).is_err());
        assert_eq!(q.positive_int("ok").unwrap(), Some(1));
        assert_eq!(q.positive_int("absent").unwrap(), None);
        let q = QueryParams::parse(Some("limit=0&include_stale=TRUE"));
        assert!(q.positive_int("limit").is_err());
        assert_eq!(q.boolean("include_stale").unwrap(), Some(true));
    }
}
