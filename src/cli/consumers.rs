//! `hivelog consumer …`: a stream's pull consumers, as `nats consumer`
//! would show them, and fetching from one from a terminal.

use super::client::{typed, CliError, Client};
use super::output::{cell, shown, tinted, Out, Table, Tone};
use super::pubsub::payload_text;
use super::streams::{done, parse_word};
use crate::log::duration::{format_duration, parse_duration};
use crate::log::{AckPolicy, ConsumerConfig, DeliverPolicy};
use crate::ops::consumers::{AckRequest, Consumer, Consumers, Fetched};
use clap::{Args, Subcommand};

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
                ("deliver", shown(&config.deliver_policy)),
                ("ack policy", shown(&config.ack_policy)),
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
            let defaults = ConsumerConfig::default();
            let mut config = ConsumerConfig {
                durable_name: Some(args.name),
                filter_subjects: args.filter,
                deliver_policy: parse_word(&args.deliver)?,
                ack_policy: parse_word(&args.ack)?,
                max_deliver: args.max_deliver,
                max_ack_pending: args.max_ack_pending.unwrap_or(defaults.max_ack_pending),
                ..defaults
            };
            if let Some(seq) = args.start_seq {
                config.deliver_policy = DeliverPolicy::ByStartSequence;
                config.opt_start_seq = Some(seq);
            }
            if let Some(wait) = &args.ack_wait {
                config.ack_wait = parse_duration(wait)
                    .map_err(|e| CliError::input(format!("--ack-wait {wait:?}: {e}")))?;
            }
            let answer: Consumer = client
                .post_as(&["api", "streams", &args.stream, "consumers"], &config)
                .await?;
            done(
                &out,
                &answer,
                &format!("Consumer {} on {} is ready", answer.name, args.stream),
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
            let answer: Fetched = typed(
                client
                    .call(
                        reqwest::Method::POST,
                        &["api", "streams", &stream, "consumers", &name, "next"],
                        &[("batch", batch.to_string()), ("expires", wait)],
                        None,
                        &[],
                    )
                    .await?
                    .body,
            )?;
            let messages = &answer.messages;
            if !out.json {
                if messages.is_empty() {
                    out.line("No messages waiting");
                }
                for m in messages {
                    out.line(&format!(
                        "{} {}  {}",
                        out.paint(Tone::Dim, &format!("#{}", shown(&m.message.seq))),
                        out.paint(Tone::Accent, &m.message.subject),
                        payload_text(&m.message.payload)
                    ));
                }
            }
            if !no_ack && !messages.is_empty() {
                // What to acknowledge depends on the consumer's ack policy:
                // each message, only the last (it covers the rest), or none.
                let info: Consumer = client
                    .get_as(&["api", "streams", &stream, "consumers", &name], &[])
                    .await?;
                let to_ack: Vec<_> = match info.config.ack_policy {
                    AckPolicy::None => Vec::new(),
                    AckPolicy::All => messages.last().into_iter().collect(),
                    AckPolicy::Explicit => messages.iter().collect(),
                };
                for m in to_ack {
                    let ack = AckRequest {
                        seq: m.message.seq,
                        ..AckRequest::default()
                    };
                    client
                        .post(
                            &["api", "streams", &stream, "consumers", &name, "ack"],
                            &ack,
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
