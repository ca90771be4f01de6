//! The answers of `/api/v2/projects` and `/api/v2/pause/machine`, which
//! `hivelog projects` and `hivelog pause --all` read back.

use serde::{Deserialize, Serialize};

use crate::coord::board::TaskCounts;
use crate::coord::time::Timestamp;
use crate::coord::{Pause, Projects};
use crate::streams::LogPort;

/// One project as `GET /api/v2/projects` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProjectSummary {
    pub name: String,
    /// What it was set up from (origin URL or common git directory).
    pub repository: Option<String>,
    pub created_at: Option<Timestamp>,
    /// Registered agents (of any health).
    pub agents: usize,
    pub tasks: TaskCounts,
    /// This project's own switch (the machine's is beside the list).
    pub paused: bool,
    /// Where its task events and channel messages are published
    /// (`mjwork` for the default project, `mjwork.p.<name>` for others).
    pub subject_prefix: String,
    /// What its state records' subjects start with.
    pub state_subjects: String,
}

/// `GET /api/v2/projects`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProjectList {
    pub projects: Vec<ProjectSummary>,
    /// The switch over every project.
    pub machine_pause: Pause,
}

pub fn list<P: LogPort + Clone>(projects: &Projects<P>) -> ProjectList {
    let list = projects
        .list()
        .into_iter()
        .map(|(info, coord)| ProjectSummary {
            name: info.name,
            repository: info.repository,
            created_at: info.created_at,
            agents: coord.agents().health_counts().iter().map(|(_, n)| n).sum(),
            tasks: coord.tasks().counts(),
            paused: coord.pause_state().paused,
            subject_prefix: coord.config().prefix.clone(),
            state_subjects: coord.state_root().to_string(),
        })
        .collect();
    ProjectList {
        projects: list,
        machine_pause: projects.default_project().machine_pause(),
    }
}
