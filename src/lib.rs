//! hivelog: one binary that gives a team of software agents a task queue,
//! an agent registry, message channels and a live dashboard, on top of an
//! embedded, JetStream-style append-only log stored in sled.
//!
//! The crate is layered; each module depends only on the ones above it in
//! this list:
//!
//! - [`shutdown`]: SIGINT/SIGTERM as a future every loop can wait on.
//! - [`log`]: the storage engine — streams bound to subject patterns,
//!   retention limits, de-duplication, optimistic concurrency, consumers
//!   with acks and redelivery, live fan-out, and group-committed durable
//!   writes. Knows nothing about tasks or HTTP.
//! - [`streams`]: the one face of storage for everything above: the
//!   `LogPort` coordination appends and reads through, and `Streams`, where
//!   every stream, message, consumer and subscription call runs on the
//!   embedded log or a NATS JetStream cluster. Nothing above it branches
//!   on the backend.
//! - [`coord`]: agent coordination — tasks with atomic claims, leases and
//!   dependencies, agents with heartbeats, message channels, reservations,
//!   inboxes, slots, the reaper.
//! - [`ops`]: typed operations (request, answer, `apply`) and the answers
//!   the API and the CLI share.
//! - [`api`]: HTTP (axum), the `/ws` WebSocket protocol, MCP, the embedded
//!   dashboard and `/metrics`. Parses and validates input, calls the layers
//!   below, and maps their errors to status codes in one place.
//! - [`config`]: the server's settings from flags, environment and a file.
//! - [`cli`]: the `hivelog` command line; `serve` starts the server.
//!
//! `tests/layers.rs` holds this order: no file imports from a layer after
//! its own, and no two files import each other, directly or around a
//! circle.

pub mod api;
pub mod cli;
pub mod config;
pub mod coord;
pub mod log;
pub mod ops;
pub mod shutdown;
pub mod streams;
