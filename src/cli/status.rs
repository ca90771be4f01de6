//! `hivelog status`: the whole server on one screen (version, uptime,
//! store, agents by health, tasks by status, streams).

use std::collections::BTreeMap;

use serde_json::json;

use super::agents::health_tone;
use super::client::{CliError, Client};
use super::output::{bytes, num, seconds, text, Out, Tone};

pub async fn run(client: &Client, out: Out) -> Result<(), CliError> {
    let health = client.get(&["health"], &[]).await?;
    let streams = client.get(&["api", "streams"], &[]).await?;
    let agents = client
        .get(
            &["api", "v2", "agents"],
            &[("include_stale", "true".into())],
        )
        .await?;
    let mut by_health: BTreeMap<String, u64> = ["active", "stale", "dead"]
        .map(|h| (h.to_string(), 0))
        .into();
    let mut approvals = Vec::new();
    for a in agents["agents"].as_array().into_iter().flatten() {
        *by_health.entry(text(a, "health")).or_default() += 1;
        if a["needs_approval"] == json!(true) {
            approvals.push(text(a, "agent_id"));
        }
    }
    if out.json {
        out.json(&json!({
            "server": client.url(&[]).as_str().trim_end_matches('/'),
            "health": health,
            "streams": streams["streams"],
            "agents_by_health": by_health,
            "agents_needing_approval": approvals,
        }));
        return Ok(());
    }
    let tasks = &health["tasks"];
    let task_line = ["available", "claimed", "completed", "failed"]
        .map(|s| format!("{} {s}", num(tasks, s)))
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
        (
            "server",
            format!(
                "{} ({})",
                client.url(&[]).as_str().trim_end_matches('/'),
                text(&health, "status")
            ),
        ),
        ("version", text(&health, "version")),
        ("uptime", seconds(num(&health, "uptime_seconds"))),
        (
            "store",
            format!(
                "{} on disk, sync {}",
                bytes(num(&health, "store_bytes")),
                text(&health, "sync")
            ),
        ),
        ("agents", agent_line),
        ("tasks", task_line),
        (
            "live",
            format!(
                "{} WebSocket connections, {} subscribers",
                num(&health, "ws_connections"),
                num(&health, "subscribers")
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
    super::streams::print_streams(&out, &super::client::typed(streams)?);
    Ok(())
}
