//! The sled side of the log: where each record lives, how it is encoded,
//! and the on-disk format version with its migrations.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::durable::Durable;
use super::error::{LogError, Result};
use super::manifest::{self, Manifest};
use super::stream::StreamConfig;

#[path = "../../migrations/mod.rs"]
mod migrations;

pub use migrations::current_version;

const META_TREE: &str = "meta";
const FORMAT_KEY: &[u8] = b"format_version";
/// The store's id, also in `hivelog.manifest` (manifest.rs).
const STORE_ID_KEY: &[u8] = b"store_id";
const STREAM_RECORD_PREFIX: &str = "stream/";

/// Key layout inside a stream's tree (see migrations/v1_initial_layout.rs,
/// v2_pending_chunks.rs and v3_message_blocks.rs).
pub(crate) mod keys {
    /// Format 2's messages, one per key (migrations/v3).
    pub const MSG: u8 = b'm';
    /// Blocks of messages (blocks.rs).
    pub const BLOCK: u8 = b'b';
    pub const SUBJECT: u8 = b's';
    pub const COUNT: u8 = b'c';
    pub const DEDUP: u8 = b'd';
    pub const DEDUP_TIME: u8 = b't';
    pub const STATE: &[u8] = b"S";
    pub const CONSUMER: u8 = b'C';
    /// Format 1's pending entries, one per key (migrations/v2).
    pub const PENDING: u8 = b'P';
    pub const PENDING_CHUNK: u8 = b'B';

    /// The block whose first message is `seq`.
    pub fn block(seq: u64) -> [u8; 9] {
        let mut k = [BLOCK; 9];
        k[1..].copy_from_slice(&seq.to_be_bytes());
        k
    }

    /// Reads the sequence back from a `msg` or any key ending in one.
    pub fn trailing_seq(key: &[u8]) -> Option<u64> {
        let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
        Some(u64::from_be_bytes(tail))
    }

    /// `s` subject 0x00: the prefix of all index entries of one subject.
    pub fn subject_prefix(subject: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(subject.len() + 10);
        k.push(SUBJECT);
        k.extend_from_slice(subject.as_bytes());
        k.push(0);
        k
    }

    pub fn subject(subject: &str, seq: u64) -> Vec<u8> {
        let mut k = subject_prefix(subject);
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }

    pub fn count(subject: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(subject.len() + 1);
        k.push(COUNT);
        k.extend_from_slice(subject.as_bytes());
        k
    }

    pub fn dedup(msg_id: &str) -> Vec<u8> {
        let mut k = vec![DEDUP];
        k.extend_from_slice(msg_id.as_bytes());
        k
    }

    pub fn dedup_time(time_ns: i64, msg_id: &str) -> Vec<u8> {
        let mut k = vec![DEDUP_TIME];
        k.extend_from_slice(&(time_ns as u64).to_be_bytes());
        k.extend_from_slice(msg_id.as_bytes());
        k
    }

    pub fn consumer(name: &str) -> Vec<u8> {
        let mut k = vec![CONSUMER];
        k.extend_from_slice(name.as_bytes());
        k
    }

    pub fn pending_chunk_prefix(consumer: &str) -> Vec<u8> {
        let mut k = vec![PENDING_CHUNK];
        k.extend_from_slice(consumer.as_bytes());
        k.push(0);
        k
    }

    pub fn pending_chunk(consumer: &str, id: u64) -> Vec<u8> {
        let mut k = pending_chunk_prefix(consumer);
        k.extend_from_slice(&id.to_be_bytes());
        k
    }
}

/// Binary records (messages, state, consumers) use bincode: compact and fast
/// on the hot path.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    Ok(bincode::serde::encode_to_vec(
        value,
        bincode::config::standard(),
    )?)
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let (value, _) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())?;
    Ok(value)
}

/// A stream's definition as kept in the meta tree. JSON, because it is
/// small, rarely written, and must stay readable across format versions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StreamRecord {
    pub config: StreamConfig,
    pub created_ns: i64,
}

#[derive(Clone)]
pub(crate) struct Store {
    db: sled::Db,
    meta: sled::Tree,
    durable: std::sync::Arc<Durable>,
    dir: std::path::PathBuf,
    /// Held while the manifest is rewritten, so a stream deleted meanwhile
    /// cannot come back in it.
    manifest: std::sync::Arc<std::sync::Mutex<Manifest>>,
}

