//! Unit tests of [`AsyncEvent`]: one test per rule of the contract, plus the queue's corner
//! cases (drop while others wait, waker replacement, more waiters than one wake batch).
//! Miri-clean; thread counts are small and loops shrink under `cfg!(miri)`.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{mpsc, Arc, Barrier};
use std::task::{Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use futures::future::FusedFuture;
use futures::task::noop_waker_ref;

use super::oneshot::CloneCountingWaker;
use super::support::{counting_waker, poll_pinned};
use crate::{AsyncEvent, EventSetter, EventWait, OwnedEventWait};

fn poll_noop<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    poll_pinned(future, noop_waker_ref())
}

/// Scales a loop count down under miri.
fn scaled(native: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        native
    }
}

static STATIC_EVENT: AsyncEvent = AsyncEvent::new();
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    const fn assert_send<T: Send>() {}
    assert_send_sync::<AsyncEvent>();
    assert_send_sync::<EventSetter>();
    assert_send::<EventWait<'static>>();
    assert_send::<OwnedEventWait>();
};

#[test]
fn usable_as_static() {
    // Another test must not touch STATIC_EVENT: this one owns it.
    assert!(!STATIC_EVENT.is_set());
    let waiter = thread::spawn(|| STATIC_EVENT.wait_blocking());
    STATIC_EVENT.set();
    waiter.join().unwrap();
    futures::executor::block_on(STATIC_EVENT.wait());
    assert!(STATIC_EVENT.is_set());
}

#[test]
fn new_default_and_debug() {
    let event = AsyncEvent::default();
    assert!(!event.is_set());
    assert_eq!(format!("{event:?}"), "AsyncEvent { set: false }");
    event.set();
    assert_eq!(format!("{event:?}"), "AsyncEvent { set: true }");
    let wait = event.wait();
    assert_eq!(format!("{wait:?}"), "EventWait { done: false }");
    drop(wait);
    let event = Arc::new(event);
    let owned = event.wait_owned();
    assert_eq!(format!("{owned:?}"), "OwnedEventWait { done: false }");
}

#[test]
fn set_clear_is_set() {
    let event = AsyncEvent::new();
    assert!(!event.is_set());
    event.set();
    assert!(event.is_set());
    event.set();
    assert!(event.is_set());
    event.clear();
    assert!(!event.is_set());
    event.clear();
    assert!(!event.is_set());
}

#[test]
fn set_wakes_every_current_waiter() {
    let event = AsyncEvent::new();
    let (inner_a, waker_a) = counting_waker();
    let (inner_b, waker_b) = counting_waker();
    let mut a = pin!(event.wait());
    let mut b = pin!(event.wait());
    assert!(poll_pinned(a.as_mut(), &waker_a).is_pending());
    assert!(poll_pinned(b.as_mut(), &waker_b).is_pending());
    assert_eq!((inner_a.wakes(), inner_b.wakes()), (0, 0));
    event.set();
    assert_eq!((inner_a.wakes(), inner_b.wakes()), (1, 1));
    assert!(poll_pinned(a.as_mut(), &waker_a).is_ready());
    assert!(poll_pinned(b.as_mut(), &waker_b).is_ready());
    // The event's clones of the wakers are gone.
    assert_eq!(Arc::strong_count(&inner_a), 2);
    assert_eq!(Arc::strong_count(&inner_b), 2);
}

#[test]
fn completes_if_set_when_first_polled() {
    let event = AsyncEvent::new();
    let mut before = pin!(event.wait()); // created unset, first polled set
    event.set();
    let mut after = pin!(event.wait()); // created set
    let (inner, waker) = counting_waker();
    assert!(poll_pinned(before.as_mut(), &waker).is_ready());
    assert!(poll_pinned(after.as_mut(), &waker).is_ready());
    assert_eq!(inner.wakes(), 0);
    assert_eq!(Arc::strong_count(&inner), 2, "a ready wait kept a waker");
}

