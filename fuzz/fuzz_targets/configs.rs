#![no_main]
//! Stream and consumer configurations, as their create routes read them.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hivelog::api::fuzzing::configs(data);
});
