//! `hivelog import-jetstream`: moving from the replaced stack. It kept
//! everything in one JetStream stream (`MJ_ONLINE_WORK`, `mjwork.>`),
//! publishing each version of a task whole on `mjwork.tasks`. The import
//! reads that stream from its start, creates each task as its newest
//! version says (tasks hivelog already has stay as they are, so it can
//! run again), and copies the messages, so the compatible routes answer
//! as the old service did. It opens the store itself: stop `serve` first.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use serde_json::Value;

use crate::config::BackendArgs;
use crate::coord::import::{PriorityMapped, ORIGINAL_PRIORITY};
use crate::coord::{CoordConfig, Coordinator, Imported};
use crate::log::{Log, LogOptions, Message};
use crate::streams::generic::StreamError;
use crate::streams::LogPort;
use crate::streams::{PortError, HISTORY_STREAM};

#[derive(Debug, clap::Args)]
pub struct ImportJetStreamArgs {
    /// The old stack's NATS server, e.g. nats://127.0.0.1:4222 (several comma-separated for a cluster).
    pub source: String,
    /// The stream it wrote.
    #[arg(long, default_value = HISTORY_STREAM)]
    pub stream: String,
    /// A NATS credentials file for the source.
    #[arg(long, value_name = "FILE")]
    pub source_creds: Option<std::path::PathBuf>,
    /// A NATS token for the source.
    #[arg(long, hide_env_values = true)]
    pub source_token: Option<String>,
    /// The data directory `serve` will use (for the embedded backend).
    #[arg(long, env = "HIVELOG_DATA_DIR", default_value = "./hivelog-data")]
    pub data_dir: std::path::PathBuf,
    /// The subject prefix the old stack used (`<prefix>.tasks`, …).
    #[arg(long, env = "HIVELOG_SUBJECT_PREFIX", default_value = "mjwork")]
    pub subject_prefix: String,
    #[command(flatten)]
    pub store: BackendArgs,
}

/// What one import did, printed at its end.
#[derive(Debug, Default)]
struct Report {
    read: u64,
    copied: u64,
    not_copied: u64,
    versions: u64,
    unreadable: u64,
    created: u64,
    kept: u64,
    /// Tasks whose priority hivelog does not know, with the one they got.
    mapped: Vec<(String, PriorityMapped)>,
    refused: Vec<String>,
}

