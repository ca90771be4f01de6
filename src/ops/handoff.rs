//! `handoff`: the holder gives its task back with a note for the next
//! agent (`to`: one agent), or not before `delay_seconds`; no attempt spent.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use validator::Validate;

use super::shapes::ShortTask;
use super::{Ctx, OpError, Operation};

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    #[validate(length(min = 1, max = 128))]
    pub agent_id: Option<String>,
    #[validate(length(min = 1))]
    pub task_id: String,
    pub fencing_token: u64,
    pub note: String,
    pub to: Option<String>,
    #[validate(range(min = 1))]
    pub delay_seconds: Option<u64>,
}

impl Operation for Handoff {
    const NAME: &'static str = "handoff";
    const HELP: &'static str = "Give your task back with a note for the next agent (to: one agent). delay_seconds: not before then. No attempt spent.";
    type Answer = ShortTask;

    fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }

    async fn apply(self, ctx: &Ctx) -> Result<ShortTask, OpError> {
        let (coord, agent) = (&ctx.coord, ctx.agent.as_str());
        let (id, fence) = (&self.task_id, Some(self.fencing_token));
        let w = match self.delay_seconds {
            Some(delay) => {
                let delay = Duration::from_secs(delay);
                coord
                    .tasks()
                    .snooze(id, agent, delay, Some(self.note), fence)
                    .await?
            }
            None => {
                coord
                    .tasks()
                    .handoff(id, agent, self.note, self.to.as_deref(), fence)
                    .await?
            }
        };
        Ok(ShortTask::from(&w.task))
    }
}
