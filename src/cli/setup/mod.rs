//! `hivelog setup claude|codex|cursor`: plugs hivelog into an agent
//! harness in one command. Writes, inside the project, the harness's
//! project-level MCP configuration (running `hivelog mcp --agent NAME`),
//! hooks that show the agent its inbox at the right moments, and a short
//! instructions snippet. Existing files are merged, never clobbered: other
//! MCP servers, hooks and settings stay; running it again with other
//! arguments replaces what it wrote before (`merge.rs`), and with the same
//! ones changes nothing. `--dry-run` prints what it would write.
//!
//! A token (`--token`, HIVELOG_TOKEN) is never written into the project:
//! it goes to a file of its own under the user's configuration directory
//! (mode 0600), and what setup writes names that file (HIVELOG_TOKEN_FILE,
//! `--token-file`), so the MCP server and the hooks authenticate.
//!
//! Where each harness reads what (checked 2026-12):
//! - Claude Code: `.mcp.json` (project MCP servers, approved by the user on
//!   first use), `.claude/settings.json` (hooks; SessionStart and
//!   UserPromptSubmit stdout reaches the model), `CLAUDE.md`.
//! - Codex: `.codex/config.toml` (`[mcp_servers.<name>]`) and
//!   `.codex/hooks.json`, both only in a trusted project, new hooks after
//!   a review (`/hooks`); hooks are on by default (`codex_hooks` is a
//!   deprecated alias, not written). `AGENTS.md`.
//! - Cursor: `.cursor/mcp.json`, `.cursor/hooks.json` (a `stop` hook's
//!   `followup_message` is sent as the next prompt), `.cursor/rules/*.mdc`.

mod merge;
pub mod repo;

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::client::CliError;
use super::Conn;
use merge::{
    with_block, with_codex_server, with_hooks, with_server, HookShape, McpServer, MARK_BEGIN,
    MARK_END,
};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Harness {
    Claude,
    Codex,
    Cursor,
}

impl Harness {
    fn name(self) -> &'static str {
        match self {
            Harness::Claude => "claude",
            Harness::Codex => "codex",
            Harness::Cursor => "cursor",
        }
    }

    /// The one step the harness still needs before it loads the files.
    fn next_step(self, dir: &Path) -> String {
        let dir = dir.display();
        match self {
            Harness::Claude => format!(
                "next: start Claude Code in {dir}; it asks to approve the project's MCP server `hivelog` from .mcp.json (approve it, or later with /mcp)."
            ),
            Harness::Codex => format!(
                "next: Codex reads .codex/config.toml and .codex/hooks.json only in a trusted project: trust {dir} when Codex asks, then review and trust the new hooks (/hooks)."
            ),
            Harness::Cursor => "next: open the project in Cursor and check Settings > MCP shows `hivelog` enabled (turn it on if Cursor asks).".into(),
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The project (tasks, agents, reservations and messages of one repository) is derived from git: every worktree of a repository gets the same one, any other repository another; --project NAME chooses it instead.\n\nRun it again (another --agent, --server or binary) and it replaces what it wrote before, and nothing else.\n\nAgainst a server with a token: pass --token (or set HIVELOG_TOKEN). The token is saved outside the project ($XDG_CONFIG_HOME/hivelog/tokens/, else ~/.config/..., mode 0600) and the files setup writes name that file, never the token itself; or name a file of your own with --token-file."
)]
pub struct SetupArgs {
    #[arg(value_enum)]
    harness: Harness,
    /// The project to set up (default: the current directory).
    #[arg(long, value_name = "PROJECT")]
    dir: Option<PathBuf>,
    /// The agent name the harness works as (default: <harness>-<worktree directory name>-<hash>, unique per worktree and repository).
    #[arg(long, value_name = "AGENT_ID")]
    agent: Option<String>,
    /// Print what would be written instead of writing it.
    #[arg(long)]
    dry_run: bool,
}

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
    match read(path)? {
        Some(text) if !text.trim().is_empty() => serde_json::from_str(&text).map_err(|e| {
            CliError::input(format!(
                "{} is not valid JSON ({e}); fix or move it first",
                path.display()
            ))
        }),
        _ => Ok(merge::empty()),
    }
}

/// What the harness's files reach the server with.
struct Target<'a> {
    agent: &'a str,
    server: &'a str,
    project: &'a str,
    repository: &'a str,
    /// The file holding the token, when the server wants one.
    token_file: Option<&'a str>,
}

impl Target<'_> {
    /// The environment `hivelog mcp` runs with.
    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("HIVELOG_SERVER", self.server.to_string()),
            ("HIVELOG_PROJECT", self.project.to_string()),
            ("HIVELOG_REPOSITORY", self.repository.to_string()),
        ];
        if let Some(f) = self.token_file {
            env.push(("HIVELOG_TOKEN_FILE", f.to_string()));
        }
        env
    }

    fn inbox_command(&self, hivelog: &str) -> String {
        let mut words = vec![
            shell_word(hivelog),
            "--server".into(),
            shell_word(self.server),
            "--project".into(),
            shell_word(self.project),
        ];
        if let Some(f) = self.token_file {
            words.extend(["--token-file".into(), shell_word(f)]);
        }
        words.extend(["inbox", "--agent"].map(String::from));
        words.extend([shell_word(self.agent), "--ack".into()]);
        words.join(" ")
    }
}

/// One file to write: its path and its whole new text.
type Write = (PathBuf, String);

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

