//! Runs the reference model of `SharedWaitable` (`tests/model/shared.rs`) against anywait
//! on thousands of pseudo-random operation sequences. The seed is printed; set
//! `ANYWAIT_SEED` to replay one.

#[path = "model/shared.rs"]
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

/// The model's panicking callbacks panic on purpose (and anywait catches it): keep those
/// out of the output; every other panic is reported as usual.
fn quiet_callback_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info
                .payload()
                .downcast_ref::<model::CallbackPanic>()
                .is_none()
            {
                default(info);
            }
        }));
    });
}

#[test]
fn model_random_sequences() {
    quiet_callback_panics();
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
    // Most operations must reach a live handle, or the sequences test little.
    assert!(
        executed * 2 > total_ops,
        "only {executed} of {total_ops} operations found a live handle"
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
        "Clone",
        "Drop",
        "Complete",
        "DropCompleter",
        "OnComplete",
        "OnCompletePanic",
        "TryGet",
        "Poll",
        "WaitTimeoutZero",
        "IsComplete",
        "IsTerminated",
        "IsCanceled",
        "TakePanics",
        "Reset",
    ] {
        assert!(names.contains(name), "decoder never produces {name}");
    }
    assert_eq!(ops.len(), 256);
    assert_eq!(model::ops_from_bytes(&[0; 10_000]).len(), model::MAX_OPS);
}

/// Hand-written sequences for the documented semantics, so a regression names itself.
#[test]
fn model_documented_scenarios() {
    use model::Op::*;
    quiet_callback_panics();
    // Several clones pending, completion wakes them in registration order, then the
    // callbacks run in order; polling after Ready returns the value again.
    model::run(&[
        Clone(0),
        Clone(0),
        Poll(1),
        Poll(0),
        Poll(2),
        Poll(1),
        OnComplete(0),
        OnCompletePanic(1),
        OnComplete(2),
        IsTerminated(0),
        Complete(5),
        IsComplete(0),
        TryGet(1),
        Poll(0),
        Poll(0),
        IsTerminated(0),
        WaitTimeoutZero(2),
        TakePanics(2),
        TakePanics(0),
        OnCompletePanic(0),
        TakePanics(1),
        Clone(1),
        Poll(3),
    ]);
    // The last handle cancels: the hook runs once, complete hands the value back.
    model::run(&[
        Clone(0),
        Poll(1),
        Drop(0),
        IsCanceled,
        Drop(1),
        IsCanceled,
        Complete(3),
    ]);
    // Pending callbacks keep the operation alive, then get the value.
    model::run(&[OnComplete(0), Drop(0), IsCanceled, Complete(4)]);
    // ... or the abandonment.
    model::run(&[OnComplete(0), Poll(0), Drop(0), DropCompleter]);
    // Abandonment reaches every clone.
    model::run(&[
        Clone(0),
        Poll(0),
        DropCompleter,
        Poll(0),
        TryGet(1),
        WaitTimeoutZero(1),
    ]);
    // Synchronous completion and abandonment before `shared()`.
    model::run(&[Reset(2), TryGet(0), OnComplete(0), Poll(0), Drop(0)]);
    model::run(&[Reset(3), TryGet(0), Clone(0), Poll(1)]);
}
