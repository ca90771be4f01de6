//! `/api/v2/reservations`: advisory leases on path globs (see
//! `coord::reservations`), and the check a git hook runs before a commit.

use axum::extract::RawQuery;
use axum::routing::{get, post};

use super::extract::Json;
use super::openapi::{get_op, post_op, Routes};
use super::validation::QueryParams;
use super::ApiError;
use crate::api::project::Project;
use crate::coord::reservations::{ReserveRequest, MAX_GLOBS};
use crate::log::duration::parse_duration;
use crate::ops::reservations::{
    Check, Checked, Held, Listing, Release, Released, Reserve, Reserved, Waiting,
};

/// Most paths one check looks at.
const MAX_CHECK: usize = 10_000;

pub fn routes() -> Routes {
    Routes::new("v2")
        .route(
            "/api/v2/reservations",
            get(list).post(reserve),
            vec![
                get_op("Active file reservations, oldest first: {\"reservations\", \"count\", \"waiting\"}")
                    .about("waiting: claimable tasks whose files another agent holds, with the conflicts (what keeps them from being granted).")
                    .query("agent", "only this agent's"),
                post_op("Reserve (or renew) path globs for an agent, all or none")
                    .about("exclusive (default true) conflicts with any other agent's reservation of an overlapping glob; shared ones conflict only with exclusive ones. ttl defaults to the server's reservation-ttl. Reserving the same glob again renews it.")
                    .body(r#"{"agent_id":"alice","globs":["src/api/**","README.md"],"exclusive":true,"ttl":"30m","reason":"refactor"}"#)
                    .answers(409, "another agent holds an overlapping glob (detail names it and a path both cover)"),
            ],
        )
        .route(
            "/api/v2/reservations/release",
            post(release),
            vec![post_op("Release an agent's reservations (the globs named, or all)")
                .body(r#"{"agent_id":"alice","globs":["README.md"]}"#)],
        )
        .route(
            "/api/v2/reservations/check",
            post(check),
            vec![post_op("Which of these paths other agents hold")
                .about("For a pre-commit hook: ok is false when any path is covered by another agent's reservation (the agent's own never count).")
                .body(r#"{"agent_id":"alice","paths":["src/api/mod.rs"]}"#)],
        )
}

async fn list(
    Project(coord): Project,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<Listing>, ApiError> {
    let q = QueryParams::parse(raw.as_deref());
    let list = coord.reservations().list(q.get("agent"));
    let waiting = coord
        .reservations()
        .waiting_on_files(1_000)
        .into_iter()
        .map(|(task_id, conflicts)| Waiting { task_id, conflicts })
        .collect();
    Ok(axum::Json(Listing {
        count: list.len(),
        reservations: list,
        waiting,
    }))
}

async fn reserve(
    Project(coord): Project,
    Json(body): Json<Reserve>,
) -> Result<axum::Json<Reserved>, ApiError> {
    let ttl = match body.ttl.as_deref() {
        Some(t) => parse_duration(t).map_err(|e| ApiError::bad_request(format!("ttl: {e}")))?,
        None => coord.config().reservation_ttl,
    };
    if body.reason.as_ref().is_some_and(|r| r.len() > 1_000) {
        return Err(ApiError::bad_request("reason is longer than 1,000 bytes"));
    }
    let held = coord
        .reservations()
        .reserve(ReserveRequest {
            agent: body.agent_id,
            globs: body.globs,
            exclusive: body.exclusive.unwrap_or(true),
            ttl,
            task_id: None,
            reason: body.reason,
        })
        .await?;
    Ok(axum::Json(Reserved { reservations: held }))
}

async fn release(
    Project(coord): Project,
    Json(body): Json<Release>,
) -> Result<axum::Json<Released>, ApiError> {
    if body.globs.len() > MAX_GLOBS {
        return Err(ApiError::bad_request(format!("at most {MAX_GLOBS} globs")));
    }
    let gone = coord
        .reservations()
        .release(&body.agent_id, &body.globs)
        .await?;
    Ok(axum::Json(Released {
        released: gone.len(),
        reservations: gone,
    }))
}

async fn check(
    Project(coord): Project,
    Json(body): Json<Check>,
) -> Result<axum::Json<Checked>, ApiError> {
    if body.paths.len() > MAX_CHECK {
        return Err(ApiError::bad_request(format!("at most {MAX_CHECK} paths")));
    }
    let conflicts: Vec<Held> = body
        .paths
        .iter()
        .filter_map(|p| {
            let holders = coord.reservations().covering(p, body.agent_id.as_deref());
            (!holders.is_empty()).then(|| Held {
                path: p.clone(),
                holders,
            })
        })
        .collect();
    Ok(axum::Json(Checked {
        ok: conflicts.is_empty(),
        conflicts,
    }))
}
