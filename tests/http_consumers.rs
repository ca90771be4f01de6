//! Consumers over HTTP: create (durable, idempotent, ephemeral), fetch with
//! long poll, ack kinds, redelivery, info counters.

mod common;

use std::time::{Duration, Instant};

use common::{assert_error, client, send, seqs, Server};
use serde_json::{json, Value};

#[tokio::test]
async fn durable_pull_consumer_with_acks_and_redelivery() {
    let server = Server::start();
    let c = client();
    for i in 1..=3 {
        send(
            c.post(server.url("/api/pub/mjwork.tasks"))
                .body(format!("{i}")),
        )
        .await;
    }
    let base = "/api/streams/MJ_ONLINE_WORK/consumers";
    let config = json!({"durable_name": "workers", "filter_subject": "mjwork.tasks", "ack_wait": "300ms", "max_deliver": 2});
    let (status, info) = send(c.post(server.url(base)).json(&config)).await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["num_pending"], 3);
    assert_eq!(
        send(c.post(server.url(base)).json(&config)).await.0,
        200,
        "idempotent"
    );
    let changed = json!({"durable_name": "workers", "ack_wait": "1s"});
    assert_error(
        &send(c.post(server.url(base)).json(&changed)).await,
        409,
        "different configuration",
    );

    let next = |q: &str| c.post(server.url(&format!("{base}/workers/next?{q}")));
    let ack = |body: Value| {
        c.post(server.url(&format!("{base}/workers/ack")))
            .json(&body)
    };
    let (_, got) = send(next("batch=2")).await;
    assert_eq!(seqs(&got), [1, 2]);
    assert_eq!(got["messages"][0]["delivered"], 1);
    assert_eq!(send(ack(json!({"seq": 1}))).await.0, 200);
    assert_eq!(send(ack(json!({"seq": 2, "kind": "nak"}))).await.0, 200);
    let (_, got) = send(next("batch=5")).await;
    assert_eq!(seqs(&got), [2, 3], "the nak'd message comes back first");
    assert_eq!(got["messages"][0]["delivered"], 2);
    assert_eq!(send(ack(json!({"seq": 3, "kind": "term"}))).await.0, 200);
    assert_error(
        &send(ack(json!({"seq": 3}))).await,
        404,
        "not awaiting an ack",
    );
    // Message 2 has had its 2 deliveries: after ack_wait it is dropped, not redelivered.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, got) = send(next("batch=5")).await;
    assert_eq!(seqs(&got), Vec::<u64>::new());
    let (_, info) = send(c.get(server.url(&format!("{base}/workers")))).await;
    assert_eq!(info["num_ack_pending"], 0);
    // JetStream keeps its ack floor below a message that ran out of
    // deliveries unacked; the embedded log moves past it.
    let floor = if common::suite_on_nats() { 1 } else { 3 };
    assert_eq!(info["ack_floor"]["stream_seq"], floor);
    assert_eq!(info["delivered"]["stream_seq"], 3);
    assert_eq!(info["config"]["filter_subjects"], json!(["mjwork.tasks"]));
}

