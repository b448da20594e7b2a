//! The loom models' helpers (`tests/loom_*.rs`; compiled only under `cfg(anywait_loom)`):
//! their counters are loom atomics, so that loom schedules them (and its leak check sees
//! the values).

// Each loom test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::task::Waker;
use std::time::Instant;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;

use super::values::Counter;
use super::wakers::CountingWaker;

impl Counter for AtomicUsize {
    fn bump(&self) {
        self.fetch_add(1, Ordering::SeqCst);
    }

    fn get(&self) -> usize {
        self.load(Ordering::SeqCst)
    }
}

/// A counting waker whose count is a loom atomic; it lives on a `std::sync::Arc`, whose
/// strong count shows leaked clones ([`super::assert_no_waker_leak`]).
pub fn counting_waker() -> (std::sync::Arc<CountingWaker<AtomicUsize>>, Waker) {
    CountingWaker::pair()
}

/// [`super::Val`] counting its drops with a loom atomic held in a `loom::sync::Arc`, so a
/// value dropped twice or never fails an assertion, and a leaked value loom's own leak
/// check.
pub type Val = super::Val<Arc<AtomicUsize>>;

impl Val {
    /// A value with a drop counter of its own.
    pub fn new(id: u32) -> (Val, Arc<AtomicUsize>) {
        let drops = counter();
        (Val::counted_by(id, &drops), drops)
    }
}

pub fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

pub fn load(counter: &Arc<AtomicUsize>) -> usize {
    counter.load(Ordering::SeqCst)
}

/// Runs `f` under loom with `builder`'s bounds and returns how many executions loom
/// explored; prints that count and the time taken under the test's name (see them with
/// `--nocapture`).
pub fn explore(builder: loom::model::Builder, f: impl Fn() + Sync + Send + 'static) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let name = std::thread::current().name().unwrap_or("model").to_string();
    let executions = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = executions.clone();
    let start = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f();
    });
    let executions = executions.load(Ordering::Relaxed);
    println!("{name}: {executions} executions in {:?}", start.elapsed());
    executions
}
