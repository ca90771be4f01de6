//! What a tool call does: find the operation it names (`crate::ops`),
//! parse its arguments, resolve the calling agent, apply, and answer the
//! operation's answer as compact JSON. A refusal the agent should read and
//! act on (a stale token, a conflict) is a tool result marked as an error;
//! a malformed call is invalid params naming the argument.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock, ErrorData, JsonObject};
use rmcp::service::RequestContext;
use rmcp::RoleServer;

use super::front::Call;
use super::{Hive, AGENT_HEADER};
use crate::coord::{CoordError, Coordinator};
use crate::ops::{self, Ctx, OpError, Operation, Visit};
use crate::streams::Backend;

type Answer = Result<CallToolResponse, ErrorData>;

/// The operation's outcome as a tool answer: a mistake in the call is
/// invalid params; a refusal is a result marked as an error, with the
/// reason as its text.
fn finish<T: serde::Serialize>(outcome: Result<T, OpError>) -> Answer {
    match outcome {
        Ok(answer) => match serde_json::to_string(&answer) {
            Ok(text) => Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into()),
            Err(e) => Err(ErrorData::internal_error(e.to_string(), None)),
        },
        Err(OpError::Invalid(msg) | OpError::Coord(CoordError::Invalid(msg))) => {
            Err(ErrorData::invalid_params(msg, None))
        }
        Err(OpError::Coord(e @ CoordError::MissingAgent)) => {
            Err(ErrorData::invalid_params(e.to_string(), None))
        }
        Err(e) => Ok(CallToolResult::error(vec![ContentBlock::text(e.to_string())]).into()),
    }
}

/// The front door's record of this call, when it came through it.
fn call_of(ctx: &RequestContext<RoleServer>) -> Option<Arc<Call>> {
    ctx.extensions
        .get::<axum::http::request::Parts>()
        .and_then(|p| p.extensions.get::<Arc<Call>>())
        .cloned()
}

impl Hive {
    /// The calling agent: the call's own `agent_id`, else the header.
    fn agent(named: Option<&str>, ctx: &RequestContext<RoleServer>) -> Result<String, ErrorData> {
        if let Some(a) = named {
            return Ok(a.to_string());
        }
        ctx.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.headers.get(AGENT_HEADER))
            .and_then(|v| v.to_str().ok())
            .filter(|a| !a.is_empty())
            .map(String::from)
            .ok_or_else(|| {
                ErrorData::invalid_params(
                    "agent_id is required (or start the client with hivelog mcp --agent NAME)",
                    None,
                )
            })
    }

    /// The project the call names (`X-Hivelog-Project` on the request
    /// that carried it), else the default one.
    async fn project(
        &self,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Arc<Coordinator<Backend>>, ErrorData> {
        match ctx.extensions.get::<axum::http::request::Parts>() {
            Some(parts) => crate::api::project::of_request(parts, &self.state)
                .await
                .map_err(|e| ErrorData::invalid_params(e.detail, None)),
            None => Ok(self.state.projects.default_project().clone()),
        }
    }

    /// The agent, after counting the call as a sign of its life.
    async fn caller(
        &self,
        coord: &Coordinator<Backend>,
        named: Option<&str>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<String, ErrorData> {
        let agent = Self::agent(named, ctx)?;
        match coord.agents().touch(&agent, None).await {
            Ok(()) => Ok(agent),
            Err(CoordError::Invalid(msg)) => Err(ErrorData::invalid_params(msg, None)),
            Err(e) => Err(ErrorData::internal_error(e.to_string(), None)),
        }
    }

    pub(super) async fn call(
        &self,
        name: &str,
        args: JsonObject,
        ctx: &RequestContext<RoleServer>,
    ) -> Answer {
        let run = Run {
            hive: self,
            args,
            ctx,
        };
        match ops::visit(name, run) {
            Some(answer) => answer.await,
            None => Err(ErrorData::invalid_params(
                format!(
                    "unknown tool {name:?}; the tools are {}",
                    ops::NAMES.join(", ")
                ),
                None,
            )),
        }
    }

    async fn run<O: Operation>(
        &self,
        args: JsonObject,
        ctx: &RequestContext<RoleServer>,
    ) -> Answer {
        let request: O = match ops::parse(args) {
            Ok(r) => r,
            Err(e) => return finish::<()>(Err(e)),
        };
        let coord = self.project(ctx).await?;
        let agent = self.caller(&coord, request.agent_id(), ctx).await?;
        let call = call_of(ctx);
        let on_grant = call.clone().map(|call| {
            Box::new(move |undo: ops::Undo| call.undo_unless_delivered(undo))
                as Box<dyn Fn(ops::Undo) + Send + Sync>
        });
        let op_ctx = Ctx {
            coord,
            agent,
            // The front door's token fires when the client hangs up or
            // cancels; without it, the SDK's own.
            gone: match &call {
                Some(c) => c.gone.clone(),
                None => ctx.ct.clone(),
            },
            on_grant,
        };
        finish(request.apply(&op_ctx).await)
    }
}

/// One tool call, run with the operation its name picks.
struct Run<'a> {
    hive: &'a Hive,
    args: JsonObject,
    ctx: &'a RequestContext<RoleServer>,
}

impl<'a> Visit for Run<'a> {
    type Out = Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;

    fn visit<O: Operation>(self) -> Self::Out {
        Box::pin(self.hive.run::<O>(self.args, self.ctx))
    }
}