/// The first poll of a wait that is already released (the event is set, or was set since
/// the wait was created) is answered by the lock-free check: `Ready` without cloning the
/// waker or taking the queue's lock. (Kills the mutants of `Latch::released` and of the
/// fast-path test in `LatchWait::poll_wait`, which fall back to the locked path: still
/// `Ready`, but through a waker clone.)
#[test]
fn released_first_poll_does_not_clone_the_waker() {
    let counting = CloneCountingWaker::new();
    let waker = counting.waker();
    let event = AsyncEvent::new();
    event.set();
    let mut created_set = pin!(event.wait());
    assert!(poll_pinned(created_set.as_mut(), &waker).is_ready());
    event.clear();
    let mut set_and_cleared = pin!(event.wait());
    event.set();
    event.clear();
    assert!(poll_pinned(set_and_cleared.as_mut(), &waker).is_ready());
    assert_eq!(
        counting.clones(),
        0,
        "a released first poll cloned the waker"
    );
    assert_eq!(counting.live(), 1);
    assert_eq!(counting.wakes(), 0);
}

#[test]
fn set_then_clear_releases_unpolled_wait() {
    let event = AsyncEvent::new();
    let mut wait = pin!(event.wait());
    event.set();
    event.clear();
    assert!(!event.is_set());
    assert!(poll_noop(wait.as_mut()).is_ready());
}

#[test]
fn set_then_clear_releases_queued_wait() {
    let event = AsyncEvent::new();
    let (inner, waker) = counting_waker();
    let mut wait = pin!(event.wait());
    assert!(poll_pinned(wait.as_mut(), &waker).is_pending());
    event.set();
    event.clear();
    assert_eq!(inner.wakes(), 1);
    assert!(poll_pinned(wait.as_mut(), &waker).is_ready());
}

#[test]
fn released_wait_stays_released() {
    let event = AsyncEvent::new();
    let mut wait = pin!(event.wait());
    assert!(!wait.is_terminated());
    event.set();
    assert!(poll_noop(wait.as_mut()).is_ready());
    assert!(wait.is_terminated());
    event.clear();
    assert!(
        poll_noop(wait.as_mut()).is_ready(),
        "a released wait went back to waiting"
    );

    let event = Arc::new(AsyncEvent::new());
    let mut owned = pin!(event.wait_owned());
    assert!(poll_noop(owned.as_mut()).is_pending());
    assert!(!owned.is_terminated());
    event.set();
    event.clear();
    assert!(poll_noop(owned.as_mut()).is_ready());
    assert!(owned.is_terminated());
    assert!(poll_noop(owned.as_mut()).is_ready());
}

#[test]
fn wait_created_after_clear_waits_for_next_set() {
    let event = AsyncEvent::new();
    event.set();
    event.clear();
    let (inner, waker) = counting_waker();
    let mut wait = pin!(event.wait());
    for _ in 0..3 {
        assert!(poll_pinned(wait.as_mut(), &waker).is_pending());
    }
    event.clear();
    assert!(poll_pinned(wait.as_mut(), &waker).is_pending());
    assert_eq!(inner.wakes(), 0, "woken without a set()");
    event.set();
    assert_eq!(inner.wakes(), 1);
    assert!(poll_pinned(wait.as_mut(), &waker).is_ready());
}

/// Created while set, cleared before the first poll: no set() since creation and unset
/// when first polled, so it waits for the next set().
#[test]
fn wait_created_while_set_and_cleared_before_poll_waits() {
    let event = AsyncEvent::new();
    event.set();
    let mut wait = pin!(event.wait());
    event.clear();
    let (inner, waker) = counting_waker();
    assert!(poll_pinned(wait.as_mut(), &waker).is_pending());
    event.set();
    assert_eq!(inner.wakes(), 1);
    assert!(poll_pinned(wait.as_mut(), &waker).is_ready());
}

#[test]
fn no_completion_while_unset() {
    let event = AsyncEvent::new();
    let (inner, waker) = counting_waker();
    let mut wait = pin!(event.wait());
    let mut blocked = 0;
    for _ in 0..scaled(100, 5) {
        assert!(poll_pinned(wait.as_mut(), &waker).is_pending());
        event.clear();
        blocked += usize::from(!event.wait_timeout(Duration::ZERO));
    }
    assert_eq!(blocked, scaled(100, 5));
    assert_eq!(inner.wakes(), 0);
    assert!(!wait.is_terminated());
}