/// A JSON MCP config (`.mcp.json`, `.cursor/mcp.json`) with our server.
fn mcp_json(path: PathBuf, t: &Target, hivelog: &str) -> Result<Write, CliError> {
    let entry = McpServer {
        command: hivelog,
        args: ["mcp", "--agent", t.agent],
        env: t.env().into_iter().collect(),
    };
    let doc = with_server(read_json(&path)?, &entry)?;
    Ok((path, pretty(&doc)))
}

/// Codex's `config.toml` with our `[mcp_servers.hivelog]`.
fn codex_config(path: PathBuf, t: &Target, hivelog: &str) -> Result<Write, CliError> {
    let mut server = toml_edit::Table::new();
    server.insert("command", toml_edit::value(hivelog));
    let args: toml_edit::Array = ["mcp", "--agent", t.agent].into_iter().collect();
    server.insert("args", toml_edit::value(args));
    let env: toml_edit::InlineTable = t.env().into_iter().collect();
    server.insert("env", toml_edit::value(env));
    let old = read(&path)?.unwrap_or_default();
    let text = with_codex_server(&old, server)
        .map_err(|e| CliError::input(format!("{} is not valid TOML ({e})", path.display())))?;
    Ok((path, text))
}

fn hooks_json(
    path: PathBuf,
    shape: HookShape,
    events: &[&str],
    command: &str,
) -> Result<Write, CliError> {
    let mut doc = read_json(&path)?;
    if let (HookShape::Flat, Some(o)) = (shape, doc.as_object_mut()) {
        // Cursor's hooks file carries its format's version.
        o.entry("version").or_insert(Value::from(1));
    }
    let doc = with_hooks(doc, shape, events, command)?;
    Ok((path, pretty(&doc)))
}

/// A project's instructions file with our block.
fn instructions_md(path: PathBuf, agent: &str) -> Result<Write, CliError> {
    let text = with_block(&read(&path)?.unwrap_or_default(), &instructions(agent));
    Ok((path, text))
}

fn plan(harness: Harness, dir: &Path, t: &Target) -> Result<Vec<Write>, CliError> {
    let hivelog = program();
    let inbox = t.inbox_command(&hivelog);
    let events = ["SessionStart", "UserPromptSubmit"];
    let grouped = HookShape::Grouped;
    Ok(match harness {
        Harness::Claude => vec![
            mcp_json(dir.join(".mcp.json"), t, &hivelog)?,
            hooks_json(dir.join(".claude/settings.json"), grouped, &events, &inbox)?,
            instructions_md(dir.join("CLAUDE.md"), t.agent)?,
        ],
        Harness::Codex => vec![
            codex_config(dir.join(".codex/config.toml"), t, &hivelog)?,
            hooks_json(dir.join(".codex/hooks.json"), grouped, &events, &inbox)?,
            instructions_md(dir.join("AGENTS.md"), t.agent)?,
        ],
        Harness::Cursor => {
            let stop = format!("{inbox} --format cursor-stop");
            let rules = format!(
                "---\ndescription: Coordinating with other agents through hivelog\nalwaysApply: true\n---\n{}",
                instructions(t.agent)
            );
            vec![
                mcp_json(dir.join(".cursor/mcp.json"), t, &hivelog)?,
                hooks_json(
                    dir.join(".cursor/hooks.json"),
                    HookShape::Flat,
                    &["stop"],
                    &stop,
                )?,
                // The whole rules file is setup's.
                (dir.join(".cursor/rules/hivelog.mdc"), rules),
            ]
        }
    })
}

/// The default agent name: the harness, the worktree's directory name and
/// a hash of the repository and the worktree, so two worktrees (or two
/// repositories whose directories share a name) never get the same one.
fn default_agent(harness: Harness, repo: &repo::Repo) -> String {
    let readable = repo
        .worktree
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let identity = format!("{}\0{}", repo.repository, repo.worktree.display());
    let max = 50 - harness.name().len() - 1;
    format!(
        "{}-{}",
        harness.name(),
        repo::named(&readable, &identity, max)
    )
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
    let repo = repo::of(&dir);
    // `--project` (or HIVELOG_PROJECT) overrides what git says; a run
    // before may have recorded one.
    let project = conn
        .project
        .clone()
        .or_else(|| super::paths::configured_project_in(&dir))
        .unwrap_or_else(|| repo.project.clone());
    crate::coord::project::validate_project(&project)
        .map_err(|e| CliError::input(format!("--project: {e}")))?;
    let agent = args
        .agent
        .unwrap_or_else(|| default_agent(args.harness, &repo));
    crate::coord::task::validate_id("--agent", &agent, 50)
        .map_err(|e| CliError::input(e.to_string()))?;
    let token_file = token::file_for(conn, &dir, args.dry_run)?;
    let target = Target {
        agent: &agent,
        server: &conn.server,
        project: &project,
        repository: &repo.repository,
        token_file: token_file.as_deref(),
    };
    let writes = plan(args.harness, &dir, &target)?;
    for (path, text) in &writes {
        let unchanged = read(path)?.as_deref() == Some(text.as_str());
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
    if !args.dry_run && repo.in_git {
        // Every worktree of the repository reads it (the CLI, the
        // pre-commit check).
        repo::record_project(&dir, &project)?;
        println!("recorded   git config hivelog.project {project}");
    }
    if !args.dry_run {
        println!(
            "{} will work as agent {agent} in project {project} ({}) against {}; start the server with `hivelog serve`.",
            args.harness.name(),
            repo.repository,
            conn.server
        );
        println!("{}", args.harness.next_step(&dir));
    }
    Ok(())
}

mod token;
