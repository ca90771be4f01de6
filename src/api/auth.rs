//! The optional shared token (`serve --token`, HIVELOG_TOKEN). When set,
//! API and WebSocket requests must send `Authorization: Bearer <token>`;
//! a browser's WebSocket cannot set headers, so `?token=` is accepted too.
//! Liveness, readiness, metrics and the static pages stay open so probes,
//! scrapers and the dashboard's first load work without it.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

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

/// Compares without stopping at the first difference, so the answer time
/// does not tell how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(expected) = state.token.as_deref() else {
        return next.run(req).await;
    };
    if is_open(req.uri().path()) {
        return next.run(req).await;
    }
    match given_token(&req) {
        Some(token) if same(token.as_bytes(), expected.as_bytes()) => next.run(req).await,
        given => {
            let detail = if given.is_some() {
                "wrong token"
            } else {
                "this server requires a token: send Authorization: Bearer <token> (hivelog CLI: --token or HIVELOG_TOKEN)"
            };
            let mut response = ApiError::new(StatusCode::UNAUTHORIZED, detail).into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            response
        }
    }
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
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secret2"));
        assert!(
            is_open("/assets/app.js")
                && is_open("/health")
                && !is_open("/api/tasks")
                && !is_open("/ws")
        );
    }
}
