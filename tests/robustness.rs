//! Bad input against every documented route: malformed JSON, wrong types,
//! huge numbers, deep nesting, invalid UTF-8, empty bodies, giant ids and
//! path traversal in ids and subjects. Every answer must be below 500 and,
//! when it refuses, a JSON `{"detail"}`; the server must stay healthy and
//! keep what it stored.

mod common;

use std::time::Duration;

use common::{client, send, Server};
use serde_json::{json, Value};

fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    let deep = "[".repeat(5_000) + &"]".repeat(5_000);
    let deep_obj = "{\"a\":".repeat(3_000) + "1" + &"}".repeat(3_000);
    vec![
        ("empty", Vec::new()),
        ("malformed", b"{\"task_id\": ".to_vec()),
        ("not an object", b"[1, 2, 3]".to_vec()),
        ("a string", b"\"hello\"".to_vec()),
        ("wrong types", br#"{"task_id": 7, "title": ["x"], "agent_id": {"a": 1}, "subjects": "x", "permits": -1, "paused": "yes", "globs": 3}"#.to_vec()),
        ("huge numbers", br#"{"task_id": "t", "max_attempts": 1e400, "fencing_token": 18446744073709551616, "permits": 99999999999999999999, "limit": -9223372036854775809}"#.to_vec()),
        ("deep nesting", deep.into_bytes()),
        ("deep objects", deep_obj.into_bytes()),
        ("invalid utf-8", vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}']),
        ("nul bytes", b"{\"task_id\": \"a\x00b\", \"title\": \"\x00\"}".to_vec()),
    ]
}

fn path_values() -> Vec<String> {
    vec![
        "x".repeat(8_000),
        "..%2F..%2Fetc%2Fpasswd".into(),
        "%2e%2e".into(),
        "a%00b".into(),
        "%F0%28%8C%28".into(),
        "hivelog.state.task.t1".into(),
        ">".into(),
    ]
}

fn fill(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let j = rest[i..].find('}').map_or(rest.len(), |j| i + j + 1);
        out.push_str(value);
        rest = &rest[j..];
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_bad_input_cleanly_and_loses_nothing() {
    let server = Server::start();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    // Something stored before the onslaught.
    send(
        client()
            .post(server.url("/api/tasks"))
            .json(&json!({"task_id": "keep", "title": "keep me", "description": "d"})),
    )
    .await;
    send(
        client()
            .post(server.url("/api/pub/mjwork.coordination"))
            .body("kept"),
    )
    .await;

    let (_, spec) = send(client().get(server.url("/openapi.json"))).await;
    let mut checked = 0;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        if path == "/ws" {
            continue;
        }
        for (method, _) in ops.as_object().unwrap() {
            let method: reqwest::Method = method.to_uppercase().parse().unwrap();
            let paths: Vec<String> = if path.contains('{') {
                path_values().iter().map(|v| fill(path, v)).collect()
            } else {
                vec![path.clone()]
            };
            for p in &paths {
                let cases: Vec<(&str, Vec<u8>)> =
                    if method == reqwest::Method::GET || method == reqwest::Method::DELETE {
                        vec![("no body", Vec::new())]
                    } else {
                        bodies()
                    };
                for (what, body) in cases {
                    let resp = c
                        .request(method.clone(), format!("{}{p}", server.base))
                        .header("content-type", "application/json")
                        .header("accept", "application/json, text/event-stream")
                        .body(body)
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("{method} {path} ({what}): {e}"));
                    let status = resp.status().as_u16();
                    let text = resp.text().await.unwrap_or_default();
                    assert!(
                        status < 500,
                        "{method} {path} ({what}) answered {status}: {text}"
                    );
                    // /mcp answers JSON-RPC errors in its own shape.
                    if status >= 400 && !path.starts_with("/mcp") {
                        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| {
                            panic!("{method} {path} ({what}) {status} is not JSON: {text:.200}")
                        });
                        assert!(
                            v.get("detail").is_some(),
                            "{method} {path} ({what}) {status} has no detail: {text:.200}"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} requests were tried");
    eprintln!("{checked} bad requests answered cleanly");

    // Still healthy, and what was stored is still there.
    let (status, health) = send(client().get(server.url("/health"))).await;
    assert_eq!(status, 200, "{health}");
    let (_, task) = send(client().get(server.url("/api/tasks/keep"))).await;
    assert_eq!(task["title"], "keep me");
    // (A raw publish is not a message old clients could parse: the richer
    // route lists it.)
    let (_, msgs) = send(client().get(server.url("/api/v2/messages/coordination"))).await;
    assert!(
        msgs["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["content"] == "kept"),
        "{msgs}"
    );
    assert!(
        server.logs().iter().all(|l| !l.contains("panicked")),
        "a handler panicked"
    );
}
