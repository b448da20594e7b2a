//! Unit tests of [`SharedWaitable`]: every line of its contract, through the public API.
//!
//! Miri-clean and small enough for Miri: no executor, no timer, few threads. Ordering
//! between threads comes from channels, barriers and the primitive itself, never from
//! sleeping; the only timed waits are lower-bounded timeouts that must expire.

use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use futures_core::FusedFuture;

use super::oneshot::CloneCountingWaker;
use super::support::{counting_waker, poll_pinned, runs, with_hook};
use crate::{waitable, Abandoned, SharedWaitable, WaitError, WaitableFuture};

// ---------------------------------------------------------------------------------------
// Helpers.

/// A value that counts how many instances of it are alive, so a leaked result (or a
/// reference cycle that keeps the operation alive) shows up as a non-zero count.
#[derive(Debug)]
struct Counted {
    id: u32,
    live: Arc<AtomicUsize>,
}

impl Counted {
    fn new(id: u32) -> (Counted, Arc<AtomicUsize>) {
        let live = Arc::new(AtomicUsize::new(1));
        (
            Counted {
                id,
                live: live.clone(),
            },
            live,
        )
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.live.fetch_add(1, Ordering::SeqCst);
        Counted {
            id: self.id,
            live: self.live.clone(),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

fn live(counter: &Arc<AtomicUsize>) -> usize {
    counter.load(Ordering::SeqCst)
}

type Log<T> = Arc<Mutex<Vec<T>>>;

fn take_log<T>(log: &Log<T>) -> Vec<T> {
    std::mem::take(&mut *log.lock().unwrap())
}

// ---------------------------------------------------------------------------------------
// Static properties.

#[test]
fn static_assertions() {
    fn send_sync<T: Send + Sync>() {}
    fn clone<T: Clone>() {}
    fn fused_future<F: FusedFuture<Output = O>, O>() {}
    fn debug<T: std::fmt::Debug>() {}
    send_sync::<SharedWaitable<u32>>();
    send_sync::<SharedWaitable<String>>();
    send_sync::<SharedWaitable<Arc<Vec<u8>>>>();
    clone::<SharedWaitable<u32>>();
    clone::<SharedWaitable<Arc<Mutex<u8>>>>();
    fused_future::<SharedWaitable<u32>, Result<u32, Abandoned>>();
    debug::<SharedWaitable<u32>>();
    // A handle is one pointer to the shared state plus its own (inline) waiter node.
    assert!(std::mem::size_of::<SharedWaitable<[u8; 1024]>>() < 128);
}

#[test]
fn debug_shows_completion() {
    let (completer, future) = waitable::<u8>();
    let shared = future.shared();
    assert_eq!(format!("{shared:?}"), "SharedWaitable { complete: false }");
    completer.complete(1).unwrap();
    assert_eq!(format!("{shared:?}"), "SharedWaitable { complete: true }");
}

// ---------------------------------------------------------------------------------------
// Futures.

/// Every clone is a future resolving to the same value; each pending clone's waker is
/// woken exactly once by the completion and released afterwards.
#[test]
fn every_clone_resolves_with_the_value_and_is_woken_once() {
    let (completer, future) = waitable::<String>();
    let shared = future.shared();
    let mut a = Box::pin(shared.clone());
    let mut b = Box::pin(shared.clone());
    let unpolled = shared.clone();
    let (wa, waker_a) = counting_waker();
    let (wb, waker_b) = counting_waker();
    assert!(poll_pinned(a.as_mut(), &waker_a).is_pending());
    assert!(poll_pinned(b.as_mut(), &waker_b).is_pending());
    // Re-polling with the same waker keeps the registration (no clone, no wake).
    assert!(poll_pinned(a.as_mut(), &waker_a).is_pending());
    assert_eq!(Arc::strong_count(&wa), 3, "the handle holds one clone");
    assert!(!a.is_terminated());

    completer.complete("value".to_string()).unwrap();
    assert_eq!((wa.wakes(), wb.wakes()), (1, 1));
    assert_eq!(
        Arc::strong_count(&wa),
        2,
        "the waker was released when woken"
    );
    assert_eq!(Arc::strong_count(&wb), 2);

    assert_eq!(
        poll_pinned(a.as_mut(), &waker_a),
        Poll::Ready(Ok("value".into()))
    );
    assert!(a.is_terminated());
    // Polling after Ready returns the value again.
    assert_eq!(
        poll_pinned(a.as_mut(), &waker_a),
        Poll::Ready(Ok("value".into()))
    );
    assert_eq!(
        poll_pinned(b.as_mut(), &waker_b),
        Poll::Ready(Ok("value".into()))
    );
    let mut unpolled = Box::pin(unpolled);
    assert!(!unpolled.is_terminated());
    assert_eq!(
        poll_pinned(unpolled.as_mut(), &waker_b),
        Poll::Ready(Ok("value".into()))
    );
    assert!(unpolled.is_terminated());
    assert_eq!((wa.wakes(), wb.wakes()), (1, 1), "no wake-up after Ready");
}

/// A fresh waker replaces the stored one: only the latest is woken, the old one released.
#[test]
fn repoll_with_another_waker_replaces_it() {
    let (completer, future) = waitable::<u8>();
    let mut shared = Box::pin(future.shared());
    let (old, old_waker) = counting_waker();
    let (new, new_waker) = counting_waker();
    assert!(poll_pinned(shared.as_mut(), &old_waker).is_pending());
    assert!(poll_pinned(shared.as_mut(), &new_waker).is_pending());
    assert_eq!(
        Arc::strong_count(&old),
        2,
        "the replaced waker was released"
    );
    completer.complete(4).unwrap();
    assert_eq!((old.wakes(), new.wakes()), (0, 1));
    assert_eq!(poll_pinned(shared.as_mut(), &new_waker), Poll::Ready(Ok(4)));
}

/// A re-poll with the waker already stored keeps it (no clone); a poll after the result
/// arrived answers without cloning the waker at all.
#[test]
fn polls_clone_the_waker_only_to_store_it() {
    let (completer, future) = waitable::<u8>();
    let mut shared = Box::pin(future.shared());
    let mut late = Box::pin(shared.as_ref().get_ref().clone());
    let counting = CloneCountingWaker::new();
    let waker = counting.waker();
    for _ in 0..3 {
        assert!(poll_pinned(shared.as_mut(), &waker).is_pending());
    }
    assert_eq!(
        counting.clones(),
        1,
        "a re-poll with the stored waker cloned it again"
    );
    completer.complete(4).unwrap();
    assert_eq!((counting.wakes(), counting.live()), (1, 1));
    assert_eq!(poll_pinned(shared.as_mut(), &waker), Poll::Ready(Ok(4)));
    // Never polled before: its first poll finds the result.
    assert_eq!(poll_pinned(late.as_mut(), &waker), Poll::Ready(Ok(4)));
    assert_eq!(
        counting.clones(),
        1,
        "a poll after the result arrived cloned the waker"
    );
}

/// Dropping a pending clone unregisters it; the others are still woken, and no waker is
/// leaked.
#[test]
fn dropping_a_pending_clone_leaves_the_others_registered() {
    let (completer, future, hook) = with_hook::<u8>();
    let shared = future.shared();
    let mut gone = Box::pin(shared.clone());
    let mut kept = Box::pin(shared.clone());
    let (wg, waker_g) = counting_waker();
    let (wk, waker_k) = counting_waker();
    assert!(poll_pinned(gone.as_mut(), &waker_g).is_pending());
    assert!(poll_pinned(kept.as_mut(), &waker_k).is_pending());
    drop(gone);
    assert_eq!(
        Arc::strong_count(&wg),
        2,
        "the dropped clone released its waker"
    );
    drop(shared);
    assert_eq!(runs(&hook), 0, "a handle is still alive: not canceled");
    completer.complete(8).unwrap();
    assert_eq!((wg.wakes(), wk.wakes()), (0, 1));
    assert_eq!(poll_pinned(kept.as_mut(), &waker_k), Poll::Ready(Ok(8)));
    assert_eq!(runs(&hook), 0);
}

/// Clones made after completion are complete at once.
#[test]
fn clones_after_completion() {
    let (completer, future) = waitable::<u16>();
    let shared = future.shared();
    completer.complete(300).unwrap();
    let late = shared.clone();
    assert!(late.is_complete());
    assert_eq!(late.try_get(), Some(Ok(300)));
    let mut late = Box::pin(late);
    let (w, waker) = counting_waker();
    assert_eq!(poll_pinned(late.as_mut(), &waker), Poll::Ready(Ok(300)));
    assert_eq!(late.clone().wait_blocking(), Ok(300));
    assert_eq!(w.wakes(), 0);
    assert_eq!(Arc::strong_count(&w), 2, "a ready poll registers nothing");
}

/// Abandonment reaches every clone, every wait and every callback as `Abandoned`.
#[test]
fn abandonment_reaches_everyone() {
    let (completer, future, hook) = with_hook::<u8>();
    let shared = future.shared();
    let mut pending = Box::pin(shared.clone());
    let (w, waker) = counting_waker();
    assert!(poll_pinned(pending.as_mut(), &waker).is_pending());
    let log: Log<Result<u8, Abandoned>> = Arc::default();
    let sink = log.clone();
    shared.on_complete(move |r| sink.lock().unwrap().push(r));
    drop(completer);
    assert_eq!(w.wakes(), 1);
    assert_eq!(
        poll_pinned(pending.as_mut(), &waker),
        Poll::Ready(Err(Abandoned))
    );
    assert_eq!(shared.try_get(), Some(Err(Abandoned)));
    assert!(shared.is_complete());
    assert_eq!(shared.wait_blocking(), Err(Abandoned));
    assert_eq!(
        shared.wait_timeout(Duration::ZERO),
        Err(WaitError::Abandoned)
    );
    assert_eq!(
        shared.wait_deadline(Instant::now()),
        Err(WaitError::Abandoned)
    );
    assert_eq!(take_log(&log), vec![Err(Abandoned)]);
    drop((shared, pending));
    assert_eq!(runs(&hook), 0, "an abandonment is not a cancellation");
}

// ---------------------------------------------------------------------------------------
// Blocking waits, try_get, is_complete.

#[test]
fn try_get_and_is_complete() {
    let (completer, future) = waitable::<u8>();
    let shared = future.shared();
    assert_eq!(shared.try_get(), None);
    assert!(!shared.is_complete());
    completer.complete(2).unwrap();
    assert!(shared.is_complete());
    assert_eq!(shared.try_get(), Some(Ok(2)));
    assert_eq!(shared.try_get(), Some(Ok(2)), "try_get does not consume");
}

#[test]
fn wait_blocking_from_several_threads_on_one_handle() {
    let (completer, future) = waitable::<Arc<u64>>();
    let shared = future.shared();
    let started = std::sync::Barrier::new(3);
    let value = Arc::new(77);
    thread::scope(|s| {
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    started.wait();
                    // Both threads wait on the *same* handle: the waits take `&self`.
                    shared.wait_blocking().unwrap()
                })
            })
            .collect();
        started.wait();
        completer.complete(value.clone()).unwrap();
        for waiter in waiters {
            assert!(Arc::ptr_eq(&waiter.join().unwrap(), &value));
        }
    });
    assert!(Arc::ptr_eq(&shared.wait_blocking().unwrap(), &value));
}

