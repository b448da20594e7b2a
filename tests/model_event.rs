//! Runs the reference model of `AsyncEvent` (`tests/model/event.rs`) against anywait on
//! thousands of pseudo-random operation sequences. The seed is printed; set
//! `ANYWAIT_SEED` to replay one.

#[path = "model/event.rs"]
mod model;

use std::time::Instant;

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
        let ops = model::ops_from_bytes(&bytes);
        total_ops += ops.len();
        match std::panic::catch_unwind(|| model::run(&ops)) {
            Ok(n) => executed += n,
            Err(panic) => {
                eprintln!("ANYWAIT_SEED={seed}, case {case}, ops: {ops:?}");
                std::panic::resume_unwind(panic);
            }
        }
    }
    println!(
        "{total_ops} operations ({executed} not skipped) in {:?}",
        start.elapsed()
    );
    // Most operations must find a live wait (or a free slot), or the sequences test little.
    assert!(
        executed * 4 > total_ops * 3,
        "only {executed} of {total_ops} operations found a live wait"
    );
}

/// Every operation kind appears in the decoder's table, so the fuzzer and the random test
/// can reach all of them.
#[test]
fn decoder_reaches_every_operation() {
    let all: Vec<u8> = (0..=255).collect();
    let ops = model::ops_from_bytes(&all);
    let names: std::collections::BTreeSet<String> = ops
        .iter()
        .map(|op| {
            format!("{op:?}")
                .split(['(', ' '])
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    for name in [
        "Set",
        "Clear",
        "IsSet",
        "NewWait",
        "NewWaitPolled",
        "Poll",
        "DropWait",
        "IsTerminated",
        "WaitTimeoutZero",
        "WaitDeadlinePast",
        "WaitBlocking",
        "Crowd",
        "PollCrowd",
        "DropCrowd",
        "DropAll",
    ] {
        assert!(names.contains(name), "decoder never produces {name}");
    }
    for how in 0..4 {
        assert!(
            ops.contains(&model::Op::Set(how)),
            "decoder never sets via {how}"
        );
    }
    for waker in [
        model::WakerChoice::Fresh,
        model::WakerChoice::Same,
        model::WakerChoice::Task,
    ] {
        assert!(
            ops.iter()
                .any(|op| matches!(op, model::Op::Poll { waker: w, .. } if *w == waker)),
            "decoder never polls with {waker:?}"
        );
    }
    assert_eq!(ops.len(), 256);
    assert_eq!(model::ops_from_bytes(&[0; 10_000]).len(), model::MAX_OPS);
}

/// Hand-written sequences for the documented semantics, so a regression names itself.
#[test]
fn model_documented_scenarios() {
    use model::Op::*;
    use model::WakerChoice::*;
    let poll = |wait, waker| Poll { wait, waker };
    // A waiter polled while unset is woken exactly once by set(); later polls are Ready.
    model::run(&[
        NewWait { owned: true },
        NewWait { owned: false },
        poll(0, Fresh),
        poll(1, Task),
        poll(0, Same),
        IsSet,
        WaitTimeoutZero,
        Set(0),
        IsSet,
        IsTerminated(0),
        poll(0, Fresh),
        poll(1, Fresh),
        IsTerminated(1),
        Set(1),
        WaitBlocking,
        WaitDeadlinePast,
    ]);
    // A set() after the wait was created releases it even if clear() ran before it was
    // polled (owned and borrowed, polled before or not).
    model::run(&[
        NewWait { owned: true },
        NewWaitPolled {
            owned: false,
            task: false,
        },
        Set(2),
        Clear,
        IsSet,
        WaitTimeoutZero,
        poll(0, Fresh),
        poll(1, Same),
    ]);
    // A wait created after clear() waits for the next set().
    model::run(&[
        Set(0),
        Clear,
        NewWait { owned: true },
        poll(0, Fresh),
        Set(3),
        poll(0, Same),
    ]);
    // A wait created while set but first polled after clear() (with no set() in between)
    // is not released: set() on a set event is a no-op and does not count.
    model::run(&[
        Set(0),
        NewWait { owned: false },
        Set(0),
        Clear,
        poll(0, Fresh),
        IsTerminated(0),
        Set(0),
        poll(0, Same),
    ]);
    // A dropped waiter is never woken, and the others still are, in queue order; a
    // re-poll with another waker keeps the queue position and releases the old waker.
    model::run(&[
        NewWaitPolled {
            owned: true,
            task: false,
        },
        NewWaitPolled {
            owned: false,
            task: true,
        },
        NewWaitPolled {
            owned: true,
            task: false,
        },
        poll(0, Fresh),
        DropWait(1),
        Set(0),
    ]);
    // Two crowds exceed the wake batch; dropped crowds wake nobody.
    model::run(&[
        Crowd { mixed: true },
        Crowd { mixed: false },
        Crowd { mixed: true },
        DropCrowd { reverse: true },
        Crowd { mixed: false },
        Crowd { mixed: true },
        PollCrowd,
        Set(0),
        PollCrowd,
        Clear,
        Crowd { mixed: false },
        DropAll { reverse: true },
    ]);
}
