#![cfg(anywait_loom)]
//! loom models of the one-shot primitive (`waitable`, `WaitableFuture`, `Completer`).
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg anywait_loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test --release --test loom_oneshot
//! ```
//!
//! Every model has two threads that genuinely race, and asserts something that a wrong
//! state machine would break. The models are explored exhaustively (see [`model`]).
//!
//! Values count their drops with a loom atomic held in a `loom::sync::Arc`, so a value
//! dropped twice or never fails an assertion, and a block leaked with a value in it also
//! fails loom's own leak check. (A block leaked *empty* is invisible here, since the block
//! is a plain `Box`: the miri unit tests in `src/tests/oneshot.rs` catch those.) Wakers
//! are `std::task::Wake` on a `std::sync::Arc`, whose strong count must be back at 1 when
//! a model ends: no waker is leaked or over-released by the primitive.
//!
//! Under loom, `park_timeout` returns at once (a modelled spurious wake-up), and a
//! `wait_timeout(Duration::ZERO)` registers the thread, re-checks and deregisters: exactly
//! the register/deregister vs complete race.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use anywait::{waitable, Abandoned, Completer, TryTakeError, WaitError};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use support::loom_models::{counting_waker, explore, load, Val};
use support::{assert_no_waker_leak, poll_once, SendPtr};

/// Runs a model exhaustively: no preemption bound, whatever `LOOM_MAX_PREEMPTIONS` says.
/// The one-shot state machine is small enough for that: all the models of this file
/// together explore in well under a second (0.3 s release build on 2 cores; 0.03 s with
/// the bound of 2 that CI sets).
fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = None;
    explore(builder, f);
}

/// complete vs poll: the value is delivered exactly once, and a `Pending` poll is followed
/// by exactly one wake-up.
#[test]
fn complete_vs_poll() {
    model(|| {
        let (completer, mut future) = waitable::<Val>();
        let (val, counter) = Val::new(1);
        let tx = thread::spawn(move || completer.complete(val).is_ok());
        let (inner, waker) = counting_waker();
        let first = poll_once(&mut future, &waker);
        assert!(
            tx.join().unwrap(),
            "the future was alive: complete must succeed"
        );
        let got = match first {
            Poll::Ready(result) => result,
            Poll::Pending => {
                assert_eq!(inner.wakes(), 1, "Pending must be followed by one wake-up");
                match poll_once(&mut future, &waker) {
                    Poll::Ready(result) => result,
                    Poll::Pending => panic!("woken but still pending"),
                }
            }
        };
        assert_eq!(got.unwrap().id, 1);
        assert_eq!(load(&counter), 1);
        // Fused: the value is never delivered twice.
        assert!(matches!(
            poll_once(&mut future, &waker),
            Poll::Ready(Err(Abandoned))
        ));
        drop(future);
        assert_eq!(load(&counter), 1);
        assert_no_waker_leak(&inner, waker);
    });
}

/// complete vs an executor (`loom::future::block_on`): the wake-up is never lost.
#[test]
fn complete_vs_block_on() {
    model(|| {
        let (completer, future) = waitable::<Val>();
        let (val, counter) = Val::new(2);
        let tx = thread::spawn(move || completer.complete(val).is_ok());
        let got = loom::future::block_on(future);
        assert!(tx.join().unwrap());
        assert_eq!(got.unwrap().id, 2);
        assert_eq!(load(&counter), 1);
    });
}

/// Checks the outcome of a complete that raced a drop of the future: `Ok` means the value
/// went into the block and was dropped with it, `Err(v)` that it was handed back intact.
fn check_complete_vs_drop(result: Result<(), Val>, counter: &Arc<AtomicUsize>, id: u32) {
    match result {
        Ok(()) => assert_eq!(load(counter), 1, "delivered value must be dropped once"),
        Err(back) => {
            assert_eq!(back.id, id);
            assert_eq!(load(counter), 0, "a handed-back value must not be dropped");
            drop(back);
            assert_eq!(load(counter), 1);
        }
    }
}

/// complete vs drop of a future that was never polled.
#[test]
fn complete_vs_drop_unpolled() {
    model(|| {
        let (completer, future) = waitable::<Val>();
        let (val, counter) = Val::new(3);
        let tx = thread::spawn(move || completer.complete(val));
        drop(future);
        check_complete_vs_drop(tx.join().unwrap(), &counter, 3);
    });
}

