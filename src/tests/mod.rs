//! The unit tests: one module per primitive (`event`, `ffi`, `oneshot`, `shared`,
//! `stream`), one for the sync shim's own lock (`sync_tests`), plus their helpers (`support`, which includes the integration tests' own
//! helper files). All of them are std tests, Miri-clean (CI runs them under
//! `cargo +nightly miri test --lib`); this module is compiled only under
//! `cfg(all(test, not(anywait_loom)))`.
//!
//! `loom_waiter.rs`, the unit-level loom models of the cancellable waiter, lives in this
//! directory too but is declared from `src/waiter/mod.rs` (under
//! `cfg(all(test, anywait_loom))`), because it drives the waiter's private internals.
//! See `tests/README.md` for where every test lives.

mod event;
mod ffi;
mod oneshot;
mod shared;
mod stream;
mod support;
mod sync_tests;
