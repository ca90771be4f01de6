//! Slow consumers are measured in bytes, as in NATS: a subscriber that
//! stops reading is cut off once more than `--ws-max-pending-mb` waits for
//! it (told why), while one that pauses under that limit gets everything;
//! and a publisher that pipelines thousands of publishes and reads its
//! answers later is paced, never cut off for its own answers.

mod common;

use std::time::Duration;

use common::{client, send, Server, Ws};
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as Frame;

async fn subscribed(server: &Server, subject: &str) -> Ws {
    let mut ws = Ws::connect(server).await;
    ws.next_op("info").await;
    ws.send(json!({"op": "sub", "sid": "s", "subject": subject}))
        .await;
    ws.send(json!({"op": "ping"})).await;
    ws.next_op("pong").await;
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_is_cut_off_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--ws-max-pending-mb", "1"]);
    let mut slow = subscribed(&server, "big.x").await;
    let chunk = "x".repeat(100 * 1024);
    let c = client();
    // 40 MB for a subscriber allowed 1 MB (plus what the sockets hold).
    for _ in 0..400 {
        let (status, _) = send(c.post(server.url("/api/pub/big.x")).body(chunk.clone())).await;
        assert_eq!(status, 200);
    }
    // Reading now: what was queued, then the reason, then the close.
    let mut last = None;
    while let Some(frame) = slow.next_within(Duration::from_secs(10)).await {
        last = Some(frame);
    }
    let last = last.expect("some frames arrived");
    assert_eq!(last["op"], "err", "{last}");
    assert_eq!(last["detail"], "slow consumer");
    let (_, health) = send(c.get(server.url("/health"))).await;
    assert_eq!(health["status"], "healthy", "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_pauses_under_the_limit_gets_everything() {
    let server = Server::start();
    let mut paused = subscribed(&server, "many.x").await;
    let mut publisher = Ws::connect(&server).await;
    publisher.next_op("info").await;
    // 5,000 frames: far more than any frame-count queue would hold.
    for i in 0..5_000 {
        publisher
            .stream
            .feed(Frame::Text(
                json!({"op": "pub", "subject": "many.x", "text": format!("{i:0>200}")})
                    .to_string()
                    .into(),
            ))
            .await
            .unwrap();
    }
    publisher.stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    for i in 0..5_000 {
        let f = paused.next_op("msg").await;
        assert_eq!(f["text"], format!("{i:0>200}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_reading_its_answers_late_is_paced_not_cut() {
    let server = Server::start();
    let mut publisher = Ws::connect(&server).await;
    publisher.next_op("info").await;
    for i in 0..3_000 {
        publisher
            .stream
            .feed(Frame::Text(
                json!({"op": "pub", "id": i, "subject": "mjwork.load", "text": "x"})
                    .to_string()
                    .into(),
            ))
            .await
            .unwrap();
    }
    publisher.stream.flush().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..3_000 {
        let a = publisher.next_op("puback").await;
        assert_eq!(a["id"], i);
        assert!(a["seq"].as_u64().is_some());
    }
}
