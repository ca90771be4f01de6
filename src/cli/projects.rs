//! `hivelog projects`: every project the server serves, with the
//! repository it came from, its agents and its tasks by status; the one
//! this command names (`--project`, HIVELOG_PROJECT) is marked.

use super::client::{CliError, Client};
use super::output::{cell, tinted, Out, Table, Tone};
use crate::coord::project::DEFAULT_PROJECT;
use crate::ops::projects::ProjectList;

pub async fn list(client: &Client, out: Out) -> Result<(), CliError> {
    let answer: ProjectList = client.get_as(&["api", "v2", "projects"], &[]).await?;
    if out.json {
        out.json(&answer);
        return Ok(());
    }
    let current = client.project().unwrap_or(DEFAULT_PROJECT);
    let mut table = Table::new(&[
        "PROJECT",
        "REPOSITORY",
        "AGENTS",
        "AVAILABLE",
        "CLAIMED",
        "NEEDS HUMAN",
        "DONE",
        "FAILED",
    ]);
    for p in &answer.projects {
        let name = if p.name == current {
            format!("* {}", p.name)
        } else {
            format!("  {}", p.name)
        };
        let name = if p.paused {
            tinted(format!("{name} (paused)"), Tone::Warn)
        } else {
            cell(name)
        };
        table.row(vec![
            name,
            cell(p.repository.as_deref().unwrap_or("-")),
            cell(p.agents.to_string()),
            cell(p.tasks.available.to_string()),
            cell(p.tasks.claimed.to_string()),
            if p.tasks.needs_human > 0 {
                tinted(p.tasks.needs_human.to_string(), Tone::Warn)
            } else {
                cell("0")
            },
            cell(p.tasks.completed.to_string()),
            cell(p.tasks.failed.to_string()),
        ]);
    }
    table.print(&out);
    if answer.machine_pause.paused {
        out.line(&format!(
            "Every project is paused{} (`hivelog resume --all`).",
            answer
                .machine_pause
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ));
    }
    Ok(())
}
