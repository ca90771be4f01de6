//! Limits and browsers: a client over its request rate gets 429 with
//! Retry-After and gets through again later; WebSocket connections per
//! client and subscriptions per connection are capped with a clear error;
//! pages from other sites are refused unless --cors-origin names them.

mod common;

use std::time::Duration;

use common::{assert_error, client, send, Server, Ws};
use serde_json::json;

#[tokio::test]
async fn a_client_over_its_rate_gets_429_then_gets_through() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--rate-limit", "5", "--rate-burst", "5"]);
    let c = client();
    let mut refused = None;
    for _ in 0..30 {
        let resp = c.get(server.url("/api/tasks")).send().await.unwrap();
        if resp.status() == 429 {
            refused = Some(resp);
            break;
        }
    }
    let resp = refused.expect("the 6th quick request is refused");
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("--rate-limit"),
        "{body}"
    );
    // Probes and pages count too, but the bucket refills.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(send(c.get(server.url("/api/tasks"))).await.0, 200);
}

#[tokio::test]
async fn websocket_connections_and_subscriptions_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        dir.path(),
        &[
            "--ws-max-connections-per-client",
            "2",
            "--ws-max-subscriptions",
            "2",
        ],
    );
    let mut first = Ws::connect(&server).await;
    first.next_op("info").await;
    for i in 0..2 {
        first
            .send(json!({"op": "sub", "sid": i, "subject": format!("a.{i}")}))
            .await;
    }
    first
        .send(json!({"op": "sub", "sid": 9, "subject": "a.9"}))
        .await;
    let err = first.next_op("err").await;
    assert!(
        err["detail"]
            .as_str()
            .unwrap()
            .contains("--ws-max-subscriptions"),
        "{err}"
    );
    let _second = Ws::connect(&server).await;
    let url = server.base.replacen("http://", "ws://", 1) + "/ws";
    let third = tokio_tungstenite::connect_async(url.clone()).await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 429),
        other => panic!(
            "a third connection from one address was let in: {:?}",
            other.map(|_| ())
        ),
    }
    // Closing one frees its place.
    drop(first);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tokio_tungstenite::connect_async(url.clone()).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the freed place was not given back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn pages_from_other_sites_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--cors-origin", "https://tools.example"]);
    let c = client();
    let task = json!({"task_id": "t1", "title": "x", "description": ""});
    let evil = send(
        c.post(server.url("/api/tasks"))
            .header("origin", "http://evil.example")
            .header("content-type", "text/plain")
            .body(task.to_string()),
    )
    .await;
    assert_error(
        &evil,
        403,
        "requests from pages on http://evil.example are refused",
    );
    let (_, tasks) = send(c.get(server.url("/api/tasks"))).await;
    assert_eq!(tasks, json!([]), "the refused request did nothing");
    // A WebSocket opened by a foreign page is refused too.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        server.base.replacen("http://", "ws://", 1) + "/ws",
    )
    .unwrap();
    req.headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_err());
    // The server's own pages, and the allowed site, get through.
    let host = server.base.trim_start_matches("http://").to_string();
    let own = send(
        c.post(server.url("/api/tasks"))
            .header("origin", format!("http://{host}"))
            .json(&task),
    )
    .await;
    assert_eq!(own.0, 200);
    let pre = c
        .request(reqwest::Method::OPTIONS, server.url("/api/tasks"))
        .header("origin", "https://tools.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(
        pre.headers()["access-control-allow-origin"],
        "https://tools.example"
    );
    let allowed = c
        .get(server.url("/api/tasks"))
        .header("origin", "https://tools.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://tools.example"
    );
}

#[tokio::test]
async fn streams_and_consumers_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    // The two default streams count: room for one more.
    let server = Server::start_in(
        dir.path(),
        &["--max-streams", "3", "--max-consumers-per-stream", "1"],
    );
    let c = client();
    let make = |name: &str, subject: &str| {
        c.post(server.url("/api/streams"))
            .json(&json!({"name": name, "subjects": [subject]}))
    };
    assert_eq!(send(make("ONE", "one.>")).await.0, 201);
    assert_error(&send(make("TWO", "two.>")).await, 409, "--max-streams");
    assert!(
        send(make("ONE", "one.>")).await.0 < 300,
        "re-creating an existing stream is not a new one"
    );
    let consumer = |name: &str| {
        c.post(server.url("/api/streams/ONE/consumers"))
            .json(&json!({"durable_name": name}))
    };
    assert_eq!(send(consumer("a")).await.0, 201);
    assert_error(
        &send(consumer("b")).await,
        409,
        "--max-consumers-per-stream",
    );
    assert!(send(consumer("a")).await.0 < 300);
}

#[tokio::test]
async fn body_and_frame_sizes_are_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        dir.path(),
        &["--max-body-mb", "1", "--ws-max-frame-kb", "16"],
    );
    let big = "x".repeat(2 * 1024 * 1024);
    let refused = send(client().post(server.url("/api/pub/mjwork.big")).body(big)).await;
    assert_error(&refused, 413, "too large");
    let fits = send(
        client()
            .post(server.url("/api/pub/mjwork.small"))
            .body("x".repeat(512 * 1024)),
    )
    .await;
    assert_eq!(fits.0, 200, "{}", fits.1);
    let mut ws = Ws::connect(&server).await;
    ws.next_op("info").await;
    ws.send(json!({"op": "pub", "subject": "a.b", "text": "y".repeat(32 * 1024)}))
        .await;
    let mut closed = false;
    for _ in 0..5 {
        if ws.next_within(Duration::from_secs(2)).await.is_none() {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "a frame over --ws-max-frame-kb closes the connection"
    );
    let (status, _) = send(client().get(server.url("/health"))).await;
    assert_eq!(status, 200);
}