/// complete vs drop of a future that was polled first (its waker is registered): the
/// completer may claim the waker while the future is being dropped, and whichever side
/// goes last frees the block.
#[test]
fn complete_vs_drop_after_poll() {
    model(|| {
        let (completer, mut future) = waitable::<Val>();
        let (val, counter) = Val::new(4);
        let (inner, waker) = counting_waker();
        assert!(poll_once(&mut future, &waker).is_pending());
        let tx = thread::spawn(move || completer.complete(val));
        drop(future);
        let result = tx.join().unwrap();
        // The waker is woken iff the completer won the slot, i.e. completed first.
        assert_eq!(inner.wakes(), usize::from(result.is_ok()));
        check_complete_vs_drop(result, &counter, 4);
        assert_no_waker_leak(&inner, waker);
    });
}

/// "poll, then drop while the other side completes": the poll itself races the complete,
/// and the drop follows on the same thread.
#[test]
fn complete_vs_poll_then_drop() {
    model(|| {
        let (completer, mut future) = waitable::<Val>();
        let (val, counter) = Val::new(5);
        let (inner, waker) = counting_waker();
        let tx = thread::spawn(move || completer.complete(val));
        let polled = poll_once(&mut future, &waker);
        drop(future);
        let result = tx.join().unwrap();
        if let Poll::Ready(got) = polled {
            assert_eq!(got.unwrap().id, 5);
            assert!(
                result.is_ok(),
                "the value was received: complete must succeed"
            );
        }
        check_complete_vs_drop(result, &counter, 5);
        assert_no_waker_leak(&inner, waker);
    });
}

// The blocking waits run on the spawned thread and the completer on the model's main
// thread, which then joins: the completer may unpark the waiter after it has already
// returned, and loom 0.7 wrongly wakes a thread blocked in `JoinHandle::join` on an
// unpark (tokio-rs/loom#249, "assertion failed: state.notified"). std's unpark only
// leaves a token, so the models keep the real race and avoid joining the unparked thread.

/// complete vs `wait_timeout(ZERO)`: register, re-check and deregister race the complete.
#[test]
fn complete_vs_wait_timeout_zero() {
    model(|| {
        let (completer, mut future) = waitable::<Val>();
        let (val, counter) = Val::new(6);
        let rx = thread::spawn(move || {
            let first = future.wait_timeout(Duration::ZERO);
            (first, future)
        });
        assert!(completer.complete(val).is_ok(), "the future is alive");
        let (first, mut future) = rx.join().unwrap();
        let got = match first {
            Ok(v) => v,
            Err(WaitError::Timeout) => future.try_take().expect("complete has returned"),
            Err(WaitError::Abandoned) => panic!("never abandoned"),
        };
        assert_eq!(got.id, 6);
        drop(got);
        drop(future);
        assert_eq!(load(&counter), 1);
    });
}

/// complete vs `wait_timeout(ZERO)` of a future that was polled first: the wait sets the
/// task's waker aside for the thread, then puts it back on timeout, while the completer
/// claims the slot.
#[test]
fn complete_vs_wait_timeout_zero_after_poll() {
    model(|| {
        let (completer, mut future) = waitable::<Val>();
        let (val, counter) = Val::new(14);
        let (inner, waker) = counting_waker();
        assert!(poll_once(&mut future, &waker).is_pending());
        let rx = thread::spawn(move || {
            let first = future.wait_timeout(Duration::ZERO);
            (first, future)
        });
        assert!(completer.complete(val).is_ok(), "the future is alive");
        let (first, mut future) = rx.join().unwrap();
        assert!(inner.wakes() <= 1);
        let got = match first {
            Ok(v) => v,
            Err(WaitError::Timeout) => {
                // The timed-out wait put the task's waker back before the completion,
                // which therefore woke the task.
                assert_eq!(inner.wakes(), 1, "a timed-out wait lost the task's waker");
                future.try_take().expect("complete has returned")
            }
            Err(WaitError::Abandoned) => panic!("never abandoned"),
        };
        assert_eq!(got.id, 14);
        drop(got);
        drop(future);
        assert_eq!(load(&counter), 1);
        assert_no_waker_leak(&inner, waker);
    });
}

/// drop of the completer vs `wait_timeout(ZERO)`.
#[test]
fn abandon_vs_wait_timeout_zero() {
    model(|| {
        let (completer, mut future) = waitable::<Val>();
        let rx = thread::spawn(move || {
            let first = future.wait_timeout(Duration::ZERO);
            (first, future)
        });
        drop(completer);
        let (first, mut future) = rx.join().unwrap();
        match first {
            Err(WaitError::Abandoned) => {}
            Err(WaitError::Timeout) => {
                assert_eq!(future.try_take().unwrap_err(), TryTakeError::Abandoned)
            }
            Ok(_) => panic!("no value was sent"),
        }
    });
}

