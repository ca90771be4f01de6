//! `hivelog task …`: the task queue from a terminal, through the same
//! HTTP routes agents use, plus a bulk `import` that is safe to re-run.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::client::{Body, CliError, Client};
use super::output::{ago, cell, num, text, tinted, Out, Table, Tone};

#[derive(Debug, Subcommand)]
pub enum TaskCmd {
    /// Add a task (available at once unless it is blocked by unfinished tasks).
    Add(AddArgs),
    /// List tasks, newest first.
    Ls {
        /// Only tasks with this status.
        #[arg(long, value_parser = ["available", "claimed", "completed", "failed", "needs_human"])]
        status: Option<String>,
        /// At most N tasks.
        #[arg(long, default_value_t = 100, value_name = "N")]
        limit: u64,
    },
    /// A task with every version it went through.
    Show { id: String },
    /// Claim a task for an agent.
    Claim {
        id: String,
        #[arg(long, value_name = "AGENT_ID")]
        agent: String,
    },
    /// Claim the next task an agent can do (highest priority, oldest first).
    Next {
        #[arg(long, value_name = "AGENT_ID")]
        agent: String,
        /// Wait up to this long for one (`30s`, `5m`).
        #[arg(long, default_value = "0s", value_name = "DURATION")]
        wait: String,
    },
    /// Mark a claimed task completed.
    Complete {
        id: String,
        #[arg(long, value_name = "AGENT_ID")]
        agent: String,
        /// The result to store: JSON, or plain text.
        #[arg(long)]
        result: Option<String>,
    },
    /// Mark a claimed task failed.
    Fail {
        id: String,
        #[arg(long, value_name = "AGENT_ID")]
        agent: String,
        /// What went wrong.
        #[arg(long)]
        error: Option<String>,
    },
    /// Give a claimed task back to the queue (not counted as an attempt).
    Release {
        id: String,
        #[arg(long, value_name = "AGENT_ID")]
        agent: String,
    },
    /// Send a task that needs a human (or failed) back to the queue with fresh attempts.
    Retry { id: String },
    /// Cancel a task that is not finished.
    Cancel {
        id: String,
        #[arg(long, value_name = "AGENT_ID")]
        agent: Option<String>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Add many tasks from a JSON or YAML file (a list of tasks, or {"tasks": [...]});
    /// tasks that already exist are left as they are, so re-running is safe.
    Import {
        /// The file (`-` for stdin, read as JSON or YAML).
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    id: String,
    title: String,
    #[arg(long)]
    description: Option<String>,
    #[arg(long, value_parser = ["high", "medium", "low"])]
    priority: Option<String>,
    /// Tasks that must complete first (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "TASK_ID")]
    blocked_by: Vec<String>,
    /// Capabilities an agent needs to take it (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    capability: Vec<String>,
    /// Give up after N attempts (default 3).
    #[arg(long, value_name = "N")]
    max_attempts: Option<u32>,
    /// Path globs the task touches, reserved for whoever claims it (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "GLOB")]
    files: Vec<String>,
    /// Another add with the same key, while this task is not completed, adds nothing.
    #[arg(long, value_name = "KEY")]
    dedup_key: Option<String>,
}

pub async fn run(client: &Client, out: Out, cmd: TaskCmd) -> Result<(), CliError> {
    match cmd {
        TaskCmd::Add(args) => {
            let mut task = json!({"task_id": args.id, "title": args.title});
            if let Some(d) = args.description {
                task["description"] = json!(d);
            }
            if let Some(p) = args.priority {
                task["priority"] = json!(p);
            }
            if !args.blocked_by.is_empty() {
                task["blocked_by"] = json!(args.blocked_by);
            }
            if !args.capability.is_empty() {
                task["capabilities"] = json!(args.capability);
            }
            if let Some(n) = args.max_attempts {
                task["max_attempts"] = json!(n);
            }
            if !args.files.is_empty() {
                task["files"] = json!(args.files);
            }
            if let Some(k) = args.dedup_key {
                task["dedup_key"] = json!(k);
            }
            // v2 takes partial updates and says whether the task is new.
            let answer = client.post(&["api", "v2", "tasks"], task).await?;
            let verb = if answer["deduplicated"] == json!(true) {
                "Already there (same dedup key):"
            } else if answer["created"] == json!(false) {
                "Updated"
            } else {
                "Added"
            };
            report(&out, &answer, verb);
        }
        TaskCmd::Ls { status, limit } => {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(status) = status {
                query.push(("status", status));
            }
            let answer = client.get(&["api", "v2", "tasks"], &query).await?;
            if out.json {
                out.json(&answer);
                return Ok(());
            }
            let tasks = answer["tasks"].as_array().cloned().unwrap_or_default();
            if tasks.is_empty() {
                out.line("No tasks");
                return Ok(());
            }
            let more = num(&answer, "total").saturating_sub(tasks.len() as u64);
            let mut table = Table::new(&[
                "TASK",
                "STATUS",
                "PRIORITY",
                "OWNER",
                "TRIES",
                "BLOCKED BY",
                "UPDATED",
                "TITLE",
            ]);
            for t in &tasks {
                table.row(vec![
                    tinted(text(t, "task_id"), Tone::Accent),
                    status_cell(t),
                    cell(text(t, "priority")),
                    cell(text(t, "owner")),
                    cell(num(t, "attempts").to_string()),
                    cell(text(t, "blocked_by")),
                    cell(ago(&text(t, "updated_at"))),
                    cell(text(t, "title")),
                ]);
            }
            table.print(&out);
            if more > 0 {
                out.line(&format!(
                    "… and {more} more (showing the newest {}; use --limit)",
                    tasks.len()
                ));
            }
        }
        TaskCmd::Show { id } => show(client, out, &id).await?,
        TaskCmd::Claim { id, agent } => {
            // The precise status: "already yours" or "taken" (409) rather
            // than the old clients' catch-all 404.
            let answer = client
                .call(
                    Method::POST,
                    &["api", "tasks", &id, "claim"],
                    &[],
                    Some(Body::Json(json!({"agent_id": agent}))),
                    &[("X-Hivelog-Precise-Status", "true")],
                )
                .await?
                .body;
            report(&out, &answer, &format!("Claimed by {agent}:"));
        }
        TaskCmd::Next { agent, wait } => {
            let answer = client
                .call(
                    Method::POST,
                    &["api", "tasks", "claim-next"],
                    &[("wait", wait)],
                    Some(Body::Json(json!({"agent_id": agent}))),
                    &[],
                )
                .await?;
            if answer.status == StatusCode::NO_CONTENT {
                if out.json {
                    out.json(&json!({"success": false, "task": null}));
                } else {
                    out.line(&format!("No task {agent} can take right now"));
                }
            } else {
                report(&out, &answer.body, &format!("Claimed by {agent}:"));
            }
        }
        TaskCmd::Complete { id, agent, result } => {
            let result = result.map(|r| result_object(&r));
            let body = json!({"agent_id": agent, "success": true, "result": result, "error": null});
            let answer = client
                .post(&["api", "tasks", &id, "complete"], body)
                .await?;
            report(&out, &answer, "Completed");
        }
        TaskCmd::Fail { id, agent, error } => {
            let body = json!({"agent_id": agent, "success": false, "result": null, "error": error});
            let answer = client
                .post(&["api", "tasks", &id, "complete"], body)
                .await?;
            report(&out, &answer, "Failed");
        }
        TaskCmd::Release { id, agent } => {
            let answer = client
                .post(
                    &["api", "tasks", &id, "release"],
                    json!({"agent_id": agent}),
                )
                .await?;
            report(&out, &answer, "Released");
        }
        TaskCmd::Cancel { id, agent, reason } => {
            let body = json!({"agent_id": agent, "reason": reason});
            let answer = client.post(&["api", "tasks", &id, "cancel"], body).await?;
            report(&out, &answer, "Cancelled");
        }
        TaskCmd::Retry { id } => {
            let answer = client
                .post(&["api", "v2", "tasks", &id, "retry"], json!({}))
                .await?;
            report(&out, &answer, "Queued again");
        }
        TaskCmd::Import { file } => super::import::import(client, out, &file).await?,
    }
    Ok(())
}

/// A task's result is a JSON object (old clients read it as one): an
/// object is sent as it is, other JSON as `{"value": ...}`, plain text as
/// `{"text": ...}`.
fn result_object(raw: &str) -> Value {
    match serde_json::from_str::<Value>(raw) {
        Ok(v @ Value::Object(_)) => v,
        Ok(other) => json!({ "value": other }),
        Err(_) => json!({ "text": raw }),
    }
}

/// `Claimed by alice: task-7 "Write page" (claimed)`, or the JSON answer.
/// An available task still waiting for a dependency reads "(blocked by …)".
fn report(out: &Out, answer: &Value, verb: &str) {
    if out.json {
        out.json(answer);
        return;
    }
    let task = &answer["task"];
    let blockers: Vec<&str> = task["blocked_by"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let status = match text(task, "status").as_str() {
        "available" if !blockers.is_empty() => format!("blocked by {}", blockers.join(", ")),
        other => other.to_string(),
    };
    out.line(&format!(
        "{verb} {} {:?} ({status})",
        out.paint(Tone::Accent, &text(task, "task_id")),
        text(task, "title"),
    ));
}

fn status_cell(task: &Value) -> (String, Option<Tone>) {
    let status = text(task, "status");
    let tone = match status.as_str() {
        "available" if num(task, "attempts") > 0 => Tone::Warn,
        "available" => Tone::Good,
        "claimed" => Tone::Accent,
        "failed" | "needs_human" => Tone::Bad,
        _ => Tone::Dim,
    };
    tinted(status, tone)
}

async fn show(client: &Client, out: Out, id: &str) -> Result<(), CliError> {
    let task = client.get(&["api", "tasks", id], &[]).await?;
    let history = client.get(&["api", "tasks", id, "history"], &[]).await?;
    if out.json {
        out.json(&json!({"task": task, "history": history["versions"]}));
        return Ok(());
    }
    let (status, tone) = status_cell(&task);
    out.fields(&[
        ("task", out.paint(Tone::Accent, &text(&task, "task_id"))),
        ("title", text(&task, "title")),
        ("description", text(&task, "description")),
        ("status", out.paint(tone.unwrap_or(Tone::Dim), &status)),
        ("priority", text(&task, "priority")),
        ("owner", text(&task, "owner")),
        (
            "attempts",
            format!(
                "{} of {}",
                num(&task, "attempts"),
                num(&task, "max_attempts")
            ),
        ),
        ("depends on", text(&task, "depends_on")),
        ("blocked by", text(&task, "blocked_by")),
        ("capabilities", text(&task, "capabilities")),
        ("lease expires", text(&task, "lease_expires_at")),
        ("progress", text(&task, "progress")),
        ("result", text(&task, "result")),
        ("error", text(&task, "error")),
        ("created", text(&task, "created_at")),
        ("updated", text(&task, "updated_at")),
    ]);
    out.line("");
    let mut table = Table::new(&["SEQ", "UPDATED", "STATUS", "OWNER", "TRIES", "NOTE"]);
    for version in history["versions"].as_array().into_iter().flatten() {
        let t = &version["task"];
        let note = [
            text(t, "release_reason"),
            text(&t["progress"], "note"),
            text(t, "error"),
        ]
        .into_iter()
        .find(|n| n != "-")
        .unwrap_or_default();
        table.row(vec![
            cell(num(version, "sequence").to_string()),
            cell(text(t, "updated_at")),
            status_cell(t),
            cell(text(t, "owner")),
            cell(num(t, "attempts").to_string()),
            cell(note),
        ]);
    }
    table.print(&out);
    Ok(())
}
