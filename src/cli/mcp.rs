//! `hivelog mcp`: the MCP tools over stdio, for harnesses that start their
//! tool servers as subprocesses (Claude Code, Codex, Cursor). It is a thin
//! client: an MCP server on stdin/stdout whose every request is forwarded
//! to the running server's `/mcp` through the SDK's HTTP client, so the
//! tools behave exactly as over HTTP. Nothing but MCP is written to stdout.

use std::collections::HashMap;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ErrorData, Implementation, ListToolsResult,
    PaginatedRequestParams, ResultType, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, RoleServer, ServerHandler, ServiceError, ServiceExt};

use super::client::CliError;
use super::Conn;

#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// The agent these tools act for (sent as X-Hivelog-Agent; a tool call's own agent_id wins).
    #[arg(long, env = "HIVELOG_AGENT")]
    agent: Option<String>,
}

struct Forward {
    remote: RunningService<RoleClient, ()>,
}

fn to_error(e: ServiceError) -> ErrorData {
    match e {
        ServiceError::McpError(e) => e,
        other => ErrorData::internal_error(format!("hivelog server: {other}"), None),
    }
}

impl ServerHandler for Forward {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("hivelog", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        // The HTTP side may have negotiated an older protocol than the
        // stdio client; the SDK drops the marker again for old peers.
        let mut result = self.remote.list_tools(request).await.map_err(to_error)?;
        result.result_type = Some(ResultType::COMPLETE);
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let mut response = self
            .remote
            .call_tool_once(request)
            .await
            .map_err(to_error)?;
        if let CallToolResponse::Complete(result) = &mut response {
            result.result_type = Some(ResultType::COMPLETE);
        }
        Ok(response)
    }
}

pub async fn run(conn: &Conn, args: McpArgs) -> Result<(), CliError> {
    let url = format!("{}/mcp", conn.server.trim_end_matches('/'));
    // The SDK's HTTP client is built without TLS; an agent harness can
    // reach an https:// server's /mcp directly instead.
    if url.starts_with("https://") {
        return Err(CliError::input(format!(
            "hivelog mcp forwards over plain HTTP; point the harness at {url} as an HTTP MCP server instead (with its token as a bearer header)"
        )));
    }
    let mut headers = HashMap::new();
    if let Some(agent) = &args.agent {
        let value = agent.parse().map_err(|_| {
            CliError::input(format!("--agent {agent:?} is not a valid header value"))
        })?;
        headers.insert(
            axum::http::HeaderName::from_static(crate::api::mcp::AGENT_HEADER),
            value,
        );
    }
    let mut config =
        StreamableHttpClientTransportConfig::with_uri(url.clone()).custom_headers(headers);
    if let Some(token) = &conn.token {
        config = config.auth_header(token.clone());
    }
    let remote = ()
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .map_err(|e| CliError::Protocol(format!("cannot reach the MCP endpoint {url}: {e}")))?;
    let server = Forward { remote }
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| CliError::Protocol(format!("MCP over stdio did not start: {e}")))?;
    server
        .waiting()
        .await
        .map_err(|e| CliError::Protocol(format!("MCP over stdio stopped: {e}")))?;
    Ok(())
}
