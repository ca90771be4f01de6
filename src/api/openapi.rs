//! The route table. Every route is added through [`Routes::route`] together
//! with its documentation, so the router and `GET /openapi.json` come from
//! the same list and a route cannot exist without docs. `/docs` renders
//! the spec with an embedded page (no CDN).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::routing::{get, MethodRouter};
use axum::Router;
use serde_json::{json, Map, Value};

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

/// The OpenAPI 3.1 document for `table`.
pub fn document(table: &[(String, &'static str, Op)]) -> Value {
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for (path, tag, op) in table {
        let mut parameters: Vec<Value> = path_params(path)
            .into_iter()
            .map(|name| {
                let description = describe_path_param(&name);
                json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string"}})
            })
            .collect();
        parameters.extend(op.query.iter().map(|p| {
            json!({"name": p.name, "in": "query", "required": false, "description": p.description, "schema": {"type": "string"}})
        }));
        parameters.extend(op.headers.iter().map(|p| {
            json!({"name": p.name, "in": "header", "required": false, "description": p.description, "schema": {"type": "string"}})
        }));
        let mut responses = Map::new();
        // Every route answers 200 on success unless it documents its own
        // success code (201); a 204 ("nothing this time") comes on top.
        if !op.responses.iter().any(|(s, _)| matches!(s, 200 | 201)) {
            let schema = if op.array {
                json!({"type": "array", "items": {"type": "object"}})
            } else {
                json!({"type": "object"})
            };
            responses.insert(
                "200".into(),
                json!({"description": "OK", "content": {"application/json": {"schema": schema}}}),
            );
        }
        for (status, meaning) in &op.responses {
            let content = if *status == 422 {
                json!({"application/json": {"schema": {"$ref": "#/components/schemas/ValidationError"}}})
            } else if *status >= 400 {
                json!({"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}})
            } else {
                json!({"application/json": {"schema": {"type": "object"}}})
            };
            let mut answer = json!({"description": format!("{}: {meaning}", reason(*status))});
            if *status != 204 {
                answer["content"] = content;
            }
            responses.insert(status.to_string(), answer);
        }
        responses.insert(
            "4XX".into(),
            json!({"description": "Invalid input; the detail says what and why", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
        let mut operation = json!({
            "tags": [tag],
            "summary": op.summary,
            "operationId": format!("{}_{}", op.method, path.trim_matches('/').replace(['/', '{', '}', '*', '-', '.'], "_")),
            "parameters": parameters,
            "responses": responses,
        });
        if let Some(d) = op.description {
            operation["description"] = json!(d);
        }
        if let Some(example) = op.body {
            let content = match serde_json::from_str::<Value>(example) {
                Ok(v) => json!({"application/json": {"schema": {"type": "object"}, "example": v}}),
                Err(_) => {
                    json!({"application/octet-stream": {"schema": {"type": "string"}, "example": example}})
                }
            };
            operation["requestBody"] = json!({"required": false, "content": content});
        }
        paths
            .entry(openapi_path(path))
            .or_default()
            .insert(op.method.to_string(), operation);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "hivelog",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Task queue, agent registry, message channels and a JetStream-style log for a team of software agents. Every error is a status code with {\"detail\": \"...\"}, except 422, whose detail is FastAPI's list of field errors. Live updates: GET /ws (WebSocket, see docs/websocket.md).",
        },
        "servers": [{"url": "/"}],
        // No token unless the server runs with --token; then a bearer one.
        "security": [{}, {"bearer": []}],
        "tags": [
            {"name": "tasks", "description": "The task queue: the replaced service's API plus claim-next, progress, release, cancel, history"},
            {"name": "v2", "description": "Richer answers for new clients: envelopes with counts, totals and `next` cursors for paging, any channel name. The routes without /v2 answer exactly what the replaced service answered (bare arrays)."},
            {"name": "agents", "description": "Agent registry and heartbeats"},
            {"name": "messages", "description": "Message channels (coordination, errors, ...)"},
            {"name": "streams", "description": "The log: streams and their configuration"},
            {"name": "log messages", "description": "Publishing and reading stored messages"},
            {"name": "consumers", "description": "Durable and ephemeral pull consumers"},
            {"name": "server", "description": "Health, readiness, metrics, WebSocket, dashboard"},
            {"name": "meta", "description": "This document"},
        ],
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["detail"],
                    "properties": {"detail": {"type": "string", "description": "what was wrong, in words"}},
                },
                "ValidationError": {
                    "type": "object",
                    "required": ["detail"],
                    "description": "422, as FastAPI answers it: one entry per problem",
                    "properties": {"detail": {"type": "array", "items": {
                        "type": "object",
                        "required": ["loc", "msg", "type"],
                        "properties": {
                            "loc": {"type": "array", "items": {"type": "string"}, "description": "where: [\"body\", \"title\"], [\"query\", \"limit\"]"},
                            "msg": {"type": "string"},
                            "type": {"type": "string", "description": "missing, enum, int_parsing, string_too_long, ..."},
                        },
                    }}},
                }
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Only when the server runs with --token (HIVELOG_TOKEN)"}
            }
        },
    })
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
