//! Typed operations, one per file: a request type, an answer type and
//! `apply`. The request type is the one source of the operation's schema
//! (schemars), of how a call is parsed (serde: unknown arguments refused,
//! each with its type) and of its bounds (validator's attributes, which
//! schemars writes into the schema): what a surface promises is exactly
//! what a call is held to. Surfaces (the MCP tools today) parse, resolve
//! the caller, call `apply` and render the answer; the list below is the
//! one place an operation is registered.
//!
//! A new operation: a file here, a line in `operations!` below, and its
//! documentation.
//!
//! The requests and answers of the other routes live here too, one type
//! each, by concept (`tasks`, `agents`, `messages`, `consumers`,
//! `streams`, `reservations`, `slots`, `work`, `health`): the API takes
//! and renders them, and the CLI sends and reads back the same types, so
//! a field renamed on one side breaks the other at compile time.
//! `tests/answers.rs` holds each answer equal to the server's JSON.

use std::future::Future;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use validator::Validate;

use crate::coord::{CoordError, Coordinator};
use crate::streams::Backend;

mod add_task;
pub mod agents;
mod claim_next;
mod complete;
pub mod consumers;
mod handoff;
pub mod health;
mod inbox;
pub mod messages;
mod parse;
mod progress;
pub mod projects;
pub mod reservations;
mod reserve;
mod send_message;
mod shapes;
pub mod slots;
pub mod streams;
pub mod tasks;
pub mod work;

pub use parse::parse;

/// The longest an operation may wait (a claim's long poll), as every
/// route's wait: `validator`'s attributes need the literal, and a test
/// holds the two equal.
pub const MAX_WAIT_SECS: u64 = 300;

/// What an operation runs with: the coordinator, the caller (resolved by
/// the surface: an argument, a header, a flag) and whether the caller is
/// still there.
pub struct Ctx {
    pub coord: Arc<Coordinator<Backend>>,
    pub agent: String,
    /// Fires when the caller hangs up or cancels: an operation that waits
    /// stops, and grants nothing to a caller that is gone.
    pub gone: CancellationToken,
    /// Told how to undo each grant the moment it is made, by a surface
    /// that can tell whether its answer reached the caller.
    pub on_grant: Option<Box<dyn Fn(Undo) + Send + Sync>>,
}

impl Ctx {
    /// Called right after a grant, with no await in between: a caller
    /// dropped at any later point still has the grant undone.
    pub fn granted(&self, undo: Undo) {
        if let Some(hook) = &self.on_grant {
            hook(undo);
        }
    }
}

/// Undoes what an answer granted, when the answer never reached its caller.
pub type Undo = Box<dyn FnOnce() + Send>;

/// Why an operation did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The request itself is wrong (an argument, a bound): the caller's
    /// mistake, named.
    #[error("{0}")]
    Invalid(String),
    /// The coordinator refused or failed.
    #[error(transparent)]
    Coord(#[from] CoordError),
}

pub trait Operation: DeserializeOwned + JsonSchema + Validate + Send + 'static {
    /// The name surfaces list it under (the MCP tool's name).
    const NAME: &'static str;
    /// One line for the caller; every listed byte costs an agent context.
    const HELP: &'static str;
    type Answer: Serialize + Send;

    /// The agent the request names, if it names one.
    fn agent_id(&self) -> Option<&str>;

    fn apply(self, ctx: &Ctx) -> impl Future<Output = Result<Self::Answer, OpError>> + Send;
}

/// Something done with one operation type, chosen by name at run time.
pub trait Visit {
    type Out;
    fn visit<O: Operation>(self) -> Self::Out;
}

macro_rules! operations {
    ($($op:ty),* $(,)?) => {
        /// The operations' names, in the order they are listed.
        pub const NAMES: &[&str] = &[$(<$op as Operation>::NAME),*];

        /// Runs `v` with the operation called `name`, if there is one.
        pub fn visit<V: Visit>(name: &str, v: V) -> Option<V::Out> {
            $(if name == <$op as Operation>::NAME {
                return Some(v.visit::<$op>());
            })*
            None
        }

        /// Runs `v` with every operation, in order.
        pub fn each<V: Visit + Clone>(v: V) -> Vec<V::Out> {
            vec![$(v.clone().visit::<$op>()),*]
        }
    };
}

operations!(
    claim_next::ClaimNext,
    complete::Complete,
    progress::Progress,
    handoff::Handoff,
    add_task::AddTask,
    send_message::SendMessage,
    inbox::Inbox,
    reserve::Reserve,
);
