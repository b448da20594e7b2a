//! The misbehaving C test SDK wrapped with anywait's FFI kit, in safe handle mode (the
//! registries and trampolines of `common::registries!`) and raw mode (`into_raw` /
//! `from_raw`), under tokio (multi-thread and current-thread), smol and blocking code.
//!
//! For every misbehaviour: no hang (every await and wait is bounded by `GUARD`; events are
//! ordered by the SDK's own guarantees, `tsdk_shutdown` joining its threads, or latched
//! events, never by sleeping), duplicate callbacks, late callbacks after a cancel and
//! callbacks after `abandon_all` are refused and counted exactly (the future keeps the
//! first value), cancellation reaches the C side, payloads are copied before the SDK
//! scrubs them, shutdown abandons what is outstanding, and panics stay inside the
//! callback.
//!
//! Raw mode trusts the SDK to call back exactly once, so it is only run against the modes
//! that do (ASYNC, SYNC, NEVER, LATE_AFTER_CANCEL, ASYNC_UNDER_LOCK, FAIL_START, streams):
//! TWICE or CONCURRENT would be a double `from_raw` (undefined behaviour) and
//! NEVER_EVEN_AT_SHUTDOWN a leak. Those are what the safe handle mode is for.

mod common;

use std::ffi::{c_int, c_void};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use anywait::ffi::{
    catch_callback, in_callback_scope, CallbackError, CompletionHandle, Completions, HandleError,
    PanicPolicy, Registry, Setters,
};
use anywait::{try_waitable, AsyncEvent, Completer, EventSetter, StreamError, WouldDeadlock};
use anywait_testsdk::*;
use futures::{FutureExt, StreamExt};

use common::*;

/// `len` bytes of a pattern that differs from the SDK's 0xDD poison.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1)
        .map(|b| if b == 0xDD { 0x5A } else { b })
        .collect()
}

/// `after - before`, component-wise.
fn delta(before: (usize, usize, usize), after: (usize, usize, usize)) -> (usize, usize, usize) {
    (after.0 - before.0, after.1 - before.1, after.2 - before.2)
}

// ---- safe handle mode: one-shot ops ---------------------------------------------------

/// TSDK_ASYNC and TSDK_ASYNC_UNDER_LOCK: one callback from an SDK thread (under the global
/// lock for the latter) completes the future under every executor and for blocking
/// waiters. Dropping a completed future is no cancellation.
#[test]
fn safe_async_and_under_lock_complete_everywhere() {
    let regs = registries!();
    for exec in EXECS {
        let safe = Safe::new(regs);
        let s = safe.clone();
        run(exec, async move {
            for mode in [TSDK_ASYNC, TSDK_ASYNC_UNDER_LOCK] {
                let ok = s.start_op(mode, 0);
                let failed = s.start_op(mode, 42);
                assert_eq!((ok.rc, failed.rc), (TSDK_OK, TSDK_OK));
                assert_eq!(guard(ok.future).await, Ok(()));
                assert_eq!(guard(failed.future).await, Err(CallbackError::Failed(42)));
            }
        });
        safe.shutdown();
        assert_eq!(safe.sdk.callbacks_made(), 4, "{exec:?}");
        assert_eq!(
            safe.sdk.cancels_received(),
            0,
            "{exec:?}: nothing was canceled"
        );
    }

    let safe = Safe::new(regs);
    for mode in [TSDK_ASYNC, TSDK_ASYNC_UNDER_LOCK] {
        let mut ok = safe.start_op(mode, 0);
        let mut failed = safe.start_op(mode, 7);
        assert_eq!(ok.future.wait_timeout(GUARD), Ok(()));
        assert_eq!(
            failed.future.wait_timeout(GUARD),
            Err(CallbackError::Failed(7))
        );
    }
    safe.shutdown();
    assert_eq!(safe.sdk.cancels_received(), 0);
    assert_eq!(regs.refused(), (0, 0, 0));
    assert_eq!(regs.outstanding(), (0, 0, 0));
}

/// TSDK_SYNC: the callback runs inside the start call, so the future is complete when
/// start returns — before any poll or wait (`try_take`, and `now_or_never` under the
/// executors: ready at the first poll).
#[test]
fn safe_sync_future_is_ready_when_start_returns() {
    let regs = registries!();
    let payload = pattern(4096, 3);

    let safe = Safe::new(regs);
    let mut op = safe.start_op(TSDK_SYNC, 0);
    assert_eq!(
        safe.sdk.callbacks_made(),
        1,
        "called back inside the start call"
    );
    assert!(op.future.is_complete());
    assert_eq!(op.future.try_take(), Some(Ok(())));
    let mut failed = safe.start_op(TSDK_SYNC, 9);
    assert_eq!(
        failed.future.try_take(),
        Some(Err(CallbackError::Failed(9)))
    );
    let mut read = safe.start_read(TSDK_SYNC, 0, &payload);
    assert_eq!(read.future.try_take(), Some(Ok(payload.clone())));
    assert_eq!(regs.outstanding(), (0, 0, 0));
    safe.shutdown();

    for exec in EXECS {
        let safe = Safe::new(regs);
        let (s, payload) = (safe.clone(), payload.clone());
        run(exec, async move {
            let op = s.start_op(TSDK_SYNC, 0);
            let read = s.start_read(TSDK_SYNC, 0, &payload);
            assert_eq!(op.future.now_or_never(), Some(Ok(())));
            assert_eq!(read.future.now_or_never(), Some(Ok(payload)));
        });
        safe.shutdown();
        assert_eq!(safe.sdk.cancels_received(), 0);
    }
    assert_eq!(regs.refused(), (0, 0, 0));
    assert_eq!(regs.outstanding(), (0, 0, 0));
}

/// TSDK_TWICE: the future gets the first callback's value; the second (TSDK_ERR_DUPLICATE)
/// is refused and counted, once per op.
#[test]
fn safe_twice_keeps_the_first_value_and_refuses_the_duplicate() {
    let regs = registries!();
    let payload = pattern(1000, 5);
    for exec in EXECS {
        let safe = Safe::new(regs);
        let before = regs.refused();
        let (s, payload) = (safe.clone(), payload.clone());
        run(exec, async move {
            let ok = s.start_op(TSDK_TWICE, 0);
            let failed = s.start_op(TSDK_TWICE, 11);
            let read = s.start_read(TSDK_TWICE, 0, &payload);
            assert_eq!(guard(ok.future).await, Ok(()));
            assert_eq!(guard(failed.future).await, Err(CallbackError::Failed(11)));
            assert_eq!(guard(read.future).await, Ok(payload));
        });
        safe.shutdown(); // joins the SDK threads: every duplicate has been delivered
        assert_eq!(safe.sdk.callbacks_made(), 6, "{exec:?}");
        assert_eq!(delta(before, regs.refused()), (2, 1, 0), "{exec:?}");
        assert_eq!(regs.outstanding(), (0, 0, 0));
    }

    let safe = Safe::new(regs);
    let before = regs.refused();
    let mut op = safe.start_op(TSDK_TWICE, 0);
    let mut read = safe.start_read(TSDK_TWICE, 0, &payload);
    assert_eq!(op.future.wait_timeout(GUARD), Ok(()));
    assert_eq!(read.future.wait_timeout(GUARD), Ok(payload));
    safe.shutdown();
    assert_eq!(delta(before, regs.refused()), (1, 1, 0));
    assert_eq!(regs.outstanding(), (0, 0, 0));
}