/// complete vs a long `wait_timeout`: under loom each timed park returns at once (a
/// spurious wake-up), so the wait loop re-checks until the value arrives.
#[test]
fn complete_vs_wait_timeout_long() {
    model(|| {
        let (completer, mut future) = waitable::<Val>();
        let (val, counter) = Val::new(17);
        let rx =
            thread::spawn(move || future.wait_timeout(Duration::from_secs(3600)).map(|v| v.id));
        assert!(completer.complete(val).is_ok(), "the future is alive");
        assert_eq!(rx.join().unwrap(), Ok(17));
        assert_eq!(load(&counter), 1);
    });
}

/// complete vs `wait_blocking`: loom's park must never deadlock (loom fails a model in
/// which every thread is blocked).
#[test]
fn complete_vs_wait_blocking() {
    model(|| {
        let (completer, future) = waitable::<Val>();
        let (val, counter) = Val::new(7);
        let rx = thread::spawn(move || future.wait_blocking().map(|v| v.id));
        assert!(completer.complete(val).is_ok(), "the future is alive");
        assert_eq!(rx.join().unwrap(), Ok(7));
        assert_eq!(load(&counter), 1);
    });
}

/// drop of the completer vs `wait_blocking`: ends in `Abandoned`, never hangs.
#[test]
fn abandon_vs_wait_blocking() {
    model(|| {
        let (completer, future) = waitable::<Val>();
        let rx = thread::spawn(move || future.wait_blocking().map(|v| v.id));
        drop(completer);
        assert_eq!(rx.join().unwrap(), Err(Abandoned));
    });
}

/// drop of the completer vs poll: ends in `Err(Abandoned)`, with a wake-up if it was
/// `Pending`, and never hangs (also under an executor).
#[test]
fn abandon_vs_poll() {
    model(|| {
        let (completer, mut future) = waitable::<Val>();
        let tx = thread::spawn(move || drop(completer));
        let (inner, waker) = counting_waker();
        let first = poll_once(&mut future, &waker);
        tx.join().unwrap();
        let result = match first {
            Poll::Ready(result) => result,
            Poll::Pending => {
                assert_eq!(inner.wakes(), 1, "abandonment must wake the future");
                match poll_once(&mut future, &waker) {
                    Poll::Ready(result) => result,
                    Poll::Pending => panic!("woken but still pending"),
                }
            }
        };
        assert_eq!(result.unwrap_err(), Abandoned);
        drop(future);
        assert_no_waker_leak(&inner, waker);
    });
}

/// drop of the completer vs an executor polling the future.
#[test]
fn abandon_vs_block_on() {
    model(|| {
        let (completer, future) = waitable::<Val>();
        let tx = thread::spawn(move || drop(completer));
        assert_eq!(loom::future::block_on(future).unwrap_err(), Abandoned);
        tx.join().unwrap();
    });
}

/// on_cancel vs complete: the hook runs exactly once iff complete returned `Err`.
#[test]
fn on_cancel_vs_complete() {
    model(|| {
        let hooks = Arc::new(AtomicUsize::new(0));
        let (completer, future) = waitable::<Val>();
        let (val, counter) = Val::new(8);
        let hook_count = hooks.clone();
        let future = future.on_cancel(move || {
            hook_count.fetch_add(1, Ordering::SeqCst);
        });
        let tx = thread::spawn(move || completer.complete(val));
        drop(future);
        let result = tx.join().unwrap();
        assert_eq!(
            hooks.load(Ordering::SeqCst),
            usize::from(result.is_err()),
            "the hook runs iff the value came back"
        );
        check_complete_vs_drop(result, &counter, 8);
    });
}

/// on_complete vs complete: the callback runs exactly once, with the value, on either
/// thread.
#[test]
fn on_complete_vs_complete() {
    model(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let (completer, future) = waitable::<Val>();
        let (val, counter) = Val::new(9);
        let tx = thread::spawn(move || completer.complete(val).is_ok());
        let seen = calls.clone();
        future.on_complete(move |result| {
            assert_eq!(result.unwrap().id, 9);
            seen.fetch_add(1, Ordering::SeqCst);
        });
        assert!(tx.join().unwrap(), "on_complete keeps the result wanted");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(load(&counter), 1);
    });
}

