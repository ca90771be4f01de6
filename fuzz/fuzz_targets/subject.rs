#![no_main]
//! Subjects and patterns: validation, matching and overlap never panic,
//! and agree with each other.
use hivelog::log::subject::{matches, overlaps, validate_pattern, validate_subject};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (a, b) = text.split_once('\n').unwrap_or((text, "a.b"));
    let subject_ok = validate_subject(b).is_ok();
    if validate_pattern(a).is_ok() && subject_ok {
        // A pattern that matches a subject overlaps it.
        if matches(a, b) {
            assert!(overlaps(a, b), "{a:?} matches {b:?} but does not overlap it");
        }
        assert_eq!(overlaps(a, b), overlaps(b, a));
    }
});
