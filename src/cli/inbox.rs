//! An agent's inbox from the command line, for harness hooks and scripts:
//! `inbox` prints what is unread (and `--ack`s it), `wait` blocks until
//! something new arrives — in a loop, each item once.

use std::io::Write;

use super::client::{CliError, Client};
use super::output::{shown, Out};
use crate::coord::inbox::InboxItem;
use crate::ops::work::{InboxAck, InboxPage};

/// `hivelog wait`'s options.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 something arrived (one line per item on stdout), 1 nothing arrived within --timeout, 2 a usage error (a bad flag, agent id or duration), 3 the server is unreachable, refused the token, or failed.\n\nIn a loop (`while hivelog wait --agent A; do ...; done`) each run reports only what arrived since the run before it reported (kept in $XDG_STATE_HOME/hivelog/wait, else ~/.local/state/hivelog/wait); nothing is consumed unless --ack, which marks what was printed as read. Killed mid-wait, it consumed nothing."
)]
pub struct WaitArgs {
    #[arg(long, env = "HIVELOG_AGENT", value_name = "AGENT_ID")]
    agent: String,
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    timeout: String,
    /// Mark what was printed as read (the agent's inbox ack), after printing it.
    #[arg(long)]
    ack: bool,
    /// Report every unread item, also those an earlier run already reported.
    #[arg(long)]
    all: bool,
}

/// Where `wait` remembers, per server, project and agent, the last item
/// it reported, so a loop of waits reports each item once. (The default
/// project's files keep the name they had before projects existed.)
fn wait_cursor_file(client: &Client, agent: &str) -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/state"))
        })?;
    let project = client
        .project()
        .map(|p| format!("{p}-"))
        .unwrap_or_default();
    let name: String = format!("{}-{project}{agent}", client.url(&[]))
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Some(base.join("hivelog").join("wait").join(name))
}

fn read_cursor(path: Option<&std::path::Path>) -> u64 {
    path.and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

fn write_cursor(path: Option<&std::path::Path>, seq: u64) {
    let Some(path) = path else { return };
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, format!("{seq}\n")));
    if let Err(e) = written {
        eprintln!(
            "warning: cannot remember what was reported in {}: {e}",
            path.display()
        );
    }
}

/// Blocks until the agent's inbox holds something it has not reported
/// yet (or the timeout), then prints one short line per item. What it
/// prints is remembered (and, with `--ack`, acked) only after printing.
pub async fn wait(client: &Client, out: Out, args: WaitArgs) -> Result<(), CliError> {
    let WaitArgs {
        agent,
        timeout,
        ack,
        all,
    } = args;
    let total = crate::log::duration::parse_duration(&timeout)
        .map_err(|e| CliError::input(format!("--timeout: {e}")))?;
    let cursor_file = wait_cursor_file(client, &agent);
    let after = if all {
        0
    } else {
        read_cursor(cursor_file.as_deref())
    };
    let give_up = std::time::Instant::now() + total;
    loop {
        // The server holds a request at most 5 minutes; ask again until
        // the caller's timeout.
        let left = give_up.saturating_duration_since(std::time::Instant::now());
        let slice = left.min(std::time::Duration::from_secs(290));
        let query = [
            ("wait", format!("{}ms", slice.as_millis().max(1))),
            ("after", after.to_string()),
        ];
        let answer: InboxPage = client
            .get_as(&["api", "v2", "agents", &agent, "inbox"], &query)
            .await?;
        if let Some(last) = answer.items.last().map(|i| i.seq) {
            let text = if out.json {
                serde_json::to_string_pretty(&answer).unwrap_or_default() + "\n"
            } else {
                answer.items.iter().map(|i| summary(i) + "\n").collect()
            };
            // Only what reached stdout counts as reported.
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| {
                    CliError::Protocol(format!(
                        "could not print what arrived ({e}); nothing was marked as reported or read"
                    ))
                })?;
            write_cursor(cursor_file.as_deref(), last);
            if ack {
                ack_up_to(client, &agent, last).await?;
            }
            return Ok(());
        }
        if std::time::Instant::now() >= give_up {
            return Err(CliError::CheckFailed(format!(
                "nothing arrived for {agent} within {timeout}"
            )));
        }
    }
}

/// The exit status of `wait`: 1 timed out, 2 a usage error, 3 the server
/// unreachable, refusing the token, or failing.
pub fn wait_exit_code(e: &CliError) -> u8 {
    match e {
        CliError::CheckFailed(_) => 1,
        CliError::Input(_) => 2,
        CliError::Server {
            status: 400 | 404 | 422,
            ..
        } => 2,
        _ => 3,
    }
}

fn summary(item: &InboxItem) -> String {
    let mut line = format!("{} from {}", shown(&item.kind), shown(&item.from));
    if let Some(task) = &item.task_id {
        line.push_str(&format!(" on {task}"));
    }
    let body: String = shown(&item.text).chars().take(200).collect();
    format!("{line}: {}", body.replace('\n', " "))
}

async fn ack_up_to(client: &Client, agent: &str, last: u64) -> Result<(), CliError> {
    client
        .post(
            &["api", "v2", "agents", agent, "inbox", "ack"],
            &InboxAck { up_to: Some(last) },
        )
        .await
        .map(drop)
}

/// What a Cursor `stop` hook answers: a follow-up message, or nothing.
#[derive(serde::Serialize)]
struct CursorStop {
    #[serde(skip_serializing_if = "Option::is_none")]
    followup_message: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum InboxFormat {
    /// One line per item (what Claude Code and Codex hooks pass to the model).
    Text,
    /// A Cursor `stop` hook answer: {"followup_message": ...} when there is something.
    CursorStop,
}

/// Prints an agent's unread inbox (for hooks: always exit 0 when the
/// server answered, silent when there is nothing).
pub async fn inbox(
    client: &Client,
    out: Out,
    agent: &str,
    ack: bool,
    format: InboxFormat,
) -> Result<(), CliError> {
    let answer: InboxPage = client
        .get_as(&["api", "v2", "agents", agent, "inbox"], &[])
        .await?;
    if ack {
        if let Some(last) = answer.items.last().map(|i| i.seq) {
            ack_up_to(client, agent, last).await?;
        }
    }
    if out.json {
        out.json(&answer);
        return Ok(());
    }
    let lines: Vec<String> = answer.items.iter().map(summary).collect();
    match format {
        InboxFormat::Text => {
            if !lines.is_empty() {
                out.line(&format!("hivelog inbox for {agent}:"));
                for l in &lines {
                    out.line(&format!("- {l}"));
                }
            }
        }
        InboxFormat::CursorStop => {
            let answer = CursorStop {
                followup_message: (!lines.is_empty())
                    .then(|| format!("New in your hivelog inbox:\n{}", lines.join("\n"))),
            };
            out.json_line(&answer);
        }
    }
    Ok(())
}
