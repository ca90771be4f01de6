//! Path globs as file reservations use them, and the question reservations
//! ask: can one path match both of two globs?
//!
//! Syntax (git's, without character classes): `/` separates segments, `*`
//! matches any run of characters within a segment, `?` one character
//! within a segment, and a whole `**` segment any number of segments
//! (`src/**/mod.rs` matches `src/mod.rs` too). A glob also covers
//! everything below what it matches, so reserving `src/api` reserves
//! `src/api/mod.rs`. A leading `./` and a trailing `/` are dropped.
//!
//! Each glob is compiled to a small NFA; two globs overlap when the product
//! automaton reaches a pair of accepting states, and the path spelled on
//! the way there is the witness shown to the user.

use std::collections::{HashMap, VecDeque};

/// Longest glob accepted: keeps the product automaton small.
pub const MAX_GLOB_LEN: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Lit(char),
    /// Any character except `/`.
    InSegment,
    Any,
}

impl Class {
    fn accepts(self, c: char) -> bool {
        match self {
            Class::Lit(l) => l == c,
            Class::InSegment => c != '/',
            Class::Any => true,
        }
    }

    /// A character both classes accept, if there is one.
    fn meet(self, other: Class) -> Option<char> {
        match (self, other) {
            (Class::Lit(a), o) | (o, Class::Lit(a)) => o.accepts(a).then_some(a),
            _ => Some('x'),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct State {
    moves: Vec<(Class, usize)>,
    eps: Vec<usize>,
    accept: bool,
}

#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
    states: Vec<State>,
    /// The characters before the first wildcard: two globs whose prefixes
    /// disagree cannot overlap, which spares most product searches.
    prefix: String,
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Glob {
    /// Parses and normalizes a glob; the error says what is wrong.
    pub fn parse(raw: &str) -> Result<Glob, String> {
        let text = normalize(raw)?;
        let mut states = vec![State::default()];
        let mut cur = 0;
        let new = |states: &mut Vec<State>| {
            states.push(State::default());
            states.len() - 1
        };
        let segments: Vec<&str> = text.split('/').collect();
        for (i, seg) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            if *seg == "**" {
                if last {
                    states[cur].moves.push((Class::Any, cur));
                    continue;
                }
                // Zero or more whole segments, each ending in `/`.
                let next = new(&mut states);
                let inner = new(&mut states);
                states[cur].eps.extend([next, inner]);
                states[inner].moves.push((Class::Any, inner));
                states[inner].moves.push((Class::Lit('/'), next));
                cur = next;
                continue;
            }
            for c in seg.chars() {
                match c {
                    '*' => states[cur].moves.push((Class::InSegment, cur)),
                    '?' => {
                        let n = new(&mut states);
                        states[cur].moves.push((Class::InSegment, n));
                        cur = n;
                    }
                    c => {
                        let n = new(&mut states);
                        states[cur].moves.push((Class::Lit(c), n));
                        cur = n;
                    }
                }
            }
            if !last {
                let n = new(&mut states);
                states[cur].moves.push((Class::Lit('/'), n));
                cur = n;
            }
        }
        // Everything below a match is covered too.
        let below = new(&mut states);
        states[cur].accept = true;
        states[cur].moves.push((Class::Lit('/'), below));
        states[below].moves.push((Class::Any, below));
        states[below].accept = true;
        let prefix = text
            .chars()
            .take_while(|c| *c != '*' && *c != '?')
            .collect();
        Ok(Glob {
            text,
            states,
            prefix,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The literal text before the first wildcard: every path the glob
    /// matches starts with it.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn closure(&self, set: &mut Vec<usize>) {
        let mut i = 0;
        while i < set.len() {
            for &e in &self.states[set[i]].eps {
                if !set.contains(&e) {
                    set.push(e);
                }
            }
            i += 1;
        }
    }

    /// Does `path` fall under this glob? The path is taken as it is:
    /// callers drop a leading `./` (as `Glob::parse` does for globs), so
    /// that matching agrees exactly with `overlap`.
    pub fn matches(&self, path: &str) -> bool {
        if !path.starts_with(&self.prefix) {
            return false;
        }
        let mut set = vec![0];
        self.closure(&mut set);
        let mut next = Vec::with_capacity(self.states.len());
        for c in path.chars() {
            next.clear();
            for &s in &set {
                for &(class, to) in &self.states[s].moves {
                    if class.accepts(c) && !next.contains(&to) {
                        next.push(to);
                    }
                }
            }
            if next.is_empty() {
                return false;
            }
            self.closure(&mut next);
            std::mem::swap(&mut set, &mut next);
        }
        set.iter().any(|s| self.states[*s].accept)
    }

    /// A path both globs match, if there is one.
    pub fn overlap(&self, other: &Glob) -> Option<String> {
        let (a, b) = (&self.prefix, &other.prefix);
        if !a.starts_with(b.as_str()) && !b.starts_with(a.as_str()) {
            return None;
        }
        // Breadth-first over pairs of states; `came` remembers how each
        // pair was first reached, to spell the witness.
        let mut came: Came = HashMap::new();
        let mut queue = VecDeque::new();
        came.insert((0, 0), None);
        queue.push_back((0, 0));
        while let Some((p, q)) = queue.pop_front() {
            let (sp, sq) = (&self.states[p], &other.states[q]);
            if sp.accept && sq.accept {
                return Some(spell(&came, (p, q)));
            }
            let mut step = |to: (usize, usize), c: Option<char>| {
                if let std::collections::hash_map::Entry::Vacant(v) = came.entry(to) {
                    v.insert(Some(((p, q), c)));
                    queue.push_back(to);
                }
            };
            for &e in &sp.eps {
                step((e, q), None);
            }
            for &e in &sq.eps {
                step((p, e), None);
            }
            for &(ca, ta) in &sp.moves {
                for &(cb, tb) in &sq.moves {
                    if let Some(c) = ca.meet(cb) {
                        step((ta, tb), Some(c));
                    }
                }
            }
        }
        None
    }
}

type Came = HashMap<(usize, usize), Option<((usize, usize), Option<char>)>>;

fn spell(came: &Came, mut at: (usize, usize)) -> String {
    let mut out: Vec<char> = Vec::new();
    while let Some(Some((from, c))) = came.get(&at) {
        out.extend(c);
        at = *from;
    }
    out.iter().rev().collect()
}

fn normalize(raw: &str) -> Result<String, String> {
    let mut text = raw.trim();
    while let Some(rest) = text.strip_prefix("./") {
        text = rest;
    }
    let text = text.trim_end_matches('/');
    if text.is_empty() {
        return Err(format!("file glob {raw:?} is empty"));
    }
    if text.len() > MAX_GLOB_LEN {
        return Err(format!(
            "file glob is longer than {MAX_GLOB_LEN} characters"
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("file glob {raw:?} contains a control character"));
    }
    if text.split('/').any(|s| s == ".." || s.is_empty()) {
        return Err(format!(
            "file glob {raw:?} has an empty or `..` segment; name paths from the project root"
        ));
    }
    Ok(text.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn g(s: &str) -> Glob {
        Glob::parse(s).unwrap()
    }

    #[test]
    fn matching_follows_git_globs() {
        assert!(g("src/*.rs").matches("src/main.rs"));
        assert!(!g("src/*.rs").matches("src/api/mod.rs"));
        assert!(g("src/**/mod.rs").matches("src/mod.rs"));
        assert!(g("src/**/mod.rs").matches("src/a/b/mod.rs"));
        assert!(
            g("src/api").matches("src/api/mod.rs"),
            "a directory covers its contents"
        );
        assert!(!g("src/api").matches("src/apiary"));
        assert!(g("./docs/").matches("docs/x.md"));
        assert!(
            !g("docs").matches("./docs/x.md"),
            "paths are taken as given"
        );
        assert!(g("**").matches("anything/at/all"));
        assert!(g("a?c").matches("abc") && !g("a?c").matches("a/c"));
        assert!(Glob::parse("../etc").is_err() && Glob::parse("  ").is_err());
        assert!(Glob::parse("a//b").is_err());
    }

    /// Found by the `glob` fuzz target: the witness "./)." of these two
    /// was not matched by the first, because matching dropped "./".
    #[test]
    fn witnesses_starting_with_a_dot_segment_match_both() {
        let (a, b) = (g("*."), g("?*/)."));
        let w = a.overlap(&b).expect("they overlap");
        assert!(a.matches(&w) && b.matches(&w), "witness {w:?}");
    }

    #[test]
    fn overlaps_are_found_with_a_witness() {
        assert_eq!(
            g("src/*.rs").overlap(&g("src/main.*")).as_deref(),
            Some("src/main.rs")
        );
        assert!(g("src/**").overlap(&g("src/api/mod.rs")).is_some());
        assert!(g("src/api").overlap(&g("src/**/mod.rs")).is_some());
        assert!(g("src/*.rs").overlap(&g("src/*.md")).is_none());
        assert!(g("docs").overlap(&g("src/**")).is_none());
        assert!(g("a/*/c").overlap(&g("a/b/*")).is_some());
        assert!(g("a/*").overlap(&g("a/b/c")).is_some(), "a/b covers a/b/c");
    }

    /// Globs over a tiny alphabet, so different globs often overlap
    /// (shared with the reservation index's tests).
    pub(crate) fn glob_text() -> impl Strategy<Value = String> {
        let seg = prop_oneof![
            Just("a"),
            Just("b"),
            Just("ab"),
            Just("*"),
            Just("?"),
            Just("**"),
            Just("a*"),
            Just("*b"),
            Just("?b")
        ];
        prop::collection::vec(seg, 1..4).prop_map(|v| v.join("/"))
    }

    fn path_text() -> impl Strategy<Value = String> {
        let seg = prop_oneof![
            Just("a"),
            Just("b"),
            Just("ab"),
            Just("ba"),
            Just("bb"),
            Just("."),
            Just("a.")
        ];
        prop::collection::vec(seg, 1..5).prop_map(|v| v.join("/"))
    }

    proptest! {
        /// The overlap check never misses a shared path, and every witness
        /// it gives really is matched by both globs.
        #[test]
        fn overlap_is_exact(a in glob_text(), b in glob_text(), paths in prop::collection::vec(path_text(), 0..40)) {
            let (ga, gb) = (g(&a), g(&b));
            let found = ga.overlap(&gb);
            if let Some(w) = &found {
                prop_assert!(ga.matches(w) && gb.matches(w), "witness {} of {} and {} matches both", w, a, b);
            }
            for p in &paths {
                if ga.matches(p) && gb.matches(p) {
                    prop_assert!(found.is_some(), "{} matches {} and {} but no overlap was found", p, a, b);
                }
            }
            prop_assert_eq!(found.is_some(), gb.overlap(&ga).is_some(), "overlap is symmetric");
        }

        /// A glob without wildcards matches exactly itself and what is
        /// below it.
        #[test]
        fn literal_globs_match_themselves_and_below(p in path_text(), q in path_text()) {
            // A leading "./" is dropped from globs, not from paths.
            prop_assume!(!p.starts_with("./") && !q.starts_with("./"));
            let gp = g(&p);
            prop_assert!(gp.matches(&p));
            let below = format!("{p}/{q}");
            prop_assert!(gp.matches(&below));
            prop_assert_eq!(gp.matches(&q), q == p || q.starts_with(&format!("{p}/")));
        }
    }
}