/// set() on a set event changes nothing: in particular it does not count as "a set()
/// since creation" for a wait created while the event was already set.
#[test]
fn set_on_set_event_is_a_no_op() {
    let event = AsyncEvent::new();
    event.set();
    let mut wait = pin!(event.wait());
    event.set();
    event.set();
    event.clear();
    let (inner, waker) = counting_waker();
    assert!(
        poll_pinned(wait.as_mut(), &waker).is_pending(),
        "a no-op set() released a wait"
    );
    // And on a set event with a queued waiter (from the generation before): nothing
    // is woken twice.
    event.set();
    assert_eq!(inner.wakes(), 1);
    event.set();
    assert_eq!(inner.wakes(), 1);
    assert!(poll_pinned(wait.as_mut(), &waker).is_ready());
}

#[test]
fn drop_registered_waiter_while_others_wait() {
    let event = AsyncEvent::new();
    let wakers: Vec<_> = (0..3).map(|_| counting_waker()).collect();
    let mut waits: Vec<_> = (0..3).map(|_| Box::pin(event.wait())).collect();
    for (wait, (_, waker)) in waits.iter_mut().zip(&wakers) {
        assert!(poll_pinned(wait.as_mut(), waker).is_pending());
    }
    // Drop the middle one (both neighbours relink), then the head.
    let middle = waits.remove(1);
    drop(middle);
    assert_eq!(
        Arc::strong_count(&wakers[1].0),
        2,
        "dropped waiter kept its waker"
    );
    let head = waits.remove(0);
    drop(head);
    assert_eq!(Arc::strong_count(&wakers[0].0), 2);
    assert!(
        wakers.iter().all(|(inner, _)| inner.wakes() == 0),
        "a drop woke someone"
    );
    event.set();
    assert_eq!(wakers[0].0.wakes(), 0);
    assert_eq!(wakers[1].0.wakes(), 0);
    assert_eq!(wakers[2].0.wakes(), 1);
    assert!(poll_pinned(waits[0].as_mut(), &wakers[2].1).is_ready());
}

#[test]
fn drop_tail_then_new_waiter() {
    let event = AsyncEvent::new();
    let (inner_a, waker_a) = counting_waker();
    let (inner_b, waker_b) = counting_waker();
    let mut a = Box::pin(event.wait());
    let mut b = Box::pin(event.wait());
    assert!(poll_pinned(a.as_mut(), &waker_a).is_pending());
    assert!(poll_pinned(b.as_mut(), &waker_b).is_pending());
    drop(b); // the tail
    let mut c = Box::pin(event.wait());
    assert!(poll_pinned(c.as_mut(), &waker_b).is_pending());
    drop(a); // the head
    event.set();
    assert_eq!(inner_a.wakes(), 0);
    assert_eq!(inner_b.wakes(), 1);
    assert!(poll_pinned(c.as_mut(), &waker_b).is_ready());
}

#[test]
fn repoll_with_other_waker_replaces_it() {
    let event = AsyncEvent::new();
    let (old_inner, old_waker) = counting_waker();
    let (new_inner, new_waker) = counting_waker();
    let mut wait = pin!(event.wait());
    assert!(poll_pinned(wait.as_mut(), &old_waker).is_pending());
    assert_eq!(Arc::strong_count(&old_inner), 3);
    assert!(poll_pinned(wait.as_mut(), &new_waker).is_pending());
    assert_eq!(
        Arc::strong_count(&old_inner),
        2,
        "the old waker was not released"
    );
    assert_eq!(Arc::strong_count(&new_inner), 3);
    event.set();
    assert_eq!(old_inner.wakes(), 0, "the replaced waker was woken");
    assert_eq!(new_inner.wakes(), 1);
    assert!(poll_pinned(wait.as_mut(), &new_waker).is_ready());
}

