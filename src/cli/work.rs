//! Commands around the work agents do together: file reservations (and
//! the check a git pre-commit hook runs) and the pause switch.

use clap::Subcommand;
use serde_json::json;

use super::client::{CliError, Client};
use super::output::{ago, cell, text, tinted, Out, Table, Tone};

#[derive(Debug, Subcommand)]
pub enum ReservationsCmd {
    /// Exit 1 (naming the holder) when another agent holds any of these paths; for a pre-commit hook.
    Check {
        /// Paths relative to the project root (e.g. from `git diff --cached --name-only`).
        #[arg(required = true)]
        paths: Vec<String>,
        /// Your own reservations do not count.
        #[arg(long, env = "HIVELOG_AGENT", value_name = "AGENT_ID")]
        agent: Option<String>,
    },
    /// Active reservations.
    Ls {
        #[arg(long, value_name = "AGENT_ID")]
        agent: Option<String>,
    },
    /// Reserve path globs for an agent (exclusive unless --shared).
    Add {
        #[arg(required = true)]
        globs: Vec<String>,
        #[arg(long, env = "HIVELOG_AGENT", value_name = "AGENT_ID")]
        agent: String,
        #[arg(long)]
        shared: bool,
        /// How long it lasts (`30m`, `2h`); the server's default otherwise.
        #[arg(long, value_name = "DURATION")]
        ttl: Option<String>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Release an agent's reservations (the globs given, or all).
    Release {
        globs: Vec<String>,
        #[arg(long, env = "HIVELOG_AGENT", value_name = "AGENT_ID")]
        agent: String,
    },
}

pub async fn reservations(client: &Client, out: Out, cmd: ReservationsCmd) -> Result<(), CliError> {
    match cmd {
        ReservationsCmd::Check { paths, agent } => {
            let answer = client
                .post(
                    &["api", "v2", "reservations", "check"],
                    json!({"agent_id": agent, "paths": paths}),
                )
                .await?;
            if out.json {
                out.json(&answer);
            }
            let conflicts = answer["conflicts"].as_array().cloned().unwrap_or_default();
            if conflicts.is_empty() {
                if !out.json {
                    out.line("ok: no other agent holds these paths");
                }
                return Ok(());
            }
            for c in &conflicts {
                for h in c["holders"].as_array().into_iter().flatten() {
                    eprintln!(
                        "{} is reserved by {} ({} {}, until {})",
                        text(c, "path"),
                        text(h, "agent_id"),
                        if h["exclusive"] == json!(true) {
                            "exclusive"
                        } else {
                            "shared"
                        },
                        text(h, "glob"),
                        text(h, "expires_at"),
                    );
                }
            }
            Err(CliError::CheckFailed(format!(
                "{} of {} paths are reserved by other agents",
                conflicts.len(),
                paths.len()
            )))
        }
        ReservationsCmd::Ls { agent } => {
            let query: Vec<(&str, String)> = agent.map(|a| ("agent", a)).into_iter().collect();
            let answer = client.get(&["api", "v2", "reservations"], &query).await?;
            if out.json {
                out.json(&answer);
                return Ok(());
            }
            let list = answer["reservations"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if list.is_empty() {
                out.line("No reservations.");
                return Ok(());
            }
            let mut table = Table::new(&["GLOB", "AGENT", "MODE", "TASK", "SINCE", "EXPIRES"]);
            for r in &list {
                let mode = if r["exclusive"] == json!(true) {
                    tinted("exclusive", Tone::Warn)
                } else {
                    cell("shared")
                };
                table.row(vec![
                    cell(text(r, "glob")),
                    cell(text(r, "agent_id")),
                    mode,
                    cell(text(r, "task_id")),
                    cell(ago(&text(r, "created_at"))),
                    cell(text(r, "expires_at")),
                ]);
            }
            table.print(&out);
            Ok(())
        }
        ReservationsCmd::Add {
            globs,
            agent,
            shared,
            ttl,
            reason,
        } => {
            let answer = client
                .post(
                    &["api", "v2", "reservations"],
                    json!({"agent_id": agent, "globs": globs, "exclusive": !shared, "ttl": ttl, "reason": reason}),
                )
                .await?;
            if out.json {
                out.json(&answer);
            } else {
                for r in answer["reservations"].as_array().into_iter().flatten() {
                    out.line(&format!(
                        "Reserved {} for {} until {}",
                        text(r, "glob"),
                        text(r, "agent_id"),
                        text(r, "expires_at")
                    ));
                }
            }
            Ok(())
        }
        ReservationsCmd::Release { globs, agent } => {
            let answer = client
                .post(
                    &["api", "v2", "reservations", "release"],
                    json!({"agent_id": agent, "globs": globs}),
                )
                .await?;
            if out.json {
                out.json(&answer);
            } else {
                out.line(&format!("Released {} reservations", answer["released"]));
            }
            Ok(())
        }
    }
}

/// `pause` / `resume`.
pub async fn set_paused(
    client: &Client,
    out: Out,
    paused: bool,
    reason: Option<String>,
) -> Result<(), CliError> {
    let by = std::env::var("USER").ok();
    let answer = client
        .post(
            &["api", "v2", "pause"],
            json!({"paused": paused, "by": by, "reason": reason}),
        )
        .await?;
    if out.json {
        out.json(&answer);
    } else if paused {
        out.line("Paused: no task is granted until `hivelog resume`.");
    } else {
        out.line("Resumed: tasks are granted again.");
    }
    Ok(())
}
