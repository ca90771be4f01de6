//! What each MCP tool does: parse its arguments (`args.rs`), act through
//! the coordinator, answer compact JSON an agent can act on. A refusal the
//! agent should read and act on (a stale token, a conflict) is a tool
//! result marked as an error; a malformed call is invalid params naming
//! the argument.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock, ErrorData, JsonObject};
use rmcp::service::RequestContext;
use rmcp::RoleServer;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::args::{self, Agent};
use super::front::Call;
use super::{Hive, AGENT_HEADER};
use crate::coord::inbox::InboxItem;
use crate::coord::reservations::ReserveRequest;
use crate::coord::task::{Task, TaskInput};
use crate::coord::time::Timestamp;
use crate::coord::{CoordError, Finish, GONE_BEFORE_ANSWER};

/// Inbox items a brief carries.
const BRIEF_INBOX: usize = 20;

type Answer = Result<CallToolResponse, ErrorData>;

fn text(v: Value) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(v.to_string())]).into()
}

/// The coordinator's answer as a tool answer: a mistake in the call is
/// invalid params; a refusal is a result marked as an error, with the
/// reason as its text.
fn finish(outcome: Result<Value, CoordError>) -> Answer {
    match outcome {
        Ok(v) => Ok(text(v)),
        Err(CoordError::Invalid(msg)) => Err(ErrorData::invalid_params(msg, None)),
        Err(e @ CoordError::MissingAgent) => Err(ErrorData::invalid_params(e.to_string(), None)),
        Err(e) => Ok(CallToolResult::error(vec![ContentBlock::text(e.to_string())]).into()),
    }
}

/// The task as a claimer needs it.
fn brief_task(t: &Task) -> Value {
    json!({
        "task_id": t.task_id,
        "title": t.title,
        "description": t.description,
        "priority": t.priority,
        "fencing_token": t.fencing_token,
        "files": t.files,
        "depends_on": t.depends_on,
        "attempts": t.attempts,
        "max_attempts": t.max_attempts,
        "lease_expires_at": t.lease_expires_at,
        "last_error": t.error,
    })
}

fn short_task(t: &Task) -> Value {
    json!({
        "task_id": t.task_id,
        "status": t.status,
        "fencing_token": t.fencing_token,
        "attempts": t.attempts,
        "not_before": t.not_before,
    })
}

/// The front door's record of this call, when it came through it.
fn call_of(ctx: &RequestContext<RoleServer>) -> Option<Arc<Call>> {
    ctx.extensions
        .get::<axum::http::request::Parts>()
        .and_then(|p| p.extensions.get::<Arc<Call>>())
        .cloned()
}

