//! `inbox`: the caller's unread messages and handoffs, oldest first;
//! `ack` marks what it returned as read.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use validator::Validate;

use super::{Ctx, OpError, Operation};
use crate::coord::inbox::{InboxItem, MAX_PEEK};

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Inbox {
    #[validate(length(min = 1, max = 128))]
    pub agent_id: Option<String>,
    pub ack: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct Unread {
    pub items: Vec<InboxItem>,
    pub acked: bool,
}

impl Operation for Inbox {
    const NAME: &'static str = "inbox";
    // Not read-only: with ack it marks what it returned as read.
    const HELP: &'static str =
        "Your unread messages and handoffs, oldest first. ack: true marks them read.";
    type Answer = Unread;

    fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }

    async fn apply(self, ctx: &Ctx) -> Result<Unread, OpError> {
        let ack = self.ack.unwrap_or(false);
        let items = ctx.coord.inbox().read(&ctx.agent, MAX_PEEK).await?;
        let last = items.last().map(|i| i.seq);
        if let (true, Some(last)) = (ack, last) {
            ctx.coord.inbox().ack(&ctx.agent, Some(last)).await?;
        }
        Ok(Unread {
            items,
            acked: ack && last.is_some(),
        })
    }
}
