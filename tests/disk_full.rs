//! A disk that fills up, for real: the data directory lives on lossyfs
//! (tests/common/lossyfs.rs) with a quota, so writes past it fail with
//! ENOSPC as on a full disk. The server must answer new writes with 507
//! and a clear detail, keep serving reads, lose nothing it answered, and
//! take writes again by itself once space returns.
//!
//! Needs FUSE; without it the tests say SKIPPED (`HIVELOG_REQUIRE_FUSE=1`,
//! set by `.ci/run`, makes that a failure).

mod common;
#[path = "common/lossyfs.rs"]
mod lossyfs;

use std::time::{Duration, Instant};

use common::{client, send, Server};
use serde_json::{json, Value};

const MIB: u64 = 1024 * 1024;

async fn publish(server: &Server, payload: &str) -> (u16, Value) {
    send(
        client()
            .post(server.url("/api/pub/disk.data"))
            .body(payload.to_string()),
    )
    .await
}

/// Publishes messages of `size` bytes until the server refuses one;
/// returns the answered payloads by sequence and the refusal.
async fn fill_with(
    server: &Server,
    answered: &mut Vec<(u64, String)>,
    size: usize,
) -> (u16, Value) {
    for i in 0..200_000 {
        let payload = format!("{i:06}{}", "x".repeat(size));
        let (status, body) = publish(server, &payload).await;
        if status != 200 {
            return (status, body);
        }
        answered.push((body["seq"].as_u64().unwrap(), payload));
    }
    panic!("200,000 messages of {size} bytes fitted under the quota");
}

async fn fill(server: &Server, answered: &mut Vec<(u64, String)>) -> (u16, Value) {
    fill_with(server, answered, 32 * 1024).await
}

async fn assert_all_there(server: &Server, answered: &[(u64, String)]) {
    for (seq, payload) in answered {
        let (status, m) =
            send(client().get(server.url(&format!("/api/streams/DISK/messages/{seq}")))).await;
        assert_eq!(status, 200, "answered #{seq} is gone: {m}");
        assert_eq!(m["text"].as_str(), Some(payload.as_str()), "#{seq} changed");
    }
}

