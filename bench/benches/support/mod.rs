//! Harness pieces shared by the bench files (each bench is its own crate and includes this
//! with `mod support;`; it lives in a folder so cargo does not take it for a bench).

#![allow(dead_code)]

use std::pin::Pin;
use std::task::Context;

/// A context whose waker does nothing (`futures::task::noop_waker_ref`, not `Waker::noop`,
/// which is newer than the crate's MSRV). Waking costs nothing, so only the primitive is
/// measured.
pub fn noop_cx() -> Context<'static> {
    Context::from_waker(futures::task::noop_waker_ref())
}

/// Pinned, reusable homes for futures: allocated once, outside the timed loop. A future is
/// created in place with `Pin::set(Some(..))` and dropped in place with `Pin::set(None)`,
/// so no allocation by the harness is timed.
pub type Slot<F> = Pin<Box<Option<F>>>;

/// `n` empty slots.
pub fn slots<F>(n: usize) -> Vec<Slot<F>> {
    (0..n).map(|_| Box::pin(None)).collect()
}