/// The store's id and each stream's last sequence, read without creating
/// anything: a tree that is not there is not opened.
fn stored_facts(db: &sled::Db) -> Result<(Option<String>, BTreeMap<String, u64>)> {
    let trees: std::collections::HashSet<Vec<u8>> =
        db.tree_names().into_iter().map(|n| n.to_vec()).collect();
    if !trees.contains(META_TREE.as_bytes()) {
        return Ok((None, BTreeMap::new()));
    }
    let meta = db.open_tree(META_TREE)?;
    let id = meta
        .get(STORE_ID_KEY)?
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    let mut seqs = BTreeMap::new();
    for item in meta.scan_prefix(STREAM_RECORD_PREFIX) {
        let (key, _) = item?;
        let tree_name = key.to_vec();
        let Some(name) = tree_name.strip_prefix(STREAM_RECORD_PREFIX.as_bytes()) else {
            continue;
        };
        if !trees.contains(&tree_name) {
            continue;
        }
        let tree = db.open_tree(&tree_name)?;
        let last = match tree.get(keys::STATE)? {
            Some(raw) => decode::<super::stream::StreamState>(&raw)?.last_seq,
            None => 0,
        };
        seqs.insert(String::from_utf8_lossy(name).into_owned(), last);
    }
    Ok((id, seqs))
}

/// A directory that holds files but no hivelog store is someone else's:
/// refuse it rather than add ours next to theirs.
fn refuse_foreign(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(()); // missing: created fresh
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names.is_empty() || names.iter().any(|n| n == "sled") {
        return Ok(());
    }
    if names.iter().any(|n| n == manifest::FILE) {
        return Err(LogError::DamagedStore(format!(
            "{dir} has a {file} but its store (sled/) is gone; hivelog wrote nothing and will not start on it. Restore {dir} from a backup, or remove {dir}/{file} to start an empty store there",
            dir = dir.display(),
            file = manifest::FILE
        )));
    }
    let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
    Err(LogError::ForeignDataDir(format!(
        "{} is not empty ({}{}) and holds no hivelog data; point --data-dir at an empty or new directory, or at one hivelog created (hivelog never writes into a directory it did not create)",
        dir.display(),
        shown.join(", "),
        if names.len() > 3 { ", …" } else { "" }
    )))
}