/// Duplicates never reach another operation, even when the registry reuses slots while
/// they are in flight: 40 TWICE ops (whose duplicates carry TSDK_ERR_DUPLICATE) are
/// interleaved with 40 ASYNC ops, each with its own result code, in one registry.
#[test]
fn safe_duplicates_never_complete_another_op() {
    let regs = registries!();
    for exec in EXECS {
        let safe = Safe::new(regs);
        let before = regs.refused();
        let s = safe.clone();
        run(exec, async move {
            let mut ops = Vec::new();
            for i in 0..40 {
                ops.push((100 + i, s.start_op(TSDK_TWICE, 100 + i).future));
                ops.push((200 + i, s.start_op(TSDK_ASYNC, 200 + i).future));
            }
            for (code, future) in ops {
                assert_eq!(guard(future).await, Err(CallbackError::Failed(code)));
            }
            // Slots freed by the completions are reused while duplicates are in flight.
            for i in 0..40 {
                let op = s.start_op(TSDK_ASYNC, 300 + i);
                assert_eq!(guard(op.future).await, Err(CallbackError::Failed(300 + i)));
            }
        });
        safe.shutdown();
        assert_eq!(delta(before, regs.refused()), (40, 0, 0), "{exec:?}");
        assert_eq!(regs.outstanding(), (0, 0, 0));
    }
}

/// TSDK_CONCURRENT: n threads call back at once through the trampoline; exactly one is
/// accepted (whichever reaches the registry first: the result code or a duplicate's), the
/// other n - 1 are refused.
#[test]
fn safe_concurrent_accepts_one_callback_and_refuses_the_rest() {
    let regs = registries!();
    for exec in EXECS {
        let safe = Safe::new(regs);
        let before = regs.refused();
        let s = safe.clone();
        let expected_refusals = run(exec, async move {
            let mut refusals = 0;
            for n in [2u32, 4, 8] {
                s.sdk.set_concurrency(n);
                for _ in 0..5 {
                    let op = s.start_op(TSDK_CONCURRENT, 0);
                    let result = guard(op.future).await;
                    assert!(
                        matches!(
                            result,
                            Ok(()) | Err(CallbackError::Failed(TSDK_ERR_DUPLICATE))
                        ),
                        "{result:?}"
                    );
                    refusals += n as usize - 1;
                }
            }
            refusals
        });
        safe.shutdown();
        assert_eq!(
            delta(before, regs.refused()),
            (expected_refusals, 0, 0),
            "{exec:?}"
        );
        assert_eq!(regs.outstanding(), (0, 0, 0));
    }

    let safe = Safe::new(regs);
    let before = regs.refused();
    safe.sdk.set_concurrency(6);
    let mut op = safe.start_op(TSDK_CONCURRENT, 0);
    let mut read = safe.start_read(TSDK_CONCURRENT, 0, b"same bytes for all");
    let result = op.future.wait_timeout(GUARD);
    assert!(
        matches!(
            result,
            Ok(()) | Err(CallbackError::Failed(TSDK_ERR_DUPLICATE))
        ),
        "{result:?}"
    );
    // Every call carries the payload, so whichever is accepted, the bytes are right
    // (unless a duplicate's error code won).
    let read = read.future.wait_timeout(GUARD);
    assert!(
        read == Ok(b"same bytes for all".to_vec())
            || read == Err(CallbackError::Failed(TSDK_ERR_DUPLICATE)),
        "{read:?}"
    );
    safe.shutdown();
    assert_eq!(delta(before, regs.refused()), (5, 5, 0));
    assert_eq!(regs.outstanding(), (0, 0, 0));
}

/// TSDK_CONCURRENT with a hand-written callback that logs what the registry said to each
/// call: exactly one call per op is accepted (whichever reached it first), and its value is
/// what the future got; the others are refused as duplicates (or as stale, once the op's
/// slot was reused by the next op).
#[test]
fn safe_concurrent_future_gets_the_accepted_callbacks_value() {
    type Log = Vec<(CompletionHandle, c_int, Result<(), HandleError>)>;
    static OPS: Completions<c_int> = Completions::new();
    static LOG: Mutex<Log> = Mutex::new(Vec::new());

    extern "C" fn on_done(user_data: *mut c_void, code: c_int) {
        let handle = CompletionHandle::from_user_data(user_data);
        let _ = catch_callback(PanicPolicy::Abort, || {
            let outcome = OPS.complete(handle, Ok(code));
            LOG.lock().unwrap().push((handle, code, outcome));
        });
    }

    const N: u32 = 8;
    const ROUNDS: usize = 10;
    for exec in EXECS {
        let sdk = new_sdk();
        sdk.set_concurrency(N);
        let s = Arc::clone(&sdk);
        let mut values = run(exec, async move {
            let mut values = Vec::new();
            for _ in 0..ROUNDS {
                let (handle, future) = OPS.issue();
                // SAFETY: live SDK; `on_done` treats `user_data` as a handle of OPS.
                let rc = unsafe {
                    tsdk_start_op(
                        s.as_ptr(),
                        TSDK_CONCURRENT,
                        77,
                        Some(on_done),
                        handle.into_user_data(),
                        std::ptr::null_mut(),
                    )
                };
                assert_eq!(rc, TSDK_OK);
                let value = guard(future).await.expect("a value, not an error");
                values.push((handle, value));
            }
            values
        });
        sdk.shutdown(); // every callback has returned
        let log = std::mem::take(&mut *LOG.lock().unwrap());
        assert_eq!(log.len(), ROUNDS * N as usize, "{exec:?}");
        let mut accepted: Vec<(CompletionHandle, c_int)> = log
            .iter()
            .filter(|(_, _, outcome)| outcome.is_ok())
            .map(|&(handle, code, _)| (handle, code))
            .collect();
        accepted.sort_by_key(|(handle, _)| handle.into_raw());
        values.sort_by_key(|(handle, _)| handle.into_raw());
        assert_eq!(accepted, values, "{exec:?}");
        assert!(log
            .iter()
            .all(|(_, code, outcome)| [77, TSDK_ERR_DUPLICATE].contains(code)
                && matches!(
                    outcome,
                    Ok(()) | Err(HandleError::Duplicate) | Err(HandleError::Stale)
                )));
        assert_eq!(OPS.outstanding(), 0);
    }
    assert_eq!(OPS.refused(), EXECS.len() * ROUNDS * (N as usize - 1));
}

