//! Projects as a new user meets them: real git repositories made here
//! (`git init`, `git worktree add`), each set up with `hivelog setup
//! claude` against one server, then driven through the MCP configuration
//! setup wrote (the official Python SDK over the stdio bridge), the CLI
//! and the compatible HTTP routes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{client, send, Server};
use serde_json::{json, Value};

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.test"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A repository at `dir` with one commit holding `src/main.rs`.
fn repository(dir: &Path) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "first"]);
}

fn hivelog(server: &Server, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .current_dir(dir)
        .args(["--server", &server.base])
        .args(args)
        .env_remove("HIVELOG_PROJECT")
        .env_remove("HIVELOG_AGENT")
        .env_remove("HIVELOG_TOKEN")
        .output()
        .expect("run hivelog")
}

/// `hivelog setup claude` in `dir`; the project and agent it configured.
fn setup(server: &Server, dir: &Path) -> (String, String) {
    let out = hivelog(server, dir, &["setup", "claude"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(".mcp.json")).unwrap()).unwrap();
    let entry = &doc["mcpServers"]["hivelog"];
    let project = entry["env"]["HIVELOG_PROJECT"]
        .as_str()
        .unwrap()
        .to_string();
    let args = entry["args"].as_array().unwrap();
    let agent = args[args.len() - 1].as_str().unwrap().to_string();
    (project, agent)
}

struct Checkouts {
    _root: tempfile::TempDir,
    a: PathBuf,
    a_worktree: PathBuf,
    b: PathBuf,
}

/// Repository A with a second worktree, and B, a different repository
/// whose directory is also called `app`.
fn checkouts() -> Checkouts {
    let root = tempfile::tempdir().unwrap();
    let a = root.path().join("one/app");
    let b = root.path().join("two/app");
    let a_worktree = root.path().join("app-feature");
    repository(&a);
    repository(&b);
    git(
        &a,
        &[
            "worktree",
            "add",
            "-q",
            a_worktree.to_str().unwrap(),
            "-b",
            "feature",
        ],
    );
    Checkouts {
        a: a.canonicalize().unwrap(),
        a_worktree: a_worktree.canonicalize().unwrap(),
        b: b.canonicalize().unwrap(),
        _root: root,
    }
}

