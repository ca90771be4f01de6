//! What the per-subject index and counts answer without reading
//! messages: the subjects stored with their counts, and a subject's newest
//! sequence.

use super::error::{LogError, Result};
use super::store::keys;

/// Every stored subject with its message count.
pub(super) fn subject_counts(tree: &sled::Tree) -> Result<Vec<(String, u64)>> {
    subject_counts_under(tree, "")
}

/// Message counts of the subjects that start with `prefix`.
pub(super) fn subject_counts_under(tree: &sled::Tree, prefix: &str) -> Result<Vec<(String, u64)>> {
    tree.scan_prefix(keys::count(prefix))
        .map(|item| {
            let (k, v) = item?;
            let subject = String::from_utf8(k[1..].to_vec())
                .map_err(|_| LogError::Corrupt("subject key".into()))?;
            let count = u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| LogError::Corrupt("subject count".into()))?,
            );
            Ok((subject, count))
        })
        .collect()
}

/// The sequence of the newest message on `subject`.
pub(super) fn last_seq_of_subject(tree: &sled::Tree, subject: &str) -> Result<Option<u64>> {
    match tree.scan_prefix(keys::subject_prefix(subject)).next_back() {
        Some(item) => {
            let (k, _) = item?;
            Ok(keys::trailing_seq(&k))
        }
        None => Ok(None),
    }
}
