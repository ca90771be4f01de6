//! `hivelog task …`: the task queue from a terminal, through the same
//! HTTP routes agents use, plus a bulk `import` that is safe to re-run.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::client::{typed, Body, CliError, Client};
use super::output::{ago, cell, shown, tinted, Out, Table, Tone};
use super::streams::parse_word;
use crate::coord::task::{Priority, Task, TaskInput, TaskStatus};
use crate::ops::tasks::{AgentStep, CompleteStep, TaskHistory, TaskPage, TaskStep, TaskWritten};

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
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Priority::NAMES))]
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
            let some = |v: Vec<String>| (!v.is_empty()).then_some(v);
            let task = TaskInput {
                task_id: Some(Value::String(args.id)),
                title: Some(args.title),
                description: args.description,
                priority: args.priority.as_deref().map(parse_word).transpose()?,
                blocked_by: some(args.blocked_by),
                capabilities: some(args.capability),
                max_attempts: args.max_attempts,
                files: some(args.files),
                dedup_key: args.dedup_key,
                ..TaskInput::default()
            };
            // v2 takes partial updates and says whether the task is new.
            let answer: TaskWritten = client.post_as(&["api", "v2", "tasks"], &task).await?;
            let verb = if answer.deduplicated {
                "Already there (same dedup key):"
            } else if !answer.created {
                "Updated"
            } else {
                "Added"
            };
            report(&out, &answer, &answer.task, verb);
        }
        TaskCmd::Ls { status, limit } => {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(status) = status {
                query.push(("status", status));
            }
            let answer: TaskPage = client.get_as(&["api", "v2", "tasks"], &query).await?;
            if out.json {
                out.json(&answer);
                return Ok(());
            }
            let tasks = &answer.tasks;
            if tasks.is_empty() {
                out.line("No tasks");
                return Ok(());
            }
            let more = answer.total.saturating_sub(tasks.len());
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
            for t in tasks {
                table.row(vec![
                    tinted(&t.task_id, Tone::Accent),
                    status_cell(t),
                    cell(t.priority.as_str()),
                    cell(shown(&t.owner)),
                    cell(t.attempts.to_string()),
                    cell(shown(&t.blocked_by)),
                    cell(ago(&shown(&t.updated_at))),
                    cell(shown(&t.title)),
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
            let answer: TaskStep = typed(
                client
                    .call(
                        Method::POST,
                        &["api", "tasks", &id, "claim"],
                        &[],
                        Some(Body::json(&AgentStep::by(&agent))?),
                        &[("X-Hivelog-Precise-Status", "true")],
                    )
                    .await?
                    .body,
            )?;
            report(&out, &answer, &answer.task, &format!("Claimed by {agent}:"));
        }
        TaskCmd::Next { agent, wait } => {
            let answer = client
                .call(
                    Method::POST,
                    &["api", "tasks", "claim-next"],
                    &[("wait", wait)],
                    Some(Body::json(&AgentStep::by(&agent))?),
                    &[],
                )
                .await?;
            if answer.status == StatusCode::NO_CONTENT {
                if out.json {
                    out.json(&NoTask {
                        success: false,
                        task: None,
                    });
                } else {
                    out.line(&format!("No task {agent} can take right now"));
                }
            } else {
                let answer: TaskStep = typed(answer.body)?;
                report(&out, &answer, &answer.task, &format!("Claimed by {agent}:"));
            }
        }
        TaskCmd::Complete { id, agent, result } => {
            let body = CompleteStep {
                agent_id: Some(agent),
                success: true,
                result: result.map(|r| result_object(&r)),
                error: None,
                fencing_token: None,
            };
            step(client, &out, &id, "complete", &body, "Completed").await?;
        }
        TaskCmd::Fail { id, agent, error } => {
            let body = CompleteStep {
                agent_id: Some(agent),
                success: false,
                result: None,
                error,
                fencing_token: None,
            };
            step(client, &out, &id, "complete", &body, "Failed").await?;
        }
        TaskCmd::Release { id, agent } => {
            step(
                client,
                &out,
                &id,
                "release",
                &AgentStep::by(agent),
                "Released",
            )
            .await?;
        }
        TaskCmd::Cancel { id, agent, reason } => {
            let body = AgentStep {
                agent_id: agent,
                reason,
                ..AgentStep::default()
            };
            step(client, &out, &id, "cancel", &body, "Cancelled").await?;
        }
        TaskCmd::Retry { id } => {
            let answer: TaskWritten = client
                .post_as(&["api", "v2", "tasks", &id, "retry"], &AgentStep::default())
                .await?;
            report(&out, &answer, &answer.task, "Queued again");
        }
        TaskCmd::Import { file } => super::import::import(client, out, &file).await?,
    }
    Ok(())
}

/// What `task next --json` prints when there is nothing to take.
#[derive(serde::Serialize)]
struct NoTask {
    success: bool,
    task: Option<Task>,
}

/// One step on a task through `/api/tasks/{id}/{action}`, reported.
async fn step(
    client: &Client,
    out: &Out,
    id: &str,
    action: &str,
    body: &impl serde::Serialize,
    verb: &str,
) -> Result<(), CliError> {
    let answer: TaskStep = client.post_as(&["api", "tasks", id, action], body).await?;
    report(out, &answer, &answer.task, verb);
    Ok(())
}

/// A task's result is a JSON object (old clients read it as one): an
/// object is sent as it is, other JSON as `{"value": ...}`, plain text as
/// `{"text": ...}`.
fn result_object(raw: &str) -> Value {
    let (key, value) = match serde_json::from_str::<Value>(raw) {
        Ok(v @ Value::Object(_)) => return v,
        Ok(other) => ("value", other),
        Err(_) => ("text", Value::String(raw.to_string())),
    };
    Value::Object([(key.to_string(), value)].into_iter().collect())
}

/// `Claimed by alice: task-7 "Write page" (claimed)`, or the JSON answer.
/// An available task still waiting for a dependency reads "(blocked by …)".
fn report(out: &Out, answer: &impl serde::Serialize, task: &Task, verb: &str) {
    if out.json {
        out.json(answer);
        return;
    }
    let status = match task.status {
        TaskStatus::Available if !task.blocked_by.is_empty() => {
            format!("blocked by {}", task.blocked_by.join(", "))
        }
        other => shown(&other),
    };
    out.line(&format!(
        "{verb} {} {:?} ({status})",
        out.paint(Tone::Accent, &task.task_id),
        shown(&task.title),
    ));
}

fn status_cell(task: &Task) -> (String, Option<Tone>) {
    let tone = match task.status {
        TaskStatus::Available if task.attempts > 0 => Tone::Warn,
        TaskStatus::Available => Tone::Good,
        TaskStatus::Claimed => Tone::Accent,
        TaskStatus::Failed | TaskStatus::NeedsHuman => Tone::Bad,
        _ => Tone::Dim,
    };
    tinted(shown(&task.status), tone)
}

/// What `task show --json` prints.
#[derive(serde::Serialize)]
struct ShowJson<'a> {
    task: &'a Task,
    history: &'a [crate::ops::tasks::TaskVersion],
}

