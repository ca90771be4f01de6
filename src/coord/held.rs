//! The active file reservations in memory, indexed by each glob's literal
//! prefix (the part before its first wildcard). A glob can only match a
//! path that starts with its prefix, and two globs can only overlap when
//! one prefix starts the other, so a check looks at a handful of
//! candidates instead of every reservation: with 10,000 held, a path is
//! compared against the globs filed under its own prefixes (one map
//! lookup per character) plus those with no prefix at all.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::glob::Glob;
use super::reservation::Reservation;

/// A reservation with its glob compiled once.
#[derive(Debug)]
pub struct Held {
    pub r: Reservation,
    pub glob: Glob,
}

#[derive(Debug, Default)]
pub struct HeldSet {
    by_id: HashMap<String, Arc<Held>>,
    by_prefix: BTreeMap<String, Vec<String>>,
}

impl HeldSet {
    /// Files `r` (replacing what had its id); a glob that no longer parses
    /// is dropped.
    pub fn insert(&mut self, r: Reservation) {
        let Ok(glob) = Glob::parse(&r.glob) else {
            return;
        };
        self.remove(&r.id);
        let held = Arc::new(Held { r, glob });
        self.by_prefix
            .entry(held.glob.prefix().to_string())
            .or_default()
            .push(held.r.id.clone());
        self.by_id.insert(held.r.id.clone(), held);
    }

    pub fn remove(&mut self, id: &str) -> Option<Arc<Held>> {
        let held = self.by_id.remove(id)?;
        let prefix = held.glob.prefix();
        if let Some(ids) = self.by_prefix.get_mut(prefix) {
            ids.retain(|i| i != id);
            if ids.is_empty() {
                self.by_prefix.remove(prefix);
            }
        }
        Some(held)
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Held>> {
        self.by_id.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Held>> {
        self.by_id.values()
    }

    fn ids_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Arc<Held>> + 'a {
        self.by_prefix
            .get(prefix)
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id))
    }

    /// Every prefix of `text` at a character boundary, the empty one first.
    fn prefixes(text: &str) -> impl Iterator<Item = &str> {
        text.char_indices()
            .map(|(i, _)| &text[..i])
            .chain(std::iter::once(text))
    }

    /// The reservations whose glob could match `path`.
    pub fn candidates_for_path<'a>(&'a self, path: &'a str) -> Vec<Arc<Held>> {
        Self::prefixes(path)
            .flat_map(|p| self.ids_under(p))
            .cloned()
            .collect()
    }

    /// The reservations whose glob could overlap `glob`: those whose
    /// prefix starts `glob`'s prefix, and those whose prefix `glob`'s
    /// prefix starts.
    pub fn candidates_for_glob(&self, glob: &Glob) -> Vec<Arc<Held>> {
        let mine = glob.prefix();
        let mut out: Vec<Arc<Held>> = Self::prefixes(mine)
            .filter(|p| p.len() < mine.len())
            .flat_map(|p| self.ids_under(p))
            .cloned()
            .collect();
        // Prefixes that start with ours (ours included), by range.
        for (prefix, ids) in self.by_prefix.range(mine.to_string()..) {
            if !prefix.starts_with(mine) {
                break;
            }
            out.extend(ids.iter().filter_map(|id| self.by_id.get(id)).cloned());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coord::glob::tests::glob_text;
    use crate::coord::time::Timestamp;
    use proptest::prelude::*;

    fn res(i: usize, glob: &str) -> Reservation {
        let now = Timestamp::now();
        Reservation {
            id: format!("r{i}"),
            agent_id: format!("a{i}"),
            glob: glob.into(),
            exclusive: true,
            task_id: None,
            reason: None,
            created_at: now,
            expires_at: now,
        }
    }

    proptest! {
        /// The index never hides a match or an overlap that a scan of
        /// every reservation finds.
        #[test]
        fn candidates_include_every_match(
            globs in prop::collection::vec(glob_text(), 1..20),
            probe in glob_text(),
            path in prop::collection::vec(prop_oneof![Just("a"), Just("b"), Just("ab")], 1..5),
        ) {
            let mut set = HeldSet::default();
            for (i, g) in globs.iter().enumerate() {
                set.insert(res(i, g));
            }
            let path = path.join("/");
            let by_path: Vec<String> = set.candidates_for_path(&path).iter().map(|h| h.r.id.clone()).collect();
            let probe = Glob::parse(&probe).unwrap();
            let by_glob: Vec<String> = set.candidates_for_glob(&probe).iter().map(|h| h.r.id.clone()).collect();
            for h in set.all() {
                if h.glob.matches(&path) {
                    prop_assert!(by_path.contains(&h.r.id), "{} matches {} but was not a candidate", h.r.glob, path);
                }
                if h.glob.overlap(&probe).is_some() {
                    prop_assert!(by_glob.contains(&h.r.id), "{} overlaps {} but was not a candidate", h.r.glob, probe.as_str());
                }
            }
            // Removing takes it out of the index too.
            set.remove("r0");
            prop_assert!(set.candidates_for_path(&path).iter().all(|h| h.r.id != "r0"));
        }
    }
}