#[test]
fn wait_timeout_times_out_then_gets_the_value() {
    let (completer, future) = waitable::<u8>();
    let shared = future.shared();
    let timeout = Duration::from_millis(20);
    let start = Instant::now();
    assert_eq!(shared.wait_timeout(timeout), Err(WaitError::Timeout));
    assert!(start.elapsed() >= timeout, "returned before the timeout");
    assert_eq!(shared.wait_timeout(Duration::ZERO), Err(WaitError::Timeout));
    assert_eq!(
        shared.wait_deadline(Instant::now()),
        Err(WaitError::Timeout)
    );
    let deadline = Instant::now() + timeout;
    assert_eq!(shared.wait_deadline(deadline), Err(WaitError::Timeout));
    assert!(Instant::now() >= deadline, "returned before the deadline");
    // A timed-out wait leaves nothing behind: the operation is intact.
    assert!(!completer.is_canceled());
    completer.complete(5).unwrap();
    assert_eq!(shared.wait_timeout(Duration::ZERO), Ok(5));
    assert_eq!(shared.wait_deadline(Instant::now()), Ok(5));
}

#[test]
fn wait_timeout_released_by_another_thread() {
    let (completer, future) = waitable::<u8>();
    let shared = future.shared();
    let (ready_tx, ready_rx) = mpsc::channel();
    let completing = thread::spawn(move || {
        ready_rx.recv().unwrap();
        completer.complete(9).unwrap();
    });
    ready_tx.send(()).unwrap();
    // Long enough never to expire; only the completion can end it.
    assert_eq!(shared.wait_timeout(Duration::from_secs(3600)), Ok(9));
    completing.join().unwrap();
    // A huge timeout (past what `Instant` can hold) is "no deadline", not a panic.
    assert_eq!(shared.wait_timeout(Duration::MAX), Ok(9));
}