#[test]
fn repoll_with_same_waker_keeps_it() {
    let event = AsyncEvent::new();
    let (inner, waker) = counting_waker();
    let mut wait = pin!(event.wait());
    for _ in 0..3 {
        assert!(poll_pinned(wait.as_mut(), &waker).is_pending());
        assert_eq!(Arc::strong_count(&inner), 3, "one clone held by the queue");
    }
    event.set();
    assert_eq!(inner.wakes(), 1);
}

/// More waiters than one wake batch (32): every one is woken exactly once, and each
/// waker clone is released.
#[test]
fn many_waiters_each_woken_once() {
    for n in [1, 31, 32, 33, 64, 65, 100] {
        let event = AsyncEvent::new();
        let wakers: Vec<_> = (0..n).map(|_| counting_waker()).collect();
        let mut waits: Vec<_> = (0..n).map(|_| Box::pin(event.wait())).collect();
        for (wait, (_, waker)) in waits.iter_mut().zip(&wakers) {
            assert!(poll_pinned(wait.as_mut(), waker).is_pending());
        }
        event.set();
        for (wait, (inner, waker)) in waits.iter_mut().zip(&wakers) {
            assert_eq!(inner.wakes(), 1, "n = {n}");
            assert_eq!(Arc::strong_count(inner), 2, "n = {n}");
            assert!(poll_pinned(wait.as_mut(), waker).is_ready());
        }
    }
}

/// A waiter queued after a clear() in a later generation is not woken by the set() of
/// the generation before, only by the next one.
#[test]
fn waiters_of_two_generations() {
    let event = AsyncEvent::new();
    let old: Vec<_> = (0..40).map(|_| counting_waker()).collect();
    let mut old_waits: Vec<_> = (0..40).map(|_| Box::pin(event.wait())).collect();
    for (wait, (_, waker)) in old_waits.iter_mut().zip(&old) {
        assert!(poll_pinned(wait.as_mut(), waker).is_pending());
    }
    event.set();
    event.clear();
    let (new_inner, new_waker) = counting_waker();
    let mut new_wait = pin!(event.wait());
    assert!(poll_pinned(new_wait.as_mut(), &new_waker).is_pending());
    assert!(old.iter().all(|(inner, _)| inner.wakes() == 1));
    assert_eq!(new_inner.wakes(), 0);
    event.set();
    assert_eq!(new_inner.wakes(), 1);
    assert!(old.iter().all(|(inner, _)| inner.wakes() == 1));
}

/// Wakers run outside the queue lock: a waker that re-enters the event (clear, a new
/// wait that queues, dropping it) must not deadlock. Guarded so a regression fails
/// instead of hanging.
#[test]
fn waker_may_reenter_the_event() {
    struct Reenter {
        event: Arc<AsyncEvent>,
        done: std::sync::Mutex<Option<mpsc::Sender<bool>>>,
    }
    impl Wake for Reenter {
        fn wake(self: Arc<Self>) {
            self.event.clear();
            let queued = {
                let mut wait = pin!(self.event.wait());
                poll_noop(wait.as_mut()).is_pending()
            }; // The queued wait is dropped here: that takes the queue lock too.
            if let Some(done) = self.done.lock().unwrap().take() {
                done.send(queued).unwrap();
            }
        }
    }
    let event = Arc::new(AsyncEvent::new());
    let (tx, rx) = mpsc::channel();
    let waker = Waker::from(Arc::new(Reenter {
        event: event.clone(),
        done: std::sync::Mutex::new(Some(tx)),
    }));
    let mut wait = Box::pin(event.wait_owned());
    assert!(poll_pinned(wait.as_mut(), &waker).is_pending());
    let setter = {
        let event = event.clone();
        thread::spawn(move || event.set())
    };
    let queued = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the waker deadlocked: was it called under the queue lock?");
    assert!(
        queued,
        "the re-entrant wait saw the event set after clear()"
    );
    setter.join().unwrap();
    assert!(poll_pinned(wait.as_mut(), &waker).is_ready());
}

