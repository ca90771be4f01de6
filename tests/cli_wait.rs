//! `hivelog wait`, as hook loops run it (`while hivelog wait --agent A;
//! do …; done`): it blocks until something new arrives, reports each item
//! once across runs, consumes nothing unless `--ack` (and then only what
//! it printed), consumes nothing when killed mid-wait, and tells its
//! outcomes apart by exit status: 0 arrived, 1 timed out, 2 usage error,
//! 3 server unreachable or token refused.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{client, send, Server};
use serde_json::json;

/// Runs `hivelog` with `wait`'s memory in a directory of the test's own.
fn hivelog(state: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(args)
        .env("XDG_STATE_HOME", state)
        .env("XDG_CONFIG_HOME", state)
        .env_remove("HIVELOG_TOKEN")
        .output()
        .expect("run hivelog")
}

async fn wait(server: &Server, state: &std::path::Path, extra: &[&str]) -> (Output, Duration) {
    let (base, state) = (server.base.clone(), state.to_path_buf());
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut args = vec!["--server", &base, "wait", "--agent", "ada"];
        args.extend(extra.iter().map(String::as_str));
        let started = Instant::now();
        let out = hivelog(&state, &args);
        (out, started.elapsed())
    })
    .await
    .unwrap()
}

async fn mention(server: &Server, text: &str) {
    let body =
        json!({"agent_id": "bob", "channel": "coordination", "content": format!("@ada {text}")});
    assert_eq!(
        send(client().post(server.url("/api/messages")).json(&body))
            .await
            .0,
        200
    );
}

