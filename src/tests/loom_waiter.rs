//! loom models of the keyed-wait registry and of `run_blocking`'s job, without the pool.
//!
//! Unit-level: they drive the waiter's private internals, so this file is declared from
//! `src/waiter/mod.rs` (as `waiter::loom_waiter`, under `cfg(all(test, anywait_loom))`)
//! although it lives with the unit tests in `src/tests/`. Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg anywait_loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release --lib loom
//! ```
//!
//! The pool itself cannot run under loom (loom has no clock: `park_timeout` returns at once
//! and `Condvar::wait_timeout` never times out, so idle threads and slices do not mean
//! anything there). So loom threads play the pool's parts directly:
//!
//! - [`helper`] is the loop of `Waiters::start_helper`: check for cancellation, run one
//!   slice, on the signal leave the registry *then* set `signaled`, on cancellation leave.
//! - awaiters are real [`ForeignWait`]s around registry entries (their drop is the real
//!   `Foreign::detach`, interrupt hook included), awaited blockingly or with
//!   `loom::future::block_on`.
//! - `run_blocking`'s job is the real one, from [`blocking_job`], run on a loom thread.
//!
//! A lost wake-up shows up as a loom deadlock (every thread blocked), a wrong count as a
//! failed assertion. Entries live in `std::sync::Arc`s (the registry's type); the models'
//! own shared state is on loom's `Arc`, whose leak check runs at the end of each execution.

use std::sync::Arc as StdArc;

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

use super::registry::{Foreign, Registry};
use super::{blocking_job, CancelToken, ForeignWait};

/// The address of the key all models wait on (the registry only ever sees addresses).
const KEY: usize = 0x1000;

/// Plays the helper of `Waiters::start_helper` for `entry`: returns `true` if it signalled,
/// `false` if it left canceled. `wait_slice` is one slice of the foreign wait.
fn helper(
    registry: &Registry,
    entry: &StdArc<Foreign>,
    mut wait_slice: impl FnMut() -> bool,
) -> bool {
    while !entry.is_canceled() {
        if wait_slice() {
            // As the pool: leave first, so a wait that starts after the signal gets a
            // fresh entry instead of a stale "signalled".
            registry.leave(KEY, entry);
            entry.signaled.set();
            return true;
        }
    }
    registry.leave(KEY, entry);
    false
}

/// A foreign wait that never fires: one slice is a yield.
fn never_fires() -> bool {
    thread::yield_now();
    false
}

/// Counts interrupt-hook runs.
fn counting_hook(hooks: &Arc<AtomicUsize>) -> impl Fn() + Send + Sync + 'static {
    let hooks = Arc::clone(hooks);
    move || {
        hooks.fetch_add(1, Ordering::SeqCst);
    }
}

/// A new attach races the last detach of the same key while the helper waits for
/// cancellation. A joiner never joins a canceled entry (it holds an awaiter, so the entry it
/// joined stays uncanceled); a fresh attach only happens once the old entry is canceled; the
/// old helper observes `is_canceled` once both awaiters are gone; the hook (set by the
/// first awaiter) runs exactly once, whoever detaches last; the registry ends empty.
#[test]
fn loom_attach_races_last_detach() {
    loom::model(|| {
        let registry = Arc::new(Registry::new());
        let hooks = Arc::new(AtomicUsize::new(0));
        let (entry, start) = registry.attach(KEY);
        assert!(start, "the first attach of a key starts its helper");
        let first = ForeignWait::new(StdArc::clone(&entry)).with_interrupt(counting_hook(&hooks));

        let helper_thread = {
            let registry = Arc::clone(&registry);
            let entry = StdArc::clone(&entry);
            thread::spawn(move || helper(&registry, &entry, never_fires))
        };
        let dropper = thread::spawn(move || drop(first));
        let joiner = {
            let registry = Arc::clone(&registry);
            let entry = StdArc::clone(&entry);
            thread::spawn(move || {
                let (joined, start) = registry.attach(KEY);
                let wait = ForeignWait::new(StdArc::clone(&joined));
                if start {
                    assert!(!StdArc::ptr_eq(&joined, &entry), "a fresh entry");
                    assert!(
                        entry.is_canceled(),
                        "fresh only after the old one was canceled"
                    );
                } else {
                    assert!(StdArc::ptr_eq(&joined, &entry));
                    assert!(!joined.is_canceled(), "joined a canceled entry");
                }
                // While this awaiter lives, its entry is the key's: the old helper's
                // leave must not drop it from the registry, so a further attach joins it.
                let (again, start_again) = registry.attach(KEY);
                assert!(
                    !start_again && StdArc::ptr_eq(&again, &joined),
                    "live entry lost"
                );
                drop(ForeignWait::new(again));
                drop(wait);
                if start {
                    // This attach owns the new entry's helper: it sees the cancel at once.
                    assert!(!helper(&registry, &joined, never_fires));
                }
                start
            })
        };

        dropper.join().unwrap();
        let fresh = joiner.join().unwrap();
        assert!(
            !helper_thread.join().unwrap(),
            "the old helper leaves canceled"
        );
        assert!(entry.is_canceled());
        assert!(!entry.signaled.is_set());
        assert_eq!(hooks.load(Ordering::SeqCst), 1, "fresh attach: {fresh}");
        assert_eq!(registry.len(), 0, "the registry ends empty");
    });
}

