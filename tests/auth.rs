//! `serve --token`: the API and WebSocket need the token, probes and pages
//! do not, and the CLI sends it from --token or HIVELOG_TOKEN.

mod common;

use std::process::Command;

use common::{assert_error, client, send, Server};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn a_token_guards_the_api_and_the_websocket_but_not_probes_or_pages() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::try_start_with(dir.path(), &[], &[("HIVELOG_TOKEN", "s3cret")]).unwrap();
    let c = client();
    for open in [
        "/health",
        "/ready",
        "/metrics",
        "/",
        "/docs",
        "/openapi.json",
        "/assets/app.js",
    ] {
        assert_eq!(
            c.get(s.url(open)).send().await.unwrap().status(),
            200,
            "{open}"
        );
    }
    let missing = send(c.get(s.url("/api/tasks"))).await;
    assert_error(&missing, 401, "requires a token");
    assert_error(
        &send(c.get(s.url("/api/tasks")).bearer_auth("guess")).await,
        401,
        "wrong token",
    );
    let ok = send(
        c.post(s.url("/api/tasks"))
            .bearer_auth("s3cret")
            .json(&serde_json::json!({"description": "", "task_id": "t", "title": "T"})),
    )
    .await;
    assert_eq!(ok.0, 200, "{ok:?}");
    assert_eq!(
        send(c.get(s.url("/api/tasks?token=s3cret")))
            .await
            .1
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let ws = s.base.replace("http://", "ws://");
    let refused = tokio_tungstenite::connect_async(format!("{ws}/ws")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!(
            "a WebSocket without the token was not refused: {:?}",
            other.map(|_| ())
        ),
    }
    assert!(
        tokio_tungstenite::connect_async(format!("{ws}/ws?token=s3cret"))
            .await
            .is_ok()
    );
    let mut req = format!("{ws}/ws").into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_ok());
    assert!(
        s.stdout().join("\n").contains("token      required"),
        "the banner says a token is needed"
    );

    // The CLI: from the environment, from the flag, and a clear refusal without.
    let cli = |args: &[&str], token: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hivelog"));
        cmd.args(["--server", &s.base])
            .args(args)
            .env_remove("HIVELOG_TOKEN")
            .env("NO_COLOR", "1");
        if let Some(t) = token {
            cmd.env("HIVELOG_TOKEN", t);
        }
        cmd.output().unwrap()
    };
    let out = cli(&["--json", "task", "ls"], Some("s3cret"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["task", "show", "t", "--token", "s3cret"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(
        &[
            "sub", "mjwork.>", "--all", "--count", "1", "--token", "s3cret",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["task", "ls"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("requires a token"));
}

#[tokio::test]
async fn without_a_token_everything_is_open_as_before() {
    let s = Server::start();
    assert_eq!(send(client().get(s.url("/api/tasks"))).await.0, 200);
    assert!(
        tokio_tungstenite::connect_async(format!("{}/ws", s.base.replace("http://", "ws://")))
            .await
            .is_ok()
    );
}
