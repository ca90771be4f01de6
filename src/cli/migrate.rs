//! `hivelog migrate --from A --to B`: moves what a backend keeps between a
//! data directory and a NATS JetStream server or cluster, either way. It
//! copies the state stream (every version of each task, agent,
//! reservation, slot, inbox entry) and the history stream (`<prefix>.>`)
//! message by message with subjects, headers and times, then the durable
//! consumers of the history stream at their positions. Sequences differ in
//! the new store; the few records that name one (inbox ack floors,
//! consumer positions) are translated. The target must hold no hivelog
//! state yet, and nothing may run on either side meanwhile.

use anyhow::Context;
use serde_json::Value;

use crate::config::BackendArgs;
use crate::log::{Log, LogOptions, Message};
use crate::streams::{Backend, LogBackend, HISTORY_STREAM, STATE_STREAM};

/// Messages read per round.
const BATCH: usize = 1_000;

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Where the data is now: a data directory, or nats://host:4222[,…].
    #[arg(long)]
    pub from: String,
    /// Where it goes: nats://host:4222[,…], or a data directory (new or empty).
    #[arg(long)]
    pub to: String,
    /// The subject prefix of the history stream (`<prefix>.>`).
    #[arg(long, env = "HIVELOG_SUBJECT_PREFIX", default_value = "mjwork")]
    pub subject_prefix: String,
    /// Copies of each stream created in NATS (default: 3 when 3 or more servers are named, else 1).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub replicas: Option<u8>,
    /// A NATS credentials file for the nats:// side.
    #[arg(long, value_name = "FILE")]
    pub nats_creds: Option<std::path::PathBuf>,
    /// A NATS token for the nats:// side.
    #[arg(long, hide_env_values = true)]
    pub nats_token: Option<String>,
}

/// One side of the move, with the log it is opened on (closed at the end).
struct Side {
    backend: Backend,
    log: Option<Log>,
    name: String,
}

async fn open(place: &str, args: &MigrateArgs) -> anyhow::Result<Side> {
    if super::backend::is_nats_url(place) {
        let config = BackendArgs {
            backend: place.to_string(),
            replicas: args.replicas,
            backend_creds: args.nats_creds.clone(),
            backend_token: args.nats_token.clone(),
        };
        let backend = super::backend::open_nats(&config, &args.subject_prefix).await?;
        return Ok(Side {
            backend,
            log: None,
            name: place.to_string(),
        });
    }
    let log = Log::open(std::path::Path::new(place), LogOptions::default()).with_context(|| {
        format!("cannot open {place} (is `hivelog serve` running on it? stop it first)")
    })?;
    let port = LogBackend::open(log.clone(), &args.subject_prefix)
        .context("cannot create the default streams")?;
    Ok(Side {
        backend: Backend::Embedded(port),
        log: Some(log),
        name: place.to_string(),
    })
}

/// Old sequence → new, in copy order (both ascending).
#[derive(Default)]
pub(super) struct SeqMap(Vec<(u64, u64)>);

impl SeqMap {
    /// Where a position at old sequence `old` lands: after the newest copy
    /// of a message at or before it (0 when there was none).
    pub(super) fn at_or_before(&self, old: u64) -> u64 {
        match self.0.partition_point(|(o, _)| *o <= old) {
            0 => 0,
            i => self.0[i - 1].1,
        }
    }
}

/// Copies every durable consumer of the history stream, each starting
/// right after the copy of the last message it had acknowledged, so its
/// reader neither misses nor re-reads what it had finished (deliveries not
/// yet acknowledged come again, as after an ack wait); returns their names.
async fn copy_durables(from: &Backend, to: &Backend, map: &SeqMap) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for d in from.durables().await? {
        let start = map.at_or_before(d.floor) + 1;
        to.create_durable(&d, start)
            .await
            .with_context(|| format!("cannot create consumer {}", d.name))?;
        names.push(d.name);
    }
    Ok(names)
}

pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let (from_nats, to_nats) = (
        super::backend::is_nats_url(&args.from),
        super::backend::is_nats_url(&args.to),
    );
    if from_nats == to_nats {
        anyhow::bail!(
            "one side must be a data directory and the other nats://…; to move a data directory, stop the server and copy the directory"
        );
    }
    let from = open(&args.from, &args).await?;
    let to = open(&args.to, &args).await?;
    let already = to.backend.stream_state(STATE_STREAM).await?.messages;
    if already > 0 {
        anyhow::bail!(
            "{} already holds hivelog state ({already} records in {STATE_STREAM}); migrate into an empty store",
            to.name
        );
    }

    let state = copy_stream(&from, &to, STATE_STREAM).await?;
    let history = copy_stream(&from, &to, HISTORY_STREAM).await?;
    let consumers = copy_durables(&from.backend, &to.backend, &history.map).await?;

    println!(
        "copied {} of {} records of {STATE_STREAM} (tasks, agents, reservations, slots, inboxes) and {} of {} messages of {HISTORY_STREAM} from {} to {}",
        state.copied, state.source_messages, history.copied, history.source_messages, from.name, to.name
    );
    println!(
        "consumers of {HISTORY_STREAM} copied at their positions: {}",
        list(&consumers)
    );
    if let Some(log) = &from.log {
        let own: Vec<String> = log
            .stream_names()
            .into_iter()
            .filter(|n| n != STATE_STREAM && n != HISTORY_STREAM)
            .collect();
        if !own.is_empty() {
            println!(
                "streams of your own stay in {} (an instance on NATS keeps serving them from its data directory): {}",
                from.name,
                list(&own)
            );
        }
    }
    drop(to.backend);
    drop(from.backend);
    for log in [from.log, to.log].into_iter().flatten() {
        log.close().context("cannot close a data directory")?;
    }
    if state.copied != state.source_messages || history.copied != history.source_messages {
        anyhow::bail!("the source changed while it was copied (is something still writing to it?)");
    }
    Ok(())
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

struct Copied {
    copied: u64,
    source_messages: u64,
    map: SeqMap,
}

async fn copy_stream(from: &Side, to: &Side, stream: &str) -> anyhow::Result<Copied> {
    let source = from.backend.stream_state(stream).await?;
    let mut map = SeqMap::default();
    let mut next = source.first_seq.max(1);
    let mut copied = 0;
    loop {
        let batch = from.backend.read_stream(stream, next, BATCH).await?;
        let Some(last) = batch.last().map(|m| m.seq) else {
            break;
        };
        for m in batch {
            let m = if stream == STATE_STREAM {
                translate_floor(m, &map)
            } else {
                m
            };
            let new = to.backend.copy_in(&m).await.with_context(|| {
                format!(
                    "cannot store {} (sequence {} of {stream})",
                    m.subject, m.seq
                )
            })?;
            map.0.push((m.seq, new));
            copied += 1;
        }
        next = last + 1;
    }
    Ok(Copied {
        copied,
        source_messages: source.messages,
        map,
    })
}

/// An inbox's ack floor names a sequence of the state stream; in the new
/// store it names the copy of the newest entry it covered.
fn translate_floor(mut m: Message, map: &SeqMap) -> Message {
    if !m.subject.starts_with("hivelog.state.inbox_ack.") {
        return m;
    }
    if let Ok(mut floor) = serde_json::from_slice::<Value>(&m.payload) {
        if let Some(old) = floor.get("acked").and_then(Value::as_u64) {
            floor["acked"] = Value::from(map.at_or_before(old));
            m.payload = floor.to_string().into_bytes();
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::SeqMap;

    #[test]
    fn positions_land_after_the_newest_copy_at_or_before_them() {
        let map = SeqMap(vec![(5, 1), (9, 2), (10, 3)]);
        assert_eq!(map.at_or_before(4), 0);
        assert_eq!(map.at_or_before(5), 1);
        assert_eq!(map.at_or_before(8), 1);
        assert_eq!(map.at_or_before(10), 3);
        assert_eq!(map.at_or_before(99), 3);
    }
}
