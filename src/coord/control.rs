//! The pause switches: while paused, no task is granted (claim and
//! claim-next answer `Paused`, the compatible `available` list is empty),
//! so every agent backs off at once. Everything else keeps working. Each
//! project has its switch (a record on its `control.pause` subject), and
//! the machine has one that pauses every project at once (kept by the
//! default project's coordinator on `hivelog.state.control.machine` and
//! shared in memory with every other project's). Both survive a restart.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::time::Timestamp;
use super::{lock, CoordError, Coordinator};
use crate::streams::LogPort;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pause {
    pub paused: bool,
    pub by: Option<String>,
    pub reason: Option<String>,
    pub since: Option<Timestamp>,
}

/// What every project's coordinator in one server shares.
#[derive(Debug, Default)]
pub(crate) struct Machine {
    pause: Mutex<Pause>,
}

/// The id (last token) of a project's own switch and of the machine's.
pub(super) const PROJECT_SWITCH: &str = "pause";
pub(super) const MACHINE_SWITCH: &str = "machine";

impl<P: LogPort> Coordinator<P> {
    fn switch_subject(&self, id: &str) -> String {
        format!("{}.{id}", self.subjects.control)
    }

    fn keeps_machine_switch(&self) -> bool {
        self.config.project == super::project::DEFAULT_PROJECT
    }

    pub(super) async fn load_pause(&self) -> Result<(), CoordError> {
        if let Some(p) = self
            .load::<Pause>(&self.switch_subject(PROJECT_SWITCH))
            .await?
            .value
        {
            *lock(&self.pause) = p;
        }
        if self.keeps_machine_switch() {
            let subject = self.switch_subject(MACHINE_SWITCH);
            if let Some(p) = self.load::<Pause>(&subject).await?.value {
                *lock(&self.machine.pause) = p;
            }
        }
        Ok(())
    }

    /// This project's switch.
    pub fn pause_state(&self) -> Pause {
        lock(&self.pause).clone()
    }

    /// The switch over every project.
    pub fn machine_pause(&self) -> Pause {
        lock(&self.machine.pause).clone()
    }

    /// Whether grants are paused here: by this project's switch or the
    /// machine's.
    pub fn is_paused(&self) -> bool {
        lock(&self.pause).paused || lock(&self.machine.pause).paused
    }

    /// A switch record another instance stored (follow.rs).
    pub(super) fn apply_switch(&self, id: &str, p: Pause) {
        match id {
            PROJECT_SWITCH => *lock(&self.pause) = p,
            MACHINE_SWITCH if self.keeps_machine_switch() => *lock(&self.machine.pause) = p,
            _ => return,
        }
        self.claimable.notify_waiters();
    }

    /// Turns the machine's switch (the default project keeps it; any other
    /// refuses). Waiting claim-next callers of other projects are woken by
    /// whoever holds them all (`projects.rs`).
    pub async fn set_machine_paused(
        &self,
        paused: bool,
        by: Option<String>,
        reason: Option<String>,
    ) -> Result<Pause, CoordError> {
        if !self.keeps_machine_switch() {
            return Err(CoordError::Invalid(
                "the machine's pause switch is kept by the default project".into(),
            ));
        }
        self.turn(MACHINE_SWITCH, paused, by, reason).await
    }

    /// Turns this project's switch; answers the new state.
    pub async fn set_paused(
        &self,
        paused: bool,
        by: Option<String>,
        reason: Option<String>,
    ) -> Result<Pause, CoordError> {
        self.turn(PROJECT_SWITCH, paused, by, reason).await
    }

    /// Stores switch `id`'s new state, then applies it here.
    async fn turn(
        &self,
        id: &str,
        paused: bool,
        by: Option<String>,
        reason: Option<String>,
    ) -> Result<Pause, CoordError> {
        let state = Pause {
            paused,
            by,
            reason,
            since: Some(self.clock.now()),
        };
        let payload = serde_json::to_vec(&state).map_err(|e| CoordError::Corrupt(e.to_string()))?;
        self.port
            .append(&self.switch_subject(id), payload, None)
            .await?;
        self.apply_switch(id, state.clone());
        tracing::info!(
            paused,
            switch = id,
            "grants {}",
            if paused { "paused" } else { "resumed" }
        );
        Ok(state)
    }

    /// Lets waiting claim-next callers look again (a switch they depend on
    /// changed).
    pub fn wake_claimers(&self) {
        self.claimable.notify_waiters();
    }
}
