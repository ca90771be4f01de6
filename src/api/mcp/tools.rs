//! The MCP tools: eight of them, with short descriptions and tight
//! schemas, because every agent pays for `tools/list` in its context
//! window on every turn (`tests/mcp.rs` keeps the whole list under 2,000
//! tokens). Each tool is a thin call into the coordinator; what it answers
//! is compact JSON an agent can act on.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{json, Value};

/// `agent_id` is on every tool: the identity comes from it, or from the
/// `X-Hivelog-Agent` header (`hivelog mcp --agent` sets it).
fn schema(props: Value, required: &[&str]) -> Arc<JsonObject> {
    let mut props = props;
    if let Some(p) = props.as_object_mut() {
        p.insert("agent_id".into(), json!({"type": "string"}));
    }
    let s = json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    });
    match s {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(JsonObject::new()),
    }
}

fn tool(name: &'static str, description: &'static str, input: Arc<JsonObject>) -> Tool {
    Tool::new(name, description, input)
}

fn read_only(mut t: Tool) -> Tool {
    t.annotations = Some(ToolAnnotations::new().read_only(true));
    t
}

pub fn list() -> Vec<Tool> {
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let token = json!({"type": "integer", "minimum": 0});
    vec![
        tool(
            "claim_next",
            "Claim the next task you can do. Returns {task, handoff, inbox}: task has fencing_token and its files (reserved for you); null task when none (or paused).",
            schema(
                json!({
                    "capabilities": strings,
                    "wait_seconds": {"type": "integer", "minimum": 0, "maximum": 300},
                }),
                &[],
            ),
        ),
        tool(
            "complete",
            "Finish your task. With error it fails this attempt and is retried later (or goes to a human).",
            schema(
                json!({
                    "task_id": {"type": "string"},
                    "fencing_token": token,
                    "result": {"type": "object"},
                    "error": {"type": "string"},
                }),
                &["task_id", "fencing_token"],
            ),
        ),
        tool(
            "progress",
            "Report progress on your task; renews its lease.",
            schema(
                json!({
                    "task_id": {"type": "string"},
                    "fencing_token": token,
                    "note": {"type": "string"},
                    "percent": {"type": "number", "minimum": 0, "maximum": 100},
                }),
                &["task_id", "fencing_token", "note"],
            ),
        ),
        tool(
            "handoff",
            "Give your task back with a note for the next agent (to: one agent). delay_seconds: not before then. No attempt spent.",
            schema(
                json!({
                    "task_id": {"type": "string"},
                    "fencing_token": token,
                    "note": {"type": "string"},
                    "to": {"type": "string"},
                    "delay_seconds": {"type": "integer", "minimum": 1},
                }),
                &["task_id", "fencing_token", "note"],
            ),
        ),
        tool(
            "add_task",
            "Add a task. Same dedup_key as an unfinished task: that task is returned instead.",
            schema(
                json!({
                    "title": {"type": "string"},
                    "description": {"type": "string"},
                    "task_id": {"type": "string"},
                    "priority": {"enum": ["low", "medium", "high"]},
                    "depends_on": strings,
                    "capabilities": strings,
                    "files": strings,
                    "dedup_key": {"type": "string"},
                    "delay_seconds": {"type": "integer", "minimum": 1},
                }),
                &["title"],
            ),
        ),
        tool(
            "send_message",
            "Post a message (channel default coordination). @name or to: lands in that agent's inbox.",
            schema(
                json!({
                    "content": {"type": "string"},
                    "to": {"type": "string"},
                    "channel": {"type": "string"},
                }),
                &["content"],
            ),
        ),
        read_only(tool(
            "inbox",
            "Your unread messages and handoffs, oldest first. ack: true marks them read.",
            schema(json!({"ack": {"type": "boolean"}}), &[]),
        )),
        tool(
            "reserve",
            "Reserve path globs so other agents keep out (exclusive by default). release: true lets go (no globs: all).",
            schema(
                json!({
                    "globs": strings,
                    "exclusive": {"type": "boolean"},
                    "ttl_seconds": {"type": "integer", "minimum": 1},
                    "release": {"type": "boolean"},
                }),
                &[],
            ),
        ),
    ]
}

/// Reads tool arguments with errors that name the argument.
pub struct Args(pub JsonObject);

impl Args {
    pub fn str(&self, name: &str) -> Result<Option<String>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{name} must be a string")),
        }
    }

    pub fn required_str(&self, name: &str) -> Result<String, String> {
        self.str(name)?.ok_or_else(|| format!("{name} is required"))
    }

    pub fn uint(&self, name: &str) -> Result<Option<u64>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| format!("{name} must be a whole number >= 0")),
        }
    }

    pub fn number(&self, name: &str) -> Result<Option<f64>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| format!("{name} must be a number")),
        }
    }

    pub fn boolean(&self, name: &str) -> Result<Option<bool>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(format!("{name} must be true or false")),
        }
    }

    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(String::from)
                        .ok_or_else(|| format!("{name} must be a list of strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(format!("{name} must be a list of strings")),
        }
    }

    pub fn seconds(&self, name: &str) -> Result<Option<Duration>, String> {
        Ok(self.uint(name)?.map(Duration::from_secs))
    }

    /// Arguments the tool does not know are refused, so a typo is not
    /// silently ignored.
    pub fn only(&self, known: &[&str]) -> Result<(), String> {
        match self
            .0
            .keys()
            .find(|k| *k != "agent_id" && !known.contains(&k.as_str()))
        {
            Some(k) => Err(format!(
                "unknown argument {k:?}; this tool takes {}",
                known.join(", ")
            )),
            None => Ok(()),
        }
    }
}
