#![no_main]
//! Task bodies, as the task routes read them.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hivelog::api::fuzzing::task_body(data);
});
