//! `/api/v2/slots`: named counting semaphores (see `coord::slots`) that
//! agents acquire around expensive work.

use std::time::Duration;

use axum::extract::State;
use axum::routing::{get, post, put};

use super::extract::{Json, Path};
use super::openapi::{get_op, post_op, put_op, Routes};
use super::{ApiError, AppState, MAX_FETCH_WAIT};
use crate::api::project::Project;
use crate::coord::slots::Slot;
use crate::log::duration::parse_duration;
use crate::ops::slots::{Acquire, Acquired, ReleaseSlot, SetSlot, SlotReleased, Slots};

/// A permit's life when the acquirer names none.
const DEFAULT_TTL: Duration = Duration::from_secs(600);

pub fn routes() -> Routes {
    Routes::new("v2")
        .route(
            "/api/v2/slots",
            get(list),
            vec![get_op("Every slot with its size and current holders")],
        )
        .route(
            "/api/v2/slots/{name}",
            put(set),
            vec![put_op("Create a slot or change its size")
                .about("scope: project (the default for a new slot) or machine — one slot every project acquires from, e.g. a build slot guarding the machine's CPUs.")
                .body(r#"{"permits":2,"scope":"machine"}"#)
                .answers(422, "permits out of range")],
        )
        .route(
            "/api/v2/slots/{name}/acquire",
            post(acquire),
            vec![post_op("Take a permit (waiting up to wait for one)")
                .about("ttl (default 10m): the permit ends by itself then. permits creates the slot with that size if it does not exist. 409 when full after wait, naming the holders.")
                .body(r#"{"agent_id":"alice","ttl":"15m","wait":"30s"}"#)
                .answers(409, "the slot is full")],
        )
        .route(
            "/api/v2/slots/{name}/release",
            post(release),
            vec![post_op("Give back a permit (the one named, or all of the agent's)")
                .body(r#"{"agent_id":"alice"}"#)],
        )
}

async fn list(
    State(state): State<AppState>,
    Project(coord): Project,
) -> Result<axum::Json<Slots>, ApiError> {
    let slots = state.projects.slots_of(&coord).await?;
    Ok(axum::Json(Slots { slots }))
}

async fn set(
    State(state): State<AppState>,
    Project(coord): Project,
    Path(name): Path<String>,
    Json(body): Json<SetSlot>,
) -> Result<axum::Json<Slot>, ApiError> {
    let home = state.projects.slot_home(&coord, &name, body.scope).await?;
    Ok(axum::Json(
        home.slots().set(&name, body.permits, body.scope).await?,
    ))
}

fn duration(name: &str, text: Option<&str>, default: Duration) -> Result<Duration, ApiError> {
    match text {
        Some(t) => parse_duration(t).map_err(|e| ApiError::bad_request(format!("{name}: {e}"))),
        None => Ok(default),
    }
}

async fn acquire(
    State(state): State<AppState>,
    Project(coord): Project,
    Path(name): Path<String>,
    Json(body): Json<Acquire>,
) -> Result<axum::Json<Acquired>, ApiError> {
    let ttl = duration("ttl", body.ttl.as_deref(), DEFAULT_TTL)?;
    if ttl.is_zero() {
        return Err(ApiError::bad_request("ttl must be more than zero"));
    }
    let wait = duration("wait", body.wait.as_deref(), Duration::ZERO)?;
    if wait > MAX_FETCH_WAIT {
        return Err(ApiError::bad_request(format!(
            "wait may be at most {}s",
            MAX_FETCH_WAIT.as_secs()
        )));
    }
    let home = state.projects.slot_home(&coord, &name, None).await?;
    let (permit, slot) = home
        .slots()
        .acquire(&name, &body.agent_id, ttl, wait, body.permits)
        .await?;
    Ok(axum::Json(Acquired {
        permit,
        in_use: slot.holders.len(),
        permits: slot.permits,
        slot: slot.name,
    }))
}

async fn release(
    State(state): State<AppState>,
    Project(coord): Project,
    Path(name): Path<String>,
    Json(body): Json<ReleaseSlot>,
) -> Result<axum::Json<SlotReleased>, ApiError> {
    let home = state.projects.slot_home(&coord, &name, None).await?;
    let ended = home
        .slots()
        .release(&name, &body.agent_id, body.permit_id.as_deref())
        .await?;
    Ok(axum::Json(SlotReleased { released: ended }))
}
