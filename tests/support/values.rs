//! Values and hooks that count what happens to them: [`Val`] counts its drops, [`Counter`]
//! is what the counting helpers count with (a `std` atomic, or a loom atomic in the loom
//! models), [`with_hook`] counts `on_cancel` runs, and [`SendPtr`] carries a raw
//! completer to another thread. Needs `std` and anywait's public API only, so the unit
//! tests in `src/tests/` include it too (by `#[path]`, from `src/tests/support.rs`): the
//! including module names the crate under test `anywait` (the unit tests with
//! `use crate as anywait`).

// Each test binary, and the unit tests, use a subset of these helpers.
#![allow(dead_code)]

use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::anywait::{waitable, Completer, WaitableFuture};

/// What the counting helpers ([`Val`], `CountingWaker`) count with: a `std` atomic, or in
/// the loom models a loom atomic (see `loom_models.rs`), which makes every count a step
/// loom schedules (and lets its leak check see the values).
pub trait Counter: Default + Send + Sync + 'static {
    fn bump(&self);
    fn get(&self) -> usize;
}

impl Counter for AtomicUsize {
    fn bump(&self) {
        self.fetch_add(1, Ordering::SeqCst);
    }

    fn get(&self) -> usize {
        self.load(Ordering::SeqCst)
    }
}

/// A value that counts its drops: tests check it is dropped exactly once. `A` is the shared
/// handle on its [`Counter`]: a `std::sync::Arc<AtomicUsize>` (the default), or in the loom
/// models a `loom::sync::Arc` of a loom atomic, so a value dropped twice or never fails an
/// assertion, and a leaked value loom's own leak check.
#[derive(Debug)]
pub struct Val<A = Arc<AtomicUsize>>
where
    A: Deref,
    A::Target: Counter,
{
    pub id: u32,
    drops: A,
}

impl Val {
    /// A value with a drop counter of its own.
    pub fn new(id: u32) -> (Val, Arc<AtomicUsize>) {
        let drops = counter();
        (Val::counted_by(id, &drops), drops)
    }
}

impl<A> Val<A>
where
    A: Clone + Deref,
    A::Target: Counter,
{
    /// A value that counts its drop in `drops`.
    pub fn counted_by(id: u32, drops: &A) -> Self {
        Val {
            id,
            drops: drops.clone(),
        }
    }
}

impl<A> Drop for Val<A>
where
    A: Deref,
    A::Target: Counter,
{
    fn drop(&mut self) {
        self.drops.bump();
    }
}

/// A new `std` counter (for [`Val::counted_by`], or anything else that counts).
pub fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

/// The value of a `std` counter.
pub fn count(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

/// A pair whose future carries an `on_cancel` hook that counts its runs.
pub fn with_hook<T>() -> (Completer<T>, WaitableFuture<T>, Arc<AtomicUsize>) {
    let (completer, future) = waitable::<T>();
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let future = future.on_cancel(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    (completer, future, runs)
}

/// How often a [`with_hook`] hook ran.
pub fn runs(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

/// A raw completer pointer, moved to another thread as C `user_data` would be.
pub struct SendPtr(pub *mut std::ffi::c_void);
// SAFETY: the pointer owns a `Completer<Val>`, which is `Send`.
unsafe impl Send for SendPtr {}
