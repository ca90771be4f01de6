//! The compatibility suite: every compatible route driven with the exact
//! request shapes of `../shared/old-clients.md`, asserting the answers old
//! clients read back — bare arrays, the same fields and types, echoed
//! timestamps, and FastAPI's 422 where the replaced service said 422.

mod common;

use common::{client, send, Server};
use serde_json::{json, Value};

/// A 422 whose `detail` is FastAPI's list, with an entry at `loc`.
#[track_caller]
fn assert_422(got: &(u16, Value), loc: &[&str]) {
    assert_eq!(got.0, 422, "expected 422, got {}: {}", got.0, got.1);
    let detail = got.1["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("422 detail is not a list: {}", got.1));
    assert!(!detail.is_empty());
    for entry in detail {
        assert!(entry["loc"].is_array(), "{entry}");
        assert!(entry["msg"].is_string(), "{entry}");
        assert!(entry["type"].is_string(), "{entry}");
    }
    let want: Vec<Value> = loc.iter().map(|s| json!(s)).collect();
    assert!(
        detail.iter().any(|e| e["loc"].as_array() == Some(&want)),
        "no entry at {loc:?} in {}",
        got.1
    );
}

#[track_caller]
fn is_str_or_null(v: &Value) -> bool {
    v.is_string() || v.is_null()
}

/// The task object as old clients parse it.
#[track_caller]
fn assert_task_shape(t: &Value) {
    assert!(t["task_id"].is_string(), "{t}");
    assert!(t["title"].is_string(), "{t}");
    assert!(t["description"].is_string(), "{t}");
    let status = t["status"].as_str().expect("status");
    assert!(
        ["available", "claimed", "completed", "failed"].contains(&status),
        "{t}"
    );
    assert!(is_str_or_null(&t["owner"]), "{t}");
    assert!(
        t["blocked_by"]
            .as_array()
            .is_some_and(|b| b.iter().all(Value::is_string)),
        "{t}"
    );
    assert!(t["priority"].is_string(), "{t}");
    assert!(t["created_at"].is_string(), "{t}");
    assert!(is_str_or_null(&t["claimed_at"]), "{t}");
    assert!(is_str_or_null(&t["completed_at"]), "{t}");
    assert!(
        t["result"].is_object() || t["result"].is_null(),
        "result must be an object or null: {t}"
    );
    assert!(is_str_or_null(&t["error"]), "{t}");
}

/// The agent record as old clients and the old dashboard parse it.
#[track_caller]
fn assert_agent_shape(a: &Value) {
    assert!(a["agent_id"].is_string(), "{a}");
    assert!(is_str_or_null(&a["description"]), "{a}");
    assert!(a["capabilities"].is_array(), "{a}");
    assert!(a["registered_at"].is_string(), "{a}");
    assert!(is_str_or_null(&a["last_heartbeat"]), "{a}");
    let status = a["status"].as_str().expect("status");
    assert!(
        ["active", "idle", "busy", "offline"].contains(&status),
        "{a}"
    );
    assert!(is_str_or_null(&a["current_task"]), "{a}");
    assert!(is_str_or_null(&a["current_task_title"]), "{a}");
    assert!(a["needs_approval"].is_boolean(), "{a}");
    assert!(is_str_or_null(&a["approval_message"]), "{a}");
}

/// The message object as old clients parse it.
#[track_caller]
fn assert_message_shape(m: &Value) {
    assert!(m["agent_id"].is_string(), "{m}");
    assert!(m["channel"].is_string(), "{m}");
    assert!(!m["content"].is_null(), "{m}");
    assert!(m["timestamp"].is_string(), "{m}");
    assert!(is_str_or_null(&m["message_id"]), "{m}");
}

#[track_caller]
fn array(v: &(u16, Value)) -> &Vec<Value> {
    assert_eq!(v.0, 200, "{}", v.1);
    v.1.as_array()
        .unwrap_or_else(|| panic!("expected a bare JSON array, got {}", v.1))
}

#[tokio::test]
async fn agents_register_heartbeat_list_delete_and_cleanup_as_old_clients_read_them() {
    let s = Server::start();
    let c = client();
    let post = |path: &str, body: Value| c.post(s.url(path)).json(&body);

    let reg = send(post(
        "/api/agents/register",
        json!({"agent_id": "alice", "description": null, "capabilities": []}),
    ))
    .await;
    assert_eq!(reg.0, 200, "{}", reg.1);
    assert_eq!(reg.1["success"], true);

    // Registered but never heartbeating: only listed with include_stale.
    assert!(array(&send(c.get(s.url("/api/agents"))).await).is_empty());
    let all = send(c.get(s.url("/api/agents?include_stale=true"))).await;
    let all = array(&all);
    assert_eq!(all.len(), 1);
    assert_agent_shape(&all[0]);
    assert_eq!(all[0]["last_heartbeat"], Value::Null);

    let beat = json!({"agent_id": "alice", "status": "busy", "current_task": "task-7",
        "current_task_title": "Write page", "needs_approval": true, "approval_message": "ok?",
        "timestamp": "2026-01-30T10:12:00"});
    // A heartbeat's own timestamp is echoed; this one is old, so the
    // default listing (by last_heartbeat) leaves alice out.
    assert_eq!(send(post("/api/agents/heartbeat", beat)).await.0, 200);
    let listed = send(c.get(s.url("/api/agents?include_stale=true"))).await;
    let a = &array(&listed)[0];
    assert_agent_shape(a);
    assert_eq!(a["last_heartbeat"], "2026-01-30T10:12:00");
    assert_eq!(a["status"], "busy");
    assert_eq!(a["current_task"], "task-7");
    assert_eq!(a["needs_approval"], true);
    assert!(array(&send(c.get(s.url("/api/agents"))).await).is_empty());

    // A heartbeat without a timestamp is stamped now; the omitted fields
    // go back to null / false.
    let plain = json!({"agent_id": "alice", "status": "idle"});
    assert_eq!(send(post("/api/agents/heartbeat", plain)).await.0, 200);
    let listed = send(c.get(s.url("/api/agents"))).await;
    let a = &array(&listed)[0];
    assert_agent_shape(a);
    assert_eq!(a["status"], "idle");
    assert_eq!(a["current_task"], Value::Null);
    assert_eq!(a["current_task_title"], Value::Null);
    assert_eq!(a["needs_approval"], false);
    assert_eq!(a["approval_message"], Value::Null);

    // The exact old heartbeat shape, with nulls.
    let old = json!({"agent_id": "bob", "status": "busy", "current_task": "task-7",
        "current_task_title": "Write page", "needs_approval": false, "approval_message": null});
    assert_eq!(send(post("/api/agents/heartbeat", old)).await.0, 200);
    assert_eq!(array(&send(c.get(s.url("/api/agents"))).await).len(), 2);

    // 422 with FastAPI's list, where the old service said 422.
    for (body, loc) in [
        (json!({"agent_id": ""}), vec!["body", "agent_id"]),
        (
            json!({"agent_id": "x".repeat(51)}),
            vec!["body", "agent_id"],
        ),
        (
            json!({"agent_id": "carol", "description": "d".repeat(201)}),
            vec!["body", "description"],
        ),
        (json!({"description": "no id"}), vec!["body", "agent_id"]),
    ] {
        assert_422(&send(post("/api/agents/register", body)).await, &loc);
    }
    for (body, loc) in [
        (json!({"agent_id": "alice"}), vec!["body", "status"]),
        (
            json!({"agent_id": "alice", "status": "sleeping"}),
            vec!["body", "status"],
        ),
        (json!({"status": "busy"}), vec!["body", "agent_id"]),
    ] {
        assert_422(&send(post("/api/agents/heartbeat", body)).await, &loc);
    }
    assert_422(
        &send(c.get(s.url("/api/agents?include_stale=maybe"))).await,
        &["query", "include_stale"],
    );
    // None of the refused requests changed anything.
    let after = send(c.get(s.url("/api/agents?include_stale=true"))).await;
    assert_eq!(array(&after).len(), 2);

    // DELETE answers the record as listed, heartbeat status included.
    let listed_bob = send(c.get(s.url("/api/agents"))).await;
    let listed_bob = array(&listed_bob)
        .iter()
        .find(|a| a["agent_id"] == "bob")
        .cloned()
        .expect("bob listed");
    let del = send(c.delete(s.url("/api/agents/bob"))).await;
    assert_eq!(del.0, 200, "{}", del.1);
    assert_eq!(del.1["success"], true);
    assert_eq!(del.1["agent_id"], "bob");
    assert_agent_shape(&del.1["removed"]);
    for key in [
        "agent_id",
        "description",
        "capabilities",
        "registered_at",
        "last_heartbeat",
        "status",
        "current_task",
        "current_task_title",
        "needs_approval",
        "approval_message",
    ] {
        assert_eq!(del.1["removed"][key], listed_bob[key], "{key}");
    }
    let gone = send(c.delete(s.url("/api/agents/bob"))).await;
    assert_eq!(gone.0, 404);
    assert_eq!(gone.1, json!({"detail": "Agent bob not found"}));

    // cleanup echoes the list sent, even names that do not exist.
    send(post("/api/agents/register", json!({"agent_id": "dave"}))).await;
    let cleaned = send(post(
        "/api/agents/cleanup",
        json!({"keep_agents": ["alice", "nobody"]}),
    ))
    .await;
    assert_eq!(cleaned.0, 200, "{}", cleaned.1);
    assert_eq!(
        cleaned.1,
        json!({"success": true, "removed_count": 1, "removed_agents": ["dave"],
            "kept_agents": ["alice", "nobody"]})
    );
}

#[tokio::test]
async fn tasks_post_list_claim_complete_as_old_clients_read_them() {
    let s = Server::start();
    let c = client();
    let post = |path: &str, body: Value| c.post(s.url(path)).json(&body);

    let whole = json!({"task_id": "task-8", "title": "Write page", "description": "the docs page",
        "status": "available", "priority": "high", "blocked_by": ["task-7"],
        "created_at": "2026-01-30T10:12:00.123456", "owner": null, "claimed_at": null,
        "completed_at": null, "result": null, "error": null, "team": "docs"});
    let created = send(post("/api/tasks", whole)).await;
    assert_eq!(created.0, 200, "{}", created.1);
    assert_eq!(created.1["success"], true);
    assert_eq!(created.1["task_id"], "task-8");
    assert!(created.1["sequence"].is_u64(), "{}", created.1);
    assert!(created.1["stream"].is_string());
    // The replaced service answered `"timestamp": task.created_at`: the
    // client's own time, exactly as sent.
    assert_eq!(created.1["timestamp"], "2026-01-30T10:12:00.123456");
    // Python's isoformat() drops zero microseconds; echoed as sent too.
    let dep = json!({"task_id": "task-7", "title": "Schema", "description": "",
        "status": "available", "priority": "medium", "blocked_by": [],
        "created_at": "2026-01-30T09:00:00"});
    let dep_created = send(post("/api/tasks", dep)).await;
    assert_eq!(dep_created.0, 200);
    assert_eq!(dep_created.1["timestamp"], "2026-01-30T09:00:00");
    // Without a created_at, the server's clock fills both.
    let clocked = send(post(
        "/api/tasks",
        json!({"task_id": "task-9", "title": "t", "description": ""}),
    ))
    .await;
    assert_eq!(clocked.0, 200);
    let stamp = clocked.1["timestamp"]
        .as_str()
        .expect("timestamp")
        .to_string();
    assert_eq!(stamp.len(), "2026-01-30T09:00:00.000000".len(), "{stamp}");
    assert_eq!(
        send(c.get(s.url("/api/tasks/task-9"))).await.1["created_at"],
        stamp.as_str()
    );
    assert_eq!(
        send(c.post(s.url("/api/tasks/task-9/cancel")).json(&json!({})))
            .await
            .0,
        200
    );

    let one = send(c.get(s.url("/api/tasks/task-8"))).await;
    assert_eq!(one.0, 200);
    assert_task_shape(&one.1);
    assert_eq!(one.1["created_at"], "2026-01-30T10:12:00.123456");
    assert_eq!(one.1["blocked_by"], json!(["task-7"]));
    assert_eq!(one.1["team"], "docs");
    let seven = send(c.get(s.url("/api/tasks/task-7"))).await;
    assert_eq!(seven.1["created_at"], "2026-01-30T09:00:00");
    assert_eq!(
        send(c.get(s.url("/api/tasks/nope"))).await,
        (404, json!({"detail": "Task not found"}))
    );

    let listed = send(c.get(s.url("/api/tasks"))).await;
    let tasks = array(&listed);
    assert_eq!(tasks.len(), 3);
    tasks.iter().for_each(assert_task_shape);
    let available = send(c.get(s.url("/api/tasks/available?limit=10"))).await;
    let available = array(&available);
    assert_eq!(available.len(), 1, "task-8 is blocked by task-7");
    assert_eq!(available[0]["task_id"], "task-7");

    // Poll, claim from the top, complete; a second claim is refused (404).
    let claim = send(post(
        "/api/tasks/task-7/claim",
        json!({"agent_id": "alice"}),
    ))
    .await;
    assert_eq!(claim.0, 200, "{}", claim.1);
    let again = send(post("/api/tasks/task-7/claim", json!({"agent_id": "bob"}))).await;
    assert_eq!(again.0, 404);
    let claimed = send(c.get(s.url("/api/tasks?status=claimed"))).await;
    let claimed = array(&claimed);
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0]["owner"], "alice");
    assert!(claimed[0]["claimed_at"].is_string());
    let done = send(post(
        "/api/tasks/task-7/complete",
        json!({"agent_id": "alice", "success": true, "result": {"pages": 3}, "error": null}),
    ))
    .await;
    assert_eq!(done.0, 200, "{}", done.1);
    let seven = send(c.get(s.url("/api/tasks/task-7"))).await;
    assert_task_shape(&seven.1);
    assert_eq!(seven.1["status"], "completed");
    assert_eq!(seven.1["result"], json!({"pages": 3}));

    // Failure: success false, result null, error text.
    assert_eq!(
        send(post(
            "/api/tasks/task-8/claim",
            json!({"agent_id": "alice"})
        ))
        .await
        .0,
        200
    );
    // A result that is not an object is refused and changes nothing.
    let bad = send(post(
        "/api/tasks/task-8/complete",
        json!({"agent_id": "alice", "success": true, "result": "done", "error": null}),
    ))
    .await;
    assert_422(&bad, &["body", "result"]);
    assert_eq!(
        send(c.get(s.url("/api/tasks/task-8"))).await.1["status"],
        "claimed"
    );
    let failed = send(post(
        "/api/tasks/task-8/complete",
        json!({"agent_id": "alice", "success": false, "result": null, "error": "text"}),
    ))
    .await;
    assert_eq!(failed.0, 200, "{}", failed.1);
    let eight = send(c.get(s.url("/api/tasks/task-8"))).await;
    assert_task_shape(&eight.1);
    assert_eq!(eight.1["status"], "failed");
    assert_eq!(eight.1["result"], Value::Null);
    assert_eq!(eight.1["error"], "text");
    // The listing shows the newest version of each task, once.
    let listed = send(c.get(s.url("/api/tasks?status=failed"))).await;
    assert_eq!(array(&listed).len(), 2, "task-8 and the cancelled task-9");

    // Posted again as available, a finished task is queued as a fresh
    // one: nothing of its last run stays (the history keeps it).
    let requeue = json!({"task_id": "task-7", "title": "Schema", "description": "",
        "status": "available", "priority": "medium", "blocked_by": [],
        "created_at": "2026-01-30T09:00:00"});
    let requeued = send(post("/api/tasks", requeue)).await;
    assert_eq!(requeued.0, 200, "{}", requeued.1);
    let seven = send(c.get(s.url("/api/tasks/task-7"))).await;
    assert_task_shape(&seven.1);
    assert_eq!(seven.1["status"], "available");
    for field in ["owner", "claimed_at", "completed_at", "result", "error"] {
        assert_eq!(seven.1[field], Value::Null, "{field} kept: {}", seven.1);
    }
    let open = send(c.get(s.url("/api/tasks/available"))).await;
    assert!(
        array(&open).iter().any(|t| t["task_id"] == "task-7"),
        "{}",
        open.1
    );
    let history = send(c.get(s.url("/api/tasks/task-7/history"))).await;
    let versions = history.1["versions"].as_array().expect("versions");
    assert!(
        versions
            .iter()
            .any(|v| v["task"]["owner"] == "alice" && v["task"]["status"] == "completed"),
        "the last run stays in the history: {}",
        history.1
    );

    // 422 where the old service said 422; nothing stored by them.
    for (body, loc) in [
        (json!({"title": "t", "description": "d"}), "task_id"),
        (json!({"task_id": "x1", "description": "d"}), "title"),
        (json!({"task_id": "x2", "title": "t"}), "description"),
        (
            json!({"task_id": "x3", "title": "t", "description": "d", "status": "bogus"}),
            "status",
        ),
        (
            json!({"task_id": "x4", "title": "t", "description": "d", "result": [1]}),
            "result",
        ),
    ] {
        assert_422(&send(post("/api/tasks", body)).await, &["body", loc]);
    }
    for query in ["status=bogus", "limit=abc", "limit=0"] {
        let loc = query.split('=').next().unwrap();
        assert_422(
            &send(c.get(s.url(&format!("/api/tasks?{query}")))).await,
            &["query", loc],
        );
    }
    assert_422(
        &send(c.get(s.url("/api/tasks/available?limit=abc"))).await,
        &["query", "limit"],
    );
    assert_422(
        &send(c.post(s.url("/api/tasks")).body("{not json")).await,
        &["body"],
    );
    assert_eq!(array(&send(c.get(s.url("/api/tasks"))).await).len(), 3);
}

