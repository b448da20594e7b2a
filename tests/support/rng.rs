//! Random operation sequences, for the model tests (`tests/model_*.rs`) and the stress
//! tests: [`XorShift`], [`seed`] (printed; `ANYWAIT_SEED` replays one),
//! [`random_sequences`] and the decoder checks ([`check_decoder`], [`assert_every_kind`]);
//! and the long-stress mode of the stress tests ([`Stress`], [`long_stress`]):
//! `ANYWAIT_STRESS_SECS=<n>` makes each of them run rounds with random parameters for `n`
//! seconds instead of its one bounded round, with wider random pauses ([`XorShift::jitter`]).

// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::panic::{self, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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
    ///
    /// Under `ANYWAIT_STRESS_SECS` ([`long_stress`]) the pause is drawn more widely: no
    /// pause, a short spin as above, a long spin (up to 4096) or a `yield_now`, so that
    /// the threads also drift apart by whole time slices.
    pub fn jitter(&mut self) {
        let spins = if long_stress().is_some() {
            match self.below(8) {
                0 => 0,
                1 => {
                    std::thread::yield_now();
                    0
                }
                2 => self.below(4096),
                _ => self.below(64),
            }
        } else {
            self.below(64)
        };
        for _ in 0..spins {
            std::hint::spin_loop();
        }
    }

    /// A [`jitter`](Self::jitter) between two steps that only long stress adds: without
    /// `ANYWAIT_STRESS_SECS` it does nothing and draws nothing, so the default runs keep
    /// their bounded time and their random choices.
    pub fn pause(&mut self) {
        if long_stress().is_some() {
            self.jitter();
        }
    }

    /// A random value in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

/// `ANYWAIT_STRESS_SECS`, read once: how long each stress test runs in long-stress mode,
/// `None` (the default) for the bounded default runs.
pub fn long_stress() -> Option<Duration> {
    static SECS: OnceLock<Option<Duration>> = OnceLock::new();
    *SECS.get_or_init(|| {
        let secs = std::env::var("ANYWAIT_STRESS_SECS").ok()?;
        let secs: u64 = secs
            .trim()
            .parse()
            .expect("ANYWAIT_STRESS_SECS must be a whole number of seconds");
        Some(Duration::from_secs(secs))
    })
}

/// The rounds of a stress test. By default one round, with the [`seed`] of the test and
/// the test's bounded default parameters. Under `ANYWAIT_STRESS_SECS=<n>`, rounds until
/// `n` seconds have passed (at least one), each with its own seed, from which the test
/// draws the round's parameters (thread counts, sizes, orders) as well as its operations:
/// round 0 uses the test's seed itself, so `ANYWAIT_SEED=<round seed>` with
/// `ANYWAIT_STRESS_SECS` set replays a round's choices (the threads' timing is not
/// replayable). A round that panics prints its replay line.
pub struct Stress {
    test: &'static str,
    seed: u64,
    deadline: Option<Instant>,
    rounds: u64,
    start: Instant,
}

impl Stress {
    pub fn new(test: &'static str) -> Stress {
        let seed = seed(test);
        let start = Instant::now();
        let deadline = long_stress().map(|secs| {
            println!(
                "{test}: long stress, ANYWAIT_STRESS_SECS={}",
                secs.as_secs()
            );
            start + secs
        });
        Stress {
            test,
            seed,
            deadline,
            rounds: 0,
            start,
        }
    }

    /// Whether this is a long-stress run (`ANYWAIT_STRESS_SECS` set): the test then draws
    /// its parameters at random from each round's seed.
    pub fn is_long(&self) -> bool {
        self.deadline.is_some()
    }

    /// The next round, or `None` when the test is done.
    pub fn next_round(&mut self) -> Option<Round> {
        let more = match self.deadline {
            None => self.rounds == 0,
            Some(deadline) => self.rounds == 0 || Instant::now() < deadline,
        };
        if !more {
            println!(
                "{}: {} round(s) in {:?}",
                self.test,
                self.rounds,
                self.start.elapsed()
            );
            return None;
        }
        let index = self.rounds;
        self.rounds += 1;
        let seed = if index == 0 {
            self.seed
        } else {
            splitmix64(self.seed.wrapping_add(index))
        };
        Some(Round {
            test: self.test,
            index,
            seed,
            long: self.is_long(),
        })
    }
}

/// One round of a [`Stress`] run: its seed, and a guard that prints the replay line if
/// the round panics (dropped while unwinding).
pub struct Round {
    test: &'static str,
    pub index: u64,
    pub seed: u64,
    pub long: bool,
}

impl Drop for Round {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let secs = if self.long {
                " ANYWAIT_STRESS_SECS=1"
            } else {
                ""
            };
            eprintln!(
                "{}: round {} failed; replay its choices with ANYWAIT_SEED={}{secs}",
                self.test, self.index, self.seed
            );
        }
    }
}

/// SplitMix64's output function: the per-round seeds, far apart even for adjacent rounds.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
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
