#![cfg(anywait_loom)]
//! loom models of [`AsyncEvent`].
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg anywait_loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test --release --test loom_event
//! ```
//!
//! Every model has at least two threads that genuinely race, and asserts something that a
//! wrong state machine would break: a lost wake-up shows up as a loom deadlock (every thread
//! blocked) or as a counting waker that was never woken; a spurious completion as a future
//! that is `Ready` although no `set()` happened since it was created. Wakers are
//! `std::task::Wake` on a `std::sync::Arc`, whose strong count must be back at 1 when a
//! model ends: no waker is leaked or over-released by the queue.
//!
//! Under loom, `park_timeout` returns at once (a modelled spurious wake-up), and a
//! `wait_timeout(Duration::ZERO)` registers the thread, re-checks and deregisters: exactly
//! the register/deregister vs notify race.
//!
//! Cost: every model but `three_waiters_vs_set` is small enough to explore exhaustively
//! (at most a few thousand interleavings, under a second each in `--release`), so
//! `LOOM_MAX_PREEMPTIONS` does not bound them; `three_waiters_vs_set` (three threads, three
//! waiters) is bounded to 3 preemptions, see its comment. The file takes a few seconds.
//!
//! `AsyncEvent::new` is a plain `fn` under loom (loom's types have no const constructors),
//! so every model creates its event inside the model.

mod support;

// `wait_owned` takes a `std` Arc; the event's own atomics and lock are loom's.
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use anywait::AsyncEvent;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use support::loom_models::explore;
use support::{assert_no_waker_leak, counting_waker, poll_once};

/// How much of a model's state space loom explores.
#[derive(Clone, Copy, Debug)]
enum Bound {
    /// Every interleaving, whatever `LOOM_MAX_PREEMPTIONS` says: for the models that are
    /// small enough (each well under a second in `--release`).
    Exhaustive,
    /// At least this many preemptions per execution (more if `LOOM_MAX_PREEMPTIONS` asks
    /// for more).
    Preemptions(usize),
}

/// Runs `f` under loom and checks that loom explored more than one interleaving, i.e.
/// that the threads really race. Prints the number of interleavings and the time taken
/// (see them with `--nocapture`).
fn model(name: &str, bound: Bound, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = match bound {
        Bound::Exhaustive => None,
        Bound::Preemptions(n) => Some(builder.preemption_bound.map_or(n, |env| env.max(n))),
    };
    let runs = explore(builder, f);
    assert!(runs > 1, "{name}: nothing raced");
}

fn noop_waker() -> &'static Waker {
    futures::task::noop_waker_ref()
}

/// set() vs the first poll of a wait created concurrently with it: whichever order, the
/// wait completes (a set() before creation leaves the event set; one after creation is
/// either seen by the admission check or wakes the queued waker).
#[test]
fn set_vs_first_poll() {
    model("set_vs_first_poll", Bound::Exhaustive, || {
        let event = Arc::new(AsyncEvent::new());
        let setter = {
            let event = event.clone();
            thread::spawn(move || event.set())
        };
        let (inner, waker) = counting_waker();
        let mut wait = Box::pin(event.wait());
        let first = poll_once(&mut wait, &waker);
        setter.join().unwrap();
        assert!(event.is_set());
        if first.is_pending() {
            // Registered before set(): set() must have woken exactly this waker, once.
            assert_eq!(inner.wakes(), 1, "lost wake-up");
            assert!(poll_once(&mut wait, &waker).is_ready());
        } else {
            assert_eq!(inner.wakes(), 0, "woken although it never registered");
        }
        drop(wait);
        assert_no_waker_leak(&inner, waker);
    });
}

/// set(); clear() vs an unpolled wait created before both: the wait must complete,
/// whether it is first polled before set (queued, then woken), between set and clear
/// (sees SET) or after clear (sees the generation moved on).
#[test]
fn set_then_clear_vs_unpolled_wait() {
    model("set_then_clear_vs_unpolled_wait", Bound::Exhaustive, || {
        let event = Arc::new(AsyncEvent::new());
        let wait = event.wait_owned();
        let setter = {
            let event = event.clone();
            thread::spawn(move || {
                event.set();
                event.clear();
            })
        };
        // loom's block_on reports a deadlock if the wake-up is lost.
        loom::future::block_on(wait);
        setter.join().unwrap();
        assert!(!event.is_set());
    });
}

