//! Publishing and reading over HTTP: payload rendering, headers,
//! expectations, dedup, ranges, last-per-subject, deletes.

mod common;

use common::{assert_error, client, send, seqs, Server};
use serde_json::json;

#[tokio::test]
async fn publish_renders_payloads_by_kind() {
    let server = Server::start();
    let c = client();
    let (status, ack) = send(
        c.post(server.url("/api/pub/mjwork.status"))
            .body(r#"{"ok": true}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        ack,
        json!({"stream": "MJ_ONLINE_WORK", "seq": 1, "duplicate": false})
    );
    send(
        c.post(server.url("/api/pub/mjwork.status"))
            .body("plain words"),
    )
    .await;
    send(
        c.post(server.url("/api/pub/mjwork.status"))
            .body(vec![0xffu8, 0xfe, 0x00]),
    )
    .await;
    let (_, one) = send(c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages/1"))).await;
    assert_eq!(one["data"], json!({"ok": true}));
    assert_eq!(one["subject"], "mjwork.status");
    assert!(one["time"].as_str().unwrap().ends_with('Z'));
    let (_, two) = send(c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages/2"))).await;
    assert_eq!(two["text"], "plain words");
    let (_, three) = send(c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages/3"))).await;
    assert_eq!(three["data_b64"], "//4A");
}

#[tokio::test]
async fn uncaptured_subject_is_accepted_but_not_stored() {
    let server = Server::start();
    let (status, ack) = send(client().post(server.url("/api/pub/chat.lobby")).body("hi")).await;
    assert_eq!(status, 200);
    assert_eq!(
        ack,
        json!({"stream": null, "seq": null, "duplicate": false})
    );
}

#[tokio::test]
async fn headers_msg_id_and_expectations() {
    let server = Server::start();
    let c = client();
    let publish = |subject: &str| c.post(server.url(&format!("/api/pub/{subject}")));
    let (_, first) = send(
        publish("mjwork.tasks")
            .header("Nats-Msg-Id", "t-1")
            .header("Hdr-Origin", "cli")
            .body("a"),
    )
    .await;
    let (_, dup) = send(
        publish("mjwork.tasks")
            .header("Nats-Msg-Id", "t-1")
            .body("a"),
    )
    .await;
    assert_eq!(dup["seq"], first["seq"]);
    assert_eq!(dup["duplicate"], true);
    let (_, msg) = send(c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages/1"))).await;
    assert_eq!(
        msg["headers"],
        json!({"Nats-Msg-Id": "t-1", "origin": "cli"})
    );

    let wrong = send(
        publish("mjwork.tasks")
            .header("Nats-Expected-Last-Subject-Sequence", "7")
            .body("b"),
    )
    .await;
    assert_error(&wrong, 409, "subject's last sequence is 1");
    let (status, _) = send(
        publish("mjwork.tasks")
            .header("Nats-Expected-Last-Subject-Sequence", "1")
            .body("b"),
    )
    .await;
    assert_eq!(status, 200);
    let wrong = send(
        publish("mjwork.tasks")
            .header("Nats-Expected-Last-Sequence", "1")
            .body("c"),
    )
    .await;
    assert_error(&wrong, 409, "stream's last sequence is 2");
    let wrong = send(
        publish("mjwork.tasks")
            .header("Nats-Expected-Stream", "NOPE")
            .body("c"),
    )
    .await;
    assert_error(&wrong, 409, "expected stream NOPE");
    let bad = send(
        publish("mjwork.tasks")
            .header("Nats-Expected-Last-Sequence", "soon")
            .body("c"),
    )
    .await;
    assert_error(&bad, 400, "Nats-Expected-Last-Sequence");
}

#[tokio::test]
async fn ranges_times_filters_and_last_per_subject() {
    let server = Server::start();
    let c = client();
    for i in 1..=6 {
        let subject = if i % 2 == 0 {
            "mjwork.heartbeat.bob"
        } else {
            "mjwork.heartbeat.alice"
        };
        send(
            c.post(server.url(&format!("/api/pub/{subject}")))
                .body(format!("{{\"n\": {i}}}")),
        )
        .await;
    }
    let list = |q: &str| c.get(server.url(&format!("/api/streams/MJ_ONLINE_WORK/messages?{q}")));
    let (_, body) = send(list("start_seq=3&limit=2")).await;
    assert_eq!(seqs(&body), [3, 4]);
    let (_, body) = send(list("subject=mjwork.heartbeat.bob")).await;
    assert_eq!(seqs(&body), [2, 4, 6]);
    let (_, body) = send(list("subject=mjwork.heartbeat.*&start_seq=5")).await;
    assert_eq!(seqs(&body), [5, 6]);
    let (_, body) = send(list("last_per_subject=true&subject=mjwork.heartbeat.>")).await;
    assert_eq!(seqs(&body), [5, 6]);
    let (_, four) = send(c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages/4"))).await;
    let t = four["time"].as_str().unwrap().to_string();
    let (_, body) = send(list(&format!("start_time={t}&limit=1"))).await;
    assert_eq!(seqs(&body), [4]);
    let (_, last) =
        send(c.get(server.url("/api/streams/MJ_ONLINE_WORK/last/mjwork.heartbeat.alice"))).await;
    assert_eq!(last["data"]["n"], 5);
    assert_error(
        &send(c.get(server.url("/api/streams/MJ_ONLINE_WORK/last/mjwork.nothing"))).await,
        404,
        "no message",
    );

    let (status, _) = send(c.delete(server.url("/api/streams/MJ_ONLINE_WORK/messages/4"))).await;
    assert_eq!(status, 200);
    assert_error(
        &send(c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages/4"))).await,
        404,
        "message 4 not found",
    );
    let (_, body) = send(list("subject=mjwork.heartbeat.bob")).await;
    assert_eq!(seqs(&body), [2, 6]);
}

#[tokio::test]
async fn discard_new_names_the_limit() {
    let server = Server::start();
    let c = client();
    let config = json!({"name": "FULL", "subjects": ["full"], "max_msgs": 1, "discard": "new"});
    assert_eq!(
        send(c.post(server.url("/api/streams")).json(&config))
            .await
            .0,
        201
    );
    assert_eq!(
        send(c.post(server.url("/api/pub/full")).body("1")).await.0,
        200
    );
    assert_error(
        &send(c.post(server.url("/api/pub/full")).body("2")).await,
        507,
        "max_msgs = 1",
    );
}
