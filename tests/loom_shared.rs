#![cfg(anywait_loom)]
//! loom models of [`SharedWaitable`].
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg anywait_loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test --release --test loom_shared
//! ```
//!
//! `SharedWaitable` keeps its state in a `std::sync::Arc` (with a `Weak` in the fan-out
//! waker) and its result in a `std::sync::OnceLock`, which loom does not model; the races
//! that matter run through the shim's loom atomics and mutexes (the one-shot block, the
//! event's state word and wait queue, the `source` and `callbacks` mutexes), and loom
//! schedules the threads around those. Every model has at least two threads that race
//! and asserts something a wrong implementation breaks: a lost wake-up is a loom deadlock
//! (every thread blocked) or a counting waker that was never woken; a lost or doubled
//! cancellation is an `on_cancel` count that disagrees with what `complete` returned; a
//! lost or doubled done-callback is a call count other than one.
//!
//! Under loom, `park_timeout` returns at once (a modelled spurious wake-up), so
//! `wait_timeout(Duration::ZERO)` registers the thread, re-checks and deregisters: the
//! register/deregister vs notify race.
//!
//! Cost (release build, on a shared 2-core machine; run with `--nocapture` to see each
//! model's execution count): with `LOOM_MAX_PREEMPTIONS=2` the whole file takes well under
//! a second (the largest model explores ~5,300 executions). Without a bound every model but
//! one still finishes within seconds (the largest,
//! `wait_timeout_zero_vs_first_poll_vs_complete`, explores ~93,000 executions in ~5 s);
//! `abandon_vs_wait_blocking_and_block_on` (three threads, one of them in loom's
//! `block_on`) does not finish in minutes, so it sets its own bound of 2.
//!
//! Limits: the handles' `std::sync::Arc` strong count is not a loom object, so which drop
//! is "the last handle" follows the schedule loom picks around the loom operations (the
//! one-shot block's state word, the shared state's mutexes) rather than being explored on
//! its own. `pending_callback_keeps_alive_vs_complete` therefore has a single execution:
//! with the callback holding a reference, the drop touches no object the completion does.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::task::Poll;
use std::time::Duration;

use anywait::{waitable, Abandoned, WaitError};
use loom::thread;
use support::loom_models::explore;
use support::{assert_no_waker_leak, counting_waker, poll_once, runs, with_hook};

/// `loom::model`, printing how many executions (interleavings) loom explored, so the
/// cost of each model is visible with `--nocapture`.
fn model(f: impl Fn() + Sync + Send + 'static) {
    explore(loom::model::Builder::new(), f);
}

/// [`model`] with at most `bound` preemptions, whatever `LOOM_MAX_PREEMPTIONS` says.
fn model_bounded(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    explore(builder, f);
}

/// Keeps the expected (caught) callback panics, whose payload is a `u32`, out of the
/// output of thousands of loom executions; every other panic is reported as usual.
fn quiet_u32_panics() {
    support::quiet_panics::<u32>();
}

// ---------------------------------------------------------------------------------------
// Cancellation.

/// The last handle dropped vs complete: the hook runs exactly once iff `complete` handed
/// the value back (the drop won), never both, never neither.
#[test]
fn last_handle_drop_vs_complete() {
    model(|| {
        let (completer, future, hook) = with_hook::<u32>();
        let shared = future.shared();
        let tx = thread::spawn(move || completer.complete(7));
        drop(shared);
        let result = tx.join().unwrap();
        match result {
            Err(v) => {
                assert_eq!(v, 7);
                assert_eq!(runs(&hook), 1, "canceled, but the hook did not run once");
            }
            Ok(()) => assert_eq!(runs(&hook), 0, "delivered, yet the hook ran"),
        }
    });
}

/// The same with a polled clone (its waiter node queued) and two handles dropped on two
/// threads: only the last one cancels, and only if it beat the completion.
///
/// Three threads (a few dozen executions).
#[test]
fn two_last_handles_drop_vs_complete() {
    model(|| {
        let (completer, future, hook) = with_hook::<u32>();
        let shared = future.shared();
        let mut polled = Box::pin(shared.clone());
        let (inner, waker) = counting_waker();
        assert!(poll_once(&mut polled, &waker).is_pending());
        let tx = thread::spawn(move || completer.complete(7));
        let dropper = thread::spawn(move || drop(polled));
        drop(shared);
        dropper.join().unwrap();
        let result = tx.join().unwrap();
        assert_eq!(runs(&hook), usize::from(result.is_err()));
        // Woken only if the completion came while the clone was still queued.
        assert!(inner.wakes() <= 1);
        assert_no_waker_leak(&inner, waker);
    });
}

