//! Path globs as file reservations use them, and the question reservations
//! ask: can one path match both of two globs?
//!
//! Syntax (git's): `/` separates segments, `*` matches any run of
//! characters within a segment, `?` one character within a segment, a
//! bracket expression one character of a class (`[ab]`, `[a-z]`, `[!ab]`
//! or `[^ab]` for any but those, `[[:digit:]]` and the other POSIX names,
//! ASCII only; a `]` first in the brackets is a literal one; a class never
//! matches `/`), and a whole `**` segment any number of segments
//! (`src/**/mod.rs` matches `src/mod.rs` too). A glob also covers
//! everything below what it matches, so reserving `src/api` reserves
//! `src/api/mod.rs`. A leading `./` and a trailing `/` are dropped.
//!
//! Each glob is compiled to a small NFA whose moves are character sets;
//! two globs overlap when the product automaton reaches a pair of
//! accepting states through moves whose sets intersect, and the path
//! spelled on the way there is the witness shown to the user.

mod class;

use std::collections::{HashMap, VecDeque};

use class::{bracket, Class};

/// Longest glob accepted: keeps the product automaton small.
pub const MAX_GLOB_LEN: usize = 512;

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
                    states[cur].moves.push((Class::any(), cur));
                    continue;
                }
                // Zero or more whole segments, each ending in `/`.
                let next = new(&mut states);
                let inner = new(&mut states);
                states[cur].eps.extend([next, inner]);
                states[inner].moves.push((Class::any(), inner));
                states[inner].moves.push((Class::lit('/'), next));
                cur = next;
                continue;
            }
            let chars: Vec<char> = seg.chars().collect();
            let mut i = 0;
            while i < chars.len() {
                let class = match chars[i] {
                    '*' => {
                        states[cur].moves.push((Class::in_segment(), cur));
                        i += 1;
                        continue;
                    }
                    '?' => Class::in_segment(),
                    '[' => {
                        let (class, end) = bracket(raw, &chars, i)?;
                        i = end - 1;
                        class
                    }
                    c => Class::lit(c),
                };
                i += 1;
                let n = new(&mut states);
                states[cur].moves.push((class, n));
                cur = n;
            }
            if !last {
                let n = new(&mut states);
                states[cur].moves.push((Class::lit('/'), n));
                cur = n;
            }
        }
        // Everything below a match is covered too.
        let below = new(&mut states);
        states[cur].accept = true;
        states[cur].moves.push((Class::lit('/'), below));
        states[below].moves.push((Class::any(), below));
        states[below].accept = true;
        let prefix = text
            .chars()
            .take_while(|c| !matches!(c, '*' | '?' | '['))
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
                for (class, to) in &self.states[s].moves {
                    let to = *to;
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
            for (ca, ta) in &sp.moves {
                for (cb, tb) in &sq.moves {
                    if let Some(c) = ca.meet(cb) {
                        step((*ta, *tb), Some(c));
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
pub(crate) mod tests;
