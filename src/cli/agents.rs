//! `hivelog agents` and `hivelog msg …`: who is working and what they say
//! to each other.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::client::{CliError, Client};
use super::output::{ago, cell, num, text, tinted, Out, Table, Tone};
use super::pubsub::follow;

#[derive(Debug, Args)]
pub struct AgentsArgs {
    /// Only agents heard from recently (hide stale and dead ones).
    #[arg(long)]
    active: bool,
}

pub fn health_tone(health: &str) -> Tone {
    match health {
        "active" => Tone::Good,
        "stale" => Tone::Warn,
        _ => Tone::Bad,
    }
}

pub async fn list(client: &Client, out: Out, args: AgentsArgs) -> Result<(), CliError> {
    let include_stale = (!args.active).to_string();
    let answer = client
        .get(
            &["api", "v2", "agents"],
            &[("include_stale", include_stale)],
        )
        .await?;
    if out.json {
        out.json(&answer);
        return Ok(());
    }
    let agents = answer["agents"].as_array().cloned().unwrap_or_default();
    if agents.is_empty() {
        out.line("No agents have registered yet");
        return Ok(());
    }
    let mut table = Table::new(&[
        "AGENT",
        "HEALTH",
        "STATUS",
        "TASK",
        "APPROVAL",
        "LAST SEEN",
        "CAPABILITIES",
    ]);
    for a in &agents {
        let health = text(a, "health");
        let approval = if a["needs_approval"] == json!(true) {
            let message = text(a, "approval_message");
            tinted(
                if message == "-" {
                    "NEEDED".to_string()
                } else {
                    format!("NEEDED: {message}")
                },
                Tone::Bad,
            )
        } else {
            cell("-")
        };
        table.row(vec![
            tinted(text(a, "agent_id"), Tone::Accent),
            tinted(health.clone(), health_tone(&health)),
            cell(text(a, "status")),
            cell(text(a, "current_task")),
            approval,
            // When the server last heard from it (the heartbeat's own
            // timestamp may be another clock's, or absent).
            cell(ago(&text(a, "last_seen"))),
            cell(text(a, "capabilities")),
        ]);
    }
    table.print(&out);
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum MsgCmd {
    /// Post a message to a channel (`@name` mentions an agent).
    Send {
        channel: String,
        text: String,
        #[arg(long, value_name = "AGENT_ID")]
        agent: String,
    },
    /// Show a channel's latest messages, oldest first.
    Tail {
        channel: String,
        /// How many stored messages to show.
        #[arg(long, short = 'n', default_value_t = 20, value_name = "N")]
        limit: u64,
        /// Then keep printing new messages as they arrive.
        #[arg(long, short = 'f')]
        follow: bool,
    },
}

pub async fn msg(client: &Client, out: Out, cmd: MsgCmd) -> Result<(), CliError> {
    match cmd {
        MsgCmd::Send {
            channel,
            text: content,
            agent,
        } => {
            let body = json!({"agent_id": agent, "channel": channel, "content": content});
            let answer = client.post(&["api", "v2", "messages"], body).await?;
            if out.json {
                out.json(&answer);
            } else {
                out.line(&format!(
                    "Sent to {channel} (message {})",
                    num(&answer, "sequence")
                ));
            }
        }
        MsgCmd::Tail {
            channel,
            limit,
            follow: live,
        } => {
            let answer = client
                .get(
                    &["api", "v2", "messages", &channel],
                    &[("limit", limit.to_string())],
                )
                .await?;
            let messages = answer["messages"].as_array().cloned().unwrap_or_default();
            for m in &messages {
                print_message(&out, m);
            }
            if !out.json && messages.is_empty() && !live {
                out.line(&format!("No messages on {channel} yet"));
            }
            if live {
                let health = client.get(&["health"], &[]).await?;
                let prefix = health["subject_prefix"].as_str().unwrap_or("mjwork");
                let subject = format!("{prefix}.{channel}");
                // Continue right after the last message shown (by its
                // sequence in the stream), so none posted meanwhile is missed.
                let deliver = match messages.last().and_then(|m| m["sequence"].as_u64()) {
                    Some(id) => json!({ "start_seq": id + 1 }),
                    None => json!("new"),
                };
                let sub = json!({"op": "sub", "sid": 1, "subject": subject, "deliver": deliver});
                follow(client, sub, None, |frame| {
                    // Messages are published as the stored record; show it
                    // the same way as the ones read over HTTP.
                    let record = frame
                        .get("data")
                        .cloned()
                        .unwrap_or_else(|| json!({"content": frame["text"]}));
                    print_message(&out, &record);
                })
                .await?;
            }
        }
    }
    Ok(())
}

fn print_message(out: &Out, m: &Value) {
    if out.json {
        out.line(&m.to_string());
        return;
    }
    let time = text(m, "timestamp");
    let time = time.get(11..19).unwrap_or(&time).to_string();
    out.line(&format!(
        "{} {} {}",
        out.paint(Tone::Dim, &time),
        out.paint(Tone::Accent, &format!("{}:", text(m, "agent_id"))),
        text(m, "content")
    ));
}
