//! Projects over HTTP against the real server: a request names its project
//! with `X-Hivelog-Project` (or `?project=`), and what one project holds —
//! tasks, agents, reservations, messages, pause — another never sees. The
//! compatible routes without a header are the default project, answering
//! as before. Projects are recorded, so a restart serves them again.

mod common;

use common::{assert_error, client, send, Server};
use serde_json::{json, Value};

const HEADER: &str = "X-Hivelog-Project";

fn get(server: &Server, project: Option<&str>, path: &str) -> reqwest::RequestBuilder {
    let req = client().get(server.url(path));
    match project {
        Some(p) => req.header(HEADER, p),
        None => req,
    }
}

fn post(
    server: &Server,
    project: Option<&str>,
    path: &str,
    body: Value,
) -> reqwest::RequestBuilder {
    let req = client().post(server.url(path)).json(&body);
    match project {
        Some(p) => req.header(HEADER, p),
        None => req,
    }
}

async fn add_task(server: &Server, project: Option<&str>, id: &str, title: &str) {
    let (status, body) = send(post(
        server,
        project,
        "/api/tasks",
        json!({"task_id": id, "title": title, "description": "d", "priority": "medium"}),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn task_ids(server: &Server, project: Option<&str>) -> Vec<String> {
    let (status, body) = send(get(server, project, "/api/tasks")).await;
    assert_eq!(status, 200, "{body}");
    let mut ids: Vec<String> = body
        .as_array()
        .expect("a bare array")
        .iter()
        .map(|t| t["task_id"].as_str().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids
}

/// `{"task": …}` (null when none), or `{"paused": true}` when refused
/// because grants are paused.
async fn claim_next(server: &Server, project: Option<&str>, agent: &str) -> Value {
    let req = client()
        .post(server.url("/api/tasks/claim-next"))
        .json(&json!({"agent_id": agent}));
    let req = match project {
        Some(p) => req.header(HEADER, p),
        None => req,
    };
    let res = req.send().await.expect("claim-next answers");
    match res.status().as_u16() {
        200 => json!({"task": res.json::<Value>().await.unwrap()["task"]}),
        204 => json!({"task": null}),
        503 => {
            let body: Value = res.json().await.unwrap();
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("paused"),
                "{body}"
            );
            json!({"paused": true})
        }
        s => panic!(
            "claim-next answered {s}: {}",
            res.text().await.unwrap_or_default()
        ),
    }
}

#[tokio::test]
async fn two_projects_share_nothing_and_the_old_routes_see_the_default_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &[]);
    // The same task id in two projects, and one in the default project.
    add_task(&server, Some("repo-a"), "fix-tests", "A's tests").await;
    add_task(&server, Some("repo-b"), "fix-tests", "B's tests").await;
    add_task(&server, None, "legacy", "an old client's task").await;

    assert_eq!(task_ids(&server, Some("repo-a")).await, ["fix-tests"]);
    assert_eq!(task_ids(&server, Some("repo-b")).await, ["fix-tests"]);
    assert_eq!(task_ids(&server, None).await, ["legacy"]);
    // `?project=` names it as the header does; `default` is the default.
    let (_, b) = send(client().get(server.url("/api/tasks/fix-tests?project=repo-b"))).await;
    assert_eq!(b["title"], "B's tests");
    assert_eq!(task_ids(&server, Some("default")).await, ["legacy"]);
    let (status, _) = send(client().get(server.url("/api/tasks/fix-tests"))).await;
    assert_eq!(status, 404, "the default project has no fix-tests");

    // B's agent never takes A's task; claiming is per project.
    let got = claim_next(&server, Some("repo-b"), "claude-b").await;
    assert_eq!(got["task"]["title"], "B's tests", "{got}");
    let none = claim_next(&server, Some("repo-b"), "claude-b").await;
    assert!(none["task"].is_null(), "{none}");
    let (_, a) = send(get(&server, Some("repo-a"), "/api/tasks/fix-tests")).await;
    assert_eq!(a["status"], "available", "A's task untouched: {a}");

    // Reservations: the same glob in two projects does not conflict.
    for (project, agent) in [("repo-a", "claude-a"), ("repo-b", "claude-b")] {
        let (status, body) = send(post(
            &server,
            Some(project),
            "/api/v2/reservations",
            json!({"agent_id": agent, "globs": ["src/**"]}),
        ))
        .await;
        assert_eq!(status, 200, "{project}: {body}");
    }
    let clash = send(post(
        &server,
        Some("repo-a"),
        "/api/v2/reservations",
        json!({"agent_id": "other-a", "globs": ["src/main.rs"]}),
    ))
    .await;
    assert_error(&clash, 409, "reserved by claude-a");

    // Agents and messages stay in their project.
    let (status, body) = send(post(
        &server,
        Some("repo-b"),
        "/api/agents/register",
        json!({"agent_id": "claude-b", "name": "claude-b", "capabilities": []}),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, agents) = send(get(&server, None, "/api/agents")).await;
    assert_eq!(
        agents,
        json!([]),
        "no agent registered in the default project"
    );
    let (status, _) = send(post(
        &server,
        Some("repo-a"),
        "/api/v2/messages",
        json!({"agent_id": "claude-a", "channel": "coordination", "content": "A only"}),
    ))
    .await;
    assert_eq!(status, 200);
    let (_, b_msgs) = send(get(
        &server,
        Some("repo-b"),
        "/api/v2/messages/coordination",
    ))
    .await;
    assert_eq!(b_msgs["count"], 0, "{b_msgs}");
    let (_, a_msgs) = send(get(
        &server,
        Some("repo-a"),
        "/api/v2/messages/coordination",
    ))
    .await;
    assert_eq!(a_msgs["messages"][0]["content"], "A only", "{a_msgs}");
    let (_, old) = send(get(&server, None, "/api/messages/coordination")).await;
    assert_eq!(old, json!([]), "the old route reads the default project");

    // The listing names every project with its counts.
    let (status, list) = send(get(&server, None, "/api/v2/projects")).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "repo-a", "repo-b"]);
    assert_eq!(list["projects"][1]["tasks"]["available"], 1, "{list}");
    assert_eq!(list["projects"][2]["tasks"]["claimed"], 1, "{list}");
    assert_eq!(list["projects"][2]["agents"], 1, "{list}");
    assert_eq!(list["projects"][1]["agents"], 0, "{list}");
}

