#![no_main]
//! WebSocket text frames, through the protocol's parsing and checks.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        hivelog::api::fuzzing::ws_frame(text);
    }
});
