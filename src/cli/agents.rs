//! `hivelog agents` and `hivelog msg …`: who is working and what they say
//! to each other.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::client::{CliError, Client};
use super::output::{ago, cell, shown, tinted, Out, Table, Tone};
use super::pubsub::follow;
use crate::api::ws::protocol::{ClientOp, Deliver};
use crate::coord::channels::{ChannelMessage, MessageInput};
use crate::ops::agents::AgentList;
use crate::ops::health::Health;
use crate::ops::messages::{MessageList, Payload, Posted, Shown};

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
    let answer: AgentList = client
        .get_as(
            &["api", "v2", "agents"],
            &[("include_stale", include_stale)],
        )
        .await?;
    if out.json {
        out.json(&answer);
        return Ok(());
    }
    if answer.agents.is_empty() {
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
    for view in &answer.agents {
        let a = &view.agent;
        let health = shown(&view.health);
        let approval = if a.needs_approval {
            tinted(
                match a.approval_message.as_deref() {
                    None | Some("") => "NEEDED".to_string(),
                    Some(message) => format!("NEEDED: {message}"),
                },
                Tone::Bad,
            )
        } else {
            cell("-")
        };
        table.row(vec![
            tinted(&a.agent_id, Tone::Accent),
            tinted(health.clone(), health_tone(&health)),
            cell(shown(&a.status)),
            cell(shown(&a.current_task)),
            approval,
            // When the server last heard from it (the heartbeat's own
            // timestamp may be another clock's, or absent).
            cell(ago(&shown(&a.last_seen))),
            cell(shown(&a.capabilities)),
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
            let body = MessageInput {
                agent_id: Some(agent),
                channel: Some(channel.clone()),
                content: Some(Value::String(content)),
                ..MessageInput::default()
            };
            let answer: Posted = client.post_as(&["api", "v2", "messages"], &body).await?;
            if out.json {
                out.json(&answer);
            } else {
                out.line(&format!(
                    "Sent to {channel} (message {})",
                    answer.sequence.unwrap_or(0)
                ));
            }
        }
        MsgCmd::Tail {
            channel,
            limit,
            follow: live,
        } => {
            let answer: MessageList = client
                .get_as(
                    &["api", "v2", "messages", &channel],
                    &[("limit", limit.to_string())],
                )
                .await?;
            let messages = answer.messages;
            for m in &messages {
                print_message(&out, m);
            }
            if !out.json && messages.is_empty() && !live {
                out.line(&format!("No messages on {channel} yet"));
            }
            if live {
                let health: Health = client.get_as(&["health"], &[]).await?;
                let subject = format!("{}.{channel}", health.subject_prefix);
                // Continue right after the last message shown (by its
                // sequence in the stream), so none posted meanwhile is missed.
                let deliver = match messages.last().and_then(|m| m.sequence) {
                    Some(id) => Deliver::StartSeq(id + 1),
                    None => Deliver::New,
                };
                let sub = ClientOp::Sub {
                    sid: Value::from(1),
                    subject,
                    deliver,
                    durable: None,
                    ack: false,
                };
                follow(client, sub, None, |m| {
                    // Messages are published as the stored record; show it
                    // the same way as the ones read over HTTP.
                    if let Some(record) = as_record(m.message, &channel) {
                        print_message(&out, &record);
                    }
                })
                .await?;
            }
        }
    }
    Ok(())
}

/// A live message as the record the channel stores; a payload that is
/// not one (another client's publish) is shown as its content.
fn as_record(m: Shown, channel: &str) -> Option<ChannelMessage> {
    let content = match m.payload {
        Payload::Data(v) => match serde_json::from_value::<ChannelMessage>(v.clone()) {
            Ok(mut record) => {
                record.sequence = record.sequence.or(m.seq);
                return Some(record);
            }
            Err(_) => v,
        },
        Payload::Text(t) => Value::String(t),
        Payload::DataB64(_) => return None,
    };
    Some(ChannelMessage {
        message_id: None,
        sequence: m.seq,
        agent_id: None,
        channel: channel.to_string(),
        content,
        timestamp: None,
        mentions: Vec::new(),
        extra: Default::default(),
    })
}

fn print_message(out: &Out, m: &ChannelMessage) {
    if out.json {
        out.json_line(m);
        return;
    }
    let time = shown(&m.timestamp);
    let time = time.get(11..19).unwrap_or(&time).to_string();
    out.line(&format!(
        "{} {} {}",
        out.paint(Tone::Dim, &time),
        out.paint(Tone::Accent, &format!("{}:", shown(&m.agent_id))),
        shown(&m.content)
    ));
}
