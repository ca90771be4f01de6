//! A data directory that is not hivelog's is refused and left alone;
//! a store whose files were damaged or replaced is refused, not opened empty.

mod common;

use common::Server;

#[test]
fn a_foreign_directory_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "my notes").unwrap();
    let Err((status, logs)) = Server::try_start_in(dir.path(), &[]) else {
        panic!("started in a directory full of someone else's files");
    };
    assert!(status.is_some_and(|s| !s.success()));
    let text = logs.join("\n");
    assert!(text.contains("holds no hivelog data"), "{text}");
    assert!(
        text.contains("--data-dir"),
        "the message says what to do: {text}"
    );
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec!["notes.txt".to_string()],
        "nothing was written there"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "my notes"
    );
}

/// A store with 50 messages and a task, stopped cleanly.
async fn filled(dir: &std::path::Path) {
    let mut server = Server::start_in(dir, &[]);
    let c = common::client();
    for i in 0..50 {
        let (status, _) = common::send(
            c.post(server.url("/api/pub/mjwork.notes"))
                .body(format!("note {i}")),
        )
        .await;
        assert_eq!(status, 200);
    }
    assert_eq!(server.terminate().code(), Some(0));
}

fn refused(dir: &std::path::Path) -> String {
    let Err((status, logs)) = Server::try_start_in(dir, &[]) else {
        panic!("started on a damaged store");
    };
    assert!(status.is_some_and(|s| !s.success()));
    logs.join("\n")
}

#[tokio::test]
async fn a_damaged_store_is_refused_with_what_to_do_instead_of_opening_empty() {
    // Each way the store's log file can be lost: sled alone would open
    // every one of these as an empty or shorter store and carry on.
    type Damage = fn(&std::path::Path);
    let cases: [(&str, Damage, &str); 5] = [
        (
            "overwritten",
            |db| {
                let len = std::fs::metadata(db).unwrap().len() as usize;
                std::fs::write(db, vec![0x5a; len]).unwrap();
            },
            "is empty or unreadable",
        ),
        (
            "a damaged block",
            |db| {
                use std::os::unix::fs::FileExt;
                let f = std::fs::OpenOptions::new().write(true).open(db).unwrap();
                let len = f.metadata().unwrap().len();
                f.write_all_at(&[0xa5; 4096], len / 2).unwrap();
            },
            // sled reads it as shorter, or not at all, by where the block falls.
            "its files were damaged or replaced",
        ),
        (
            "truncated",
            |db| std::fs::File::create(db).map(|_| ()).unwrap(),
            "is empty or unreadable",
        ),
        (
            "removed",
            |db| std::fs::remove_file(db).unwrap(),
            "is empty or unreadable",
        ),
        (
            "its directory removed",
            |db| std::fs::remove_dir_all(db.parent().unwrap()).unwrap(),
            "its store (sled/) is gone",
        ),
    ];
    for (how, damage, needle) in cases {
        let dir = tempfile::tempdir().unwrap();
        filled(dir.path()).await;
        damage(&dir.path().join("sled/db"));
        let text = refused(dir.path());
        assert!(text.contains(needle), "{how}: {text}");
        assert!(
            text.contains("Restore") && text.contains("hivelog.manifest"),
            "{how}: the message says what to do: {text}"
        );
        // It stays refused (nothing hivelog did made it look healthy).
        let again = refused(dir.path());
        assert!(again.contains(needle), "{how}, second start: {again}");
    }

    // The way out the message names: without the manifest, the store
    // opens with what is left, and a new manifest is written.
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path()).await;
    std::fs::remove_file(dir.path().join("sled/db")).unwrap();
    refused(dir.path());
    std::fs::remove_file(dir.path().join("hivelog.manifest")).unwrap();
    let server = Server::start_in(dir.path(), &[]);
    let (status, _) = common::send(common::client().get(server.url("/health"))).await;
    assert_eq!(status, 200);
    assert!(dir.path().join("hivelog.manifest").exists());
}

#[tokio::test]
async fn a_deleted_stream_and_a_crash_do_not_make_a_healthy_store_look_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &[]);
    let c = common::client();
    let (status, _) = common::send(
        c.post(server.url("/api/streams"))
            .json(&serde_json::json!({"name": "GONE", "subjects": ["gone.>"]})),
    )
    .await;
    assert!(status < 300);
    for i in 0..5 {
        common::send(c.post(server.url("/api/pub/gone.x")).body(format!("{i}"))).await;
    }
    // A checkpoint records GONE at #5 (the sweeper writes one every 5 s).
    tokio::time::sleep(std::time::Duration::from_millis(5_500)).await;
    let (status, _) = common::send(c.delete(server.url("/api/streams/GONE"))).await;
    assert!(status < 300);
    // Re-created under the same name, it starts again at #1.
    common::send(
        c.post(server.url("/api/streams"))
            .json(&serde_json::json!({"name": "GONE", "subjects": ["gone.>"]})),
    )
    .await;
    common::send(c.post(server.url("/api/pub/gone.x")).body("again")).await;
    server.kill();
    let server = Server::start_in(dir.path(), &[]);
    let (_, info) = common::send(c.get(server.url("/api/streams/GONE"))).await;
    assert_eq!(info["state"]["last_seq"], 1);
}
