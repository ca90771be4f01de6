//! The client commands, run as the real binary against a real server:
//! each command's happy path, its error path (the server's detail, exit
//! status 1), and a server that is not there.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{client, send, Server};
use serde_json::{json, Value};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_with(server: &str, args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(args)
        .env("HIVELOG_SERVER", server)
        .env_remove("HIVELOG_TOKEN")
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hivelog");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    // A command that should end but does not fails the test instead of
    // hanging it.
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let what = format!("{args:?}");
    std::thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(60)).is_err() {
            eprintln!("{what} still running after 60 s; killing it");
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    });
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait");
    let _ = done.send(());
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(stderr).expect("utf-8 stderr"),
    };
    // Whatever happened, it must not be a crash, and piped output is never coloured.
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains("panicked"), "{args:?} panicked: {text}");
        assert!(
            !text.contains('\x1b'),
            "{args:?} printed colour into a pipe: {text:?}"
        );
    }
    run
}

fn run(server: &Server, args: &[&str]) -> Run {
    run_with(&server.base, args, None)
}

/// Runs a command that must succeed; returns its stdout.
fn ok(server: &Server, args: &[&str]) -> String {
    let r = run(server, args);
    assert_eq!(r.code, 0, "{args:?} failed: {}{}", r.stdout, r.stderr);
    r.stdout
}

