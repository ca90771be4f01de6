//! `hivelog setup claude|codex|cursor`: plugs hivelog into an agent
//! harness in one command. Writes, inside the project only, the harness's
//! project-level MCP configuration (running `hivelog mcp --agent NAME`),
//! hooks that show the agent its inbox at the right moments, and a short
//! instructions snippet. Existing files are merged, never clobbered: other
//! MCP servers and hooks stay, and running it again changes nothing.
//! `--dry-run` prints what it would write.
//!
//! Where each harness reads what (checked 2026-11):
//! - Claude Code: `.mcp.json` (project MCP servers), `.claude/settings.json`
//!   (hooks; SessionStart and UserPromptSubmit stdout reaches the model),
//!   `CLAUDE.md` (instructions).
//! - Codex: `.codex/config.toml` (`[mcp_servers.<name>]`, trusted projects
//!   only; hooks need `[features] codex_hooks = true`), `.codex/hooks.json`,
//!   `AGENTS.md`.
//! - Cursor: `.cursor/mcp.json`, `.cursor/hooks.json` (a `stop` hook's
//!   `followup_message` is sent as the next prompt), `.cursor/rules/*.mdc`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::client::CliError;
use super::Conn;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Harness {
    Claude,
    Codex,
    Cursor,
}

#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    #[arg(value_enum)]
    harness: Harness,
    /// The project to set up (default: the current directory).
    #[arg(long, value_name = "PROJECT")]
    dir: Option<PathBuf>,
    /// The agent name the harness works as (default: <harness>-<project directory name>).
    #[arg(long, value_name = "AGENT_ID")]
    agent: Option<String>,
    /// Print what would be written instead of writing it.
    #[arg(long)]
    dry_run: bool,
}

const MARK_BEGIN: &str = "<!-- hivelog:begin -->";
const MARK_END: &str = "<!-- hivelog:end -->";

fn instructions(agent: &str) -> String {
    format!(
        "{MARK_BEGIN}
## Working with other agents (hivelog)

You are `{agent}`; other agents work in this project at the same time. Use the hivelog MCP tools:

- `claim_next` to get work. Keep its `fencing_token`; every later call on that task needs it.
- `progress` now and then on long work (it keeps your claim), `complete` when done (pass `error` if it failed), or `handoff` with a note if someone else should finish it.
- `reserve` the files you will edit before editing them (`release: true` when done); if they are reserved, work on something else or ask the holder.
- `inbox` for messages and handoffs addressed to you; `send_message` with `@name` to reach another agent.
- Never edit a task's files without holding it, and never reuse a fencing token after being told it is stale.
{MARK_END}
"
    )
}

/// The command that runs this binary: `hivelog` when it is on PATH (so the
/// files can be shared), else this executable's absolute path.
fn program() -> String {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join("hivelog").is_file()));
    if on_path {
        return "hivelog".into();
    }
    std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(String::from))
        .unwrap_or_else(|| "hivelog".into())
}

/// `word` as one shell word (hooks run through a shell).
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:=@+,".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

struct Plan {
    writes: Vec<(PathBuf, String)>,
}

