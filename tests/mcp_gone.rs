//! Nothing is granted to an MCP caller that is gone (DESIGN invariant
//! 10). A real client (the official Python SDK) asks `claim_next` to wait
//! 30 s, then times out or cancels the call, over Streamable HTTP and over
//! the `hivelog mcp` stdio bridge, and stays connected; a task added then
//! must stay available. A legacy client's `notifications/cancelled` stops
//! its own call and no one else's; a bridge killed mid-wait claims
//! nothing. Run again on NATS by `mcp_gone_on_nats.rs`.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::python::{self, Running};
use common::{client, send, Server};
use serde_json::{json, Value};

const ACCEPT: &str = "application/json, text/event-stream";

/// Waits until `agent` has been heard of (its call reached the server).
async fn heard_of(server: &Server, agent: &str) {
    for _ in 0..200 {
        let (_, agents) = send(client().get(server.url("/api/agents?include_stale=true"))).await;
        if agents
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["agent_id"] == agent))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{agent}'s call never reached the server");
}

/// Adds a task after the caller left; it must stay on offer, untouched.
async fn nothing_granted(server: &Server, id: &str, what: &str) {
    let task = json!({"task_id": id, "title": "arrives after the caller left", "description": ""});
    let (status, body) = send(client().post(server.url("/api/tasks")).json(&task)).await;
    assert_eq!(status, 200, "{body}");
    // A waiter still there would have taken it at once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, t) = send(client().get(server.url(&format!("/api/tasks/{id}")))).await;
    assert_eq!(t["status"], "available", "{what}: {t}");
    assert_eq!(t["owner"], Value::Null, "{what}: {t}");
    assert_eq!(t["attempts"], 0, "{what}: {t}");
}

#[tokio::test]
async fn an_http_client_that_times_out_or_cancels_is_granted_nothing() {
    if !python::mcp_sdk() {
        return;
    }
    for mode in ["http-timeout", "http-cancel"] {
        let server = Server::start();
        let args = [
            python::script("mcp_gone.py"),
            mode.into(),
            server.url("/mcp"),
        ];
        let mut caller = Running::start(&args);
        caller.expect("gave up", Duration::from_secs(30));
        heard_of(&server, "orph").await;
        nothing_granted(&server, "t", mode).await;
    }
}

#[tokio::test]
async fn a_stdio_client_that_times_out_or_cancels_is_granted_nothing() {
    if !python::mcp_sdk() {
        return;
    }
    for mode in ["stdio-timeout", "stdio-cancel"] {
        let server = Server::start();
        let args = [
            python::script("mcp_gone.py"),
            mode.into(),
            env!("CARGO_BIN_EXE_hivelog").into(),
            server.base.clone(),
        ];
        let mut caller = Running::start(&args);
        caller.expect("gave up", Duration::from_secs(30));
        heard_of(&server, "orph").await;
        nothing_granted(&server, "t", mode).await;
    }
}

fn rpc(server: &Server, agent: &str, body: Value) -> reqwest::RequestBuilder {
    client()
        .post(server.url("/mcp"))
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", "2025-06-18")
        .header("x-hivelog-agent", agent)
        .json(&body)
}

fn long_claim(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "claim_next", "arguments": {"wait_seconds": 30}}})
}

#[tokio::test]
async fn a_cancel_notification_stops_its_own_call_and_no_one_elses() {
    let server = Server::start();
    // Two callers whose calls share the id 7, as separate clients' do.
    let mine = tokio::spawn(send(rpc(&server, "legacy", long_claim(7))));
    let theirs = tokio::spawn(send(rpc(&server, "other", long_claim(7))));
    heard_of(&server, "legacy").await;
    heard_of(&server, "other").await;
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 7, "reason": "the user pressed Esc"}});
    let (status, _) = send(rpc(&server, "legacy", cancel)).await;
    assert_eq!(status, 202);
    let (status, answer) = tokio::time::timeout(Duration::from_secs(5), mine)
        .await
        .expect("the cancelled call ended at once")
        .unwrap();
    assert_eq!(status, 200);
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap()["task"],
        Value::Null
    );

    // The other caller still waits, and gets the task.
    let task = json!({"task_id": "t", "title": "T", "description": ""});
    assert_eq!(
        send(client().post(server.url("/api/tasks")).json(&task))
            .await
            .0,
        200
    );
    let (_, answer) = tokio::time::timeout(Duration::from_secs(5), theirs)
        .await
        .expect("the other call got the task")
        .unwrap();
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    let brief: Value = serde_json::from_str(text).unwrap();
    assert_eq!(brief["task"]["task_id"], "t", "{brief}");
    let (_, t) = send(client().get(server.url("/api/tasks/t"))).await;
    assert_eq!(t["owner"], "other", "{t}");
}

#[tokio::test]
async fn a_bridge_killed_mid_wait_claims_nothing() {
    let server = Server::start();
    let mut bridge = Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(["--server", &server.base, "mcp", "--agent", "killed"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hivelog mcp");
    let mut stdin = bridge.stdin.take().unwrap();
    for line in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        long_claim(2),
    ] {
        writeln!(stdin, "{line}").unwrap();
    }
    stdin.flush().unwrap();
    heard_of(&server, "killed").await;
    bridge.kill().unwrap();
    bridge.wait().unwrap();
    nothing_granted(&server, "t", "bridge killed").await;
}
