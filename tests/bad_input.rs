//! Bad input gets a clear `{"detail"}` error with the documented status,
//! the server stays healthy, and nothing stored before is lost.

mod common;

use common::{assert_cases, assert_error, client, send, Server};
use serde_json::json;

#[tokio::test]
async fn every_kind_of_bad_input_is_refused_and_nothing_is_lost() {
    let server = Server::start();
    let c = client();
    for i in 1..=3 {
        send(
            c.post(server.url("/api/pub/mjwork.tasks"))
                .body(format!("{{\"n\": {i}}}")),
        )
        .await;
    }
    let streams = server.url("/api/streams");
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (c.post(&streams).body("{not json"), 400, "not valid JSON"),
        (c.post(&streams).body(""), 400, "empty"),
        (
            c.post(&streams)
                .json(&json!({"name": "X", "subjects": "x.>"})),
            422,
            "invalid type",
        ),
        (
            c.post(&streams).json(&json!({"name": "X"})),
            422,
            "subjects",
        ),
        (
            c.post(&streams)
                .json(&json!({"name": "X", "subjects": ["x"], "max_msgs": -1})),
            422,
            "invalid value",
        ),
        (
            c.post(&streams)
                .json(&json!({"name": "X", "subjects": ["x"], "max_msgs": 0})),
            400,
            "max_msgs must be at least 1",
        ),
        (
            c.post(&streams)
                .json(&json!({"name": "X", "subjects": ["x"], "max_age": "forever"})),
            422,
            "invalid duration",
        ),
        (
            c.post(&streams)
                .json(&json!({"name": "X", "subjects": ["x"], "max_age": "999999d"})),
            422,
            "100 years",
        ),
        (
            c.post(&streams)
                .json(&json!({"name": "X", "subjects": ["x"], "max_msg_size": 1u64 << 40})),
            400,
            "max_msg_size",
        ),
        (
            c.post(&streams)
                .json(&json!({"name": "X", "subjects": ["x"], "colour": "red"})),
            422,
            "unknown field",
        ),
        (
            c.post(&streams)
                .json(&json!({"name": "a/b", "subjects": ["x"]})),
            400,
            "stream name",
        ),
        (
            c.post(&streams)
                .json(&json!({"name": "X", "subjects": ["x..y"]})),
            400,
            "token 2 is empty",
        ),
        (
            c.post(&streams)
                .json(&json!({"name": "X", "subjects": ["x.>.y"]})),
            400,
            "last token",
        ),
        (
            c.post(&streams).json(&json!([1, 2, 3])),
            422,
            "invalid type",
        ),
        (
            c.post(server.url("/api/pub/mjwork..tasks")).body("x"),
            400,
            "token 2 is empty",
        ),
        (
            c.post(server.url("/api/pub/mjwork.*")).body("x"),
            400,
            "wildcard",
        ),
        (
            c.post(server.url("/api/pub/mjwork.tasks"))
                .header("Nats-Msg-Id", "")
                .body("x"),
            400,
            "message id",
        ),
        (
            c.post(server.url("/api/pub/mjwork.tasks"))
                .body(vec![b'x'; 1024 * 1024 + 1]),
            413,
            "max_msg_size",
        ),
        (
            c.get(server.url("/api/streams/NOPE")),
            404,
            "stream NOPE not found",
        ),
        (
            c.get(server.url("/api/streams/NOPE/messages")),
            404,
            "stream NOPE not found",
        ),
        (
            c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages/abc")),
            400,
            "invalid path",
        ),
        (
            c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages/99")),
            404,
            "message 99 not found",
        ),
        (
            c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages?limit=lots")),
            400,
            "invalid query",
        ),
        (
            c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages?start_time=yesterday")),
            400,
            "invalid time",
        ),
        (
            c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages?subject=a..b")),
            400,
            "token 2 is empty",
        ),
        (
            c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages?bogus=1")),
            400,
            "unknown field",
        ),
        (
            c.post(server.url("/api/streams/MJ_ONLINE_WORK/purge"))
                .json(&json!({"keep": "all"})),
            422,
            "invalid type",
        ),
        (
            c.post(server.url("/api/streams/MJ_ONLINE_WORK/consumers"))
                .json(&json!({"durable_name": "x y"})),
            400,
            "consumer name",
        ),
        (
            c.post(server.url("/api/streams/MJ_ONLINE_WORK/consumers"))
                .json(&json!({"deliver_policy": "sometimes"})),
            422,
            "unknown variant",
        ),
        (
            c.post(server.url("/api/streams/MJ_ONLINE_WORK/consumers"))
                .json(&json!({"filter_subject": "other.x"})),
            400,
            "matches none",
        ),
        (
            c.post(server.url("/api/streams/MJ_ONLINE_WORK/consumers"))
                .json(&json!({"max_ack_pending": 0})),
            400,
            "max_ack_pending",
        ),
        (
            c.post(server.url("/api/streams/MJ_ONLINE_WORK/consumers/none/next")),
            404,
            "consumer none not found",
        ),
        (
            c.post(server.url("/api/streams/MJ_ONLINE_WORK/consumers/none/ack"))
                .json(&json!({"seq": "one"})),
            422,
            "invalid type",
        ),
        (c.get(server.url("/api/nothing/here")), 404, "no route"),
        (c.patch(server.url("/api/streams")), 405, "not allowed"),
    ];
    assert_cases(cases).await;

    // Larger than any stream may accept: the server answers 413 and closes
    // without reading the rest, so the client may see the answer or only a
    // reset while it is still sending. Either way nothing may break.
    // Its own client: the connection it dies on must not go back into the
    // pool that the checks below use.
    let huge = client()
        .post(server.url("/api/pub/mjwork.tasks"))
        .body(vec![b'x'; 9 * 1024 * 1024]);
    match huge.send().await {
        Ok(resp) => {
            assert_eq!(resp.status(), 413);
            let body: serde_json::Value = resp.json().await.unwrap();
            assert!(
                body["detail"].as_str().unwrap().contains("too large"),
                "{body}"
            );
        }
        Err(e) => assert!(e.is_request() || e.is_body(), "unexpected client error {e}"),
    }

    // Still healthy, and the three messages are intact.
    let (status, health) = send(c.get(server.url("/health"))).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("healthy")));
    let (_, body) = send(c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages"))).await;
    let ns: Vec<i64> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["data"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, [1, 2, 3]);
    assert!(
        server.logs().iter().all(|l| !l.contains("panicked")),
        "no panic in the server log"
    );
}

#[tokio::test]
async fn a_consumer_create_with_a_conflicting_start_is_refused() {
    let server = Server::start();
    let c = client();
    let url = server.url("/api/streams/MJ_ONLINE_WORK/consumers");
    let got = send(
        c.post(&url)
            .json(&json!({"deliver_policy": "by_start_sequence"})),
    )
    .await;
    assert_error(&got, 400, "opt_start_seq");
    let got = send(
        c.post(&url)
            .json(&json!({"deliver_policy": "all", "opt_start_seq": 5})),
    )
    .await;
    assert_error(&got, 400, "only allowed");
    let got = send(
        c.post(&url)
            .json(&json!({"durable_name": "a", "name": "b"})),
    )
    .await;
    assert_error(&got, 400, "differ");
}
