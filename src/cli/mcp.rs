//! `hivelog mcp`: the MCP tools over stdio, for harnesses that start their
//! tool servers as subprocesses (Claude Code, Codex, Cursor). It answers
//! `initialize` and `tools/list` itself (the same instructions and tools
//! as the server's `/mcp`, from the same code), so it starts and stays up
//! whether or not the server runs; each `tools/call` is one HTTP request
//! to the running server's `/mcp`, so it reconnects by itself once the
//! server is back. While the server is away, or refuses the token, a call
//! answers an MCP error that says which, in words.
//!
//! A call the harness cancels (or abandons by exiting) drops its HTTP
//! request, which the server takes as its caller leaving: nothing is
//! granted for it. A grant that arrives after the harness cancelled is
//! given back at once. Nothing but MCP is written to stdout.

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ErrorCode, ErrorData, ListToolsResult,
    PaginatedRequestParams, ResultType, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, ServiceExt};
use serde_json::Value;

use super::client::{Body, CliError, Client};
use super::Conn;
use crate::api::mcp::AGENT_HEADER;
use crate::ops::tasks::AgentStep;

#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// The agent these tools act for (sent as X-Hivelog-Agent; a tool call's own agent_id wins).
    #[arg(long, env = "HIVELOG_AGENT")]
    agent: Option<String>,
}

/// The protocol version the forwarded calls speak: stateless JSON, which
/// every server version answers.
const FORWARD_PROTOCOL: &str = "2025-06-18";

struct Forward {
    client: Client,
    server: String,
    agent: Option<String>,
    has_token: bool,
    /// The worktree the harness runs the bridge in: absolute paths an
    /// agent names inside it are sent relative to its root (`paths.rs`).
    worktree: Option<std::path::PathBuf>,
}

/// The arguments of each tool that name files.
const PATH_ARGUMENTS: [(&str, &str); 2] = [("reserve", "globs"), ("add_task", "files")];

impl Forward {
    /// What went wrong reaching the server, as an MCP error an agent (and
    /// the person behind it) can act on.
    fn trouble(&self, e: CliError) -> ErrorData {
        let server = &self.server;
        let message = match e {
            CliError::Unreachable { reason, .. } => format!(
                "hivelog is not running at {server} ({reason}): start it with `hivelog serve` (or point HIVELOG_SERVER at it); nothing was done"
            ),
            CliError::Server { status: 401, .. } if !self.has_token => format!(
                "hivelog at {server} wants a token: set HIVELOG_TOKEN for `hivelog mcp`; nothing was done"
            ),
            CliError::Server { status: 401, .. } => format!(
                "hivelog at {server} refused the token (HTTP 401): set HIVELOG_TOKEN to a token it accepts; nothing was done"
            ),
            CliError::Server { status: 403, detail } => format!(
                "hivelog at {server} refused this call (HTTP 403: {detail}); nothing was done"
            ),
            CliError::Server { status, detail } => {
                format!("hivelog at {server} answered HTTP {status}: {detail}")
            }
            other => format!("hivelog at {server}: {other}"),
        };
        ErrorData::internal_error(message, None)
    }

    /// The call with its file arguments relative to the repository root.
    fn rooted(&self, request: &CallToolRequestParams) -> Option<CallToolRequestParams> {
        let worktree = self.worktree.as_deref()?;
        let (_, field) = PATH_ARGUMENTS
            .iter()
            .find(|(tool, _)| *tool == request.name)?;
        let mut request = request.clone();
        let paths = request
            .arguments
            .as_mut()?
            .get_mut(*field)?
            .as_array_mut()?;
        for p in paths.iter_mut() {
            if let Some(text) = p.as_str() {
                *p = Value::String(super::paths::relative_to_root(worktree, None, text));
            }
        }
        Some(request)
    }

