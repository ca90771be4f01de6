//! `progress`: the holder reports how far it got; renews its lease.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use validator::Validate;

use super::{Ctx, OpError, Operation};
use crate::coord::time::Timestamp;

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    #[validate(length(min = 1, max = 128))]
    pub agent_id: Option<String>,
    #[validate(length(min = 1))]
    pub task_id: String,
    pub fencing_token: u64,
    pub note: String,
    #[validate(range(min = 0.0, max = 100.0))]
    pub percent: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Renewed {
    pub task_id: String,
    pub lease_expires_at: Option<Timestamp>,
}

impl Operation for Progress {
    const NAME: &'static str = "progress";
    const HELP: &'static str = "Report progress on your task; renews its lease.";
    type Answer = Renewed;

    fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }

    async fn apply(self, ctx: &Ctx) -> Result<Renewed, OpError> {
        let fence = Some(self.fencing_token);
        let w = ctx
            .coord
            .tasks()
            .progress(
                &self.task_id,
                &ctx.agent,
                Some(self.note),
                self.percent,
                fence,
            )
            .await?;
        Ok(Renewed {
            task_id: self.task_id,
            lease_expires_at: w.task.lease_expires_at,
        })
    }
}
