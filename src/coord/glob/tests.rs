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
fn character_classes_match_one_character_of_their_class() {
    assert!(g("lib/[ab].rs").matches("lib/a.rs") && g("lib/[ab].rs").matches("lib/b.rs"));
    assert!(!g("lib/[ab].rs").matches("lib/c.rs"));
    assert!(
        !g("lib/[ab].rs").matches("lib/[ab].rs"),
        "not taken literally"
    );
    assert!(g("v[0-9]").matches("v7") && !g("v[0-9]").matches("vx"));
    assert!(g("[!a]x").matches("bx") && !g("[!a]x").matches("ax"));
    assert!(g("[^a]x").matches("bx") && !g("[^a]x").matches("ax"));
    assert!(g("[]]").matches("]") && g("[]a]").matches("a"));
    assert!(g("[a-]").matches("-"));
    assert!(g("[[:digit:]]x").matches("5x") && !g("[[:digit:]]x").matches("ax"));
    assert!(g("[[:upper:][:digit:]]").matches("Q"));
    assert!(
        !g("a[!b]c").matches("a/c"),
        "a class never matches the separator"
    );
    assert_eq!(g("src/[ab]*.rs").prefix(), "src/");
}

#[test]
fn malformed_classes_are_refused_with_a_reason() {
    for (glob, needle) in [
        ("lib/[ab.rs", "without its `]`"),
        ("[]", "without its `]`"),
        ("[z-a]", "backwards"),
        ("[[:word:]]", "unknown class [:word:]"),
        ("[[:alpha]", "without its `]`"),
    ] {
        let err = Glob::parse(glob).expect_err(glob);
        assert!(err.contains(needle), "{glob}: {err}");
    }
}

#[test]
fn classes_overlap_exactly() {
    assert_eq!(
        g("lib/[ab].rs").overlap(&g("lib/a.rs")).as_deref(),
        Some("lib/a.rs")
    );
    assert!(g("lib/[ab].rs").overlap(&g("lib/c.rs")).is_none());
    assert!(g("[!a]").overlap(&g("a")).is_none());
    assert!(g("[a-c]").overlap(&g("[c-e]")).is_some());
    assert!(g("[a-c]").overlap(&g("[d-f]")).is_none());
    assert!(g("[[:digit:]]").overlap(&g("[!0-9]")).is_none());
    let w = g("*[!x]").overlap(&g("?[x-z]")).expect("they overlap");
    assert!(g("*[!x]").matches(&w) && g("?[x-z]").matches(&w), "{w}");
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
        Just("?b"),
        Just("[ab]"),
        Just("[!a]"),
        Just("[^b]*"),
        Just("[a-b]."),
        Just("[]a]"),
        Just("[[:alpha:]]"),
        Just("*[.]")
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

/// A brute-force matcher written from the syntax alone, segment by
/// segment and character by character, to hold the automaton to.
fn reference(glob: &str, path: &str) -> bool {
    let mut glob = glob.trim();
    while let Some(rest) = glob.strip_prefix("./") {
        glob = rest;
    }
    let glob: Vec<&str> = glob.trim_end_matches('/').split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    segments(&glob, &path)
}

fn segments(glob: &[&str], path: &[&str]) -> bool {
    match glob.split_first() {
        // Everything below a match is covered.
        None => true,
        Some((&"**", [])) => !path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|k| segments(rest, &path[k..])),
        Some((seg, rest)) => match path.split_first() {
            Some((p, below)) => {
                let (s, p): (Vec<char>, Vec<char>) = (seg.chars().collect(), p.chars().collect());
                segment(&s, &p) && segments(rest, below)
            }
            None => false,
        },
    }
}

fn segment(glob: &[char], text: &[char]) -> bool {
    match glob.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|k| segment(rest, &text[k..])),
        Some(('?', rest)) => !text.is_empty() && segment(rest, &text[1..]),
        Some(('[', _)) => {
            let (ok, len) = one_of(glob, text.first().copied());
            ok && segment(&glob[len..], &text[1..])
        }
        Some((c, rest)) => text.first() == Some(c) && segment(rest, &text[1..]),
    }
}

/// Whether `c` is in the bracket expression at the start of `glob`, and
/// the expression's length.
fn one_of(glob: &[char], c: Option<char>) -> (bool, usize) {
    let mut i = 1;
    let negated = matches!(glob.get(1), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while glob[i] != ']' || first {
        first = false;
        if glob[i] == '[' && glob[i + 1] == ':' {
            let close = (i + 2..glob.len()).find(|&j| glob[j] == ':').unwrap();
            let name: String = glob[i + 2..close].iter().collect();
            hit |= c.is_some_and(|c| match name.as_str() {
                "alpha" => c.is_ascii_alphabetic(),
                "digit" => c.is_ascii_digit(),
                other => panic!("the reference knows no [:{other}:]"),
            });
            i = close + 2;
        } else if glob[i + 1] == '-' && glob[i + 2] != ']' {
            hit |= c.is_some_and(|c| glob[i] <= c && c <= glob[i + 2]);
            i += 3;
        } else {
            hit |= c == Some(glob[i]);
            i += 1;
        }
    }
    (c.is_some() && hit != negated, i + 1)
}

/// Every path over `a`, `b`, `.` and `/` up to four characters long.
fn small_paths() -> Vec<String> {
    let mut all = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..4 {
        last = last
            .iter()
            .flat_map(|p| ['a', 'b', '.', '/'].map(|c| format!("{p}{c}")))
            .collect();
        all.extend(last.iter().cloned());
    }
    all
}

proptest! {
    /// The automaton matches exactly the paths the brute-force reading of
    /// the syntax matches.
    #[test]
    fn matching_agrees_with_the_reference(glob in glob_text(), path in path_text()) {
        prop_assert_eq!(g(&glob).matches(&path), reference(&glob, &path), "{} on {}", glob, path);
    }

    /// Overlap against brute force: two globs overlap exactly when some
    /// small path is matched by both (the alphabet is small enough that a
    /// shared path, when there is one, is short), and a witness is
    /// matched by both per the reference.
    #[test]
    fn overlap_agrees_with_brute_force(a in glob_text(), b in glob_text()) {
        let found = g(&a).overlap(&g(&b));
        if let Some(w) = &found {
            prop_assert!(reference(&a, w) && reference(&b, w), "witness {:?} of {} and {}", w, a, b);
        }
        let shared = small_paths().into_iter().find(|p| reference(&a, p) && reference(&b, p));
        if let Some(p) = shared {
            prop_assert!(found.is_some(), "{:?} matches {} and {} but no overlap was found", p, a, b);
        }
    }
}