pub async fn import_jetstream(args: ImportJetStreamArgs) -> anyhow::Result<()> {
    let source = connect(
        &args.source,
        args.source_creds.as_deref(),
        args.source_token.as_deref(),
    )
    .await
    .with_context(|| format!("cannot reach the source {}", args.source))?;
    let js = jetstream::new(source);
    let stream = js
        .get_stream(&args.stream)
        .await
        .with_context(|| format!("no stream {} on {}", args.stream, args.source))?;

    let log = Log::open(&args.data_dir, LogOptions::default()).with_context(|| {
        format!(
            "cannot open {} (is `hivelog serve` running on it? stop it first)",
            args.data_dir.display()
        )
    })?;
    let prefix = args.subject_prefix.clone();
    let port = super::backend::open(&args.store, &log, &prefix).await?;
    // Into the very stream the old stack wrote (a hivelog on the same NATS
    // server uses it as its history stream), copying would double it.
    let copy = !(port.is_shared()
        && same_servers(&args.store.backend, &args.source)
        && args.stream == HISTORY_STREAM);
    let config = CoordConfig {
        prefix: prefix.clone(),
        ..CoordConfig::default()
    };
    let coord = Coordinator::open(port, config)
        .await
        .context("cannot load hivelog's tasks")?;

    let mut report = Report::default();
    let copied_through = if copy {
        coord.tasks().import_position(&args.stream).await?
    } else {
        0
    };
    let mut last_seq = copied_through;
    let tasks_subject = format!("{prefix}.tasks");
    // Newest version of each task, in the order tasks first appeared (so
    // dependencies usually exist before their dependents).
    let mut newest: HashMap<String, Value> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .context("cannot read the source stream")?;
    // Read as far as the stream held when the import began.
    let pending = consumer.cached_info().num_pending;
    let mut messages = consumer
        .messages()
        .await
        .context("cannot read the source stream")?;
    while report.read < pending {
        let m = match tokio::time::timeout(Duration::from_secs(30), messages.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => anyhow::bail!("reading the source stream failed: {e}"),
            Ok(None) => break,
            Err(_) => anyhow::bail!(
                "the source stream stopped sending after {} messages",
                report.read
            ),
        };
        report.read += 1;
        let subject = m.subject.to_string();
        let info = m
            .info()
            .map_err(|e| anyhow::anyhow!("a message without its metadata: {e}"))?;
        let seq = info.stream_sequence;
        if copy && seq > copied_through {
            // With its headers and the time the old stack stored it.
            let message = Message {
                stream: None,
                seq,
                subject: subject.clone(),
                time_ns: i64::try_from(info.published.unix_timestamp_nanos()).unwrap_or(0),
                headers: m
                    .headers
                    .iter()
                    .flat_map(|h| h.iter())
                    .filter_map(|(k, v)| Some((k.to_string(), v.last()?.as_str().to_string())))
                    .collect(),
                payload: m.payload.to_vec(),
            };
            match coord.port().copy_in(&message).await {
                Ok(_) => report.copied += 1,
                Err(StreamError::Port(PortError::NotFound(_))) => report.not_copied += 1,
                Err(e) => return Err(anyhow::anyhow!("cannot store {subject}: {e}")),
            }
            last_seq = seq;
            // An interrupted import goes on from here next time.
            if report.read % 1000 == 0 {
                coord
                    .tasks()
                    .set_import_position(&args.stream, last_seq)
                    .await?;
            }
        }
        if subject != tasks_subject {
            continue;
        }
        report.versions += 1;
        let version: Option<Value> = serde_json::from_slice(&m.payload).ok();
        match version.as_ref().and_then(|v| v.get("task_id")).map(id_text) {
            Some(id) if !id.is_empty() => {
                if !newest.contains_key(&id) {
                    order.push(id.clone());
                }
                newest.insert(id, version.unwrap_or_default());
            }
            _ => {
                report.unreadable += 1;
                tracing::warn!(seq, "a message on {tasks_subject} is not a task; skipped");
            }
        }
    }
    if last_seq > copied_through {
        coord
            .tasks()
            .set_import_position(&args.stream, last_seq)
            .await?;
    }
    for id in order {
        let Some(version) = newest.remove(&id) else {
            continue;
        };
        match coord.tasks().import(&version).await {
            Ok((Imported::Created, mapped)) => {
                report.created += 1;
                if let Some(m) = mapped {
                    report.mapped.push((id.clone(), m));
                }
            }
            Ok((Imported::Kept, _)) => report.kept += 1,
            Err(crate::coord::CoordError::Invalid(why)) => {
                report.refused.push(format!("{id}: {why}"))
            }
            Err(e) => return Err(anyhow::anyhow!("cannot store task {id}: {e}")),
        }
    }
    drop(coord);
    log.close().context("cannot close the data directory")?;
    print_report(&report, &args, copy);
    if report.refused.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} task(s) could not be imported (listed above)",
            report.refused.len()
        )
    }
}

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn same_servers(a: &str, b: &str) -> bool {
    let set = |s: &str| {
        let mut v: Vec<String> = s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect();
        v.sort();
        v
    };
    set(a) == set(b)
}

async fn connect(
    url: &str,
    creds: Option<&std::path::Path>,
    token: Option<&str>,
) -> anyhow::Result<async_nats::Client> {
    let mut options = async_nats::ConnectOptions::new().name("hivelog import");
    if let Some(creds) = creds {
        options = options.credentials_file(creds).await?;
    }
    if let Some(token) = token {
        options = options.token(token.to_string());
    }
    let servers = crate::streams::jetstream::server_list(url)?;
    Ok(options.connect(servers).await?)
}

fn print_report(r: &Report, args: &ImportJetStreamArgs, copied: bool) {
    println!(
        "read {} messages from {} on {}",
        r.read, args.stream, args.source
    );
    if copied {
        println!(
            "copied {} messages ({} on subjects hivelog does not store; {} copied by an earlier import)",
            r.copied,
            r.not_copied,
            r.read - r.copied - r.not_copied
        );
    } else {
        println!(
            "messages not copied: hivelog uses {} on that server as its history stream",
            args.stream
        );
    }
    println!(
        "{} task versions: {} tasks created, {} already in hivelog and kept, {} unreadable versions skipped",
        r.versions, r.created, r.kept, r.unreadable
    );
    for (id, m) in &r.mapped {
        println!(
            "priority mapped: {id}: {:?} -> {} (kept as {ORIGINAL_PRIORITY})",
            m.from,
            m.to.as_str()
        );
    }
    for why in &r.refused {
        println!("not imported: {why}");
    }
}
