//! An agent written for the replaced FastAPI service (httpx, bare lists,
//! `raise_for_status()`) runs unchanged against the real server:
//! `tests/clients/old_agent.py`. Needs python3 with httpx (`.ci/run`
//! installs it and sets HIVELOG_REQUIRE_PYTHON_CLIENTS=1, so there a
//! missing httpx fails the test); elsewhere it says SKIPPED.

mod common;

use std::process::Command;
use std::time::Duration;

use common::Server;

/// True when python3 can import `module`.
pub fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn an_old_httpx_agent_works_unchanged() {
    if !python_has("httpx") {
        assert!(
            std::env::var_os("HIVELOG_REQUIRE_PYTHON_CLIENTS").is_none(),
            "python3 with httpx is required here (pip install httpx)"
        );
        eprintln!("SKIPPED an_old_httpx_agent_works_unchanged: python3 with httpx is not installed (pip install httpx)");
        return;
    }
    let server = Server::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/old_agent.py");
    let base = server.base.clone();
    let run = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([script, &base])
            .output()
            .expect("run python3")
    });
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the old agent finished in time")
        .unwrap();
    assert!(
        out.status.success(),
        "the old agent failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("old agent: ok"));
}
