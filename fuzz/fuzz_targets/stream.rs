//! Fuzzes callback streams against the reference model: the first input byte picks the
//! stream's setup, every further byte (two for some) one operation (see
//! `model::ops_from_bytes`), applied to a real stream and to the model in step.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/model/stream.rs"]
mod model;

fuzz_target!(|data: &[u8]| {
    let (setup, ops) = model::ops_from_bytes(data);
    model::run(setup, &ops);
});
