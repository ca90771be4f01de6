//! Every typed answer the CLI reads back holds all of the server's JSON:
//! each route's answer, read into its type (`hivelog::ops::…`) and written
//! again, is exactly what the server sent. A field added to an answer but
//! not to its type (or renamed in one place only) fails here, before the
//! CLI silently drops or misreads it.

mod common;

use common::{client, send, Server, Ws};
use hivelog::api::ws::protocol::ServerFrame;
use hivelog::coord::slots::Slot;
use hivelog::coord::task::Task;
use hivelog::log::PubAck;
use hivelog::ops::{
    agents, consumers, health, messages, reservations, slots, streams, tasks, work,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// `raw` read into `T` and written back is `raw`.
#[track_caller]
fn holds<T: Serialize + DeserializeOwned>(what: &str, raw: &Value) {
    let typed: T = serde_json::from_value(raw.clone()).or_panic(what, raw);
    let again = serde_json::to_value(&typed).expect("serializes");
    assert_eq!(&again, raw, "{what}: the type lost or changed a field");
}

trait OrPanic<T> {
    fn or_panic(self, what: &str, raw: &Value) -> T;
}

impl<T> OrPanic<T> for Result<T, serde_json::Error> {
    #[track_caller]
    fn or_panic(self, what: &str, raw: &Value) -> T {
        self.unwrap_or_else(|e| panic!("{what}: does not read into its type ({e}): {raw}"))
    }
}

struct Api {
    http: reqwest::Client,
    server: Server,
}

impl Api {
    /// The answer to one call, which must succeed.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = self.server.url(path);
        let req = match method {
            "GET" => self.http.get(url),
            "PUT" => self.http.put(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url),
        };
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        let (status, answer) = send(req).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        answer
    }

    async fn publish(&self, subject: &str, payload: &'static [u8]) -> Value {
        let req = self
            .http
            .post(self.server.url(&format!("/api/pub/{subject}")))
            .body(payload);
        send(req).await.1
    }
}

