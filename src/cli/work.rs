//! Commands around the work agents do together: file reservations (and
//! the check a git pre-commit hook runs) and the pause switch.

use super::client::{CliError, Client};
use super::output::{ago, cell, shown, tinted, Out, Table, Tone};
use crate::ops::reservations::{Check, Checked, Listing, Release, Released, Reserve, Reserved};
use crate::ops::work::SetPause;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ReservationsCmd {
    /// Exit 1 (naming the holder) when another agent holds any of these paths; for a pre-commit hook.
    Check {
        /// Paths in this worktree: relative to the directory the command runs in (a git hook runs at the root, so `git diff --cached --name-only` fits), or absolute.
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
            let paths = super::paths::from_here(paths);
            let answer: Checked = client
                .post_as(
                    &["api", "v2", "reservations", "check"],
                    &Check {
                        agent_id: agent,
                        paths: paths.clone(),
                    },
                )
                .await?;
            if out.json {
                out.json(&answer);
            }
            let conflicts = answer.conflicts;
            if conflicts.is_empty() {
                if !out.json {
                    out.line("ok: no other agent holds these paths");
                }
                return Ok(());
            }
            for c in &conflicts {
                for h in &c.holders {
                    eprintln!(
                        "{} is reserved by {} ({} {}, until {})",
                        c.path,
                        h.agent_id,
                        if h.exclusive { "exclusive" } else { "shared" },
                        h.glob,
                        shown(&h.expires_at),
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
            let answer: Listing = client
                .get_as(&["api", "v2", "reservations"], &query)
                .await?;
            if out.json {
                out.json(&answer);
                return Ok(());
            }
            let list = answer.reservations;
            if list.is_empty() {
                out.line("No reservations.");
                return Ok(());
            }
            let mut table = Table::new(&["GLOB", "AGENT", "MODE", "TASK", "SINCE", "EXPIRES"]);
            for r in &list {
                let mode = if r.exclusive {
                    tinted("exclusive", Tone::Warn)
                } else {
                    cell("shared")
                };
                table.row(vec![
                    cell(&r.glob),
                    cell(&r.agent_id),
                    mode,
                    cell(shown(&r.task_id)),
                    cell(ago(&shown(&r.created_at))),
                    cell(shown(&r.expires_at)),
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
            let answer: Reserved = client
                .post_as(
                    &["api", "v2", "reservations"],
                    &Reserve {
                        agent_id: agent,
                        globs: super::paths::from_here(globs),
                        exclusive: Some(!shared),
                        ttl,
                        reason,
                    },
                )
                .await?;
            if out.json {
                out.json(&answer);
            } else {
                for r in &answer.reservations {
                    out.line(&format!(
                        "Reserved {} for {} until {}",
                        r.glob,
                        r.agent_id,
                        shown(&r.expires_at)
                    ));
                }
            }
            Ok(())
        }
        ReservationsCmd::Release { globs, agent } => {
            let answer: Released = client
                .post_as(
                    &["api", "v2", "reservations", "release"],
                    &Release {
                        agent_id: agent,
                        globs: super::paths::from_here(globs),
                    },
                )
                .await?;
            if out.json {
                out.json(&answer);
            } else {
                out.line(&format!("Released {} reservations", answer.released));
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
    machine: bool,
) -> Result<(), CliError> {
    let by = std::env::var("USER").ok();
    let route: &[&str] = if machine {
        &["api", "v2", "pause", "machine"]
    } else {
        &["api", "v2", "pause"]
    };
    let answer = client.post(route, &SetPause { paused, by, reason }).await?;
    let scope = match (machine, client.project()) {
        (true, _) => "in every project".to_string(),
        (false, Some(p)) => format!("in project {p}"),
        (false, None) => "in the default project".to_string(),
    };
    if out.json {
        out.json(&answer);
    } else if paused {
        let resume = if machine {
            "hivelog resume --all"
        } else {
            "hivelog resume"
        };
        out.line(&format!(
            "Paused {scope}: no task is granted until `{resume}`."
        ));
    } else {
        out.line(&format!("Resumed {scope}: tasks are granted again."));
    }
    Ok(())
}