// ---------------------------------------------------------------------------------------
// Done-callbacks.

/// Callbacks run once each, in registration order, on the completing thread; callbacks
/// registered after completion run at once on the registering thread.
#[test]
fn done_callbacks_order_and_threads() {
    let (completer, future) = waitable::<u32>();
    let shared = future.shared();
    let log: Log<(u32, Result<u32, Abandoned>, thread::ThreadId)> = Arc::default();
    for id in 0..3 {
        let log = log.clone();
        shared.on_complete(move |r| log.lock().unwrap().push((id, r, thread::current().id())));
    }
    assert!(take_log(&log).is_empty(), "nothing ran before completion");
    let completing = thread::spawn(move || {
        completer.complete(11).unwrap();
        thread::current().id()
    });
    let completing_id = completing.join().unwrap();
    let main_id = thread::current().id();
    assert_eq!(
        take_log(&log),
        (0..3)
            .map(|id| (id, Ok(11), completing_id))
            .collect::<Vec<_>>()
    );
    for id in 3..5 {
        let sink = log.clone();
        shared.on_complete(move |r| sink.lock().unwrap().push((id, r, thread::current().id())));
        assert_eq!(
            take_log(&log),
            vec![(id, Ok(11), main_id)],
            "ran at once, on the registering thread"
        );
    }
}

