//! `hivelog slot …`: named counting semaphores around expensive work,
//! e.g. `hivelog slot acquire build --agent me --wait 5m && make; hivelog
//! slot release build --agent me`.

use clap::Subcommand;
use serde_json::json;

use super::client::{CliError, Client};
use super::output::{cell, num, text, tinted, Out, Table, Tone};

#[derive(Debug, Subcommand)]
pub enum SlotCmd {
    /// Every slot with its size and holders.
    Ls,
    /// Create a slot or change its size.
    Set { name: String, permits: u32 },
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
    let answer = match &cmd {
        SlotCmd::Ls => client.get(&["api", "v2", "slots"], &[]).await?,
        SlotCmd::Set { name, permits } => {
            client
                .call(
                    reqwest::Method::PUT,
                    &["api", "v2", "slots", name],
                    &[],
                    Some(super::client::Body::Json(json!({ "permits": permits }))),
                    &[],
                )
                .await?
                .body
        }
        SlotCmd::Acquire {
            name,
            agent,
            ttl,
            wait,
        } => {
            client
                .post(
                    &["api", "v2", "slots", name, "acquire"],
                    json!({"agent_id": agent, "ttl": ttl, "wait": wait}),
                )
                .await?
        }
        SlotCmd::Release { name, agent } => {
            client
                .post(
                    &["api", "v2", "slots", name, "release"],
                    json!({ "agent_id": agent }),
                )
                .await?
        }
    };
    if out.json {
        out.json(&answer);
        return Ok(());
    }
    match cmd {
        SlotCmd::Ls => {
            let slots = answer["slots"].as_array().cloned().unwrap_or_default();
            if slots.is_empty() {
                out.line("No slots.");
                return Ok(());
            }
            let mut table = Table::new(&["SLOT", "IN USE", "HOLDERS"]);
            for s in &slots {
                let holders: Vec<String> = s["holders"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|h| text(h, "agent_id"))
                    .collect();
                let used = holders.len() as u64;
                let size = num(s, "permits");
                let tone = if used >= size { Tone::Warn } else { Tone::Good };
                table.row(vec![
                    cell(text(s, "name")),
                    tinted(format!("{used}/{size}"), tone),
                    cell(holders.join(", ")),
                ]);
            }
            table.print(&out);
        }
        SlotCmd::Set { name, permits } => out.line(&format!("Slot {name}: {permits} permits")),
        SlotCmd::Acquire { name, .. } => out.line(&format!(
            "Acquired {name} ({}/{} in use), permit {} until {}",
            answer["in_use"],
            answer["permits"],
            text(&answer["permit"], "id"),
            text(&answer["permit"], "expires_at")
        )),
        SlotCmd::Release { name, .. } => out.line(&format!(
            "Released {} permits of {name}",
            answer["released"]
        )),
    }
    Ok(())
}
