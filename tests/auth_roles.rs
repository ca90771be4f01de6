//! Tokens with roles from a tokens file: `read` reads and subscribes,
//! `agent` works the queue and publishes, `admin` runs the server; with
//! --strict-agents an agent token acts only as its own agents (REST and
//! MCP); SIGHUP rotates tokens without a restart; --require-token refuses
//! to start without one.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{assert_error, client, send, Server, Ws};
use serde_json::json;

const ADMIN: &str = "admin-token-0123456789";
const AGENT: &str = "agent-token-0123456789";
const READ: &str = "read-token-01234567890";

fn tokens_file(dir: &std::path::Path, agent_token: &str) -> std::path::PathBuf {
    let path = dir.join("tokens.toml");
    std::fs::write(
        &path,
        format!(
            "[[tokens]]\nname = \"ops\"\ntoken = \"{ADMIN}\"\nrole = \"admin\"\n\n\
             [[tokens]]\nname = \"builder\"\ntoken = \"{agent_token}\"\nrole = \"agent\"\nagents = [\"builder\", \"builder-2\"]\n\n\
             [[tokens]]\nname = \"viewer\"\ntoken = \"{READ}\"\nrole = \"read\"\n"
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn roles_decide_what_a_token_may_do() {
    let dir = tempfile::tempdir().unwrap();
    let file = tokens_file(dir.path(), AGENT);
    let data = dir.path().join("data");
    let server = Server::start_in(
        &data,
        &["--tokens-file", file.to_str().unwrap(), "--strict-agents"],
    );
    let c = client();
    let as_ = |token: &'static str, req: reqwest::RequestBuilder| send(req.bearer_auth(token));

    // read: GET only.
    assert_eq!(as_(READ, c.get(server.url("/api/tasks"))).await.0, 200);
    let denied = as_(
        READ,
        c.post(server.url("/api/v2/tasks"))
            .json(&json!({"task_id": "t1", "title": "x"})),
    )
    .await;
    assert_error(&denied, 403, "token viewer has the read role");
    // agent: the queue, but not the server's administration.
    let (status, _) = as_(
        AGENT,
        c.post(server.url("/api/v2/tasks"))
            .json(&json!({"task_id": "t1", "title": "x"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        as_(
            AGENT,
            c.post(server.url("/api/tasks/t1/claim"))
                .json(&json!({"agent_id": "builder"}))
        )
        .await
        .0,
        200
    );
    assert_error(
        &as_(
            AGENT,
            c.post(server.url("/api/v2/pause"))
                .json(&json!({"paused": true})),
        )
        .await,
        403,
        "needs admin",
    );
    assert_error(
        &as_(
            AGENT,
            c.post(server.url("/api/streams"))
                .json(&json!({"name": "X", "subjects": ["x.>"]})),
        )
        .await,
        403,
        "needs admin",
    );
    // strict agents: not as somebody else, in any form.
    let other = as_(
        AGENT,
        c.post(server.url("/api/agents/heartbeat"))
            .json(&json!({"agent_id": "alice", "status": "busy"})),
    )
    .await;
    assert_error(
        &other,
        403,
        "may act only as builder, builder-2, not as alice",
    );
    assert_eq!(
        as_(
            AGENT,
            c.post(server.url("/api/agents/heartbeat"))
                .json(&json!({"agent_id": "builder-2", "status": "busy"}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        as_(AGENT, c.get(server.url("/api/v2/agents/alice/inbox")))
            .await
            .0,
        200,
        "reading is not acting"
    );
    assert_error(
        &as_(
            AGENT,
            c.post(server.url("/api/v2/agents/alice/inbox/ack"))
                .json(&json!({})),
        )
        .await,
        403,
        "not as alice",
    );
    let mcp_as_alice = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "claim_next", "arguments": {"agent_id": "alice"}}});
    let (status, body) = as_(
        AGENT,
        c.post(server.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&mcp_as_alice),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = send(
        c.post(server.url("/mcp"))
            .bearer_auth(AGENT)
            .header("accept", "application/json, text/event-stream")
            .header("x-hivelog-agent", "alice")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})),
    )
    .await;
    assert_eq!(status, 403, "the agent header counts too");
    // admin: everything.
    assert_eq!(
        as_(
            ADMIN,
            c.post(server.url("/api/v2/pause"))
                .json(&json!({"paused": false}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        as_(
            ADMIN,
            c.post(server.url("/api/agents/heartbeat"))
                .json(&json!({"agent_id": "alice", "status": "busy"}))
        )
        .await
        .0,
        200
    );

    // Over /ws, a read token subscribes but cannot publish.
    let mut ws = Ws::connect_with_token(&server, READ).await;
    ws.next_op("info").await;
    ws.send(json!({"op": "sub", "sid": "s", "subject": "mjwork.>"}))
        .await;
    ws.send(json!({"op": "pub", "id": 1, "subject": "mjwork.coordination", "text": "hi"}))
        .await;
    let refused = ws.next_op("err").await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("publishing needs agent"),
        "{refused}"
    );
    let mut ws = Ws::connect_with_token(&server, AGENT).await;
    ws.next_op("info").await;
    ws.send(json!({"op": "pub", "id": 2, "subject": "mjwork.coordination", "text": "hi"}))
        .await;
    assert!(ws.next_op("puback").await["seq"].as_u64().is_some());
}

#[tokio::test]
async fn sighup_rotates_tokens_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = tokens_file(dir.path(), AGENT);
    let server = Server::start_in(
        &dir.path().join("data"),
        &["--tokens-file", file.to_str().unwrap()],
    );
    let c = client();
    assert_eq!(
        send(c.get(server.url("/api/tasks")).bearer_auth(AGENT))
            .await
            .0,
        200
    );
    let rotated = "agent-token-rotated-0001";
    tokens_file(dir.path(), rotated);
    Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while send(c.get(server.url("/api/tasks")).bearer_auth(AGENT))
        .await
        .0
        != 401
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the old token still works"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        send(c.get(server.url("/api/tasks")).bearer_auth(rotated))
            .await
            .0,
        200
    );
    // A broken file on reload keeps the tokens in force.
    std::fs::write(&file, "[[tokens]]\ntoken = \"short\"\nrole = \"admin\"\n").unwrap();
    Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        send(c.get(server.url("/api/tasks")).bearer_auth(rotated))
            .await
            .0,
        200
    );
    assert!(
        server
            .logs()
            .iter()
            .any(|l| l.contains("tokens not reloaded")),
        "the failed reload is reported"
    );
    assert!(
        !server
            .logs()
            .iter()
            .any(|l| l.contains(rotated) || l.contains(ADMIN)),
        "no token is ever logged"
    );
}

#[tokio::test]
async fn require_token_refuses_to_start_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let Err((status, logs)) = Server::try_start_in(dir.path(), &["--require-token"]) else {
        panic!("started without a token");
    };
    assert!(status.is_some_and(|s| !s.success()));
    assert!(
        logs.join("\n")
            .contains("--require-token is set but no token"),
        "{logs:?}"
    );
}
