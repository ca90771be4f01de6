//! Versioned upgrades of hivelog's on-disk format, applied in order when a
//! data directory is opened. Each step moves the store from `version - 1`
//! to `version`; the store records the version it reached, so each step
//! runs once. A new on-disk change adds a file here and bumps nothing else:
//! the current version is the last step's.

mod v1_initial_layout;
mod v2_pending_chunks;
mod v3_message_blocks;

/// One upgrade step.
pub struct Migration {
    pub version: u32,
    pub description: &'static str,
    pub up: fn(&sled::Db) -> sled::Result<()>,
}

/// Every step, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "initial layout: a meta tree for stream configs, one tree per stream",
        up: v1_initial_layout::up,
    },
    Migration {
        version: 2,
        description: "durable consumers' pending acks in chunks, not a key each",
        up: v2_pending_chunks::up,
    },
    Migration {
        version: 3,
        description: "messages in blocks, one sled value per commit group, not a key each",
        up: v3_message_blocks::up,
    },
];

/// The format this build writes.
pub fn current_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}
