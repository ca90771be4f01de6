//! `/mcp`: the Model Context Protocol over Streamable HTTP, built on the
//! official SDK (rmcp). AI coding agents reach hivelog's coordination
//! through eight tools (`tools.rs`). `Origin` is checked as the spec asks
//! (only local pages may call), the `Host` header too when the server
//! listens on loopback (DNS rebinding), and the API token applies as on
//! every other route. `hivelog mcp` serves the same tools over stdio by
//! forwarding here.

mod tools;

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::routing::post;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    Implementation, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler};
use serde_json::{json, Value};
use tower::ServiceExt;
use tracing::Instrument;

use super::openapi::{post_op, Routes};
use super::AppState;
use crate::coord::inbox::InboxItem;
use crate::coord::reservations::ReserveRequest;
use crate::coord::task::{Task, TaskInput};
use crate::coord::time::Timestamp;
use crate::coord::{CoordError, Finish};
pub use tools::list as tool_list;
use tools::Args;

/// The header that names the calling agent when its tool calls do not.
pub const AGENT_HEADER: &str = "x-hivelog-agent";
/// Inbox items a brief carries.
const BRIEF_INBOX: usize = 20;

/// One MCP server; the SDK makes one per session.
#[derive(Clone)]
pub struct Hive {
    state: AppState,
}

type Service = StreamableHttpService<Hive, LocalSessionManager>;

pub fn routes(state: &AppState) -> Routes {
    let hive = Hive {
        state: state.clone(),
    };
    // Stateless with JSON answers: the tools need no server-to-client
    // stream and no session state (identity travels with each call), and
    // a plain request/response is several times cheaper than SSE.
    let config = StreamableHttpServerConfig::default()
        .with_allowed_origins(["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"])
        .enforce_origin_validation()
        .with_json_response(true)
        .with_legacy_session_mode(false)
        .with_sse_keep_alive(Some(Duration::from_secs(15)));
    let config = if state.mcp_any_host {
        config.disable_allowed_hosts()
    } else {
        config
    };
    let service: Service =
        StreamableHttpService::new(move || Ok(hive.clone()), Default::default(), config);
    let handler = move |State(_): State<AppState>, req: Request| {
        let service = service.clone();
        async move {
            match service.oneshot(req).await {
                Ok(resp) => resp.map(Body::new),
                Err(never) => match never {},
            }
        }
    };
    Routes::new("mcp").route(
        "/mcp",
        post(handler),
        vec![
            post_op("MCP (Streamable HTTP): initialize, tools/list, tools/call")
                .about("Stateless: every request is answered with JSON, no session is kept (so GET and DELETE are 405). Eight tools: claim_next, complete, progress, handoff, add_task, send_message, inbox, reserve. The agent is the agent_id argument or the X-Hivelog-Agent header. Origin must be a local page (403 otherwise)."),
        ],
    )
}

fn text(v: Value) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(v.to_string())]).into()
}

/// A refusal the agent should read and act on (stale token, conflict, …):
/// a tool result marked as an error, with the reason as its text.
fn refused(e: impl std::fmt::Display) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(e.to_string())]).into()
}

