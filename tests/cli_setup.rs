//! `hivelog setup` for each harness: the files it writes parse as their
//! harness reads them, existing settings stay, a second run changes
//! nothing, `--dry-run` writes nothing, and nothing outside the project is
//! touched. And `hivelog inbox`, which those hooks run, in both formats.

mod common;

use std::path::Path;
use std::process::Command;

use common::{client, send, Server};
use serde_json::{json, Value};

fn hivelog(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(args)
        .output()
        .expect("run hivelog")
}

fn setup(harness: &str, dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "setup",
        harness,
        "--dir",
        dir.to_str().unwrap(),
        "--agent",
        "ada",
    ];
    args.extend_from_slice(extra);
    let out = hivelog(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_file(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every file below `dir`, with its contents.
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap_or_default(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn claude_setup_merges_and_is_idempotent() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("proj");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join(".mcp.json"),
        r#"{"mcpServers": {"other": {"command": "x"}}}"#,
    )
    .unwrap();
    std::fs::write(dir.join("CLAUDE.md"), "# Project rules\n").unwrap();
    std::fs::create_dir(dir.join(".claude")).unwrap();
    std::fs::write(
        dir.join(".claude/settings.json"),
        r#"{"permissions": {"allow": ["Bash(ls)"]}, "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]}}"#,
    )
    .unwrap();
    setup("claude", &dir, &[]);
    let mcp = json_file(&dir.join(".mcp.json"));
    assert_eq!(
        mcp["mcpServers"]["other"]["command"], "x",
        "other servers stay"
    );
    assert_eq!(
        mcp["mcpServers"]["hivelog"]["args"],
        json!(["mcp", "--agent", "ada"])
    );
    let settings = json_file(&dir.join(".claude/settings.json"));
    assert_eq!(settings["permissions"]["allow"][0], "Bash(ls)");
    assert_eq!(
        settings["hooks"]["Stop"][0]["hooks"][0]["command"],
        "say done"
    );
    let hook = settings["hooks"]["UserPromptSubmit"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap();
    assert!(hook.contains("inbox --agent ada --ack"), "{hook}");
    let md = std::fs::read_to_string(dir.join("CLAUDE.md")).unwrap();
    assert!(md.starts_with("# Project rules\n") && md.contains("claim_next"));
    let before = snapshot(root.path());
    let again = setup("claude", &dir, &[]);
    assert!(!again.contains("wrote"), "{again}");
    assert_eq!(
        snapshot(root.path()),
        before,
        "a second run changes nothing"
    );
}

#[test]
fn codex_and_cursor_setups_write_what_their_harness_reads() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("proj");
    std::fs::create_dir_all(dir.join(".codex")).unwrap();
    std::fs::write(dir.join(".codex/config.toml"), "model = \"o4\"\n").unwrap();
    setup("codex", &dir, &[]);
    let config: toml::Table = std::fs::read_to_string(dir.join(".codex/config.toml"))
        .unwrap()
        .parse()
        .expect("valid TOML");
    assert_eq!(config["model"].as_str(), Some("o4"));
    assert_eq!(
        config["mcp_servers"]["hivelog"]["args"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(config["features"]["codex_hooks"].as_bool(), Some(true));
    let hooks = json_file(&dir.join(".codex/hooks.json"));
    assert!(hooks["hooks"]["SessionStart"][0]["hooks"][0]["command"].is_string());
    assert!(std::fs::read_to_string(dir.join("AGENTS.md"))
        .unwrap()
        .contains("fencing_token"));
    setup("codex", &dir, &[]);
    let text = std::fs::read_to_string(dir.join(".codex/config.toml")).unwrap();
    assert_eq!(text.matches("[mcp_servers.hivelog]").count(), 1, "{text}");

    setup("cursor", &dir, &[]);
    let mcp = json_file(&dir.join(".cursor/mcp.json"));
    assert_eq!(mcp["mcpServers"]["hivelog"]["args"][2], "ada");
    let hooks = json_file(&dir.join(".cursor/hooks.json"));
    assert_eq!(hooks["version"], 1);
    assert!(hooks["hooks"]["stop"][0]["command"]
        .as_str()
        .unwrap()
        .contains("cursor-stop"));
    assert!(dir.join(".cursor/rules/hivelog.mdc").is_file());
}

#[test]
fn dry_run_writes_nothing_and_nothing_leaves_the_project() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("proj");
    std::fs::create_dir(&dir).unwrap();
    for harness in ["claude", "codex", "cursor"] {
        let printed = setup(harness, &dir, &["--dry-run"]);
        assert!(printed.contains("would write"), "{printed}");
    }
    assert!(snapshot(root.path()).is_empty(), "dry run wrote files");
    for harness in ["claude", "codex", "cursor"] {
        setup(harness, &dir, &[]);
    }
    let prefix = dir.display().to_string();
    for (path, _) in snapshot(root.path()) {
        assert!(path.starts_with(&prefix), "{path} is outside the project");
    }
    let bad = hivelog(&[
        "setup",
        "claude",
        "--dir",
        dir.to_str().unwrap(),
        "--agent",
        "a b",
    ]);
    assert!(!bad.status.success());
}

#[tokio::test]
async fn the_inbox_command_feeds_hooks_and_acks() {
    let server = Server::start();
    send(client().post(server.url("/api/messages")).json(
        &json!({"agent_id": "bob", "channel": "coordination", "content": "@ada please rebase"}),
    ))
    .await;
    let run = |args: &[&str]| {
        let mut all = vec!["--server", server.base.as_str(), "inbox", "--agent", "ada"];
        all.extend_from_slice(args);
        let out = hivelog(&all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = run(&[]);
    assert!(
        shown.contains("message from bob: @ada please rebase"),
        "{shown}"
    );
    let stop: Value =
        serde_json::from_str(run(&["--ack", "--format", "cursor-stop"]).trim()).unwrap();
    assert!(stop["followup_message"]
        .as_str()
        .unwrap()
        .contains("please rebase"));
    assert_eq!(run(&["--format", "cursor-stop"]).trim(), "{}", "acked");
    assert_eq!(run(&[]), "", "nothing new: silent");
}
