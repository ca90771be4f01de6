//! Browsers and other sites: by default only pages served by this server
//! may call it from a browser. A request that carries an `Origin` header
//! (browsers add it to cross-site requests and to every WebSocket
//! upgrade) from any other site is refused with 403 before it does
//! anything — CORS headers alone would only stop the page from reading the
//! answer, not a "simple" POST from being carried out. `--cors-origin`
//! names sites that may call it; they get the CORS headers and answered
//! preflights. Clients that are not browsers send no `Origin` and are not
//! affected.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// `http(s)://host[:port]` of the page, against the `Host` it called.
fn same_site(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    rest.is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

pub async fn check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return next.run(req).await;
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    if same_site(&origin, host) {
        return next.run(req).await;
    }
    let allowed = state
        .cors_origins
        .iter()
        .any(|o| o == "*" || o.eq_ignore_ascii_case(&origin));
    // The MCP endpoint checks origins itself, as its spec asks.
    if !allowed && req.uri().path() != "/mcp" {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!("requests from pages on {origin} are refused; start the server with --cors-origin {origin} to allow them"),
        )
        .into_response();
    }
    if !allowed {
        return next.run(req).await;
    }
    let preflight = req.method() == Method::OPTIONS;
    let mut response = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if preflight {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(
                "authorization, content-type, x-hivelog-agent, nats-msg-id, nats-expected-stream, nats-expected-last-sequence, nats-expected-last-subject-sequence",
            ),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_site_is_scheme_host_and_port() {
        assert!(same_site("http://127.0.0.1:8001", Some("127.0.0.1:8001")));
        assert!(same_site("http://LOCALHOST:8001", Some("localhost:8001")));
        assert!(!same_site("http://127.0.0.1:9999", Some("127.0.0.1:8001")));
        assert!(!same_site("http://evil.example", Some("127.0.0.1:8001")));
        assert!(!same_site("null", Some("127.0.0.1:8001")));
        assert!(!same_site("http://127.0.0.1:8001", None));
    }
}
