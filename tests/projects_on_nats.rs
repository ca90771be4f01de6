//! `projects.rs` again, each server storing on a nats-server of its own
//! (`--backend nats://…`; see `suite_on_nats` in tests/common), so both
//! backends are held to the same behaviour.

#[path = "projects.rs"]
mod suite;
