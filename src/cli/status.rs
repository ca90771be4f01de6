//! `hivelog status`: the whole server on one screen (version, uptime,
//! store, agents by health, tasks by status, streams).

use std::collections::BTreeMap;

use super::agents::health_tone;
use super::client::{CliError, Client};
use super::output::{bytes, seconds, shown, Out, Tone};
use crate::ops::agents::AgentList;
use crate::ops::health::Health;
use crate::ops::streams::{Stream, Streams};

/// What `status --json` prints.
#[derive(serde::Serialize)]
struct Status<'a> {
    server: &'a str,
    health: &'a Health,
    streams: &'a [Stream],
    agents_by_health: &'a BTreeMap<String, u64>,
    agents_needing_approval: &'a [String],
}

pub async fn run(client: &Client, out: Out) -> Result<(), CliError> {
    let health: Health = client.get_as(&["health"], &[]).await?;
    let streams: Streams = client.get_as(&["api", "streams"], &[]).await?;
    let agents: AgentList = client
        .get_as(
            &["api", "v2", "agents"],
            &[("include_stale", "true".into())],
        )
        .await?;
    let mut by_health: BTreeMap<String, u64> = ["active", "stale", "dead"]
        .map(|h| (h.to_string(), 0))
        .into();
    let mut approvals = Vec::new();
    for a in &agents.agents {
        *by_health.entry(shown(&a.health)).or_default() += 1;
        if a.agent.needs_approval {
            approvals.push(a.agent.agent_id.clone());
        }
    }
    let server = client.url(&[]);
    let server = server.as_str().trim_end_matches('/');
    if out.json {
        out.json(&Status {
            server,
            health: &health,
            streams: &streams.streams,
            agents_by_health: &by_health,
            agents_needing_approval: &approvals,
        });
        return Ok(());
    }
    let tasks = &health.tasks;
    let task_line = [
        (tasks.available, "available"),
        (tasks.claimed, "claimed"),
        (tasks.completed, "completed"),
        (tasks.failed, "failed"),
    ]
    .map(|(n, s)| format!("{n} {s}"))
    .join(" · ");
    let mut order: Vec<&String> = Vec::new();
    for h in ["active", "stale", "dead"] {
        order.extend(by_health.keys().filter(|k| *k == h));
    }
    order.extend(
        by_health
            .keys()
            .filter(|k| !["active", "stale", "dead"].contains(&k.as_str())),
    );
    let agent_line = order
        .into_iter()
        .map(|h| (h, by_health.get(h).copied().unwrap_or(0)))
        .map(|(h, n)| {
            out.paint(
                if n > 0 { health_tone(h) } else { Tone::Dim },
                &format!("{n} {h}"),
            )
        })
        .collect::<Vec<_>>()
        .join(" · ");
    let mut fields = vec![
        ("server", format!("{server} ({})", health.status)),
        (
            "project",
            client
                .project()
                .unwrap_or(crate::coord::project::DEFAULT_PROJECT)
                .to_string(),
        ),
        ("version", health.version.clone()),
        ("uptime", seconds(health.uptime_seconds)),
        (
            "store",
            format!(
                "{} on disk, sync {}",
                bytes(health.store_bytes),
                health.sync
            ),
        ),
        ("agents", agent_line),
        ("tasks", task_line),
        (
            "live",
            format!(
                "{} WebSocket connections, {} subscribers",
                health.ws_connections, health.subscribers
            ),
        ),
    ];
    if !approvals.is_empty() {
        fields.push((
            "approval",
            out.paint(Tone::Bad, &format!("needed by {}", approvals.join(", "))),
        ));
    }
    out.fields(&fields);
    out.line("");
    super::streams::print_streams(&out, &streams);
    Ok(())
}
