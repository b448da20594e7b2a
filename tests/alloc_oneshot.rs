//! Allocation counts of the one-shot primitive: exactly one allocation per
//! `waitable()` pair, one box per `on_cancel` / `on_complete` closure, and none for
//! polling, awaiting, waiting, `try_take` or `complete`.
//!
//! A counting global allocator counts per thread, so the test harness's own threads and
//! the producer threads spawned here do not disturb the counts of the thread measuring.
//! This is its own test binary because it replaces the global allocator.

mod support;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use anywait::{waitable, WaitableFuture};
use futures::task::noop_waker_ref;
use support::{allocs, poll_once, thread_waker};

#[global_allocator]
static GLOBAL: support::CountingAlloc = support::CountingAlloc;

/// `thread::current()` allocates the handle lazily on a thread's first call: do it first.
fn warm_up() {
    drop(thread::current());
}

#[test]
fn one_allocation_per_pair() {
    warm_up();
    let ((completer, future), n) = allocs(waitable::<u64>);
    assert_eq!(n, 1, "waitable() allocates one block for both handles");
    let ((completer2, future2), n) = allocs(waitable::<[u8; 256]>);
    assert_eq!(n, 1);
    let (_, n) = allocs(|| {
        drop(completer);
        drop(future);
        drop(completer2);
        drop(future2);
    });
    assert_eq!(n, 0, "dropping allocates nothing");
}

#[test]
fn poll_try_take_complete_allocate_nothing() {
    warm_up();
    let (completer, mut future) = waitable::<u64>();
    let (_, n) = allocs(|| {
        assert!(poll_once(&mut future, noop_waker_ref()).is_pending());
        assert!(poll_once(&mut future, noop_waker_ref()).is_pending());
        assert!(future.try_take().is_err());
        assert!(!future.is_complete());
        assert!(!completer.is_canceled());
        completer.complete(1).unwrap();
        assert_eq!(future.try_take(), Ok(1));
        assert!(poll_once(&mut future, noop_waker_ref()).is_ready());
        drop(future);
    });
    assert_eq!(n, 0);
}

#[test]
fn await_allocates_nothing() {
    warm_up();
    let (completer, future) = waitable::<u64>();
    let waker = thread_waker();
    let producer = thread::spawn(move || completer.complete(2));
    let (got, n) = allocs(|| {
        // The point is an `.await` inside an async body, as a user writes it.
        #[allow(clippy::redundant_async_block)]
        let mut task = pin!(async move { future.await });
        loop {
            match task.as_mut().poll(&mut Context::from_waker(&waker)) {
                Poll::Ready(got) => break got,
                Poll::Pending => thread::park(),
            }
        }
    });
    assert_eq!(got, Ok(2));
    assert_eq!(
        n, 0,
        "awaiting (poll, register, wake, take) allocates nothing"
    );
    producer.join().unwrap().unwrap();
}

#[test]
fn wait_blocking_allocates_nothing() {
    warm_up();
    let (completer, future) = waitable::<u64>();
    let producer = thread::spawn(move || completer.complete(3));
    let (got, n) = allocs(|| future.wait_blocking());
    assert_eq!(got, Ok(3));
    assert_eq!(n, 0);
    producer.join().unwrap().unwrap();
}

#[test]
fn wait_timeout_allocates_nothing() {
    warm_up();
    let (completer, mut future) = waitable::<u64>();
    let (timed_out, n) = allocs(|| future.wait_timeout(Duration::ZERO));
    assert!(timed_out.is_err());
    assert_eq!(n, 0, "a timed-out wait allocates nothing");
    let producer = thread::spawn(move || completer.complete(4));
    let (got, n) = allocs(|| future.wait_timeout(Duration::from_secs(3600)));
    assert_eq!(got, Ok(4));
    assert_eq!(n, 0);
    producer.join().unwrap().unwrap();
}

