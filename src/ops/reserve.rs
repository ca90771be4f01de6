//! `reserve`: path globs other agents keep out of (exclusive by default),
//! for `ttl_seconds`; `release` lets go of them (no globs: all).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use validator::Validate;

use super::{Ctx, OpError, Operation};
use crate::coord::reservations::ReserveRequest;
use crate::coord::time::Timestamp;

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Reserve {
    #[validate(length(min = 1, max = 128))]
    pub agent_id: Option<String>,
    pub globs: Option<Vec<String>>,
    pub exclusive: Option<bool>,
    #[validate(range(min = 1))]
    pub ttl_seconds: Option<u64>,
    pub release: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct Held {
    pub glob: String,
    pub exclusive: bool,
    pub expires_at: Timestamp,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Reserved {
    Reserved { reserved: Vec<Held> },
    Released { released: Vec<String> },
}

impl Operation for Reserve {
    const NAME: &'static str = "reserve";
    const HELP: &'static str = "Reserve path globs so other agents keep out (exclusive by default). release: true lets go (no globs: all).";
    type Answer = Reserved;

    fn agent_id(&self) -> Option<&str> {
        self.agent_id.as_deref()
    }

    async fn apply(self, ctx: &Ctx) -> Result<Reserved, OpError> {
        let coord = &ctx.coord;
        let globs = self.globs.unwrap_or_default();
        if self.release.unwrap_or(false) {
            let gone = coord.reservations().release(&ctx.agent, &globs).await?;
            return Ok(Reserved::Released {
                released: gone.into_iter().map(|r| r.glob).collect(),
            });
        }
        let ttl = self
            .ttl_seconds
            .map(Duration::from_secs)
            .unwrap_or(coord.config().reservation_ttl);
        let request = ReserveRequest {
            agent: ctx.agent.clone(),
            globs,
            exclusive: self.exclusive.unwrap_or(true),
            ttl,
            task_id: None,
            reason: None,
        };
        let held = coord.reservations().reserve(request).await?;
        Ok(Reserved::Reserved {
            reserved: held
                .into_iter()
                .map(|r| Held {
                    glob: r.glob,
                    exclusive: r.exclusive,
                    expires_at: r.expires_at,
                })
                .collect(),
        })
    }
}
