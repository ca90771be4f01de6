//! `claim_next`: the next task the caller can do, granted atomically, with
//! its files reserved; waits up to `wait_seconds` for one. Nothing is
//! granted to a caller that left, and a grant whose answer never reaches
//! the caller is given back (`Ctx::granted`).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use validator::Validate;

use super::shapes::BriefTask;
use super::{Ctx, OpError, Operation, Undo};
use crate::coord::inbox::InboxItem;
use crate::coord::task::{Handoff, Task};
use crate::coord::{CoordError, GONE_BEFORE_ANSWER};

/// Inbox items the answer carries.
const BRIEF_INBOX: usize = 20;

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ClaimNext {
    #[validate(length(min = 1, max = 128))]
    pub agent_id: Option<String>,
    pub capabilities: Option<Vec<String>>,
    // The longest wait is `MAX_WAIT_SECS`, as on every other route (a test
    // holds the two equal). Doc comments here would become schema
    // descriptions, which every agent pays for in its context.
    #[validate(range(max = 300))]
    pub wait_seconds: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Claimed {
    pub task: Option<BriefTask>,
    /// The note of whoever handed the task on: present (maybe null) with a
    /// task, absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff: Option<Option<Box<Handoff>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<&'static str>,
    pub inbox: Vec<InboxItem>,
}

impl Operation for ClaimNext {
    const NAME: &'static str = "claim_next";
    const HELP: &'static str = "Claim the next task you can do. Returns {task, handoff, inbox}: task has fencing_token and its files (reserved for you); null task when none (paused: true when paused).";
    type Answer = Claimed;

    fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }

    async fn apply(self, ctx: &Ctx) -> Result<Claimed, OpError> {
        let (coord, agent) = (&ctx.coord, &ctx.agent);
        let wait = Duration::from_secs(self.wait_seconds.unwrap_or(0));
        let claimed = coord
            .tasks()
            .claim_next(agent, self.capabilities, wait, &ctx.gone)
            .await;
        let (granted, paused) = match claimed {
            Ok(Some(w)) => {
                ctx.granted(give_back(ctx, &w.task));
                (Some(w.task), false)
            }
            Ok(None) => (None, false),
            Err(CoordError::Paused) => (None, true),
            Err(e) => return Err(e.into()),
        };
        if let Some(t) = &granted {
            let _ = coord.agents().touch(agent, Some(&t.task_id)).await;
        }
        let inbox = coord
            .inbox()
            .read(agent, BRIEF_INBOX)
            .await
            .unwrap_or_default();
        Ok(Claimed {
            task: granted.as_ref().map(BriefTask::from),
            handoff: granted.as_ref().map(|t| t.handoff.clone()),
            paused: paused.then_some(true),
            hint: paused.then_some("hivelog is paused; try again later"),
            inbox,
        })
    }
}

/// Gives `task`'s grant back, with no attempt spent.
fn give_back(ctx: &Ctx, task: &Task) -> Undo {
    let (coord, task) = (ctx.coord.clone(), task.clone());
    // The undo may run where the answer is dropped, outside any task of
    // this runtime.
    let runtime = tokio::runtime::Handle::current();
    Box::new(move || {
        runtime.spawn(async move { coord.tasks().give_back(&task, GONE_BEFORE_ANSWER).await });
    })
}