#[tokio::test]
async fn messages_as_old_clients_read_them() {
    let s = Server::start();
    let c = client();
    let post = |body: Value| c.post(s.url("/api/messages")).json(&body);

    let posted = send(post(json!({"agent_id": "alice", "channel": "coordination",
        "content": "@bob the schema is ready"})))
    .await;
    assert_eq!(posted.0, 200, "{}", posted.1);
    assert_eq!(posted.1["success"], true);
    assert!(posted.1["sequence"].is_u64());
    assert!(posted.1["stream"].is_string());
    assert!(posted.1["timestamp"].is_string());
    for i in 0..5 {
        let body = json!({"agent_id": "bob", "channel": "coordination", "content": format!("n{i}"),
            "timestamp": format!("2026-01-30T10:12:0{i}")});
        assert_eq!(send(post(body)).await.0, 200);
    }
    let err =
        json!({"agent_id": "alice", "channel": "errors", "content": "boom", "message_id": "m-1"});
    assert_eq!(send(post(err)).await.0, 200);

    let read = send(c.get(s.url("/api/messages/coordination?limit=3"))).await;
    let msgs = array(&read);
    msgs.iter().for_each(assert_message_shape);
    let contents: Vec<&str> = msgs
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["n2", "n3", "n4"], "the newest 3, oldest first");
    assert_eq!(
        msgs[0]["timestamp"], "2026-01-30T10:12:02",
        "echoed as sent"
    );
    assert_eq!(msgs[0]["message_id"], Value::Null);
    let all = send(c.get(s.url("/api/messages/coordination?limit=50"))).await;
    assert_eq!(array(&all).len(), 6);
    let errors = send(c.get(s.url("/api/messages/errors"))).await;
    let errors = array(&errors);
    assert_message_shape(&errors[0]);
    assert_eq!(errors[0]["message_id"], "m-1");

    // The tasks channel carries every task version too; old clients parse
    // what this route lists as messages, so (as the replaced service did)
    // it lists only what is one, the newest `limit` of them.
    for i in 0..60 {
        let task = json!({"task_id": format!("t-{i}"), "title": "t", "description": ""});
        assert_eq!(send(c.post(s.url("/api/tasks")).json(&task)).await.0, 200);
        if i == 30 {
            let note = json!({"agent_id": "alice", "channel": "tasks", "content": "t-30 is big"});
            assert_eq!(send(post(note)).await.0, 200);
        }
    }
    let on_tasks = send(c.get(s.url("/api/messages/tasks?limit=5"))).await;
    let on_tasks = array(&on_tasks);
    assert_eq!(on_tasks.len(), 1, "{on_tasks:?}");
    on_tasks.iter().for_each(assert_message_shape);
    assert_eq!(on_tasks[0]["content"], "t-30 is big");
    // The richer route still shows every record of the channel.
    let v2 = send(c.get(s.url("/api/v2/messages/tasks?limit=5"))).await;
    assert_eq!(v2.1["count"], 5, "{}", v2.1);

    for (body, loc) in [
        (
            json!({"channel": "coordination", "content": "x"}),
            "agent_id",
        ),
        (
            json!({"agent_id": "a", "channel": "coordination"}),
            "content",
        ),
        (
            json!({"agent_id": "a", "channel": "nope", "content": "x"}),
            "channel",
        ),
    ] {
        assert_422(&send(post(body)).await, &["body", loc]);
    }
    assert_422(
        &send(c.get(s.url("/api/messages/nope"))).await,
        &["path", "channel"],
    );
    assert_422(
        &send(c.get(s.url("/api/messages/coordination?limit=abc"))).await,
        &["query", "limit"],
    );
    assert_eq!(
        array(&send(c.get(s.url("/api/messages/coordination?limit=50"))).await).len(),
        6
    );
}

