//! Replays the concurrent targets' corpora without libFuzzer: `cargo test` in `fuzz/`
//! runs every file of `corpus/<target>/` through the target's decode + run + check logic,
//! several times each (the threads' interleaving differs from run to run), plus a few
//! hundred pseudo-random inputs per target from a fixed seed.
//!
//! `ANYWAIT_FUZZ_REPEAT` (default 20) sets the runs per corpus file, `ANYWAIT_FUZZ_RANDOM`
//! (default 200) the random inputs per target, `ANYWAIT_FUZZ_SEED` their seed.

use std::path::{Path, PathBuf};

use anywait_fuzz::common::quiet_expected_panics;
use anywait_fuzz::TARGETS;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

fn target(name: &str) -> fn(&[u8]) {
    TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no target {name}"))
        .1
}

fn replay(name: &str) {
    quiet_expected_panics();
    let run = target(name);
    let files = corpus(name);
    assert!(!files.is_empty(), "corpus/{name}/ is empty");
    let repeat = env_usize("ANYWAIT_FUZZ_REPEAT", 20);
    for file in &files {
        let data = std::fs::read(file).expect("read a corpus file");
        eprintln!(
            "{name}: {} ({} bytes) x{repeat}",
            file.display(),
            data.len()
        );
        for _ in 0..repeat {
            run(&data);
        }
    }
}

/// xorshift64*: a fixed, dependency-free stream of test inputs.
fn random_inputs(name: &str) {
    quiet_expected_panics();
    let run = target(name);
    let count = env_usize("ANYWAIT_FUZZ_RANDOM", 200);
    let seed = std::env::var("ANYWAIT_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x2545_f491_4f6c_dd1d_u64);
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
    };
    for i in 0..count {
        let len = 2 + usize::from(next()) % 120;
        let data: Vec<u8> = (0..len).map(|_| next()).collect();
        let outcome = std::panic::catch_unwind(|| run(&data));
        if let Err(payload) = outcome {
            eprintln!("{name}: random input #{i} (seed {seed}) failed: {data:02x?}");
            std::panic::resume_unwind(payload);
        }
    }
}

macro_rules! targets {
    ($($name:ident),* $(,)?) => {
        mod corpus_replay {
            $(#[test] fn $name() { super::replay(stringify!($name)); })*
        }
        mod random {
            $(#[test] fn $name() { super::random_inputs(stringify!($name)); })*
        }
        #[test]
        fn every_target_is_replayed() {
            let listed = [$(stringify!($name)),*];
            for (name, _) in TARGETS {
                assert!(listed.contains(name), "{name} has no replay test");
            }
        }
    };
}

targets!(oneshot_mt, event_mt, shared_mt, stream_mt, ffi_mt);
