//! Waiting on a `SharedWaitable` allocates nothing: a counting global allocator (counting
//! only on threads that switched it on) shows zero allocations for cloning a handle,
//! polling clones to `Pending` (given a prebuilt waker), timed and blocking waits, the
//! completion that wakes them, and polling them to `Ready`.
//!
//! Setup that does allocate (creating the pair and `shared()`, boxing handles, building a
//! waker, the first `thread::current()` of a thread) happens before counting starts.

mod support;

use std::pin::{pin, Pin};
use std::sync::mpsc;
use std::task::Poll;
use std::time::{Duration, Instant};

use anywait::{waitable, SharedWaitable, WaitError};
use support::{allocs, counting_waker, poll_pinned};

#[global_allocator]
static GLOBAL: support::CountingAlloc = support::CountingAlloc;

/// The counter itself works (otherwise every "0" below would be vacuous).
#[test]
fn the_counter_sees_allocations() {
    let (v, n) = allocs(|| vec![1u8; 16]);
    assert_eq!(v.len(), 16);
    assert!(n >= 1);
    // ...and `on_complete`, which boxes its callback, is seen allocating.
    let (_completer, future) = waitable::<u64>();
    let shared = future.shared();
    let ((), n) = allocs(|| shared.on_complete(|_| ()));
    assert!(n >= 1, "on_complete boxes the callback");
}

#[test]
fn the_task_slab_grows_by_doubling() {
    const WAITERS: usize = 1000;
    let (_completer, future) = waitable::<u64>();
    let shared = future.shared();
    let noop = futures::task::noop_waker();
    let mut handles: Vec<SharedWaitable<u64>> = (0..WAITERS).map(|_| shared.clone()).collect();
    let ((), n) = allocs(|| {
        for h in &mut handles {
            assert!(poll_pinned(Pin::new(h), &noop).is_pending());
        }
    });
    // 1 000 waiters: at most ~log2(1000) + 1 growths of the one slab, never one per waiter.
    assert!(n <= 11, "{n} allocations for {WAITERS} waiters");
}

#[test]
fn clone_poll_complete_ready_allocate_nothing() {
    const WAITERS: usize = 70; // more than two wake-up batches of the wait queue
    let (completer, future) = waitable::<u64>();
    let shared = future.shared();
    let (counting, waker) = counting_waker();
    // Grow the task slab once: waiters that come and go reuse its slots.
    {
        let noop = futures::task::noop_waker();
        let mut warm: Vec<SharedWaitable<u64>> = (0..=WAITERS).map(|_| shared.clone()).collect();
        for h in &mut warm {
            assert!(poll_pinned(Pin::new(h), &noop).is_pending());
        }
    }
    let noop = futures::task::noop_waker();
    let mut boxed: Vec<Pin<Box<SharedWaitable<u64>>>> =
        (0..WAITERS).map(|_| Box::pin(shared.clone())).collect();
    // The first `thread::current()` of a thread may allocate its handle.
    let _ = std::thread::current();

    // Cloning a handle.
    let (on_stack, n) = allocs(|| shared.clone());
    assert_eq!(n, 0, "clone allocated");
    let mut on_stack = pin!(on_stack);

    // Polling to Pending: one with a no-op waker, many with a prebuilt counting one, and
    // re-polling (same waker, then a different one).
    let (pending, n) = allocs(|| {
        let mut all = poll_pinned(on_stack.as_mut(), &noop).is_pending();
        for f in &mut boxed {
            all &= poll_pinned(f.as_mut(), &waker).is_pending();
            all &= poll_pinned(f.as_mut(), &waker).is_pending();
        }
        all &= poll_pinned(on_stack.as_mut(), &waker).is_pending();
        all
    });
    assert!(pending);
    assert_eq!(n, 0, "polling to Pending allocated");

    // Timed waits that time out, and the queries.
    let (r, n) = allocs(|| {
        (
            shared.wait_timeout(Duration::ZERO),
            shared.wait_deadline(Instant::now()),
            shared.try_get(),
            shared.is_complete(),
        )
    });
    assert_eq!(
        r,
        (
            Err(WaitError::Timeout),
            Err(WaitError::Timeout),
            None,
            false
        )
    );
    assert_eq!(n, 0, "timed waits allocated");

    // The completion wakes every waiter without allocating.
    let (r, n) = allocs(|| completer.complete(7));
    assert_eq!(r, Ok(()));
    assert_eq!(counting.wakes(), WAITERS + 1);
    assert_eq!(n, 0, "the completion allocated");

    // Polling to Ready, again after Ready, and every wait after completion.
    let (r, n) = allocs(|| {
        let mut all = poll_pinned(on_stack.as_mut(), &noop) == Poll::Ready(Ok(7));
        for f in &mut boxed {
            all &= poll_pinned(f.as_mut(), &waker) == Poll::Ready(Ok(7));
            all &= poll_pinned(f.as_mut(), &noop) == Poll::Ready(Ok(7));
        }
        (
            all,
            shared.wait_blocking(),
            shared.wait_timeout(Duration::ZERO),
            shared.try_get(),
        )
    });
    assert_eq!(r, (true, Ok(7), Ok(7), Some(Ok(7))));
    assert_eq!(n, 0, "collecting the result allocated");
}

/// A thread that blocks in `wait_timeout` / `wait_blocking` until another thread
/// completes allocates nothing; nor does the completing thread.
#[test]
fn blocked_waits_and_their_completion_allocate_nothing() {
    let (completer, future) = waitable::<u64>();
    let shared = future.shared();
    let (ready_tx, ready_rx) = mpsc::channel();
    let handles = (shared.clone(), shared.clone());
    let waiter = std::thread::spawn(move || {
        let _ = std::thread::current();
        let (timed, blocking) = handles;
        // (A channel's first send allocates: signal before counting.)
        ready_tx.send(()).unwrap();
        allocs(|| {
            (
                timed.wait_timeout(Duration::from_secs(3600)),
                blocking.wait_blocking(),
            )
        })
    });
    let completing = std::thread::spawn(move || {
        ready_rx.recv().unwrap();
        allocs(|| completer.complete(9))
    });
    let (r, n) = completing.join().unwrap();
    assert_eq!(r, Ok(()));
    assert_eq!(n, 0, "the completing thread allocated");
    let (r, n) = waiter.join().unwrap();
    assert_eq!(r, (Ok(9), Ok(9)));
    assert_eq!(n, 0, "a blocked waiter allocated");
}
