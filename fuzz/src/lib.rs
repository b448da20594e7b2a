//! The concurrent fuzz targets' logic, shared by the cargo-fuzz binaries
//! (`fuzz_targets/*_mt.rs`) and the corpus replay test (`tests/replay.rs`).
//!
//! Each `*_mt` module turns an input into 2 to 4 lists of operations
//! ([`common::decode`]), runs them on as many real threads released together by a barrier
//! against the real primitive, and then checks, after the join, invariants that every
//! interleaving must satisfy. No operation blocks without a bound: waits are timed (zero
//! or at most a quarter of a millisecond) or are released by construction.
//!
//! A failed check panics; under libFuzzer that is a crash with the input saved. The
//! interleaving itself is not part of the input, so a crash may need several runs of its
//! input to reproduce (the replay test runs every corpus file many times).

#![warn(missing_docs)]

pub mod common;
pub mod event_mt;
pub mod ffi_mt;
pub mod oneshot_mt;
pub mod shared_mt;
pub mod stream_mt;

/// A target's entry point: decode, run, check (panics on a failed check).
pub type Target = fn(&[u8]);

/// The concurrent targets, by name (the corpus directories are `corpus/<name>/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("oneshot_mt", oneshot_mt::run),
    ("event_mt", event_mt::run),
    ("shared_mt", shared_mt::run),
    ("stream_mt", stream_mt::run),
    ("ffi_mt", ffi_mt::run),
];
