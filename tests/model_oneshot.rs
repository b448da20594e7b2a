//! Runs the reference model (`tests/model/oneshot.rs`) against anywait on thousands of
//! pseudo-random operation sequences. The seed is printed; set `ANYWAIT_SEED` to replay one.

#[path = "model/oneshot.rs"]
mod model;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

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
    // Most operations must reach a live handle, or the sequences test little.
    assert!(
        executed * 4 > total_ops,
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
        "Complete",
        "DropCompleter",
        "DropFuture",
        "Poll",
        "TryTake",
        "WaitTimeoutZero",
        "WaitDeadlinePast",
        "WaitBlocking",
        "OnCancel",
        "OnComplete",
        "IsComplete",
        "IsCanceled",
        "IsTerminated",
        "PollCanceled",
        "CanceledOnce",
        "RawRoundTrip",
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
    let p = 0;
    // Completion, then poll / re-poll after Ready.
    model::run(&[
        Poll {
            pair: p,
            fresh: true,
        },
        IsTerminated(p),
        Complete(p),
        IsComplete(p),
        IsTerminated(p),
        Poll {
            pair: p,
            fresh: true,
        },
        IsTerminated(p),
        Poll {
            pair: p,
            fresh: true,
        },
        TryTake(p),
        WaitTimeoutZero(p),
    ]);
    // Abandonment.
    model::run(&[
        Poll {
            pair: p,
            fresh: true,
        },
        DropCompleter(p),
        TryTake(p),
        TryTake(p),
    ]);
    // Cancellation: hooks, complete hands back, canceled waker woken.
    model::run(&[
        OnCancel(p),
        PollCanceled {
            pair: p,
            fresh: true,
        },
        OnCancel(p),
        DropFuture(p),
        IsCanceled(p),
        PollCanceled {
            pair: p,
            fresh: true,
        },
        CanceledOnce(p),
        Complete(p),
    ]);
    // on_complete before and after completion; hooks discarded.
    model::run(&[OnCancel(p), OnComplete(p), IsCanceled(p), Complete(p)]);
    model::run(&[Complete(p), OnCancel(p), OnComplete(p)]);
    model::run(&[OnComplete(p), DropCompleter(p)]);
    // Synchronous completion inside from_callback.
    model::run(&[Reset { pair: p, how: 2 }, IsComplete(p), WaitBlocking(p)]);
    model::run(&[Reset { pair: p, how: 4 }, WaitBlocking(p)]);
}

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The `Future` contract: once `poll` returned `Pending`, the waker it was given must be
/// woken when the future can make progress, unless the future is polled again. A timed
/// blocking wait that times out in between is not a poll, so it must leave that waker
/// registered (a regression test: `Rx::wait` once dropped it).
#[test]
fn wait_timeout_keeps_task_waker() {
    let (completer, mut future) = anywait::waitable::<u32>();
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    assert_eq!(Pin::new(&mut future).poll(&mut cx), Poll::Pending);
    assert_eq!(
        future.wait_timeout(Duration::ZERO),
        Err(anywait::WaitError::Timeout)
    );
    completer.complete(7).unwrap();
    assert_eq!(
        counter.0.load(Ordering::SeqCst),
        1,
        "the task that polled the future was never woken"
    );
    assert_eq!(Pin::new(&mut future).poll(&mut cx), Poll::Ready(Ok(7)));
}
