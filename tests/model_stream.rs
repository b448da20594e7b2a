//! Runs the reference model (`tests/model/stream.rs`) against anywait's callback streams
//! on thousands of pseudo-random operation sequences. The seed is printed; set
//! `ANYWAIT_SEED` to replay one.

#[path = "model/stream.rs"]
mod model;

mod support;

use anywait::Overflow;
use model::{Op, PolicyChoice, Setup};

#[test]
fn model_random_sequences() {
    // Most operations must reach a live handle, or the sequences test little.
    support::random_sequences(
        "model_random_sequences",
        model::ops_from_bytes,
        |(setup, ops)| model::run(*setup, ops),
    )
    .assert_executed_over(1, 2, "a live handle");
}

/// Every operation kind and every policy appears in the decoders' tables, so the fuzzer
/// and the random test can reach all of them.
#[test]
fn decoder_reaches_every_operation_and_policy() {
    // Each operation from its first byte (a second byte for the operations that take one).
    let firsts = (0..=255u8).map(|b| model::ops_from_bytes(&[0, b, 1]).1[0]);
    support::assert_every_kind(
        firsts,
        &[
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
        ],
    );
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
