//! `send_message`: a message on a channel (default `coordination`);
//! `@name` or `to` lands it in that agent's inbox too.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use validator::Validate;

use super::{Ctx, OpError, Operation};
use crate::coord::channels::MessageInput;

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    #[validate(length(min = 1, max = 128))]
    pub agent_id: Option<String>,
    #[validate(length(min = 1))]
    pub content: String,
    pub to: Option<String>,
    pub channel: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Sent {
    pub sequence: Option<u64>,
    pub mentions: Vec<String>,
}

impl Operation for SendMessage {
    const NAME: &'static str = "send_message";
    const HELP: &'static str =
        "Post a message (channel default coordination). @name or to: lands in that agent's inbox.";
    type Answer = Sent;

    fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }

    async fn apply(self, ctx: &Ctx) -> Result<Sent, OpError> {
        let mut extra = serde_json::Map::new();
        if let Some(to) = self.to {
            extra.insert("to".into(), Value::String(to));
        }
        let input = MessageInput {
            agent_id: Some(ctx.agent.clone()),
            channel: Some(self.channel.unwrap_or_else(|| "coordination".into())),
            content: Some(Value::String(self.content)),
            message_id: None,
            timestamp: None,
            extra,
        };
        let m = ctx.coord.channels().post(input).await?;
        Ok(Sent {
            sequence: m.sequence,
            mentions: m.mentions,
        })
    }
}
