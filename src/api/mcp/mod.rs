//! `/mcp`: the Model Context Protocol over Streamable HTTP, built on the
//! official SDK (rmcp). AI coding agents reach hivelog's coordination
//! through its tools (`tools.rs`), one per typed operation
//! (`crate::ops`), which `calls.rs` runs. Every request passes
//! `front.rs` first, which keeps track of callers so that nothing is
//! granted to one that is gone. `Origin` is checked as the spec asks
//! (only local pages may call), the `Host` header too when the server
//! listens on loopback (DNS rebinding), and the API token applies as on
//! every other route. `hivelog mcp` serves the same tools over stdio by
//! forwarding here.

mod calls;
mod front;
pub mod tools;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::routing::post;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ErrorData, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler};
use tower::ServiceExt;
use tracing::Instrument;

use super::openapi::{post_op, Routes};
use super::AppState;
pub use front::Call;
pub use tools::list as tool_list;

/// The header that names the calling agent when its tool calls do not.
pub const AGENT_HEADER: &str = "x-hivelog-agent";

/// What `initialize` tells the agent, over HTTP and from `hivelog mcp`.
pub const INSTRUCTIONS: &str = "Coordinate with other agents: claim_next for work, progress to keep it, complete or handoff with its fencing_token. reserve files before editing; check inbox for messages.";

/// The server's `initialize` answer, shared with `hivelog mcp`.
pub fn server_info() -> ServerConfig {
    ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
        .with_server_info(Implementation::new("hivelog", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
}

/// One MCP server; the SDK makes one per request.
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
    let inflight = Arc::new(front::InFlight::default());
    let handler = move |State(state): State<AppState>, req: Request| {
        let (service, inflight) = (service.clone(), inflight.clone());
        let max_body = state.limits.config.max_body;
        front::serve(inflight, max_body, req, move |req| async move {
            match service.oneshot(req).await {
                Ok(resp) => resp.map(Body::new),
                Err(never) => match never {},
            }
        })
    };
    Routes::new("mcp").route(
        "/mcp",
        post(handler),
        vec![
            post_op("MCP (Streamable HTTP): initialize, tools/list, tools/call")
                .about("Stateless: every request is answered with JSON, no session is kept (so GET and DELETE are 405). Eight tools: claim_next, complete, progress, handoff, add_task, send_message, inbox, reserve. The agent is the agent_id argument or the X-Hivelog-Agent header. Origin must be a local page (403 otherwise). A call whose client hangs up, or cancels it (notifications/cancelled), is stopped, and anything it granted is given back."),
        ],
    )
}

impl ServerHandler for Hive {
    fn get_info(&self) -> ServerConfig {
        server_info()
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
        let span = tracing::info_span!("mcp", tool = %request.name);
        let args = request.arguments.unwrap_or_default();
        self.call(&request.name, args, &context)
            .instrument(span)
            .await
    }
}
