//! The pause switch: while paused, no task is granted (claim and
//! claim-next answer `Paused`, the compatible `available` list is empty),
//! so every agent backs off at once. Everything else keeps working. The
//! switch is a record on `hivelog.state.control.pause`, so it survives a
//! restart.

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

impl<P: LogPort> Coordinator<P> {
    fn pause_subject(&self) -> String {
        format!("{}.pause", self.subjects.control)
    }

    pub(super) async fn load_pause(&self) -> Result<(), CoordError> {
        if let Some(p) = self.load::<Pause>(&self.pause_subject()).await?.value {
            *lock(&self.pause) = p;
        }
        Ok(())
    }

    pub fn pause_state(&self) -> Pause {
        lock(&self.pause).clone()
    }

    pub fn is_paused(&self) -> bool {
        lock(&self.pause).paused
    }

    /// Turns the switch; answers the new state.
    pub async fn set_paused(
        &self,
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
            .append(&self.pause_subject(), payload, None)
            .await?;
        *lock(&self.pause) = state.clone();
        if !paused {
            // Waiting claim-next callers look again.
            self.claimable.notify_waiters();
        }
        tracing::info!(
            paused,
            "grants {}",
            if paused { "paused" } else { "resumed" }
        );
        Ok(state)
    }
}
