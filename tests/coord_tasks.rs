//! The task API with the bodies old clients send (extra fields, nulls,
//! missing optionals), every error status, dependencies and cycles,
//! release, cancel, progress and history.

mod common;

use common::{assert_cases, assert_error, client, send, Server};
use serde_json::{json, Value};

fn task(id: &str, priority: &str, blocked_by: &[&str], created: &str) -> Value {
    json!({"task_id": id, "title": format!("title {id}"), "description": "…", "status": "available",
           "priority": priority, "blocked_by": blocked_by, "created_at": created,
           "owner": null, "claimed_at": null, "completed_at": null, "result": null, "error": null,
           "team": "docs"})
}

/// The ids of a bare array of tasks (what the compatible lists answer).
fn ids(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn old_client_flow_publish_poll_claim_complete() {
    let server = Server::start();
    let c = client();
    let post = |t: Value| c.post(server.url("/api/tasks")).json(&t);
    let (status, body) = send(post(task(
        "task-7",
        "medium",
        &[],
        "2026-01-30T10:11:00.123456",
    )))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["task_id"], "task-7");
    assert_eq!(body["stream"], "MJ_ONLINE_WORK");
    assert!(body["sequence"].as_u64().is_some());
    let ts = body["timestamp"].as_str().unwrap();
    assert!(
        ts.len() == 26 && !ts.ends_with('Z'),
        "naive microsecond timestamp, got {ts}"
    );
    send(post(task(
        "task-8",
        "high",
        &["task-7"],
        "2026-01-30T10:12:00.123456Z",
    )))
    .await;
    send(post(task("task-9", "high", &[], "2026-01-30T10:13:00"))).await;
    let (status, body) = send(post(json!({"task_id": "task-10"}))).await;
    assert_eq!(status, 422, "title and description are required: {body}");
    send(post(
        json!({"task_id": "task-10", "title": "ten", "description": ""}),
    ))
    .await;

    // Claim order: priority high first, then oldest; task-8 is blocked.
    let (_, avail) = send(c.get(server.url("/api/tasks/available?limit=10"))).await;
    assert_eq!(ids(&avail), ["task-9", "task-7", "task-10"]);
    let (_, one) = send(c.get(server.url("/api/tasks/available?limit=1"))).await;
    assert_eq!(ids(&one), ["task-9"]);

    let (_, t8) = send(c.get(server.url("/api/tasks/task-8"))).await;
    assert_eq!(t8["blocked_by"], json!(["task-7"]));
    assert_eq!(t8["depends_on"], json!(["task-7"]));
    assert_eq!(t8["team"], "docs", "extra fields are kept");
    assert_eq!(
        t8["created_at"], "2026-01-30T10:12:00.123456Z",
        "a client's timestamp is echoed as sent"
    );
    assert_error(
        &send(
            c.post(server.url("/api/tasks/task-8/claim"))
                .json(&json!({"agent_id": "alice"})),
        )
        .await,
        400,
        "task-7",
    );

    let (status, claimed) = send(
        c.post(server.url("/api/tasks/task-7/claim"))
            .json(&json!({"agent_id": "alice"})),
    )
    .await;
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(
        (claimed["success"].clone(), claimed["agent_id"].clone()),
        (json!(true), json!("alice"))
    );
    assert_eq!(claimed["task"]["status"], "claimed");
    assert_eq!(claimed["task"]["owner"], "alice");
    assert!(claimed["task"]["lease_expires_at"].is_string());
    let again = send(
        c.post(server.url("/api/tasks/task-7/claim"))
            .json(&json!({"agent_id": "bob"})),
    )
    .await;
    assert_error(&again, 404, "Task not found or already claimed");
    let precise = send(
        c.post(server.url("/api/tasks/task-7/claim"))
            .header("X-Hivelog-Precise-Status", "true")
            .json(&json!({"agent_id": "bob"})),
    )
    .await;
    assert_error(&precise, 409, "claimed");

    let (_, claimed_list) = send(c.get(server.url("/api/tasks?status=claimed"))).await;
    assert_eq!(ids(&claimed_list), ["task-7"]);
    let wrong = send(
        c.post(server.url("/api/tasks/task-7/complete"))
            .json(&json!({"agent_id": "bob", "success": true})),
    )
    .await;
    assert_error(&wrong, 403, "claimed by alice");
    let body = json!({"agent_id": "alice", "success": true, "result": {"pages": 3}, "error": null});
    let (status, done) = send(c.post(server.url("/api/tasks/task-7/complete")).json(&body)).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["task"]["status"], "completed");
    assert_eq!(done["task"]["result"], json!({"pages": 3}));
    assert!(done["task"]["completed_at"].is_string());
    assert_error(
        &send(c.post(server.url("/api/tasks/task-7/complete")).json(&body)).await,
        404,
        "not claimed",
    );

    // task-8 is unblocked by the completion, by itself.
    let (_, t8) = send(c.get(server.url("/api/tasks/task-8"))).await;
    assert_eq!(t8["blocked_by"], json!([]));
    let (_, avail) = send(c.get(server.url("/api/tasks/available?limit=10"))).await;
    assert_eq!(ids(&avail), ["task-8", "task-9", "task-10"]);

    // Failure path of complete.
    send(
        c.post(server.url("/api/tasks/task-9/claim"))
            .json(&json!({"agent_id": "alice"})),
    )
    .await;
    let fail = json!({"agent_id": "alice", "success": false, "result": null, "error": "disk full"});
    let (_, failed) = send(c.post(server.url("/api/tasks/task-9/complete")).json(&fail)).await;
    assert_eq!(
        (
            failed["task"]["status"].clone(),
            failed["task"]["error"].clone()
        ),
        (json!("failed"), json!("disk full"))
    );

    // Lists: one entry per task, newest first, limit honoured.
    let (_, all) = send(c.get(server.url("/api/tasks"))).await;
    assert_eq!(ids(&all), ["task-10", "task-9", "task-8", "task-7"]);
    let (_, two) = send(c.get(server.url("/api/tasks?limit=2"))).await;
    assert_eq!(two.as_array().unwrap().len(), 2);
    let (status, huge) = send(c.get(server.url("/api/tasks?limit=99999999999999999999999"))).await;
    assert_eq!(
        (status, huge.as_array().map(Vec::len)),
        (200, Some(4)),
        "a huge limit is clamped, not refused"
    );
}

