//! Soak: the real binary under mixed load — publishes with message ids,
//! tasks added, claimed and completed, heartbeats, a durable consumer
//! fetching and acking, a WebSocket subscriber — is `kill -9`ed at a
//! random moment, 20 times over (HIVELOG_SOAK_CYCLES for longer runs).
//! After every restart: every acknowledged publish is at its sequence with
//! its payload, the stream has no gap and no duplicate, no task was ever
//! granted twice with one token and every completion stands, the consumer
//! resumes at its ack floor (nothing acked comes back, nothing unacked is
//! skipped), and the server was ready quickly (the median restart must
//! take under a second).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{client, send, Server};
use futures_util::StreamExt;
use serde_json::{json, Value};

#[derive(Default)]
struct Seen {
    /// seq → payload of every acknowledged publish.
    published: Mutex<BTreeMap<u64, String>>,
    /// Tasks whose creation was answered.
    created: Mutex<HashSet<String>>,
    /// (task, fencing token) of every answered claim.
    grants: Mutex<Vec<(String, u64)>>,
    completed: Mutex<HashSet<String>>,
    /// The highest sequence the consumer was handed.
    fetched: AtomicU64,
}

fn pick(max: u64) -> u64 {
    // Good enough for spreading kill moments; no extra dependency.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    nanos % max
}

async fn load(base: String, cycle: usize, seen: Arc<Seen>, stop: Arc<AtomicBool>) {
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut jobs = Vec::new();
    // Publishers.
    for p in 0..3 {
        let (c, base, seen, stop) = (c.clone(), base.clone(), seen.clone(), stop.clone());
        jobs.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let payload = format!("c{cycle}-p{p}-{i}");
                let resp = c
                    .post(format!("{base}/api/pub/soak.p{p}"))
                    .header("Nats-Msg-Id", &payload)
                    .body(payload.clone())
                    .send()
                    .await;
                let Ok(resp) = resp else { return };
                if let Ok(v) = resp.json::<Value>().await {
                    if let Some(seq) = v["seq"].as_u64() {
                        seen.published.lock().unwrap().insert(seq, payload);
                    }
                }
                i += 1;
            }
        }));
    }
    // A planner and two workers.
    {
        let (c, base, seen, stop) = (c.clone(), base.clone(), seen.clone(), stop.clone());
        jobs.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("c{cycle}-t{i}");
                let ok = c
                    .post(format!("{base}/api/v2/tasks"))
                    .json(&json!({"task_id": id, "title": "soak"}))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    seen.created.lock().unwrap().insert(id);
                }
                i += 1;
            }
        }));
    }
    for w in 0..2 {
        let (c, base, seen, stop) = (c.clone(), base.clone(), seen.clone(), stop.clone());
        jobs.push(tokio::spawn(async move {
            let me = format!("worker-{w}");
            while !stop.load(Ordering::Relaxed) {
                let _ = c
                    .post(format!("{base}/api/agents/heartbeat"))
                    .json(&json!({"agent_id": me, "status": "busy"}))
                    .send()
                    .await;
                let Ok(resp) = c
                    .post(format!("{base}/api/tasks/claim-next"))
                    .json(&json!({"agent_id": me}))
                    .send()
                    .await
                else {
                    return;
                };
                if resp.status() != 200 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                let Ok(v) = resp.json::<Value>().await else {
                    return;
                };
                let id = v["task_id"].as_str().unwrap_or_default().to_string();
                let token = v["task"]["fencing_token"].as_u64().unwrap_or_default();
                seen.grants.lock().unwrap().push((id.clone(), token));
                let done = c
                    .post(format!("{base}/api/v2/tasks/{id}/complete"))
                    .json(&json!({"agent_id": me, "fencing_token": token, "result": {"by": me}}))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if done {
                    seen.completed.lock().unwrap().insert(id);
                }
            }
        }));
    }
    // A durable consumer that acks what it gets.
    {
        let (c, base, seen, stop) = (c.clone(), base.clone(), seen.clone(), stop.clone());
        jobs.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(resp) = c
                    .post(format!(
                        "{base}/api/streams/SOAK/consumers/reader/next?batch=20&no_wait=true"
                    ))
                    .send()
                    .await
                else {
                    return;
                };
                let Ok(v) = resp.json::<Value>().await else {
                    return;
                };
                let seqs: Vec<u64> = v["messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["seq"].as_u64())
                    .collect();
                if seqs.is_empty() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                seen.fetched
                    .fetch_max(*seqs.iter().max().unwrap_or(&0), Ordering::Relaxed);
                let _ = c
                    .post(format!("{base}/api/streams/SOAK/consumers/reader/ack"))
                    .json(&json!({ "seqs": seqs }))
                    .send()
                    .await;
            }
        }));
    }
    // A live WebSocket subscriber, cut off by the kill like any client.
    {
        let (base, stop) = (base.clone(), stop.clone());
        jobs.push(tokio::spawn(async move {
            let url = base.replacen("http://", "ws://", 1) + "/ws";
            let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await else {
                return;
            };
            use futures_util::SinkExt;
            let sub = json!({"op": "sub", "sid": "s", "subject": "soak.>"}).to_string();
            let _ = ws
                .send(tokio_tungstenite::tungstenite::Message::Text(sub.into()))
                .await;
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(100), ws.next()).await {
                    Ok(Some(Ok(_))) | Err(_) => {}
                    _ => return,
                }
            }
        }));
    }
    for j in jobs {
        let _ = j.await;
    }
}

