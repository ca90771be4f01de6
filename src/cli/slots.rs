//! `hivelog slot …`: named counting semaphores around expensive work,
//! e.g. `hivelog slot acquire build --agent me --wait 5m && make; hivelog
//! slot release build --agent me`.

use super::client::{typed, Body, CliError, Client};
use super::output::{cell, shown, tinted, Out, Table, Tone};
use crate::coord::slots::{Slot, SlotScope};
use crate::ops::slots::{Acquire, Acquired, ReleaseSlot, SetSlot, SlotReleased, Slots};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum SlotCmd {
    /// Every slot with its size and holders.
    Ls,
    /// Create a slot or change its size.
    Set {
        name: String,
        permits: u32,
        /// One slot for every project on the server (e.g. a build slot guarding the machine's CPUs); a new slot is its project's otherwise.
        #[arg(long, conflicts_with = "project_only")]
        machine: bool,
        /// Make it this project's alone again.
        #[arg(long = "project-only")]
        project_only: bool,
    },
    /// Take a permit (exit 1 when the slot is still full after --wait).
    Acquire {
        name: String,
        #[arg(long, env = "HIVELOG_AGENT", value_name = "AGENT_ID")]
        agent: String,
        /// The permit ends by itself after this long.
        #[arg(long, default_value = "10m", value_name = "DURATION")]
        ttl: String,
        /// Wait this long for a free permit.
        #[arg(long, default_value = "0s", value_name = "DURATION")]
        wait: String,
    },
    /// Give back the agent's permits on a slot.
    Release {
        name: String,
        #[arg(long, env = "HIVELOG_AGENT", value_name = "AGENT_ID")]
        agent: String,
    },
}

pub async fn run(client: &Client, out: Out, cmd: SlotCmd) -> Result<(), CliError> {
    match cmd {
        SlotCmd::Ls => {
            let answer: Slots = client.get_as(&["api", "v2", "slots"], &[]).await?;
            if out.json {
                out.json(&answer);
                return Ok(());
            }
            if answer.slots.is_empty() {
                out.line("No slots.");
                return Ok(());
            }
            let mut table = Table::new(&["SLOT", "IN USE", "HOLDERS"]);
            for s in &answer.slots {
                let holders: Vec<&str> = s.holders.iter().map(|h| h.agent_id.as_str()).collect();
                let used = holders.len() as u64;
                let size = u64::from(s.permits);
                let tone = if used >= size { Tone::Warn } else { Tone::Good };
                table.row(vec![
                    cell(&s.name),
                    tinted(format!("{used}/{size}"), tone),
                    cell(holders.join(", ")),
                ]);
            }
            table.print(&out);
        }
        SlotCmd::Set {
            name,
            permits,
            machine,
            project_only,
        } => {
            let scope = match (machine, project_only) {
                (true, _) => Some(SlotScope::Machine),
                (_, true) => Some(SlotScope::Project),
                _ => None,
            };
            let slot: Slot = typed(
                client
                    .call(
                        reqwest::Method::PUT,
                        &["api", "v2", "slots", &name],
                        &[],
                        Some(Body::json(&SetSlot { permits, scope })?),
                        &[],
                    )
                    .await?
                    .body,
            )?;
            if out.json {
                out.json(&slot);
            } else {
                let whose = match slot.scope {
                    SlotScope::Machine => "shared by every project",
                    SlotScope::Project => "this project's",
                };
                out.line(&format!("Slot {name}: {} permits, {whose}", slot.permits));
            }
        }
        SlotCmd::Acquire {
            name,
            agent,
            ttl,
            wait,
        } => {
            let answer: Acquired = client
                .post_as(
                    &["api", "v2", "slots", &name, "acquire"],
                    &Acquire {
                        agent_id: agent,
                        ttl: Some(ttl),
                        wait: Some(wait),
                        permits: None,
                    },
                )
                .await?;
            if out.json {
                out.json(&answer);
            } else {
                out.line(&format!(
                    "Acquired {name} ({}/{} in use), permit {} until {}",
                    answer.in_use,
                    answer.permits,
                    answer.permit.id,
                    shown(&answer.permit.expires_at)
                ));
            }
        }
        SlotCmd::Release { name, agent } => {
            let answer: SlotReleased = client
                .post_as(
                    &["api", "v2", "slots", &name, "release"],
                    &ReleaseSlot {
                        agent_id: agent,
                        permit_id: None,
                    },
                )
                .await?;
            if out.json {
                out.json(&answer);
            } else {
                out.line(&format!("Released {} permits of {name}", answer.released));
            }
        }
    }
    Ok(())
}