/// TSDK_NEVER: nothing calls back until tsdk_shutdown, which delivers TSDK_ERR_SHUTDOWN
/// through the callback; a waiter (task or thread) is released by it.
#[test]
fn safe_never_gets_the_shutdown_error_through_the_callback() {
    let regs = registries!();
    for exec in EXECS {
        let safe = Safe::new(regs);
        let s = safe.clone();
        let shutdown = run(exec, async move {
            let op = s.start_op(TSDK_NEVER, 0);
            let read = s.start_read(TSDK_NEVER, 0, b"never delivered");
            assert!(!op.future.is_complete());
            let shutdown = s.shutdown_in_thread();
            assert_eq!(
                guard(op.future).await,
                Err(CallbackError::Failed(TSDK_ERR_SHUTDOWN))
            );
            assert_eq!(
                guard(read.future).await,
                Err(CallbackError::Failed(TSDK_ERR_SHUTDOWN))
            );
            shutdown
        });
        shutdown.join().unwrap();
        assert_eq!(safe.sdk.ops_outstanding(), 0);
        assert_eq!(safe.sdk.cancels_received(), 0);
    }

    let safe = Safe::new(regs);
    let mut op = safe.start_op(TSDK_NEVER, 0);
    let shutdown = safe.shutdown_in_thread();
    assert_eq!(
        op.future.wait_timeout(GUARD),
        Err(CallbackError::Failed(TSDK_ERR_SHUTDOWN))
    );
    shutdown.join().unwrap();
    assert_eq!(regs.refused(), (0, 0, 0));
    assert_eq!(regs.outstanding(), (0, 0, 0));
}

/// The binding's shutdown: tsdk_shutdown (NEVER ops get TSDK_ERR_SHUTDOWN), then
/// `abandon_all` for what the SDK will never call back: TSDK_NEVER_EVEN_AT_SHUTDOWN ops
/// resolve with `CallbackError::Abandoned`.
#[test]
fn safe_shutdown_then_abandon_all_resolves_never_even_at_shutdown() {
    let regs = registries!();
    for exec in EXECS {
        let safe = Safe::new(regs);
        let s = safe.clone();
        let binding_shutdown = run(exec, async move {
            let forever = s.start_op(TSDK_NEVER_EVEN_AT_SHUTDOWN, 0);
            let forever_read = s.start_read(TSDK_NEVER_EVEN_AT_SHUTDOWN, 0, b"lost");
            let never = s.start_op(TSDK_NEVER, 0);
            let (sdk, ops, reads) = (Arc::clone(&s.sdk), s.regs.ops, s.regs.reads);
            let binding_shutdown = std::thread::spawn(move || {
                sdk.shutdown();
                (ops.abandon_all(), reads.abandon_all())
            });
            assert_eq!(
                guard(never.future).await,
                Err(CallbackError::Failed(TSDK_ERR_SHUTDOWN))
            );
            assert_eq!(guard(forever.future).await, Err(CallbackError::Abandoned));
            assert_eq!(
                guard(forever_read.future).await,
                Err(CallbackError::Abandoned)
            );
            binding_shutdown
        });
        assert_eq!(binding_shutdown.join().unwrap(), (1, 1), "{exec:?}");
        assert_eq!(safe.sdk.ops_outstanding(), 2, "the SDK never finishes them");
        assert_eq!(regs.outstanding(), (0, 0, 0));
    }

    let safe = Safe::new(regs);
    let mut forever = safe.start_op(TSDK_NEVER_EVEN_AT_SHUTDOWN, 0);
    safe.shutdown();
    assert_eq!(
        forever.future.try_take(),
        None,
        "still pending after tsdk_shutdown"
    );
    assert_eq!(regs.outstanding(), (1, 0, 0));
    assert_eq!(regs.ops.abandon_all(), 1);
    assert_eq!(
        forever.future.wait_timeout(GUARD),
        Err(CallbackError::Abandoned)
    );
    assert_eq!(regs.refused(), (0, 0, 0));
    assert_eq!(regs.outstanding(), (0, 0, 0));
}

/// `abandon_all` before tsdk_shutdown: everything outstanding resolves as abandoned at
/// once, and each callback the SDK makes afterwards (the shutdown callbacks of a NEVER op,
/// an uncanceled LATE_AFTER_CANCEL op, a NEVER payload op and a stalled stream's final
/// callback) is refused and counted exactly.
#[test]
fn safe_callbacks_after_abandon_all_are_refused() {
    let regs = registries!();
    for exec in EXECS {
        let safe = Safe::new(regs);
        let before = regs.refused();
        let s = safe.clone();
        run(exec, async move {
            let never = s.start_op(TSDK_NEVER, 0);
            let late = s.start_op(TSDK_LATE_AFTER_CANCEL, 0);
            let read = s.start_read(TSDK_NEVER, 0, b"abc");
            // The SDK's window (1 byte) is smaller than a chunk: the stream stalls before
            // its first chunk, so its only callback will be the final one.
            let mut body = s
                .start_stream_with(window_policy(64), TSDK_ASYNC, 4, 8, 1)
                .future;
            assert_eq!(s.regs.ops.abandon_all(), 2);
            assert_eq!(s.regs.reads.abandon_all(), 1);
            assert_eq!(s.regs.bodies.abandon_all(), 1);
            assert_eq!(
                never.future.now_or_never(),
                Some(Err(CallbackError::Abandoned))
            );
            assert_eq!(
                late.future.now_or_never(),
                Some(Err(CallbackError::Abandoned))
            );
            assert_eq!(
                read.future.now_or_never(),
                Some(Err(CallbackError::Abandoned))
            );
            assert_eq!(guard(body.next()).await, Some(Err(StreamError::Abandoned)));
            assert_eq!(guard(body.next()).await, None);
        });
        safe.shutdown(); // four shutdown callbacks, all after abandon_all
        assert_eq!(delta(before, regs.refused()), (2, 1, 1), "{exec:?}");
        assert_eq!(regs.finals.last_code.load(SeqCst), TSDK_ERR_SHUTDOWN);
        assert_eq!(safe.sdk.ops_outstanding(), 0);
        assert_eq!(
            safe.sdk.cancels_received(),
            0,
            "resolved futures do not cancel"
        );
        assert_eq!(regs.outstanding(), (0, 0, 0));
    }
}

/// TSDK_LATE_AFTER_CANCEL: dropping the future (explicitly, or through a timeout) runs its
/// `on_cancel` hook, which calls tsdk_cancel; the SDK then calls back late, for nobody.
/// Each late callback consumes its handle (nothing stays outstanding) and is refused and
/// counted, exactly once; a live op alongside is untouched.
#[test]
fn safe_late_callback_after_cancel_is_refused() {
    let regs = registries!();
    for exec in EXECS {
        let safe = Safe::new(regs);
        let before = regs.refused();
        let s = safe.clone();
        run(exec, async move {
            let op = s.start_op(TSDK_LATE_AFTER_CANCEL, 0);
            drop(op.future);
            assert_eq!(s.sdk.cancels_received(), 1, "the hook ran on drop");

            let op = s.start_op(TSDK_LATE_AFTER_CANCEL, 0);
            let timed = op.future.with_timeout(Duration::from_millis(20));
            assert_eq!(timed.await, Err(CallbackError::TimedOut));
            assert_eq!(
                s.sdk.cancels_received(),
                2,
                "the timeout dropped the future"
            );

            let read = s.start_read(TSDK_LATE_AFTER_CANCEL, 0, b"late");
            drop(read.future);
            assert_eq!(s.sdk.cancels_received(), 3);

            let ok = s.start_op(TSDK_ASYNC, 0);
            assert_eq!(guard(ok.future).await, Ok(()));
        });
        safe.shutdown(); // joins: every late callback has been made
        assert_eq!(safe.sdk.callbacks_made(), 4);
        assert_eq!(safe.sdk.ops_outstanding(), 0);
        assert_eq!(regs.outstanding(), (0, 0, 0), "{exec:?}");
        assert_eq!(delta(before, regs.refused()), (2, 1, 0), "{exec:?}");
    }

    let safe = Safe::new(regs);
    let before = regs.refused();
    drop(safe.start_op(TSDK_LATE_AFTER_CANCEL, 0));
    assert_eq!(safe.sdk.cancels_received(), 1);
    safe.shutdown();
    assert_eq!(regs.outstanding(), (0, 0, 0));
    assert_eq!(delta(before, regs.refused()), (1, 0, 0));
}

