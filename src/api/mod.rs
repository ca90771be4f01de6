//! The HTTP API (axum). Handlers parse and validate, call the log, and
//! answer JSON; errors become `{"detail": ...}` with one status each (see
//! `error.rs`). The whole router is built before the listener accepts its
//! first connection.

mod agents;
pub mod auth;
mod channels;
mod consumers;
pub mod dashboard;
pub mod error;
mod extract;
#[doc(hidden)]
pub mod fuzzing;
mod health;
pub mod limits;
pub mod mcp;
mod messages;
pub mod metrics;
pub mod openapi;
mod origin;
pub mod project;
mod projects;
pub mod render;
mod reservations;
mod slots;
mod streams;
pub mod sysmetrics;
mod tasks;
mod tasks_v2;
pub mod tls;
pub mod validation;
mod work;
pub mod ws;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::Router;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;

use std::sync::Arc;

use crate::coord::{Coordinator, Projects};
use crate::log::{Log, MAX_MSG_SIZE_CAP};
use crate::streams::Backend;
pub use error::ApiError;

/// What every handler can reach. One `Arc`: axum clones the state for
/// every request and every middleware layer, and cloning each field's
/// `Arc` on its own showed up in profiles of the request path.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// The fields of [`AppState`].
#[derive(Clone)]
pub struct AppStateInner {
    /// Every stream, message and consumer call: the one face of storage.
    pub streams: crate::streams::Streams,
    /// Every project's coordination; a request reaches its own through
    /// the `project::Project` extractor.
    pub projects: Arc<Projects<Backend>>,
    pub ws: ws::WsConfig,
    pub ws_stats: Arc<ws::WsStats>,
    /// One session at a time per durable subscription (ws/gate.rs).
    pub ws_gates: Arc<ws::DurableGates>,
    /// Identifies this server process to WebSocket clients.
    pub server_id: Arc<str>,
    /// True once the store is open and background jobs run; false again
    /// when shutdown starts (`GET /ready`).
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    pub http: Arc<metrics::HttpStats>,
    /// The tokens requests must carry, with their roles (`auth/`); none
    /// configured means every request is allowed.
    pub tokens: Arc<auth::Tokens>,
    pub limits: Arc<limits::Limits>,
    /// Sites (`https://app.example`) whose pages may call the API
    /// (`--cors-origin`); others are refused (`origin.rs`).
    pub cors_origins: Arc<Vec<String>>,
    /// `/mcp` accepts any `Host` header (the server listens beyond
    /// loopback); otherwise only loopback names, against DNS rebinding.
    pub mcp_any_host: bool,
}

impl AppState {
    /// A state serving the default project only until a request names
    /// another (tests, tools).
    pub fn new(log: Log, coord: Arc<Coordinator<Backend>>, ws: ws::WsConfig) -> Self {
        Self::serving(log, Arc::new(Projects::around(coord)), ws)
    }

    pub fn serving(log: Log, projects: Arc<Projects<Backend>>, ws: ws::WsConfig) -> Self {
        let server_id = format!(
            "{:016x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        );
        let streams = crate::streams::Streams::new(log, projects.default_project().port().clone());
        AppState(Arc::new(AppStateInner {
            streams,
            projects,
            ws,
            ws_stats: Arc::default(),
            ws_gates: Arc::default(),
            server_id: server_id.into(),
            ready: Arc::default(),
            http: Arc::default(),
            tokens: Arc::new(auth::Tokens::open()),
            limits: Arc::new(limits::Limits::new(limits::LimitsConfig::default())),
            cors_origins: Arc::default(),
            mcp_any_host: false,
        }))
    }

    /// For the builders below, before the state is shared.
    fn fields(&mut self) -> &mut AppStateInner {
        Arc::make_mut(&mut self.0)
    }

    /// Where the server listens decides which `Host` names `/mcp` takes.
    pub fn listening_on(mut self, addr: std::net::SocketAddr) -> Self {
        self.fields().mcp_any_host = !addr.ip().is_loopback();
        self
    }

    /// Requires `token` (an admin token) on API and WebSocket requests
    /// (empty means none).
    pub fn with_token(mut self, token: Option<&str>) -> Self {
        if let Ok(t) = auth::Tokens::new(token, None, false) {
            self.fields().tokens = Arc::new(t);
        }
        self
    }

    pub fn with_cors_origins(mut self, origins: Vec<String>) -> Self {
        self.fields().cors_origins = Arc::new(origins);
        self
    }

    pub fn with_limits(mut self, config: limits::LimitsConfig) -> Self {
        self.fields().limits = Arc::new(limits::Limits::new(config));
        self
    }

    /// Requires one of `tokens` on API and WebSocket requests.
    pub fn with_tokens(mut self, tokens: Arc<auth::Tokens>) -> Self {
        self.fields().tokens = tokens;
        self
    }
}

/// The largest request body by default (`--max-body-mb`): the largest
/// message a stream may accept, plus room for a JSON envelope.
pub const MAX_BODY: usize = MAX_MSG_SIZE_CAP as usize + 64 * 1024;
/// The longest a pull request may wait for messages.
pub const MAX_FETCH_WAIT: Duration = Duration::from_secs(300);

pub fn router(state: AppState) -> Router {
    // Every route comes from the documented table (`openapi::Routes`), so
    // `/openapi.json` lists exactly what this router serves.
    health::routes()
        .merge(streams::routes())
        .merge(messages::routes())
        .merge(consumers::routes())
        .merge(tasks::routes())
        .merge(tasks_v2::routes())
        .merge(work::routes())
        .merge(reservations::routes())
        .merge(slots::routes())
        .merge(projects::routes())
        .merge(mcp::routes(&state))
        .merge(agents::routes())
        .merge(channels::routes())
        .merge(ws::routes())
        .merge(dashboard::routes())
        .merge(metrics::routes())
        .finish()
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Inside the token check, so a token's requests share one bucket.
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::rate_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_token))
        // Before the token check: a foreign page is refused whatever it sends.
        .layer(axum::middleware::from_fn_with_state(state.clone(), origin::check))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::count_requests))
        .layer(DefaultBodyLimit::max(state.limits.config.max_body))
        // Outermost last: a request gets its id first, is traced with it,
        // and the answer carries it back in `x-request-id`.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(LatencyUnit::Micros)),
        )
        .layer(SetRequestIdLayer::x_request_id(NextRequestId::default()))
        .with_state(state)
}

/// Request ids: a process-unique counter, unless the client sent its own
/// `x-request-id` (then that one is kept).
#[derive(Clone, Default)]
struct NextRequestId(Arc<std::sync::atomic::AtomicU64>);

impl MakeRequestId for NextRequestId {
    fn make_request_id<B>(&mut self, _req: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        axum::http::HeaderValue::from_str(&format!("req-{n}"))
            .ok()
            .map(RequestId::new)
    }
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "method {} is not allowed on {}",
            req.method(),
            req.uri().path()
        ),
    )
}
