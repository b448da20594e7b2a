//! Test helpers that need nothing but `std`: counting wakers and a hang guard. The
//! integration tests get them through `tests/support/mod.rs`, the unit tests through
//! `src/tests/support.rs` (by `#[path]`), so both build on this one file.

#![allow(dead_code)]

use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Wake, Waker};
use std::thread;
use std::time::Duration;

/// What a [`CountingWaker`] counts its wake-ups with: a `std` atomic, or in the loom models
/// a loom atomic (see `tests/support/mod.rs`), which makes every wake-up a step loom
/// schedules.
pub trait WakeCounter: Default + Send + Sync + 'static {
    fn bump(&self);
    fn get(&self) -> usize;
}

impl WakeCounter for AtomicUsize {
    fn bump(&self) {
        self.fetch_add(1, Ordering::SeqCst);
    }

    fn get(&self) -> usize {
        self.load(Ordering::SeqCst)
    }
}

/// A waker that counts its wake-ups. It lives on a `std::sync::Arc`, whose strong count
/// shows how many `Waker`s made from it are alive: whether the code under test still holds
/// a clone, or released one too many.
#[derive(Default)]
pub struct CountingWaker<C: WakeCounter = AtomicUsize> {
    wakes: C,
}

impl<C: WakeCounter> Wake for CountingWaker<C> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.bump();
    }
}

impl<C: WakeCounter> CountingWaker<C> {
    /// A new counting waker: the `Arc` (to read the counts) and a `Waker` made from it.
    pub fn pair() -> (Arc<Self>, Waker) {
        let inner = Arc::new(Self::default());
        let waker = Waker::from(inner.clone());
        (inner, waker)
    }

    /// How often it was woken (by value or by reference).
    pub fn wakes(&self) -> usize {
        self.wakes.get()
    }
}

/// [`CountingWaker::pair`] with a `std` counter.
pub fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    CountingWaker::pair()
}

/// Drops the test's `Waker` and checks that the test's `Arc` is the last clone left: the
/// code under test kept no clone of the waker, and released none too often.
pub fn assert_no_waker_leak<C: WakeCounter>(inner: &Arc<CountingWaker<C>>, waker: Waker) {
    drop(waker);
    assert_eq!(
        Arc::strong_count(inner),
        1,
        "a clone of the waker was leaked (or over-released)"
    );
}

/// Runs `f` on a thread of its own and returns its result (a panic in `f` is resumed
/// here); fails the test with `hung` if `f` does not finish within `guard`. A hang guard
/// only, far above any legitimate run time: it turns a lost wake-up or a deadlock into a
/// failure.
pub fn guarded<R: Send + 'static>(
    guard: Duration,
    hung: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(guard) {
        Ok(r) => {
            worker.join().unwrap();
            r
        }
        // `f` panicked (the sender was dropped): propagate its panic.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic::resume_unwind(worker.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{hung}"),
    }
}