/// A server on a fresh lossyfs mount, with the DISK stream created. The
/// temp dirs and the mount must outlive the server: drop them after it.
struct Rig {
    server: Server,
    data: std::path::PathBuf,
    mount: lossyfs::Mount,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

async fn rig(args: &[&str]) -> Rig {
    let backing = tempfile::tempdir().unwrap();
    let mnt = tempfile::tempdir().unwrap();
    let data = mnt.path().join("data");
    let mount = lossyfs::mount(backing.path(), mnt.path()).expect("mount lossyfs");
    let server = Server::start_in(&data, args);
    let (status, body) = send(
        client()
            .post(server.url("/api/streams"))
            .json(&json!({"name": "DISK", "subjects": ["disk.>"]})),
    )
    .await;
    assert!(status < 300, "{body}");
    Rig {
        server,
        data,
        mount,
        _dirs: (backing, mnt),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_with_507_serves_reads_and_recovers_when_space_returns() {
    if !lossyfs::available_or_skip(
        "a_full_disk_refuses_writes_with_507_serves_reads_and_recovers_when_space_returns",
    ) {
        return;
    }
    let args = ["--min-free-disk-mb", "4"];
    let Rig {
        mut server,
        data,
        mount,
        _dirs,
    } = rig(&args).await;
    let c = client();
    let (status, body) = send(c.post(server.url("/api/tasks")).json(
        &json!({"task_id": "before", "title": "written before the disk filled", "description": ""}),
    ))
    .await;
    assert_eq!(status, 200, "{body}");

    // Leave 3 MiB above the 4 MiB reserve.
    mount
        .control
        .set_quota(Some(mount.control.used() + 7 * MIB));
    let mut answered = Vec::new();
    let (status, body) = fill(&server, &mut answered).await;
    assert_eq!(status, 507, "a full disk must be 507: {body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("disk") && detail.contains("reads still work"),
        "{detail}"
    );
    assert!(
        answered.len() > 10,
        "only {} messages fitted",
        answered.len()
    );
    // Full for 32 KiB is not yet full for a few bytes: fill the rest.
    let (status, body) = fill_with(&server, &mut answered, 64).await;
    assert_eq!(status, 507, "{body}");

    // Full: writes of every kind say so, reads work, the server is up.
    let (status, body) = send(c.post(server.url("/api/tasks")).json(
        &json!({"task_id": "during", "title": "posted while the disk is full", "description": ""}),
    ))
    .await;
    assert_eq!(status, 507, "{body}");
    let (status, _) = send(c.get(server.url("/health"))).await;
    assert_eq!(status, 200);
    let (status, tasks) = send(c.get(server.url("/api/tasks"))).await;
    assert_eq!(status, 200);
    assert!(tasks
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["task_id"] == "before"));
    assert_all_there(&server, &answered).await;
    let metrics = c
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let free: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("hivelog_disk_free_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .expect("hivelog_disk_free_bytes in /metrics");
    assert!(free < (4 * MIB) as f64 + 64.0 * 1024.0, "free {free}");

    // Space returns: writes are taken again without a restart.
    mount.control.set_quota(None);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = publish(&server, "after").await;
        if status == 200 {
            answered.push((body["seq"].as_u64().unwrap(), "after".into()));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes still refused 5 s after space returned: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = send(c.post(server.url("/api/tasks")).json(
        &json!({"task_id": "after", "title": "posted once space returned", "description": ""}),
    ))
    .await;
    assert_eq!(status, 200, "{body}");

    // Nothing answered was lost, across a restart too.
    assert_eq!(server.terminate().code(), Some(0));
    server = Server::start_in(&data, &args);
    assert_all_there(&server, &answered).await;
    let (_, tasks) = send(c.get(server.url("/api/tasks"))).await;
    let ids: Vec<&str> = tasks
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["task_id"].as_str())
        .collect();
    assert!(
        ids.contains(&"before") && ids.contains(&"after") && !ids.contains(&"during"),
        "{ids:?}"
    );
    drop(server);
    drop(mount);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_reserve_a_write_error_stops_writes_cleanly_until_a_restart() {
    if !lossyfs::available_or_skip(
        "without_the_reserve_a_write_error_stops_writes_cleanly_until_a_restart",
    ) {
        return;
    }
    // With the reserve off, sled itself meets ENOSPC. It cannot go on
    // after that (its next flush would wait forever), so the store stops
    // writing: every later write fails at once and says to restart.
    let args = ["--min-free-disk-mb", "0"];
    let Rig {
        mut server,
        data,
        mount,
        _dirs,
    } = rig(&args).await;
    let c = client();
    mount
        .control
        .set_quota(Some(mount.control.used() + 3 * MIB));
    let mut answered = Vec::new();
    let (status, body) = fill(&server, &mut answered).await;
    assert_eq!(status, 507, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("No space left"),
        "{body}"
    );

    mount.control.set_quota(None);
    let started = Instant::now();
    let (status, body) = publish(&server, "after").await;
    assert!(
        status >= 500 && started.elapsed() < Duration::from_secs(5),
        "{status} after {:?}: {body}",
        started.elapsed()
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("restart hivelog"),
        "{body}"
    );
    let (status, _) = send(c.get(server.url("/health"))).await;
    assert_eq!(status, 200);
    let (status, first) = send(c.get(server.url("/api/streams/DISK/messages/1"))).await;
    assert_eq!(status, 200, "{first}");

    // A restart with room again: everything answered is there, writes work.
    server.kill();
    server = Server::start_in(&data, &args);
    assert_all_there(&server, &answered).await;
    let (status, body) = publish(&server, "after restart").await;
    assert_eq!(status, 200, "{body}");
    drop(server);
    drop(mount);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_data_directory_answers_503_keeps_reads_and_loses_nothing() {
    if !lossyfs::available_or_skip(
        "a_read_only_data_directory_answers_503_keeps_reads_and_loses_nothing",
    ) {
        return;
    }
    let Rig {
        mut server,
        data,
        mount,
        _dirs,
    } = rig(&[]).await;
    let c = client();
    let mut answered = Vec::new();
    for i in 0..20 {
        let payload = format!("before-{i}");
        let (status, body) = publish(&server, &payload).await;
        assert_eq!(status, 200, "{body}");
        answered.push((body["seq"].as_u64().unwrap(), payload));
    }

    // As a kernel does after an I/O error: the file system turns read-only.
    mount.control.set_read_only(true);
    let (status, body) = publish(&server, "refused").await;
    assert_eq!(status, 503, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("read-only") && detail.contains("reads still work"),
        "{detail}"
    );
    let (status, body) =
        send(c.post(server.url("/api/tasks")).json(
            &json!({"task_id": "t", "title": "posted on a read-only disk", "description": ""}),
        ))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_all_there(&server, &answered).await;
    let (status, _) = send(c.get(server.url("/health"))).await;
    assert_eq!(status, 200);

    // Writable again: a restart (the store stopped writing at the first
    // failure) finds everything answered, and takes writes.
    mount.control.set_read_only(false);
    server.kill();
    server = Server::start_in(&data, &[]);
    assert_all_there(&server, &answered).await;
    let (status, body) = publish(&server, "after").await;
    assert_eq!(status, 200, "{body}");
    drop(server);
    drop(mount);
}
