//! The route table. Every route is added through [`Routes::route`] together
//! with its documentation, so the router and `GET /openapi.json` come from
//! the same list and a route cannot exist without docs. `/docs` renders
//! the spec with an embedded page (no CDN).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::routing::{get, MethodRouter};
use axum::Router;
use serde::Serialize;
use serde_json::Value;

use super::AppState;

/// One operation (a method on a path) and what a reader needs to call it.
#[derive(Debug, Clone)]
pub struct Op {
    pub method: &'static str,
    pub summary: &'static str,
    pub description: Option<&'static str>,
    pub query: Vec<Param>,
    pub headers: Vec<Param>,
    /// An example request body (JSON text, or raw text for publish).
    pub body: Option<&'static str>,
    pub responses: Vec<(u16, &'static str)>,
    /// The 200 answer is a bare JSON array (the compatible list routes).
    pub array: bool,
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: &'static str,
    pub description: &'static str,
}

impl Op {
    fn new(method: &'static str, summary: &'static str) -> Self {
        Op {
            method,
            summary,
            description: None,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            responses: Vec::new(),
            array: false,
        }
    }
    /// Its 200 answer is a bare JSON array.
    pub fn array(mut self) -> Self {
        self.array = true;
        self
    }
    /// More than the one-line summary.
    pub fn about(mut self, description: &'static str) -> Self {
        self.description = Some(description);
        self
    }
    /// A query parameter (all of ours are optional).
    pub fn query(mut self, name: &'static str, description: &'static str) -> Self {
        self.query.push(Param { name, description });
        self
    }
    /// A request header the route reads.
    pub fn header(mut self, name: &'static str, description: &'static str) -> Self {
        self.headers.push(Param { name, description });
        self
    }
    /// An example body.
    pub fn body(mut self, example: &'static str) -> Self {
        self.body = Some(example);
        self
    }
    /// An answer other than the default "200 OK" (errors included).
    pub fn answers(mut self, status: u16, meaning: &'static str) -> Self {
        self.responses.push((status, meaning));
        self
    }
}

pub fn get_op(summary: &'static str) -> Op {
    Op::new("get", summary)
}
pub fn post_op(summary: &'static str) -> Op {
    Op::new("post", summary)
}
pub fn put_op(summary: &'static str) -> Op {
    Op::new("put", summary)
}
pub fn delete_op(summary: &'static str) -> Op {
    Op::new("delete", summary)
}

/// A router whose every route carries its documentation.
pub struct Routes {
    tag: &'static str,
    router: Router<AppState>,
    pub(crate) table: Vec<(String, &'static str, Op)>,
}

impl Routes {
    /// Routes documented under `tag` (a section of `/docs`).
    pub fn new(tag: &'static str) -> Self {
        Routes {
            tag,
            router: Router::new(),
            table: Vec::new(),
        }
    }

    /// Adds `path` served by `handler`, documented by `ops` (one per
    /// method the handler answers; `tests/openapi.rs` checks they match).
    pub fn route(mut self, path: &str, handler: MethodRouter<AppState>, ops: Vec<Op>) -> Self {
        assert!(!ops.is_empty(), "route {path} has no documentation");
        self.router = self.router.route(path, handler);
        for op in ops {
            self.table.push((path.to_string(), self.tag, op));
        }
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    /// The router, with `/openapi.json` and `/docs` added and the spec
    /// built from the whole table.
    pub fn finish(self) -> Router<AppState> {
        let spec: Arc<OnceLock<Value>> = Arc::default();
        let served = spec.clone();
        let docs = Routes::new("meta").route(
            "/openapi.json",
            get(move || {
                let spec = served.clone();
                async move { axum::Json(spec.get().cloned().unwrap_or(Value::Null)) }
            }),
            vec![get_op(
                "This document: every route, generated from the route table",
            )],
        );
        let all = self.merge(docs);
        let _ = spec.set(document(&all.table));
        all.router
    }
}

/// `{*path}` (axum's catch-all) is `{path}` in OpenAPI.
fn openapi_path(path: &str) -> String {
    path.replace("{*", "{")
}

fn path_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|s| s.trim_start_matches('*').to_string())
        .collect()
}

fn describe_path_param(name: &str) -> &'static str {
    match name {
        "name" => "stream name",
        "subject" => "a subject (for publish) or subject pattern",
        "seq" => "stream sequence number",
        "consumer" => "consumer name",
        "task_id" => "task id (URL-escaped)",
        "agent_id" => "agent id (URL-escaped)",
        "channel" => "channel: tasks, coordination, errors or status (any name under /api/v2)",
        "path" => "file name of an embedded asset",
        _ => "path parameter",
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No content",
        308 => "Moved permanently",
        400 => "Bad request",
        401 => "Missing or wrong token",
        403 => "Forbidden",
        404 => "Not found",
        409 => "Conflict",
        413 => "Too large",
        422 => "Invalid request (FastAPI's list of field errors)",
        503 => "Not ready",
        507 => "Stream full",
        _ => "Answer",
    }
}

/// The document's fixed parts (info, tags, components); the version and
/// `paths` are filled in from the build and the route table.
const FRAME: &str = include_str!("openapi_frame.json");

/// An operation as OpenAPI writes it.
#[serde_with::skip_serializing_none]
#[derive(Serialize)]
struct Operation<'a> {
    tags: [&'a str; 1],
    summary: &'a str,
    #[serde(rename = "operationId")]
    operation_id: String,
    description: Option<&'a str>,
    parameters: Vec<Parameter<'a>>,
    #[serde(rename = "requestBody")]
    request_body: Option<RequestBody<'a>>,
    responses: BTreeMap<String, Answer>,
}