/// The late callback after a cancel, seen by a hand-written callback: the registry tells
/// it that the caller is gone (`HandleError::Canceled`), consumes the handle and counts
/// the refusal.
#[test]
fn safe_late_callback_after_cancel_is_reported_as_canceled() {
    static OPS: Completions<()> = Completions::new();
    static LOG: Mutex<Vec<(c_int, Result<(), HandleError>)>> = Mutex::new(Vec::new());
    static CALLED: AsyncEvent = AsyncEvent::new();

    extern "C" fn on_done(user_data: *mut c_void, code: c_int) {
        let handle = CompletionHandle::from_user_data(user_data);
        let _ = catch_callback(PanicPolicy::Abort, || {
            let outcome = OPS.complete(handle, code_result(code));
            LOG.lock().unwrap().push((code, outcome));
            CALLED.set();
        });
    }

    let sdk = new_sdk();
    let (handle, future) = OPS.issue();
    let mut op = 0;
    // SAFETY: live SDK; `on_done` treats `user_data` as a handle of OPS.
    let rc = unsafe {
        tsdk_start_op(
            sdk.as_ptr(),
            TSDK_LATE_AFTER_CANCEL,
            0,
            Some(on_done),
            handle.into_user_data(),
            &mut op,
        )
    };
    assert_eq!(rc, TSDK_OK);
    let weak = Arc::downgrade(&sdk);
    let future = future.on_cancel(move || {
        if let Some(sdk) = weak.upgrade() {
            assert!(sdk.cancel(op), "the op was live");
        }
    });
    drop(future);
    assert_eq!(sdk.cancels_received(), 1);
    assert!(CALLED.wait_timeout(GUARD), "the late callback came");
    assert_eq!(
        *LOG.lock().unwrap(),
        [(TSDK_ERR_CANCELED, Err(HandleError::Canceled))]
    );
    assert_eq!(OPS.outstanding(), 0);
    assert_eq!(OPS.refused(), 1, "counted like any other late callback");
    sdk.shutdown();
}

/// TSDK_FAIL_START: the start call fails and never calls back; the binding abandons the
/// handle, so the future resolves `Err(Abandoned)` at once (the stream ends abandoned) and
/// nothing stays outstanding.
#[test]
fn safe_fail_start_is_abandoned_at_once() {
    let regs = registries!();
    let safe = Safe::new(regs);
    let mut op = safe.start_op(TSDK_FAIL_START, 0);
    let mut read = safe.start_read(TSDK_FAIL_START, 0, b"x");
    let mut body = safe.start_stream(TSDK_FAIL_START, 4, 4, 16);
    assert_eq!(
        (op.rc, read.rc, body.rc),
        (TSDK_ERR_START, TSDK_ERR_START, TSDK_ERR_START)
    );
    assert_eq!((op.id, read.id, body.id), (0, 0, 0));
    assert_eq!(regs.outstanding(), (0, 0, 0));
    assert_eq!(op.future.try_take(), Some(Err(CallbackError::Abandoned)));
    assert_eq!(read.future.try_take(), Some(Err(CallbackError::Abandoned)));
    assert_eq!(
        body.future.next_timeout(Duration::ZERO),
        Some(Err(StreamError::Abandoned))
    );
    assert_eq!(body.future.next_timeout(Duration::ZERO), None);
    safe.shutdown();

    for exec in EXECS {
        let safe = Safe::new(regs);
        let s = safe.clone();
        run(exec, async move {
            let op = s.start_op(TSDK_FAIL_START, 0);
            let read = s.start_read(TSDK_FAIL_START, 0, b"x");
            let mut body = s.start_stream(TSDK_FAIL_START, 4, 4, 16).future;
            assert_eq!(s.regs.outstanding(), (0, 0, 0));
            assert_eq!(
                op.future.now_or_never(),
                Some(Err(CallbackError::Abandoned))
            );
            assert_eq!(
                read.future.now_or_never(),
                Some(Err(CallbackError::Abandoned))
            );
            assert_eq!(
                body.next().now_or_never(),
                Some(Some(Err(StreamError::Abandoned)))
            );
        });
        safe.shutdown();
        assert_eq!(safe.sdk.callbacks_made(), 0);
        assert_eq!(
            safe.sdk.cancels_received(),
            0,
            "a failed start is never canceled"
        );
    }
    assert_eq!(regs.refused(), (0, 0, 0));
    assert_eq!(regs.finals.count.load(SeqCst), 0);
}

/// Payloads are valid only during the callback (the SDK overwrites them with 0xDD right
/// after): the trampoline copies them in time, for every delivery mode and size.
#[test]
fn safe_payloads_are_copied_before_the_sdk_scrubs_them() {
    let regs = registries!();
    let sizes = [0usize, 1, 4096, 256 << 10];
    let modes = [TSDK_ASYNC, TSDK_SYNC, TSDK_ASYNC_UNDER_LOCK, TSDK_TWICE];
    for exec in EXECS {
        let safe = Safe::new(regs);
        let s = safe.clone();
        run(exec, async move {
            for (m, mode) in modes.into_iter().enumerate() {
                for size in sizes {
                    let payload = pattern(size, m as u8);
                    let read = s.start_read(mode, 0, &payload);
                    let got = guard(read.future).await.expect("a payload");
                    assert!(got == payload, "mode {mode}, {size} bytes: wrong bytes");
                }
                let failed = s.start_read(mode, 3, b"not delivered on error");
                assert_eq!(guard(failed.future).await, Err(CallbackError::Failed(3)));
            }
        });
        safe.shutdown();
    }

    let safe = Safe::new(regs);
    for mode in modes {
        let payload = pattern(1 << 16, mode as u8);
        let mut read = safe.start_read(mode, 0, &payload);
        assert!(read.future.wait_timeout(GUARD).expect("a payload") == payload);
    }
    safe.shutdown();
    assert_eq!(regs.outstanding(), (0, 0, 0));
}