/// A `set()` that finds the event already set returns at once, even while another
/// `set()` is still walking the queue; a poll after it must nevertheless be `Ready`. The
/// first waiter's waker runs (on the setter's thread, between two wake batches) a second
/// `set()` and then polls the last waiter, which the walk has not reached yet.
#[test]
fn poll_after_an_early_returning_set_is_ready_mid_walk() {
    type Parked = std::sync::Mutex<Option<Pin<Box<OwnedEventWait>>>>;
    struct SetAndPollLast {
        event: Arc<AsyncEvent>,
        last: Arc<Parked>,
        seen: std::sync::Mutex<Option<bool>>,
    }
    impl Wake for SetAndPollLast {
        fn wake(self: Arc<Self>) {
            self.event.set(); // finds SET: returns without walking the queue
            let mut last = self.last.lock().unwrap();
            let last = last.as_mut().expect("the last waiter");
            let ready = poll_noop(last.as_mut()).is_ready();
            *self.seen.lock().unwrap() = Some(ready);
        }
    }
    let event = Arc::new(AsyncEvent::new());
    let last: Arc<Parked> = Arc::default();
    let first_waker = Arc::new(SetAndPollLast {
        event: event.clone(),
        last: last.clone(),
        seen: std::sync::Mutex::new(None),
    });
    let mut first = Box::pin(event.wait_owned());
    assert!(poll_pinned(first.as_mut(), &Waker::from(first_waker.clone())).is_pending());
    // Enough waiters in between that the last one is in a later wake batch.
    let mut middle: Vec<_> = (0..crate::core::waiter::WAKE_BATCH + 1)
        .map(|_| Box::pin(event.wait_owned()))
        .collect();
    for wait in &mut middle {
        assert!(poll_noop(wait.as_mut()).is_pending());
    }
    let mut tail = Box::pin(event.wait_owned());
    assert!(poll_noop(tail.as_mut()).is_pending());
    *last.lock().unwrap() = Some(tail);
    event.set();
    assert_eq!(
        *first_waker.seen.lock().unwrap(),
        Some(true),
        "a poll after set() returned was Pending"
    );
    for wait in &mut middle {
        assert!(poll_noop(wait.as_mut()).is_ready());
    }
    let mut tail = last.lock().unwrap().take().unwrap();
    assert!(poll_noop(tail.as_mut()).is_ready());
}

/// Dropping a wait that was never polled (its node never queued) must leave the queued
/// waits alone: the next `set()` still wakes them.
#[test]
fn dropping_an_unpolled_wait_keeps_the_queued_ones() {
    let event = Arc::new(AsyncEvent::new());
    let (inner, waker) = counting_waker();
    let mut queued = pin!(event.wait());
    assert!(poll_pinned(queued.as_mut(), &waker).is_pending());
    drop(event.wait());
    let mut second = pin!(event.wait());
    assert!(poll_noop(second.as_mut()).is_pending());
    drop(event.wait_owned());
    event.set();
    assert_eq!(inner.wakes(), 1, "the queued wait was not woken");
    assert!(poll_pinned(queued.as_mut(), &waker).is_ready());
    assert!(poll_noop(second.as_mut()).is_ready());
}

