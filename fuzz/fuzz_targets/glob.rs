#![no_main]
//! File globs: parse, match and overlap; a witness matches both globs.
use hivelog::coord::glob::Glob;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut parts = text.splitn(3, '\n');
    let (a, b, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("x"), parts.next().unwrap_or("x"));
    let (Ok(ga), Ok(gb)) = (Glob::parse(a), Glob::parse(b)) else { return };
    let _ = ga.matches(path);
    if let Some(w) = ga.overlap(&gb) {
        assert!(ga.matches(&w) && gb.matches(&w), "witness {w:?} of {a:?} and {b:?}");
    }
});
