#![no_main]
//! Duration strings ("90", "1500ms", "2h", …): parse, and format back.
use hivelog::log::duration::{format_duration, parse_duration};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(d) = parse_duration(text) {
        let again = parse_duration(&format_duration(d)).expect("a formatted duration parses");
        assert_eq!(again, d);
    }
});