impl Store {
    /// Opens (or creates) the store in `dir`, upgrading an older format and
    /// refusing a newer one.
    pub fn open(dir: &Path, cache_bytes: u64, flush_every: std::time::Duration) -> Result<Store> {
        refuse_foreign(dir)?;
        let config = sled::Config::new()
            .path(dir.join("sled"))
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(Some(
                flush_every.as_millis().clamp(1, u64::MAX as u128) as u64
            ));
        // Dropping a sled::Db does not release its file lock at once: its
        // background flusher holds it a little longer (sled #1234, #1289).
        // So a store closed a moment ago in this process (a restart, a
        // test) may still look in use; give it up to a second before
        // calling the directory someone else's.
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(1);
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                    if std::time::Instant::now() >= give_up {
                        return Err(LogError::DataDirInUse(dir.display().to_string()));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(other) => return Err(LogError::Storage(other)),
            }
        };
        let durable = Durable::open(&dir.join("sled")).map_err(sled::Error::Io)?;
        // Checked against the manifest before anything is written (not
        // even an empty tree): a damaged store is left as it was found.
        let (store_id, last_seqs) = stored_facts(&db)?;
        let manifest = manifest::check(dir, store_id.clone(), &last_seqs)?;
        let meta = db.open_tree(META_TREE)?;
        if store_id.is_none() {
            meta.insert(STORE_ID_KEY, manifest.store_id.as_bytes())?;
        }
        let found = match meta.get(FORMAT_KEY)? {
            Some(v) => u32::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| LogError::Corrupt("format version record".into()))?,
            ),
            None => 0,
        };
        let supported = migrations::current_version();
        if found > supported {
            return Err(LogError::FormatTooNew { found, supported });
        }
        for step in migrations::MIGRATIONS.iter().filter(|m| m.version > found) {
            tracing::info!(
                version = step.version,
                description = step.description,
                "applying on-disk migration"
            );
            (step.up)(&db)?;
            meta.insert(FORMAT_KEY, &step.version.to_be_bytes())?;
        }
        let store = Store {
            db,
            meta,
            durable: std::sync::Arc::new(durable),
            dir: dir.to_path_buf(),
            manifest: std::sync::Arc::new(std::sync::Mutex::new(manifest.clone())),
        };
        // The id must be on disk before a manifest names it.
        store.flush()?;
        manifest::write(dir, &manifest)?;
        Ok(store)
    }

    #[cfg(test)]
    pub fn format_version(&self) -> Result<u32> {
        Ok(match self.meta.get(FORMAT_KEY)? {
            Some(v) => u32::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| LogError::Corrupt("format version".into()))?,
            ),
            None => 0,
        })
    }

    pub fn stream_tree(&self, name: &str) -> Result<sled::Tree> {
        Ok(self.db.open_tree(format!("{STREAM_RECORD_PREFIX}{name}"))?)
    }

    pub fn stream_records(&self) -> Result<Vec<StreamRecord>> {
        self.meta
            .scan_prefix(STREAM_RECORD_PREFIX)
            .map(|item| {
                let (_, v) = item?;
                Ok(serde_json::from_slice(&v)?)
            })
            .collect()
    }

    pub fn save_stream_record(&self, record: &StreamRecord) -> Result<()> {
        let key = format!("{STREAM_RECORD_PREFIX}{}", record.config.name);
        self.meta.insert(key, serde_json::to_vec(record)?)?;
        Ok(())
    }

    pub fn remove_stream(&self, name: &str) -> Result<()> {
        self.meta.remove(format!("{STREAM_RECORD_PREFIX}{name}"))?;
        self.db.drop_tree(format!("{STREAM_RECORD_PREFIX}{name}"))?;
        Ok(())
    }

    /// Writes every dirty buffer and fsyncs. All writes made before the
    /// call are durable when it returns (sled's flush alone does not make
    /// them so; see durable.rs).
    pub fn flush(&self) -> Result<usize> {
        let bytes = self.db.flush()?;
        self.durable.sync().map_err(sled::Error::Io)?;
        Ok(bytes)
    }

    /// Records what is on disk now in the manifest: `seqs` is read under
    /// the manifest's lock, then everything is flushed, then written.
    pub fn checkpoint(&self, seqs: impl FnOnce() -> BTreeMap<String, u64>) -> Result<()> {
        let mut m = self.manifest.lock().unwrap_or_else(|p| p.into_inner());
        let seqs = seqs();
        self.flush()?;
        m.streams = seqs;
        manifest::write(&self.dir, &m)
    }

    /// A deleted stream leaves the manifest (a new one by its name starts
    /// again at #1).
    pub fn forget_stream(&self, name: &str) -> Result<()> {
        let mut m = self.manifest.lock().unwrap_or_else(|p| p.into_inner());
        if m.streams.remove(name).is_some() {
            manifest::write(&self.dir, &m)?;
        }
        Ok(())
    }

    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// For tests that simulate an older binary's data.
    #[cfg(test)]
    pub fn set_format_version(&self, v: u32) -> Result<()> {
        self.meta.insert(FORMAT_KEY, &v.to_be_bytes())?;
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_store_gets_current_version_and_newer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store =
                Store::open(dir.path(), 1 << 20, std::time::Duration::from_millis(500)).unwrap();
            assert_eq!(store.format_version().unwrap(), current_version());
            store.set_format_version(current_version() + 1).unwrap();
        }
        let err = Store::open(dir.path(), 1 << 20, std::time::Duration::from_millis(500))
            .err()
            .expect("newer format must be refused");
        let text = err.to_string();
        assert!(
            text.contains("format version") && text.contains("Upgrade hivelog"),
            "{text}"
        );
    }

    #[test]
    fn keys_sort_by_sequence_and_read_back() {
        assert!(keys::block(2) < keys::block(10));
        assert!(keys::subject("a", 255) < keys::subject("a", 256));
        // A subject that is a prefix of another must not interleave with it.
        assert!(keys::subject("a", u64::MAX) < keys::subject("a.b", 0));
        assert_eq!(keys::trailing_seq(&keys::block(42)), Some(42));
        assert_eq!(keys::trailing_seq(&keys::pending_chunk("c", 7)), Some(7));
        assert_eq!(keys::trailing_seq(b"x"), None);
    }
}
