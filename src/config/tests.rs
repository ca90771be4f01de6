use super::*;

#[test]
fn file_keys_map_to_env_vars_and_typos_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hivelog.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:9000\"\ntask_lease = \"30m\"\nmax-attempts = 5\n",
    )
    .unwrap();
    let mut got = file_settings(&path).unwrap();
    got.sort();
    assert_eq!(
        got,
        [
            ("HIVELOG_LISTEN".to_string(), "127.0.0.1:9000".to_string()),
            ("HIVELOG_MAX_ATTEMPTS".to_string(), "5".to_string()),
            ("HIVELOG_TASK_LEASE".to_string(), "30m".to_string()),
        ]
    );
    std::fs::write(&path, "lisen = \"x\"\n").unwrap();
    assert!(file_settings(&path)
        .unwrap_err()
        .contains("unknown setting \"lisen\""));
    std::fs::write(&path, "listen = [1]\n").unwrap();
    assert!(file_settings(&path).is_err());
    assert!(file_settings(&dir.path().join("missing.toml"))
        .unwrap_err()
        .contains("cannot read"));
}