/// A wait that a waker queues while a `set()` is still waking the waiters before it (more
/// than one wake batch): it belongs to the next generation, so this `set()` must neither
/// wake it nor keep walking forever because it is there.
#[test]
fn a_wait_queued_by_a_waker_mid_wake_all_is_left_for_the_next_set() {
    type Parked = std::sync::Mutex<Option<Pin<Box<OwnedEventWait>>>>;
    struct ClearAndQueue {
        event: Arc<AsyncEvent>,
        queued: Arc<Parked>,
    }
    impl Wake for ClearAndQueue {
        fn wake(self: Arc<Self>) {
            self.event.clear();
            let mut wait = Box::pin(self.event.wait_owned());
            assert!(poll_noop(wait.as_mut()).is_pending());
            *self.queued.lock().unwrap() = Some(wait);
        }
    }
    let event = Arc::new(AsyncEvent::new());
    let queued: Arc<Parked> = Arc::default();
    let mut first = Box::pin(event.wait_owned());
    let waker = Waker::from(Arc::new(ClearAndQueue {
        event: event.clone(),
        queued: queued.clone(),
    }));
    assert!(poll_pinned(first.as_mut(), &waker).is_pending());
    let mut rest: Vec<_> = (0..crate::core::waiter::WAKE_BATCH + 8)
        .map(|_| Box::pin(event.wait_owned()))
        .collect();
    for wait in &mut rest {
        assert!(poll_noop(wait.as_mut()).is_pending());
    }
    let (done, finished) = mpsc::channel();
    let setter = {
        let event = event.clone();
        thread::spawn(move || {
            event.set();
            done.send(()).unwrap();
        })
    };
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("set() kept walking the queue");
    setter.join().unwrap();
    assert!(poll_noop(first.as_mut()).is_ready());
    for wait in &mut rest {
        assert!(poll_noop(wait.as_mut()).is_ready());
    }
    let mut late = queued
        .lock()
        .unwrap()
        .take()
        .expect("the waker queued a wait");
    assert!(
        poll_noop(late.as_mut()).is_pending(),
        "woken by the set() that was already running when it queued"
    );
    event.set();
    assert!(poll_noop(late.as_mut()).is_ready());
}

/// A waker that panics while `set()` wakes a batch unwinds out of `set()`; the wakers
/// after it in the batch must then be dropped, not leaked.
#[test]
fn a_panicking_waker_leaks_none_of_the_rest_of_its_batch() {
    struct Panics;
    impl Wake for Panics {
        fn wake(self: Arc<Self>) {
            std::panic::panic_any("a waker panicked");
        }
    }
    let event = AsyncEvent::new();
    let panics = Waker::from(Arc::new(Panics));
    let (inner, waker) = counting_waker();
    let mut first = pin!(event.wait());
    let mut second = pin!(event.wait());
    assert!(poll_pinned(first.as_mut(), &panics).is_pending());
    assert!(poll_pinned(second.as_mut(), &waker).is_pending());
    assert_eq!(
        Arc::strong_count(&inner),
        3,
        "ours, the waker and the queued clone"
    );
    let set = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| event.set()));
    assert!(set.is_err(), "the waker's panic reaches set()'s caller");
    assert!(event.is_set());
    assert_eq!(
        Arc::strong_count(&inner),
        2,
        "the clone taken out for waking was leaked"
    );
    assert!(poll_pinned(second.as_mut(), &waker).is_ready());
    assert!(poll_noop(first.as_mut()).is_ready());
}

#[test]
fn wait_owned_keeps_event_alive() {
    let event = Arc::new(AsyncEvent::new());
    let wait = event.wait_owned();
    let setter = EventSetter::new(&event);
    drop(event);
    let waiter = thread::spawn(move || futures::executor::block_on(wait));
    setter.set();
    waiter.join().unwrap();
}

#[test]
fn future_moves_between_threads() {
    let event = Arc::new(AsyncEvent::new());
    let (inner, waker) = counting_waker();
    let mut wait = Box::pin(event.wait_owned());
    assert!(poll_pinned(wait.as_mut(), &waker).is_pending());
    let handle = thread::spawn(move || {
        let waker = Waker::from(inner.clone());
        // Registered with the other thread's waker; this poll replaces it.
        assert!(poll_pinned(wait.as_mut(), &waker).is_pending());
        (wait, inner)
    });
    let (mut wait, inner) = handle.join().unwrap();
    event.set();
    assert_eq!(inner.wakes(), 1);
    assert!(poll_pinned(wait.as_mut(), &waker).is_ready());
}

#[test]
fn blocking_waits_from_threads() {
    let event = Arc::new(AsyncEvent::new());
    let threads = 3;
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let event = event.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                match i {
                    0 => {
                        event.wait_blocking();
                        true
                    }
                    1 => event.wait_timeout(Duration::from_secs(3600)),
                    _ => event.wait_deadline(Instant::now() + Duration::from_secs(3600)),
                }
            })
        })
        .collect();
    barrier.wait();
    event.set();
    for handle in handles {
        assert!(handle.join().unwrap());
    }
}