    async fn forward(&self, request: &CallToolRequestParams) -> Result<Value, ErrorData> {
        let rooted = self.rooted(request);
        let request = rooted.as_ref().unwrap_or(request);
        let rpc = ToolCall {
            jsonrpc: "2.0",
            id: 1,
            method: "tools/call",
            params: request,
        };
        let mut headers = vec![
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", FORWARD_PROTOCOL),
        ];
        if let Some(agent) = &self.agent {
            headers.push((AGENT_HEADER, agent.as_str()));
        }
        let answer = self
            .client
            .call(
                reqwest::Method::POST,
                &["mcp"],
                &[],
                Some(Body::json(&rpc).map_err(|e| self.trouble(e))?),
                &headers,
            )
            .await
            .map_err(|e| self.trouble(e))?;
        // JSON as a rule; an event stream when the server chose one.
        Ok(match answer.body {
            Value::String(text) => text
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .find(|v| v.get("id").is_some())
                .unwrap_or(Value::String(text)),
            json => json,
        })
    }

    /// A claim granted after the harness gave up on it goes back: release
    /// spends no attempt and frees its files.
    async fn give_back(&self, request: &CallToolRequestParams, result: &CallToolResult) {
        let brief = result
            .content
            .first()
            .and_then(|c| c.as_text())
            .and_then(|t| serde_json::from_str::<Value>(&t.text).ok());
        let Some(task) = brief.as_ref().map(|b| &b["task"]).filter(|t| t.is_object()) else {
            return;
        };
        let (Some(id), Some(token)) = (task["task_id"].as_str(), task["fencing_token"].as_u64())
        else {
            return;
        };
        let named = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("agent_id"))
            .and_then(Value::as_str);
        let Some(agent) = named.or(self.agent.as_deref()) else {
            return;
        };
        let body = AgentStep {
            agent_id: Some(agent.to_string()),
            fencing_token: Some(token),
            reason: Some(crate::coord::GONE_BEFORE_ANSWER.to_string()),
            capabilities: None,
        };
        if let Err(e) = self
            .client
            .post(&["api", "tasks", id, "release"], &body)
            .await
        {
            eprintln!(
                "hivelog mcp: could not give back {id}, granted after its call was cancelled: {e}"
            );
        }
    }
}

/// The one JSON-RPC request this bridge sends.
#[derive(serde::Serialize)]
struct ToolCall<'a> {
    jsonrpc: &'static str,
    id: u32,
    method: &'static str,
    params: &'a CallToolRequestParams,
}

impl ServerHandler for Forward {
    fn get_info(&self) -> ServerConfig {
        crate::api::mcp::server_info()
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut result = ListToolsResult::with_all_items(crate::api::mcp::tool_list());
        result.result_type = Some(ResultType::COMPLETE);
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // Cancelled (or the harness gone): the request is dropped with its
        // connection, which the server takes as its caller leaving.
        let body = tokio::select! {
            body = self.forward(&request) => body?,
            _ = context.ct.cancelled() => {
                return Err(ErrorData::new(ErrorCode::INTERNAL_ERROR, "cancelled", None));
            }
        };
        if let Some(error) = body.get("error") {
            return Err(serde_json::from_value(error.clone()).unwrap_or_else(|_| {
                ErrorData::internal_error(format!("hivelog answered {error}"), None)
            }));
        }
        let mut result: CallToolResult =
            serde_json::from_value(body["result"].clone()).map_err(|e| {
                ErrorData::internal_error(
                    format!("hivelog answered something unexpected: {e}"),
                    None,
                )
            })?;
        if context.ct.is_cancelled() && request.name == "claim_next" {
            self.give_back(&request, &result).await;
        }
        result.result_type = Some(ResultType::COMPLETE);
        Ok(result.into())
    }
}

pub async fn run(conn: &Conn, args: McpArgs) -> Result<(), CliError> {
    let client = conn.client()?;
    if let Some(agent) = &args.agent {
        if axum::http::HeaderValue::from_str(agent).is_err() {
            return Err(CliError::input(format!(
                "--agent {agent:?} is not a valid header value"
            )));
        }
    }
    let forward = Forward {
        has_token: client.token().is_some(),
        client,
        server: conn.server.trim_end_matches('/').to_string(),
        agent: args.agent,
        worktree: super::paths::here().map(|(top, _)| top),
    };
    let server = forward
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| CliError::Protocol(format!("MCP over stdio did not start: {e}")))?;
    server
        .waiting()
        .await
        .map_err(|e| CliError::Protocol(format!("MCP over stdio stopped: {e}")))?;
    Ok(())
}