#[derive(Serialize)]
struct Parameter<'a> {
    name: String,
    #[serde(rename = "in")]
    place: &'static str,
    required: bool,
    description: &'a str,
    schema: Schema,
}

#[derive(Serialize)]
struct RequestBody<'a> {
    required: bool,
    content: BTreeMap<&'static str, Media<'a>>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize)]
struct Answer {
    description: String,
    content: Option<BTreeMap<&'static str, Media<'static>>>,
}

#[serde_with::skip_serializing_none]
#[derive(Serialize)]
struct Media<'a> {
    schema: Schema,
    example: Option<Example<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Example<'a> {
    Json(Value),
    Text(&'a str),
}

/// The little of JSON Schema the operations need.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Default)]
struct Schema {
    #[serde(rename = "type")]
    kind: Option<&'static str>,
    items: Option<Box<Schema>>,
    #[serde(rename = "$ref")]
    reference: Option<&'static str>,
}

impl Schema {
    fn of(kind: &'static str) -> Schema {
        Schema {
            kind: Some(kind),
            ..Schema::default()
        }
    }

    fn named(reference: &'static str) -> Schema {
        Schema {
            reference: Some(reference),
            ..Schema::default()
        }
    }
}

fn json_content(schema: Schema) -> BTreeMap<&'static str, Media<'static>> {
    BTreeMap::from([(
        "application/json",
        Media {
            schema,
            example: None,
        },
    )])
}

fn operation<'a>(path: &'a str, tag: &'a str, op: &'a Op) -> Operation<'a> {
    let string = || Schema::of("string");
    let mut parameters: Vec<Parameter> = path_params(path)
        .into_iter()
        .map(|name| Parameter {
            description: describe_path_param(&name),
            name,
            place: "path",
            required: true,
            schema: string(),
        })
        .collect();
    let optional = |place| {
        move |p: &'a Param| Parameter {
            name: p.name.to_string(),
            place,
            required: false,
            description: p.description,
            schema: string(),
        }
    };
    parameters.extend(op.query.iter().map(optional("query")));
    parameters.extend(op.headers.iter().map(optional("header")));
    let mut responses = BTreeMap::new();
    // Every route answers 200 on success unless it documents its own
    // success code (201); a 204 ("nothing this time") comes on top.
    if !op.responses.iter().any(|(s, _)| matches!(s, 200 | 201)) {
        let schema = if op.array {
            Schema {
                items: Some(Box::new(Schema::of("object"))),
                ..Schema::of("array")
            }
        } else {
            Schema::of("object")
        };
        responses.insert(
            "200".to_string(),
            Answer {
                description: "OK".into(),
                content: Some(json_content(schema)),
            },
        );
    }
    for (status, meaning) in &op.responses {
        let schema = match status {
            422 => Schema::named("#/components/schemas/ValidationError"),
            400.. => Schema::named("#/components/schemas/Error"),
            _ => Schema::of("object"),
        };
        responses.insert(
            status.to_string(),
            Answer {
                description: format!("{}: {meaning}", reason(*status)),
                content: (*status != 204).then(|| json_content(schema)),
            },
        );
    }
    responses.insert(
        "4XX".into(),
        Answer {
            description: "Invalid input; the detail says what and why".into(),
            content: Some(json_content(Schema::named("#/components/schemas/Error"))),
        },
    );
    let request_body = op.body.map(|example| {
        let media = match serde_json::from_str::<Value>(example) {
            Ok(v) => ("application/json", Schema::of("object"), Example::Json(v)),
            Err(_) => (
                "application/octet-stream",
                Schema::of("string"),
                Example::Text(example),
            ),
        };
        RequestBody {
            required: false,
            content: BTreeMap::from([(
                media.0,
                Media {
                    schema: media.1,
                    example: Some(media.2),
                },
            )]),
        }
    });
    Operation {
        tags: [tag],
        summary: op.summary,
        operation_id: format!(
            "{}_{}",
            op.method,
            path.trim_matches('/')
                .replace(['/', '{', '}', '*', '-', '.'], "_")
        ),
        description: op.description,
        parameters,
        request_body,
        responses,
    }
}

/// The OpenAPI 3.1 document for `table`.
pub fn document(table: &[(String, &'static str, Op)]) -> Value {
    let mut paths: BTreeMap<String, BTreeMap<&str, Operation>> = BTreeMap::new();
    for (path, tag, op) in table {
        paths
            .entry(openapi_path(path))
            .or_default()
            .insert(op.method, operation(path, tag, op));
    }
    // The frame is part of the build; a test reads it.
    let mut doc: Value = serde_json::from_str(FRAME).unwrap_or_default();
    doc["info"]["version"] = Value::from(env!("CARGO_PKG_VERSION"));
    doc["paths"] = serde_json::to_value(paths).unwrap_or_default();
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_come_from_the_path() {
        assert_eq!(
            path_params("/api/streams/{name}/consumers/{consumer}"),
            ["name", "consumer"]
        );
        assert_eq!(path_params("/assets/{*path}"), ["path"]);
        assert_eq!(openapi_path("/assets/{*path}"), "/assets/{path}");
        let table = vec![(
            "/api/tasks/{task_id}".to_string(),
            "tasks",
            get_op("Show").query("x", "y").answers(404, "no such task"),
        )];
        let doc = document(&table);
        let op = &doc["paths"]["/api/tasks/{task_id}"]["get"];
        assert_eq!(op["parameters"][0]["name"], "task_id");
        assert_eq!(op["parameters"][1]["in"], "query");
        assert!(op["responses"]["404"]["description"]
            .as_str()
            .unwrap()
            .contains("no such task"));
        assert!(op["responses"]["200"].is_object());
    }
}