/// on_complete (replacing a registered waker) vs drop of the completer: the callback runs
/// exactly once with `Abandoned`, and the replaced waker is released.
#[test]
fn on_complete_after_poll_vs_abandon() {
    model(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let (completer, mut future) = waitable::<Val>();
        let (inner, waker) = counting_waker();
        assert!(poll_once(&mut future, &waker).is_pending());
        let tx = thread::spawn(move || drop(completer));
        let seen = calls.clone();
        future.on_complete(move |result| {
            assert_eq!(result.unwrap_err(), Abandoned);
            seen.fetch_add(1, Ordering::SeqCst);
        });
        tx.join().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_no_waker_leak(&inner, waker);
    });
}

/// canceled() then complete vs on_complete: consuming the future into a done-callback is
/// not a cancellation, so canceled() stays `Pending` and its waker is never woken; the
/// callback runs exactly once with the value.
#[test]
fn canceled_then_complete_vs_on_complete() {
    model(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let (mut completer, future) = waitable::<Val>();
        let (val, counter) = Val::new(18);
        let (inner, waker) = counting_waker();
        let tx_waker = waker.clone();
        let tx = thread::spawn(move || {
            let canceled = completer.poll_canceled(&mut Context::from_waker(&tx_waker));
            assert!(canceled.is_pending(), "on_complete is not a cancellation");
            assert!(!completer.is_canceled());
            completer.complete(val).is_ok()
        });
        let seen = calls.clone();
        future.on_complete(move |result| {
            assert_eq!(result.unwrap().id, 18);
            seen.fetch_add(1, Ordering::SeqCst);
        });
        assert!(tx.join().unwrap());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(load(&counter), 1);
        assert_eq!(inner.wakes(), 0);
        assert_no_waker_leak(&inner, waker);
    });
}

