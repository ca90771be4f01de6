//! What the store must still hold, written beside it as
//! `hivelog.manifest`. sled opens a damaged or missing log file as an
//! empty or shorter store without a word — measured: a `db` file
//! overwritten, truncated or removed opened empty; one with a damaged
//! block opened with half its messages — and hivelog would then have
//! written over what was left. The manifest names the store (an id also
//! kept inside it) and, per stream, the last sequence known to be on disk;
//! it is rewritten at open, every few seconds, at each stream deletion and
//! at a clean shutdown. A store that holds less than its manifest says is
//! refused before hivelog writes anything to it, with what to do. (sled's
//! own recovery, which runs when the file is opened, may already have
//! trimmed what it could not read; keeping backups is still the cure.)

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{LogError, Result};

pub const FILE: &str = "hivelog.manifest";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub store_id: String,
    /// Stream → the last sequence known to be on disk.
    pub streams: BTreeMap<String, u64>,
}

/// The manifest in `dir`, if there is one.
pub(crate) fn read(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::Storage(sled::Error::Io(e))),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        LogError::DamagedStore(format!(
            "{} is damaged ({e}); hivelog wrote nothing and will not start on it. If the store itself is intact, remove that file and start again (the check is rebuilt)",
            path.display()
        ))
    })
}

/// Replaces the manifest in `dir` atomically and durably.
pub(crate) fn write(dir: &Path, manifest: &Manifest) -> Result<()> {
    let io = |e| LogError::Storage(sled::Error::Io(e));
    let tmp = dir.join(format!("{FILE}.tmp"));
    let mut f = File::create(&tmp).map_err(io)?;
    f.write_all(&serde_json::to_vec_pretty(manifest)?)
        .map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, dir.join(FILE)).map_err(io)?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

/// A store opened in `dir`, with `store_id` (if it has one) and the last
/// sequence of each stream, against its manifest. Returns the manifest to
/// keep (with the id to give the store, if it had none).
pub(crate) fn check(
    dir: &Path,
    store_id: Option<String>,
    streams: &BTreeMap<String, u64>,
) -> Result<Manifest> {
    let damaged = |what: String| {
        LogError::DamagedStore(format!(
            "the store in {dir} {what}: its files were damaged or replaced. hivelog wrote nothing to it and will not start on it. Restore {dir} from a backup, or, to keep what is left, remove {dir}/{FILE} and start again (what is missing stays lost)",
            dir = dir.display()
        ))
    };
    let Some(manifest) = read(dir)? else {
        // A new store, one from before manifests, or a lost manifest: what
        // the store holds now is the baseline.
        return Ok(Manifest {
            store_id: store_id.unwrap_or_else(new_id),
            streams: streams.clone(),
        });
    };
    match store_id {
        None => {
            return Err(damaged(format!(
                "is empty or unreadable, but {FILE} describes store {}",
                manifest.store_id
            )))
        }
        Some(id) if id != manifest.store_id => {
            return Err(damaged(format!(
                "is store {id}, but {FILE} describes store {}",
                manifest.store_id
            )))
        }
        Some(_) => {}
    }
    for (name, want) in &manifest.streams {
        match streams.get(name) {
            None => return Err(damaged(format!("has no stream {name}, which held #{want}"))),
            Some(have) if have < want => {
                return Err(damaged(format!(
                    "ends stream {name} at #{have}, but #{want} had been stored"
                )))
            }
            Some(_) => {}
        }
    }
    Ok(Manifest {
        store_id: manifest.store_id,
        streams: streams.clone(),
    })
}

fn new_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(n, s)| (n.to_string(), *s)).collect()
    }

    #[test]
    fn a_store_holding_less_than_its_manifest_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = check(dir.path(), None, &seqs(&[("A", 5)])).unwrap();
        write(dir.path(), &first).unwrap();
        let id = Some(first.store_id.clone());
        // Grown: fine, and the manifest follows.
        let grown = check(dir.path(), id.clone(), &seqs(&[("A", 9), ("B", 1)])).unwrap();
        assert_eq!(grown.streams, seqs(&[("A", 9), ("B", 1)]));
        for (store_id, streams, needle) in [
            (None, seqs(&[]), "empty or unreadable"),
            (
                Some("other".to_string()),
                seqs(&[("A", 5)]),
                "is store other",
            ),
            (id.clone(), seqs(&[("A", 4)]), "ends stream A at #4, but #5"),
            (id.clone(), seqs(&[]), "has no stream A"),
        ] {
            let err = check(dir.path(), store_id, &streams)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(needle) && err.contains("wrote nothing"),
                "{err}"
            );
        }
        std::fs::write(dir.path().join(FILE), "{").unwrap();
        let err = check(dir.path(), id, &seqs(&[("A", 5)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is damaged"), "{err}");
    }
}
