//! `mcp_gone.rs` again, each server storing on a nats-server of its own
//! (`--backend nats://…`; see `suite_on_nats` in tests/common): nothing is
//! granted to a caller that left, on either backend.

#[path = "mcp_gone.rs"]
mod suite;
