//! Fuzzes `SharedWaitable` against the reference model: every input byte is one operation
//! (see `model::ops_from_bytes`), applied to a real shared operation and to the model in
//! step.

#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/model/shared.rs"]
mod model;

/// The model's panicking done-callbacks panic on purpose, and anywait catches that. The
/// hook libfuzzer-sys installs aborts on *every* panic, caught or not, so wrap it: skip
/// those expected panics, hand every other one (a real failure) to it.
fn pass_callback_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info
                .payload()
                .downcast_ref::<model::CallbackPanic>()
                .is_none()
            {
                fuzzer_hook(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    // Installed on the first input, after libfuzzer-sys has installed its own hook.
    pass_callback_panics();
    model::run(&model::ops_from_bytes(data));
});