/// canceled() vs drop of the future: the completer sees `Ready` after the drop (woken if
/// it was `Pending`), `is_canceled` agrees, and complete hands the value back.
#[test]
fn canceled_vs_drop_future() {
    model(|| {
        let (mut completer, future) = waitable::<Val>();
        let (val, counter) = Val::new(10);
        let rx = thread::spawn(move || drop(future));
        let (inner, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let first = completer.poll_canceled(&mut cx);
        if first.is_ready() {
            assert!(completer.is_canceled());
        }
        rx.join().unwrap();
        if first.is_pending() {
            assert_eq!(inner.wakes(), 1, "the drop must wake the canceled() waker");
            assert!(completer.poll_canceled(&mut cx).is_ready());
        }
        assert!(completer.is_canceled());
        let back = completer.complete(val).unwrap_err();
        assert_eq!(back.id, 10);
        drop(back);
        assert_eq!(load(&counter), 1);
        assert_no_waker_leak(&inner, waker);
    });
}

/// The `canceled()` future (dropped, withdrawing its waker) vs drop of the future.
#[test]
fn canceled_future_dropped_vs_drop_future() {
    model(|| {
        let (mut completer, future) = waitable::<Val>();
        let rx = thread::spawn(move || drop(future));
        let (inner, waker) = counting_waker();
        let ready = {
            let mut canceled = completer.canceled();
            let ready = Pin::new(&mut canceled)
                .poll(&mut Context::from_waker(&waker))
                .is_ready();
            drop(canceled); // withdraws the waker, racing the future's drop claiming it
            ready
        };
        if ready {
            assert!(completer.is_canceled());
        }
        rx.join().unwrap();
        assert!(completer.is_canceled());
        assert!(inner.wakes() <= 1);
        drop(completer);
        assert_no_waker_leak(&inner, waker);
    });
}

/// A completer that polls `canceled()` and then completes, vs a drop of the future with an
/// `on_cancel` hook: the hook runs iff the value comes back, a `Ready` cancellation means
/// the value comes back, and the canceled() waker is woken only by a real cancellation.
#[test]
fn canceled_then_complete_vs_drop_with_hook() {
    model(|| {
        let hooks = Arc::new(AtomicUsize::new(0));
        let (mut completer, future) = waitable::<Val>();
        let (val, counter) = Val::new(15);
        let hook_count = hooks.clone();
        let future = future.on_cancel(move || {
            hook_count.fetch_add(1, Ordering::SeqCst);
        });
        let (inner, waker) = counting_waker();
        let tx_waker = waker.clone();
        let tx = thread::spawn(move || {
            let canceled = completer.poll_canceled(&mut Context::from_waker(&tx_waker));
            (canceled, completer.complete(val))
        });
        drop(future);
        let (canceled, result) = tx.join().unwrap();
        assert_eq!(hooks.load(Ordering::SeqCst), usize::from(result.is_err()));
        if canceled.is_ready() {
            assert!(
                result.is_err(),
                "canceled() was Ready: the value must come back"
            );
        }
        if inner.wakes() == 1 {
            assert!(canceled.is_pending() && result.is_err());
        }
        check_complete_vs_drop(result, &counter, 15);
        assert_no_waker_leak(&inner, waker);
    });
}

/// A receiver that polls, then waits with a zero timeout, then gives up and drops the
/// future, vs complete: every step races the completer.
#[test]
fn poll_wait_drop_vs_complete() {
    model(|| {
        let (completer, mut future) = waitable::<Val>();
        let (val, counter) = Val::new(16);
        let (inner, waker) = counting_waker();
        let rx = thread::spawn(move || {
            let got = match poll_once(&mut future, &waker) {
                Poll::Ready(result) => Some(result.unwrap().id),
                Poll::Pending => future.wait_timeout(Duration::ZERO).ok().map(|v| v.id),
            };
            drop(future);
            drop(waker);
            got
        });
        let result = completer.complete(val);
        let got = rx.join().unwrap();
        if got.is_some() {
            assert_eq!(got, Some(16));
            assert!(result.is_ok());
        }
        check_complete_vs_drop(result, &counter, 16);
        assert_eq!(std::sync::Arc::strong_count(&inner), 1, "waker leaked");
    });
}

/// canceled() under an executor vs drop of the future: never hangs.
#[test]
fn canceled_block_on_vs_drop_future() {
    model(|| {
        let (mut completer, future) = waitable::<Val>();
        let rx = thread::spawn(move || drop(future));
        loom::future::block_on(completer.canceled());
        assert!(completer.is_canceled());
        rx.join().unwrap();
    });
}

/// Re-poll with a new waker vs complete: if the re-poll returns `Pending`, the new waker
/// is woken and the old one is not; every clone of both is released.
#[test]
fn repoll_new_waker_vs_complete() {
    model(|| {
        let (completer, mut future) = waitable::<Val>();
        let (val, counter) = Val::new(11);
        let (old, old_waker) = counting_waker();
        let (new, new_waker) = counting_waker();
        assert!(poll_once(&mut future, &old_waker).is_pending());
        let tx = thread::spawn(move || completer.complete(val).is_ok());
        let second = poll_once(&mut future, &new_waker);
        assert!(tx.join().unwrap());
        let got = match second {
            Poll::Ready(result) => {
                // Completed before or during the re-poll: at most the old waker was woken.
                assert_eq!(new.wakes(), 0);
                assert!(old.wakes() <= 1);
                result
            }
            Poll::Pending => {
                assert_eq!(new.wakes(), 1, "the last registered waker must be woken");
                assert_eq!(old.wakes(), 0, "a replaced waker must not be woken");
                match poll_once(&mut future, &new_waker) {
                    Poll::Ready(result) => result,
                    Poll::Pending => panic!("woken but still pending"),
                }
            }
        };
        assert_eq!(got.unwrap().id, 11);
        drop(future);
        assert_eq!(load(&counter), 1);
        assert_no_waker_leak(&old, old_waker);
        assert_no_waker_leak(&new, new_waker);
    });
}

/// Re-poll with the same waker vs complete: the stored clone is kept, woken at most once,
/// and released.
#[test]
fn repoll_same_waker_vs_complete() {
    model(|| {
        let (completer, mut future) = waitable::<Val>();
        let (val, _counter) = Val::new(12);
        let (inner, waker) = counting_waker();
        assert!(poll_once(&mut future, &waker).is_pending());
        let tx = thread::spawn(move || completer.complete(val).is_ok());
        let second = poll_once(&mut future, &waker);
        assert!(tx.join().unwrap());
        if second.is_pending() {
            assert_eq!(inner.wakes(), 1);
            assert!(poll_once(&mut future, &waker).is_ready());
        }
        assert!(inner.wakes() <= 1);
        drop(future);
        assert_no_waker_leak(&inner, waker);
    });
}

/// into_raw / from_raw round trip on another thread vs drop of the future.
#[test]
fn raw_round_trip_vs_drop_future() {
    model(|| {
        let (completer, future) = waitable::<Val>();
        let (val, counter) = Val::new(13);
        let ptr = SendPtr(completer.into_raw());
        let tx = thread::spawn(move || {
            let ptr = ptr;
            // SAFETY: `ptr` came from `Completer::<Val>::into_raw` and is used once.
            let completer = unsafe { Completer::<Val>::from_raw(ptr.0) };
            completer.complete(val)
        });
        drop(future);
        check_complete_vs_drop(tx.join().unwrap(), &counter, 13);
    });
}