/// A pending done-callback counts as a handle: dropping the last handle concurrently with
/// the completion never cancels, and the callback runs exactly once with the value.
/// (A single execution: see the module docs; the three-thread model
/// `callback_then_drops_on_two_threads_vs_complete` races the registration as well.)
#[test]
fn pending_callback_keeps_alive_vs_complete() {
    model(|| {
        let (completer, future, hook) = with_hook::<u32>();
        let shared = future.shared();
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        shared.on_complete(move |r| {
            assert_eq!(r, Ok(7));
            seen.fetch_add(1, Ordering::SeqCst);
        });
        let tx = thread::spawn(move || completer.complete(7));
        drop(shared);
        assert_eq!(
            tx.join().unwrap(),
            Ok(()),
            "a pending callback keeps it wanted"
        );
        assert_eq!(runs(&calls), 1);
        assert_eq!(runs(&hook), 0);
    });
}

/// A callback registered (then its handle dropped) on one thread, the other handle
/// dropped on a second, the value from a third: the callback was registered while a
/// handle was alive, so it keeps the operation alive through both drops: never canceled,
/// the callback runs exactly once with the value, everything is released.
///
/// Three threads.
#[test]
fn callback_then_drops_on_two_threads_vs_complete() {
    model(|| {
        let (completer, future, hook) = with_hook::<u32>();
        let shared = future.shared();
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let registering = {
            let clone = shared.clone();
            let seen = calls.clone();
            thread::spawn(move || {
                clone.on_complete(move |r| {
                    assert_eq!(r, Ok(7));
                    seen.fetch_add(1, Ordering::SeqCst);
                });
                drop(clone);
            })
        };
        let tx = thread::spawn(move || completer.complete(7));
        drop(shared);
        registering.join().unwrap();
        assert_eq!(
            tx.join().unwrap(),
            Ok(()),
            "canceled despite a pending callback"
        );
        assert_eq!(runs(&calls), 1);
        assert_eq!(runs(&hook), 0);
    });
}

// ---------------------------------------------------------------------------------------
// Done-callbacks.

/// on_complete registrations vs complete: each callback runs exactly once with the value;
/// callbacks the fan-out runs run in registration order; a callback registered after the
/// registering thread saw the result runs before `on_complete` returns.
#[test]
fn on_complete_vs_complete() {
    model(|| {
        let (completer, future) = waitable::<u32>();
        let shared = future.shared();
        let log = std::sync::Arc::new(Mutex::new(Vec::new()));
        let main_thread = thread::current().id();
        let tx = thread::spawn(move || completer.complete(7).unwrap());
        for id in 0..2 {
            let sink = log.clone();
            let seen_complete = shared.is_complete();
            shared.on_complete(move |r| {
                assert_eq!(r, Ok(7));
                let on_main = thread::current().id() == main_thread;
                sink.lock().unwrap().push((id, on_main));
            });
            if seen_complete {
                assert!(
                    log.lock().unwrap().iter().any(|&(i, _)| i == id),
                    "callback {id}: the result was there, yet it did not run at once"
                );
            }
        }
        tx.join().unwrap();
        let log = log.lock().unwrap().clone();
        let mut ids: Vec<u32> = log.iter().map(|&(id, _)| id).collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![0, 1], "each callback exactly once: {log:?}");
        // Callbacks that ran on the completing thread ran in registration order.
        let fanned: Vec<u32> = log
            .iter()
            .filter(|&&(_, on_main)| !on_main)
            .map(|&(id, _)| id)
            .collect();
        assert!(fanned.windows(2).all(|w| w[0] < w[1]), "{log:?}");
        // Once one ran at once, every later one did too.
        if let Some(first_at_once) = log.iter().filter(|e| e.1).map(|e| e.0).min() {
            assert!(log
                .iter()
                .all(|&(id, on_main)| id < first_at_once || on_main));
        }
        assert!(shared.take_callback_panics().is_empty());
    });
}

