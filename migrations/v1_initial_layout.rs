//! Version 1: the initial layout.
//!
//! - tree `meta`: `format_version` → u32 (big endian); `stream/<name>` →
//!   the stream's JSON record (config and creation time).
//! - tree `stream/<name>`, one per stream, keys by first byte:
//!   `m` seq → message; `s` subject 0x00 seq → (); `c` subject → count;
//!   `d` msg-id → seq, time; `t` time msg-id → () (dedup expiry order);
//!   `S` → stream state; `C` name → consumer; `P` name 0x00 seq → pending ack.
//!
//! A fresh store needs nothing beyond the meta tree, which opening creates.

pub fn up(db: &sled::Db) -> sled::Result<()> {
    db.open_tree("meta").map(|_| ())
}
