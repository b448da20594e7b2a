//! Waiting on an `AsyncEvent` allocates nothing: a counting global allocator (which counts
//! only the current thread's allocations while a thread-local flag is on) must see zero
//! allocations for each step of a wait's life, for blocking waits, and for
//! `is_set` / `set` / `clear`.
//!
//! Wakers are built before counting: `futures::task::noop_waker` (static vtable) or a
//! pre-built `Arc` waker, whose clone only bumps a reference count.

mod support;

use std::future::Future;
use std::sync::{Arc, Barrier};
use std::task::Context;
use std::thread;
use std::time::{Duration, Instant};

use anywait::AsyncEvent;
use support::{allocs, counting_waker};

#[global_allocator]
static GLOBAL: support::CountingAlloc = support::CountingAlloc;

fn assert_no_alloc<R>(what: &str, f: impl FnOnce() -> R) -> R {
    let (result, n) = allocs(f);
    assert_eq!(n, 0, "{what}: {n} allocation(s)");
    result
}

#[test]
fn counting_allocator_counts() {
    // The rig itself must be able to fail.
    let (_, n) = allocs(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(n, 1);
}

#[test]
fn future_wait_life_allocates_nothing() {
    let event = AsyncEvent::new();
    let (inner, arc_waker) = counting_waker();
    let noop_waker = futures::task::noop_waker();
    for waker in [&arc_waker, &noop_waker] {
        let mut cx = Context::from_waker(waker);
        event.clear();
        let wait = assert_no_alloc("creating a wait", || event.wait());
        let mut wait = Box::pin(wait);
        assert_no_alloc("polling (Pending, registered)", || {
            assert!(wait.as_mut().poll(&mut cx).is_pending());
        });
        assert_no_alloc("re-polling with the same waker", || {
            assert!(wait.as_mut().poll(&mut cx).is_pending());
        });
        assert_no_alloc("set() waking it", || event.set());
        assert_no_alloc("polling to Ready", || {
            assert!(wait.as_mut().poll(&mut cx).is_ready());
        });
        assert_no_alloc("dropping a completed wait", || drop(wait));
        event.clear();
        let mut queued = Box::pin(event.wait());
        assert!(queued.as_mut().poll(&mut cx).is_pending());
        assert_no_alloc("dropping a registered wait", || drop(queued));
    }
    assert_eq!(inner.wakes(), 1, "the Arc waker was woken once");
    assert_eq!(Arc::strong_count(&inner), 2);
}

#[test]
fn owned_wait_and_many_waiters_allocate_nothing() {
    let event = Arc::new(AsyncEvent::new());
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    // More than one wake batch (32), all set free by one set().
    let mut waits: Vec<_> = (0..70).map(|_| Box::pin(event.wait_owned())).collect();
    let owned = assert_no_alloc("creating an owned wait", || event.wait_owned());
    waits.push(Box::pin(owned));
    assert_no_alloc("polling 71 waits", || {
        for wait in &mut waits {
            assert!(wait.as_mut().poll(&mut cx).is_pending());
        }
    });
    assert_no_alloc("set() waking 71 waits", || event.set());
    assert_no_alloc("polling 71 waits to Ready", || {
        for wait in &mut waits {
            assert!(wait.as_mut().poll(&mut cx).is_ready());
        }
    });
}

#[test]
fn is_set_set_clear_allocate_nothing() {
    let event = AsyncEvent::new();
    assert_no_alloc("is_set/set/clear", || {
        assert!(!event.is_set());
        event.set();
        event.set();
        assert!(event.is_set());
        event.clear();
        assert!(!event.is_set());
    });
}

#[test]
fn blocking_waits_allocate_nothing() {
    let event = Arc::new(AsyncEvent::new());
    // A thread's handle may be created lazily on first use: not the event's doing.
    drop(thread::current());
    assert_no_alloc("wait_timeout(ZERO) timing out", || {
        assert!(!event.wait_timeout(Duration::ZERO));
    });
    assert_no_alloc("wait_deadline timing out", || {
        assert!(!event.wait_deadline(Instant::now() + Duration::from_millis(1)));
    });

    // Released by a set() from another thread (whose allocations are not counted).
    let barrier = Arc::new(Barrier::new(2));
    let setter = {
        let event = event.clone();
        let barrier = barrier.clone();
        thread::spawn(move || {
            barrier.wait();
            event.set();
        })
    };
    barrier.wait();
    assert_no_alloc("wait_timeout released by set()", || {
        assert!(event.wait_timeout(Duration::from_secs(3600)));
    });
    setter.join().unwrap();

    event.clear();
    let setter = {
        let event = event.clone();
        let barrier = barrier.clone();
        thread::spawn(move || {
            barrier.wait();
            event.set();
        })
    };
    barrier.wait();
    assert_no_alloc("wait_blocking released by set()", || event.wait_blocking());
    setter.join().unwrap();
}