impl Hive {
    /// The calling agent: the call's own `agent_id`, else the header.
    fn agent(args: &impl Agent, ctx: &RequestContext<RoleServer>) -> Result<String, ErrorData> {
        if let Some(a) = args.agent_id() {
            return Ok(a.to_string());
        }
        ctx.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.headers.get(AGENT_HEADER))
            .and_then(|v| v.to_str().ok())
            .filter(|a| !a.is_empty())
            .map(String::from)
            .ok_or_else(|| {
                ErrorData::invalid_params(
                    "agent_id is required (or start the client with hivelog mcp --agent NAME)",
                    None,
                )
            })
    }

    /// The agent, after counting the call as a sign of its life.
    async fn caller(
        &self,
        args: &impl Agent,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<String, ErrorData> {
        let agent = Self::agent(args, ctx)?;
        match self.state.coord.touch(&agent, None).await {
            Ok(()) => Ok(agent),
            Err(CoordError::Invalid(msg)) => Err(ErrorData::invalid_params(msg, None)),
            Err(e) => Err(ErrorData::internal_error(e.to_string(), None)),
        }
    }

    async fn inbox_items(&self, agent: &str) -> Vec<InboxItem> {
        self.state
            .coord
            .inbox(agent, BRIEF_INBOX)
            .await
            .unwrap_or_default()
    }

    pub(super) async fn call(
        &self,
        name: &str,
        args: JsonObject,
        ctx: &RequestContext<RoleServer>,
    ) -> Answer {
        match name {
            "claim_next" => self.claim_next(args::parse(args)?, ctx).await,
            "complete" => self.complete(args::parse(args)?, ctx).await,
            "progress" => self.progress(args::parse(args)?, ctx).await,
            "handoff" => self.handoff(args::parse(args)?, ctx).await,
            "add_task" => self.add_task(args::parse(args)?, ctx).await,
            "send_message" => self.send_message(args::parse(args)?, ctx).await,
            "inbox" => self.inbox(args::parse(args)?, ctx).await,
            "reserve" => self.reserve(args::parse(args)?, ctx).await,
            other => Err(ErrorData::invalid_params(
                format!(
                    "unknown tool {other:?}; the tools are {}",
                    super::tools::NAMES.join(", ")
                ),
                None,
            )),
        }
    }

    async fn claim_next(&self, a: args::ClaimNext, ctx: &RequestContext<RoleServer>) -> Answer {
        let agent = self.caller(&a, ctx).await?;
        let coord = &self.state.coord;
        let call = call_of(ctx);
        // The front door's token fires when the client hangs up or
        // cancels; without it, the SDK's own.
        let gone: CancellationToken = match &call {
            Some(c) => c.gone.clone(),
            None => ctx.ct.clone(),
        };
        let wait = Duration::from_secs(a.wait_seconds.unwrap_or(0));
        let outcome = match coord.claim_next(&agent, a.capabilities, wait, &gone).await {
            Ok(Some(w)) => {
                if let Some(call) = &call {
                    let (coord, task) = (coord.clone(), w.task.clone());
                    // The undo may run where the answer's body is dropped,
                    // outside any task of this runtime.
                    let runtime = tokio::runtime::Handle::current();
                    call.undo_unless_delivered(Box::new(move || {
                        runtime
                            .spawn(async move { coord.give_back(&task, GONE_BEFORE_ANSWER).await });
                    }));
                }
                let _ = coord.touch(&agent, Some(&w.task.task_id)).await;
                Ok(json!({
                    "task": brief_task(&w.task),
                    "handoff": w.task.handoff,
                    "inbox": self.inbox_items(&agent).await,
                }))
            }
            Ok(None) => Ok(json!({"task": null, "inbox": self.inbox_items(&agent).await})),
            Err(CoordError::Paused) => Ok(json!({
                "task": null,
                "paused": true,
                "hint": "hivelog is paused; try again later",
                "inbox": self.inbox_items(&agent).await,
            })),
            Err(e) => Err(e),
        };
        finish(outcome)
    }

    async fn complete(&self, a: args::Complete, ctx: &RequestContext<RoleServer>) -> Answer {
        let agent = self.caller(&a, ctx).await?;
        let finish_how = Finish {
            success: a.error.is_none(),
            result: a.result.map(Value::Object),
            error: a.error,
            retry: true,
            fence: Some(a.fencing_token),
        };
        let outcome = self
            .state
            .coord
            .complete(&a.task_id, &agent, finish_how)
            .await
            .map(|w| short_task(&w.task));
        finish(outcome)
    }

    async fn progress(&self, a: args::Progress, ctx: &RequestContext<RoleServer>) -> Answer {
        let agent = self.caller(&a, ctx).await?;
        let fence = Some(a.fencing_token);
        let outcome = self
            .state
            .coord
            .progress(&a.task_id, &agent, Some(a.note), a.percent, fence)
            .await
            .map(|w| json!({"task_id": a.task_id, "lease_expires_at": w.task.lease_expires_at}));
        finish(outcome)
    }

    async fn handoff(&self, a: args::Handoff, ctx: &RequestContext<RoleServer>) -> Answer {
        let agent = self.caller(&a, ctx).await?;
        let coord = &self.state.coord;
        let (id, fence) = (&a.task_id, Some(a.fencing_token));
        let outcome = match a.delay_seconds {
            Some(delay) => {
                let delay = Duration::from_secs(delay);
                coord.snooze(id, &agent, delay, Some(a.note), fence).await
            }
            None => {
                coord
                    .handoff(id, &agent, a.note, a.to.as_deref(), fence)
                    .await
            }
        };
        finish(outcome.map(|w| short_task(&w.task)))
    }

    async fn add_task(&self, a: args::AddTask, ctx: &RequestContext<RoleServer>) -> Answer {
        self.caller(&a, ctx).await?;
        let input = TaskInput {
            task_id: Some(Value::String(a.task_id.unwrap_or_else(new_task_id))),
            title: Some(a.title),
            description: Some(a.description.unwrap_or_default()),
            priority: a.priority,
            depends_on: a.depends_on,
            capabilities: a.capabilities,
            files: a.files,
            dedup_key: a.dedup_key,
            not_before: a
                .delay_seconds
                .map(|d| Timestamp::now().plus(Duration::from_secs(d))),
            ..TaskInput::default()
        };
        let outcome = self.state.coord.post_task(input).await.map(|w| {
            json!({
                "task_id": w.task.task_id,
                "status": w.task.status,
                "created": w.created,
                "deduplicated": w.deduplicated,
            })
        });
        finish(outcome)
    }

    async fn send_message(&self, a: args::SendMessage, ctx: &RequestContext<RoleServer>) -> Answer {
        let agent = self.caller(&a, ctx).await?;
        let mut extra = serde_json::Map::new();
        if let Some(to) = a.to {
            extra.insert("to".into(), Value::String(to));
        }
        let input = crate::coord::channels::MessageInput {
            agent_id: Some(agent),
            channel: Some(a.channel.unwrap_or_else(|| "coordination".into())),
            content: Some(Value::String(a.content)),
            message_id: None,
            timestamp: None,
            extra,
        };
        let outcome = self
            .state
            .coord
            .post_message(input)
            .await
            .map(|m| json!({"sequence": m.sequence, "mentions": m.mentions}));
        finish(outcome)
    }

    async fn inbox(&self, a: args::Inbox, ctx: &RequestContext<RoleServer>) -> Answer {
        let agent = self.caller(&a, ctx).await?;
        let coord = &self.state.coord;
        let ack = a.ack.unwrap_or(false);
        let items = match coord.inbox(&agent, crate::coord::inbox::MAX_PEEK).await {
            Ok(items) => items,
            Err(e) => return finish(Err(e)),
        };
        let last = items.last().map(|i| i.seq);
        if let (true, Some(last)) = (ack, last) {
            if let Err(e) = coord.ack_inbox(&agent, Some(last)).await {
                return finish(Err(e));
            }
        }
        finish(Ok(json!({"items": items, "acked": ack && last.is_some()})))
    }

    async fn reserve(&self, a: args::Reserve, ctx: &RequestContext<RoleServer>) -> Answer {
        let agent = self.caller(&a, ctx).await?;
        let coord = &self.state.coord;
        let globs = a.globs.unwrap_or_default();
        if a.release.unwrap_or(false) {
            let outcome = coord
                .unreserve(&agent, &globs)
                .await
                .map(|gone| json!({"released": gone.iter().map(|r| &r.glob).collect::<Vec<_>>()}));
            return finish(outcome);
        }
        let ttl = a
            .ttl_seconds
            .map(Duration::from_secs)
            .unwrap_or(coord.config().reservation_ttl);
        let request = ReserveRequest {
            agent,
            globs,
            exclusive: a.exclusive.unwrap_or(true),
            ttl,
            task_id: None,
            reason: None,
        };
        let outcome = coord.reserve(request).await.map(|held| {
            let reserved: Vec<Value> = held
                .iter()
                .map(|r| json!({"glob": r.glob, "exclusive": r.exclusive, "expires_at": r.expires_at}))
                .collect();
            json!({ "reserved": reserved })
        });
        finish(outcome)
    }
}

/// A task id for tasks added without one: time-ordered and unique within
/// this process.
fn new_task_id() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let micros = chrono::Utc::now().timestamp_micros();
    format!("t-{micros:x}-{n:x}")
}