#[tokio::test]
async fn repositories_are_projects_and_worktrees_of_one_share_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &[]);
    let c = checkouts();
    let (project_a, agent_a) = setup(&server, &c.a);
    let (project_wt, agent_wt) = setup(&server, &c.a_worktree);
    let (project_b, agent_b) = setup(&server, &c.b);
    assert_eq!(
        project_a, project_wt,
        "the worktree is the repository's project"
    );
    assert_ne!(
        project_a, project_b,
        "two repositories named app are two projects"
    );
    assert!(
        project_a.starts_with("app-") && project_b.starts_with("app-"),
        "{project_a} {project_b}"
    );
    let agents = [&agent_a, &agent_wt, &agent_b];
    for (i, x) in agents.iter().enumerate() {
        for y in &agents[i + 1..] {
            assert_ne!(
                x, y,
                "default agent names are unique across projects and worktrees"
            );
        }
    }

    if common::python::mcp_sdk() {
        let args = vec![
            common::python::script("projects_git.py"),
            c.a.display().to_string(),
            c.a_worktree.display().to_string(),
            c.b.display().to_string(),
        ];
        common::python::run(args, "projects: ok").await;
    } else {
        // Without the SDK, the same calls over HTTP with the project
        // header, so the rest of this test has its state.
        for (project, title) in [
            (&project_a, "A: fix the tests"),
            (&project_b, "B: fix the tests"),
        ] {
            let made = send(
                client()
                    .post(server.url("/api/tasks"))
                    .header("X-Hivelog-Project", project.as_str())
                    .json(&json!({"task_id": "fix-tests", "title": title, "description": ""})),
            )
            .await;
            assert_eq!(made.0, 200, "{}", made.1);
        }
        let held = send(
            client()
                .post(server.url("/api/v2/reservations"))
                .header("X-Hivelog-Project", project_a.as_str())
                .json(&json!({"agent_id": agent_a, "globs": ["src/main.rs"]})),
        )
        .await;
        assert_eq!(held.0, 200, "{}", held.1);
    }

    // The pre-commit check, run in the worktree (from a subdirectory, as
    // a person might), finds the project setup recorded in git and names
    // A's agent; in B the same file is free of A's reservation.
    let check = hivelog(
        &server,
        &c.a_worktree.join("src"),
        &["reservations", "check", "main.rs", "--agent", &agent_wt],
    );
    let said = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("src/main.rs is reserved by {agent_a}")),
        "{said}"
    );
    let in_b = hivelog(
        &server,
        &c.b,
        &["reservations", "check", "src/main.rs", "--agent", &agent_b],
    );
    assert!(
        in_b.status.success(),
        "{}",
        String::from_utf8_lossy(&in_b.stderr)
    );

    // The old routes are the default project: none of this is there.
    let (_, tasks) = send(client().get(server.url("/api/tasks"))).await;
    assert_eq!(tasks, json!([]));
    let (_, agents) = send(client().get(server.url("/api/agents"))).await;
    assert_eq!(agents, json!([]));

    // Pause in A leaves B granting.
    let paused = hivelog(&server, &c.a, &["pause", "--reason", "A only"]);
    assert!(
        paused.status.success(),
        "{}",
        String::from_utf8_lossy(&paused.stderr)
    );
    assert!(String::from_utf8_lossy(&paused.stdout).contains(&project_a));
    let added = hivelog(&server, &c.b, &["task", "add", "second", "B: second"]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let claim = |project: &str| {
        client()
            .post(server.url("/api/tasks/claim-next"))
            .header("X-Hivelog-Project", project)
            .json(&json!({"agent_id": "someone"}))
    };
    let (status, got) = send(claim(&project_b)).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["task"]["task_id"], "second");
    let (status, refused) = send(claim(&project_a)).await;
    assert_eq!(status, 503, "{refused}");

    // `hivelog projects` lists both with their repositories.
    let listed = hivelog(&server, &c.b, &["projects"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(
        text.contains(&format!("* {project_b}")),
        "B's is marked current:\n{text}"
    );
    assert!(text.contains(&format!("{project_a} (paused)")), "{text}");
    assert!(
        text.contains(&c.a.join(".git").parent().unwrap().display().to_string()),
        "A's repository:\n{text}"
    );
}

#[tokio::test]
async fn setup_is_stable_and_project_overrides_git() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &[]);
    let c = checkouts();
    let first = setup(&server, &c.a);
    assert_eq!(
        setup(&server, &c.a),
        first,
        "a rerun keeps project and agent"
    );
    // An origin makes the identity the remote: a fresh clone elsewhere of
    // the same remote is the same project.
    git(
        &c.b,
        &["remote", "add", "origin", "git@github.com:me/app.git"],
    );
    let (by_origin, _) = setup(&server, &c.b);
    let clone = c.a.parent().unwrap().join("clone");
    repository(&clone);
    git(
        &clone,
        &["remote", "add", "origin", "https://github.com/me/app"],
    );
    let (cloned, _) = setup(&server, &clone);
    assert_eq!(by_origin, cloned, "one remote, one project");
    // --project wins, and is what the repository's CLI uses from then on.
    let out = hivelog(
        &server,
        &c.a,
        &["--project", "shared-board", "setup", "claude"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(c.a.join(".mcp.json")).unwrap()).unwrap();
    assert_eq!(
        doc["mcpServers"]["hivelog"]["env"]["HIVELOG_PROJECT"],
        "shared-board"
    );
    let added = hivelog(
        &server,
        &c.a_worktree,
        &["task", "add", "w", "from the worktree"],
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let (_, t) = send(
        client()
            .get(server.url("/api/tasks/w"))
            .header("X-Hivelog-Project", "shared-board"),
    )
    .await;
    assert_eq!(t["title"], "from the worktree", "{t}");
    // A bad name is refused before anything is written.
    std::fs::remove_file(c.b.join(".mcp.json")).unwrap();
    let bad = hivelog(&server, &c.b, &["--project", "no.dots", "setup", "claude"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--project"));
    assert!(!c.b.join(".mcp.json").exists());
}

#[tokio::test]
async fn the_cli_refuses_a_bad_project_name_and_survives_an_odd_repository_path() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &[]);
    let here = tempfile::tempdir().unwrap();
    let bad = hivelog(
        &server,
        here.path(),
        &["--project", "no.dots", "task", "ls"],
    );
    assert_eq!(bad.status.code(), Some(1));
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(
        said.contains("--project") && said.contains("no.dots"),
        "{said}"
    );
    // A repository path no header can carry is left out; the call works.
    let out = Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .current_dir(here.path())
        .args([
            "--server",
            &server.base,
            "--project",
            "odd",
            "task",
            "add",
            "t",
            "title",
        ])
        .env("HIVELOG_REPOSITORY", "/home/zoë/src/app")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, t) = send(
        client()
            .get(server.url("/api/tasks/t"))
            .header("X-Hivelog-Project", "odd"),
    )
    .await;
    assert_eq!(t["title"], "title");
}