/// A panicking callback vs complete: caught wherever it runs, the other callback still
/// runs, the value is intact and the payload is reported.
#[test]
fn panicking_callback_vs_complete() {
    quiet_u32_panics();
    model(|| {
        let (completer, future) = waitable::<u32>();
        let shared = future.shared();
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let tx = thread::spawn(move || completer.complete(7));
        shared.on_complete(|_| std::panic::panic_any(13u32));
        let seen = calls.clone();
        shared.on_complete(move |r| {
            assert_eq!(r, Ok(7));
            seen.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(tx.join().unwrap(), Ok(()), "no panic reached the completer");
        assert_eq!(runs(&calls), 1);
        assert_eq!(shared.try_get(), Some(Ok(7)));
        let panics = shared.take_callback_panics();
        assert_eq!(panics.len(), 1);
        assert_eq!(panics[0].downcast_ref::<u32>(), Some(&13));
    });
}

// ---------------------------------------------------------------------------------------
// Waiting.

/// `shared()` vs a completion on another thread: the fan-out waker may fire while the
/// creating thread still holds the inner future. Whichever order, the result arrives (the
/// `raced` re-check in `drive`), exactly once.
#[test]
fn creation_vs_complete() {
    model(|| {
        let (completer, future) = waitable::<u32>();
        let tx = thread::spawn(move || completer.complete(7));
        let shared = future.shared();
        assert_eq!(tx.join().unwrap(), Ok(()));
        assert_eq!(shared.try_get(), Some(Ok(7)), "the completion was lost");
    });
}

/// `shared()` vs abandonment, with a blocking wait right after: released with Abandoned.
#[test]
fn creation_vs_abandon_then_wait_blocking() {
    model(|| {
        let (completer, future) = waitable::<u32>();
        let tx = thread::spawn(move || drop(completer));
        let shared = future.shared();
        assert_eq!(shared.wait_blocking(), Err(Abandoned));
        tx.join().unwrap();
    });
}

/// One clone polled as a future, another waited on blockingly by a second thread, the
/// value from a third: both get it, the future's waker exactly once if it was pending.
///
/// Three threads (a blocked thread is what makes a lost wake-up a loom deadlock):
/// ~650 executions with `LOOM_MAX_PREEMPTIONS=2`, ~35,000 (under two seconds) unbounded.
#[test]
fn wait_blocking_and_poll_vs_complete() {
    model(|| {
        let (completer, future) = waitable::<u32>();
        let shared = future.shared();
        let mut polled = Box::pin(shared.clone());
        let blocking = shared.clone();
        let waiter = thread::spawn(move || blocking.wait_blocking());
        let tx = thread::spawn(move || completer.complete(7));
        let (inner, waker) = counting_waker();
        let first = poll_once(&mut polled, &waker);
        assert_eq!(tx.join().unwrap(), Ok(()));
        assert_eq!(waiter.join().unwrap(), Ok(7));
        match first {
            Poll::Ready(r) => {
                assert_eq!(r, Ok(7));
                assert_eq!(inner.wakes(), 0);
            }
            Poll::Pending => {
                assert_eq!(inner.wakes(), 1, "lost wake-up");
                assert_eq!(poll_once(&mut polled, &waker), Poll::Ready(Ok(7)));
            }
        }
        drop(polled);
        assert_no_waker_leak(&inner, waker);
    });
}

/// wait_timeout(ZERO) (register, re-check, deregister) on one thread and a pending future
/// on another vs the completion: the timed wait returns the value or times out, never
/// anything else, and its deregistration never takes the future's wake-up with it.
#[test]
fn wait_timeout_zero_and_poll_vs_complete() {
    model(|| {
        let (completer, future) = waitable::<u32>();
        let shared = future.shared();
        let mut polled = Box::pin(shared.clone());
        let (inner, waker) = counting_waker();
        assert!(poll_once(&mut polled, &waker).is_pending());
        let tx = thread::spawn(move || completer.complete(7));
        let timed = shared.wait_timeout(Duration::ZERO);
        assert!(
            matches!(timed, Ok(7) | Err(WaitError::Timeout)),
            "{timed:?}"
        );
        tx.join().unwrap().unwrap();
        assert_eq!(inner.wakes(), 1, "lost wake-up");
        assert_eq!(poll_once(&mut polled, &waker), Poll::Ready(Ok(7)));
        assert_eq!(shared.wait_timeout(Duration::ZERO), Ok(7));
        drop(polled);
        assert_no_waker_leak(&inner, waker);
    });
}

/// The same with three threads: a clone in `wait_timeout(ZERO)` on one, a clone polled
/// for the first time on another, the value from a third. If the first poll was pending,
/// its waker is woken exactly once; the timed wait never reports anything but the value or
/// a timeout; afterwards every wait sees the value.
///
/// Three threads: ~800 executions with `LOOM_MAX_PREEMPTIONS=2`.
#[test]
fn wait_timeout_zero_vs_first_poll_vs_complete() {
    model(|| {
        let (completer, future) = waitable::<u32>();
        let shared = future.shared();
        let mut polled = Box::pin(shared.clone());
        let timed = shared.clone();
        let waiter = thread::spawn(move || timed.wait_timeout(Duration::ZERO));
        let tx = thread::spawn(move || completer.complete(7));
        let (inner, waker) = counting_waker();
        let first = poll_once(&mut polled, &waker);
        assert_eq!(tx.join().unwrap(), Ok(()));
        let timed = waiter.join().unwrap();
        assert!(
            matches!(timed, Ok(7) | Err(WaitError::Timeout)),
            "{timed:?}"
        );
        match first {
            Poll::Ready(r) => {
                assert_eq!(r, Ok(7));
                assert_eq!(inner.wakes(), 0);
            }
            Poll::Pending => {
                assert_eq!(inner.wakes(), 1, "lost wake-up");
                assert_eq!(poll_once(&mut polled, &waker), Poll::Ready(Ok(7)));
            }
        }
        assert_eq!(shared.wait_timeout(Duration::ZERO), Ok(7));
        drop(polled);
        assert_no_waker_leak(&inner, waker);
    });
}

/// A pending clone dropped on one thread while the value arrives on another: the clone
/// that stays is woken exactly once, and the dropped one's waker is released either way.
#[test]
fn drop_pending_clone_vs_complete() {
    model(|| {
        let (completer, future) = waitable::<u32>();
        let shared = future.shared();
        let mut gone = Box::pin(shared.clone());
        let mut kept = Box::pin(shared.clone());
        let (gone_inner, gone_waker) = counting_waker();
        let (kept_inner, kept_waker) = counting_waker();
        assert!(poll_once(&mut gone, &gone_waker).is_pending());
        assert!(poll_once(&mut kept, &kept_waker).is_pending());
        let tx = thread::spawn(move || completer.complete(7));
        drop(gone);
        assert_eq!(tx.join().unwrap(), Ok(()));
        assert!(gone_inner.wakes() <= 1);
        assert_eq!(kept_inner.wakes(), 1, "lost wake-up");
        assert_eq!(poll_once(&mut kept, &kept_waker), Poll::Ready(Ok(7)));
        drop((kept, shared));
        assert_no_waker_leak(&gone_inner, gone_waker);
        assert_no_waker_leak(&kept_inner, kept_waker);
    });
}

/// Abandonment vs a blocked thread and an executor-driven clone: both are released with
/// `Abandoned` (loom's `block_on` parks, so a lost wake-up is a deadlock).
///
/// Three threads, two of them parking: the state space explodes without a bound (no end
/// in minutes), so this model bounds preemptions to 2 itself (~5,300 executions, well
/// under a second).
#[test]
fn abandon_vs_wait_blocking_and_block_on() {
    model_bounded(2, || {
        let (completer, future) = waitable::<u32>();
        let shared = future.shared();
        let blocking = shared.clone();
        let waiter = thread::spawn(move || blocking.wait_blocking());
        let tx = thread::spawn(move || drop(completer));
        assert_eq!(loom::future::block_on(shared), Err(Abandoned));
        tx.join().unwrap();
        assert_eq!(waiter.join().unwrap(), Err(Abandoned));
    });
}