/// Dropping a pending future (or letting a timeout drop it) calls tsdk_cancel once, under
/// every executor and from blocking code; dropping a completed one does not. A NEVER op
/// ignores the cancel, so its shutdown callback comes late, for nobody: refused, counted.
#[test]
fn safe_dropping_a_pending_future_cancels_the_sdk_op() {
    let regs = registries!();
    for exec in EXECS {
        let safe = Safe::new(regs);
        let before = regs.refused();
        let s = safe.clone();
        run(exec, async move {
            let done = s.start_op(TSDK_ASYNC, 0);
            assert_eq!(guard(done.future).await, Ok(()));
            assert_eq!(
                s.sdk.cancels_received(),
                0,
                "a completed future is no cancel"
            );

            let never = s.start_op(TSDK_NEVER, 0);
            let timed = never.future.with_timeout(Duration::from_millis(10));
            assert_eq!(timed.await, Err(CallbackError::TimedOut));
            assert_eq!(s.sdk.cancels_received(), 1);

            let never = s.start_read(TSDK_NEVER, 0, b"x");
            drop(never.future);
            assert_eq!(s.sdk.cancels_received(), 2);
        });
        safe.shutdown();
        assert_eq!(safe.sdk.cancels_received(), 2, "{exec:?}");
        assert_eq!(delta(before, regs.refused()), (1, 1, 0), "{exec:?}");
        assert_eq!(regs.outstanding(), (0, 0, 0));
    }

    let safe = Safe::new(regs);
    let before = regs.refused();
    let mut never = safe.start_op(TSDK_NEVER, 0);
    assert_eq!(
        never.future.wait_timeout(Duration::from_millis(10)),
        Err(CallbackError::TimedOut)
    );
    assert_eq!(
        safe.sdk.cancels_received(),
        0,
        "a timed-out wait keeps the future"
    );
    drop(never);
    assert_eq!(safe.sdk.cancels_received(), 1);
    safe.shutdown();
    assert_eq!(delta(before, regs.refused()), (1, 0, 0));
    assert_eq!(regs.outstanding(), (0, 0, 0));
}

// ---- safe handle mode: streams ------------------------------------------------------

const CHUNK: usize = 16 * 1024;
const WINDOW: usize = 64 * 1024;
const TOTAL: usize = 4 << 20;
const N_CHUNKS: usize = TOTAL / CHUNK;

/// Checks chunk `i` of a stream: `CHUNK` bytes of `i as u8`.
fn check_chunk(i: usize, chunk: &[u8]) {
    assert_eq!(chunk.len(), CHUNK, "chunk {i}");
    let expected = [(i & 0xff) as u8; CHUNK];
    assert!(chunk == expected, "chunk {i}: wrong bytes");
}

/// Reads a whole windowed body asynchronously, checking every byte and that the stream
/// never held more than the window.
async fn read_body(body: &mut Body) -> usize {
    let mut i = 0;
    loop {
        assert!(body.stats().buffered_weight <= WINDOW, "{:?}", body.stats());
        let Some(item) = guard(body.next()).await else {
            break;
        };
        check_chunk(i, &item.expect("no stream error"));
        i += 1;
    }
    i
}

/// Asserts a stream ran to its end through the window without a refused or overshooting
/// push.
fn assert_clean_window(body: &Body) {
    let stats = body.stats();
    assert_eq!(stats.pushed, N_CHUNKS as u64, "{stats:?}");
    assert_eq!((stats.rejected, stats.overshoot), (0, 0), "{stats:?}");
    assert_eq!((stats.buffered, stats.buffered_weight), (0, 0), "{stats:?}");
}

/// 4 MiB in 16 KiB chunks through a 64 KiB window (`on_credit` reopening the SDK's window
/// from the consumer's thread), plain and under the SDK's global lock, under every
/// executor and blockingly: every byte arrives, the stream never holds more than the
/// window, no push is refused.
#[test]
fn safe_stream_through_a_window_everywhere() {
    let regs = registries!();
    for exec in EXECS {
        let safe = Safe::new(regs);
        let s = safe.clone();
        run(exec, async move {
            for mode in [TSDK_ASYNC, TSDK_ASYNC_UNDER_LOCK] {
                let mut body = s.start_stream(mode, N_CHUNKS, CHUNK, WINDOW);
                assert_eq!(body.rc, TSDK_OK);
                assert_eq!(read_body(&mut body.future).await, N_CHUNKS, "{mode}");
                assert_clean_window(&body.future);
            }
        });
        safe.shutdown();
        assert_eq!(
            safe.sdk.cancels_received(),
            0,
            "{exec:?}: a finished stream is no cancel"
        );
        assert_eq!(safe.sdk.callbacks_made(), 2 * (N_CHUNKS as u64 + 1));
    }

    let safe = Safe::new(regs);
    let mut body = safe
        .start_stream(TSDK_ASYNC, N_CHUNKS, CHUNK, WINDOW)
        .future;
    let mut i = 0;
    loop {
        assert!(body.stats().buffered_weight <= WINDOW, "{:?}", body.stats());
        match body.next_timeout(GUARD) {
            Some(Ok(chunk)) => check_chunk(i, &chunk),
            None => break,
            Some(Err(error)) => panic!("chunk {i}: {error:?}"),
        }
        i += 1;
    }
    assert_eq!(i, N_CHUNKS);
    assert_clean_window(&body);
    safe.shutdown();
    assert_eq!(regs.finals.count.load(SeqCst), 7);
    assert_eq!(regs.refused(), (0, 0, 0));
    assert_eq!(regs.outstanding(), (0, 0, 0));
}

/// Dropping the stream mid-way runs its `on_close` hook, which calls tsdk_cancel: the SDK
/// stops (final callback TSDK_ERR_CANCELED, far fewer chunks than asked for) — also for a
/// stream whose callbacks hold the SDK's global lock, which tsdk_cancel needs too.
#[test]
fn safe_dropping_the_stream_cancels_the_sdk_stream() {
    let regs = registries!();
    for exec in EXECS {
        for mode in [TSDK_ASYNC, TSDK_ASYNC_UNDER_LOCK] {
            let safe = Safe::new(regs);
            regs.finals.ended.clear();
            let finals = regs.finals.count.load(SeqCst);
            let s = safe.clone();
            run(exec, async move {
                let mut body = s.start_stream(mode, 10_000, CHUNK, WINDOW).future;
                for i in 0..2 {
                    check_chunk(i, &guard(body.next()).await.unwrap().unwrap());
                }
                drop(body);
                assert_eq!(s.sdk.cancels_received(), 1);
                // The SDK's final callback comes from its stream thread.
                guard(s.regs.finals.ended.wait()).await;
            });
            assert_eq!(regs.finals.count.load(SeqCst), finals + 1);
            assert_eq!(
                regs.finals.last_code.load(SeqCst),
                TSDK_ERR_CANCELED,
                "{exec:?}"
            );
            // At most the two chunks taken plus a window's worth, then the final callback.
            let callbacks = safe.sdk.callbacks_made();
            assert!(callbacks <= (2 + WINDOW / CHUNK + 1) as u64, "{callbacks}");
            assert_eq!(safe.sdk.ops_outstanding(), 0);
            safe.shutdown();
            assert_eq!(safe.sdk.cancels_received(), 1);
        }
    }
    // Pushes after the drop are the stream's business (rejected as Closed), not the
    // registry's: nothing refused, and the final callback released the feeder.
    assert_eq!(regs.refused(), (0, 0, 0));
    assert_eq!(regs.outstanding(), (0, 0, 0));
}

