//! The MCP tools as `tools/list` shows them: one per operation
//! (`crate::ops`), with its short description and the schema generated
//! from its request type, because every agent pays for `tools/list` in its
//! context window on every turn (`tests/mcp.rs` keeps the whole list under
//! 2,000 tokens). `hivelog mcp` answers `tools/list` from this same list.

use std::sync::{Arc, LazyLock};

use rmcp::handler::server::common::schema_for_type;
use rmcp::model::{JsonObject, Tool};
use schemars::JsonSchema;
use serde_json::Value;

use crate::ops::{self, Operation, Visit};

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

#[derive(Clone)]
struct Listed;

impl Visit for Listed {
    type Out = Tool;

    fn visit<O: Operation>(self) -> Tool {
        Tool::new(O::NAME, O::HELP, schema::<O>())
    }
}

static TOOLS: LazyLock<Vec<Tool>> = LazyLock::new(|| ops::each(Listed));

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
        assert_eq!(names, ops::NAMES);
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
        assert_eq!(declared, Some(ops::MAX_WAIT_SECS), "{s}");
    }

    struct Parses(serde_json::Map<String, Value>);

    impl Visit for Parses {
        type Out = bool;

        fn visit<O: Operation>(self) -> bool {
            ops::parse::<O>(self.0).is_ok()
        }
    }

    fn accepts(tool: &str, call: serde_json::Map<String, Value>) -> bool {
        ops::visit(tool, Parses(call)).expect("a tool of that name")
    }
}
