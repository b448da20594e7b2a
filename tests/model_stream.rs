//! Runs the reference model (`tests/model/stream.rs`) against anywait's callback streams
//! on thousands of pseudo-random operation sequences. The seed is printed; set
//! `ANYWAIT_SEED` to replay one.

#[path = "model/stream.rs"]
mod model;

use std::time::Instant;

use anywait::Overflow;
use model::{Op, PolicyChoice, Setup};

/// xorshift64*: tiny, deterministic, good enough to draw operations.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn seed() -> u64 {
    match std::env::var("ANYWAIT_SEED") {
        Ok(s) => s.trim().parse().expect("ANYWAIT_SEED must be a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x5EED, |d| d.as_nanos() as u64),
    }
}

#[test]
fn model_random_sequences() {
    let seed = seed();
    println!("model_random_sequences: ANYWAIT_SEED={seed}");
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
        let (setup, ops) = model::ops_from_bytes(&bytes);
        total_ops += ops.len();
        match std::panic::catch_unwind(|| model::run(setup, &ops)) {
            Ok(n) => executed += n,
            Err(panic) => {
                eprintln!("ANYWAIT_SEED={seed}, case {case}, setup {setup:?}, ops: {ops:?}");
                std::panic::resume_unwind(panic);
            }
        }
    }
    println!(
        "{total_ops} operations ({executed} not skipped) in {:?}",
        start.elapsed()
    );
    // Most operations must reach a live handle, or the sequences test little.
    assert!(
        executed * 2 > total_ops,
        "only {executed} of {total_ops} operations found a live handle"
    );
}

/// Every operation kind and every policy appears in the decoders' tables, so the fuzzer
/// and the random test can reach all of them.
#[test]
fn decoder_reaches_every_operation_and_policy() {
    let mut names = std::collections::BTreeSet::new();
    for b in 0..=255u8 {
        // A second byte for the operations that take one.
        let (_, ops) = model::ops_from_bytes(&[0, b, 1]);
        let name = format!("{:?}", ops[0]);
        names.insert(name.split(['(', ' ']).next().unwrap().to_string());
    }
    for name in [
        "Push",
        "CloneFeeder",
        "DropFeeder",
        "Finish",
        "Fail",
        "TryNext",
        "NextTimeoutZero",
        "NextDeadlinePast",
        "NextBlocking",
        "DropStream",
        "Stats",
        "OnCloseFeeder",
        "OnCloseStream",
        "IsClosed",
        "IsTerminated",
        "Reset",
    ] {
        assert!(names.contains(name), "decoder never produces {name}");
    }
    let setups: Vec<Setup> = (0..=255u8).map(Setup::from_byte).collect();
    for overflow in [Overflow::Reject, Overflow::DropOldest, Overflow::DropNewest] {
        assert!(setups.iter().any(|s| matches!(
            s.policy,
            PolicyChoice::Bounded { overflow: o, capacity: 0 } if o == overflow
        )));
    }
    assert!(setups
        .iter()
        .any(|s| s.policy == PolicyChoice::Window { initial: 0 }));
    assert!(setups.iter().any(|s| s.policy == PolicyChoice::Unbounded));
    assert!(setups.iter().any(|s| !s.credit_hook));
    assert!(model::ops_from_bytes(&[0; 10_000]).1.len() == model::MAX_OPS);
    assert_eq!(model::ops_from_bytes(&[]).1, vec![]);
}

/// Hand-written sequences for the documented semantics, so a regression names itself.
#[test]
fn model_documented_scenarios() {
    use Op::*;
    let window = Setup {
        policy: PolicyChoice::Window { initial: 5 },
        credit_hook: true,
    };
    let push = |feeder, value| Push { feeder, value };
    // Window: overshoot by one chunk, then WindowFull; credits as items are taken.
    model::run(
        window,
        &[
            push(0, 4),
            push(0, 6),
            push(0, 1),
            Stats,
            TryNext { waker: 0 },
            push(0, 1),
            Finish(0),
            NextBlocking,
            NextBlocking,
            NextBlocking,
            IsTerminated,
        ],
    );
    // Pending poll woken by a push from a clone, then abandoned.
    for overflow in [Overflow::Reject, Overflow::DropOldest, Overflow::DropNewest] {
        let setup = Setup {
            policy: PolicyChoice::Bounded {
                capacity: 1,
                overflow,
            },
            credit_hook: true,
        };
        model::run(
            setup,
            &[
                TryNext { waker: 0 },
                CloneFeeder(0),
                push(1, 1),
                push(1, 2),
                push(0, 3),
                DropFeeder(0),
                DropFeeder(1),
                TryNext { waker: 1 },
                TryNext { waker: 1 },
                TryNext { waker: 1 },
                IsTerminated,
            ],
        );
    }
    // Close hooks: before the end they run on drop; added after the drop they run at once.
    let unbounded = Setup {
        policy: PolicyChoice::Unbounded,
        credit_hook: false,
    };
    model::run(
        unbounded,
        &[
            OnCloseFeeder(0),
            OnCloseStream,
            push(0, 1),
            TryNext { waker: 0 },
            DropStream,
            OnCloseFeeder(0),
            IsClosed(0),
            push(0, 2),
            Finish(0),
        ],
    );
    // After the end, hooks are released without running; fail after finish is refused.
    model::run(
        unbounded,
        &[
            OnCloseFeeder(0),
            CloneFeeder(0),
            Finish(0),
            Fail(1),
            push(1, 1),
            NextTimeoutZero,
            DropStream,
        ],
    );
    // A timed-out blocking receive keeps the task's waker: the push wakes the task.
    model::run(
        unbounded,
        &[
            TryNext { waker: 0 },
            NextTimeoutZero,
            push(0, 1),
            NextDeadlinePast,
            Reset(0x81),
            push(0, 1),
        ],
    );
}