async fn show(client: &Client, out: Out, id: &str) -> Result<(), CliError> {
    let task: Task = client.get_as(&["api", "tasks", id], &[]).await?;
    let history: TaskHistory = client.get_as(&["api", "tasks", id, "history"], &[]).await?;
    if out.json {
        out.json(&ShowJson {
            task: &task,
            history: &history.versions,
        });
        return Ok(());
    }
    let (status, tone) = status_cell(&task);
    out.fields(&[
        ("task", out.paint(Tone::Accent, &task.task_id)),
        ("title", shown(&task.title)),
        ("description", shown(&task.description)),
        ("status", out.paint(tone.unwrap_or(Tone::Dim), &status)),
        ("priority", task.priority.as_str().to_string()),
        ("owner", shown(&task.owner)),
        (
            "attempts",
            format!("{} of {}", task.attempts, task.max_attempts),
        ),
        ("depends on", shown(&task.depends_on)),
        ("blocked by", shown(&task.blocked_by)),
        ("capabilities", shown(&task.capabilities)),
        ("lease expires", shown(&task.lease_expires_at)),
        ("progress", shown(&task.progress)),
        ("result", shown(&task.result)),
        ("error", shown(&task.error)),
        ("created", shown(&task.created_at)),
        ("updated", shown(&task.updated_at)),
    ]);
    out.line("");
    let mut table = Table::new(&["SEQ", "UPDATED", "STATUS", "OWNER", "TRIES", "NOTE"]);
    for version in &history.versions {
        let t = &version.task;
        let note = [
            shown(&t.release_reason),
            shown(&t.progress.as_ref().and_then(|p| p.note.as_ref())),
            shown(&t.error),
        ]
        .into_iter()
        .find(|n| n != "-")
        .unwrap_or_default();
        table.row(vec![
            cell(version.sequence.to_string()),
            cell(shown(&t.updated_at)),
            status_cell(t),
            cell(shown(&t.owner)),
            cell(t.attempts.to_string()),
            cell(note),
        ]);
    }
    table.print(&out);
    Ok(())
}
