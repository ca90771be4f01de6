//! hivelog: one binary that gives a team of software agents a task queue,
//! an agent registry, message channels and a live dashboard, on top of an
//! embedded, JetStream-style append-only log stored in sled.
//!
//! The crate is layered; each module depends only on the ones above it in
//! this list:
//!
//! - [`log`]: the storage engine — streams bound to subject patterns,
//!   retention limits, de-duplication, optimistic concurrency, consumers
//!   with acks and redelivery, live fan-out, and group-committed durable
//!   writes. Knows nothing about tasks or HTTP.
//! - [`coord`]: agent coordination — tasks with atomic claims, leases and
//!   dependencies, agents with heartbeats, message channels, the reaper.
//!   Reaches the log only through its own `port::LogPort` trait.
//! - [`api`]: HTTP (axum), the `/ws` WebSocket protocol, the embedded
//!   dashboard and `/metrics`. Parses and validates input, calls the layers
//!   below, and maps their errors to status codes in one place.
//! - [`config`]: the server's settings from flags, environment and a file.
//! - [`shutdown`]: SIGINT/SIGTERM as a future every loop can wait on.
//! - [`cli`]: the `hivelog` command line; `serve` starts the server.

pub mod api;
pub mod cli;
pub mod config;
pub mod coord;
pub mod log;
pub mod ops;
pub mod shutdown;
pub mod streams;
