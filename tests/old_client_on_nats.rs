//! `old_client.rs` again, the server storing on a nats-server of its own
//! (`--backend nats://…`; see `suite_on_nats` in tests/common): the
//! replaced service's own client reads the same answers from either backend.

#[path = "old_client.rs"]
mod suite;
