//! `GET /metrics` parses as Prometheus text, every metric is `hivelog_…`,
//! and the counters move when work happens.

mod common;

use std::collections::{HashMap, HashSet};

use common::{client, send, Server};
use serde_json::json;

/// Parses the exposition format strictly enough to catch a malformed line:
/// `# HELP`/`# TYPE` comments, then `name{labels} value` samples.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut typed = HashSet::new();
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap();
            let kind = parts.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name.to_string());
            continue;
        }
        if line.starts_with("# HELP hivelog_") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.starts_with("hivelog_")
                && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
                for pair in labels[1..labels.len() - 1].split(',') {
                    let (k, v) = pair
                        .split_once('=')
                        .unwrap_or_else(|| panic!("bad label: {line}"));
                    assert!(
                        k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                            && v.starts_with('"')
                            && v.ends_with('"'),
                        "{line}"
                    );
                }
            }
        }
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|b| typed.contains(*b))
            .unwrap_or(name);
        assert!(typed.contains(base), "{name} has no # TYPE line");
        samples.insert(series.to_string(), value);
    }
    samples
}

async fn scrape(server: &Server) -> HashMap<String, f64> {
    let resp = client().get(server.url("/metrics")).send().await.unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    parse(&resp.text().await.unwrap())
}

#[tokio::test]
async fn metrics_parse_and_move_with_work() {
    let server = Server::start();
    let before = scrape(&server).await;
    assert_eq!(before["hivelog_claims_won_total"], 0.0);
    assert_eq!(before["hivelog_grants_given_back_total"], 0.0);
    let c = client();
    for i in 0..3 {
        send(
            c.post(server.url("/api/pub/mjwork.status"))
                .body(format!("{i}")),
        )
        .await;
    }
    send(
        c.post(server.url("/api/agents/register"))
            .json(&json!({"agent_id": "alice"})),
    )
    .await;
    send(
        c.post(server.url("/api/tasks"))
            .json(&json!({"title": "t", "description": "", "task_id": "t"})),
    )
    .await;
    assert_eq!(
        send(
            c.post(server.url("/api/tasks/t/claim"))
                .json(&json!({"agent_id": "alice"}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        send(
            c.post(server.url("/api/tasks/t/claim"))
                .json(&json!({"agent_id": "bob"}))
        )
        .await
        .0,
        404
    );
    let after = scrape(&server).await;
    assert_eq!(after["hivelog_claims_won_total"], 1.0);
    assert_eq!(after["hivelog_claims_lost_total"], 1.0);
    assert_eq!(
        after["hivelog_tasks{project=\"default\",status=\"claimed\"}"],
        1.0
    );
    assert_eq!(
        after["hivelog_agents{project=\"default\",health=\"active\"}"],
        1.0
    );
    assert!(
        after["hivelog_messages_published_total"]
            >= before["hivelog_messages_published_total"] + 3.0
    );
    assert!(after["hivelog_stream_messages_in_total{stream=\"MJ_ONLINE_WORK\"}"] >= 3.0);
    assert!(after["hivelog_publish_duration_seconds_count"] >= 3.0);
    assert!(
        after["hivelog_publish_duration_seconds_bucket{le=\"+Inf\"}"]
            == after["hivelog_publish_duration_seconds_count"]
    );
    assert!(after["hivelog_fsyncs_total"] > before["hivelog_fsyncs_total"]);
    assert!(after["hivelog_http_responses_total{class=\"4xx\"}"] >= 1.0);
    assert!(
        after["hivelog_http_responses_total{class=\"2xx\"}"]
            > before["hivelog_http_responses_total{class=\"2xx\"}"]
    );
    assert_eq!(after["hivelog_leases_expired_total"], 0.0);

    // Messages out through a consumer, per stream and consumer.
    send(
        c.post(server.url("/api/streams/MJ_ONLINE_WORK/consumers"))
            .json(&json!({"durable_name": "reader", "filter_subject": "mjwork.status"})),
    )
    .await;
    let fetched =
        send(c.post(server.url("/api/streams/MJ_ONLINE_WORK/consumers/reader/next?batch=2"))).await;
    assert_eq!(fetched.1["messages"].as_array().map(Vec::len), Some(2));
    let out = scrape(&server).await;
    let key = "hivelog_consumer_delivered_total{stream=\"MJ_ONLINE_WORK\",consumer=\"reader\"}";
    assert_eq!(out[key], 2.0);
    assert_eq!(
        out["hivelog_consumer_ack_pending_messages{stream=\"MJ_ONLINE_WORK\",consumer=\"reader\"}"],
        2.0
    );
}

/// A task change and its copy on `mjwork.tasks` (a heartbeat and its copy
/// on `mjwork.heartbeat.<agent>`) reach disk with one fsync: one agent
/// working alone costs the disk two flushes per claim + complete and one
/// per heartbeat, not twice that.
#[tokio::test]
async fn a_change_and_its_copy_share_one_fsync() {
    let server = Server::start();
    let http = client();
    let fsyncs = |m: &HashMap<String, f64>| m["hivelog_fsyncs_total"];
    for i in 0..10 {
        let task = json!({"task_id": format!("t{i}"), "title": "t", "description": ""});
        assert_eq!(
            send(http.post(server.url("/api/tasks")).json(&task))
                .await
                .0,
            200
        );
    }
    let before = fsyncs(&scrape(&server).await);
    for _ in 0..10 {
        let (status, task) = send(
            http.post(server.url("/api/tasks/claim-next"))
                .json(&json!({"agent_id": "solo"})),
        )
        .await;
        assert_eq!(status, 200, "{task}");
        let id = task["task_id"].as_str().unwrap();
        let done = json!({"agent_id": "solo", "success": true, "result": null, "error": null});
        let url = server.url(&format!("/api/tasks/{id}/complete"));
        assert_eq!(send(http.post(url).json(&done)).await.0, 200);
    }
    let middle = fsyncs(&scrape(&server).await);
    for _ in 0..10 {
        let beat = json!({"agent_id": "solo", "status": "busy"});
        let url = server.url("/api/agents/heartbeat");
        assert_eq!(send(http.post(url).json(&beat)).await.0, 200);
    }
    let after = fsyncs(&scrape(&server).await);
    assert_eq!(middle - before, 20.0, "fsyncs for 10 claim + complete");
    assert_eq!(after - middle, 10.0, "fsyncs for 10 heartbeats");
    // Every version has its copy: 10 created, 10 claimed, 10 completed.
    let (_, copies) = send(http.get(server.url("/api/v2/messages/tasks?limit=100"))).await;
    let copies = copies["messages"].as_array().unwrap();
    assert_eq!(copies.len(), 30, "{copies:?}");
}
