//! Runs the reference model (`tests/model/oneshot.rs`) against anywait on thousands of
//! pseudo-random operation sequences. The seed is printed; set `ANYWAIT_SEED` to replay one.

#[path = "model/oneshot.rs"]
mod model;

mod support;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use support::counting_waker;

#[test]
fn model_random_sequences() {
    // Most operations must reach a live handle, or the sequences test little.
    support::random_sequences("model_random_sequences", model::ops_from_bytes, |ops| {
        model::run(ops)
    })
    .assert_executed_over(1, 4, "a live handle");
}

/// Every operation kind appears in the decoder's table, so the fuzzer and the random test
/// can reach all of them.
#[test]
fn decoder_reaches_every_operation() {
    support::check_decoder(
        model::ops_from_bytes,
        model::MAX_OPS,
        &[
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
        ],
    );
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

/// The `Future` contract: once `poll` returned `Pending`, the waker it was given must be
/// woken when the future can make progress, unless the future is polled again. A timed
/// blocking wait that times out in between is not a poll, so it must leave that waker
/// registered (a regression test: `Rx::wait` once dropped it).
#[test]
fn wait_timeout_keeps_task_waker() {
    let (completer, mut future) = anywait::waitable::<u32>();
    let (counter, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    assert_eq!(Pin::new(&mut future).poll(&mut cx), Poll::Pending);
    assert_eq!(
        future.wait_timeout(Duration::ZERO),
        Err(anywait::WaitError::Timeout)
    );
    completer.complete(7).unwrap();
    assert_eq!(
        counter.wakes(),
        1,
        "the task that polled the future was never woken"
    );
    assert_eq!(Pin::new(&mut future).poll(&mut cx), Poll::Ready(Ok(7)));
}
