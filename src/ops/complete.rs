//! `complete`: the holder finishes its task; with `error` the attempt
//! fails and the task is retried later (or goes to a human).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use validator::Validate;

use super::shapes::ShortTask;
use super::{Ctx, OpError, Operation};
use crate::coord::Finish;

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Complete {
    #[validate(length(min = 1, max = 128))]
    pub agent_id: Option<String>,
    #[validate(length(min = 1))]
    pub task_id: String,
    pub fencing_token: u64,
    pub result: Option<Map<String, Value>>,
    pub error: Option<String>,
}

impl Operation for Complete {
    const NAME: &'static str = "complete";
    const HELP: &'static str = "Finish your task. With error it fails this attempt and is retried later (or goes to a human).";
    type Answer = ShortTask;

    fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }

    async fn apply(self, ctx: &Ctx) -> Result<ShortTask, OpError> {
        let how = Finish {
            success: self.error.is_none(),
            result: self.result.map(Value::Object),
            error: self.error,
            retry: true,
            fence: Some(self.fencing_token),
        };
        let w = ctx
            .coord
            .tasks()
            .complete(&self.task_id, &ctx.agent, how)
            .await?;
        Ok(ShortTask::from(&w.task))
    }
}
