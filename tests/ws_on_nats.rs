//! `ws.rs` again, each server storing on a nats-server of its own
//! (`--backend nats://…`; see `suite_on_nats` in tests/common): history
//! replays and durable subscriptions read JetStream there.

#[path = "ws.rs"]
mod suite;
