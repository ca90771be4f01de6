//! `hivelog mcp`, the stdio bridge harnesses start, driven by the official
//! Python SDK: it starts and answers `initialize` (with hivelog's
//! instructions) and `tools/list` while the server is down, answers a tool
//! call then with an MCP error that says so in words, and works once the
//! server is up without being restarted; a missing and a wrong token are
//! told apart from a server that is down.

mod common;

use std::time::Duration;

use common::python::{self, Running};
use common::Server;

#[tokio::test]
async fn the_bridge_outlives_the_server_and_reconnects_by_itself() {
    if !python::mcp_sdk() {
        return;
    }
    let addr = common::free_addr();
    let url = format!("http://{addr}");
    let args = [
        python::script("mcp_bridge.py"),
        "down".into(),
        env!("CARGO_BIN_EXE_hivelog").into(),
        url,
    ];
    let mut harness = Running::start(&args);
    harness.expect("waiting", Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();
    let _server = Server::start_in(dir.path(), &["--listen", &addr]);
    harness.tell("up");
    harness.expect("down: ok", Duration::from_secs(30));
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_not_a_server_that_is_down() {
    if !python::mcp_sdk() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--token", "s3cret"]);
    let bin: String = env!("CARGO_BIN_EXE_hivelog").into();
    let script = python::script("mcp_bridge.py");
    for (phrase, token) in [
        ("wants a token", None),
        ("refused the token", Some("wrong")),
    ] {
        let mut args = vec![
            script.clone(),
            "refused".into(),
            bin.clone(),
            server.base.clone(),
            phrase.into(),
        ];
        args.extend(token.map(String::from));
        python::run(args, "refused: ok").await;
    }
}
