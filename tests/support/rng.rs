//! Random operation sequences, for the model tests (`tests/model_*.rs`) and the stress
//! tests: [`XorShift`], [`seed`] (printed; `ANYWAIT_SEED` replays one),
//! [`random_sequences`] and the decoder checks ([`check_decoder`], [`assert_every_kind`]).

// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

/// xorshift64*: tiny, deterministic, good enough to draw operations.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A short busy spin of random length, to shift the relative timing of the threads.
    /// It orders nothing: every interleaving it produces is a legal one.
    pub fn jitter(&mut self) {
        for _ in 0..self.below(64) {
            std::hint::spin_loop();
        }
    }
}

/// The seed of a random test: `ANYWAIT_SEED` if set (to replay a run), else the clock.
/// Printed as `<test>: ANYWAIT_SEED=<seed>`.
pub fn seed(test: &str) -> u64 {
    let seed = match std::env::var("ANYWAIT_SEED") {
        Ok(s) => s.trim().parse().expect("ANYWAIT_SEED must be a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x5EED, |d| d.as_nanos() as u64),
    };
    println!("{test}: ANYWAIT_SEED={seed}");
    seed
}

/// A decoded sequence of a model's operations: `Vec<Op>`, or `(Setup, Vec<Op>)` for a
/// model whose first byte picks its setup.
pub trait OpSequence {
    /// How many operations it holds.
    fn op_count(&self) -> usize;
    /// The sequence, for the report of a failing case.
    fn describe(&self) -> String;
}

impl<Op: Debug> OpSequence for Vec<Op> {
    fn op_count(&self) -> usize {
        self.len()
    }

    fn describe(&self) -> String {
        format!("ops: {self:?}")
    }
}

impl<Setup: Debug, Op: Debug> OpSequence for (Setup, Vec<Op>) {
    fn op_count(&self) -> usize {
        self.1.len()
    }

    fn describe(&self) -> String {
        format!("setup {:?}, ops: {:?}", self.0, self.1)
    }
}

/// Draws 4000 random byte strings (every tenth 400 bytes long, the others 8 to 67) from
/// the [`seed`] of `test`, decodes each with the model's `decode` (`ops_from_bytes`) and
/// runs it with `run` (`model::run`, which returns how many operations were not skipped).
/// A failing case is reported with the seed, its number and its operations, and its panic
/// resumed. Prints the totals and the time taken.
pub fn random_sequences<S: OpSequence>(
    test: &str,
    decode: fn(&[u8]) -> S,
    run: fn(&S) -> usize,
) -> RandomRun {
    let seed = seed(test);
    let start = Instant::now();
    let mut rng = XorShift::new(seed);
    let mut total_ops = 0;
    let mut executed = 0;
    for case in 0..4000 {
        // Short sequences find shallow differences fast; some long ones go deep.
        let len = if case % 10 == 0 {
            400
        } else {
            8 + (rng.next() % 60) as usize
        };
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let sequence = decode(&bytes);
        total_ops += sequence.op_count();
        // Unwind safety: the panic is resumed below, nothing looks at the sequence after it.
        match panic::catch_unwind(AssertUnwindSafe(|| run(&sequence))) {
            Ok(n) => executed += n,
            Err(panic) => {
                eprintln!("ANYWAIT_SEED={seed}, case {case}, {}", sequence.describe());
                panic::resume_unwind(panic);
            }
        }
    }
    println!(
        "{total_ops} operations ({executed} not skipped) in {:?}",
        start.elapsed()
    );
    RandomRun {
        total_ops,
        executed,
    }
}

/// What [`random_sequences`] ran.
pub struct RandomRun {
    pub total_ops: usize,
    /// The operations that were not skipped.
    pub executed: usize,
}

impl RandomRun {
    /// Asserts that more than `num / den` of the operations found `what` (were not
    /// skipped): otherwise the sequences test little.
    pub fn assert_executed_over(&self, num: usize, den: usize, what: &str) {
        let RandomRun {
            total_ops,
            executed,
        } = *self;
        assert!(
            executed * den > total_ops * num,
            "only {executed} of {total_ops} operations found {what}"
        );
    }
}

/// Checks a model's decoder (`ops_from_bytes`) on every byte value (`0..=255`): each byte
/// is one operation, the operations are of every kind in `kinds` (so the fuzzer and the
/// random test can reach all of them), and a long input is cut at `max_ops`. Returns the
/// operations, for further checks.
pub fn check_decoder<Op: Debug>(
    decode: fn(&[u8]) -> Vec<Op>,
    max_ops: usize,
    kinds: &[&str],
) -> Vec<Op> {
    let all: Vec<u8> = (0..=255).collect();
    let ops = decode(&all);
    assert_every_kind(&ops, kinds);
    assert_eq!(ops.len(), 256);
    assert_eq!(decode(&[0; 10_000]).len(), max_ops);
    ops
}

/// Asserts that `ops` hold an operation of every kind in `kinds` (an operation's kind is
/// the variant name its `Debug` form starts with): the decoder can produce them all.
pub fn assert_every_kind(ops: impl IntoIterator<Item = impl Debug>, kinds: &[&str]) {
    let seen: BTreeSet<String> = ops
        .into_iter()
        .map(|op| {
            format!("{op:?}")
                .split(['(', ' '])
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    for kind in kinds {
        assert!(seen.contains(*kind), "decoder never produces {kind}");
    }
}
