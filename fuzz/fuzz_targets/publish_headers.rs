#![no_main]
//! Publish headers: lines of "name: value", as `POST /api/pub` reads them.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(&[u8], &[u8])> = data
        .split(|b| *b == b'\n')
        .filter_map(|line| {
            let i = line.iter().position(|b| *b == b':')?;
            Some((&line[..i], line[i + 1..].trim_ascii()))
        })
        .collect();
    hivelog::api::fuzzing::publish_headers(&pairs);
});