/// tsdk_shutdown ends an unfinished stream through its final callback
/// (TSDK_ERR_SHUTDOWN): the consumer gets the chunks sent so far, then the error, then
/// the end.
#[test]
fn safe_shutdown_fails_an_unfinished_stream() {
    let regs = registries!();
    for exec in EXECS {
        let safe = Safe::new(regs);
        let s = safe.clone();
        run(exec, async move {
            // Two chunks fit the window; the consumer takes nothing until after shutdown.
            let mut body = s.start_stream(TSDK_ASYNC, 10, CHUNK, 2 * CHUNK).future;
            s.shutdown();
            let mut i = 0;
            let end = loop {
                match guard(body.next()).await {
                    Some(Ok(chunk)) => check_chunk(i, &chunk),
                    other => break other,
                }
                i += 1;
            };
            assert!(i <= 2, "{i} chunks");
            assert_eq!(
                end,
                Some(Err(StreamError::Failed(CallbackError::Failed(
                    TSDK_ERR_SHUTDOWN
                ))))
            );
            assert_eq!(guard(body.next()).await, None);
        });
        assert_eq!(
            safe.sdk.cancels_received(),
            0,
            "an ended stream's drop is no cancel"
        );
    }
    assert_eq!(regs.refused(), (0, 0, 0));
    assert_eq!(regs.outstanding(), (0, 0, 0));
}

// ---- the SDK's global lock --------------------------------------------------------------

/// What the under-lock callback saw.
#[derive(Debug)]
struct Verdict {
    in_scope: bool,
    checked: Result<Result<(), CallbackError>, WouldDeadlock>,
    event_checked: Result<(), WouldDeadlock>,
    timed: Result<(), CallbackError>,
    timed_took: Duration,
    /// The op the callback started and tried to wait for.
    inner: OpFuture,
}

/// What the under-lock callback needs: the SDK, and where its verdict goes.
struct Probe {
    sdk: Weak<Sdk>,
    done: Completer<Result<Verdict, CallbackError>>,
}

static PROBES: Registry<Probe> = Registry::new();
static INNER: Completions<()> = Completions::new();
static NEVER_SET: AsyncEvent = AsyncEvent::new();

anywait::trampoline! {
    extern "C" fn inner_done(user_data, error_code) completes INNER;
}

/// A TSDK_ASYNC_UNDER_LOCK callback that starts another under-lock op and then tries to
/// wait for it blockingly. That op's callback needs the global lock this thread holds until
/// it returns: a real blocking wait would deadlock. In the callback scope
/// (`catch_callback`) the checked waits return `WouldDeadlock` and the timed wait returns
/// at once instead.
extern "C" fn waits_under_lock(user_data: *mut c_void, _code: c_int) {
    let handle = CompletionHandle::from_user_data(user_data);
    let _ = catch_callback(PanicPolicy::Abort, || {
        let Ok(probe) = PROBES.take(handle) else {
            return; // refused and counted
        };
        let outcome = catch_callback(PanicPolicy::Deliver, || {
            let sdk = probe.sdk.upgrade().expect("the SDK outlives its callbacks");
            let (inner_handle, mut inner) = INNER.issue();
            // SAFETY: live SDK (starting ops is allowed inside callbacks); `inner_done`
            // treats `user_data` as a handle of INNER.
            let rc = unsafe {
                tsdk_start_op(
                    sdk.as_ptr(),
                    TSDK_ASYNC_UNDER_LOCK,
                    0,
                    Some(inner_done),
                    inner_handle.into_user_data(),
                    std::ptr::null_mut(),
                )
            };
            assert_eq!(rc, TSDK_OK);
            let checked = inner.wait_blocking_checked();
            let event_checked = NEVER_SET.wait_blocking_checked();
            let started = Instant::now();
            let timed = inner.wait_timeout(GUARD);
            Verdict {
                in_scope: in_callback_scope(),
                checked,
                event_checked,
                timed,
                timed_took: started.elapsed(),
                inner,
            }
        });
        let _ = probe.done.complete(outcome.map_err(CallbackError::from));
    });
}