#[tokio::test]
async fn fetch_long_polls_and_wpi_extends() {
    let server = Server::start();
    let c = client();
    let base = server.url("/api/streams/MJ_ONLINE_WORK/consumers");
    send(
        c.post(&base)
            .json(&json!({"durable_name": "lp", "ack_wait": "400ms"})),
    )
    .await;
    let waiting = {
        let (c, url) = (c.clone(), format!("{base}/lp/next?batch=10&expires=10s"));
        tokio::spawn(async move { send(c.post(url)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    send(c.post(server.url("/api/pub/mjwork.errors")).body("boom")).await;
    let (status, got) = waiting.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(got["messages"][0]["text"], "boom");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "long poll answered when the message arrived"
    );

    // wpi restarts the ack timer: no redelivery at the original deadline.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        send(
            c.post(format!("{base}/lp/ack"))
                .json(&json!({"seq": 1, "kind": "wpi"}))
        )
        .await
        .0,
        200
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (_, got) = send(c.post(format!("{base}/lp/next?batch=1"))).await;
    assert_eq!(seqs(&got), Vec::<u64>::new(), "wpi extended the deadline");
    let (_, got) = send(c.post(format!("{base}/lp/next?batch=1&expires=2s"))).await;
    assert_eq!(
        (seqs(&got), got["messages"][0]["delivered"].clone()),
        (vec![1], json!(2))
    );

    let (_, got) = send(c.post(format!("{base}/lp/next?batch=1&expires=300ms"))).await;
    assert_eq!(
        seqs(&got),
        Vec::<u64>::new(),
        "an empty long poll returns an empty list"
    );
}

#[tokio::test]
async fn ephemeral_consumers_get_a_name_and_consumer_state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let c = client();
    for i in 1..=4 {
        send(
            c.post(server.url("/api/pub/mjwork.status"))
                .body(format!("{i}")),
        )
        .await;
    }
    let base = server.url("/api/streams/MJ_ONLINE_WORK/consumers");
    let (status, eph) = send(
        c.post(&base)
            .json(&json!({"deliver_policy": "last", "ack_policy": "none"})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(eph["durable"], false);
    let name = eph["name"].as_str().unwrap().to_string();
    let (_, got) = send(c.post(format!("{base}/{name}/next?batch=10"))).await;
    assert_eq!(seqs(&got), [4]);

    send(c.post(&base).json(&json!({"durable_name": "keep"}))).await;
    let (_, got) = send(c.post(format!("{base}/keep/next?batch=2"))).await;
    assert_eq!(seqs(&got), [1, 2]);
    send(c.post(format!("{base}/keep/ack")).json(&json!({"seq": 1}))).await;
    // Acks reach disk with the next flush; a clean stop flushes everything.
    let status = server.terminate();
    assert!(status.success(), "graceful stop exits 0, got {status:?}");

    let server = Server::start_in(dir.path(), &[]);
    let base = server.url("/api/streams/MJ_ONLINE_WORK/consumers");
    let (_, list) = send(c.get(&base)).await;
    let names: Vec<&str> = list["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    if common::suite_on_nats() {
        // In NATS an ephemeral consumer outlives a hivelog restart, until
        // its inactive_threshold.
        assert_eq!(names, [name.as_str(), "keep"]);
    } else {
        assert_eq!(
            names,
            ["keep"],
            "ephemeral consumers do not survive a restart"
        );
    }
    let (_, info) = send(c.get(format!("{base}/keep"))).await;
    assert_eq!(
        (info["num_ack_pending"].clone(), info["num_pending"].clone()),
        (json!(1), json!(2))
    );
    let (_, got) = send(c.post(format!("{base}/keep/next?batch=10"))).await;
    assert_eq!(seqs(&got), [3, 4]);
    assert_eq!(send(c.delete(format!("{base}/keep"))).await.0, 200);
    assert_error(
        &send(c.get(format!("{base}/keep"))).await,
        404,
        "consumer keep not found",
    );
}

/// Acks in one request: a list, or everything up to a sequence; and a
/// fetch that never waits.
#[tokio::test]
async fn batch_acks_ack_all_up_to_and_no_wait() {
    let server = Server::start();
    let c = client();
    for i in 1..=6 {
        send(
            c.post(server.url("/api/pub/mjwork.jobs"))
                .body(format!("{i}")),
        )
        .await;
    }
    let base = "/api/streams/MJ_ONLINE_WORK/consumers";
    let config = json!({"durable_name": "batch", "filter_subject": "mjwork.jobs"});
    assert_eq!(send(c.post(server.url(base)).json(&config)).await.0, 201);
    let next = |q: &str| c.post(server.url(&format!("{base}/batch/next?{q}")));
    let ack = |body: Value| c.post(server.url(&format!("{base}/batch/ack"))).json(&body);

    let (_, got) = send(next("batch=100")).await;
    assert_eq!(seqs(&got), [1, 2, 3, 4, 5, 6]);
    let (status, body) = send(ack(json!({"seqs": [1, 2, 99]}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["done"], json!([1, 2]));
    assert_eq!(body["not_pending"], json!([99]));
    let (status, body) = send(ack(json!({"up_to": 4}))).await;
    assert_eq!((status, body["acked"].clone()), (200, json!(2)));
    let (_, info) = send(c.get(server.url(&format!("{base}/batch")))).await;
    assert_eq!(info["ack_floor"]["stream_seq"], 4);
    assert_eq!(info["num_ack_pending"], 2);
    let (_, body) = send(ack(json!({"seqs": [5], "kind": "nak"}))).await;
    assert_eq!(body["done"], json!([5]));
    let (_, got) = send(next("batch=10")).await;
    assert_eq!(seqs(&got), [5]);

    // no_wait answers at once even with a long expires.
    let started = Instant::now();
    let (status, got) = send(next("batch=10&expires=30s&no_wait=true")).await;
    assert_eq!((status, seqs(&got).len()), (200, 0));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no_wait waited"
    );

    for (body, needle) in [
        (json!({}), "exactly one of seq, seqs"),
        (json!({"seq": 1, "seqs": [2]}), "exactly one of seq, seqs"),
        (json!({"up_to": 9, "kind": "nak"}), "up_to acknowledges"),
        (
            json!({"seqs": (0..10_001).collect::<Vec<u64>>()}),
            "at most 10000",
        ),
    ] {
        assert_error(&send(ack(body)).await, 400, needle);
    }
}
