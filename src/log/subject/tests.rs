//! Subject syntax, matching and the trie against a linear scan (proptest).

use super::*;
use proptest::prelude::*;

#[test]
fn validates_subjects_and_patterns() {
    assert!(validate_subject("mjwork.tasks").is_ok());
    assert!(validate_subject("a").is_ok());
    for bad in ["", ".a", "a.", "a..b", "a b", "a.*", "a.>", "a\tb", "a.b*"] {
        assert!(validate_subject(bad).is_err(), "{bad:?} should be rejected");
    }
    assert!(validate_pattern("mjwork.>").is_ok());
    assert!(validate_pattern("*.x.*").is_ok());
    for bad in ["", "a.>.b", "a.b>", "*x", "a..*"] {
        assert!(validate_pattern(bad).is_err(), "{bad:?} should be rejected");
    }
    let long = "a.".repeat(300) + "a";
    assert!(validate_subject(&long).is_err());
}

#[test]
fn error_names_the_problem() {
    let err = validate_subject("a..b").unwrap_err().to_string();
    assert!(err.contains("token 2 is empty"), "{err}");
    let err = validate_subject("a.>").unwrap_err().to_string();
    assert!(err.contains("wildcard"), "{err}");
}

#[test]
fn matching_examples() {
    assert!(matches("mjwork.>", "mjwork.tasks"));
    assert!(matches("mjwork.>", "mjwork.heartbeat.alice"));
    assert!(!matches("mjwork.>", "mjwork"));
    assert!(matches("mjwork.*", "mjwork.tasks"));
    assert!(!matches("mjwork.*", "mjwork.heartbeat.alice"));
    assert!(matches("*.*.alice", "mjwork.heartbeat.alice"));
    assert!(matches("a", "a"));
    assert!(!matches("a", "a.b"));
    assert!(!matches("a.b", "a"));
    assert!(matches(">", "anything.at.all"));
}

#[test]
fn overlap_examples() {
    assert!(overlaps("mjwork.>", "mjwork.tasks"));
    assert!(overlaps("mjwork.*", "*.tasks"));
    assert!(!overlaps("mjwork.*", "mjwork.a.b"));
    assert!(!overlaps("a.>", "b.>"));
    assert!(!overlaps("a.>", "a"));
    assert!(overlaps(">", "x"));
}

#[test]
fn trie_insert_match_remove() {
    let mut trie = SubjectTrie::new();
    trie.insert("mjwork.>", 1);
    trie.insert("mjwork.tasks", 2);
    trie.insert("*.tasks", 3);
    trie.insert("other", 4);
    let mut got: Vec<i32> = trie.matches("mjwork.tasks").into_iter().copied().collect();
    got.sort();
    assert_eq!(got, vec![1, 2, 3]);
    assert!(trie.remove("mjwork.>", &1));
    assert!(!trie.remove("mjwork.>", &1));
    let mut got: Vec<i32> = trie.matches("mjwork.tasks").into_iter().copied().collect();
    got.sort();
    assert_eq!(got, vec![2, 3]);
    assert_eq!(trie.len(), 3);
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("c".to_string()),
        "[a-z0-9_-]{1,4}"
    ]
}

fn subject() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 1..5).prop_map(|t| t.join("."))
}

fn pattern() -> impl Strategy<Value = String> {
    let tok = prop_oneof![3 => token(), 1 => Just("*".to_string())];
    (prop::collection::vec(tok, 1..5), any::<bool>()).prop_map(|(mut t, tail)| {
        if tail {
            *t.last_mut().expect("vec has at least one token") = ">".into();
        }
        t.join(".")
    })
}

/// An independent, obviously-correct matcher to check `matches` against.
fn reference_match(p: &[&str], s: &[&str]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(&">"), Some(_)) => true,
        (Some(&"*"), Some(_)) => reference_match(&p[1..], &s[1..]),
        (Some(x), Some(y)) if x == y => reference_match(&p[1..], &s[1..]),
        _ => false,
    }
}

proptest! {
    #[test]
    fn generated_subjects_and_patterns_validate(s in subject(), p in pattern()) {
        prop_assert!(validate_subject(&s).is_ok());
        prop_assert!(validate_pattern(&p).is_ok());
        prop_assert!(validate_pattern(&s).is_ok());
    }

    #[test]
    fn matches_agrees_with_reference(p in pattern(), s in subject()) {
        let pt: Vec<&str> = p.split('.').collect();
        let st: Vec<&str> = s.split('.').collect();
        prop_assert_eq!(matches(&p, &s), reference_match(&pt, &st));
    }

    #[test]
    fn a_subject_matching_both_patterns_implies_overlap(a in pattern(), b in pattern(), s in subject()) {
        if matches(&a, &s) && matches(&b, &s) {
            prop_assert!(overlaps(&a, &b));
        }
        prop_assert_eq!(overlaps(&a, &b), overlaps(&b, &a));
    }

    #[test]
    fn trie_agrees_with_linear_scan(patterns in prop::collection::vec(pattern(), 0..20), s in subject()) {
        let mut trie = SubjectTrie::new();
        for (i, p) in patterns.iter().enumerate() {
            trie.insert(p, i);
        }
        let mut got: Vec<usize> = trie.matches(&s).into_iter().copied().collect();
        got.sort();
        let want: Vec<usize> = patterns.iter().enumerate().filter(|(_, p)| matches(p, &s)).map(|(i, _)| i).collect();
        prop_assert_eq!(got, want);
        for (i, p) in patterns.iter().enumerate() {
            prop_assert!(trie.remove(p, &i));
        }
        prop_assert!(trie.is_empty());
        prop_assert!(trie.matches(&s).is_empty());
    }

    #[test]
    fn every_matching_subject_starts_with_the_literal_prefix(p in pattern(), s in subject()) {
        if matches(&p, &s) {
            prop_assert!(s.starts_with(literal_prefix(&p)), "{} does not start with {:?}", s, literal_prefix(&p));
        }
        if is_literal(&p) {
            prop_assert_eq!(literal_prefix(&p), p.as_str());
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,40}") {
        let _ = validate_subject(&text);
        let _ = validate_pattern(&text);
    }
}
