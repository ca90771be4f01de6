//! Streams over HTTP: create, idempotency, conflicts, update, delete, purge,
//! and the default stream.

mod common;

use common::{assert_error, client, send, Server};
use serde_json::json;

#[tokio::test]
async fn default_stream_exists_on_start() {
    let server = Server::start();
    let (status, body) = send(client().get(server.url("/api/streams/MJ_ONLINE_WORK"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"]["subjects"], json!(["mjwork.>"]));
    assert_eq!(body["config"]["max_age"], json!("7d"));
    let (_, health) = send(client().get(server.url("/health"))).await;
    assert_eq!(health["status"], "healthy");
    assert_eq!(
        health["streams"], 2,
        "the history stream and the coordination state stream"
    );
    let (status, state) = send(client().get(server.url("/api/streams/HIVELOG_STATE"))).await;
    assert_eq!(status, 200);
    assert_eq!(state["config"]["subjects"], json!(["hivelog.state.>"]));
    assert_eq!(state["config"]["max_msgs_per_subject"], 1000);
}

#[tokio::test]
async fn create_is_idempotent_and_conflicts_are_409() {
    let server = Server::start();
    let c = client();
    let config =
        json!({"name": "ORDERS", "subjects": ["orders.>"], "max_msgs": 100, "max_age": 3600});
    let (status, body) = send(c.post(server.url("/api/streams")).json(&config)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["config"]["max_age"], "1h");
    assert_eq!(body["state"]["messages"], 0);
    let (status, _) = send(c.post(server.url("/api/streams")).json(&config)).await;
    assert_eq!(status, 200, "identical config is not an error");
    let different = json!({"name": "ORDERS", "subjects": ["orders.>"], "max_msgs": 5});
    assert_error(
        &send(c.post(server.url("/api/streams")).json(&different)).await,
        409,
        "different configuration",
    );
    let overlapping = json!({"name": "OTHER", "subjects": ["orders.eu"]});
    assert_error(
        &send(c.post(server.url("/api/streams")).json(&overlapping)).await,
        409,
        "overlap",
    );
    let (_, list) = send(c.get(server.url("/api/streams"))).await;
    let names: Vec<&str> = list["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["config"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["HIVELOG_STATE", "MJ_ONLINE_WORK", "ORDERS"]);

    // A max_age shorter than the default duplicate window shortens the
    // window, as nats-server does; only an explicit longer one is refused.
    let short = json!({"name": "SHORT", "subjects": ["short.>"], "max_age": 2});
    let (status, body) = send(c.post(server.url("/api/streams")).json(&short)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["config"]["duplicate_window"], "2s");
    let explicit =
        json!({"name": "LONG", "subjects": ["long.>"], "max_age": 2, "duplicate_window": "2m"});
    assert_error(
        &send(c.post(server.url("/api/streams")).json(&explicit)).await,
        400,
        "duplicate_window may not be longer than max_age",
    );
}

#[tokio::test]
async fn update_enforces_new_limits_and_delete_removes() {
    let server = Server::start();
    let c = client();
    send(
        c.post(server.url("/api/streams"))
            .json(&json!({"name": "U", "subjects": ["u"]})),
    )
    .await;
    for i in 0..10 {
        let (status, _) = send(c.post(server.url("/api/pub/u")).body(format!("{i}"))).await;
        assert_eq!(status, 200);
    }
    let (status, body) = send(
        c.put(server.url("/api/streams/U"))
            .json(&json!({"subjects": ["u"], "max_msgs": 4})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"]["messages"], 4);
    assert_eq!(body["state"]["first_seq"], 7);
    assert_error(
        &send(
            c.put(server.url("/api/streams/U"))
                .json(&json!({"name": "V", "subjects": ["u"]})),
        )
        .await,
        400,
        "cannot be renamed",
    );
    let (status, _) = send(c.delete(server.url("/api/streams/U"))).await;
    assert_eq!(status, 200);
    assert_error(
        &send(c.get(server.url("/api/streams/U"))).await,
        404,
        "not found",
    );
    assert_error(
        &send(c.delete(server.url("/api/streams/U"))).await,
        404,
        "not found",
    );
}

#[tokio::test]
async fn purge_by_subject_with_keep() {
    let server = Server::start();
    let c = client();
    send(
        c.post(server.url("/api/streams"))
            .json(&json!({"name": "P", "subjects": ["p.*"]})),
    )
    .await;
    for i in 0..6 {
        let subject = if i % 2 == 0 { "p.a" } else { "p.b" };
        send(
            c.post(server.url(&format!("/api/pub/{subject}")))
                .body(format!("{i}")),
        )
        .await;
    }
    let (status, body) = send(
        c.post(server.url("/api/streams/P/purge"))
            .json(&json!({"subject": "p.a", "keep": 1})),
    )
    .await;
    assert_eq!((status, body["purged"].clone()), (200, json!(2)));
    let (_, body) = send(c.post(server.url("/api/streams/P/purge"))).await;
    assert_eq!(body["purged"], 4, "an empty body purges everything");
    let (_, info) = send(c.get(server.url("/api/streams/P"))).await;
    assert_eq!(info["state"]["messages"], 0);
    assert_eq!(info["state"]["first_seq"], 7);
}