/// Runs a command with `--json`; returns the parsed answer.
fn json_of(server: &Server, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = ok(server, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// Runs a command that must fail with exit status 1 and `needle` on stderr.
fn fails(server: &Server, args: &[&str], needle: &str) {
    let r = run(server, args);
    assert_eq!(r.code, 1, "{args:?} should fail: {}{}", r.stdout, r.stderr);
    assert!(r.stderr.starts_with("error: "), "{args:?}: {}", r.stderr);
    assert!(
        r.stderr.contains(needle),
        "{args:?}: expected {needle:?} in {}",
        r.stderr
    );
}

fn statuses(history: &Value) -> Vec<String> {
    history
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["task"]["status"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tasks_from_add_to_done_and_their_errors() {
    let s = Server::start();
    assert!(ok(
        &s,
        &[
            "task",
            "add",
            "t1",
            "Write the page",
            "--priority",
            "high",
            "--description",
            "docs/index"
        ]
    )
    .contains("Added t1"));
    let blocked = ok(
        &s,
        &["task", "add", "t2", "Review the page", "--blocked-by", "t1"],
    );
    assert!(blocked.contains("(blocked by t1)"), "{blocked}");
    // Adding an existing id updates it, and says so.
    let updated = ok(
        &s,
        &["task", "add", "t2", "Review the page", "--blocked-by", "t1"],
    );
    assert!(updated.starts_with("Updated t2"), "{updated}");
    ok(&s, &["task", "add", "t3", "Doomed", "--priority", "low"]);
    ok(
        &s,
        &["task", "add", "t4", "Handed back", "--priority", "low"],
    );
    ok(
        &s,
        &[
            "task",
            "add",
            "t5",
            "Not needed",
            "--priority",
            "low",
            "--capability",
            "gpu,cuda",
        ],
    );

    let table = ok(&s, &["task", "ls"]);
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("TASK") && header.contains("STATUS") && header.contains("TITLE"),
        "{table}"
    );
    for id in ["t1", "t2", "t3", "t4", "t5"] {
        assert!(
            table.lines().any(|l| l.starts_with(id)),
            "{id} missing:\n{table}"
        );
    }
    let listed = json_of(&s, &["task", "ls", "--status", "available", "--limit", "2"]);
    assert_eq!(listed["count"], 2);
    assert_eq!(listed["total"], 5);
    // A table cut short by --limit says how many more there are.
    let short = ok(&s, &["task", "ls", "--limit", "2"]);
    assert!(short.contains("… and 3 more"), "{short}");
    assert_eq!(
        json_of(&s, &["task", "show", "t5"])["task"]["capabilities"],
        json!(["gpu", "cuda"])
    );

    fails(&s, &["task", "claim", "t2", "--agent", "alice"], "t1");
    ok(&s, &["task", "claim", "t1", "--agent", "alice"]);
    fails(
        &s,
        &["task", "complete", "t1", "--agent", "mallory"],
        "HTTP 403",
    );
    // The CLI asks for precise answers: taken by someone else, or yours.
    fails(
        &s,
        &["task", "claim", "t1", "--agent", "bob"],
        "Task is claimed by alice, not available (HTTP 409)",
    );
    fails(
        &s,
        &["task", "claim", "t1", "--agent", "alice"],
        "already claimed by alice (you)",
    );
    ok(
        &s,
        &[
            "task",
            "complete",
            "t1",
            "--agent",
            "alice",
            "--result",
            r#"{"pages":3}"#,
        ],
    );
    let shown = json_of(&s, &["task", "show", "t1"]);
    assert_eq!(shown["task"]["result"], json!({"pages": 3}));
    assert_eq!(
        statuses(&shown["history"]),
        ["available", "claimed", "completed"]
    );
    let human = ok(&s, &["task", "show", "t1"]);
    assert!(
        human.contains("Write the page") && human.contains("SEQ"),
        "{human}"
    );

    // Priority then age: with t1 done, t2 (medium) is next for bob.
    let next = json_of(&s, &["task", "next", "--agent", "bob"]);
    assert_eq!(next["task"]["task_id"], "t2");
    ok(&s, &["task", "claim", "t3", "--agent", "carol"]);
    ok(
        &s,
        &[
            "task",
            "fail",
            "t3",
            "--agent",
            "carol",
            "--error",
            "disk full",
        ],
    );
    let t3 = json_of(&s, &["task", "show", "t3"])["task"].clone();
    assert_eq!(
        (t3["status"].as_str(), t3["error"].as_str()),
        (Some("failed"), Some("disk full"))
    );
    ok(&s, &["task", "claim", "t4", "--agent", "dave"]);
    ok(&s, &["task", "release", "t4", "--agent", "dave"]);
    assert_eq!(
        json_of(&s, &["task", "show", "t4"])["task"]["status"],
        "available"
    );
    ok(&s, &["task", "cancel", "t5", "--reason", "no GPU"]);
    assert_eq!(
        json_of(&s, &["task", "show", "t5"])["task"]["cancelled"],
        true
    );
    fails(&s, &["task", "cancel", "t5"], "HTTP 409");
    fails(&s, &["task", "show", "nope"], "Task not found");
    // Nobody can take t4 with --wait 0: bob holds t2 and t4 is free, so
    // claim it; then the queue is empty and `next` says so (exit 0).
    ok(&s, &["task", "claim", "t4", "--agent", "erin"]);
    assert!(ok(&s, &["task", "next", "--agent", "frank"]).contains("No task"));

    // Usage errors are clap's (exit 2), with the usage line.
    let r = run(&s, &["task", "add", "only-an-id"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("Usage:"), "{}", r.stderr);
    // A second add with the same dedup key adds nothing, and says so.
    let first = ok(
        &s,
        &["task", "add", "d1", "Nightly", "--dedup-key", "nightly"],
    );
    assert!(first.starts_with("Added d1"), "{first}");
    let second = ok(
        &s,
        &["task", "add", "d2", "Nightly", "--dedup-key", "nightly"],
    );
    assert!(
        second.starts_with("Already there (same dedup key): d1"),
        "{second}"
    );
}

#[test]
fn import_is_checked_first_and_safe_to_run_again() {
    let s = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let json_file = dir.path().join("tasks.json");
    std::fs::write(
        &json_file,
        json!([
            {"task_id": "a", "title": "A", "priority": "high"},
            {"task_id": "b", "title": "B", "blocked_by": ["a"]},
            {"task_id": "c", "title": "C"}
        ])
        .to_string(),
    )
    .unwrap();
    let first = json_of(&s, &["task", "import", json_file.to_str().unwrap()]);
    assert_eq!(first["added"], json!(["a", "b", "c"]));
    ok(&s, &["task", "claim", "a", "--agent", "alice"]);
    // Again: nothing added, nothing reset (a stays claimed).
    let again = json_of(&s, &["task", "import", json_file.to_str().unwrap()]);
    assert_eq!(
        (again["added"].clone(), again["skipped"].clone()),
        (json!([]), json!(["a", "b", "c"]))
    );
    assert_eq!(
        json_of(&s, &["task", "show", "a"])["task"]["status"],
        "claimed"
    );
    assert_eq!(
        json_of(&s, &["task", "show", "b"])["task"]["depends_on"],
        json!(["a"])
    );

    let yaml_file = dir.path().join("more.yaml");
    std::fs::write(&yaml_file, "tasks:\n  - task_id: d\n    title: From YAML\n    priority: low\n  - task_id: a\n    title: A\n").unwrap();
    let human = ok(&s, &["task", "import", yaml_file.to_str().unwrap()]);
    assert!(
        human.contains("Imported 1 new tasks; 1 already existed"),
        "{human}"
    );
    assert_eq!(
        json_of(&s, &["task", "show", "d"])["task"]["priority"],
        "low"
    );

    // From stdin.
    let r = run_with(
        &s.base,
        &["task", "import", "-"],
        Some(r#"[{"task_id":"e","title":"E"}]"#),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    // A bad file sends nothing at all.
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        json!([{"task_id": "x", "title": "X"}, {"task_id": "x", "title": "again"}]).to_string(),
    )
    .unwrap();
    fails(
        &s,
        &["task", "import", bad.to_str().unwrap()],
        "appears twice",
    );
    fails(&s, &["task", "show", "x"], "Task not found");
    std::fs::write(&bad, "{not json").unwrap();
    fails(
        &s,
        &["task", "import", bad.to_str().unwrap()],
        "not valid JSON",
    );
    fails(&s, &["task", "import", "/no/such/file.json"], "cannot read");
    // Refused by the server: reported per task, exit 1, the others added.
    std::fs::write(&bad, json!([{"task_id": "f", "title": "F"}, {"task_id": "g", "title": "G", "priority": "urgent"}]).to_string()).unwrap();
    let r = run(&s, &["task", "import", bad.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("g: ") && r.stderr.contains("refused"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(
        json_of(&s, &["task", "show", "f"])["task"]["status"],
        "available"
    );
    assert_eq!(json_of(&s, &["task", "ls"])["count"], 6);
}

#[tokio::test]
async fn publish_and_subscribe() {
    let s = Server::start();
    assert!(ok(&s, &["pub", "mjwork.cli", r#"{"n":0}"#]).contains("MJ_ONLINE_WORK seq 1"));
    let first = json_of(&s, &["pub", "mjwork.cli", "x", "--msg-id", "m-1"]);
    let dup = json_of(&s, &["pub", "mjwork.cli", "x", "--msg-id", "m-1"]);
    assert_eq!(
        (first["duplicate"].clone(), dup["duplicate"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(first["seq"], dup["seq"]);
    let r = run_with(
        &s.base,
        &["pub", "mjwork.stdin", "-", "-H", "source=pipe"],
        Some("from stdin\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (_, last) =
        send(client().get(s.url("/api/streams/MJ_ONLINE_WORK/last/mjwork.stdin"))).await;
    assert_eq!(
        (last["text"].as_str(), last["headers"]["source"].as_str()),
        (Some("from stdin\n"), Some("pipe"))
    );

    let bulk_pub = [
        "pub",
        "mjwork.bulk",
        "n={{n}}",
        "--count",
        "20",
        "--msg-id",
        "bulk-{{n}}",
    ];
    let bulk = json_of(&s, &bulk_pub);
    assert_eq!(
        (bulk["published"].clone(), bulk["duplicates"].clone()),
        (json!(20), json!(0))
    );
    let again = json_of(&s, &bulk_pub);
    assert_eq!(again["duplicates"], 20, "msg ids make the re-run a no-op");

    // History then stop after N; one JSON line per message, in order.
    let out = ok(
        &s,
        &["--json", "sub", "mjwork.bulk", "--all", "--count", "20"],
    );
    let texts: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        texts,
        (1..=20).map(|n| format!("n={n}")).collect::<Vec<_>>()
    );
    let human = ok(&s, &["sub", "mjwork.*", "--last", "--count", "1"]);
    assert!(
        human.contains("mjwork.bulk #") && human.trim_end().ends_with("n=20"),
        "{human}"
    );

    // Durable: the second run continues after what the first acknowledged.
    ok(
        &s,
        &[
            "sub",
            "mjwork.bulk",
            "--all",
            "--durable",
            "reader",
            "--count",
            "5",
        ],
    );
    let out = ok(
        &s,
        &[
            "--json",
            "sub",
            "mjwork.bulk",
            "--durable",
            "reader",
            "--count",
            "1",
        ],
    );
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap()["text"],
        "n=6"
    );

    // Live: the subscriber exits once a message published after it arrives.
    let mut live = Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(["--server", &s.base, "sub", "mjwork.live.>", "--count", "1"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while live.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "live subscriber never got a message"
        );
        send(
            client()
                .post(s.url("/api/pub/mjwork.live.ping"))
                .body("ping"),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = live.wait_with_output().unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(
        line.contains("mjwork.live.ping") && line.contains("ping"),
        "{line}"
    );

    fails(&s, &["sub", "bad..subject"], "invalid subject");
    fails(&s, &["sub", "nostream.>", "--durable", "d"], "no stream");
    fails(
        &s,
        &["sub", "mjwork.>", "--since", "yesterday-ish"],
        "--since",
    );
    fails(&s, &["pub", "bad subject", "x"], "HTTP 400");
    fails(
        &s,
        &["pub", "mjwork.x", "y", "-H", "no-equals-sign"],
        "NAME=VALUE",
    );
}

#[test]
fn streams_and_consumers() {
    let s = Server::start();
    let add = [
        "stream",
        "add",
        "ORDERS",
        "--subjects",
        "orders.>",
        "--max-age",
        "1d",
        "--max-msgs-per-subject",
        "100",
    ];
    assert!(ok(&s, &add).contains("ORDERS"));
    ok(&s, &add); // the same configuration again is fine
    fails(
        &s,
        &["stream", "add", "OTHER", "-s", "orders.eu"],
        "overlap",
    );
    // A duration the CLI cannot read is named before anything is sent.
    fails(
        &s,
        &["stream", "add", "BAD", "-s", "x.>", "--max-age", "soon"],
        "--max-age \"soon\"",
    );
    assert!(!ok(&s, &["stream", "ls"]).contains("BAD"));
    let table = ok(&s, &["stream", "ls"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("ORDERS") && l.contains("orders.>")),
        "{table}"
    );
    let info = json_of(&s, &["stream", "info", "ORDERS"]);
    assert_eq!(
        (
            info["config"]["max_age"].as_str(),
            info["config"]["max_msgs_per_subject"].as_u64()
        ),
        (Some("1d"), Some(100))
    );
    // The text forms read the answers into their types (ops::streams).
    let text = ok(&s, &["stream", "info", "ORDERS"]);
    for line in [
        "max msgs/subject  100",
        "max age           1d",
        "max msgs          unlimited",
        "subjects          orders.>",
        "description       -",
    ] {
        assert!(
            text.lines().any(|l| l.trim_end() == line),
            "{line:?} in\n{text}"
        );
    }
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("ORDERS") && l.trim_end().ends_with("1d")),
        "the max age column: {table}"
    );

    ok(
        &s,
        &[
            "consumer",
            "add",
            "ORDERS",
            "billing",
            "--filter",
            "orders.eu",
            "--ack-wait",
            "30s",
        ],
    );
    for n in 1..=3 {
        ok(&s, &["pub", "orders.eu", &format!("order {n}")]);
    }
    ok(&s, &["pub", "orders.us", "not for billing"]);
    let fetched = ok(
        &s,
        &["consumer", "next", "ORDERS", "billing", "--batch", "2"],
    );
    assert_eq!(fetched.lines().count(), 2, "{fetched}");
    assert!(
        fetched.contains("order 1") && fetched.contains("order 2"),
        "{fetched}"
    );
    let c = json_of(&s, &["consumer", "info", "ORDERS", "billing"]);
    assert_eq!(
        (c["num_ack_pending"].as_u64(), c["num_pending"].as_u64()),
        (Some(0), Some(1)),
        "{c}"
    );
    // The text form reads the answer into its type (ops::consumers).
    let info = ok(&s, &["consumer", "info", "ORDERS", "billing"]);
    for (field, value) in [
        ("filter", "orders.eu"),
        ("deliver", "all"),
        ("ack policy", "explicit"),
        ("ack wait", "30s"),
        ("max deliver", "-"),
        ("pending", "1"),
        ("ack pending", "0"),
    ] {
        assert!(
            info.lines()
                .any(|l| l.starts_with(&format!("{field} ")) && l.trim_end().ends_with(value)),
            "{field}: {value} in\n{info}"
        );
    }
    let rest = json_of(
        &s,
        &[
            "consumer", "next", "ORDERS", "billing", "--batch", "5", "--wait", "1s",
        ],
    );
    assert_eq!(rest["messages"].as_array().unwrap().len(), 1);
    assert!(ok(&s, &["consumer", "next", "ORDERS", "billing"]).contains("No messages"));
    assert!(ok(&s, &["consumer", "ls", "ORDERS"])
        .lines()
        .any(|l| l.starts_with("billing")));
    fails(&s, &["consumer", "info", "ORDERS", "nobody"], "HTTP 404");
    ok(&s, &["consumer", "rm", "ORDERS", "billing"]);

    assert!(ok(
        &s,
        &[
            "stream",
            "purge",
            "ORDERS",
            "--subject",
            "orders.eu",
            "--keep",
            "1"
        ]
    )
    .contains("Purged 2"));
    assert_eq!(
        json_of(&s, &["stream", "info", "ORDERS"])["state"]["messages"],
        2
    );
    ok(&s, &["stream", "rm", "ORDERS"]);
    fails(&s, &["stream", "info", "ORDERS"], "HTTP 404");
    fails(&s, &["stream", "rm", "ORDERS"], "HTTP 404");
}

#[tokio::test]
async fn agents_messages_and_status() {
    let s = Server::start();
    assert!(ok(&s, &["agents"]).contains("No agents"));
    let beat = json!({"agent_id": "alice", "status": "busy", "current_task": "t1", "needs_approval": true, "approval_message": "deploy?"});
    assert_eq!(
        send(client().post(s.url("/api/agents/heartbeat")).json(&beat))
            .await
            .0,
        200
    );
    let table = ok(&s, &["agents"]);
    let row = table
        .lines()
        .find(|l| l.starts_with("alice"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains("active") && row.contains("t1") && row.contains("NEEDED: deploy?"),
        "{row}"
    );
    assert_eq!(json_of(&s, &["agents", "--active"])["count"], 1);

    assert!(ok(
        &s,
        &[
            "msg",
            "send",
            "coordination",
            "@bob the schema is ready",
            "--agent",
            "alice"
        ]
    )
    .contains("Sent"));
    let tail = ok(&s, &["msg", "tail", "coordination"]);
    assert!(tail.contains("alice: @bob the schema is ready"), "{tail}");
    let tailed = ok(&s, &["--json", "msg", "tail", "coordination", "-n", "1"]);
    assert_eq!(
        serde_json::from_str::<Value>(tailed.trim()).unwrap()["mentions"],
        json!(["bob"])
    );
    fails(
        &s,
        &["msg", "send", "coordination", "hi", "--agent", ""],
        "HTTP 4",
    );

    // --follow prints what arrives after it started, as it arrives.
    let mut follow = Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args([
            "--server",
            &s.base,
            "msg",
            "tail",
            "coordination",
            "-n",
            "1",
            "--follow",
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let first = lines
        .recv_timeout(Duration::from_secs(15))
        .expect("the stored message");
    assert!(
        first.contains("alice: @bob"),
        "the stored message first: {first}"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    'wait: while Instant::now() < deadline {
        let post =
            json!({"agent_id": "carol", "channel": "coordination", "content": "live from carol"});
        send(client().post(s.url("/api/messages")).json(&post)).await;
        while let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            let live = line.contains("carol: live from carol");
            seen.push(line);
            if live {
                break 'wait;
            }
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(
        seen.iter().any(|l| l.contains("carol: live from carol")),
        "{seen:?}"
    );

    ok(&s, &["task", "add", "t1", "One"]);
    let status = ok(&s, &["status"]);
    for needle in [
        "version",
        env!("CARGO_PKG_VERSION"),
        "uptime",
        "1 active",
        "1 available",
        "MJ_ONLINE_WORK",
        "needed by alice",
    ] {
        assert!(status.contains(needle), "{needle:?} missing:\n{status}");
    }
    let status = json_of(&s, &["status"]);
    assert_eq!(status["agents_by_health"]["active"], 1);
    assert_eq!(status["health"]["tasks"]["available"], 1);
}

#[test]
fn a_server_that_is_not_there_gets_a_clear_message() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("http://127.0.0.1:{port}");
    for args in [
        &["status"][..],
        &["task", "ls"],
        &["task", "add", "a", "b"],
        &["pub", "mjwork.x", "y"],
        &["sub", "mjwork.>"],
        &["agents"],
        &["stream", "ls"],
        &["consumer", "ls", "S"],
        &["msg", "tail", "coordination"],
    ] {
        let r = run_with(&server, args, None);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("cannot reach hivelog at") && r.stderr.contains("hivelog serve"),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(
            r.stderr.lines().count(),
            1,
            "one line, no backtrace: {}",
            r.stderr
        );
    }
    let r = run_with("not-a-url", &["status"], None);
    assert!(
        r.code == 1 && r.stderr.contains("HIVELOG_SERVER"),
        "{}",
        r.stderr
    );
    let r = run_with("127.0.0.1:8001", &["status"], None);
    assert!(
        r.code == 1
            && r.stderr.contains("HIVELOG_SERVER \"127.0.0.1:8001\"")
            && r.stderr.contains("add http://, e.g. http://127.0.0.1:8001"),
        "{}",
        r.stderr
    );
}

#[test]
fn every_command_explains_itself() {
    let top = run_with("http://127.0.0.1:1", &["--help"], None);
    assert_eq!(top.code, 0);
    let commands = [
        "serve",
        "pub",
        "sub",
        "stream",
        "consumer",
        "task",
        "agents",
        "msg",
        "status",
        "completions",
    ];
    for c in commands {
        assert!(
            top.stdout.lines().any(|l| l.trim_start().starts_with(c)),
            "{c} not in --help:\n{}",
            top.stdout
        );
    }
    let nested = [
        vec!["stream", "ls"],
        vec!["stream", "info"],
        vec!["stream", "add"],
        vec!["stream", "rm"],
        vec!["stream", "purge"],
        vec!["consumer", "ls"],
        vec!["consumer", "info"],
        vec!["consumer", "add"],
        vec!["consumer", "rm"],
        vec!["consumer", "next"],
        vec!["task", "add"],
        vec!["task", "ls"],
        vec!["task", "show"],
        vec!["task", "claim"],
        vec!["task", "complete"],
        vec!["task", "fail"],
        vec!["task", "release"],
        vec!["task", "cancel"],
        vec!["task", "import"],
        vec!["task", "next"],
        vec!["msg", "send"],
        vec!["msg", "tail"],
    ];
    for args in commands.iter().map(|c| vec![*c]).chain(nested) {
        let mut with_help = args.clone();
        with_help.push("--help");
        let r = run_with("http://127.0.0.1:1", &with_help, None);
        assert_eq!(r.code, 0, "{args:?} --help: {}", r.stderr);
        assert!(
            r.stdout.contains("Usage: hivelog"),
            "{args:?}: {}",
            r.stdout
        );
        // A one-line description above the usage, not an empty stub.
        assert!(
            r.stdout.lines().next().is_some_and(|l| l.len() > 10),
            "{args:?}: {}",
            r.stdout
        );
    }
}

#[test]
fn colour_on_a_terminal_unless_no_color() {
    // `script` (util-linux) runs the command on a pseudo-terminal.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED: colour test needs `script` (util-linux) for a terminal");
        return;
    }
    let s = Server::start();
    ok(&s, &["task", "add", "t1", "One"]);
    let on_terminal = |no_color: bool| {
        let line = format!(
            "{} --server {} task ls",
            env!("CARGO_BIN_EXE_hivelog"),
            s.base
        );
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"])
            .env_remove("NO_COLOR");
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let coloured = on_terminal(false);
    assert!(
        coloured.contains('\x1b') && coloured.contains("t1"),
        "{coloured:?}"
    );
    let plain = on_terminal(true);
    assert!(!plain.contains('\x1b') && plain.contains("t1"), "{plain:?}");
}

#[test]
fn shell_completions_know_every_command() {
    for (shell, marker) in [
        ("bash", "_hivelog()"),
        ("zsh", "#compdef hivelog"),
        ("fish", "complete -c hivelog"),
    ] {
        let r = run_with("http://127.0.0.1:1", &["completions", shell], None);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        assert!(r.stdout.contains(marker), "{shell}");
        for word in ["claim", "import", "purge", "consumer", "durable"] {
            assert!(r.stdout.contains(word), "{shell} completion lacks {word}");
        }
    }
    let r = run_with("http://127.0.0.1:1", &["completions", "cmd.exe"], None);
    assert_eq!(r.code, 2, "an unknown shell is a usage error");
}