/// clear() vs a wait created by another thread: a wait created after the clear (the
/// waiter saw the event unset before creating it) must not complete, since no set()
/// follows; a wait created before the clear may complete only if it saw the event set.
#[test]
fn clear_vs_wait() {
    model("clear_vs_wait", Bound::Exhaustive, || {
        let event = Arc::new(AsyncEvent::new());
        event.set();
        let clearer = {
            let event = event.clone();
            thread::spawn(move || event.clear())
        };
        let (inner, waker) = counting_waker();
        let set_before = event.is_set();
        let mut wait = Box::pin(event.wait());
        let first = poll_once(&mut wait, &waker);
        if !set_before {
            assert!(
                first.is_pending(),
                "completed without a set() since creation"
            );
        }
        clearer.join().unwrap();
        assert!(!event.is_set());
        if first.is_pending() {
            // No set() after the clear: still pending, never woken.
            assert!(
                poll_once(&mut wait, &waker).is_pending(),
                "completed while unset"
            );
            assert_eq!(inner.wakes(), 0, "woken without a set()");
        }
        drop(wait);
        assert_no_waker_leak(&inner, waker);
    });
}

/// set() vs clear() followed by a new wait: the wait is done exactly when the set() came
/// after the clear() (the event ends up set), and a pending one is then woken exactly once.
#[test]
fn set_vs_clear_then_wait() {
    model("set_vs_clear_then_wait", Bound::Exhaustive, || {
        set_vs_clear_then_wait_body(false)
    });
}

/// As [`set_vs_clear_then_wait`], with a waiter queued beforehand, so that set() walks
/// the queue while the clear() and the new wait's registration race with it: the new
/// wait, queued in the next generation, must not be woken by that walk.
#[test]
fn set_with_queue_vs_clear_then_wait() {
    model(
        "set_with_queue_vs_clear_then_wait",
        Bound::Exhaustive,
        || set_vs_clear_then_wait_body(true),
    );
}

fn set_vs_clear_then_wait_body(queue_one_first: bool) {
    let event = Arc::new(AsyncEvent::new());
    let (early_inner, early_waker) = counting_waker();
    let mut early = Box::pin(event.wait());
    if queue_one_first {
        assert!(poll_once(&mut early, &early_waker).is_pending());
    }
    let setter = {
        let event = event.clone();
        thread::spawn(move || event.set())
    };
    let (inner, waker) = counting_waker();
    event.clear();
    let mut wait = Box::pin(event.wait());
    let first = poll_once(&mut wait, &waker);
    setter.join().unwrap();
    let set_after_clear = event.is_set();
    let again = poll_once(&mut wait, &waker);
    if set_after_clear {
        assert!(
            again.is_ready(),
            "set() after creation did not release the wait"
        );
        let expected_wakes = usize::from(first.is_pending());
        assert_eq!(inner.wakes(), expected_wakes, "lost or extra wake-up");
    } else {
        // The set() came first and the clear() undid it: the wait waits for the next.
        assert!(
            first.is_pending() && again.is_pending(),
            "completed while unset"
        );
        assert_eq!(inner.wakes(), 0, "woken without a set() since creation");
    }
    assert_eq!(early_inner.wakes(), usize::from(queue_one_first));
    assert!(poll_once(&mut early, &early_waker).is_ready());
    drop((early, wait));
    assert_no_waker_leak(&inner, waker);
    assert_no_waker_leak(&early_inner, early_waker);
}

/// Dropping a registered waiter vs set(): the waiters queued before and after it are
/// still woken exactly once each, the dropped one's waker is released, and nothing touches
/// the dropped node (its unlink relinks both neighbours while the notifier walks the queue;
/// both run under the queue lock).
#[test]
fn drop_registered_vs_set() {
    model("drop_registered_vs_set", Bound::Exhaustive, || {
        let event = Arc::new(AsyncEvent::new());
        let wakers: Vec<_> = (0..3).map(|_| counting_waker()).collect();
        let mut waits: Vec<_> = (0..3).map(|_| Box::pin(event.wait())).collect();
        for (wait, (_, waker)) in waits.iter_mut().zip(&wakers) {
            assert!(poll_once(wait, waker).is_pending());
        }
        let setter = {
            let event = event.clone();
            thread::spawn(move || event.set())
        };
        drop(waits.remove(1));
        setter.join().unwrap();
        assert!(wakers[1].0.wakes() <= 1);
        for (wait, i) in waits.iter_mut().zip([0, 2]) {
            let (inner, waker) = &wakers[i];
            assert_eq!(
                inner.wakes(),
                1,
                "a dropped waiter swallowed another's wake-up"
            );
            assert!(poll_once(wait, waker).is_ready());
        }
        drop(waits);
        for (inner, waker) in wakers {
            assert_no_waker_leak(&inner, waker);
        }
    });
}

