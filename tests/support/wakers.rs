//! Wakers and polling: counting wakers ([`CountingWaker`]), a waker that unparks a thread
//! ([`thread_waker`]), one-poll helpers ([`poll_once`], [`poll_pinned`]) and
//! [`SignalOnPending`]. Needs nothing but `std` (and [`super::values::Counter`]), so the
//! unit tests in `src/tests/` include it too (by `#[path]`, from `src/tests/support.rs`).

// Each test binary, and the unit tests, use a subset of these helpers.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use super::values::Counter;

/// A waker that counts its wake-ups. It lives on a `std::sync::Arc`, whose strong count
/// shows how many `Waker`s made from it are alive: whether the code under test still holds
/// a clone, or released one too many. The count is a `std` atomic, or in the loom models a
/// loom atomic (see `loom_models.rs`), which makes every wake-up a step loom schedules.
#[derive(Default)]
pub struct CountingWaker<C: Counter = AtomicUsize> {
    wakes: C,
}

impl<C: Counter> Wake for CountingWaker<C> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.bump();
    }
}

impl<C: Counter> CountingWaker<C> {
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
pub fn assert_no_waker_leak<C: Counter>(inner: &Arc<CountingWaker<C>>, waker: Waker) {
    drop(waker);
    assert_eq!(
        Arc::strong_count(inner),
        1,
        "a clone of the waker was leaked (or over-released)"
    );
}

/// A waker that unparks a thread.
struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A waker that unparks the calling thread.
pub fn thread_waker() -> Waker {
    Waker::from(Arc::new(Unparker(thread::current())))
}

/// Polls an `Unpin` future once with `waker`.
pub fn poll_once<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

/// Polls a pinned future once with `waker`.
pub fn poll_pinned<F: Future>(future: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

/// Forwards to the inner future and sends `message` once, the first time the inner future
/// returns `Pending`: by then it has registered its waker, so whoever waits for the
/// message may fire the completion without racing the registration.
pub struct SignalOnPending<F, M = ()> {
    inner: Pin<Box<F>>,
    signal: Option<(mpsc::Sender<M>, M)>,
}

impl<F: Future, M> SignalOnPending<F, M> {
    pub fn new(inner: F, signal: mpsc::Sender<M>, message: M) -> Self {
        SignalOnPending {
            inner: Box::pin(inner),
            signal: Some((signal, message)),
        }
    }
}

impl<F: Future, M: Unpin> Future for SignalOnPending<F, M> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let poll = self.inner.as_mut().poll(cx);
        if poll.is_pending() {
            if let Some((signal, message)) = self.signal.take() {
                let _ = signal.send(message);
            }
        }
        poll
    }
}