/// The last detach races the helper's signal. The hook runs at most once; it ran if the
/// helper left canceled (nobody else would wake a real foreign wait); it did not run if the
/// awaiter saw the signal before dropping; so no hook means the helper signalled.
#[test]
fn loom_signal_races_last_detach() {
    loom::model(|| {
        let registry = Arc::new(Registry::new());
        let hooks = Arc::new(AtomicUsize::new(0));
        let (entry, _) = registry.attach(KEY);
        let wait = ForeignWait::new(StdArc::clone(&entry)).with_interrupt(counting_hook(&hooks));

        let helper_thread = {
            let registry = Arc::clone(&registry);
            let entry = StdArc::clone(&entry);
            thread::spawn(move || helper(&registry, &entry, || true))
        };
        let awaiter = thread::spawn(move || {
            let saw_signal = wait.is_signaled();
            drop(wait);
            saw_signal
        });

        let saw_signal = awaiter.join().unwrap();
        let signaled = helper_thread.join().unwrap();
        let hooks = hooks.load(Ordering::SeqCst);
        assert!(hooks <= 1, "hook ran {hooks} times");
        if !signaled {
            assert_eq!(hooks, 1, "canceled before the signal: the hook must run");
        }
        if saw_signal {
            assert_eq!(hooks, 0, "dropped after the signal: no interrupt");
        }
        if hooks == 0 {
            assert!(signaled && entry.signaled.is_set());
        }
        assert_eq!(registry.len(), 0);
    });
}

/// An interrupt-capable foreign wait whose slice never ends on its own (loom's condvar
/// wait never times out): only the hook can wake the helper. Two awaiters of the key; the
/// joiner installs the hook, both drop on different threads; whoever is last must see the
/// hook and run it exactly once, and the helper must leave (else: loom deadlock).
#[test]
fn loom_interrupt_wakes_an_endless_slice() {
    loom::model(|| {
        let registry = Arc::new(Registry::new());
        let hooks = Arc::new(AtomicUsize::new(0));
        let poke = Arc::new((Mutex::new(false), Condvar::new()));
        let (entry, start) = registry.attach(KEY);
        assert!(start);
        let first = ForeignWait::new(StdArc::clone(&entry));

        let helper_thread = {
            let registry = Arc::clone(&registry);
            let entry = StdArc::clone(&entry);
            let poke = Arc::clone(&poke);
            thread::spawn(move || {
                helper(&registry, &entry, || {
                    let (lock, poked) = &*poke;
                    let mut guard = lock.lock().unwrap();
                    while !*guard {
                        guard = poked.wait(guard).unwrap();
                    }
                    false // poked, not signalled
                })
            })
        };
        let joiner = {
            let registry = Arc::clone(&registry);
            let hooks = Arc::clone(&hooks);
            let poke = Arc::clone(&poke);
            thread::spawn(move || {
                let (joined, start) = registry.attach(KEY);
                assert!(!start, "the first awaiter is alive: join it");
                let wait = ForeignWait::new(joined).with_interrupt(move || {
                    hooks.fetch_add(1, Ordering::SeqCst);
                    *poke.0.lock().unwrap() = true;
                    poke.1.notify_all();
                });
                drop(wait);
            })
        };
        joiner.join().unwrap();
        // Only now: the joiner attached while `first` kept the entry alive.
        let dropper = thread::spawn(move || drop(first));

        dropper.join().unwrap();
        assert!(!helper_thread.join().unwrap());
        assert_eq!(hooks.load(Ordering::SeqCst), 1);
        assert_eq!(registry.len(), 0);
    });
}

