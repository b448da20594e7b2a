//! Helpers shared by the unit-test modules. The `std`-only ones (counting wakers, the hang
//! guard) are the integration tests' own, from `tests/support/common.rs`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

#[path = "../../tests/support/common.rs"]
mod common;

pub(super) use common::{counting_waker, guarded, CountingWaker};

/// A timeout that never expires in a test.
pub(super) const LONG: Duration = Duration::from_secs(3600);

/// A value that counts its drops: tests check it is dropped exactly once.
#[derive(Debug)]
pub(super) struct Val {
    pub(super) id: u32,
    drops: Arc<AtomicUsize>,
}

impl Val {
    /// A value with a drop counter of its own.
    pub(super) fn new(id: u32) -> (Val, Arc<AtomicUsize>) {
        let drops = counter();
        (Val::counted_by(id, &drops), drops)
    }

    /// A value that counts its drop in `drops`.
    pub(super) fn counted_by(id: u32, drops: &Arc<AtomicUsize>) -> Val {
        Val {
            id,
            drops: drops.clone(),
        }
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

pub(super) fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

pub(super) fn count(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

pub(super) fn poll_with<F: Future>(future: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}