/// Dropping a registered waiter vs set(); clear() and a new waiter queued by the setting
/// thread: the drop must notice (under the lock) that set() already took its node out,
/// and must not unlink it a second time, which would cut the new waiter out of the queue
/// and lose its wake-up at the next set().
#[test]
fn drop_registered_vs_set_clear_requeue() {
    model(
        "drop_registered_vs_set_clear_requeue",
        Bound::Exhaustive,
        || {
            let event = Arc::new(AsyncEvent::new());
            let mut dropped = Box::pin(event.wait());
            assert!(poll_once(&mut dropped, noop_waker()).is_pending());
            let (inner, waker) = counting_waker();
            let setter = {
                let event = event.clone();
                thread::spawn(move || {
                    event.set();
                    event.clear();
                    let mut next = Box::pin(event.wait_owned());
                    assert!(
                        poll_once(&mut next, &waker).is_pending(),
                        "no set() since creation"
                    );
                    (next, waker)
                })
            };
            drop(dropped);
            let (mut next, waker) = setter.join().unwrap();
            assert_eq!(inner.wakes(), 0);
            event.set();
            assert_eq!(inner.wakes(), 1, "the queued waiter was lost");
            assert!(poll_once(&mut next, &waker).is_ready());
            drop(next);
            assert_no_waker_leak(&inner, waker);
        },
    );
}

/// Two generations of waiters vs set(); clear(); set() on another thread: a waiter queued
/// before the first set() and one created concurrently with the whole sequence (possibly
/// queued in the second generation while the first set() is still walking the queue) are
/// both released. Three threads.
#[test]
fn set_clear_set_vs_two_generations() {
    model(
        "set_clear_set_vs_two_generations",
        Bound::Exhaustive,
        || {
            let event = Arc::new(AsyncEvent::new());
            let (inner, waker) = counting_waker();
            let mut early = Box::pin(event.wait());
            assert!(poll_once(&mut early, &waker).is_pending());
            let setter = {
                let event = event.clone();
                thread::spawn(move || {
                    event.set();
                    event.clear();
                    event.set();
                })
            };
            let late = {
                let event = event.clone();
                thread::spawn(move || loom::future::block_on(event.wait_owned()))
            };
            setter.join().unwrap();
            late.join().unwrap();
            assert_eq!(
                inner.wakes(),
                1,
                "the first-generation waiter was not woken once"
            );
            assert!(poll_once(&mut early, &waker).is_ready());
            drop(early);
            assert_no_waker_leak(&inner, waker);
        },
    );
}

/// Re-polling a queued wait with a different waker vs set(): either the re-poll already
/// sees the notification, or the replacement waker (not the old one) is woken.
#[test]
fn repoll_new_waker_vs_set() {
    model("repoll_new_waker_vs_set", Bound::Exhaustive, || {
        let event = Arc::new(AsyncEvent::new());
        let (old_inner, old_waker) = counting_waker();
        let (new_inner, new_waker) = counting_waker();
        let mut wait = Box::pin(event.wait());
        assert!(poll_once(&mut wait, &old_waker).is_pending());
        let setter = {
            let event = event.clone();
            thread::spawn(move || event.set())
        };
        let second = poll_once(&mut wait, &new_waker);
        setter.join().unwrap();
        if second.is_pending() {
            assert_eq!(old_inner.wakes(), 0, "the replaced waker was woken");
            assert_eq!(new_inner.wakes(), 1, "lost or doubled wake-up");
        } else {
            // Ready: the re-poll saw the set (before or after its walk reached the
            // node), so at most the old waker was woken, once.
            assert_eq!(new_inner.wakes(), 0, "woken although it returned Ready");
            assert!(old_inner.wakes() <= 1, "doubled wake-up");
        }
        assert!(poll_once(&mut wait, &new_waker).is_ready());
        drop(wait);
        assert_no_waker_leak(&old_inner, old_waker);
        assert_no_waker_leak(&new_inner, new_waker);
    });
}

/// A queued wait, one set() on another thread, then a second set() and a poll here: the
/// second set() may return at once (it finds the event set) while the first is still
/// walking the queue, yet the poll after it must be `Ready`, and the queued waker is woken
/// at most once.
#[test]
fn poll_after_early_returning_set_vs_set() {
    model(
        "poll_after_early_returning_set_vs_set",
        Bound::Exhaustive,
        || {
            let event = Arc::new(AsyncEvent::new());
            let (inner, waker) = counting_waker();
            let mut wait = Box::pin(event.wait_owned());
            assert!(poll_once(&mut wait, &waker).is_pending());
            let setter = {
                let event = event.clone();
                thread::spawn(move || event.set())
            };
            event.set();
            assert!(
                poll_once(&mut wait, &waker).is_ready(),
                "Pending after set() returned"
            );
            setter.join().unwrap();
            assert!(inner.wakes() <= 1, "woken twice");
            drop(wait);
            assert_no_waker_leak(&inner, waker);
        },
    );
}