impl Plan {
    fn read(path: &Path) -> Result<Option<String>, CliError> {
        match std::fs::read_to_string(path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CliError::input(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    fn read_json(path: &Path) -> Result<Value, CliError> {
        match Self::read(path)? {
            Some(text) if !text.trim().is_empty() => serde_json::from_str(&text).map_err(|e| {
                CliError::input(format!(
                    "{} is not valid JSON ({e}); fix or move it first",
                    path.display()
                ))
            }),
            _ => Ok(json!({})),
        }
    }

    fn json(&mut self, path: PathBuf, value: &Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_default() + "\n";
        self.writes.push((path, text));
    }

    /// Appends the instructions block unless the file already has one.
    fn snippet(&mut self, path: PathBuf, agent: &str) -> Result<(), CliError> {
        let old = Self::read(&path)?.unwrap_or_default();
        if old.contains(MARK_BEGIN) {
            self.writes.push((path, old));
            return Ok(());
        }
        let sep = if old.is_empty() || old.ends_with("\n\n") {
            ""
        } else if old.ends_with('\n') {
            "\n"
        } else {
            "\n\n"
        };
        self.writes
            .push((path, format!("{old}{sep}{}", instructions(agent))));
        Ok(())
    }
}

/// `servers[name] = entry` in an `mcpServers` object, keeping the others.
fn with_server(mut doc: Value, entry: Value) -> Result<Value, CliError> {
    let servers = doc
        .as_object_mut()
        .ok_or_else(|| CliError::input("the MCP config is not a JSON object"))?
        .entry("mcpServers")
        .or_insert_with(|| json!({}));
    servers
        .as_object_mut()
        .ok_or_else(|| CliError::input("mcpServers is not a JSON object"))?
        .insert("hivelog".into(), entry);
    Ok(doc)
}

/// Adds `hook` under `hooks[event]` unless an identical one is there.
fn with_hook(mut doc: Value, event: &str, hook: Value) -> Result<Value, CliError> {
    let hooks = doc
        .as_object_mut()
        .ok_or_else(|| CliError::input("the hooks file is not a JSON object"))?
        .entry("hooks")
        .or_insert_with(|| json!({}));
    let list = hooks
        .as_object_mut()
        .ok_or_else(|| CliError::input("hooks is not a JSON object"))?
        .entry(event)
        .or_insert_with(|| json!([]));
    let list = list
        .as_array_mut()
        .ok_or_else(|| CliError::input(format!("hooks.{event} is not a list")))?;
    if !list.contains(&hook) {
        list.push(hook);
    }
    Ok(doc)
}

fn plan(harness: Harness, dir: &Path, agent: &str, server: &str) -> Result<Plan, CliError> {
    let hivelog = program();
    let mut plan = Plan { writes: Vec::new() };
    let inbox = format!(
        "{} --server {} inbox --agent {} --ack",
        shell_word(&hivelog),
        shell_word(server),
        shell_word(agent)
    );
    // Claude-style hook groups (Claude Code and Codex read the same shape).
    let group =
        |command: &str| json!({"hooks": [{"type": "command", "command": command, "timeout": 10}]});
    match harness {
        Harness::Claude => {
            let path = dir.join(".mcp.json");
            let entry = json!({"command": hivelog, "args": ["mcp", "--agent", agent],
                "env": {"HIVELOG_SERVER": server}});
            plan.json(path.clone(), &with_server(Plan::read_json(&path)?, entry)?);
            let path = dir.join(".claude").join("settings.json");
            let mut doc = Plan::read_json(&path)?;
            for event in ["SessionStart", "UserPromptSubmit"] {
                doc = with_hook(doc, event, group(&inbox))?;
            }
            plan.json(path, &doc);
            plan.snippet(dir.join("CLAUDE.md"), agent)?;
        }
        Harness::Codex => {
            let path = dir.join(".codex").join("config.toml");
            let old = Plan::read(&path)?.unwrap_or_default();
            let parsed: toml::Table = old.parse().map_err(|e| {
                CliError::input(format!("{} is not valid TOML ({e})", path.display()))
            })?;
            let mut text = old.clone();
            let has_server = parsed
                .get("mcp_servers")
                .and_then(|s| s.get("hivelog"))
                .is_some();
            if !has_server {
                let args = toml::Value::Array(
                    ["mcp", "--agent", agent]
                        .iter()
                        .map(|a| toml::Value::String(a.to_string()))
                        .collect(),
                );
                text.push_str(&format!(
                    "\n[mcp_servers.hivelog]\ncommand = {}\nargs = {args}\nenv = {{ HIVELOG_SERVER = {} }}\n",
                    toml::Value::String(hivelog.clone()),
                    toml::Value::String(server.to_string()),
                ));
            }
            if parsed.get("features").is_none() {
                text.push_str("\n[features]\ncodex_hooks = true\n");
            }
            if text != old {
                plan.writes.push((path, text));
            }
            let path = dir.join(".codex").join("hooks.json");
            let mut doc = Plan::read_json(&path)?;
            for event in ["SessionStart", "UserPromptSubmit"] {
                doc = with_hook(doc, event, group(&inbox))?;
            }
            plan.json(path, &doc);
            plan.snippet(dir.join("AGENTS.md"), agent)?;
        }
        Harness::Cursor => {
            let path = dir.join(".cursor").join("mcp.json");
            let entry = json!({"command": hivelog, "args": ["mcp", "--agent", agent],
                "env": {"HIVELOG_SERVER": server}});
            plan.json(path.clone(), &with_server(Plan::read_json(&path)?, entry)?);
            let path = dir.join(".cursor").join("hooks.json");
            let mut doc = Plan::read_json(&path)?;
            if let Some(o) = doc.as_object_mut() {
                o.entry("version").or_insert(json!(1));
            }
            let stop = format!("{inbox} --format cursor-stop");
            doc = with_hook(doc, "stop", json!({"command": stop}))?;
            plan.json(path, &doc);
            let rules = dir.join(".cursor").join("rules").join("hivelog.mdc");
            if Plan::read(&rules)?.is_none() {
                let body = instructions(agent);
                plan.writes.push((
                    rules,
                    format!("---\ndescription: Coordinating with other agents through hivelog\nalwaysApply: true\n---\n{body}"),
                ));
            }
        }
    }
    Ok(plan)
}

pub fn run(conn: &Conn, args: SetupArgs) -> Result<(), CliError> {
    let dir = match args.dir {
        Some(d) => d,
        None => std::env::current_dir()
            .map_err(|e| CliError::input(format!("no current directory: {e}")))?,
    };
    if !dir.is_dir() {
        return Err(CliError::input(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let harness_name = match args.harness {
        Harness::Claude => "claude",
        Harness::Codex => "codex",
        Harness::Cursor => "cursor",
    };
    let agent = match args.agent {
        Some(a) => a,
        None => {
            let project = dir
                .canonicalize()
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "project".into());
            let clean: String = project
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            format!("{harness_name}-{clean}")
        }
    };
    crate::coord::task::validate_id("--agent", &agent, 50)
        .map_err(|e| CliError::input(e.to_string()))?;
    let plan = plan(args.harness, &dir, &agent, &conn.server)?;
    for (path, text) in &plan.writes {
        let unchanged = Plan::read(path)?.as_deref() == Some(text.as_str());
        if args.dry_run {
            println!(
                "--- {} ({})",
                path.display(),
                if unchanged {
                    "unchanged"
                } else {
                    "would write"
                }
            );
            if !unchanged {
                print!("{text}");
            }
            continue;
        }
        if unchanged {
            println!("unchanged  {}", path.display());
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| CliError::input(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(path, text)
            .map_err(|e| CliError::input(format!("cannot write {}: {e}", path.display())))?;
        println!("wrote      {}", path.display());
    }
    if !args.dry_run {
        println!("{harness_name} will work as agent {agent} against {}; start the server with `hivelog serve`.", conn.server);
    }
    Ok(())
}
