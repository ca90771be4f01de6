//! hivelog's own state cannot be destroyed or poisoned through the public
//! API (HIVELOG_STATE is a system stream; MJ_ONLINE_WORK cannot be deleted
//! while coordination runs on it), and a damaged state record written by
//! the lowest-level means available never stops the server from starting.

mod common;

use common::{assert_error, client, send, Server, Ws};
use hivelog::log::{Log, LogOptions, PublishOptions};
use serde_json::json;

#[tokio::test]
async fn the_state_stream_can_be_read_but_not_written_purged_or_deleted() {
    let s = Server::start();
    let c = client();
    let task = json!({"task_id": "t1", "title": "one", "description": ""});
    assert_eq!(send(c.post(s.url("/api/tasks")).json(&task)).await.0, 200);

    let refused = [
        (
            c.post(s.url("/api/pub/hivelog.state.task.t2")).body("junk"),
            "published to",
        ),
        (
            c.post(s.url("/api/pub/hivelog.state.task.t1")).body("junk"),
            "published to",
        ),
        (c.post(s.url("/api/streams/HIVELOG_STATE/purge")), "purged"),
        (c.delete(s.url("/api/streams/HIVELOG_STATE")), "deleted"),
        (
            c.delete(s.url("/api/streams/HIVELOG_STATE/messages/1")),
            "messages deleted",
        ),
        (
            c.put(s.url("/api/streams/HIVELOG_STATE"))
                .json(&json!({"subjects": ["hivelog.state.>"], "max_msgs": 1})),
            "reconfigured",
        ),
        (
            c.delete(s.url("/api/streams/MJ_ONLINE_WORK")),
            "cannot be deleted",
        ),
        (
            c.put(s.url("/api/streams/MJ_ONLINE_WORK"))
                .json(&json!({"subjects": ["mjwork.tasks"]})),
            "must keep",
        ),
    ];
    for (req, needle) in refused {
        let got = send(req).await;
        assert_error(&got, 403, needle);
        assert!(
            got.1["detail"].as_str().unwrap().contains("belongs to"),
            "{}",
            got.1
        );
    }
    // Over the WebSocket too.
    let mut ws = Ws::connect(&s).await;
    ws.next_op("info").await;
    ws.send(json!({"op": "pub", "id": 1, "subject": "hivelog.state.task.t1", "text": "junk"}))
        .await;
    let err = ws.next_op("err").await;
    assert!(
        err["detail"].as_str().unwrap().contains("system stream"),
        "{err}"
    );

    // Reading stays open: messages, a consumer.
    let read = send(c.get(s.url("/api/streams/HIVELOG_STATE/messages"))).await;
    assert_eq!(read.0, 200, "{}", read.1);
    assert_eq!(read.1["messages"].as_array().unwrap().len(), 1);
    let consumer = send(
        c.post(s.url("/api/streams/HIVELOG_STATE/consumers"))
            .json(&json!({"durable_name": "audit"})),
    )
    .await;
    assert_eq!(consumer.0, 201, "{}", consumer.1);
    // The history stream stays public: old tools publish and purge there,
    // and its limits can change as long as its subjects stay.
    assert_eq!(
        send(c.post(s.url("/api/pub/mjwork.status")).body("ok"))
            .await
            .0,
        200
    );
    let changed = send(
        c.put(s.url("/api/streams/MJ_ONLINE_WORK"))
            .json(&json!({"subjects": ["mjwork.>"], "max_age": "1d"})),
    )
    .await;
    assert_eq!(changed.0, 200, "{}", changed.1);

    // Nothing above touched the task; claims work as before.
    let claim = send(
        c.post(s.url("/api/tasks/t1/claim"))
            .json(&json!({"agent_id": "alice"})),
    )
    .await;
    assert_eq!(claim.0, 200, "{}", claim.1);
    assert_eq!(
        send(c.get(s.url("/api/streams/HIVELOG_STATE"))).await.1["state"]["messages"],
        2
    );
}

#[tokio::test]
async fn a_damaged_state_record_is_skipped_and_the_last_good_version_stays() {
    let dir = tempfile::tempdir().unwrap();
    let c = client();
    {
        let mut s = Server::start_in(dir.path(), &[]);
        for id in ["t1", "t2"] {
            let task = json!({"task_id": id, "title": id, "description": ""});
            assert_eq!(send(c.post(s.url("/api/tasks")).json(&task)).await.0, 200);
        }
        let claim = json!({"agent_id": "alice"});
        send(c.post(s.url("/api/tasks/t2/claim")).json(&claim)).await;
        let beat = json!({"agent_id": "alice", "status": "busy", "current_task": "t2"});
        send(c.post(s.url("/api/agents/heartbeat")).json(&beat)).await;
        assert!(s.terminate().success());
    }
    // The lowest level there is short of editing sled's files: the log
    // itself, with no coordination layer to guard it.
    {
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        for subject in [
            "hivelog.state.task.t2",
            "hivelog.state.agent.alice",
            "hivelog.state.task.t3",
        ] {
            log.publish(subject, b"junk".to_vec(), PublishOptions::default())
                .await
                .unwrap();
        }
        log.close().unwrap();
    }

    let s = Server::start_in(dir.path(), &[]);
    let health = send(c.get(s.url("/health"))).await.1;
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["state_records_skipped"], 3);
    let metrics = c
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("hivelog_state_records_skipped_total 3"),
        "{metrics}"
    );
    let logs = s.logs().join("\n");
    assert!(
        logs.contains("hivelog.state.task.t2") && logs.contains("seq="),
        "the skip names subject and sequence: {logs}"
    );
    // The previous good versions stay in force.
    let t2 = send(c.get(s.url("/api/tasks/t2"))).await.1;
    assert_eq!(
        (t2["status"].as_str(), t2["owner"].as_str()),
        (Some("claimed"), Some("alice"))
    );
    let agents = send(c.get(s.url("/api/agents?include_stale=true"))).await.1;
    assert_eq!(agents[0]["agent_id"], "alice");
    assert_eq!(agents[0]["current_task"], "t2");
    assert_eq!(send(c.get(s.url("/api/tasks/t3"))).await.0, 404);
    // And work goes on over the damaged records.
    let done = send(
        c.post(s.url("/api/tasks/t2/complete"))
            .json(&json!({"agent_id": "alice", "success": true})),
    )
    .await;
    assert_eq!(done.0, 200, "{}", done.1);
    let t3 = json!({"task_id": "t3", "title": "three", "description": ""});
    let created = send(c.post(s.url("/api/tasks")).json(&t3)).await;
    assert_eq!(created.0, 200, "{}", created.1);
    let beat = json!({"agent_id": "alice", "status": "idle"});
    assert_eq!(
        send(c.post(s.url("/api/agents/heartbeat")).json(&beat))
            .await
            .0,
        200
    );
    drop(s);
    let s = Server::start_in(dir.path(), &[]);
    assert_eq!(
        send(c.get(s.url("/health"))).await.1["state_records_skipped"],
        0,
        "every damaged record was superseded"
    );
    assert_eq!(
        send(c.get(s.url("/api/tasks/t2"))).await.1["status"],
        "completed"
    );
    assert_eq!(
        send(c.get(s.url("/api/tasks/t3"))).await.1["title"],
        "three"
    );
}
