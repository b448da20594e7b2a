//! Step 3: the CRT's own `aws_future_*` bridged to anywait futures.

mod support;

use anywait_aws_crt::crt_future::{bridge, Owned};
use anywait_aws_crt::{sys, Allocator, CrtError};
use support::bounded;

/// A new `aws_future_void`: one reference for the bridge, one (`Owned`) for the thread
/// that completes it.
fn void_future() -> (*mut sys::aws_future_void, Owned<sys::aws_future_void>) {
    anywait_aws_crt::init();
    // SAFETY: a new future with one reference (returned), on the static default allocator.
    let future = unsafe { sys::aws_future_void_new(Allocator::default_allocator().as_ptr()) };
    assert!(!future.is_null());
    // SAFETY: the future is alive (our reference).
    let producer = unsafe { Owned::acquire(future) };
    (future, producer)
}

fn complete_from_another_thread(producer: Owned<sys::aws_future_void>, error: i32) {
    std::thread::spawn(move || {
        producer.with(|future| {
            // SAFETY: `producer` holds a reference, so the future is alive.
            unsafe {
                if error == 0 {
                    sys::aws_future_void_set_result(future)
                } else {
                    sys::aws_future_void_set_error(future, error)
                }
            }
        })
    });
}

#[test]
fn void_future_completed_on_another_thread_under_tokio_multi_thread() {
    let runtime = support::tokio_runtime();
    let (future, producer) = void_future();
    // SAFETY: our reference and the one callback registration go to the bridge.
    let bridged = unsafe { bridge(future) };
    complete_from_another_thread(producer, 0);
    runtime.block_on(async { bounded(tokio::spawn(bridged)).await.unwrap().unwrap() });
}

#[test]
fn void_future_completed_on_another_thread_under_smol() {
    let (future, producer) = void_future();
    // SAFETY: as above.
    let bridged = unsafe { bridge(future) };
    complete_from_another_thread(producer, 0);
    smol::block_on(bounded(bridged)).unwrap();
}

#[test]
fn void_future_completed_on_another_thread_blockingly() {
    let (future, producer) = void_future();
    // SAFETY: as above.
    let mut bridged = unsafe { bridge(future) };
    complete_from_another_thread(producer, 0);
    bridged.wait_timeout(support::LIMIT).unwrap();
}

#[test]
fn an_error_reaches_the_awaiting_side() {
    let (future, producer) = void_future();
    // SAFETY: as above.
    let bridged = unsafe { bridge(future) };
    let code = sys::aws_common_error::AWS_ERROR_INVALID_ARGUMENT as i32;
    complete_from_another_thread(producer, code);
    assert_eq!(
        pollster::block_on(bounded(bridged)),
        Err(CrtError::Crt(code))
    );
}

#[test]
fn an_already_done_future_calls_back_synchronously() {
    let (future, producer) = void_future();
    // SAFETY: the producer's reference keeps the future alive.
    producer.with(|f| unsafe { sys::aws_future_void_set_result(f) });
    // SAFETY: as above: the CRT runs the callback inside register_callback.
    let mut bridged = unsafe { bridge(future) };
    assert_eq!(bridged.try_take(), Some(Ok(())));
}

#[test]
fn bool_and_size_results_are_bridged() {
    anywait_aws_crt::init();
    let allocator = Allocator::default_allocator().as_ptr();
    // SAFETY: new futures, one reference each, handed to the bridges; the producers hold
    // the second references.
    let (flag, size) = unsafe {
        (
            sys::aws_future_bool_new(allocator),
            sys::aws_future_size_new(allocator),
        )
    };
    // SAFETY: both futures are alive (our references).
    let (flag_producer, size_producer) = unsafe { (Owned::acquire(flag), Owned::acquire(size)) };
    // SAFETY: as above.
    let (flag_bridged, size_bridged) = unsafe { (bridge(flag), bridge(size)) };
    std::thread::spawn(move || {
        // SAFETY: the producers' references keep the futures alive.
        flag_producer.with(|f| unsafe { sys::aws_future_bool_set_result(f, true) });
        // SAFETY: as above.
        size_producer.with(|f| unsafe { sys::aws_future_size_set_result(f, 4096) });
    });
    smol::block_on(async {
        assert_eq!(bounded(flag_bridged).await, Ok(true));
        assert_eq!(bounded(size_bridged).await, Ok(4096));
    });
}

#[test]
fn dropping_the_bridged_future_first_is_harmless() {
    let (future, producer) = void_future();
    // SAFETY: as above.
    let bridged = unsafe { bridge(future) };
    drop(bridged);
    // The completion comes later and has no reader; the bridge still releases its
    // reference (the producer's is released with it).
    // SAFETY: the producer's reference keeps the future alive.
    producer.with(|f| unsafe { sys::aws_future_void_set_result(f) });
    drop(producer);
}