/// Same as above but the two drops race each other (the hook is installed before either
/// drop, by the first awaiter): exactly one of them is last and runs the hook.
#[test]
fn loom_racing_drops_run_the_hook_once() {
    loom::model(|| {
        let registry = Arc::new(Registry::new());
        let hooks = Arc::new(AtomicUsize::new(0));
        let poked = Arc::new(AtomicBool::new(false));
        let (entry, _) = registry.attach(KEY);
        let (joined, start) = registry.attach(KEY);
        assert!(!start && StdArc::ptr_eq(&entry, &joined));
        let first = ForeignWait::new(StdArc::clone(&entry)).with_interrupt({
            let count = counting_hook(&hooks);
            let poked = Arc::clone(&poked);
            move || {
                count();
                poked.store(true, Ordering::SeqCst);
            }
        });
        let second = ForeignWait::new(joined);

        let helper_thread = {
            let registry = Arc::clone(&registry);
            let entry = StdArc::clone(&entry);
            let poked = Arc::clone(&poked);
            thread::spawn(move || {
                helper(&registry, &entry, || {
                    // A slice that ends only when poked.
                    while !poked.load(Ordering::SeqCst) {
                        thread::yield_now();
                    }
                    false
                })
            })
        };
        let a = thread::spawn(move || drop(first));
        let b = thread::spawn(move || drop(second));
        a.join().unwrap();
        b.join().unwrap();
        assert!(!helper_thread.join().unwrap());
        assert_eq!(hooks.load(Ordering::SeqCst), 1);
        assert_eq!(registry.len(), 0);
    });
}

/// One signal releases every attached awaiter (a future on `loom::future::block_on` and a
/// blocking wait on another thread) — a lost wake-up is a loom deadlock. An attach racing
/// the signal either joins (and is released by the same signal) or, once the helper left,
/// gets a fresh entry; an attach after the signal was seen always gets a fresh one.
#[test]
fn loom_signal_releases_every_awaiter() {
    loom::model(|| {
        let registry = Arc::new(Registry::new());
        let (entry, _) = registry.attach(KEY);
        let first = ForeignWait::new(StdArc::clone(&entry));

        let helper_thread = {
            let registry = Arc::clone(&registry);
            let entry = StdArc::clone(&entry);
            thread::spawn(move || helper(&registry, &entry, || true))
        };
        let late = {
            let registry = Arc::clone(&registry);
            let entry = StdArc::clone(&entry);
            thread::spawn(move || {
                let saw_signal = entry.signaled.is_set();
                let (joined, start) = registry.attach(KEY);
                let wait = ForeignWait::new(StdArc::clone(&joined));
                if saw_signal {
                    assert!(
                        start,
                        "a wait after the signal must not reuse the old entry"
                    );
                }
                if start {
                    assert!(!StdArc::ptr_eq(&joined, &entry));
                    assert!(!wait.is_signaled(), "a fresh entry is not signalled");
                    drop(wait);
                    assert!(!helper(&registry, &joined, never_fires));
                } else {
                    wait.wait_blocking().expect("signalled, not failed");
                    assert!(wait.is_signaled());
                }
            })
        };

        loom::future::block_on(first).expect("signalled, not failed");
        assert!(entry.signaled.is_set());
        late.join().unwrap();
        assert!(helper_thread.join().unwrap());
        assert_eq!(registry.len(), 0);
    });
}

/// A value that counts its drops: it is dropped exactly once, never lost or doubled.
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// `run_blocking`'s job races the drop of its task. The token is canceled iff the result
/// was not delivered (the task was dropped before completion); a task seen finished
/// before its drop got its result; the result is dropped exactly once if `f` ran (received
/// and dropped with the task, or handed back and dropped by the job), never if it did not.
#[test]
fn loom_blocking_job_races_task_drop() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let seen: Arc<Mutex<Option<CancelToken>>> = Arc::new(Mutex::new(None));
        let (task, job) = {
            let drops = Arc::clone(&drops);
            let seen = Arc::clone(&seen);
            blocking_job(move |token| {
                *seen.lock().unwrap() = Some(token.clone());
                Tracked(drops)
            })
        };
        let worker = thread::spawn(job);
        let finished_before_drop = task.is_finished();
        drop(task);
        let delivered = worker.join().unwrap();

        let token = seen.lock().unwrap().take();
        let ran = token.is_some();
        match &token {
            Some(token) => assert_eq!(token.is_canceled(), !delivered),
            None => assert!(!delivered, "f never ran, yet a result was delivered"),
        }
        if finished_before_drop {
            assert!(delivered && !token.as_ref().unwrap().is_canceled());
        }
        assert_eq!(drops.load(Ordering::SeqCst), usize::from(ran));
    });
}

/// A task awaited to the end is never canceled, and its value arrives.
#[test]
fn loom_blocking_job_completes_to_awaiter() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (task, job) = {
            let drops = Arc::clone(&drops);
            blocking_job(move |token| {
                assert!(!token.is_canceled());
                Tracked(drops)
            })
        };
        let worker = thread::spawn(job);
        let value = loom::future::block_on(task).expect("f did not panic");
        assert!(worker.join().unwrap(), "the result was delivered");
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(value);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// Work blocked on `token.canceled()` is released by dropping the task (or never runs if
/// the drop came first); either way its result is not delivered.
#[test]
fn loom_task_drop_releases_the_token() {
    loom::model(|| {
        let (task, job) = blocking_job(|token| {
            loom::future::block_on(token.canceled());
            assert!(token.is_canceled());
        });
        let worker = thread::spawn(job);
        drop(task);
        assert!(!worker.join().unwrap());
    });
}
