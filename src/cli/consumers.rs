//! `hivelog consumer …`: a stream's pull consumers, as `nats consumer`
//! would show them, and fetching from one from a terminal.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::client::{typed, CliError, Client};
use super::output::{cell, num, text, tinted, Out, Table, Tone};
use super::pubsub::payload_text;
use super::streams::done;
use crate::log::duration::format_duration;
use crate::ops::consumers::{Consumer, Consumers};

#[derive(Debug, Subcommand)]
pub enum ConsumerCmd {
    /// List a stream's consumers with what is pending.
    Ls { stream: String },
    /// A consumer's configuration and position.
    Info { stream: String, name: String },
    /// Create a durable pull consumer (idempotent with the same configuration).
    Add(ConsumerAddArgs),
    /// Delete a consumer.
    Rm { stream: String, name: String },
    /// Fetch messages from a consumer and acknowledge each once printed.
    Next {
        stream: String,
        name: String,
        /// Up to N messages.
        #[arg(long, default_value_t = 1, value_name = "N")]
        batch: u64,
        /// Wait up to this long for the first message (`5s`, `1m`).
        #[arg(long, default_value = "0s", value_name = "DURATION")]
        wait: String,
        /// Leave the messages unacknowledged (they come back after ack_wait).
        #[arg(long)]
        no_ack: bool,
    },
}

#[derive(Debug, Args)]
pub struct ConsumerAddArgs {
    stream: String,
    /// Durable name: the consumer and its position survive restarts.
    name: String,
    /// Only messages on these subjects (repeatable or comma-separated).
    #[arg(long = "filter", value_delimiter = ',', value_name = "SUBJECT")]
    filter: Vec<String>,
    /// Where to start.
    #[arg(long, default_value = "all", value_parser = ["all", "new", "last", "last_per_subject"])]
    deliver: String,
    /// Start at this stream sequence instead (overrides --deliver).
    #[arg(long, value_name = "SEQ")]
    start_seq: Option<u64>,
    #[arg(long, default_value = "explicit", value_parser = ["explicit", "none", "all"])]
    ack: String,
    /// Redeliver a message not acknowledged within this long (default 30s).
    #[arg(long, value_name = "DURATION")]
    ack_wait: Option<String>,
    /// Give up on a message after N deliveries.
    #[arg(long, value_name = "N")]
    max_deliver: Option<u64>,
    /// At most N messages delivered and not yet acknowledged (default 1000).
    #[arg(long, value_name = "N")]
    max_ack_pending: Option<u64>,
}

