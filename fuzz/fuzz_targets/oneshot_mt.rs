//! Concurrent fuzzing of one-shot pairs: the input becomes 2 to 4
//! threads' operation lists, run at once against the real primitive; see
//! `anywait_fuzz::oneshot_mt` for the encoding and the invariants checked after the join.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    anywait_fuzz::common::quiet_expected_panics();
    anywait_fuzz::oneshot_mt::run(data);
});