/// Callbacks run after every waiter was woken, and outside every lock: a callback may use
/// the handle it was registered on in every way without deadlocking.
#[test]
fn done_callbacks_run_after_waiters_and_outside_locks() {
    let (completer, future) = waitable::<u8>();
    let shared = future.shared();
    let mut pending = Box::pin(shared.clone());
    let (w, waker) = counting_waker();
    assert!(poll_pinned(pending.as_mut(), &waker).is_pending());
    let log: Log<String> = Arc::default();
    let inner_log = log.clone();
    let handle = shared.clone();
    let woken = w.clone();
    shared.on_complete(move |r| {
        assert_eq!(
            woken.wakes(),
            1,
            "callbacks run after the waiters were woken"
        );
        assert_eq!(r, Ok(3));
        // Re-entrant use of the same shared state, which would deadlock under a lock.
        assert_eq!(handle.try_get(), Some(Ok(3)));
        assert!(handle.is_complete());
        assert_eq!(handle.wait_blocking(), Ok(3));
        assert_eq!(handle.wait_timeout(Duration::ZERO), Ok(3));
        assert!(handle.take_callback_panics().is_empty());
        let nested = inner_log.clone();
        handle.on_complete(move |r| nested.lock().unwrap().push(format!("nested {r:?}")));
        let clone = handle.clone();
        inner_log
            .lock()
            .unwrap()
            .push(format!("outer {:?}", clone.try_get()));
        drop(handle);
    });
    completer.complete(3).unwrap();
    assert_eq!(
        take_log(&log),
        vec!["nested Ok(3)".to_string(), "outer Some(Ok(3))".to_string()]
    );
    assert_eq!(poll_pinned(pending.as_mut(), &waker), Poll::Ready(Ok(3)));
}