async fn check(server: &Server, seen: &Seen, cycle: usize) {
    let c = client();
    // Every acknowledged publish, at its sequence, with its payload.
    let published = seen.published.lock().unwrap().clone();
    let (_, info) = send(c.get(server.url("/api/streams/SOAK"))).await;
    let last = info["state"]["last_seq"].as_u64().unwrap();
    let first = info["state"]["first_seq"].as_u64().unwrap();
    let mut stored: HashMap<u64, String> = HashMap::new();
    let mut next = first;
    while next <= last {
        let (_, page) = send(c.get(server.url(&format!(
            "/api/streams/SOAK/messages?start_seq={next}&limit=10000"
        ))))
        .await;
        let msgs = page["messages"].as_array().unwrap().clone();
        if msgs.is_empty() {
            break;
        }
        for m in &msgs {
            let seq = m["seq"].as_u64().unwrap();
            let data = m["text"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| m["data"].to_string());
            stored.insert(seq, data);
            next = seq + 1;
        }
    }
    for (seq, payload) in &published {
        assert_eq!(
            stored.get(seq),
            Some(payload),
            "cycle {cycle}: acknowledged publish #{seq} lost"
        );
    }
    // No gap, no duplicate.
    assert_eq!(
        stored.len() as u64,
        last - first + 1,
        "cycle {cycle}: gap in the stream"
    );
    let distinct: HashSet<&String> = stored.values().collect();
    assert_eq!(
        distinct.len(),
        stored.len(),
        "cycle {cycle}: a message id was stored twice"
    );
    // Tasks: created ones exist, completions stand, no grant repeated.
    let (_, all) = send(c.get(server.url("/api/tasks"))).await;
    let by_id: HashMap<String, Value> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["task_id"].as_str().unwrap().to_string(), t.clone()))
        .collect();
    for id in seen.created.lock().unwrap().iter() {
        assert!(
            by_id.contains_key(id),
            "cycle {cycle}: created task {id} lost"
        );
    }
    for id in seen.completed.lock().unwrap().iter() {
        assert_eq!(
            by_id[id]["status"], "completed",
            "cycle {cycle}: completion of {id} lost"
        );
    }
    let grants = seen.grants.lock().unwrap().clone();
    let unique: HashSet<&(String, u64)> = grants.iter().collect();
    assert_eq!(
        unique.len(),
        grants.len(),
        "cycle {cycle}: one grant given twice"
    );
    // The consumer resumes at its ack floor: its floor is never past what
    // it was given, and nothing at or below the floor comes again.
    let (_, cons) = send(c.get(server.url("/api/streams/SOAK/consumers/reader"))).await;
    let floor = cons["ack_floor"]["stream_seq"].as_u64().unwrap();
    let fetched = seen.fetched.load(Ordering::Relaxed);
    assert!(
        floor <= fetched,
        "cycle {cycle}: ack floor {floor} past the last delivered #{fetched}"
    );
    assert!(floor <= last, "cycle {cycle}");
    let (_, next_msgs) =
        send(c.post(server.url("/api/streams/SOAK/consumers/reader/next?batch=100&no_wait=true")))
            .await;
    for m in next_msgs["messages"].as_array().into_iter().flatten() {
        let seq = m["seq"].as_u64().unwrap();
        assert!(
            seq > floor,
            "cycle {cycle}: #{seq} delivered again at or below the ack floor {floor}"
        );
        seen.fetched.fetch_max(seq, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_mixed_load_loses_nothing_acknowledged() {
    let cycles: usize = std::env::var("HIVELOG_SOAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--agent-dead-after",
        "2s",
        "--agent-stale-after",
        "1s",
        "--retry-backoff",
        "100ms",
    ];
    let mut server = Server::start_in(dir.path(), &args);
    send(
        client()
            .post(server.url("/api/streams"))
            .json(&json!({"name": "SOAK", "subjects": ["soak.>"], "duplicate_window": "1h"})),
    )
    .await;
    let (status, _) = send(
        client()
            .post(server.url("/api/streams/SOAK/consumers"))
            .json(&json!({"durable_name": "reader", "ack_wait": "2s"})),
    )
    .await;
    assert!(status < 300);
    let seen = Arc::new(Seen::default());
    let mut starts = Vec::new();
    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let driver = tokio::spawn(load(server.base.clone(), cycle, seen.clone(), stop.clone()));
        tokio::time::sleep(Duration::from_millis(150 + pick(400))).await;
        server.kill();
        stop.store(true, Ordering::Relaxed);
        let _ = tokio::time::timeout(Duration::from_secs(20), driver).await;
        let t = Instant::now();
        server = Server::start_in(dir.path(), &args);
        starts.push(t.elapsed());
        check(&server, &seen, cycle).await;
    }
    starts.sort();
    let median = starts[starts.len() / 2];
    let published = seen.published.lock().unwrap().len();
    let grants = seen.grants.lock().unwrap().len();
    eprintln!(
        "{cycles} kill -9 cycles: {published} acknowledged publishes, {grants} grants, {} completions; restart to ready: median {median:?}, max {:?}",
        seen.completed.lock().unwrap().len(),
        starts.last().unwrap()
    );
    assert!(
        published > 100 && grants > 20,
        "the load was too light to mean anything"
    );
    assert!(median < Duration::from_secs(1), "median restart {median:?}");
}
