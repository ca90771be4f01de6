//! The character sets a glob's moves take: a literal, any character
//! within a segment, any at all, or a bracket expression (`[ab]`, `[a-z]`,
//! `[!a]`, `[[:digit:]]`), as sorted ranges that intersect exactly, so the
//! overlap search can ask whether two moves share a character.

/// A set of characters as sorted, disjoint, inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Class(Vec<(char, char)>);

impl Class {
    pub(super) fn lit(c: char) -> Class {
        Class(vec![(c, c)])
    }

    pub(super) fn any() -> Class {
        Class(vec![('\0', char::MAX)])
    }

    /// Any character but `/`.
    pub(super) fn in_segment() -> Class {
        Class(vec![('\0', '.'), ('0', char::MAX)])
    }

    /// `ranges` in normal form: sorted, merged where they touch.
    fn of(mut ranges: Vec<(char, char)>) -> Class {
        ranges.sort_unstable();
        let mut out: Vec<(char, char)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match out.last_mut() {
                Some(last) if u32::from(lo) <= u32::from(last.1).saturating_add(1) => {
                    last.1 = last.1.max(hi);
                }
                _ => out.push((lo, hi)),
            }
        }
        Class(out)
    }

    /// Every character not in this set.
    fn complement(&self) -> Class {
        let mut out = Vec::new();
        let mut from = Some('\0');
        for &(lo, hi) in &self.0 {
            if let Some(f) = from {
                if f < lo {
                    if let Some(before) = char_before(lo) {
                        out.push((f, before));
                    }
                }
            }
            from = char_after(hi);
        }
        if let Some(f) = from {
            out.push((f, char::MAX));
        }
        Class(out)
    }

    fn intersect(&self, other: &Class) -> Class {
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = (self.0[i], other.0[j]);
            let (lo, hi) = (a.0.max(b.0), a.1.min(b.1));
            if lo <= hi {
                out.push((lo, hi));
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Class(out)
    }

    pub(super) fn accepts(&self, c: char) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= c && c <= hi)
    }

    /// A character both sets accept, if there is one: `x` or a lowercase
    /// letter when it can (a readable witness), else the first there is.
    pub(super) fn meet(&self, other: &Class) -> Option<char> {
        // Most moves are single characters: no set to build.
        for (a, b) in [(self, other), (other, self)] {
            if let [(lo, hi)] = a.0[..] {
                if lo == hi {
                    return b.accepts(lo).then_some(lo);
                }
            }
        }
        let both = self.intersect(other);
        let first = both.0.first()?.0;
        let readable = ('x'..='z').chain('a'..'x').find(|c| both.accepts(*c));
        Some(readable.unwrap_or(first))
    }
}

fn char_before(c: char) -> Option<char> {
    match c {
        '\0' => None,
        '\u{E000}' => Some('\u{D7FF}'),
        c => char::from_u32(u32::from(c) - 1),
    }
}

fn char_after(c: char) -> Option<char> {
    match c {
        char::MAX => None,
        '\u{D7FF}' => Some('\u{E000}'),
        c => char::from_u32(u32::from(c) + 1),
    }
}

/// The POSIX class names git's globs know, as ASCII ranges.
fn posix_class(name: &str) -> Option<Vec<(char, char)>> {
    Some(match name {
        "alnum" => vec![('0', '9'), ('A', 'Z'), ('a', 'z')],
        "alpha" => vec![('A', 'Z'), ('a', 'z')],
        "blank" => vec![(' ', ' '), ('\t', '\t')],
        "cntrl" => vec![('\0', '\u{1f}'), ('\u{7f}', '\u{7f}')],
        "digit" => vec![('0', '9')],
        "graph" => vec![('!', '~')],
        "lower" => vec![('a', 'z')],
        "print" => vec![(' ', '~')],
        "punct" => vec![('!', '/'), (':', '@'), ('[', '`'), ('{', '~')],
        "space" => vec![('\t', '\r'), (' ', ' ')],
        "upper" => vec![('A', 'Z')],
        "xdigit" => vec![('0', '9'), ('A', 'F'), ('a', 'f')],
        _ => return None,
    })
}

/// The bracket expression starting at `chars[at]` (a `[`): its class and
/// the index just past its `]`.
pub(super) fn bracket(raw: &str, chars: &[char], at: usize) -> Result<(Class, usize), String> {
    let unclosed = || format!("file glob {raw:?} has a `[` without its `]`");
    let mut i = at + 1;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *chars.get(i).ok_or_else(unclosed)?;
        if c == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        if c == '[' && chars.get(i + 1) == Some(&':') {
            let rest: String = chars[i + 2..].iter().collect();
            let end = rest.find(":]").ok_or_else(unclosed)?;
            let name = &rest[..end];
            let class = posix_class(name).ok_or_else(|| {
                format!("file glob {raw:?} names an unknown class [:{name}:] (alnum, alpha, blank, cntrl, digit, graph, lower, print, punct, space, upper, xdigit)")
            })?;
            ranges.extend(class);
            i += 2 + name.chars().count() + 2;
            continue;
        }
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|e| *e != ']') {
            let end = chars[i + 2];
            if end < c {
                return Err(format!(
                    "file glob {raw:?} has the range {c}-{end}, which is backwards"
                ));
            }
            ranges.push((c, end));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    let mut class = Class::of(ranges);
    if negated {
        class = class.complement();
    }
    // As in git, a bracket never matches the separator.
    Ok((class.intersect(&Class::in_segment()), i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ranges() -> impl Strategy<Value = Vec<(char, char)>> {
        let c = prop_oneof![Just('\0'), Just('/'), Just('a'), Just('z'), any::<char>()];
        prop::collection::vec((c.clone(), c), 0..5)
            .prop_map(|v| v.into_iter().map(|(a, b)| (a.min(b), a.max(b))).collect())
    }

    proptest! {
        /// The set operations agree with membership, character by character.
        #[test]
        fn set_operations_agree_with_membership(a in ranges(), b in ranges(), probes in prop::collection::vec(any::<char>(), 0..30)) {
            let naive = |r: &[(char, char)], c: char| r.iter().any(|&(lo, hi)| lo <= c && c <= hi);
            let (ca, cb) = (Class::of(a.clone()), Class::of(b.clone()));
            let probes = probes.into_iter().chain(['\0', '/', 'a', 'z', char::MAX]);
            for c in probes {
                prop_assert_eq!(ca.accepts(c), naive(&a, c));
                prop_assert_eq!(ca.complement().accepts(c), !naive(&a, c));
                prop_assert_eq!(ca.intersect(&cb).accepts(c), naive(&a, c) && naive(&b, c));
            }
            match ca.meet(&cb) {
                Some(w) => prop_assert!(ca.accepts(w) && cb.accepts(w)),
                None => prop_assert!(ca.intersect(&cb).0.is_empty()),
            }
        }
    }
}