#[tokio::test]
async fn every_error_status_of_the_task_api() {
    let server = Server::start();
    let c = client();
    send(
        c.post(server.url("/api/tasks"))
            .json(&json!({"task_id": "t1", "title": "one", "description": ""})),
    )
    .await;
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (c.get(server.url("/api/tasks/nope")), 404, "Task not found"),
        (
            c.post(server.url("/api/tasks/nope/claim"))
                .json(&json!({"agent_id": "a"})),
            404,
            "Task not found or already claimed",
        ),
        (
            c.post(server.url("/api/tasks/t1/claim")).json(&json!({})),
            400,
            "agent_id is required",
        ),
        (
            c.post(server.url("/api/tasks/t1/claim"))
                .json(&json!({"agent_id": null})),
            400,
            "agent_id is required",
        ),
        (
            c.post(server.url("/api/tasks/t1/claim")),
            400,
            "agent_id is required",
        ),
        (
            c.post(server.url("/api/tasks/t1/complete"))
                .json(&json!({"success": true})),
            400,
            "agent_id is required",
        ),
        (
            c.post(server.url("/api/tasks/t1/complete"))
                .json(&json!({"agent_id": "a", "success": true})),
            404,
            "not claimed",
        ),
        (
            c.post(server.url("/api/tasks/nope/complete"))
                .json(&json!({"agent_id": "a"})),
            404,
            "Task not found",
        ),
        (
            c.post(server.url("/api/tasks"))
                .json(&json!({"title": "no id", "description": ""})),
            422,
            "task_id",
        ),
        (
            c.post(server.url("/api/tasks"))
                .json(&json!({"task_id": "a b", "title": "t", "description": ""})),
            422,
            "not allowed",
        ),
        (
            c.post(server.url("/api/tasks")).json(
                &json!({"task_id": "x", "title": "t", "description": "", "priority": "urgent"}),
            ),
            422,
            "Input should be 'low', 'medium' or 'high'",
        ),
        (
            c.post(server.url("/api/tasks")).json(
                &json!({"task_id": "x", "title": "t", "description": "", "created_at": "tuesday"}),
            ),
            422,
            "invalid timestamp",
        ),
        (
            c.post(server.url("/api/tasks")).json(
                &json!({"task_id": "x", "title": "t", "description": "", "status": "claimed"}),
            ),
            422,
            "cannot be posted as claimed",
        ),
        (
            c.post(server.url("/api/tasks")).json(
                &json!({"task_id": "x", "title": "t", "description": "", "blocked_by": "t1"}),
            ),
            422,
            "invalid type",
        ),
        (
            c.post(server.url("/api/tasks")).body("{oops"),
            422,
            "JSON decode error",
        ),
        (
            c.get(server.url("/api/tasks?status=lost")),
            422,
            "Input should be 'available'",
        ),
        (
            c.get(server.url("/api/tasks?limit=0")),
            422,
            "greater than or equal to 1",
        ),
        (
            c.get(server.url("/api/tasks?limit=-3")),
            422,
            "greater than or equal to 1",
        ),
        (
            c.get(server.url("/api/tasks/available?limit=abc")),
            422,
            "valid integer",
        ),
        (
            c.post(server.url("/api/tasks/t1/progress"))
                .json(&json!({"agent_id": "a"})),
            404,
            "not claimed",
        ),
        (
            c.get(server.url("/api/tasks/nope/history")),
            404,
            "Task not found",
        ),
        (
            c.post(server.url("/api/tasks/claim-next?wait=forever"))
                .json(&json!({"agent_id": "a"})),
            400,
            "wait",
        ),
    ];
    assert_cases(cases).await;
    // Nothing above changed the task.
    let (_, t1) = send(c.get(server.url("/api/tasks/t1"))).await;
    assert_eq!(
        (t1["status"].clone(), t1["title"].clone()),
        (json!("available"), json!("one"))
    );
}

