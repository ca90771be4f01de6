//! The command line where a slip costs something: `stream purge` asks on a
//! terminal, Ctrl-C in the middle of a bulk command says how far it got,
//! `serve` on a busy port touches nothing and says what to do, and a
//! plain-text result is stored as an object old clients can read.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{client, send, Server};
use serde_json::json;

fn hivelog() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hivelog"));
    cmd.env("NO_COLOR", "1").env_remove("HIVELOG_TOKEN");
    cmd
}

fn has_script() -> bool {
    Command::new("script").arg("--version").output().is_ok()
}

#[tokio::test]
async fn purge_asks_on_a_terminal_and_not_in_a_script() {
    let s = Server::start();
    let c = client();
    for i in 0..3 {
        send(c.post(s.url("/api/pub/mjwork.note")).body(format!("n{i}"))).await;
    }
    let stored = || async {
        send(c.get(s.url("/api/streams/MJ_ONLINE_WORK"))).await.1["state"]["messages"].as_u64()
    };
    if has_script() {
        // On a pseudo-terminal: the question, and "n" keeps everything.
        let line = format!(
            "{} --server {} stream purge MJ_ONLINE_WORK",
            env!("CARGO_BIN_EXE_hivelog"),
            s.base
        );
        let mut child = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"n\n").unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Delete every message from MJ_ONLINE_WORK (3 stored)?"),
            "{text}"
        );
        assert!(text.contains("Nothing purged"), "{text}");
        assert_eq!(stored().await, Some(3));
    } else {
        eprintln!("SKIPPED the terminal half: `script` (util-linux) is not installed");
    }
    // Without a terminal (a script, CI) it does not ask.
    let out = hivelog()
        .args(["--server", &s.base, "stream", "purge", "MJ_ONLINE_WORK"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stored().await, Some(0));
}

#[tokio::test]
async fn ctrl_c_during_a_bulk_publish_says_how_far_it_got() {
    let s = Server::start();
    let child = hivelog()
        .args([
            "--server",
            &s.base,
            "pub",
            "mjwork.bulk",
            "m {{n}}",
            "--count",
            "1000000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until some messages are stored, then interrupt it.
    let c = client();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = send(c.get(s.url("/api/streams/MJ_ONLINE_WORK"))).await.1;
        if info["state"]["messages"].as_u64() >= Some(20) {
            break;
        }
        assert!(Instant::now() < deadline, "the publisher made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let published: u64 = stderr
        .split("interrupted: published ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {stderr:?}"));
    assert!(
        stderr.contains("of 1000000 messages to mjwork.bulk"),
        "{stderr}"
    );
    let stored = send(c.get(s.url("/api/streams/MJ_ONLINE_WORK"))).await.1["state"]["messages"]
        .as_u64()
        .unwrap();
    // The one in flight may or may not have been stored.
    assert!(
        stored == published || stored == published + 1,
        "said {published}, stored {stored}"
    );
}

#[test]
fn serve_on_a_busy_port_touches_nothing_and_names_the_fix() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("never-created");
    let out = hivelog()
        .args(["serve", "--listen", &addr, "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(stderr.contains("--listen 127.0.0.1:"), "{stderr}");
    assert!(!data.exists(), "the data directory was created anyway");
}

#[tokio::test]
async fn a_plain_text_result_is_stored_as_an_object() {
    let s = Server::start();
    let run = |args: &[&str]| {
        let out = hivelog()
            .args(["--server", &s.base])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    run(&["task", "add", "t1", "One"]);
    run(&["task", "claim", "t1", "--agent", "a"]);
    run(&[
        "task", "complete", "t1", "--agent", "a", "--result", "all good",
    ]);
    let t = send(client().get(s.url("/api/tasks/t1"))).await.1;
    assert_eq!(t["result"], json!({"text": "all good"}));
    run(&["task", "add", "t2", "Two"]);
    run(&["task", "claim", "t2", "--agent", "a"]);
    run(&[
        "task", "complete", "t2", "--agent", "a", "--result", "[1,2]",
    ]);
    let t = send(client().get(s.url("/api/tasks/t2"))).await.1;
    assert_eq!(t["result"], json!({"value": [1, 2]}));
}

#[test]
fn the_numbering_placeholder_reads_right_in_help() {
    let out = hivelog().args(["pub", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("`{{ n }}` in it"), "{help}");
    assert!(!help.contains("`{\n"), "garbled: {help}");
}
