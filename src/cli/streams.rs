//! `hivelog stream …`: the log's streams, as `nats stream` would show them.

use clap::{Args, Subcommand};

use super::client::{typed, CliError, Client};
use super::output::{bytes, cell, shown, tinted, Out, Table, Tone};
use crate::log::duration::{format_duration, parse_duration};
use crate::log::{StreamConfigInput, DEFAULT_MAX_MSG_SIZE};
use crate::ops::streams::{PurgeRequest, Purged, Stream, Streams};

#[derive(Debug, Subcommand)]
pub enum StreamCmd {
    /// List streams with their subjects and sizes.
    Ls,
    /// A stream's configuration and state.
    Info { name: String },
    /// Create a stream (or confirm one with the same configuration exists).
    Add(StreamAddArgs),
    /// Delete a stream and every message in it.
    Rm { name: String },
    /// Delete messages from a stream: all, or those on a subject, optionally keeping the newest N.
    Purge {
        name: String,
        /// Only messages on this subject (pattern allowed).
        #[arg(long)]
        subject: Option<String>,
        /// Keep the newest N (per subject when --subject is given).
        #[arg(long, value_name = "N")]
        keep: Option<u64>,
        /// Do not ask first (on a terminal, purge asks for confirmation).
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct StreamAddArgs {
    /// Stream name (letters, digits, `-` and `_`).
    name: String,
    /// Subjects it stores (repeatable or comma-separated; patterns allowed).
    #[arg(
        long = "subjects",
        short = 's',
        required = true,
        value_delimiter = ',',
        value_name = "SUBJECT"
    )]
    subjects: Vec<String>,
    /// Drop messages older than this (`7d`, `2h`, seconds).
    #[arg(long, value_name = "AGE")]
    max_age: Option<String>,
    /// Keep at most N messages.
    #[arg(long, value_name = "N")]
    max_msgs: Option<u64>,
    /// Keep at most N bytes.
    #[arg(long, value_name = "N")]
    max_bytes: Option<u64>,
    /// Keep at most N messages per subject.
    #[arg(long, value_name = "N")]
    max_msgs_per_subject: Option<u64>,
    /// Refuse messages larger than N bytes (default 1 MiB).
    #[arg(long, value_name = "N")]
    max_msg_size: Option<u64>,
    /// When full: `old` drops the oldest, `new` refuses the new message.
    #[arg(long, value_parser = ["old", "new"])]
    discard: Option<String>,
    /// How long a Nats-Msg-Id is remembered for de-duplication (default 2m).
    #[arg(long, value_name = "DURATION")]
    duplicate_window: Option<String>,
    #[arg(long)]
    description: Option<String>,
}