#[tokio::test]
async fn reposting_updates_but_never_takes_a_task_from_its_holder() {
    let server = Server::start();
    let c = client();
    send(
        c.post(server.url("/api/v2/tasks"))
            .json(&json!({"task_id": "t", "title": "v1", "priority": "low"})),
    )
    .await;
    let (status, body) = send(
        c.post(server.url("/api/v2/tasks"))
            .json(&json!({"task_id": "t", "title": "v2", "status": "available"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["task"]["title"].clone(),
            body["task"]["priority"].clone()
        ),
        (json!("v2"), json!("low"))
    );
    send(
        c.post(server.url("/api/tasks/t/claim"))
            .json(&json!({"agent_id": "alice"})),
    )
    .await;
    let held = send(
        c.post(server.url("/api/v2/tasks"))
            .json(&json!({"task_id": "t", "title": "v3", "status": "available"})),
    )
    .await;
    assert_error(&held, 409, "claimed by alice");
    let (_, t) = send(c.get(server.url("/api/tasks/t"))).await;
    assert_eq!(
        (t["owner"].clone(), t["title"].clone()),
        (json!("alice"), json!("v2"))
    );
}

#[tokio::test]
async fn dependency_cycles_are_refused_and_failures_propagate() {
    let server = Server::start();
    let c = client();
    let post = |body: Value| c.post(server.url("/api/v2/tasks")).json(&body);
    send(post(json!({"task_id": "a", "title": "a"}))).await;
    send(post(
        json!({"task_id": "b", "title": "b", "blocked_by": ["a"]}),
    ))
    .await;
    send(post(
        json!({"task_id": "c", "title": "c", "blocked_by": ["b"]}),
    ))
    .await;
    assert_error(
        &send(post(
            json!({"task_id": "a", "title": "a", "blocked_by": ["c"]}),
        ))
        .await,
        400,
        "a -> c -> b -> a",
    );
    assert_error(
        &send(post(
            json!({"task_id": "d", "title": "d", "blocked_by": ["d"]}),
        ))
        .await,
        400,
        "d -> d",
    );
    // Unknown dependencies are allowed: clients post tasks in any order.
    let (status, later) = send(post(
        json!({"task_id": "e", "title": "e", "blocked_by": ["not-yet"]}),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(later["task"]["blocked_by"], json!(["not-yet"]));

    send(
        c.post(server.url("/api/tasks/a/claim"))
            .json(&json!({"agent_id": "x"})),
    )
    .await;
    send(
        c.post(server.url("/api/tasks/a/complete"))
            .json(&json!({"agent_id": "x", "success": false, "error": "nope"})),
    )
    .await;
    let (_, b) = send(c.get(server.url("/api/tasks/b"))).await;
    assert_eq!(b["failed_dependencies"], json!(["a"]));
    assert_eq!(b["blocked_by"], json!(["a"]));
}

#[tokio::test]
async fn release_cancel_progress_and_history() {
    let server = Server::start();
    let c = client();
    send(
        c.post(server.url("/api/v2/tasks"))
            .json(&json!({"task_id": "h", "title": "h"})),
    )
    .await;
    send(
        c.post(server.url("/api/tasks/h/claim"))
            .json(&json!({"agent_id": "a"})),
    )
    .await;
    let (status, p) = send(
        c.post(server.url("/api/tasks/h/progress"))
            .json(&json!({"agent_id": "a", "note": "half", "percent": 50})),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["task"]["progress"]["percent"], 50.0);
    assert_error(
        &send(
            c.post(server.url("/api/tasks/h/progress"))
                .json(&json!({"agent_id": "b"})),
        )
        .await,
        403,
        "claimed by a",
    );
    assert_error(
        &send(
            c.post(server.url("/api/tasks/h/progress"))
                .json(&json!({"agent_id": "a", "percent": 150})),
        )
        .await,
        422,
        "percent",
    );
    let (_, r) = send(
        c.post(server.url("/api/tasks/h/release"))
            .json(&json!({"agent_id": "a"})),
    )
    .await;
    assert_eq!(
        (
            r["task"]["status"].clone(),
            r["task"]["owner"].clone(),
            r["task"]["attempts"].clone()
        ),
        (json!("available"), Value::Null, json!(0))
    );
    let (_, x) = send(
        c.post(server.url("/api/tasks/h/cancel"))
            .json(&json!({"agent_id": "boss", "reason": "not needed"})),
    )
    .await;
    assert_eq!(x["task"]["status"], "failed");
    assert_eq!(x["task"]["cancelled"], true);
    assert_eq!(x["task"]["error"], "cancelled by boss: not needed");
    assert_error(
        &send(c.post(server.url("/api/tasks/h/cancel"))).await,
        409,
        "already failed",
    );
    let (_, h) = send(c.get(server.url("/api/tasks/h/history"))).await;
    let statuses: Vec<&str> = h["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["task"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["available", "claimed", "claimed", "available", "failed"]
    );
    // Every version is also on mjwork.tasks for history readers.
    let (_, raw) =
        send(c.get(server.url("/api/streams/MJ_ONLINE_WORK/messages?subject=mjwork.tasks"))).await;
    assert_eq!(raw["messages"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn claim_next_respects_capabilities_and_long_polls() {
    let server = Server::start();
    let c = client();
    send(c.post(server.url("/api/v2/tasks")).json(
        &json!({"task_id": "gpu", "title": "gpu", "priority": "high", "capabilities": ["gpu"]}),
    ))
    .await;
    send(
        c.post(server.url("/api/v2/tasks"))
            .json(&json!({"task_id": "plain", "title": "plain"})),
    )
    .await;
    let next = |body: Value, q: &str| {
        c.post(server.url(&format!("/api/tasks/claim-next{q}")))
            .json(&body)
    };
    let (_, got) = send(next(json!({"agent_id": "cpu-bot", "capabilities": []}), "")).await;
    assert_eq!(got["task_id"], "plain");
    let (status, _) = send(next(json!({"agent_id": "cpu-bot", "capabilities": []}), "")).await;
    assert_eq!(status, 204, "nothing this agent can do");
    let (_, got) = send(next(
        json!({"agent_id": "gpu-bot", "capabilities": ["gpu", "cuda"]}),
        "",
    ))
    .await;
    assert_eq!(got["task_id"], "gpu");

    let waiting = {
        let (c, url) = (c.clone(), server.url("/api/tasks/claim-next?wait=10s"));
        tokio::spawn(async move { send(c.post(url).json(&json!({"agent_id": "patient"}))).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiting.is_finished());
    send(
        c.post(server.url("/api/v2/tasks"))
            .json(&json!({"task_id": "late", "title": "late"})),
    )
    .await;
    let (status, got) = waiting.await.unwrap();
    assert_eq!(
        (status, got["task_id"].clone(), got["task"]["owner"].clone()),
        (200, json!("late"), json!("patient"))
    );
}