/// A panicking callback is caught: the others still run, the value is intact, the payloads
/// are reported (also for a callback that runs at once), and nothing unwinds into the
/// completing thread.
#[test]
fn panicking_callbacks_are_caught_and_reported() {
    let (completer, future) = waitable::<String>();
    let shared = future.shared();
    let log: Log<(u32, Result<String, Abandoned>)> = Arc::default();
    for id in 0..4 {
        let log = log.clone();
        shared.on_complete(move |r| {
            log.lock().unwrap().push((id, r));
            if id % 2 == 0 {
                std::panic::panic_any(id);
            }
        });
    }
    // complete() returns normally although two callbacks panicked.
    let completing = thread::spawn(move || completer.complete("ok".into()));
    assert_eq!(
        completing
            .join()
            .expect("a panic unwound into the completer"),
        Ok(())
    );
    let ok = || Ok::<String, Abandoned>("ok".into());
    assert_eq!(
        take_log(&log),
        vec![(0, ok()), (1, ok()), (2, ok()), (3, ok())],
        "every callback ran once, in order"
    );
    assert_eq!(shared.try_get(), Some(ok()), "the value is intact");
    assert_eq!(shared.wait_blocking(), ok());
    let payloads = |p: Vec<Box<dyn Any + Send>>| -> Vec<u32> {
        p.into_iter()
            .map(|p| *p.downcast::<u32>().unwrap())
            .collect()
    };
    // Shared by every clone, and taken only once.
    assert_eq!(payloads(shared.clone().take_callback_panics()), vec![0, 2]);
    assert!(shared.take_callback_panics().is_empty());

    // After completion: runs at once, its panic is caught as well.
    shared.on_complete(|_| panic!("late"));
    let late = shared.take_callback_panics();
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].downcast_ref::<&str>(), Some(&"late"));
    assert_eq!(shared.try_get(), Some(ok()));
}

/// Each callback runs exactly once even when registered concurrently with the completion
/// from several threads.
#[test]
fn callbacks_registered_concurrently_with_completion_run_once() {
    const THREADS: usize = 2;
    const PER_THREAD: usize = 20;
    let (completer, future) = waitable::<u32>();
    let shared = future.shared();
    let calls: Arc<Vec<AtomicUsize>> = Arc::new(
        (0..THREADS * PER_THREAD)
            .map(|_| AtomicUsize::new(0))
            .collect(),
    );
    let start = std::sync::Barrier::new(THREADS + 1);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (shared, calls, start) = (shared.clone(), calls.clone(), &start);
            s.spawn(move || {
                start.wait();
                for k in 0..PER_THREAD {
                    let calls = calls.clone();
                    shared.on_complete(move |r| {
                        assert_eq!(r, Ok(1));
                        calls[t * PER_THREAD + k].fetch_add(1, Ordering::SeqCst);
                    });
                }
            });
        }
        start.wait();
        completer.complete(1).unwrap();
    });
    for (i, c) in calls.iter().enumerate() {
        assert_eq!(c.load(Ordering::SeqCst), 1, "callback {i}");
    }
}

