//! The MCP tools as `tools/list` shows them: eight, with short
//! descriptions, each schema generated from its argument type
//! (`args.rs`), because every agent pays for `tools/list` in its context
//! window on every turn (`tests/mcp.rs` keeps the whole list under 2,000
//! tokens). `hivelog mcp` answers `tools/list` from this same list.

use std::sync::{Arc, LazyLock};

use rmcp::handler::server::common::schema_for_type;
use rmcp::model::{JsonObject, Tool};
use schemars::JsonSchema;
use serde_json::Value;

use super::args;

/// The tool names, in the order they are listed.
pub const NAMES: [&str; 8] = [
    "claim_next",
    "complete",
    "progress",
    "handoff",
    "add_task",
    "send_message",
    "inbox",
    "reserve",
];

/// The input schema of `T`, without the keys an agent does not need
/// (every listed byte is paid for in context on every turn).
fn schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    let mut schema = (*schema_for_type::<T>()).clone();
    schema.remove("$schema");
    schema.remove("title");
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        for p in props.values_mut() {
            if let Value::Object(p) = p {
                p.remove("format");
            }
        }
    }
    Arc::new(schema)
}

fn tool<T: JsonSchema + 'static>(name: &'static str, description: &'static str) -> Tool {
    Tool::new(name, description, schema::<T>())
}

static TOOLS: LazyLock<Vec<Tool>> = LazyLock::new(|| {
    vec![
        tool::<args::ClaimNext>(
            "claim_next",
            "Claim the next task you can do. Returns {task, handoff, inbox}: task has fencing_token and its files (reserved for you); null task when none (paused: true when paused).",
        ),
        tool::<args::Complete>(
            "complete",
            "Finish your task. With error it fails this attempt and is retried later (or goes to a human).",
        ),
        tool::<args::Progress>(
            "progress",
            "Report progress on your task; renews its lease.",
        ),
        tool::<args::Handoff>(
            "handoff",
            "Give your task back with a note for the next agent (to: one agent). delay_seconds: not before then. No attempt spent.",
        ),
        tool::<args::AddTask>(
            "add_task",
            "Add a task. Same dedup_key as an unfinished task: that task is returned instead.",
        ),
        tool::<args::SendMessage>(
            "send_message",
            "Post a message (channel default coordination). @name or to: lands in that agent's inbox.",
        ),
        // Not read-only: with ack it marks what it returned as read.
        tool::<args::Inbox>(
            "inbox",
            "Your unread messages and handoffs, oldest first. ack: true marks them read.",
        ),
        tool::<args::Reserve>(
            "reserve",
            "Reserve path globs so other agents keep out (exclusive by default). release: true lets go (no globs: all).",
        ),
    ]
});

pub fn list() -> Vec<Tool> {
    TOOLS.clone()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schemas() -> Vec<(String, Value)> {
        list()
            .into_iter()
            .map(|t| (t.name.to_string(), Value::Object((*t.input_schema).clone())))
            .collect()
    }

    #[test]
    fn the_listed_names_are_the_tools() {
        let names: Vec<String> = list().into_iter().map(|t| t.name.to_string()).collect();
        assert_eq!(names, NAMES);
    }

    #[test]
    fn every_schema_is_closed_and_names_the_agent() {
        for (name, s) in schemas() {
            assert_eq!(s["type"], "object", "{name}: {s}");
            assert_eq!(s["additionalProperties"], false, "{name}: {s}");
            assert!(s["properties"]["agent_id"].is_object(), "{name}: {s}");
        }
    }

    /// The bounds the schemas declare, read back from the schemas: each
    /// side of each bound is refused or accepted by the parser exactly
    /// as declared, so the two cannot drift.
    #[test]
    fn the_declared_bounds_are_the_enforced_ones() {
        let mut checked = 0;
        for (name, s) in schemas() {
            let required: Vec<String> = s["required"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            for (arg, p) in s["properties"].as_object().unwrap() {
                let base = |value: Value| {
                    let mut call = serde_json::Map::new();
                    for r in &required {
                        let v = match s["properties"][r]["type"].as_str() {
                            Some("integer") => json!(1),
                            _ => json!("x"),
                        };
                        call.insert(r.clone(), v);
                    }
                    call.insert(arg.clone(), value);
                    call
                };
                let bounds = [
                    ("minimum", -1.0),
                    ("maximum", 1.0),
                    ("minLength", -1.0),
                    ("maxLength", 1.0),
                ];
                for (key, step) in bounds {
                    let Some(bound) = p[key].as_f64() else {
                        continue;
                    };
                    let (inside, outside) = match key {
                        "minLength" | "maxLength" => {
                            let at = "a".repeat(bound as usize);
                            let out = "a".repeat((bound + step).max(0.0) as usize);
                            (json!(at), json!(out))
                        }
                        _ if bound == 0.0 && step < 0.0 => (json!(0), json!(-1)),
                        _ => (json!(bound as u64), json!((bound + step) as u64)),
                    };
                    assert!(
                        accepts(&name, base(inside.clone())),
                        "{name}.{arg} = {inside} is within {key} {bound}"
                    );
                    assert!(
                        !accepts(&name, base(outside.clone())),
                        "{name}.{arg} = {outside} is beyond {key} {bound}"
                    );
                    checked += 1;
                }
            }
            for r in &required {
                let mut call = serde_json::Map::new();
                for other in required.iter().filter(|o| *o != r) {
                    call.insert(other.clone(), json!("x"));
                }
                assert!(!accepts(&name, call), "{name} without {r}");
            }
        }
        assert!(checked >= 8, "only {checked} bounds found");
    }

    #[test]
    fn the_longest_wait_is_the_one_every_route_takes() {
        let s = schemas()
            .into_iter()
            .find(|(n, _)| n == "claim_next")
            .unwrap()
            .1;
        let declared = s["properties"]["wait_seconds"]["maximum"].as_u64();
        assert_eq!(declared, Some(crate::api::MAX_FETCH_WAIT.as_secs()), "{s}");
    }

    fn accepts(tool: &str, call: serde_json::Map<String, Value>) -> bool {
        match tool {
            "claim_next" => args::parse::<args::ClaimNext>(call).is_ok(),
            "complete" => args::parse::<args::Complete>(call).is_ok(),
            "progress" => args::parse::<args::Progress>(call).is_ok(),
            "handoff" => args::parse::<args::Handoff>(call).is_ok(),
            "add_task" => args::parse::<args::AddTask>(call).is_ok(),
            "send_message" => args::parse::<args::SendMessage>(call).is_ok(),
            "inbox" => args::parse::<args::Inbox>(call).is_ok(),
            "reserve" => args::parse::<args::Reserve>(call).is_ok(),
            other => panic!("no parser for {other}"),
        }
    }
}
