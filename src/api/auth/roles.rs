//! Which role a request needs, and which agents it acts as (for
//! `--strict-agents`). Reading needs `read`; changing the queue, posting,
//! publishing and MCP need `agent`; running the server — streams, pausing,
//! removing agents, sizing slots, answering approvals, retrying what needs
//! a human — needs `admin`. Publishing over `/ws` is checked per frame.

use axum::http::Method;
use serde_json::Value;

use super::tokens::Role;

/// The role `method path` needs.
pub fn required(method: &Method, path: &str) -> Role {
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        return Role::Read;
    }
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let admin = match seg.as_slice() {
        // Stream administration; publishing and consumers stay agent work.
        ["api", "streams"] => true,
        ["api", "streams", _] => true,
        ["api", "streams", _, "purge"] => true,
        ["api", "streams", _, "messages", _] => true,
        ["api", "v2", "pause"] => true,
        ["api", "agents", "cleanup"] => true,
        ["api", "agents", _] => method == Method::DELETE,
        ["api", "v2", "slots", _] => true,
        ["api", "v2", "agents", _, "approval"] => true,
        ["api", "v2", "tasks", _, "retry"] => true,
        _ => false,
    };
    if admin {
        Role::Admin
    } else {
        Role::Agent
    }
}

/// Agent ids named in the path of an agent-scoped route.
pub fn path_agents(path: &str) -> Vec<String> {
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    match seg.as_slice() {
        ["api", "v2", "agents", id, ..] | ["api", "agents", id] => {
            let id = percent_decode(id);
            if id == "cleanup" || id == "register" || id == "heartbeat" {
                Vec::new()
            } else {
                vec![id]
            }
        }
        _ => Vec::new(),
    }
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// Agent ids a JSON body says it acts as: its `agent_id`, or an MCP tool
/// call's `params.arguments.agent_id` (a batch: every call's).
pub fn body_agents(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut take = |v: &Value| {
        if let Some(a) = v.get("agent_id").and_then(Value::as_str) {
            out.push(a.to_string());
        }
        if let Some(a) = v
            .get("params")
            .and_then(|p| p.get("arguments"))
            .and_then(|a| a.get("agent_id"))
            .and_then(Value::as_str)
        {
            out.push(a.to_string());
        }
    };
    match body {
        Value::Array(items) => items.iter().for_each(&mut take),
        other => take(other),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_follow_what_a_route_changes() {
        let post = Method::POST;
        assert_eq!(required(&Method::GET, "/api/streams"), Role::Read);
        assert_eq!(required(&post, "/api/streams"), Role::Admin);
        assert_eq!(
            required(&Method::DELETE, "/api/streams/ORDERS"),
            Role::Admin
        );
        assert_eq!(required(&post, "/api/streams/ORDERS/purge"), Role::Admin);
        assert_eq!(
            required(&post, "/api/streams/ORDERS/consumers"),
            Role::Agent
        );
        assert_eq!(required(&post, "/api/pub/orders.eu"), Role::Agent);
        assert_eq!(required(&post, "/api/tasks/t1/claim"), Role::Agent);
        assert_eq!(required(&post, "/mcp"), Role::Agent);
        assert_eq!(required(&post, "/api/v2/pause"), Role::Admin);
        assert_eq!(required(&Method::DELETE, "/api/agents/alice"), Role::Admin);
        assert_eq!(required(&post, "/api/agents/heartbeat"), Role::Agent);
        assert_eq!(required(&post, "/api/v2/tasks/t1/retry"), Role::Admin);
        assert_eq!(required(&post, "/api/v2/tasks/t1/complete"), Role::Agent);
    }

    #[test]
    fn agents_are_read_from_bodies_paths_and_mcp_calls() {
        assert_eq!(body_agents(&json!({"agent_id": "a"})), vec!["a"]);
        let call = json!({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "x", "arguments": {"agent_id": "b"}}});
        assert_eq!(body_agents(&call), vec!["b"]);
        assert_eq!(
            body_agents(&json!([call, {"agent_id": "c"}])),
            vec!["b", "c"]
        );
        assert_eq!(path_agents("/api/v2/agents/al%69ce/inbox"), vec!["alice"]);
        assert!(path_agents("/api/agents/heartbeat").is_empty());
    }
}
