//! The free-space reserve. sled treats a failed write (ENOSPC) as fatal:
//! it stops writing until the process restarts. So the log refuses new
//! messages while the data directory's disk has less free space than a
//! reserve, before sled can run out, and takes them again as soon as space
//! returns. Deletes, purges and acks still go through: they use the
//! reserve, and purging is how space comes back.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::error::LogError;

/// How long a measurement of free space is trusted…
const FRESH_FOR: Duration = Duration::from_millis(200);

pub(crate) struct SpaceGuard {
    dir: PathBuf,
    reserve: u64,
    last: Mutex<Measured>,
}

struct Measured {
    at: Instant,
    free: u64,
    /// …and how many bytes may be accepted on it.
    spent: u64,
}

impl SpaceGuard {
    /// `reserve` 0 turns the guard off.
    pub fn new(dir: &Path, reserve: u64) -> SpaceGuard {
        SpaceGuard {
            dir: dir.to_path_buf(),
            reserve,
            last: Mutex::new(Measured {
                at: Instant::now() - FRESH_FOR * 2,
                free: u64::MAX,
                spent: 0,
            }),
        }
    }

    /// Whether `bytes` more may be written; measures again when the last
    /// measurement is old or a quarter of the reserve was spent since.
    pub fn admit(&self, bytes: u64) -> Result<(), Refused> {
        if self.reserve == 0 {
            return Ok(());
        }
        let mut m = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if m.at.elapsed() >= FRESH_FOR || m.spent >= self.reserve / 4 {
            // A disk that cannot be asked is not called full; the write
            // itself will say what is wrong.
            m.free = free_bytes(&self.dir).unwrap_or(u64::MAX);
            m.at = Instant::now();
            m.spent = 0;
        }
        if m.free.saturating_sub(m.spent) < self.reserve.saturating_add(bytes) {
            return Err(Refused {
                free: m.free,
                reserve: self.reserve,
            });
        }
        m.spent += bytes;
        Ok(())
    }

    /// Free bytes on the disk now (for metrics).
    pub fn free(&self) -> Option<u64> {
        free_bytes(&self.dir).ok()
    }
}

/// A write refused for want of space; one per waiting writer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refused {
    free: u64,
    reserve: u64,
}

impl From<Refused> for LogError {
    fn from(r: Refused) -> LogError {
        LogError::DiskFull {
            free: r.free,
            reserve: r.reserve,
        }
    }
}

fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserve_larger_than_the_disk_refuses_and_zero_admits() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        let guard = SpaceGuard::new(dir.path(), free.saturating_add(1 << 30));
        let err = LogError::from(guard.admit(1).unwrap_err());
        assert!(err.to_string().contains("reserve"), "{err}");
        assert!(matches!(
            err.disk_trouble(),
            Some(super::super::DiskTrouble::Full)
        ));
        assert!(SpaceGuard::new(dir.path(), 0).admit(u64::MAX / 2).is_ok());
        assert!(SpaceGuard::new(dir.path(), 1).admit(1).is_ok());
    }
}
