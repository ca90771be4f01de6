//! What makes a sled flush survive a power loss. sled 0.34 ends its flush
//! with `sync_file_range`, which writes the pages out but neither flushes
//! the drive's cache nor the file's size and block map, and it writes
//! large values to `blobs/` files it never fsyncs; its real fsync runs
//! only from a background thread every `flush_every_ms`. An answered write
//! could therefore vanish with the power (tests/power_loss.rs showed
//! ~200 ms of them). After every flush the log fsyncs those files itself:
//! new blob files first (a log record must not outlive the blob it points
//! to), then the main file.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub(crate) struct Durable {
    db: File,
    blobs: PathBuf,
    /// Blob files already fsynced (sled never rewrites one).
    synced_blobs: Mutex<HashSet<OsString>>,
}

impl Durable {
    /// `sled_dir` is the directory sled was opened on. Makes what sled
    /// created there (its files and their names) durable once.
    pub fn open(sled_dir: &Path) -> io::Result<Durable> {
        let db = File::open(sled_dir.join("db"))?;
        for name in ["conf", "db"] {
            match File::open(sled_dir.join(name)) {
                Ok(f) => f.sync_all()?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        sync_dir(sled_dir)?;
        if let Some(parent) = sled_dir.parent() {
            sync_dir(parent)?;
        }
        let durable = Durable {
            db,
            blobs: sled_dir.join("blobs"),
            synced_blobs: Mutex::new(HashSet::new()),
        };
        durable.sync_new_blobs()?;
        Ok(durable)
    }

    /// Call after `sled::Db::flush`: everything it wrote is on stable
    /// storage when this returns.
    pub fn sync(&self) -> io::Result<()> {
        self.sync_new_blobs()?;
        self.db.sync_data()
    }

    fn sync_new_blobs(&self) -> io::Result<()> {
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut synced = self.synced_blobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut present = HashSet::new();
        let mut any_new = false;
        for entry in entries {
            let name = entry?.file_name();
            if !synced.contains(&name) {
                match File::open(self.blobs.join(&name)) {
                    Ok(f) => f.sync_all()?,
                    // Collected by sled since it was listed.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                any_new = true;
            }
            present.insert(name);
        }
        if any_new {
            sync_dir(&self.blobs)?;
        }
        // Forget the ones sled collected, so the set stays small.
        *synced = present;
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_blobs_are_synced_once_and_collected_ones_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db"), b"log").unwrap();
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        std::fs::write(dir.path().join("blobs/7"), b"blob").unwrap();
        let d = Durable::open(dir.path()).unwrap();
        assert_eq!(d.synced_blobs.lock().unwrap().len(), 1);
        std::fs::write(dir.path().join("blobs/9"), b"blob").unwrap();
        std::fs::remove_file(dir.path().join("blobs/7")).unwrap();
        d.sync().unwrap();
        let seen: Vec<_> = d.synced_blobs.lock().unwrap().iter().cloned().collect();
        assert_eq!(seen, vec![OsString::from("9")]);
    }
}
