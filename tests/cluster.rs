//! Several hivelog instances on one NATS JetStream server
//! (`serve --backend nats://…`): the compatible routes answer the same on
//! each, what one instance stores the others serve, a claim race split
//! across instances never grants a task twice, and live messages reach
//! WebSocket subscribers on every instance.

mod common;

use common::nats;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{assert_error, client, send, Server, Ws};
use serde_json::{json, Value};

fn instance(nats: &nats::NatsServer) -> (Server, tempfile::TempDir) {
    instance_on(&nats.url, &[])
}

fn instance_on(url: &str, flags: &[&str]) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--backend", url];
    args.extend_from_slice(flags);
    let server = Server::start_in(dir.path(), &args);
    (server, dir)
}

async fn eventually(what: &str, check: impl AsyncFnMut() -> bool) {
    eventually_within(Duration::from_secs(10), what, check).await
}

async fn eventually_within(within: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Posts `tasks` tasks through `a`, then `agents` agents split between `a`
/// and `b` claim-next until none is left; asserts no task was granted
/// twice and every available one (`already` more were there) once, and
/// answers who got what.
async fn claim_race(
    a: &Server,
    b: &Server,
    prefix: &str,
    tasks: usize,
    agents_n: usize,
    already: usize,
) -> HashMap<String, Vec<String>> {
    let c = client();
    for i in 0..tasks {
        let (status, _) = send(c.post(a.url("/api/tasks")).json(
            &json!({"task_id": format!("{prefix}-{i}"), "title": "race", "description": ""}),
        ))
        .await;
        assert_eq!(status, 200);
    }
    eventually("b sees them all", async || {
        let (_, list) = send(c.get(b.url("/api/tasks/available?limit=1000"))).await;
        list.as_array().map_or(0, Vec::len) >= tasks + already
    })
    .await;
    let grants: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut agents = Vec::new();
    for n in 0..agents_n {
        let base = if n % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let grants = grants.clone();
        let me = format!("{prefix}-agent-{n}");
        agents.push(tokio::spawn(async move {
            let c = client();
            loop {
                let (status, body) = send(
                    c.post(format!("{base}/api/tasks/claim-next"))
                        .json(&json!({"agent_id": me})),
                )
                .await;
                match status {
                    200 => {
                        let id = body["task_id"].as_str().unwrap().to_string();
                        grants.lock().unwrap().push((id, me.clone()));
                    }
                    204 => return,
                    other => panic!("claim-next answered {other}: {body}"),
                }
            }
        }));
    }
    for agent in agents {
        agent.await.unwrap();
    }
    let grants = grants.lock().unwrap().clone();
    let mut by_task: HashMap<String, Vec<String>> = HashMap::new();
    for (task, agent) in &grants {
        by_task.entry(task.clone()).or_default().push(agent.clone());
    }
    for (task, holders) in &by_task {
        assert_eq!(holders.len(), 1, "{task} granted to {holders:?}");
    }
    assert_eq!(by_task.len(), tasks + already, "every task granted once");
    by_task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_share_tasks_and_never_grant_one_twice() {
    let Some(nats) = nats::start("instances_share_tasks_and_never_grant_one_twice") else {
        return;
    };
    let (a, _da) = instance(&nats);
    let (b, _db) = instance(&nats);
    let c = client();
    let (_, health) = send(c.get(b.url("/health"))).await;
    assert_eq!(health["backend"], "jetstream", "{health}");

    // Live messages stored through one instance reach subscribers of another.
    let mut ws = Ws::connect(&b).await;
    ws.next_op("info").await;
    ws.send(json!({"op": "sub", "sid": "t", "subject": "mjwork.tasks"}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (status, body) = send(
        c.post(a.url("/api/tasks"))
            .json(&json!({"task_id": "shared", "title": "posted on a", "description": "d"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let event = ws.next_op("msg").await;
    assert_eq!(event["subject"], "mjwork.tasks", "{event}");
    // With its stream and sequence, as the embedded log delivers it.
    assert_eq!(event["stream"], "MJ_ONLINE_WORK", "{event}");
    assert!(event["seq"].as_u64().is_some(), "{event}");
    // A subject no stream keeps reaches the other instance too.
    ws.send(json!({"op": "sub", "sid": "chat", "subject": "chat.>"}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, ack) = send(c.post(a.url("/api/pub/chat.room")).body("hello")).await;
    assert_eq!((status, &ack["stream"]), (200, &Value::Null), "{ack}");
    let chat = ws.next_op("msg").await;
    assert_eq!(
        (&chat["subject"], &chat["text"]),
        (&json!("chat.room"), &json!("hello")),
        "{chat}"
    );
    eventually("b serves the task a stored", async || {
        send(c.get(b.url("/api/tasks/shared"))).await.0 == 200
    })
    .await;

    // 40 tasks, 50 agents, half on each instance, claiming until none is left.
    let by_task = claim_race(&a, &b, "race", 40, 50, 1).await;
    // Which instance wins the race depends on scheduling: the one whose
    // writes land first sees its own claims at once and the other's only
    // after a conflict, so the split can be 41/0. That each instance grants
    // is checked without a race: a task stored through a is claimed on b.
    let (status, _) = send(
        c.post(a.url("/api/tasks"))
            .json(&json!({"task_id": "for-b", "title": "after the race", "description": ""})),
    )
    .await;
    assert_eq!(status, 200);
    eventually("b sees the task a stored after the race", async || {
        send(c.get(b.url("/api/tasks/for-b"))).await.0 == 200
    })
    .await;
    let (status, body) = send(
        c.post(b.url("/api/tasks/claim-next"))
            .json(&json!({"agent_id": "agent-on-b"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["task_id"], "for-b", "{body}");
    // And each instance agrees on who holds what.
    for (task, holders) in by_task.iter().take(5) {
        for server in [&a, &b] {
            let holder = holders[0].clone();
            eventually("both instances agree on the owner", async || {
                let (_, t): (u16, Value) =
                    send(c.get(server.url(&format!("/api/tasks/{task}")))).await;
                t["owner"] == holder.as_str()
            })
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_nats_answers_503_and_writes_come_back_with_it() {
    let Some(mut nats) = nats::start("losing_nats_answers_503_and_writes_come_back_with_it") else {
        return;
    };
    let (a, _da) = instance(&nats);
    let c = client();
    let post = |id: &str| {
        c.post(a.url("/api/tasks"))
            .json(&json!({"task_id": id, "title": "T", "description": ""}))
    };
    assert_eq!(send(post("before")).await.0, 200);
    assert_eq!(send(c.get(a.url("/ready"))).await.0, 200);
    nats.kill();
    let (status, body) = send(post("during")).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("JetStream"),
        "{body}"
    );
    eventually("not ready while NATS is gone", async || {
        let (status, body) = send(c.get(a.url("/ready"))).await;
        status == 503 && body["detail"].as_str().unwrap_or_default().contains("NATS")
    })
    .await;
    // Reads are served from this instance's view meanwhile.
    assert_eq!(send(c.get(a.url("/api/tasks/before"))).await.0, 200);
    nats.restart();
    eventually("writes work again", async || {
        send(post("after")).await.0 == 200
    })
    .await;
    let (_, t) = send(c.get(a.url("/api/tasks/after"))).await;
    assert_eq!(t["task_id"], "after");
    assert_eq!(send(c.get(a.url("/ready"))).await.0, 200);
}

/// Every task is stored with 3 replicas, so losing one node loses nothing
/// an instance acknowledged, and writes go on once the cluster has moved
/// the streams' leaders (meanwhile they may answer 503, never anything
/// else).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_node_dies_and_nothing_acknowledged_is_lost() {
    let Some(mut cluster) =
        nats::cluster("a_cluster_node_dies_and_nothing_acknowledged_is_lost", 3)
    else {
        return;
    };
    let (a, _da) = instance_on(&cluster.url, &[]);
    let (b, _db) = instance_on(&cluster.url, &[]);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for (name, base) in [("a", a.base.clone()), ("b", b.base.clone())] {
        let (acked, stop) = (acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let c = client();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = format!("{name}-{n}");
                n += 1;
                let (status, body) = send(c.post(format!("{base}/api/tasks")).json(
                    &json!({"task_id": id, "title": "written across a node loss", "description": ""}),
                ))
                .await;
                match status {
                    200 => acked.lock().unwrap().push(id),
                    503 => tokio::time::sleep(Duration::from_millis(50)).await,
                    other => panic!("{id}: answered {other}: {body}"),
                }
            }
        }));
    }
    let count = || acked.lock().unwrap().len();
    eventually("writes before the loss", async || count() >= 30).await;
    cluster.kill(0);
    let at_loss = count();
    eventually_within(
        Duration::from_secs(30),
        "writes go on without node 0",
        async || count() >= at_loss + 50,
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    // Both instances, and one started only now (its view comes from the
    // two surviving nodes alone), serve every acknowledged task.
    let (fresh, _df) = instance_on(&cluster.url, &[]);
    let c = client();
    for (name, server) in [("a", &a), ("b", &b), ("fresh", &fresh)] {
        let missing = async || {
            let (_, all) = send(c.get(server.url("/api/tasks?limit=100000"))).await;
            let ids: std::collections::HashSet<&str> = all
                .as_array()
                .map(|a| a.iter().filter_map(|t| t["task_id"].as_str()).collect())
                .unwrap_or_default();
            acked
                .iter()
                .filter(|id| !ids.contains(id.as_str()))
                .cloned()
                .collect::<Vec<_>>()
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let gone = missing().await;
            if gone.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name} lacks {} of {} acknowledged tasks, e.g. {:?}; its log:\n{}",
                gone.len(),
                acked.len(),
                &gone[..gone.len().min(5)],
                server.logs().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The reaper runs on one instance. When that instance is killed, another
/// takes its lease within the dead-agent threshold, and the dead agent's
/// task comes back exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reaping_instance_dies_and_another_returns_the_task_once() {
    let Some(cluster) = nats::cluster(
        "the_reaping_instance_dies_and_another_returns_the_task_once",
        3,
    ) else {
        return;
    };
    let flags = [
        "--agent-stale-after",
        "1s",
        "--agent-dead-after",
        "3s",
        "--reap-interval",
        "100ms",
    ];
    let c = client();
    let reaper = async |server: &Server| {
        let (_, health) = send(c.get(server.url("/health"))).await;
        health["reaper"].as_str().unwrap_or_default().to_string()
    };
    let (mut a, _da) = instance_on(&cluster.url, &flags);
    eventually("a reaps", async || reaper(&a).await == "this instance").await;
    let (b, _db) = instance_on(&cluster.url, &flags);
    eventually("b knows it does not", async || {
        reaper(&b).await == "another instance"
    })
    .await;

    send(
        c.post(a.url("/api/agents/register"))
            .json(&json!({"agent_id": "w"})),
    )
    .await;
    let (status, _) = send(
        c.post(a.url("/api/tasks"))
            .json(&json!({"task_id": "t", "title": "held by w", "description": ""})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = send(
        c.post(a.url("/api/tasks/t/claim"))
            .json(&json!({"agent_id": "w"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    a.kill();
    // w stops heartbeating too. Within the dead-agent threshold (3 s) plus
    // the lease's (half of it) b takes over and returns the task.
    eventually_within(
        Duration::from_secs(15),
        "b takes over and returns t",
        async || {
            let (_, t) = send(c.get(b.url("/api/tasks/t"))).await;
            t["status"] == "available"
        },
    )
    .await;
    assert_eq!(reaper(&b).await, "this instance");
    // Long enough for a second release, were one to happen.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, history) = send(c.get(b.url("/api/tasks/t/history"))).await;
    let statuses: Vec<&str> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["task"]["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(statuses, ["available", "claimed", "available"], "{history}");
    let (_, t) = send(c.get(b.url("/api/tasks/t"))).await;
    assert_eq!(t["attempts"], 1, "{t}");
}

/// The generic stream routes read and write the streams kept in NATS, so
/// what one instance publishes, every instance reads with the same
/// sequences, headers and refusals as on the embedded backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_stream_routes_use_jetstream_on_every_instance() {
    let Some(nats) = nats::start("generic_stream_routes_use_jetstream_on_every_instance") else {
        return;
    };
    let (a, _da) = instance(&nats);
    let (b, _db) = instance(&nats);
    let c = client();
    let publish = |server: &Server, subject: &str, body: &str| {
        c.post(server.url(&format!("/api/pub/{subject}")))
            .body(body.to_string())
    };
    let (status, ack) = send(
        publish(&a, "mjwork.notes", r#"{"n":1}"#)
            .header("Nats-Msg-Id", "note-1")
            .header("Hdr-Origin", "a"),
    )
    .await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["stream"], "MJ_ONLINE_WORK");
    assert_eq!(ack["duplicate"], false);
    let seq = ack["seq"].as_u64().unwrap();
    let (_, again) =
        send(publish(&b, "mjwork.notes", r#"{"n":1}"#).header("Nats-Msg-Id", "note-1")).await;
    assert_eq!(
        (again["seq"].as_u64(), &again["duplicate"]),
        (Some(seq), &json!(true)),
        "{again}"
    );

    let (status, listed) =
        send(c.get(b.url("/api/streams/MJ_ONLINE_WORK/messages?subject=mjwork.notes"))).await;
    assert_eq!(status, 200, "{listed}");
    let messages = listed["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{listed}");
    assert_eq!(messages[0]["seq"], seq);
    assert_eq!(messages[0]["data"], json!({"n": 1}));
    assert_eq!(messages[0]["headers"]["origin"], "a", "{listed}");
    let (_, one) = send(c.get(b.url(&format!("/api/streams/MJ_ONLINE_WORK/messages/{seq}")))).await;
    assert_eq!(one["subject"], "mjwork.notes", "{one}");
    let (_, last) = send(c.get(b.url("/api/streams/MJ_ONLINE_WORK/last/mjwork.notes"))).await;
    assert_eq!(last["seq"], seq, "{last}");
    let (_, streams) = send(c.get(b.url("/api/streams"))).await;
    let names: Vec<&str> = streams["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["config"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"MJ_ONLINE_WORK") && names.contains(&"HIVELOG_STATE"),
        "{streams}"
    );
    let (_, info) = send(c.get(a.url("/api/streams/MJ_ONLINE_WORK"))).await;
    assert_eq!(info["state"]["last_seq"], seq, "{info}");

    // Refusals as on the embedded backend, or naming what to do instead.
    assert_error(
        &send(publish(&a, "mjwork.notes", "x").header(
            "Nats-Expected-Last-Subject-Sequence",
            (seq + 100).to_string(),
        ))
        .await,
        409,
        &format!("the subject's last sequence is {seq}"),
    );
    assert_error(
        &send(publish(&a, "hivelog.state.task.x", "{}")).await,
        403,
        "HIVELOG_STATE",
    );
    assert_error(
        &send(
            c.put(b.url("/api/streams/MJ_ONLINE_WORK"))
                .json(&json!({"subjects": ["mjwork.>"]})),
        )
        .await,
        403,
        "NATS's own tools",
    );
    assert_error(
        &send(c.get(a.url("/api/streams/MJ_ONLINE_WORK/messages/999999"))).await,
        404,
        "999999",
    );

    // A consumer is JetStream's: fetched through one instance, acked
    // through the other.
    let consumers = "/api/streams/MJ_ONLINE_WORK/consumers";
    let (status, body) = send(c.post(a.url(consumers)).json(
        &json!({"durable_name": "notes", "filter_subject": "mjwork.notes", "ack_wait": "30s"}),
    ))
    .await;
    assert_eq!(status, 201, "{body}");
    let (_, got) = send(c.post(a.url(&format!("{consumers}/notes/next?batch=5")))).await;
    assert_eq!(common::seqs(&got), [seq], "{got}");
    let ack = json!({"seq": seq});
    let (status, body) = send(c.post(b.url(&format!("{consumers}/notes/ack"))).json(&ack)).await;
    assert_eq!(status, 200, "{body}");
    assert_error(
        &send(c.post(a.url(&format!("{consumers}/notes/ack"))).json(&ack)).await,
        404,
        "not awaiting an ack",
    );
    let (_, info) = send(c.get(b.url(&format!("{consumers}/notes")))).await;
    assert_eq!(info["ack_floor"]["stream_seq"], seq, "{info}");

    // A WebSocket publish on one instance is stored in NATS too.
    let mut ws = Ws::connect(&b).await;
    ws.next_op("info").await;
    ws.send(json!({"op": "pub", "id": 7, "subject": "mjwork.notes", "data": {"n": 2}}))
        .await;
    let puback = ws.next_op("puback").await;
    assert_eq!(puback["stream"], "MJ_ONLINE_WORK", "{puback}");
    let ws_seq = puback["seq"].as_u64().unwrap();
    let (_, last) = send(c.get(a.url("/api/streams/MJ_ONLINE_WORK/last/mjwork.notes"))).await;
    assert_eq!(last["seq"], ws_seq, "{last}");

    let (status, _) =
        send(c.delete(a.url(&format!("/api/streams/MJ_ONLINE_WORK/messages/{seq}")))).await;
    assert_eq!(status, 200);
    assert_eq!(
        send(c.get(b.url(&format!("/api/streams/MJ_ONLINE_WORK/messages/{seq}"))))
            .await
            .0,
        404
    );
}

/// On a replicated stream JetStream refuses a stale expected sequence with
/// another error code than a single server; a lost claim race there is
/// still just a lost race (another task is tried), never a 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claim_races_on_a_replicated_cluster_never_grant_twice() {
    let Some(cluster) = nats::cluster("claim_races_on_a_replicated_cluster_never_grant_twice", 3)
    else {
        return;
    };
    let (a, _da) = instance_on(&cluster.url, &[]);
    let (b, _db) = instance_on(&cluster.url, &[]);
    claim_race(&a, &b, "r3", 60, 20, 0).await;
}

/// A project named on one instance is listed and served by the other,
/// which follows its records (tasks, pause) like the default project's.
#[tokio::test]
async fn a_project_named_on_one_instance_is_served_by_the_other() {
    let Some(nats) = nats::start("a_project_named_on_one_instance_is_served_by_the_other") else {
        return;
    };
    let (a, _da) = instance(&nats);
    let (b, _db) = instance(&nats);
    let c = client();
    let (status, body) = send(
        c.post(a.url("/api/tasks"))
            .header("X-Hivelog-Project", "repo-x")
            .header("X-Hivelog-Repository", "github.com/me/x")
            .json(&json!({"task_id": "t", "title": "x's", "description": ""})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    eventually("b lists repo-x with its task", async || {
        let (_, list) = send(c.get(b.url("/api/v2/projects"))).await;
        list["projects"].as_array().is_some_and(|ps| {
            ps.iter().any(|p| {
                p["name"] == "repo-x"
                    && p["repository"] == "github.com/me/x"
                    && p["tasks"]["available"] == 1
            })
        })
    })
    .await;
    // b follows the project: a pause set on a stops grants on b.
    let (status, _) = send(
        c.post(a.url("/api/v2/pause"))
            .header("X-Hivelog-Project", "repo-x")
            .json(&json!({"paused": true})),
    )
    .await;
    assert_eq!(status, 200);
    eventually("b sees repo-x paused", async || {
        let (_, p) = send(
            c.get(b.url("/api/v2/pause"))
                .header("X-Hivelog-Project", "repo-x"),
        )
        .await;
        p["paused"] == true
    })
    .await;
    let (_, default_pause) = send(c.get(b.url("/api/v2/pause"))).await;
    assert_eq!(
        default_pause["paused"], false,
        "the default project is not paused"
    );
}