async fn unread(server: &Server) -> usize {
    let (_, inbox) = send(client().get(server.url("/api/v2/agents/ada/inbox"))).await;
    inbox["items"].as_array().unwrap().len()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
async fn wait_blocks_until_something_arrives_and_times_out_otherwise() {
    let server = Server::start();
    let state = tempfile::tempdir().unwrap();
    let (quiet, _) = wait(&server, state.path(), &["--timeout", "1s"]).await;
    assert_eq!(quiet.status.code(), Some(1), "nothing arrived: exit 1");
    assert!(String::from_utf8_lossy(&quiet.stderr).contains("nothing arrived for ada"));
    let waiting = {
        let (base, state) = (server.base.clone(), state.path().to_path_buf());
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let args = [
                "--server",
                &base,
                "wait",
                "--agent",
                "ada",
                "--timeout",
                "30s",
            ];
            (hivelog(&state, &args), started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    mention(&server, "ship it").await;
    let (out, took) = waiting.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "message from bob: @ada ship it");
    assert!(
        took < Duration::from_secs(10),
        "woke at once, not at the timeout"
    );
}

#[tokio::test]
async fn a_loop_of_waits_reports_each_item_once_and_consumes_nothing() {
    let server = Server::start();
    let state = tempfile::tempdir().unwrap();
    mention(&server, "rebase please").await;
    let (first, _) = wait(&server, state.path(), &["--timeout", "1s"]).await;
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(stdout(&first), "message from bob: @ada rebase please");
    // Run again: the item is not new, so it waits (no spinning).
    let (second, took) = wait(&server, state.path(), &["--timeout", "1s"]).await;
    assert_eq!(second.status.code(), Some(1), "{}", stdout(&second));
    assert!(
        took >= Duration::from_millis(900),
        "returned after {took:?}"
    );
    assert_eq!(unread(&server).await, 1, "nothing was consumed");
    // Something newer wakes the next run, which reports only that.
    mention(&server, "and run the tests").await;
    let (third, _) = wait(&server, state.path(), &["--timeout", "1s"]).await;
    assert_eq!(stdout(&third), "message from bob: @ada and run the tests");
    // --all reports every unread item again.
    let (all, _) = wait(&server, state.path(), &["--timeout", "1s", "--all"]).await;
    assert_eq!(stdout(&all).lines().count(), 2, "{}", stdout(&all));
    assert_eq!(unread(&server).await, 2);
}

#[tokio::test]
async fn ack_consumes_what_was_printed_and_a_killed_wait_consumes_nothing() {
    let server = Server::start();
    let state = tempfile::tempdir().unwrap();
    let mut killed = Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args([
            "--server",
            &server.base,
            "wait",
            "--agent",
            "ada",
            "--ack",
            "--timeout",
            "30s",
        ])
        .env("XDG_STATE_HOME", state.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    killed.kill().unwrap();
    killed.wait().unwrap();
    mention(&server, "are you there").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(unread(&server).await, 1, "a killed wait consumed nothing");

    let (out, _) = wait(&server, state.path(), &["--ack", "--timeout", "5s"]).await;
    assert_eq!(stdout(&out), "message from bob: @ada are you there");
    assert_eq!(unread(&server).await, 0, "what was printed is acked");
    let (again, _) = wait(
        &server,
        state.path(),
        &["--ack", "--all", "--timeout", "1s"],
    )
    .await;
    assert_eq!(again.status.code(), Some(1));
}

#[tokio::test]
async fn a_server_started_afresh_at_the_same_address_is_not_skipped() {
    let addr = common::free_addr();
    let state = tempfile::tempdir().unwrap();
    let first_dir = tempfile::tempdir().unwrap();
    let first = Server::start_in(first_dir.path(), &["--listen", &addr]);
    for i in 0..5 {
        mention(&first, &format!("old {i}")).await;
    }
    let (out, _) = wait(&first, state.path(), &["--timeout", "1s"]).await;
    assert_eq!(stdout(&out).lines().count(), 5, "{}", stdout(&out));
    drop(first);
    // A new store at the same address: its sequences start again, below
    // what the last wait reported.
    let second_dir = tempfile::tempdir().unwrap();
    let second = Server::start_in(second_dir.path(), &["--listen", &addr]);
    mention(&second, "on the new server").await;
    let (out, _) = wait(&second, state.path(), &["--timeout", "2s"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "message from bob: @ada on the new server");
}

#[tokio::test]
async fn exit_status_tells_usage_errors_from_an_unreachable_or_refusing_server() {
    let state = tempfile::tempdir().unwrap();
    let nowhere = format!("http://{}", common::free_addr());
    let args = [
        "--server",
        &nowhere,
        "wait",
        "--agent",
        "ada",
        "--timeout",
        "1s",
    ];
    let out = hivelog(state.path(), &args);
    assert_eq!(out.status.code(), Some(3), "unreachable");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach hivelog"));

    let dir = tempfile::tempdir().unwrap();
    let guarded = Server::start_in(dir.path(), &["--token", "s3cret"]);
    let args = [
        "--server",
        &guarded.base,
        "wait",
        "--agent",
        "ada",
        "--timeout",
        "1s",
    ];
    assert_eq!(
        hivelog(state.path(), &args).status.code(),
        Some(3),
        "no token"
    );
    let mut with_token = args.to_vec();
    with_token.extend(["--token", "wrong"]);
    assert_eq!(
        hivelog(state.path(), &with_token).status.code(),
        Some(3),
        "wrong token"
    );
    let mut right = args.to_vec();
    right.extend(["--token", "s3cret"]);
    assert_eq!(
        hivelog(state.path(), &right).status.code(),
        Some(1),
        "right token: timed out"
    );

    let usage = [
        "--server",
        &guarded.base,
        "wait",
        "--agent",
        "ada",
        "--timeout",
        "soon",
    ];
    assert_eq!(
        hivelog(state.path(), &usage).status.code(),
        Some(2),
        "bad duration"
    );
    assert_eq!(
        hivelog(state.path(), &["wait"]).status.code(),
        Some(2),
        "no agent"
    );
    let bad_agent = [
        "--server",
        &guarded.base,
        "--token",
        "s3cret",
        "wait",
        "--agent",
        "a b",
        "--timeout",
        "1s",
    ];
    assert_eq!(
        hivelog(state.path(), &bad_agent).status.code(),
        Some(2),
        "bad agent id"
    );
}

/// One agent name in two projects has two inboxes, and `wait` remembers
/// what it reported in each apart: what it reported in one does not hide
/// what arrived earlier in the other.
#[tokio::test]
async fn each_project_has_its_own_inbox_and_its_own_memory() {
    let server = Server::start();
    let state = tempfile::tempdir().unwrap();
    let note = |project: &'static str, text: &'static str| {
        let body = json!({"agent_id": "bob", "channel": "coordination", "content": format!("@ada {text}")});
        client()
            .post(server.url("/api/messages"))
            .header("X-Hivelog-Project", project)
            .json(&body)
    };
    assert_eq!(send(note("beta", "first, in beta")).await.0, 200);
    assert_eq!(send(note("alpha", "later, in alpha")).await.0, 200);
    assert_eq!(send(note("beta", "last, in beta")).await.0, 200);
    let (alpha, _) = wait(
        &server,
        state.path(),
        &["--timeout", "2s", "--project", "alpha"],
    )
    .await;
    assert_eq!(alpha.status.code(), Some(0));
    assert!(
        stdout(&alpha).contains("later, in alpha"),
        "{}",
        stdout(&alpha)
    );
    assert!(!stdout(&alpha).contains("in beta"), "{}", stdout(&alpha));
    let (beta, _) = wait(
        &server,
        state.path(),
        &["--timeout", "2s", "--project", "beta"],
    )
    .await;
    assert_eq!(
        beta.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&beta.stderr)
    );
    assert!(
        stdout(&beta).contains("first, in beta"),
        "{}",
        stdout(&beta)
    );
    assert!(stdout(&beta).contains("last, in beta"), "{}", stdout(&beta));
    // The default project's inbox has none of it.
    let (default, _) = wait(&server, state.path(), &["--timeout", "1s"]).await;
    assert_eq!(default.status.code(), Some(1));
}