/// A thread that has seen the result (here: `is_complete()`) and then registers a
/// callback must see it run at once ("at once if already complete"), even while the
/// completing thread is still busy waking waiters.
///
/// The completing thread is held between "result stored and waiters being woken" and
/// "done-callbacks taken" by a waker that blocks in `wake` until the test lets it go.
#[test]
fn on_complete_after_observed_completion_runs_at_once() {
    struct BlockingWaker {
        woken: Mutex<Option<mpsc::Sender<()>>>,
        release: Mutex<Option<mpsc::Receiver<()>>>,
    }
    impl Wake for BlockingWaker {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            if let Some(woken) = self.woken.lock().unwrap().take() {
                woken.send(()).unwrap();
                let release = self.release.lock().unwrap().take().unwrap();
                release.recv().unwrap();
            }
        }
    }
    let (woken_tx, woken_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let blocking = Waker::from(Arc::new(BlockingWaker {
        woken: Mutex::new(Some(woken_tx)),
        release: Mutex::new(Some(release_rx)),
    }));
    let (completer, future) = waitable::<u8>();
    let shared = future.shared();
    let mut pending = Box::pin(shared.clone());
    assert!(poll_pinned(pending.as_mut(), &blocking).is_pending());
    let completing = thread::spawn(move || completer.complete(6).unwrap());
    // The completing thread is now inside the wake-up of our waiter.
    woken_rx.recv().unwrap();
    assert!(shared.is_complete());
    assert_eq!(shared.try_get(), Some(Ok(6)));
    let ran = Arc::new(AtomicUsize::new(0));
    let seen = ran.clone();
    shared.on_complete(move |r| {
        assert_eq!(r, Ok(6));
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let ran_at_once = ran.load(Ordering::SeqCst);
    release_tx.send(()).unwrap();
    completing.join().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1, "ran exactly once");
    assert_eq!(
        ran_at_once, 1,
        "the result was there, yet the callback did not run at once"
    );
}

// ---------------------------------------------------------------------------------------
// Cancellation.

#[test]
fn last_handle_dropped_before_completion_cancels_once() {
    let (completer, future, hook) = with_hook::<u8>();
    let shared = future.shared();
    let a = shared.clone();
    let b = a.clone();
    drop(shared);
    drop(a);
    assert_eq!(runs(&hook), 0, "not the last handle");
    assert!(!completer.is_canceled());
    let mut b = Box::pin(b);
    let (w, waker) = counting_waker();
    assert!(poll_pinned(b.as_mut(), &waker).is_pending());
    drop(b);
    assert_eq!(runs(&hook), 1, "the last handle cancels");
    assert!(completer.is_canceled());
    assert_eq!(completer.complete(1), Err(1));
    assert_eq!(runs(&hook), 1);
    assert_eq!(w.wakes(), 0);
    assert_eq!(Arc::strong_count(&w), 2, "the waker was released");
}

#[test]
fn cancellation_runs_on_the_dropping_thread() {
    let (completer, future) = waitable::<u8>();
    let (tx, rx) = mpsc::channel();
    let future = future.on_cancel(move || tx.send(thread::current().id()).unwrap());
    let shared = future.shared();
    let dropper = thread::spawn(move || {
        drop(shared);
        thread::current().id()
    });
    let dropper_id = dropper.join().unwrap();
    assert_eq!(rx.try_recv(), Ok(dropper_id));
    assert!(completer.is_canceled());
}

#[test]
fn no_cancellation_after_completion_or_abandonment() {
    let (completer, future, hook) = with_hook::<u8>();
    let shared = future.shared();
    completer.complete(1).unwrap();
    drop(shared);
    assert_eq!(runs(&hook), 0);

    let (completer, future, hook) = with_hook::<u8>();
    let shared = future.shared();
    drop(completer);
    drop(shared);
    assert_eq!(runs(&hook), 0);
}

/// Pending done-callbacks count as handles: with every handle dropped, the operation is
/// not canceled, and the callbacks still get the value; then everything is released.
#[test]
fn pending_callbacks_keep_the_operation_alive() {
    let (completer, future, hook) = with_hook::<Counted>();
    let shared = future.shared();
    let got: Log<u32> = Arc::default();
    for _ in 0..2 {
        let got = got.clone();
        shared.on_complete(move |r| got.lock().unwrap().push(r.unwrap().id));
    }
    drop(shared);
    assert_eq!(runs(&hook), 0, "callbacks are pending: not canceled");
    assert!(!completer.is_canceled());
    let (value, value_live) = Counted::new(42);
    assert!(
        completer.complete(value).is_ok(),
        "the value is still wanted"
    );
    assert_eq!(take_log(&got), vec![42, 42]);
    assert_eq!(runs(&hook), 0);
    assert_eq!(
        live(&value_live),
        0,
        "the shared state was freed with the last callback"
    );
}

/// The same with abandonment: the callbacks get `Abandoned`, nothing leaks.
#[test]
fn pending_callbacks_then_abandonment() {
    let (completer, future, hook) = with_hook::<u8>();
    let shared = future.shared();
    let got: Log<Result<u8, Abandoned>> = Arc::default();
    let sink = got.clone();
    shared.on_complete(move |r| sink.lock().unwrap().push(r));
    drop(shared);
    drop(completer);
    assert_eq!(take_log(&got), vec![Err(Abandoned)]);
    assert_eq!(runs(&hook), 0);
}

/// Dropping every handle releases the value exactly once, whether or not it was awaited.
#[test]
fn the_value_is_released_with_the_last_handle() {
    let (completer, future) = waitable::<Counted>();
    let shared = future.shared();
    let other = shared.clone();
    let (value, value_live) = Counted::new(1);
    completer.complete(value).unwrap();
    assert_eq!(live(&value_live), 1, "held once by the shared state");
    let got = shared.wait_blocking().unwrap();
    assert_eq!(live(&value_live), 2, "each waiter gets its own clone");
    drop(got);
    drop(shared);
    assert_eq!(live(&value_live), 1);
    drop(other);
    assert_eq!(live(&value_live), 0);
}

// ---------------------------------------------------------------------------------------
// Creation variants and idioms.

/// The Arc idiom for values that are not `Clone`: every waiter shares one instance.
#[test]
fn arc_idiom_for_values_that_are_not_clone() {
    struct Connection {
        id: u32,
    }
    let (completer, future) = waitable::<Arc<Connection>>();
    let shared = future.shared();
    let a = shared.clone();
    completer
        .complete(Arc::new(Connection { id: 5 }))
        .ok()
        .unwrap();
    let x = a.wait_blocking().unwrap();
    let y = shared.try_get().unwrap().unwrap();
    assert!(Arc::ptr_eq(&x, &y));
    assert_eq!(x.id, 5);
    drop((a, shared));
    assert_eq!(
        Arc::strong_count(&x),
        2,
        "the shared state released its reference"
    );
}

/// A future completed synchronously (before `shared()`) fans out at creation.
#[test]
fn shared_from_an_already_complete_future() {
    let future = WaitableFuture::from_callback(|c| c.complete(10u8).unwrap());
    let shared = future.shared();
    assert_eq!(shared.try_get(), Some(Ok(10)));
    let ran = Arc::new(AtomicUsize::new(0));
    let seen = ran.clone();
    shared.on_complete(move |r| {
        assert_eq!(r, Ok(10));
        seen.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(ran.load(Ordering::SeqCst), 1);

    let abandoned = WaitableFuture::<u8>::from_callback(drop).shared();
    assert_eq!(abandoned.try_get(), Some(Err(Abandoned)));
}

/// `shared()` on a future a thread is about to complete, many times: whichever side goes
/// first, the value arrives exactly once.
#[test]
fn shared_creation_races_with_completion() {
    let rounds = if cfg!(miri) { 5 } else { 200 };
    for round in 0..rounds {
        let (completer, future) = waitable::<u32>();
        let start = Arc::new(std::sync::Barrier::new(2));
        let go = start.clone();
        let completing = thread::spawn(move || {
            go.wait();
            completer.complete(round).unwrap();
        });
        start.wait();
        let shared = future.shared();
        assert_eq!(shared.wait_blocking(), Ok(round));
        completing.join().unwrap();
    }
}