pub async fn stream(client: &Client, out: Out, cmd: StreamCmd) -> Result<(), CliError> {
    match cmd {
        StreamCmd::Ls => {
            let answer = client.get(&["api", "streams"], &[]).await?;
            if out.json {
                out.json(&answer);
                return Ok(());
            }
            print_streams(&out, &typed(answer)?);
        }
        StreamCmd::Info { name } => {
            let answer = client.get(&["api", "streams", &name], &[]).await?;
            if out.json {
                out.json(&answer);
                return Ok(());
            }
            let info: Stream = typed(answer)?;
            let (config, state) = (&info.config, &info.state);
            let limit = |v: Option<String>| v.unwrap_or_else(|| "unlimited".into());
            out.fields(&[
                ("stream", shown(&config.name)),
                ("description", shown(&config.description)),
                ("subjects", shown(&config.subjects)),
                ("created", shown(&info.created)),
                ("messages", state.messages.to_string()),
                ("bytes", bytes(state.bytes)),
                (
                    "first seq",
                    format!("{} ({})", state.first_seq, shown(&state.first_ts)),
                ),
                (
                    "last seq",
                    format!("{} ({})", state.last_seq, shown(&state.last_ts)),
                ),
                ("subjects stored", state.num_subjects.to_string()),
                ("consumers", state.consumer_count.to_string()),
                ("max age", limit(config.max_age.map(format_duration))),
                ("max msgs", limit(config.max_msgs.map(|n| n.to_string()))),
                ("max bytes", limit(config.max_bytes.map(|n| n.to_string()))),
                (
                    "max msgs/subject",
                    limit(config.max_msgs_per_subject.map(|n| n.to_string())),
                ),
                ("max msg size", bytes(config.max_msg_size)),
                ("discard", shown(&config.discard)),
                ("duplicate window", format_duration(config.duplicate_window)),
            ]);
        }
        StreamCmd::Add(args) => {
            let duration = |flag: &str, text: Option<String>| {
                text.map(|t| {
                    parse_duration(&t).map_err(|e| CliError::input(format!("--{flag} {t:?}: {e}")))
                })
                .transpose()
            };
            let config = StreamConfigInput {
                name: args.name,
                subjects: args.subjects,
                max_age: duration("max-age", args.max_age)?,
                max_msgs: args.max_msgs,
                max_bytes: args.max_bytes,
                max_msgs_per_subject: args.max_msgs_per_subject,
                max_msg_size: args.max_msg_size.unwrap_or(DEFAULT_MAX_MSG_SIZE),
                discard: args
                    .discard
                    .as_deref()
                    .map(parse_word)
                    .transpose()?
                    .unwrap_or_default(),
                duplicate_window: duration("duplicate-window", args.duplicate_window)?,
                description: args.description,
            };
            let answer: Stream = client.post_as(&["api", "streams"], &config).await?;
            if out.json {
                out.json(&answer);
            } else {
                out.line(&format!(
                    "Stream {} stores {}",
                    out.paint(Tone::Accent, &answer.config.name),
                    shown(&answer.config.subjects)
                ));
            }
        }
        StreamCmd::Rm { name } => {
            let answer = client.delete(&["api", "streams", &name]).await?;
            done(&out, &answer, &format!("Deleted stream {name}"));
        }
        StreamCmd::Purge {
            name,
            subject,
            keep,
            yes,
        } => {
            if !yes && !confirm_purge(client, &name, subject.as_deref(), keep).await? {
                out.line("Nothing purged");
                return Ok(());
            }
            let answer = client
                .post(
                    &["api", "streams", &name, "purge"],
                    &PurgeRequest { subject, keep },
                )
                .await?;
            let purged = if out.json {
                0
            } else {
                typed::<Purged>(answer.clone())?.purged
            };
            done(
                &out,
                &answer,
                &format!("Purged {purged} messages from {name}"),
            );
        }
    }
    Ok(())
}

/// On a terminal, asks before deleting messages; scripts (no terminal)
/// are not asked.
async fn confirm_purge(
    client: &Client,
    name: &str,
    subject: Option<&str>,
    keep: Option<u64>,
) -> Result<bool, CliError> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Ok(true);
    }
    let info = client.get(&["api", "streams", name], &[]).await?;
    let which = match (subject, keep) {
        (Some(s), Some(k)) => format!("messages on {s} except the newest {k} per subject"),
        (Some(s), None) => format!("every message on {s}"),
        (None, Some(k)) => format!("all but the newest {k} messages"),
        (None, None) => "every message".to_string(),
    };
    eprint!(
        "Delete {which} from {name} ({} stored)? This cannot be undone. [y/N] ",
        typed::<Stream>(info)?.state.messages
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::input(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES"))
}

/// The streams of a `GET /api/streams` answer as a table (also used by
/// `hivelog status`).
pub fn print_streams(out: &Out, answer: &Streams) {
    let mut table = Table::new(&[
        "STREAM",
        "SUBJECTS",
        "MESSAGES",
        "BYTES",
        "LAST SEQ",
        "CONSUMERS",
        "MAX AGE",
    ]);
    for s in &answer.streams {
        let (config, state) = (&s.config, &s.state);
        table.row(vec![
            tinted(config.name.clone(), Tone::Accent),
            cell(shown(&config.subjects)),
            cell(state.messages.to_string()),
            cell(bytes(state.bytes)),
            cell(state.last_seq.to_string()),
            cell(state.consumer_count.to_string()),
            cell(config.max_age.map_or_else(|| "-".into(), format_duration)),
        ]);
    }
    table.print(out);
}

pub fn done(out: &Out, answer: &impl serde::Serialize, message: &str) {
    if out.json {
        out.json(answer);
    } else {
        out.line(message);
    }
}

/// A word of a fixed vocabulary (a policy), read the way the server reads it.
pub fn parse_word<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, CliError> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|e| CliError::input(format!("{text:?}: {e}")))
}