#[test]
fn complete_waking_a_waiter_allocates_nothing() {
    warm_up();
    let (completer, future) = waitable::<u64>();
    let (tx, rx) = mpsc::channel();
    let consumer = thread::spawn(move || {
        warm_up();
        let mut future = future;
        let waker = thread_waker();
        assert!(poll_once(&mut future, &waker).is_pending());
        tx.send(()).unwrap();
        loop {
            match poll_once(&mut future, &waker) {
                Poll::Ready(got) => break got,
                Poll::Pending => thread::park(),
            }
        }
    });
    // The consumer registered its waker: complete claims it and wakes it.
    rx.recv().unwrap();
    let (sent, n) = allocs(|| completer.complete(5));
    assert_eq!(sent, Ok(()));
    assert_eq!(n, 0);
    assert_eq!(consumer.join().unwrap(), Ok(5));
}

#[test]
fn canceled_and_cancellation_allocate_nothing() {
    warm_up();
    let (mut completer, future) = waitable::<u64>();
    let (_, n) = allocs(|| {
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(completer.poll_canceled(&mut cx).is_pending());
        drop(future);
        assert!(completer.poll_canceled(&mut cx).is_ready());
        assert_eq!(completer.complete(6), Err(6));
    });
    assert_eq!(n, 0);
}

#[test]
fn closures_allocate_one_box_each() {
    warm_up();
    let token = [1u8; 8]; // captured, so the closures are not zero-sized
    let (completer, future) = waitable::<u64>();
    let (future, n) = allocs(|| {
        future.on_cancel(move || {
            std::hint::black_box(token);
        })
    });
    assert_eq!(n, 1, "one box for a hook");
    let (future, n) = allocs(|| {
        future.on_cancel(move || {
            std::hint::black_box(token);
        })
    });
    assert_eq!(
        n, 2,
        "a second hook: its box, and the box chaining it after the first"
    );
    let (_, n) = allocs(|| drop(future));
    assert_eq!(n, 0, "running the hooks allocates nothing");
    drop(completer);

    let (completer, future) = waitable::<u64>();
    let got = Arc::new(AtomicU64::new(0));
    let seen = got.clone();
    let (_, n) = allocs(|| {
        future.on_complete(move |r| seen.store(r.unwrap(), Ordering::SeqCst));
    });
    assert_eq!(n, 1, "one box for the callback");
    let (_, n) = allocs(|| completer.complete(7).unwrap());
    assert_eq!(n, 0, "calling the callback allocates nothing");
    assert_eq!(got.load(Ordering::SeqCst), 7);

    let (_, future) = waitable::<u64>();
    let (future, n) = allocs(|| future.on_cancel(|| ()));
    assert_eq!(n, 0, "a zero-sized hook is boxed without allocating");
    drop(future);
}

#[test]
fn from_callback_allocates_one_block() {
    warm_up();
    let (future, n) = allocs(|| WaitableFuture::from_callback(|c| c.complete(8u64).unwrap()));
    assert_eq!(n, 1);
    let (got, n) = allocs(|| future.wait_blocking());
    assert_eq!((got, n), (Ok(8), 0));
}

#[test]
fn one_level_results_add_no_allocation() {
    warm_up();
    let ((completer, mut future), n) = allocs(anywait::try_waitable::<u64, anywait::WaitError>);
    assert_eq!(n, 1, "one block for both handles, as a plain pair");
    let (r, n) = allocs(|| {
        let pending = poll_once(&mut future, noop_waker_ref()).is_pending();
        let timed_out = future.wait_timeout(Duration::ZERO);
        let taken = future.try_take();
        completer.complete(Ok(3)).unwrap();
        (pending, timed_out, taken, future.wait_blocking())
    });
    assert_eq!(
        r,
        (true, Err(anywait::WaitError::Timeout), None, Ok(3)),
        "the one-level future behaves as the plain one"
    );
    assert_eq!(n, 0, "polling, timed waits and completion allocated");
}
