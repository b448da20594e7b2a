//! Fuzzes `AsyncEvent` against the reference model: every input byte is one operation
//! (see `model::ops_from_bytes`), applied to a real event (and its waits) and to the model
//! in step.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/model/event.rs"]
mod model;

fuzz_target!(|data: &[u8]| {
    model::run(&model::ops_from_bytes(data));
});