#[tokio::test]
async fn every_answer_the_cli_reads_holds_the_whole_answer() {
    let api = Api {
        http: client(),
        server: Server::start(),
    };

    // Streams, messages and consumers.
    holds::<streams::Stream>(
        "stream create",
        &api.call(
            "POST",
            "/api/streams",
            Some(json!({"name": "S", "subjects": ["s.>"], "max_age": "1h", "description": "d"})),
        )
        .await,
    );
    holds::<PubAck>("publish", &api.publish("s.a", br#"{"x":1}"#).await);
    holds::<PubAck>("publish text", &api.publish("s.b", b"hello").await);
    holds::<PubAck>("publish binary", &api.publish("s.c", b"\xff\x00").await);
    holds::<PubAck>("publish to no stream", &api.publish("plain.x", b"hi").await);
    holds::<streams::Streams>("stream ls", &api.call("GET", "/api/streams", None).await);
    holds::<streams::Stream>(
        "stream info",
        &api.call("GET", "/api/streams/S", None).await,
    );
    let read = api
        .call("GET", "/api/streams/S/messages?start_seq=1", None)
        .await;
    assert_eq!(read["messages"].as_array().map(Vec::len), Some(3), "{read}");
    assert!(read["messages"][2]["data_b64"].is_string(), "{read}");
    holds::<messages::StreamMessages>("stream read", &read);
    holds::<messages::Shown>(
        "one message",
        &api.call("GET", "/api/streams/S/messages/2", None).await,
    );
    holds::<messages::Shown>(
        "last of a subject",
        &api.call("GET", "/api/streams/S/last/s.a", None).await,
    );
    holds::<consumers::Consumer>(
        "consumer create",
        &api.call(
            "POST",
            "/api/streams/S/consumers",
            Some(json!({"durable_name": "d", "max_deliver": 3})),
        )
        .await,
    );
    let fetched = api
        .call("POST", "/api/streams/S/consumers/d/next?batch=3", None)
        .await;
    assert_eq!(fetched["messages"][0]["delivered"], 1, "{fetched}");
    holds::<consumers::Fetched>("fetch", &fetched);
    for body in [
        json!({"seq": 1}),
        json!({"seqs": [2, 9]}),
        json!({"up_to": 3}),
    ] {
        holds::<consumers::Acked>(
            "ack",
            &api.call("POST", "/api/streams/S/consumers/d/ack", Some(body))
                .await,
        );
    }
    holds::<consumers::Consumers>(
        "consumer ls",
        &api.call("GET", "/api/streams/S/consumers", None).await,
    );
    holds::<consumers::Consumer>(
        "consumer info",
        &api.call("GET", "/api/streams/S/consumers/d", None).await,
    );
    holds::<messages::MessageRemoved>(
        "message delete",
        &api.call("DELETE", "/api/streams/S/messages/3", None).await,
    );
    holds::<streams::Purged>(
        "purge",
        &api.call(
            "POST",
            "/api/streams/S/purge",
            Some(json!({"subject": "s.a"})),
        )
        .await,
    );
    holds::<consumers::ConsumerRemoved>(
        "consumer delete",
        &api.call("DELETE", "/api/streams/S/consumers/d", None).await,
    );

    // Agents, files, slots, pause.
    holds::<agents::Registered>(
        "register",
        &api.call(
            "POST",
            "/api/agents/register",
            Some(json!({"agent_id": "al", "capabilities": ["x"], "team": "blue"})),
        )
        .await,
    );
    holds::<agents::Beat>(
        "heartbeat",
        &api.call("POST", "/api/agents/heartbeat", Some(json!({"agent_id": "al", "status": "busy", "needs_approval": true, "approval_message": "ok?"}))).await,
    );
    holds::<agents::AgentList>(
        "agents",
        &api.call("GET", "/api/v2/agents?include_stale=true", None)
            .await,
    );
    holds::<work::Approved>(
        "approval",
        &api.call(
            "POST",
            "/api/v2/agents/al/approval",
            Some(json!({"approved": true, "by": "me"})),
        )
        .await,
    );
    holds::<reservations::Reserved>(
        "reserve",
        &api.call(
            "POST",
            "/api/v2/reservations",
            Some(json!({"agent_id": "al", "globs": ["src/**"], "reason": "r"})),
        )
        .await,
    );
    holds::<reservations::Checked>(
        "check",
        &api.call(
            "POST",
            "/api/v2/reservations/check",
            Some(json!({"agent_id": "bo", "paths": ["src/a.rs", "x"]})),
        )
        .await,
    );
    api.call(
        "POST",
        "/api/v2/tasks",
        Some(json!({"task_id": "w", "title": "W", "files": ["src/a.rs"]})),
    )
    .await;
    let listing = api.call("GET", "/api/v2/reservations", None).await;
    assert_eq!(listing["waiting"][0]["task_id"], "w", "{listing}");
    holds::<reservations::Listing>("reservations", &listing);
    holds::<reservations::Released>(
        "unreserve",
        &api.call(
            "POST",
            "/api/v2/reservations/release",
            Some(json!({"agent_id": "al"})),
        )
        .await,
    );
    holds::<Slot>(
        "slot set",
        &api.call("PUT", "/api/v2/slots/build", Some(json!({"permits": 2})))
            .await,
    );
    holds::<slots::Acquired>(
        "slot acquire",
        &api.call(
            "POST",
            "/api/v2/slots/build/acquire",
            Some(json!({"agent_id": "al", "ttl": "1m"})),
        )
        .await,
    );
    holds::<slots::Slots>("slots", &api.call("GET", "/api/v2/slots", None).await);
    holds::<slots::SlotReleased>(
        "slot release",
        &api.call(
            "POST",
            "/api/v2/slots/build/release",
            Some(json!({"agent_id": "al"})),
        )
        .await,
    );

    // Tasks.
    holds::<tasks::TaskWritten>(
        "create",
        &api.call("POST", "/api/tasks", Some(json!({"task_id": "t1", "title": "T", "description": "d", "priority": "high", "ticket": 7}))).await,
    );
    let first = api
        .call(
            "POST",
            "/api/v2/tasks",
            Some(json!({"task_id": "t2", "title": "T2", "dedup_key": "k"})),
        )
        .await;
    assert!(first.get("deduplicated").is_none(), "{first}");
    let again = api
        .call(
            "POST",
            "/api/v2/tasks",
            Some(json!({"task_id": "t3", "title": "T3", "dedup_key": "k"})),
        )
        .await;
    assert_eq!(again["deduplicated"], true, "{again}");
    holds::<tasks::TaskWritten>("create v2, deduplicated", &again);
    holds::<tasks::TaskStep>(
        "claim",
        &api.call(
            "POST",
            "/api/tasks/t1/claim",
            Some(json!({"agent_id": "al"})),
        )
        .await,
    );
    holds::<tasks::TaskStep>(
        "progress",
        &api.call(
            "POST",
            "/api/tasks/t1/progress",
            Some(json!({"agent_id": "al", "note": "n", "percent": 5})),
        )
        .await,
    );
    holds::<tasks::TaskStep>(
        "complete",
        &api.call(
            "POST",
            "/api/tasks/t1/complete",
            Some(json!({"agent_id": "al", "result": {"a": 1}})),
        )
        .await,
    );
    holds::<tasks::TaskStep>(
        "claim-next",
        &api.call(
            "POST",
            "/api/tasks/claim-next",
            Some(json!({"agent_id": "al"})),
        )
        .await,
    );
    holds::<tasks::TaskStep>(
        "cancel",
        &api.call(
            "POST",
            "/api/tasks/t2/cancel",
            Some(json!({"agent_id": "al", "reason": "no"})),
        )
        .await,
    );
    holds::<tasks::TaskWritten>(
        "retry",
        &api.call("POST", "/api/v2/tasks/t2/retry", Some(json!({})))
            .await,
    );
    holds::<Task>("task", &api.call("GET", "/api/tasks/t1", None).await);
    holds::<tasks::TaskHistory>(
        "history",
        &api.call("GET", "/api/tasks/t1/history", None).await,
    );
    holds::<tasks::TaskEvents>(
        "events",
        &api.call("GET", "/api/v2/tasks/events?limit=3", None).await,
    );
    holds::<tasks::TaskPage>(
        "task page",
        &api.call("GET", "/api/v2/tasks?limit=1", None).await,
    );

    // Messages and the inbox.
    holds::<messages::Posted>(
        "post",
        &api.call("POST", "/api/v2/messages", Some(json!({"agent_id": "al", "channel": "coordination", "content": "hi @bo", "message_id": 5}))).await,
    );
    holds::<messages::MessageList>(
        "channel",
        &api.call("GET", "/api/v2/messages/coordination", None).await,
    );
    let inbox = api.call("GET", "/api/v2/agents/bo/inbox", None).await;
    assert_eq!(inbox["count"], 1, "{inbox}");
    holds::<work::InboxPage>("inbox", &inbox);
    holds::<work::InboxAcked>(
        "inbox ack",
        &api.call("POST", "/api/v2/agents/bo/inbox/ack", Some(json!({})))
            .await,
    );

    // The server.
    holds::<health::Health>("health", &api.call("GET", "/health", None).await);
    holds::<health::Ready>("ready", &api.call("GET", "/ready", None).await);
    holds::<agents::Removed>(
        "agent delete",
        &api.call("DELETE", "/api/agents/al", None).await,
    );
    holds::<streams::StreamRemoved>(
        "stream delete",
        &api.call("DELETE", "/api/streams/S", None).await,
    );
}

#[tokio::test]
async fn every_websocket_frame_holds_the_whole_frame() {
    let server = Server::start();
    let http = client();
    send(
        http.post(server.url("/api/streams"))
            .json(&json!({"name": "W", "subjects": ["w.>"]})),
    )
    .await;
    let mut ws = Ws::connect(&server).await;
    let info = ws.next_op("info").await;
    holds::<ServerFrame>("info", &info);
    ws.send(json!({"op": "pub", "id": 1, "subject": "w.a", "text": "hello"}))
        .await;
    holds::<ServerFrame>("puback", &ws.next_op("puback").await);
    ws.send(json!({"op": "pub", "id": "x", "subject": "w.b", "data_b64": "/wA="}))
        .await;
    holds::<ServerFrame>("puback, binary", &ws.next_op("puback").await);
    ws.send(json!({"op": "sub", "sid": 1, "subject": "w.>", "deliver": "all"}))
        .await;
    let live = ws.next_op("msg").await;
    assert_eq!(live["text"], "hello", "{live}");
    holds::<ServerFrame>("msg", &live);
    holds::<ServerFrame>("msg, binary", &ws.next_op("msg").await);
    ws.send(json!({"op": "sub", "sid": "d", "subject": "w.>", "deliver": "all", "durable": "dd", "ack": true})).await;
    let durable = ws.next_op("msg").await;
    assert_eq!(durable["delivered"], 1, "{durable}");
    holds::<ServerFrame>("durable msg", &durable);
    ws.send(json!({"op": "ping"})).await;
    holds::<ServerFrame>("pong", &ws.next_op("pong").await);
    ws.send(json!({"op": "pub", "id": 7, "subject": "bad subject"}))
        .await;
    let err = ws.next_op("err").await;
    assert_eq!(err["id"], 7, "{err}");
    holds::<ServerFrame>("err answering a pub", &err);
    ws.send(json!({"op": "ack", "sid": "nope", "seq": 1})).await;
    let err = ws.next_op("err").await;
    assert_eq!(err["sid"], "nope", "{err}");
    holds::<ServerFrame>("err on a subscription", &err);
}