/// TSDK_ASYNC_UNDER_LOCK: completing through anywait under the SDK's lock does not
/// deadlock, and a blocking wait inside such a callback reports `WouldDeadlock` instead of
/// hanging; the op it would have waited for completes once the callback returned.
#[test]
fn under_lock_blocking_wait_in_a_callback_is_would_deadlock_not_a_hang() {
    /// Starts the probing op on `sdk`; its future resolves with the callback's verdict.
    fn start_probe(sdk: &Arc<Sdk>) -> anywait::TryWaitableFuture<Verdict, CallbackError> {
        let (done, outer) = try_waitable::<Verdict, CallbackError>();
        let handle = PROBES
            .insert(Probe {
                sdk: Arc::downgrade(sdk),
                done,
            })
            .unwrap();
        // SAFETY: live SDK; `waits_under_lock` treats `user_data` as a handle of PROBES.
        let rc = unsafe {
            tsdk_start_op(
                sdk.as_ptr(),
                TSDK_ASYNC_UNDER_LOCK,
                0,
                Some(waits_under_lock),
                handle.into_user_data(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(rc, TSDK_OK);
        outer
    }

    fn check(verdict: &Verdict) {
        assert!(verdict.in_scope);
        assert_eq!(verdict.checked, Err(WouldDeadlock));
        assert_eq!(verdict.event_checked, Err(WouldDeadlock));
        assert_eq!(verdict.timed, Err(CallbackError::TimedOut));
        assert!(verdict.timed_took < GUARD / 2, "{:?}", verdict.timed_took);
    }

    for exec in EXECS {
        let sdk = new_sdk();
        let outer = start_probe(&sdk);
        run(exec, async move {
            let verdict = guard(outer).await.expect("the callback did not panic");
            check(&verdict);
            // The callback returned and released the lock: the inner op completes.
            assert_eq!(guard(verdict.inner).await, Ok(()));
        });
        sdk.shutdown();
        assert_eq!(sdk.callbacks_made(), 2, "{exec:?}");
    }

    let sdk = new_sdk();
    let mut outer = start_probe(&sdk);
    let mut verdict = outer
        .wait_timeout(GUARD)
        .expect("the callback did not panic");
    check(&verdict);
    assert_eq!(verdict.inner.wait_timeout(GUARD), Ok(()));
    sdk.shutdown();

    assert_eq!(PROBES.refused(), 0);
    assert_eq!(PROBES.outstanding(), 0);
    assert_eq!(INNER.outstanding(), 0);
}

/// TSDK_ASYNC_UNDER_LOCK futures dropped while their callback may be running under the
/// global lock: the `on_cancel` hook's tsdk_cancel waits for that lock, never the other way
/// round (anywait runs hooks outside its own state), so nothing deadlocks. Each dropped op
/// is either delivered first (no hook) or canceled (the hook runs, the callback comes
/// late): exactly one refusal per cancel the SDK received.
#[test]
fn under_lock_completion_racing_a_cancel_does_not_deadlock() {
    let regs = registries!();
    for exec in EXECS {
        let safe = Safe::new(regs);
        let before = regs.refused();
        let s = safe.clone();
        let dropped = run(exec, async move {
            let mut dropped = 0;
            for round in 0..60 {
                let op = s.start_op(TSDK_ASYNC_UNDER_LOCK, round);
                if round % 2 == 0 {
                    dropped += 1;
                    drop(op.future); // races the callback for the lock
                } else {
                    assert_eq!(guard(op.future).await, code_result(round));
                }
            }
            dropped
        });
        safe.shutdown();
        let cancels = safe.sdk.cancels_received();
        assert!(cancels <= dropped, "{exec:?}");
        assert_eq!(safe.sdk.callbacks_made(), 60);
        assert_eq!(
            delta(before, regs.refused()),
            (cancels as usize, 0, 0),
            "{exec:?}: one late callback per canceled op"
        );
        assert_eq!(regs.outstanding(), (0, 0, 0));
    }
}

// ---- panics ---------------------------------------------------------------------------

static PANICKY: Completions<u32> = Completions::new();

/// A hand-written callback whose body panics on code 13: `catch_callback(Deliver)` keeps
/// the panic out of C and hands it to the caller.
extern "C" fn panicky_done(user_data: *mut c_void, code: c_int) {
    let handle = CompletionHandle::from_user_data(user_data);
    let outcome = catch_callback(PanicPolicy::Deliver, || {
        if code == 13 {
            panic!("unlucky code {code}");
        }
        code_result(code).map(|()| 1)
    });
    let result = outcome.unwrap_or_else(|panic| Err(panic.into()));
    let _ = catch_callback(PanicPolicy::Abort, || PANICKY.complete(handle, result));
}

fn start_panicky(
    sdk: &Sdk,
    mode: tsdk_mode,
    code: c_int,
) -> anywait::TryWaitableFuture<u32, CallbackError> {
    let (handle, future) = PANICKY.issue();
    // SAFETY: live SDK; `panicky_done` treats `user_data` as a handle of PANICKY.
    let rc = unsafe {
        tsdk_start_op(
            sdk.as_ptr(),
            mode,
            code,
            Some(panicky_done),
            handle.into_user_data(),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, TSDK_OK);
    future
}

/// A panic inside a hand-written callback body, on an SDK thread, under the global lock or
/// inside the start call, is contained and delivered: the future gets
/// `CallbackError::Panicked(Some(message))`, and the SDK carries on.
#[test]
fn panic_in_a_hand_written_callback_is_delivered() {
    let panicked = || Err(CallbackError::Panicked(Some("unlucky code 13".to_string())));
    for exec in EXECS {
        let sdk = new_sdk();
        let s = Arc::clone(&sdk);
        run(exec, async move {
            for mode in [TSDK_ASYNC, TSDK_ASYNC_UNDER_LOCK, TSDK_SYNC] {
                assert_eq!(guard(start_panicky(&s, mode, 13)).await, panicked());
                assert_eq!(guard(start_panicky(&s, mode, 0)).await, Ok(1));
            }
        });
        sdk.shutdown();
        assert_eq!(sdk.callbacks_made(), 6);
    }
    let sdk = new_sdk();
    let mut future = start_panicky(&sdk, TSDK_ASYNC, 13);
    assert_eq!(future.wait_timeout(GUARD), panicked());
    sdk.shutdown();
    assert_eq!(PANICKY.outstanding(), 0);
    assert_eq!(PANICKY.refused(), 0);
}

// ---- events ------------------------------------------------------------------------

static SIGNALS: Setters = Setters::new();

/// `(user_data, error_code)` that sets an event through a `Setters` handle, any number of
/// times; a use after the binding released the handle is refused.
extern "C" fn signal_done(user_data: *mut c_void, _code: c_int) {
    let handle = CompletionHandle::from_user_data(user_data);
    let _ = catch_callback(PanicPolicy::Abort, || SIGNALS.set(handle));
}

/// Raw `(user_data, chunk, len)` that sets an event through `EventSetter::set_raw`.
extern "C" fn signal_chunk(user_data: *mut c_void, _chunk: *const u8, _len: usize) {
    let _ = catch_callback(PanicPolicy::Abort, || {
        // SAFETY: `user_data` came from `EventSetter::into_raw` and is released only by
        // `signal_final`, which the SDK never runs concurrently with a chunk callback.
        unsafe { EventSetter::set_raw(user_data) }
    });
}

/// Raw final `(user_data, error_code)`: sets the event and releases the setter.
extern "C" fn signal_final(user_data: *mut c_void, _code: c_int) {
    let _ = catch_callback(PanicPolicy::Abort, || {
        // SAFETY: from `EventSetter::into_raw`; the SDK calls the final callback exactly
        // once per stream, after every chunk callback: the pointer's last use.
        unsafe { EventSetter::from_raw(user_data) }.set()
    });
}

/// Latched events through `user_data`: a raw `EventSetter` set by every chunk of a stream
/// and released by its final callback, and a `Setters` handle set by a TWICE op (both
/// calls accepted: setting is repeatable) and by a LATE_AFTER_CANCEL op whose late
/// callback comes after the binding released the handle (refused, counted).
#[test]
fn events_through_raw_and_safe_user_data() {
    for exec in EXECS {
        let sdk = new_sdk();
        let chunk_seen = Arc::new(AsyncEvent::new());
        let twice_seen = Arc::new(AsyncEvent::new());
        let late_seen = Arc::new(AsyncEvent::new());
        let refused = SIGNALS.refused();

        let user_data = EventSetter::new(&chunk_seen).into_raw();
        // SAFETY: live SDK; the callbacks treat `user_data` as an `EventSetter` pointer
        // released once by the final callback.
        let rc = unsafe {
            tsdk_start_stream(
                sdk.as_ptr(),
                TSDK_ASYNC,
                3,
                4,
                0,
                Some(signal_chunk),
                Some(signal_final),
                user_data,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(rc, TSDK_OK);

        let twice = SIGNALS.insert(EventSetter::new(&twice_seen)).unwrap();
        // SAFETY: live SDK; `signal_done` treats `user_data` as a handle of SIGNALS.
        let rc = unsafe {
            tsdk_start_op(
                sdk.as_ptr(),
                TSDK_TWICE,
                0,
                Some(signal_done),
                twice.into_user_data(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(rc, TSDK_OK);

        let late = SIGNALS.insert(EventSetter::new(&late_seen)).unwrap();
        let mut late_op = 0;
        // SAFETY: as above.
        let rc = unsafe {
            tsdk_start_op(
                sdk.as_ptr(),
                TSDK_LATE_AFTER_CANCEL,
                0,
                Some(signal_done),
                late.into_user_data(),
                &mut late_op,
            )
        };
        assert_eq!(rc, TSDK_OK);

        let (c, t) = (Arc::clone(&chunk_seen), Arc::clone(&twice_seen));
        run(exec, async move {
            guard(c.wait()).await;
            guard(t.wait()).await;
        });
        // The binding gives up on the late op: releases its handle, then cancels.
        SIGNALS.release(late).unwrap();
        assert!(sdk.cancel(late_op));
        sdk.shutdown(); // joins: every callback has been made
        SIGNALS.release(twice).unwrap();
        assert!(!late_seen.is_set(), "the released setter was not reached");
        assert_eq!(SIGNALS.refused() - refused, 1, "{exec:?}: the late set");
        assert_eq!(SIGNALS.outstanding(), 0);
        assert_eq!(
            Arc::strong_count(&chunk_seen),
            1,
            "the raw setter was released"
        );
        assert_eq!(Arc::strong_count(&twice_seen), 1);
    }
}

// ---- raw mode -------------------------------------------------------------------------

/// Raw mode (`Completer::into_raw` as `user_data`) with the modes that call back exactly
/// once: ASYNC, under the global lock, SYNC (ready when start returns), and payload ops
/// (copied in time), under every executor and blockingly.
#[test]
fn raw_one_shot_ops_complete_everywhere() {
    let payload = pattern(100_000, 9);
    for exec in EXECS {
        let raw = Raw::new();
        let (r, payload) = (raw.clone(), payload.clone());
        run(exec, async move {
            for mode in [TSDK_ASYNC, TSDK_ASYNC_UNDER_LOCK] {
                // SAFETY: these modes call back exactly once.
                let ok = unsafe { r.start_op(mode, 0) };
                // SAFETY: as above.
                let failed = unsafe { r.start_op(mode, 8) };
                // SAFETY: as above.
                let read = unsafe { r.start_read(mode, 0, &payload) };
                assert_eq!(guard(ok.future).await, Ok(()));
                assert_eq!(guard(failed.future).await, Err(CallbackError::Failed(8)));
                assert!(guard(read.future).await.expect("a payload") == payload);
            }
            // SAFETY: TSDK_SYNC calls back exactly once, inside the start call.
            let sync = unsafe { r.start_op(TSDK_SYNC, 0) };
            assert_eq!(sync.future.now_or_never(), Some(Ok(())));
            // SAFETY: as above.
            let sync = unsafe { r.start_read(TSDK_SYNC, 0, &payload) };
            assert!(sync.future.now_or_never() == Some(Ok(payload)));
        });
        raw.shutdown();
        assert_eq!(raw.sdk.callbacks_made(), 8, "{exec:?}");
        assert_eq!(raw.sdk.cancels_received(), 0);
    }

    let raw = Raw::new();
    // SAFETY: these modes call back exactly once.
    let mut sync = unsafe { raw.start_op(TSDK_SYNC, 4) };
    assert_eq!(sync.future.try_take(), Some(Err(CallbackError::Failed(4))));
    // SAFETY: as above.
    let mut read = unsafe { raw.start_read(TSDK_ASYNC, 0, &payload) };
    assert!(read.future.wait_timeout(GUARD).expect("a payload") == payload);
    raw.shutdown();
}

/// Raw mode with TSDK_NEVER (released by tsdk_shutdown's TSDK_ERR_SHUTDOWN) and
/// TSDK_LATE_AFTER_CANCEL (dropping the future calls tsdk_cancel; the late callback still
/// consumes the completer — valgrind checks it is freed — and finds nobody).
#[test]
fn raw_never_and_late_after_cancel() {
    for exec in EXECS {
        let raw = Raw::new();
        let unwanted = RAW_UNWANTED.load(SeqCst);
        let r = raw.clone();
        let shutdown = run(exec, async move {
            // SAFETY: LATE_AFTER_CANCEL and NEVER call back exactly once (the latter at
            // shutdown).
            let late = unsafe { r.start_op(TSDK_LATE_AFTER_CANCEL, 0) };
            drop(late.future);
            assert_eq!(r.sdk.cancels_received(), 1);
            // SAFETY: as above.
            let never = unsafe { r.start_op(TSDK_NEVER, 0) };
            let sdk = Arc::clone(&r.sdk);
            let shutdown = std::thread::spawn(move || sdk.shutdown());
            assert_eq!(
                guard(never.future).await,
                Err(CallbackError::Failed(TSDK_ERR_SHUTDOWN))
            );
            shutdown
        });
        shutdown.join().unwrap();
        assert_eq!(RAW_UNWANTED.load(SeqCst), unwanted + 1, "{exec:?}");
        assert_eq!(raw.sdk.callbacks_made(), 2);
        assert_eq!(raw.sdk.ops_outstanding(), 0);
    }
}

/// Raw mode with TSDK_FAIL_START: the binding takes the completer (or feeder) back with
/// `from_raw`; the future resolves `Err(Abandoned)` at once.
#[test]
fn raw_fail_start_reclaims_user_data() {
    let raw = Raw::new();
    // SAFETY: FAIL_START never calls back; the binding reclaims the completer.
    let mut op = unsafe { raw.start_op(TSDK_FAIL_START, 0) };
    // SAFETY: as above.
    let mut read = unsafe { raw.start_read(TSDK_FAIL_START, 0, b"x") };
    let mut body = raw.start_stream(TSDK_FAIL_START, 4, 4, 16);
    assert_eq!(
        (op.rc, read.rc, body.rc),
        (TSDK_ERR_START, TSDK_ERR_START, TSDK_ERR_START)
    );
    assert_eq!(op.future.try_take(), Some(Err(CallbackError::Abandoned)));
    assert_eq!(read.future.try_take(), Some(Err(CallbackError::Abandoned)));
    assert_eq!(
        body.future.next_timeout(Duration::ZERO),
        Some(Err(StreamError::Abandoned))
    );
    raw.shutdown();
    assert_eq!(raw.sdk.callbacks_made(), 0);
}

/// Raw mode streams (`StreamFeeder::into_raw` / `push_raw` / `from_raw`): 4 MiB through a
/// 64 KiB window under every executor and blockingly; dropping the stream mid-way cancels
/// the SDK's stream (its final callback still releases the feeder).
#[test]
fn raw_stream_through_a_window_and_cancel() {
    for exec in EXECS {
        let raw = Raw::new();
        let r = raw.clone();
        run(exec, async move {
            let mut body = r.start_stream(TSDK_ASYNC, N_CHUNKS, CHUNK, WINDOW).future;
            assert_eq!(read_body(&mut body).await, N_CHUNKS);
            assert_clean_window(&body);

            let mut body = r
                .start_stream(TSDK_ASYNC_UNDER_LOCK, 10_000, CHUNK, WINDOW)
                .future;
            check_chunk(0, &guard(body.next()).await.unwrap().unwrap());
            drop(body);
            assert_eq!(r.sdk.cancels_received(), 1);
        });
        raw.shutdown();
        // The canceled stream sent at most one chunk taken plus a window's worth.
        let callbacks = raw.sdk.callbacks_made();
        assert!(
            callbacks <= (N_CHUNKS + 1 + 1 + WINDOW / CHUNK + 1) as u64,
            "{exec:?}: {callbacks}"
        );
        assert_eq!(raw.sdk.ops_outstanding(), 0);
    }

    let raw = Raw::new();
    let mut body = raw.start_stream(TSDK_ASYNC, N_CHUNKS, CHUNK, WINDOW).future;
    let mut i = 0;
    while let Some(item) = body.next_timeout(GUARD) {
        assert!(body.stats().buffered_weight <= WINDOW);
        check_chunk(i, &item.expect("no stream error"));
        i += 1;
    }
    assert_eq!(i, N_CHUNKS);
    assert_clean_window(&body);
    raw.shutdown();
    assert_eq!(raw.sdk.cancels_received(), 0);
}