/// Each round, a waiter creates its wait and only then tells the setter to go: the
/// setter's set(); clear() must release it, whenever the waiter gets to look.
#[test]
fn set_clear_rounds_release_every_wait() {
    let rounds = scaled(200, 10);
    let event = Arc::new(AsyncEvent::new());
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let setter = {
        let event = event.clone();
        thread::spawn(move || {
            for () in go_rx {
                event.set();
                event.clear();
                done_tx.send(()).unwrap();
            }
        })
    };
    for round in 0..rounds {
        match round % 3 {
            0 => {
                let wait = event.wait();
                go_tx.send(()).unwrap();
                futures::executor::block_on(wait);
                // The wait may complete before the clear(): let the round finish, so that
                // the next one starts unset.
                done_rx.recv().unwrap();
            }
            1 => {
                let mut wait = pin!(event.wait());
                let _ = poll_noop(wait.as_mut());
                go_tx.send(()).unwrap();
                futures::executor::block_on(wait);
                done_rx.recv().unwrap();
            }
            _ => {
                // A blocked thread racing with the set must not miss it either. (Only a
                // set() here: a wait_timeout that starts while a set(); clear() is in
                // flight may rightly linearise after the clear and keep waiting.)
                let (tx, rx) = mpsc::channel();
                let waiter = {
                    let event = event.clone();
                    thread::spawn(move || {
                        tx.send(()).unwrap();
                        event.wait_timeout(Duration::from_secs(3600))
                    })
                };
                rx.recv().unwrap();
                // The waiter may or may not be registered yet: either way it sees the set
                // (the event is unset before it, and cleared only after the waiter returned).
                assert!(!event.is_set());
                event.set();
                assert!(waiter.join().unwrap());
                event.clear();
            }
        }
    }
    drop(go_tx);
    setter.join().unwrap();
    assert!(!event.is_set());
}

#[test]
fn wait_timeout_and_deadline_time_out() {
    let event = AsyncEvent::new();
    assert!(!event.wait_timeout(Duration::ZERO));
    assert!(!event.wait_deadline(Instant::now()));
    let start = Instant::now();
    assert!(!event.wait_timeout(Duration::from_millis(10)));
    assert!(
        start.elapsed() >= Duration::from_millis(10),
        "returned before the timeout"
    );
    let start = Instant::now();
    let deadline = start + Duration::from_millis(10);
    assert!(!event.wait_deadline(deadline));
    assert!(Instant::now() >= deadline);
    // A timed-out waiter left nothing behind: the next set() wakes only live waiters.
    let (inner, waker) = counting_waker();
    let mut wait = pin!(event.wait());
    assert!(poll_pinned(wait.as_mut(), &waker).is_pending());
    event.set();
    assert_eq!(inner.wakes(), 1);
    assert!(event.wait_timeout(Duration::ZERO));
    assert!(event.wait_deadline(Instant::now()));
    assert!(event.wait_timeout(Duration::MAX));
}

#[test]
fn wait_timeout_huge_is_released() {
    let event = Arc::new(AsyncEvent::new());
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let event = event.clone();
        thread::spawn(move || {
            tx.send(()).unwrap();
            // Too large for Instant: no deadline at all.
            event.wait_timeout(Duration::MAX)
        })
    };
    rx.recv().unwrap();
    event.set();
    assert!(waiter.join().unwrap());
}

