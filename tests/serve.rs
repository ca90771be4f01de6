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