/// The same race for a thread's `wait_timeout(ZERO)` after an early-returning set():
/// it must report the event set.
#[test]
fn wait_timeout_after_early_returning_set_vs_set() {
    model(
        "wait_timeout_after_early_returning_set_vs_set",
        Bound::Exhaustive,
        || {
            let event = Arc::new(AsyncEvent::new());
            let waiter = {
                let event = event.clone();
                thread::spawn(move || event.wait_timeout(Duration::ZERO))
            };
            let setter = {
                let event = event.clone();
                thread::spawn(move || event.set())
            };
            event.set();
            assert!(
                event.wait_timeout(Duration::ZERO),
                "false after set() returned"
            );
            setter.join().unwrap();
            let _ = waiter.join().unwrap();
        },
    );
}

/// wait_timeout(ZERO) vs set(): registers, re-checks and deregisters while set() walks
/// the queue. A set() that finished before the wait started must give `true`; afterwards
/// the queue must still work (a stale stack node left in it would be touched by the next
/// set()).
#[test]
fn wait_timeout_zero_vs_set() {
    model("wait_timeout_zero_vs_set", Bound::Exhaustive, || {
        let event = Arc::new(AsyncEvent::new());
        let set_done = Arc::new(AtomicBool::new(false));
        let setter = {
            let event = event.clone();
            let set_done = set_done.clone();
            thread::spawn(move || {
                event.set();
                set_done.store(true, Ordering::SeqCst);
            })
        };
        let set_before = set_done.load(Ordering::SeqCst);
        let released = event.wait_timeout(Duration::ZERO);
        if set_before {
            assert!(
                released,
                "timed out although the event was set before the wait"
            );
        }
        setter.join().unwrap();
        // The queue is intact: a fresh waiter is queued and woken by the next set().
        event.clear();
        let (inner, waker) = counting_waker();
        let mut wait = Box::pin(event.wait());
        assert!(poll_once(&mut wait, &waker).is_pending());
        event.set();
        assert_eq!(inner.wakes(), 1);
        assert!(poll_once(&mut wait, &waker).is_ready());
        drop(wait);
        assert_no_waker_leak(&inner, waker);
    });
}

/// wait_timeout(long) vs set(): must return true. Under loom the timed park returns at
/// once, so a lost wake-up spins until loom's branch limit fails the model.
#[test]
fn wait_timeout_long_vs_set() {
    model("wait_timeout_long_vs_set", Bound::Exhaustive, || {
        let event = Arc::new(AsyncEvent::new());
        let setter = {
            let event = event.clone();
            thread::spawn(move || event.set())
        };
        assert!(event.wait_timeout(Duration::from_secs(3600)));
        setter.join().unwrap();
    });
}

/// set() vs wait_blocking(): the thread waiter is unparked (a lost unpark is a loom
/// deadlock).
#[test]
fn wait_blocking_vs_set() {
    model("wait_blocking_vs_set", Bound::Exhaustive, || {
        let event = Arc::new(AsyncEvent::new());
        let setter = {
            let event = event.clone();
            thread::spawn(move || event.set())
        };
        event.wait_blocking();
        assert!(event.is_set());
        setter.join().unwrap();
    });
}

/// Three waiters vs one set() from another thread: two futures awaited together on one
/// thread (one borrowed, one owned) and one blocked thread, all released. Three threads
/// in total; a fourth thread made the state space explode (see the bound below).
#[test]
fn three_waiters_vs_set() {
    // Cost in --release: 2 preemptions 2.4k interleavings (0.3 s), 3: 35k (2.3 s, the
    // bound used), 4: 292k (30 s); it grows ~10x per extra preemption.
    model("three_waiters_vs_set", Bound::Preemptions(3), || {
        let event = Arc::new(AsyncEvent::new());
        let blocked = {
            let event = event.clone();
            thread::spawn(move || event.wait_blocking())
        };
        let tasks = {
            let event = event.clone();
            thread::spawn(move || {
                let owned = event.wait_owned();
                loom::future::block_on(futures::future::join(event.wait(), owned));
            })
        };
        event.set();
        tasks.join().unwrap();
        blocked.join().unwrap();
        assert!(event.is_set());
    });
}