#[test]
fn event_setter_raw_round_trip() {
    let event = Arc::new(AsyncEvent::new());
    let setter = EventSetter::new(&event);
    assert_eq!(Arc::strong_count(&event), 2);
    let cloned = setter.clone();
    assert_eq!(Arc::strong_count(&event), 3);
    drop(cloned);
    let raw = setter.into_raw();
    assert_eq!(
        Arc::strong_count(&event),
        2,
        "into_raw keeps exactly one reference"
    );
    let (inner, waker) = counting_waker();
    let mut wait = pin!(event.wait());
    assert!(poll_pinned(wait.as_mut(), &waker).is_pending());
    // SAFETY: `raw` came from `into_raw` and is released only below.
    unsafe { EventSetter::set_raw(raw) };
    assert!(event.is_set());
    assert_eq!(inner.wakes(), 1);
    event.clear();
    // SAFETY: as above; set_raw borrows, so it may run any number of times.
    unsafe { EventSetter::set_raw(raw) };
    assert!(event.is_set());
    assert_eq!(Arc::strong_count(&event), 2);
    // SAFETY: released exactly once, never used again.
    let setter = unsafe { EventSetter::from_raw(raw) };
    event.clear();
    setter.set();
    assert!(event.is_set());
    assert!(format!("{setter:?}").contains("EventSetter"));
    drop(setter);
    assert_eq!(Arc::strong_count(&event), 1);
}

#[test]
fn event_setter_raw_from_another_thread() {
    /// The `user_data` pointer as an SDK thread holds it. (tests/event.rs round-trips
    /// it through `usize` as C SDKs do; miri's strict provenance forbids that here.)
    struct UserData(*mut std::ffi::c_void);
    // SAFETY: the pointer owns an `Arc<AsyncEvent>` reference, and `AsyncEvent` is
    // `Send + Sync`.
    unsafe impl Send for UserData {}
    impl UserData {
        fn get(&self) -> *mut std::ffi::c_void {
            self.0
        }
    }

    let event = Arc::new(AsyncEvent::new());
    let user_data = UserData(EventSetter::new(&event).into_raw());
    let waiter = {
        let event = event.clone();
        thread::spawn(move || event.wait_blocking())
    };
    thread::spawn(move || {
        let ptr = user_data.get();
        // SAFETY: from `into_raw`; released by the from_raw below, after the last set.
        unsafe { EventSetter::set_raw(ptr) };
        // SAFETY: as above; set_raw may run any number of times.
        unsafe { EventSetter::set_raw(ptr) };
        // SAFETY: released exactly once.
        drop(unsafe { EventSetter::from_raw(ptr) });
    })
    .join()
    .unwrap();
    waiter.join().unwrap();
    assert_eq!(Arc::strong_count(&event), 1);
}

/// The generation counter wraps (after 2^62 set()s on 64-bit targets, but after only 2^30
/// on 32-bit ones): set()s across the wrap still wake the queued waiters, and a waiter
/// queued after the wrap is not woken by a set() from before it.
#[test]
fn generation_wrap_loses_no_wake_up() {
    let event = AsyncEvent::near_generation_wrap(2);
    assert_eq!(event.sets_before_generation_wrap(), 2);
    let mut waits = Vec::new();
    for round in 0..4 {
        let (inner, waker) = counting_waker();
        let mut wait = Box::pin(event.wait());
        assert!(
            poll_pinned(wait.as_mut(), &waker).is_pending(),
            "round {round}"
        );
        event.set();
        assert_eq!(inner.wakes(), 1, "round {round}: lost wake-up");
        assert!(poll_pinned(wait.as_mut(), &waker).is_ready());
        event.clear();
        waits.push(wait);
    }
    // Two generations queued across the wrap.
    let event = AsyncEvent::near_generation_wrap(1);
    assert_eq!(event.sets_before_generation_wrap(), 1);
    let (old_inner, old_waker) = counting_waker();
    let mut old = pin!(event.wait());
    assert!(poll_pinned(old.as_mut(), &old_waker).is_pending());
    event.set(); // the generation wraps to 0
    event.clear();
    let (new_inner, new_waker) = counting_waker();
    let mut new = pin!(event.wait());
    assert!(poll_pinned(new.as_mut(), &new_waker).is_pending());
    assert_eq!((old_inner.wakes(), new_inner.wakes()), (1, 0));
    event.set();
    assert_eq!((old_inner.wakes(), new_inner.wakes()), (1, 1));
    assert!(poll_pinned(new.as_mut(), &new_waker).is_ready());
}
