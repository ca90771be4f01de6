//! Which project a request is about: the `X-Hivelog-Project` header, or
//! `?project=` where a header cannot be set (a browser's WebSocket, a
//! link). Naming none is the default project, which is what every old
//! client and compatible route gets. `X-Hivelog-Repository` (what `hivelog
//! setup` derived the project from) is recorded with a new project.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use super::AppState;
use crate::coord::Coordinator;
use crate::streams::Backend;

pub const PROJECT_HEADER: &str = "x-hivelog-project";
pub const REPOSITORY_HEADER: &str = "x-hivelog-repository";

/// The coordinator of the request's project.
pub struct Project(pub Arc<Coordinator<Backend>>);

/// The project a request names, if any (header first).
pub fn named(parts: &Parts) -> Result<Option<String>, ApiError> {
    if let Some(v) = parts.headers.get(PROJECT_HEADER) {
        let name = v
            .to_str()
            .map_err(|_| ApiError::bad_request("X-Hivelog-Project must be ASCII"))?;
        return Ok(Some(name.trim().to_string()).filter(|n| !n.is_empty()));
    }
    let Some(query) = parts.uri.query() else {
        return Ok(None);
    };
    Ok(form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "project")
        .map(|(_, v)| v.trim().to_string())
        .filter(|n| !n.is_empty()))
}

fn repository(parts: &Parts) -> Result<Option<String>, ApiError> {
    match parts.headers.get(REPOSITORY_HEADER) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim().to_string()).filter(|s| !s.is_empty()))
            .map_err(|_| ApiError::bad_request("X-Hivelog-Repository must be ASCII")),
    }
}

/// The coordinator of the project a request names: opened and recorded
/// the first time something is written to it; a read of a project that
/// does not exist sees it empty and leaves nothing behind.
pub async fn of_request(
    parts: &Parts,
    state: &AppState,
) -> Result<Arc<Coordinator<Backend>>, ApiError> {
    let name = named(parts)?;
    let repository = repository(parts)?;
    if parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD {
        return Ok(state.projects.peek(name.as_deref()).await?);
    }
    Ok(state
        .projects
        .get(name.as_deref(), repository.as_deref())
        .await?)
}

impl FromRequestParts<AppState> for Project {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        of_request(parts, state).await.map(Project)
    }
}
