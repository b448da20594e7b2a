//! Runs the reference model of `SharedWaitable` (`tests/model/shared.rs`) against anywait
//! on thousands of pseudo-random operation sequences. The seed is printed; set
//! `ANYWAIT_SEED` to replay one.

#[path = "model/shared.rs"]
mod model;

mod support;

/// The model's panicking callbacks panic on purpose (and anywait catches it): keep those
/// out of the output; every other panic is reported as usual.
fn quiet_callback_panics() {
    support::quiet_panics::<model::CallbackPanic>();
}

#[test]
fn model_random_sequences() {
    quiet_callback_panics();
    // Most operations must reach a live handle, or the sequences test little.
    support::random_sequences("model_random_sequences", model::ops_from_bytes, |ops| {
        model::run(ops)
    })
    .assert_executed_over(1, 2, "a live handle");
}

/// Every operation kind appears in the decoder's table, so the fuzzer and the random test
/// can reach all of them.
#[test]
fn decoder_reaches_every_operation() {
    support::check_decoder(
        model::ops_from_bytes,
        model::MAX_OPS,
        &[
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
        ],
    );
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
