//! A data directory that is not hivelog's is refused, and left alone.

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