fn bad_args(msg: String) -> ErrorData {
    ErrorData::invalid_params(msg, None)
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

impl Hive {
    fn agent(args: &Args, ctx: &RequestContext<RoleServer>) -> Result<String, ErrorData> {
        if let Some(a) = args.str("agent_id").map_err(bad_args)? {
            return Ok(a);
        }
        ctx.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.headers.get(AGENT_HEADER))
            .and_then(|v| v.to_str().ok())
            .filter(|a| !a.is_empty())
            .map(String::from)
            .ok_or_else(|| {
                bad_args(
                    "agent_id is required (or start the client with hivelog mcp --agent NAME)"
                        .into(),
                )
            })
    }

    async fn inbox_items(&self, agent: &str) -> Vec<InboxItem> {
        self.state
            .coord
            .inbox(agent, BRIEF_INBOX)
            .await
            .unwrap_or_default()
    }

    async fn call(
        &self,
        name: &str,
        args: Args,
        agent: String,
    ) -> Result<CallToolResponse, ErrorData> {
        let coord = &self.state.coord;
        // Every call is a sign of life.
        if let Err(e) = coord.touch(&agent, None).await {
            return Ok(refused(e));
        }
        let outcome: Result<Value, CoordError> = match name {
            "claim_next" => {
                args.only(&["capabilities", "wait_seconds"])
                    .map_err(bad_args)?;
                let caps = args.strings("capabilities").map_err(bad_args)?;
                let wait = args
                    .seconds("wait_seconds")
                    .map_err(bad_args)?
                    .unwrap_or_default()
                    .min(Duration::from_secs(300));
                match coord.claim_next(&agent, caps, wait).await {
                    Ok(Some(w)) => {
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
                }
            }
            "complete" => {
                args.only(&["task_id", "fencing_token", "result", "error"])
                    .map_err(bad_args)?;
                let id = args.required_str("task_id").map_err(bad_args)?;
                let fence = args.uint("fencing_token").map_err(bad_args)?;
                let error = args.str("error").map_err(bad_args)?;
                let result = args.0.get("result").cloned().filter(|v| !v.is_null());
                let finish = Finish {
                    success: error.is_none(),
                    result,
                    error,
                    retry: true,
                    fence,
                };
                coord
                    .complete(&id, &agent, finish)
                    .await
                    .map(|w| short_task(&w.task))
            }
            "progress" => {
                args.only(&["task_id", "fencing_token", "note", "percent"])
                    .map_err(bad_args)?;
                let id = args.required_str("task_id").map_err(bad_args)?;
                let fence = args.uint("fencing_token").map_err(bad_args)?;
                let note = args.required_str("note").map_err(bad_args)?;
                let percent = args.number("percent").map_err(bad_args)?;
                coord
                    .progress(&id, &agent, Some(note), percent, fence)
                    .await
                    .map(|w| json!({"task_id": id, "lease_expires_at": w.task.lease_expires_at}))
            }
            "handoff" => {
                args.only(&["task_id", "fencing_token", "note", "to", "delay_seconds"])
                    .map_err(bad_args)?;
                let id = args.required_str("task_id").map_err(bad_args)?;
                let fence = args.uint("fencing_token").map_err(bad_args)?;
                let note = args.required_str("note").map_err(bad_args)?;
                let to = args.str("to").map_err(bad_args)?;
                match args.seconds("delay_seconds").map_err(bad_args)? {
                    Some(delay) => coord.snooze(&id, &agent, delay, Some(note), fence).await,
                    None => coord.handoff(&id, &agent, note, to.as_deref(), fence).await,
                }
                .map(|w| short_task(&w.task))
            }
            "add_task" => self.add_task(&args).await?,
            "send_message" => {
                args.only(&["content", "to", "channel"]).map_err(bad_args)?;
                let content = args.required_str("content").map_err(bad_args)?;
                let channel = args
                    .str("channel")
                    .map_err(bad_args)?
                    .unwrap_or_else(|| "coordination".into());
                let mut body = json!({"agent_id": agent, "channel": channel, "content": content});
                if let Some(to) = args.str("to").map_err(bad_args)? {
                    body["to"] = Value::String(to);
                }
                match serde_json::from_value(body) {
                    Ok(input) => coord
                        .post_message(input)
                        .await
                        .map(|m| json!({"sequence": m.sequence, "mentions": m.mentions})),
                    Err(e) => return Err(bad_args(e.to_string())),
                }
            }
            "inbox" => {
                args.only(&["ack"]).map_err(bad_args)?;
                let ack = args.boolean("ack").map_err(bad_args)?.unwrap_or(false);
                match coord.inbox(&agent, crate::coord::inbox::MAX_PEEK).await {
                    Ok(items) => {
                        let last = items.last().map(|i| i.seq);
                        if let (true, Some(last)) = (ack, last) {
                            if let Err(e) = coord.ack_inbox(&agent, Some(last)).await {
                                return Ok(refused(e));
                            }
                        }
                        Ok(json!({"items": items, "acked": ack && last.is_some()}))
                    }
                    Err(e) => Err(e),
                }
            }
            "reserve" => {
                args.only(&["globs", "exclusive", "ttl_seconds", "release"])
                    .map_err(bad_args)?;
                let globs = args.strings("globs").map_err(bad_args)?.unwrap_or_default();
                if args.boolean("release").map_err(bad_args)?.unwrap_or(false) {
                    coord
                        .unreserve(&agent, &globs)
                        .await
                        .map(|gone| json!({"released": gone.iter().map(|r| &r.glob).collect::<Vec<_>>()}))
                } else {
                    let ttl = args
                        .seconds("ttl_seconds")
                        .map_err(bad_args)?
                        .unwrap_or(coord.config().reservation_ttl);
                    coord
                        .reserve(ReserveRequest {
                            agent: agent.clone(),
                            globs,
                            exclusive: args.boolean("exclusive").map_err(bad_args)?.unwrap_or(true),
                            ttl,
                            task_id: None,
                            reason: None,
                        })
                        .await
                        .map(|held| json!({"reserved": held.iter().map(|r| json!({"glob": r.glob, "exclusive": r.exclusive, "expires_at": r.expires_at})).collect::<Vec<_>>()}))
                }
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool {other:?}"),
                    None,
                ))
            }
        };
        Ok(match outcome {
            Ok(v) => text(v),
            Err(CoordError::Invalid(msg)) => return Err(bad_args(msg)),
            Err(e) => refused(e),
        })
    }

    async fn add_task(&self, args: &Args) -> Result<Result<Value, CoordError>, ErrorData> {
        args.only(&[
            "title",
            "description",
            "task_id",
            "priority",
            "depends_on",
            "capabilities",
            "files",
            "dedup_key",
            "delay_seconds",
        ])
        .map_err(bad_args)?;
        let title = args.required_str("title").map_err(bad_args)?;
        let task_id = match args.str("task_id").map_err(bad_args)? {
            Some(id) => id,
            None => new_task_id(),
        };
        let not_before = args
            .seconds("delay_seconds")
            .map_err(bad_args)?
            .map(|d| Timestamp::now().plus(d));
        let mut input = json!({
            "task_id": task_id,
            "title": title,
            "description": args.str("description").map_err(bad_args)?.unwrap_or_default(),
            "priority": args.str("priority").map_err(bad_args)?,
            "depends_on": args.strings("depends_on").map_err(bad_args)?,
            "capabilities": args.strings("capabilities").map_err(bad_args)?,
            "files": args.strings("files").map_err(bad_args)?,
            "dedup_key": args.str("dedup_key").map_err(bad_args)?,
        });
        if let Some(nb) = not_before {
            input["not_before"] = json!(nb);
        }
        let input: TaskInput =
            serde_json::from_value(input).map_err(|e| bad_args(e.to_string()))?;
        Ok(self.state.coord.post_task(input).await.map(|w| {
            json!({
                "task_id": w.task.task_id,
                "status": w.task.status,
                "created": w.created,
                "deduplicated": w.deduplicated,
            })
        }))
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

impl ServerHandler for Hive {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("hivelog", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Coordinate with other agents: claim_next for work, progress to keep it, complete or handoff with its fencing_token. reserve files before editing; check inbox for messages.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::list()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = Args(request.arguments.unwrap_or_default());
        let agent = Self::agent(&args, &context)?;
        let span = tracing::info_span!("mcp", tool = %request.name, %agent);
        self.call(&request.name, args, agent).instrument(span).await
    }
}