#[tokio::test]
async fn pausing_one_project_leaves_the_other_granting_and_the_machine_switch_stops_both() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &[]);
    for p in ["a", "b"] {
        add_task(&server, Some(p), "t1", "one").await;
        add_task(&server, Some(p), "t2", "two").await;
    }
    let (status, _) = send(post(
        &server,
        Some("a"),
        "/api/v2/pause",
        json!({"paused": true}),
    ))
    .await;
    assert_eq!(status, 200);
    let refused = claim_next(&server, Some("a"), "x").await;
    assert_eq!(refused["paused"], true, "{refused}");
    let granted = claim_next(&server, Some("b"), "y").await;
    assert!(granted["task"].is_object(), "{granted}");
    let (_, b_pause) = send(get(&server, Some("b"), "/api/v2/pause")).await;
    assert_eq!(b_pause["paused"], false);

    // The machine's switch stops every project, and leaves their own as set.
    let (status, m) = send(post(
        &server,
        None,
        "/api/v2/pause/machine",
        json!({"paused": true, "reason": "upgrade"}),
    ))
    .await;
    assert_eq!((status, &m["paused"]), (200, &json!(true)), "{m}");
    assert_eq!(claim_next(&server, Some("b"), "y").await["paused"], true);
    let (_, old_available) = send(get(&server, None, "/api/tasks/available")).await;
    assert_eq!(old_available, json!([]));
    send(post(
        &server,
        None,
        "/api/v2/pause/machine",
        json!({"paused": false}),
    ))
    .await;
    assert!(claim_next(&server, Some("b"), "y").await["task"].is_object());
    assert_eq!(
        claim_next(&server, Some("a"), "x").await["paused"],
        true,
        "a's own switch is still on"
    );
}

#[tokio::test]
async fn projects_and_their_switches_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = Server::start_in(dir.path(), &[]);
        add_task(&server, Some("kept"), "t", "kept's task").await;
        let (status, _) = send(
            post(
                &server,
                Some("kept"),
                "/api/v2/pause",
                json!({"paused": true}),
            )
            .header("X-Hivelog-Repository", "github.com/example/kept"),
        )
        .await;
        assert_eq!(status, 200);
        send(post(
            &server,
            None,
            "/api/v2/pause/machine",
            json!({"paused": true}),
        ))
        .await;
        let mut server = server;
        assert!(server.terminate().success());
    }
    let server = Server::start_in(dir.path(), &[]);
    let (_, list) = send(get(&server, None, "/api/v2/projects")).await;
    let kept = list["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "kept")
        .cloned()
        .unwrap_or_else(|| panic!("kept is listed after a restart: {list}"));
    assert_eq!(kept["tasks"]["available"], 1, "{kept}");
    assert_eq!(kept["paused"], true);
    assert_eq!(kept["repository"], "github.com/example/kept");
    assert_eq!(list["machine_pause"]["paused"], true, "{list}");
    assert_eq!(task_ids(&server, Some("kept")).await, ["t"]);
}

