//! Runs the reference model of `AsyncEvent` (`tests/model/event.rs`) against anywait on
//! thousands of pseudo-random operation sequences. The seed is printed; set
//! `ANYWAIT_SEED` to replay one.

#[path = "model/event.rs"]
mod model;

mod support;

#[test]
fn model_random_sequences() {
    // Most operations must find a live wait (or a free slot), or the sequences test little.
    support::random_sequences("model_random_sequences", model::ops_from_bytes, |ops| {
        model::run(ops)
    })
    .assert_executed_over(3, 4, "a live wait");
}

/// Every operation kind appears in the decoder's table, so the fuzzer and the random test
/// can reach all of them.
#[test]
fn decoder_reaches_every_operation() {
    let ops = support::check_decoder(
        model::ops_from_bytes,
        model::MAX_OPS,
        &[
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
        ],
    );
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
