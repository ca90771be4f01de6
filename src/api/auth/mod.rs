//! Tokens and roles (`tokens.rs`, `roles.rs`). When any token is
//! configured (`--token`, `--tokens-file`), API and WebSocket requests
//! must send `Authorization: Bearer <token>` (a browser's WebSocket cannot
//! set headers, so `?token=` is accepted too), and the token's role must
//! cover the route. With `--strict-agents`, an `agent` token may act only
//! as its own agent ids. Liveness, readiness, metrics and the static pages
//! stay open so probes, scrapers and the dashboard's first load work
//! without a token.

pub mod roles;
pub mod tokens;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
pub use tokens::{Caller, Role, Tokens};

fn is_open(path: &str) -> bool {
    matches!(
        path,
        "/" | "/health" | "/ready" | "/metrics" | "/docs" | "/openapi.json"
    ) || path.starts_with("/assets/")
}

fn given_token(req: &Request) -> Option<String> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    let query = req.uri().query()?;
    url_token(query)
}

fn url_token(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

fn unauthorized(detail: &str) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, detail).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

fn forbidden(detail: String) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, detail).into_response()
}

pub async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let tokens = state.tokens.clone();
    if !tokens.required() {
        req.extensions_mut().insert(Caller::anyone());
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    if is_open(&path) {
        return next.run(req).await;
    }
    let caller = match given_token(&req) {
        Some(token) => match tokens.check(&token) {
            Some(c) => c,
            None => return unauthorized("wrong token"),
        },
        None => return unauthorized(
            "this server requires a token: send Authorization: Bearer <token> (hivelog CLI: --token or HIVELOG_TOKEN)",
        ),
    };
    let need = roles::required(req.method(), &path);
    if caller.role < need {
        return forbidden(format!(
            "token {} has the {} role; {} {path} needs {}",
            caller.name,
            caller.role.as_str(),
            req.method(),
            need.as_str()
        ));
    }
    // Reading is not acting: a read token may GET everything too.
    if tokens.strict_agents && caller.role == Role::Agent && need > Role::Read {
        let (req2, named) = match agents_named(req, &path, state.limits.config.max_body).await {
            Ok(x) => x,
            Err(response) => return response,
        };
        req = req2;
        let allowed = caller
            .agents
            .clone()
            .unwrap_or_else(|| vec![caller.name.clone()]);
        if let Some(other) = named.iter().find(|a| !allowed.contains(a)) {
            return forbidden(format!(
                "token {} may act only as {}, not as {other} (--strict-agents)",
                caller.name,
                allowed.join(", ")
            ));
        }
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Every agent id the request acts as: in its path, its `X-Hivelog-Agent`
/// header and its JSON body (read here and put back for the handler).
async fn agents_named(
    req: Request,
    path: &str,
    max_body: usize,
) -> Result<(Request, Vec<String>), Response> {
    let mut named = roles::path_agents(path);
    if let Some(a) = req
        .headers()
        .get(super::mcp::AGENT_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        named.push(a.to_string());
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, max_body).await.map_err(|_| {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body is too large").into_response()
    })?;
    // A body that is not JSON is the handler's to refuse.
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
        named.extend(roles::body_agents(&v));
    }
    Ok((
        Request::from_parts(parts, axum::body::Body::from(bytes)),
        named,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_read_from_the_query_and_compared_whole() {
        assert_eq!(
            url_token("a=1&token=s%20e+c%2Fr").as_deref(),
            Some("s e c/r")
        );
        assert_eq!(url_token("tokens=x"), None);
        assert_eq!(url_token("token=100%"), Some("100%".into()));
        assert!(
            is_open("/assets/app.js")
                && is_open("/health")
                && !is_open("/api/tasks")
                && !is_open("/ws")
        );
    }
}
