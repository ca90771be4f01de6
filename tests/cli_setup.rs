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
    assert!(
        again.contains("approve"),
        "the step Claude Code still needs: {again}"
    );
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
    // An earlier setup wrote the deprecated `codex_hooks`; it goes.
    std::fs::write(
        dir.join(".codex/config.toml"),
        "# my settings\nmodel = \"o4\"\n\n[features]\ncodex_hooks = true\n",
    )
    .unwrap();
    let printed = setup("codex", &dir, &[]);
    assert!(
        printed.contains("trust"),
        "the step Codex still needs: {printed}"
    );
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
    assert!(
        config.get("features").is_none(),
        "hooks are on by default: {config:?}"
    );
    let text = std::fs::read_to_string(dir.join(".codex/config.toml")).unwrap();
    assert!(text.starts_with("# my settings\n"), "comments stay: {text}");
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

/// Every hook command in a hooks file that runs hivelog's inbox.
fn our_hooks(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (event, list) in doc["hooks"].as_object().unwrap() {
        for entry in list.as_array().unwrap() {
            let commands: Vec<&Value> = match entry["hooks"].as_array() {
                Some(inner) => inner.iter().map(|h| &h["command"]).collect(),
                None => vec![&entry["command"]],
            };
            for c in commands.into_iter().filter_map(Value::as_str) {
                if c.contains(" inbox ") {
                    out.push((event.clone(), c.to_string()));
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_second_run_with_another_agent_replaces_what_the_first_wrote() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("proj");
    std::fs::create_dir_all(dir.join(".claude")).unwrap();
    std::fs::create_dir_all(dir.join(".cursor")).unwrap();
    std::fs::write(
        dir.join(".claude/settings.json"),
        r#"{"hooks": {"UserPromptSubmit": [{"hooks": [{"type": "command", "command": "say hi"}]}]}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join(".cursor/hooks.json"),
        r#"{"version": 1, "hooks": {"stop": [{"command": "./mine.sh"}]}}"#,
    )
    .unwrap();
    let run = |harness: &str, agent: &str| {
        let out = hivelog(&[
            "setup",
            harness,
            "--dir",
            dir.to_str().unwrap(),
            "--agent",
            agent,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for harness in ["claude", "codex", "cursor"] {
        run(harness, "ada");
        run(harness, "bob");
    }
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
    for file in [
        ".mcp.json",
        ".claude/settings.json",
        "CLAUDE.md",
        ".codex/config.toml",
        ".codex/hooks.json",
        "AGENTS.md",
        ".cursor/mcp.json",
        ".cursor/hooks.json",
        ".cursor/rules/hivelog.mdc",
    ] {
        let text = read(file);
        assert!(
            !text.contains("ada"),
            "{file} still names the first agent:\n{text}"
        );
        assert!(
            text.contains("bob"),
            "{file} does not name the second agent:\n{text}"
        );
    }
    for (file, events) in [
        (
            ".claude/settings.json",
            vec!["SessionStart", "UserPromptSubmit"],
        ),
        (
            ".codex/hooks.json",
            vec!["SessionStart", "UserPromptSubmit"],
        ),
        (".cursor/hooks.json", vec!["stop"]),
    ] {
        let hooks = our_hooks(&json_file(&dir.join(file)));
        let got: Vec<&str> = hooks.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(got, events, "one hook per event in {file}: {hooks:?}");
    }
    for md in ["CLAUDE.md", "AGENTS.md"] {
        assert_eq!(
            read(md).matches("<!-- hivelog:begin -->").count(),
            1,
            "{md}"
        );
    }
    let settings = json_file(&dir.join(".claude/settings.json"));
    assert_eq!(
        settings["hooks"]["UserPromptSubmit"][0]["hooks"][0]["command"],
        "say hi"
    );
    let cursor = json_file(&dir.join(".cursor/hooks.json"));
    assert_eq!(cursor["hooks"]["stop"][0]["command"], "./mine.sh");
    let codex = read(".codex/config.toml");
    assert_eq!(codex.matches("[mcp_servers.hivelog]").count(), 1, "{codex}");
}

#[tokio::test]
async fn with_a_token_what_setup_writes_authenticates_and_holds_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--token", "s3cret"]);
    let root = tempfile::tempdir().unwrap();
    let project = root.path().join("proj");
    let config = root.path().join("config");
    std::fs::create_dir(&project).unwrap();
    for harness in ["claude", "codex", "cursor"] {
        let out = Command::new(env!("CARGO_BIN_EXE_hivelog"))
            .args([
                "--server",
                &server.base,
                "--token",
                "s3cret",
                "setup",
                harness,
            ])
            .args(["--dir", project.to_str().unwrap(), "--agent", "ada"])
            .env("XDG_CONFIG_HOME", &config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for (path, text) in snapshot(&project) {
        assert!(!text.contains("s3cret"), "{path} holds the token");
    }
    // Set up again without the token: the saved one is still named, and
    // every command reaches the server with it.
    let again = Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args([
            "--server",
            &server.base,
            "setup",
            "claude",
            "--agent",
            "ada",
        ])
        .args(["--dir", project.to_str().unwrap()])
        .env("XDG_CONFIG_HOME", &config)
        .env_remove("HIVELOG_TOKEN")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("unchanged  "));
    let mcp = json_file(&project.join(".mcp.json"));
    assert!(
        mcp["mcpServers"]["hivelog"]["env"]["HIVELOG_TOKEN_FILE"].is_string(),
        "{mcp}"
    );
    let listed = Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(["--server", &server.base, "task", "ls"])
        .env("XDG_CONFIG_HOME", &config)
        .env_remove("HIVELOG_TOKEN")
        .output()
        .unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let saved = snapshot(&config);
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(saved[0].1.trim(), "s3cret");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&saved[0].0).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "only the user reads it");

    // Each harness's hook, run as the harness runs it, gets in, and reads
    // the project setup derived (which the MCP config names too).
    let derived = json_file(&project.join(".mcp.json"))["mcpServers"]["hivelog"]["env"]
        ["HIVELOG_PROJECT"]
        .as_str()
        .expect("the MCP config names the project")
        .to_string();
    for (file, event) in [
        (".claude/settings.json", "UserPromptSubmit"),
        (".codex/hooks.json", "SessionStart"),
        (".cursor/hooks.json", "stop"),
    ] {
        let note = json!({"agent_id": "bob", "channel": "coordination", "content": format!("@ada via {file}")});
        let posted = client()
            .post(server.url("/api/messages"))
            .bearer_auth("s3cret")
            .header("X-Hivelog-Project", &derived)
            .json(&note);
        assert_eq!(send(posted).await.0, 200);
        let hooks = our_hooks(&json_file(&project.join(file)));
        let (_, command) = hooks.iter().find(|(e, _)| e == event).unwrap();
        let out = Command::new("sh")
            .args(["-c", command])
            .env_remove("HIVELOG_TOKEN")
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && printed.contains(&format!("via {file}")),
            "{file}: {command}\n{printed}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // And the MCP server it registered, started as the harness starts it.
    if common::python::mcp_sdk() {
        for file in [".mcp.json", ".cursor/mcp.json"] {
            let config = project.join(file).display().to_string();
            let args = vec![
                common::python::script("mcp_bridge.py"),
                "config".into(),
                config,
            ];
            common::python::run(args, "config: ok").await;
        }
    }
}

#[test]
fn a_token_file_inside_the_project_is_a_warning_unless_git_ignores_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("proj");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("token.txt"), "s3cret\n").unwrap();
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_hivelog"))
            .args(["--token-file", dir.join("token.txt").to_str().unwrap()])
            .args([
                "setup",
                "claude",
                "--dir",
                dir.to_str().unwrap(),
                "--agent",
                "ada",
            ])
            .env_remove("HIVELOG_TOKEN")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(run().contains("would be committed"), "not ignored: warned");
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(args)
            .output()
            .unwrap();
        assert!(ok.status.success(), "{ok:?}");
    };
    git(&["init", "-q"]);
    std::fs::write(dir.join(".gitignore"), "token.txt\n").unwrap();
    assert!(!run().contains("would be committed"), "ignored: no warning");
    let mcp = json_file(&dir.join(".mcp.json"));
    let named = mcp["mcpServers"]["hivelog"]["env"]["HIVELOG_TOKEN_FILE"]
        .as_str()
        .unwrap();
    assert!(named.ends_with("proj/token.txt"), "{named}");
}
