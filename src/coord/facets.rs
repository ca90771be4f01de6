//! The coordinator's facets: one handle per concept over the one shared
//! state (`Coordinator`), so each concept's operations read and test on
//! their own. `coord.tasks()` is the board, claims and the task lifecycle;
//! `agents()` the registry and heartbeats; `reservations()` file
//! reservations; `inbox()` each agent's inbox; `slots()` counted slots;
//! `channels()` message channels. Board-wide switches (pause) and the
//! background jobs stay on `Coordinator`.
//!
//! A facet is a borrowed, copyable handle: its methods take it by value,
//! so a future they return borrows the coordinator, not the handle.

use super::Coordinator;
use crate::streams::LogPort;

macro_rules! facets {
    ($($(#[$doc:meta])* $name:ident => $accessor:ident;)*) => {$(
        $(#[$doc])*
        pub struct $name<'a, P: LogPort> {
            pub(super) c: &'a Coordinator<P>,
        }

        impl<P: LogPort> Clone for $name<'_, P> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<P: LogPort> Copy for $name<'_, P> {}

        impl<P: LogPort> Coordinator<P> {
            $(#[$doc])*
            pub fn $accessor(&self) -> $name<'_, P> {
                $name { c: self }
            }
        }
    )*};
}

facets! {
    /// Tasks: reading the board, creating and updating tasks, claims,
    /// completion and the rest of a task's life (`tasks.rs`, `claims.rs`,
    /// `retries.rs`, `import.rs`).
    Tasks => tasks;
    /// Agents: registration, heartbeats, liveness, approvals (`agents.rs`).
    Agents => agents;
    /// File reservations: reserve, release, check (`reservations.rs`).
    Reservations => reservations;
    /// Each agent's inbox: deliver, read, acknowledge, wait (`inbox.rs`).
    Inbox => inbox;
    /// Counted slots: set, acquire, release (`slots.rs`).
    Slots => slots;
    /// Message channels: post and read (`channels.rs`).
    Channels => channels;
}