/// The richer answers live on /api/v2: envelopes with counts, pages with
/// cursors, any channel name.
#[tokio::test]
async fn v2_routes_answer_envelopes_with_counts_and_cursors() {
    let s = Server::start();
    let c = client();
    for i in 0..7 {
        let mut t = json!({"task_id": format!("t{i}"), "title": format!("task {i}")});
        if i >= 5 {
            t["blocked_by"] = json!(["t0"]);
        }
        let r = send(c.post(s.url("/api/v2/tasks")).json(&t)).await;
        assert_eq!(r.0, 200, "{}", r.1);
        assert_eq!(r.1["created"], true);
    }
    let update = send(
        c.post(s.url("/api/v2/tasks"))
            .json(&json!({"task_id": "t1", "priority": "high"})),
    )
    .await;
    assert_eq!(update.1["created"], false);
    assert_eq!(
        update.1["task"]["title"], "task 1",
        "a partial update keeps the rest"
    );
    let no_title = send(
        c.post(s.url("/api/v2/tasks"))
            .json(&json!({"task_id": "t9"})),
    )
    .await;
    assert_eq!(no_title.0, 422, "a new task needs a title: {}", no_title.1);

    let counts = send(c.get(s.url("/api/v2/tasks/counts"))).await.1;
    assert_eq!(
        counts,
        json!({"total": 7, "available": 7, "claimable": 5, "blocked": 2,
            "claimed": 0, "completed": 0, "failed": 0, "needs_human": 0, "delayed": 0})
    );
    // Page through the claimable column two at a time: claim order, each once.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = send(c.get(s.url(&format!(
            "/api/v2/tasks?column=available&limit=2&after={after}"
        ))))
        .await
        .1;
        assert_eq!(page["total"], 5);
        for t in page["tasks"].as_array().unwrap() {
            seen.push(t["task_id"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(next) => after = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ["t1", "t0", "t2", "t3", "t4"]);
    let blocked = send(c.get(s.url("/api/v2/tasks?column=blocked"))).await.1;
    assert_eq!(blocked["count"], 2);
    assert_eq!(
        send(c.get(s.url("/api/v2/tasks?after=garbage"))).await.0,
        422
    );

    let agents = send(c.get(s.url("/api/v2/agents?include_stale=true")))
        .await
        .1;
    assert_eq!(agents, json!({"agents": [], "count": 0}));
    let posted =
        send(c.post(s.url("/api/v2/messages")).json(
            &json!({"agent_id": "alice", "channel": "roadmap", "content": "v2 ships friday"}),
        ))
        .await;
    assert_eq!(posted.0, 200, "{}", posted.1);
    let roadmap = send(c.get(s.url("/api/v2/messages/roadmap"))).await.1;
    assert_eq!(roadmap["count"], 1);
    assert_eq!(roadmap["channel"], "roadmap");
    assert_eq!(roadmap["messages"][0]["content"], "v2 ships friday");
}