#[tokio::test]
async fn a_bad_project_name_is_refused_and_the_number_of_projects_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--max-projects", "3"]);
    for bad in ["a.b", "*", "-x", "has space", &"x".repeat(65)] {
        let got = send(get(&server, Some(bad), "/api/tasks")).await;
        assert_error(&got, 422, "project");
    }
    let got = send(client().get(server.url("/api/tasks?project=a.b"))).await;
    assert_error(&got, 422, "project");
    // Looking at a project that does not exist makes none.
    assert_eq!(task_ids(&server, Some("ghost")).await, Vec::<String>::new());
    let (status, _) = send(get(&server, Some("ghost"), "/api/v2/pause")).await;
    assert_eq!(status, 200);
    let (_, list) = send(get(&server, None, "/api/v2/projects")).await;
    assert_eq!(list["projects"].as_array().map(Vec::len), Some(1), "{list}");
    // The default and two more; a third is refused, the others still work.
    add_task(&server, Some("one"), "t", "t").await;
    add_task(&server, Some("two"), "t", "t").await;
    let got = send(post(
        &server,
        Some("three"),
        "/api/tasks",
        json!({"task_id": "t", "title": "t", "description": ""}),
    ))
    .await;
    assert_error(&got, 422, "at most 3 projects");
    // Reading one more is still fine (and makes none).
    assert_eq!(task_ids(&server, Some("three")).await, Vec::<String>::new());
    assert_eq!(task_ids(&server, Some("two")).await, ["t"]);
    let (_, list) = send(get(&server, None, "/api/v2/projects")).await;
    assert_eq!(list["projects"].as_array().map(Vec::len), Some(3), "{list}");
}

#[tokio::test]
async fn metrics_label_tasks_by_project() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &[]);
    add_task(&server, Some("alpha"), "t", "t").await;
    add_task(&server, None, "u", "u").await;
    add_task(&server, None, "v", "v").await;
    let text = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"hivelog_tasks{project="alpha",status="available"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"hivelog_tasks{project="default",status="available"} 2"#),
        "{text}"
    );
    assert!(text.contains("hivelog_projects 2"), "{text}");
}

#[tokio::test]
async fn a_machine_slot_is_shared_by_every_project_and_a_project_slot_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &[]);
    let put = |project: &str, name: &str, body: Value| {
        client()
            .put(server.url(&format!("/api/v2/slots/{name}")))
            .header(HEADER, project)
            .json(&body)
    };
    let acquire = |project: &str, name: &str, agent: &str| {
        post(
            &server,
            Some(project),
            &format!("/api/v2/slots/{name}/acquire"),
            json!({"agent_id": agent}),
        )
    };
    let (status, slot) = send(put("a", "build", json!({"permits": 1, "scope": "machine"}))).await;
    assert_eq!(status, 200, "{slot}");
    assert_eq!(slot["scope"], "machine");
    let (status, lint) = send(put("a", "lint", json!({"permits": 1}))).await;
    assert_eq!((status, &lint["scope"]), (200, &json!("project")), "{lint}");

    // b takes the machine's only build permit; a then finds it full.
    let (status, got) = send(acquire("b", "build", "agent-b")).await;
    assert_eq!(status, 200, "{got}");
    let full = send(acquire("a", "build", "agent-a")).await;
    assert_error(&full, 409, "by agent-b");
    // a's lint slot is a's: b has none of that name, a has its permit free.
    assert_error(
        &send(acquire("b", "lint", "agent-b")).await,
        422,
        "no slot named lint",
    );
    assert_eq!(send(acquire("a", "lint", "agent-a")).await.0, 200);

    // Listings: each project sees its own and the machine's.
    let names = |body: &Value| -> Vec<String> {
        body["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}:{}",
                    s["name"].as_str().unwrap(),
                    s["scope"].as_str().unwrap()
                )
            })
            .collect()
    };
    let (_, in_a) = send(get(&server, Some("a"), "/api/v2/slots")).await;
    assert_eq!(names(&in_a), ["build:machine", "lint:project"]);
    let (_, in_b) = send(get(&server, Some("b"), "/api/v2/slots")).await;
    assert_eq!(names(&in_b), ["build:machine"]);

    // Released from b's side, a can take it.
    let (status, _) = send(post(
        &server,
        Some("b"),
        "/api/v2/slots/build/release",
        json!({"agent_id": "agent-b"}),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(send(acquire("a", "build", "agent-a")).await.0, 200);
}
