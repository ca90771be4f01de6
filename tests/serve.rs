//! The server process: graceful shutdown on SIGTERM, refusing a data
//! directory from a newer format or in use by another server.

mod common;

use common::{client, send, Server};

#[tokio::test]
async fn sigterm_finishes_flushes_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(
        dir.path(),
        &["--sync", "interval", "--sync-interval", "10s"],
    );
    // With a 10 s flush interval, only the shutdown flush can make these durable.
    for i in 0..20 {
        send(
            client()
                .post(server.url("/api/pub/mjwork.status"))
                .body(format!("{i}")),
        )
        .await;
    }
    let status = server.terminate();
    assert_eq!(status.code(), Some(0));
    assert!(server
        .logs()
        .iter()
        .any(|l| l.contains("shut down cleanly")));
    let server = Server::start_in(dir.path(), &[]);
    let (_, info) = send(client().get(server.url("/api/streams/MJ_ONLINE_WORK"))).await;
    assert_eq!(info["state"]["messages"], 20);
}

#[test]
fn a_newer_on_disk_format_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path().join("sled")).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("format_version", &999u32.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let (status, logs) = Server::try_start_in(dir.path(), &[])
        .err()
        .expect("must refuse to start");
    assert_eq!(status.and_then(|s| s.code()), Some(1));
    let text = logs.join("\n");
    assert!(
        text.contains("format version 999") && text.contains("Upgrade hivelog"),
        "{text}"
    );
}

#[test]
fn a_data_dir_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Server::start_in(dir.path(), &[]);
    let (_, logs) = Server::try_start_in(dir.path(), &[])
        .err()
        .expect("second server must not start");
    assert!(
        logs.join("\n")
            .contains("in use by another hivelog process"),
        "{logs:?}"
    );
}

#[tokio::test]
async fn settings_come_from_flags_then_env_then_file_then_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hivelog.toml");
    std::fs::write(
        &file,
        "subject-prefix = \"filepfx\"\nagent_stale_after = \"5s\"\nagent-dead-after = \"60s\"\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let config = file.to_str().unwrap();
    let server = Server::try_start_with(
        &data,
        &["--config", config, "--subject-prefix", "flagpfx"],
        &[("HIVELOG_AGENT_STALE_AFTER", "7s")],
    )
    .unwrap_or_else(|(s, logs)| panic!("{s:?} {logs:?}"));
    let (_, h) = send(client().get(server.url("/health"))).await;
    assert_eq!(h["subject_prefix"], "flagpfx", "a flag beats the file");
    assert_eq!(
        h["agent_stale_after_seconds"], 7.0,
        "the environment beats the file"
    );
    assert_eq!(
        h["agent_dead_after_seconds"], 60.0,
        "the file beats the default"
    );
    let (_, ws) = send(client().get(server.url("/api/streams/MJ_ONLINE_WORK"))).await;
    assert_eq!(ws["config"]["subjects"][0], "flagpfx.>");
    drop(server);

    // Only the file: its values apply; defaults fill the rest.
    let server = Server::try_start_with(&dir.path().join("data2"), &["--config", config], &[])
        .unwrap_or_else(|(s, l)| panic!("{s:?} {l:?}"));
    let (_, h) = send(client().get(server.url("/health"))).await;
    assert_eq!(
        (
            h["subject_prefix"].clone(),
            h["agent_stale_after_seconds"].clone()
        ),
        (serde_json::json!("filepfx"), serde_json::json!(5.0))
    );
}

#[test]
fn a_typo_in_the_config_file_stops_the_server_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hivelog.toml");
    std::fs::write(&file, "lisen = \"127.0.0.1:9\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(["serve", "--config", file.to_str().unwrap(), "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown setting \"lisen\""), "{err}");
}

#[tokio::test]
async fn json_logs_ready_and_the_start_up_banner() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--log-format", "json"]);
    let (status, ready) = send(client().get(server.url("/ready"))).await;
    assert_eq!(
        (status, ready["status"].clone()),
        (200, serde_json::json!("ready"))
    );
    send(client().get(server.url("/health"))).await;
    let logs = server.logs();
    assert!(!logs.is_empty());
    for line in &logs {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
    // Every request is logged with its id, status and latency; the id is
    // returned to the client (or the client's own is kept).
    let resp = client()
        .get(server.url("/api/tasks/none"))
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(id.starts_with("req-"), "{id}");
    let mine = client()
        .get(server.url("/health"))
        .header("x-request-id", "mine-7")
        .send()
        .await
        .unwrap();
    assert_eq!(mine.headers()["x-request-id"], "mine-7");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logged = server
        .logs()
        .iter()
        .any(|l| l.contains(&id) && l.contains("\"status\":404") && l.contains("latency"));
    assert!(
        logged,
        "no log line with {id}, status and latency: {:?}",
        server.logs()
    );
    let banner = server.stdout().join("\n");
    assert!(
        banner.contains(&format!("dashboard  {}/", server.base)),
        "{banner}"
    );
    assert!(
        banner.contains("ws://")
            && banner.contains(&format!("API docs   {}/docs", server.base))
            && banner.contains("durable before answered"),
        "{banner}"
    );
}
