//! `hivelog task import`: many tasks from a JSON or YAML file, all checked
//! before any is sent, and safe to run again (existing tasks are left as
//! they are, so a re-run never resets work in progress).

use std::collections::HashSet;

use serde::Serialize;
use serde_json::Value;

use super::client::{CliError, Client};
use super::output::Out;
use super::pubsub::progress;

/// A task the server refused, and why.
#[derive(Serialize)]
struct Refused {
    task_id: String,
    detail: String,
}

/// What `task import --json` prints.
#[derive(Serialize)]
struct Imported<'a> {
    added: &'a [String],
    skipped: &'a [String],
    failed: &'a [Refused],
}

/// Reads tasks from a JSON or YAML file, checks them all before sending
/// any, then adds those that do not exist yet.
pub async fn import(client: &Client, out: Out, file: &std::path::Path) -> Result<(), CliError> {
    let tasks = read_tasks(file)?;
    let bar = progress(tasks.len() as u64, out);
    let (mut added, mut skipped, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    let total = tasks.len();
    // One Ctrl-C listener for the whole run: a fresh one per step could
    // miss a signal that lands between two steps.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    for (done, (id, task)) in tasks.into_iter().enumerate() {
        let step = async {
            // Asked per task rather than from one listing, which the server
            // caps: re-posting an existing task could queue a finished one
            // again.
            match client.get(&["api", "tasks", &id], &[]).await {
                Ok(_) => Ok(false),
                Err(CliError::Server { status: 404, .. }) => client
                    .post(&["api", "v2", "tasks"], &task)
                    .await
                    .map(|_| true),
                Err(e) => Err(e),
            }
        };
        let outcome = tokio::select! {
            outcome = step => outcome,
            _ = &mut interrupted => {
                bar.abandon();
                return Err(CliError::Interrupted(format!(
                    "checked {done} of {total} tasks: {} added, {} already existed ({id} was in flight and may be added too)",
                    added.len(),
                    skipped.len()
                )));
            }
        };
        match outcome {
            Ok(true) => added.push(id),
            Ok(false) => skipped.push(id),
            Err(e @ CliError::Unreachable { .. }) => {
                bar.abandon();
                return Err(e);
            }
            Err(e) => failures.push(Refused {
                task_id: id,
                detail: e.to_string(),
            }),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if out.json {
        out.json(&Imported {
            added: &added,
            skipped: &skipped,
            failed: &failures,
        });
    } else {
        out.line(&format!(
            "Imported {} new tasks; {} already existed and were left as they are{}",
            added.len(),
            skipped.len(),
            if failures.is_empty() {
                String::new()
            } else {
                format!("; {} refused:", failures.len())
            }
        ));
        for f in &failures {
            out.line(&format!("  {}: {}", f.task_id, f.detail));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::input(format!(
            "{} of the tasks were refused; fix them and run the import again",
            failures.len()
        )))
    }
}

/// The tasks of an import file, in file order, each with its id.
fn read_tasks(file: &std::path::Path) -> Result<Vec<(String, Value)>, CliError> {
    let shown = file.display();
    let content = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| CliError::input(format!("cannot read stdin: {e}")))?;
        text
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| CliError::input(format!("cannot read {shown}: {e}")))?
    };
    let yaml = matches!(
        file.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let value: Value = if yaml {
        serde_norway::from_str(&content)
            .map_err(|e| CliError::input(format!("{shown} is not valid YAML: {e}")))?
    } else {
        match serde_json::from_str(&content) {
            Ok(v) => v,
            // Stdin or an unknown extension may be YAML; report the JSON error if it is neither.
            Err(json_error) => serde_norway::from_str(&content)
                .map_err(|_| CliError::input(format!("{shown} is not valid JSON: {json_error}")))?,
        }
    };
    parse_tasks(value).map_err(|e| CliError::input(format!("{shown}: {e}")))
}

fn parse_tasks(value: Value) -> Result<Vec<(String, Value)>, String> {
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut o) => match o.remove("tasks") {
            Some(Value::Array(items)) => items,
            _ => return Err("expected a list of tasks or {\"tasks\": [...]}".into()),
        },
        _ => return Err("expected a list of tasks or {\"tasks\": [...]}".into()),
    };
    let mut seen = HashSet::new();
    let mut tasks = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let n = i + 1;
        let id = match &item["task_id"] {
            Value::String(s) if !s.trim().is_empty() => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(format!("task {n} has no task_id")),
        };
        if !item.is_object() || !item["title"].is_string() {
            return Err(format!("task {n} ({id}) has no title"));
        }
        if !seen.insert(id.clone()) {
            return Err(format!("task_id {id:?} appears twice"));
        }
        tasks.push((id, item));
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn import_files_are_checked_before_anything_is_sent() {
        let ok = parse_tasks(
            json!({"tasks": [{"task_id": "a", "title": "A"}, {"task_id": 7, "title": "B"}]}),
        )
        .unwrap();
        assert_eq!(
            ok.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            ["a", "7"]
        );
        for (bad, want) in [
            (json!({"x": 1}), "expected a list"),
            (json!([{"title": "no id"}]), "task 1 has no task_id"),
            (
                json!([{"task_id": "a", "title": "A"}, {"task_id": "b"}]),
                "task 2 (b) has no title",
            ),
            (
                json!([{"task_id": "a", "title": "A"}, {"task_id": "a", "title": "B"}]),
                "appears twice",
            ),
        ] {
            let err = parse_tasks(bad).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }
}
