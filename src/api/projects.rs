//! `/api/v2/projects`: the projects this server serves, with their agents
//! and tasks; and the machine's pause switch over all of them.

use axum::extract::State;
use axum::routing::get;

use super::extract::Json;
use super::openapi::{get_op, post_op, Routes};
use super::{ApiError, AppState};
use crate::coord::Pause;
use crate::ops::projects::ProjectList;
use crate::ops::work::SetPause;

pub fn routes() -> Routes {
    Routes::new("v2")
        .route(
            "/api/v2/projects",
            get(list),
            vec![get_op("Every project with its repository, agents and tasks by status")
                .about("A project is named by the X-Hivelog-Project header (or ?project=) on any request; naming none is the default project. machine_pause is the switch over every project.")],
        )
        .route(
            "/api/v2/pause/machine",
            get(machine_pause).post(set_machine_pause),
            vec![
                get_op("Whether grants are paused in every project"),
                post_op("Pause or resume grants in every project at once")
                    .about("Each project's own switch (/api/v2/pause) stays as it is; grants run where neither is on.")
                    .body(r#"{"paused":true,"by":"ops","reason":"upgrading the machine"}"#),
            ],
        )
}

async fn list(State(state): State<AppState>) -> axum::Json<ProjectList> {
    axum::Json(crate::ops::projects::list(&state.projects))
}

async fn machine_pause(State(state): State<AppState>) -> axum::Json<Pause> {
    axum::Json(state.projects.default_project().machine_pause())
}

async fn set_machine_pause(
    State(state): State<AppState>,
    Json(body): Json<SetPause>,
) -> Result<axum::Json<Pause>, ApiError> {
    super::work::check_pause(&body)?;
    Ok(axum::Json(
        state
            .projects
            .set_machine_paused(body.paused, body.by, body.reason)
            .await?,
    ))
}
