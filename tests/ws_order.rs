//! One connection's publishes keep their order end to end, however far
//! they are pipelined (as NATS guarantees); durable subscriptions with
//! acks run past max_ack_pending without stalling; "deliver last" is the
//! newest message even among more than 10,000 subjects.

mod common;

use std::time::Duration;

use common::{client, send, Server, Ws};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as Frame;

async fn ready(server: &Server) -> Ws {
    let mut ws = Ws::connect(server).await;
    ws.next_op("info").await;
    ws
}

/// Sends every frame without waiting for any answer.
async fn pipeline(ws: &mut Ws, frames: impl IntoIterator<Item = Value>) {
    for f in frames {
        ws.stream
            .feed(Frame::Text(f.to_string().into()))
            .await
            .expect("feed");
    }
    ws.stream.flush().await.expect("flush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_publishes_are_stored_and_delivered_in_the_order_sent() {
    const N: usize = 3_000;
    let server = Server::start();
    let mut sub = ready(&server).await;
    sub.send(json!({"op": "sub", "sid": "s", "subject": "mjwork.order"}))
        .await;
    sub.send(json!({"op": "sub", "sid": "u", "subject": "plain.order"}))
        .await;
    // The subscriptions are in place once a ping comes back after them.
    sub.send(json!({"op": "ping"})).await;
    sub.next_op("pong").await;

    // The subscriber reads while the publisher pipelines: 6,000 frames are
    // more than its outbound queue holds, and a subscriber that stops
    // reading is (rightly) dropped as a slow consumer.
    let reader = tokio::spawn(async move {
        let (mut stored, mut plain) = (Vec::new(), Vec::new());
        while stored.len() < N || plain.len() < N {
            let f = sub.next_op("msg").await;
            let n: usize = f["text"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| f["data"].to_string())
                .parse()
                .unwrap();
            if f["sid"] == "s" {
                stored.push(n);
            } else {
                plain.push(n);
            }
        }
        (stored, plain)
    });

    let mut publisher = ready(&server).await;
    let frames = (0..N).flat_map(|i| {
        [
            json!({"op": "pub", "id": i, "subject": "mjwork.order", "text": i.to_string()}),
            json!({"op": "pub", "id": format!("u{i}"), "subject": "plain.order", "text": i.to_string()}),
        ]
    });
    pipeline(&mut publisher, frames).await;

    // Answers come back in the order sent, sequences in that order too.
    let mut stored_seqs = Vec::new();
    for i in 0..N {
        let a = publisher.next_op("puback").await;
        assert_eq!(a["id"], json!(i), "answers out of order");
        stored_seqs.push(a["seq"].as_u64().expect("stored"));
        let b = publisher.next_op("puback").await;
        assert_eq!(b["id"], json!(format!("u{i}")));
        assert_eq!(b["seq"], Value::Null, "no stream stores plain.*");
    }
    assert!(
        stored_seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "stored out of order"
    );
    let (stored, plain) = reader.await.expect("subscriber reader");
    let want: Vec<usize> = (0..N).collect();
    assert_eq!(
        stored, want,
        "a subscriber saw stored messages out of order"
    );
    assert_eq!(
        plain, want,
        "a subscriber saw live-only messages out of order"
    );
    // What the stream holds is in the order sent.
    let c = client();
    let (_, read) = send(
        c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages?subject=mjwork.order&limit=10000")),
    )
    .await;
    let bodies: Vec<usize> = read["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["data"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(bodies, want);
}

/// 3,000 messages through a durable subscription that acks each one, three
/// times max_ack_pending: every one arrives once, in order, none stuck
/// waiting for ack_wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_with_acks_runs_past_max_ack_pending() {
    let server = Server::start();
    let mut publisher = ready(&server).await;
    pipeline(
        &mut publisher,
        (0..3_000).map(|i| json!({"op": "pub", "id": i, "subject": "mjwork.work", "text": "x"})),
    )
    .await;
    for _ in 0..3_000 {
        publisher.next_op("puback").await;
    }
    let mut ws = ready(&server).await;
    ws.send(
        json!({"op": "sub", "sid": 1, "subject": "mjwork.work", "deliver": "all",
        "durable": "w", "ack": true}),
    )
    .await;
    let mut seqs = Vec::new();
    while seqs.len() < 3_000 {
        // Well under ack_wait (30 s) per message: a stall would show here.
        let f = tokio::time::timeout(Duration::from_secs(20), ws.next_op("msg"))
            .await
            .expect("delivery stalled");
        let seq = f["seq"].as_u64().unwrap();
        ws.send(json!({"op": "ack", "sid": 1, "seq": seq})).await;
        seqs.push(seq);
    }
    assert_eq!(seqs, (1..=3_000).collect::<Vec<u64>>());
}

/// More subjects than one read returns: `deliver: last` still starts at
/// the newest message of them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliver_last_is_the_newest_among_more_than_10k_subjects() {
    let server = Server::start();
    let c = client();
    let created = send(
        c.post(server.url("/api/streams"))
            .json(&json!({"name": "WIDE", "subjects": ["wide.>"]})),
    )
    .await;
    assert_eq!(created.0, 201, "{}", created.1);
    let mut publisher = ready(&server).await;
    let subjects: Vec<String> = (0..10_050)
        .map(|i| format!("wide.s{i}"))
        .chain(["wide.s0".to_string()])
        .collect();
    pipeline(
        &mut publisher,
        subjects
            .iter()
            .enumerate()
            .map(|(i, s)| json!({"op": "pub", "id": i, "subject": s, "text": i.to_string()})),
    )
    .await;
    for _ in 0..subjects.len() {
        publisher.next_op("puback").await;
    }
    let mut ws = ready(&server).await;
    ws.send(json!({"op": "sub", "sid": 1, "subject": "wide.>", "deliver": "last"}))
        .await;
    let f = ws.next_op("msg").await;
    assert_eq!(
        (f["seq"].as_u64(), f["subject"].as_str()),
        (Some(10_051), Some("wide.s0"))
    );
}