pub async fn consumer(client: &Client, out: Out, cmd: ConsumerCmd) -> Result<(), CliError> {
    match cmd {
        ConsumerCmd::Ls { stream } => {
            let answer = client
                .get(&["api", "streams", &stream, "consumers"], &[])
                .await?;
            if out.json {
                out.json(&answer);
                return Ok(());
            }
            let answer: Consumers = typed(answer)?;
            let mut table = Table::new(&[
                "CONSUMER",
                "DURABLE",
                "FILTER",
                "DELIVERED",
                "ACK FLOOR",
                "PENDING",
                "ACK PENDING",
                "REDELIVERED",
            ]);
            for c in &answer.consumers {
                table.row(vec![
                    tinted(c.name.clone(), Tone::Accent),
                    cell(if c.durable { "yes" } else { "no" }),
                    cell(list(&c.config.filter_subjects)),
                    cell(c.delivered.stream_seq.to_string()),
                    cell(c.ack_floor.stream_seq.to_string()),
                    cell(c.num_pending.to_string()),
                    cell(c.num_ack_pending.to_string()),
                    cell(c.num_redelivered.to_string()),
                ]);
            }
            table.print(&out);
        }
        ConsumerCmd::Info { stream, name } => {
            let answer = client
                .get(&["api", "streams", &stream, "consumers", &name], &[])
                .await?;
            if out.json {
                out.json(&answer);
                return Ok(());
            }
            let c: Consumer = typed(answer)?;
            let config = &c.config;
            out.fields(&[
                ("consumer", c.name.clone()),
                ("stream", c.stream_name.clone()),
                ("durable", c.durable.to_string()),
                ("filter", list(&config.filter_subjects)),
                ("deliver", word(&config.deliver_policy)),
                ("ack policy", word(&config.ack_policy)),
                ("ack wait", format_duration(config.ack_wait)),
                (
                    "max deliver",
                    config.max_deliver.map_or("-".into(), |n| n.to_string()),
                ),
                ("max ack pending", config.max_ack_pending.to_string()),
                (
                    "delivered",
                    format!("stream seq {}", c.delivered.stream_seq),
                ),
                (
                    "ack floor",
                    format!("stream seq {}", c.ack_floor.stream_seq),
                ),
                ("pending", c.num_pending.to_string()),
                ("ack pending", c.num_ack_pending.to_string()),
                ("redelivered", c.num_redelivered.to_string()),
            ]);
        }
        ConsumerCmd::Add(args) => {
            let mut config = json!({
                "durable_name": args.name,
                "filter_subjects": args.filter,
                "deliver_policy": args.deliver,
                "ack_policy": args.ack,
            });
            if let Some(seq) = args.start_seq {
                config["deliver_policy"] = json!("by_start_sequence");
                config["opt_start_seq"] = json!(seq);
            }
            for (key, value) in [
                ("ack_wait", args.ack_wait.map(Value::from)),
                ("max_deliver", args.max_deliver.map(Value::from)),
                ("max_ack_pending", args.max_ack_pending.map(Value::from)),
            ] {
                if let Some(value) = value {
                    config[key] = value;
                }
            }
            let answer = client
                .post(&["api", "streams", &args.stream, "consumers"], config)
                .await?;
            done(
                &out,
                &answer,
                &format!(
                    "Consumer {} on {} is ready",
                    text(&answer, "name"),
                    args.stream
                ),
            );
        }
        ConsumerCmd::Rm { stream, name } => {
            let answer = client
                .delete(&["api", "streams", &stream, "consumers", &name])
                .await?;
            done(
                &out,
                &answer,
                &format!("Deleted consumer {name} of {stream}"),
            );
        }
        ConsumerCmd::Next {
            stream,
            name,
            batch,
            wait,
            no_ack,
        } => {
            let answer = client
                .call(
                    reqwest::Method::POST,
                    &["api", "streams", &stream, "consumers", &name, "next"],
                    &[("batch", batch.to_string()), ("expires", wait)],
                    None,
                    &[],
                )
                .await?
                .body;
            let messages = answer["messages"].as_array().cloned().unwrap_or_default();
            if !out.json {
                if messages.is_empty() {
                    out.line("No messages waiting");
                }
                for m in &messages {
                    out.line(&format!(
                        "{} {}  {}",
                        out.paint(Tone::Dim, &format!("#{}", num(m, "seq"))),
                        out.paint(Tone::Accent, &text(m, "subject")),
                        payload_text(m)
                    ));
                }
            }
            if !no_ack && !messages.is_empty() {
                // What to acknowledge depends on the consumer's ack policy:
                // each message, only the last (it covers the rest), or none.
                let info = client
                    .get(&["api", "streams", &stream, "consumers", &name], &[])
                    .await?;
                let to_ack: Vec<&Value> = match info["config"]["ack_policy"].as_str() {
                    Some("none") => Vec::new(),
                    Some("all") => messages.last().into_iter().collect(),
                    _ => messages.iter().collect(),
                };
                for m in to_ack {
                    client
                        .post(
                            &["api", "streams", &stream, "consumers", &name, "ack"],
                            json!({"seq": m["seq"]}),
                        )
                        .await?;
                }
            }
            if out.json {
                out.json(&answer);
            }
        }
    }
    Ok(())
}

/// A list as one cell: comma-separated, `-` when empty.
fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(",")
    }
}

/// A unit enum as the word the API uses for it.
fn word(v: &impl serde::Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "-".into(),
    }
}
