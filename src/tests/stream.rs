//! Unit tests of callback streams ([`callback_stream`], [`StreamFeeder`],
//! [`CallbackStream`]).
//!
//! One group per contract line of `src/stream.rs` (terminal events, delivery before the
//! end, closing, feeder clones and order), one per policy and overflow rule (with the
//! counters), the blocking API, `FusedStream`, and static `Send`/`Sync` assertions. Items
//! count their drops, wakers count their wake-ups and their live clones, so every test
//! also checks that nothing is lost, leaked or released twice. Nothing is ordered with
//! sleeps: only joins, channels and the stream itself. Miri-clean, also with
//! `-Zmiri-strict-provenance` (`cargo +nightly miri test --lib stream`).

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use futures_core::{FusedStream, Stream};

use super::oneshot::CloneCountingWaker;
use super::support::{count, counter, guarded, CountingWaker, Val, LONG};
use crate::{
    callback_stream, CallbackStream, Overflow, RejectReason, Rejected, StreamError, StreamFeeder,
    StreamPolicy, StreamStats,
};

/// How often a threaded test repeats its race.
const RACES: usize = if cfg!(miri) { 2 } else { 100 };

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A counting waker, no `Waker` made from it yet: `Arc::strong_count - 1` is the number of
/// live `Waker`s made from it.
fn counting_waker() -> Arc<CountingWaker> {
    Arc::new(CountingWaker::default())
}

fn wakes(waker: &Arc<CountingWaker>) -> usize {
    waker.wakes()
}

/// How many clones of the waker anywait still holds (the test holds none between polls).
fn held(waker: &Arc<CountingWaker>) -> usize {
    Arc::strong_count(waker) - 1
}

type Next<T, E> = Poll<Option<Result<T, StreamError<E>>>>;

/// Polls the stream once with a waker made from `counting` (dropped right after).
fn poll_with<T, E>(stream: &mut CallbackStream<T, E>, counting: &Arc<CountingWaker>) -> Next<T, E> {
    let waker = Waker::from(counting.clone());
    let mut cx = Context::from_waker(&waker);
    Pin::new(stream).poll_next(&mut cx)
}

fn poll_noop<T, E>(stream: &mut CallbackStream<T, E>) -> Next<T, E> {
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    Pin::new(stream).poll_next(&mut cx)
}

fn unbounded<T>() -> (
    StreamFeeder<T, &'static str>,
    CallbackStream<T, &'static str>,
) {
    callback_stream(StreamPolicy::Unbounded)
}

fn bounded<T>(
    capacity: usize,
    overflow: Overflow,
) -> (
    StreamFeeder<T, &'static str>,
    CallbackStream<T, &'static str>,
) {
    callback_stream(StreamPolicy::Bounded { capacity, overflow })
}

fn window_bytes(initial: usize) -> (StreamFeeder<Vec<u8>, ()>, CallbackStream<Vec<u8>, ()>) {
    callback_stream(StreamPolicy::Window {
        initial,
        weigh: |chunk: &Vec<u8>| chunk.len(),
    })
}

/// Registers a credit hook that records every credit, in order.
fn record_credits<T: 'static, E: 'static>(feeder: &StreamFeeder<T, E>) -> Arc<Mutex<Vec<usize>>> {
    let credits = Arc::new(Mutex::new(Vec::new()));
    let log = credits.clone();
    feeder.on_credit(move |weight| log.lock().unwrap().push(weight));
    credits
}

fn credits(log: &Arc<Mutex<Vec<usize>>>) -> Vec<usize> {
    log.lock().unwrap().clone()
}

/// A close hook that records its id in `log` when it runs.
fn hook(log: &Arc<Mutex<Vec<u32>>>, id: u32) -> impl FnOnce() + Send + 'static {
    let log = log.clone();
    move || log.lock().unwrap().push(id)
}

/// A close hook that counts its runs and (through a captured [`Val`]) its release.
fn counted_hook(
    runs: &Arc<AtomicUsize>,
    releases: &Arc<AtomicUsize>,
) -> impl FnOnce() + Send + 'static {
    let runs = runs.clone();
    let guard = Val::counted_by(0, releases);
    move || {
        let _guard = guard;
        runs.fetch_add(1, Ordering::SeqCst);
    }
}

fn ids(items: Vec<Result<Val, StreamError<&'static str>>>) -> Vec<Result<u32, StreamError<()>>> {
    items
        .into_iter()
        .map(|item| match item {
            Ok(val) => Ok(val.id),
            Err(StreamError::Failed(_)) => Err(StreamError::Failed(())),
            Err(StreamError::Abandoned) => Err(StreamError::Abandoned),
            Err(StreamError::Timeout) => Err(StreamError::Timeout),
        })
        .collect()
}

/// Runs `f` and fails (rather than hangs) if it does not return in bounded time, e.g.
/// because a hook or a drop ran under the stream's (non-reentrant) lock. Under miri the
/// deadlock detector does that job.
fn returns_in_bounded_time(f: impl FnOnce() + Send + 'static) {
    if cfg!(miri) {
        f();
        return;
    }
    guarded(
        Duration::from_secs(60),
        "deadlock: the operation did not return (a lock held across foreign code?)",
        f,
    );
}

// ---------------------------------------------------------------------------------------
// Static assertions
// ---------------------------------------------------------------------------------------

#[test]
fn raw_feeder_round_trip() {
    let drops = counter();
    let (feeder, mut stream) = unbounded::<Val>();
    let other = feeder.clone();
    let raw = feeder.into_raw();
    assert!(!raw.is_null());
    // SAFETY: `raw` came from `into_raw` and is released only below.
    unsafe { StreamFeeder::<Val, &str>::push_raw(raw, Val::counted_by(1, &drops)) }.unwrap();
    // SAFETY: as above; push_raw borrows, so it may run any number of times.
    unsafe { StreamFeeder::<Val, &str>::push_raw(raw, Val::counted_by(2, &drops)) }.unwrap();
    drop(other);
    // The raw pointer still holds a feeder: the stream has not ended.
    assert_eq!(
        poll_noop(&mut stream).map(|item| item.map(|r| r.map(|v| v.id))),
        Poll::Ready(Some(Ok(1)))
    );
    assert_eq!(stream.next_blocking().map(|r| r.map(|v| v.id)), Some(Ok(2)));
    assert_eq!(
        poll_noop(&mut stream).map(|item| item.is_some()),
        Poll::Pending
    );
    // SAFETY: released exactly once, never used again.
    let feeder = unsafe { StreamFeeder::<Val, &'static str>::from_raw(raw) };
    assert!(feeder.finish());
    assert_eq!(stream.next_blocking().map(|r| r.map(|v| v.id)), None);
    assert_eq!(count(&drops), 2);
}

#[test]
fn send_sync_clone_unpin() {
    fn send_sync<T: Send + Sync>() {}
    fn clone<T: Clone>() {}
    fn unpin<T: Unpin>() {}
    fn fused<T: FusedStream>() {}
    // Feeders go to SDK threads; the stream to any executor.
    send_sync::<StreamFeeder<Vec<u8>, String>>();
    send_sync::<CallbackStream<Vec<u8>, String>>();
    // Items need only be `Send` (they are moved, never shared).
    send_sync::<StreamFeeder<std::cell::Cell<u8>, std::cell::Cell<u8>>>();
    send_sync::<CallbackStream<std::cell::Cell<u8>, std::cell::Cell<u8>>>();
    clone::<StreamFeeder<Vec<u8>, String>>();
    unpin::<CallbackStream<std::rc::Rc<u8>, ()>>();
    fused::<CallbackStream<Vec<u8>, String>>();
    send_sync::<Rejected<Vec<u8>>>();
    send_sync::<StreamError<String>>();
    send_sync::<crate::stream::BlockingIter<'static, Vec<u8>, String>>();
    send_sync::<StreamPolicy<Vec<u8>>>();
}

// ---------------------------------------------------------------------------------------
// Contract: exactly one terminal event, items before it
// ---------------------------------------------------------------------------------------

#[test]
fn finish_delivers_every_item_then_none() {
    let drops = counter();
    let (feeder, mut stream) = unbounded();
    for id in 0..3 {
        feeder.push(Val::counted_by(id, &drops)).unwrap();
    }
    assert!(feeder.finish());
    assert_eq!(
        ids(stream.blocking_iter().collect()),
        vec![Ok(0), Ok(1), Ok(2)]
    );
    assert_eq!(count(&drops), 3);
    assert!(stream.next_blocking().is_none());
    assert!(matches!(poll_noop(&mut stream), Poll::Ready(None)));
}

#[test]
fn fail_delivers_every_item_then_the_error_then_none() {
    let (feeder, mut stream) = callback_stream::<u8, String>(StreamPolicy::Unbounded);
    feeder.push(1).unwrap();
    feeder.push(2).unwrap();
    assert!(feeder.fail("reset".to_string()));
    assert_eq!(stream.next_blocking(), Some(Ok(1)));
    assert_eq!(stream.next_blocking(), Some(Ok(2)));
    assert_eq!(
        stream.next_blocking(),
        Some(Err(StreamError::Failed("reset".to_string())))
    );
    assert_eq!(stream.next_blocking(), None);
    assert_eq!(stream.next_blocking(), None);
}

#[test]
fn dropping_every_feeder_abandons_after_the_items() {
    let (feeder, mut stream) = unbounded::<u8>();
    let other = feeder.clone();
    let third = other.clone();
    feeder.push(1).unwrap();
    other.push(2).unwrap();
    drop(feeder);
    drop(other);
    // One feeder left: not abandoned yet.
    assert_eq!(poll_noop(&mut stream), Poll::Ready(Some(Ok(1))));
    assert_eq!(poll_noop(&mut stream), Poll::Ready(Some(Ok(2))));
    assert_eq!(poll_noop(&mut stream), Poll::Pending);
    drop(third);
    assert_eq!(
        poll_noop(&mut stream),
        Poll::Ready(Some(Err(StreamError::Abandoned)))
    );
    assert_eq!(poll_noop(&mut stream), Poll::Ready(None));
}

#[test]
fn only_the_first_terminal_event_counts() {
    let (feeder, mut stream) = unbounded::<u8>();
    let a = feeder.clone();
    let b = feeder.clone();
    feeder.push(1).unwrap();
    assert!(feeder.finish());
    // Later ends from other clones change nothing.
    assert!(!a.fail("late"));
    // Pushes after the end are handed back.
    let rejected = b.push(2).unwrap_err();
    assert_eq!(rejected.reason(), RejectReason::Ended);
    assert_eq!(rejected.into_inner(), 2);
    assert!(!b.clone().finish());
    // Dropping the last clone after the end does not abandon.
    drop(b);
    assert_eq!(stream.stats().rejected, 1);
    assert_eq!(
        stream.blocking_iter().collect::<Vec<_>>(),
        vec![Ok(1)],
        "one end, no Failed and no Abandoned after it"
    );
}

#[test]
fn fail_after_abandonment_is_impossible_and_end_after_close_is_refused() {
    let (feeder, stream) = unbounded::<u8>();
    let other = feeder.clone();
    drop(stream);
    assert!(!feeder.finish(), "no end once the consumer is gone");
    assert!(!other.fail("x"));
}

#[test]
fn items_pushed_before_the_end_from_racing_clones_are_delivered() {
    for _ in 0..RACES {
        let (feeder, mut stream) = unbounded::<u32>();
        let pusher = feeder.clone();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let racer = thread::spawn(move || {
            go_rx.recv().unwrap();
            match pusher.push(7) {
                Ok(()) => true,
                Err(rejected) => {
                    assert_eq!(rejected.reason(), RejectReason::Ended);
                    false
                }
            }
        });
        go_tx.send(()).unwrap();
        assert!(feeder.finish());
        let accepted = racer.join().unwrap();
        let items: Vec<_> = stream.blocking_iter().collect();
        if accepted {
            assert_eq!(items, vec![Ok(7)]);
        } else {
            assert_eq!(items, vec![]);
            assert_eq!(stream.stats().rejected, 1);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Contract: dropping the stream
// ---------------------------------------------------------------------------------------

#[test]
fn dropping_the_stream_rejects_pushes_and_drops_buffered_items() {
    let drops = counter();
    let (feeder, stream) = unbounded();
    feeder.push(Val::counted_by(1, &drops)).unwrap();
    feeder.push(Val::counted_by(2, &drops)).unwrap();
    assert!(!feeder.is_closed());
    drop(stream);
    assert!(feeder.is_closed());
    assert_eq!(
        count(&drops),
        2,
        "buffered items are dropped with the stream"
    );
    let rejected = feeder.push(Val::counted_by(3, &drops)).unwrap_err();
    assert_eq!(rejected.reason(), RejectReason::Closed);
    assert_eq!(rejected.into_inner().id, 3);
    assert_eq!(count(&drops), 3);
    let stats = feeder.stats();
    assert_eq!(
        (stats.buffered, stats.buffered_weight, stats.rejected),
        (0, 0, 1)
    );
}

#[test]
fn items_left_in_the_stream_are_dropped_before_its_close_hooks_run() {
    // A binding's close hook may free the SDK memory that its items borrow (zero-copy
    // chunks): every item the stream still holds, in its queue or in the consumer's batch,
    // is dropped before the hooks run.
    let drops = counter();
    let (feeder, mut stream) = unbounded();
    for id in 1..=3 {
        feeder.push(Val::counted_by(id, &drops)).unwrap();
    }
    // The first take moves all three into the consumer's batch; item 4 waits in the queue.
    let first = stream.next_blocking().unwrap().unwrap();
    assert_eq!(first.id, 1);
    feeder.push(Val::counted_by(4, &drops)).unwrap();
    let seen = Arc::new(AtomicUsize::new(usize::MAX));
    let (at_hook, counted) = (seen.clone(), drops.clone());
    stream.on_close(move || at_hook.store(count(&counted), Ordering::SeqCst));
    drop(stream);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        3,
        "the close hook ran before the batch's and the queue's items were dropped"
    );
    drop(first);
    assert_eq!(count(&drops), 4);
}

#[test]
fn close_hooks_run_once_in_order_when_dropped_before_the_end() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (feeder, stream) = unbounded::<u8>();
    feeder.on_close(hook(&log, 1));
    stream.on_close(hook(&log, 2));
    feeder.on_close(hook(&log, 3));
    assert!(log.lock().unwrap().is_empty());
    drop(stream);
    assert_eq!(*log.lock().unwrap(), vec![1, 2, 3]);
    // Added after the close: runs at once.
    feeder.on_close(hook(&log, 4));
    assert_eq!(*log.lock().unwrap(), vec![1, 2, 3, 4]);
    // Nothing runs twice, not even when the last feeder goes.
    drop(feeder);
    assert_eq!(*log.lock().unwrap(), vec![1, 2, 3, 4]);
}

#[test]
fn close_hooks_do_not_run_after_the_end_but_are_released() {
    for end in 0..4 {
        let (runs, releases) = (counter(), counter());
        let (feeder, mut stream) = unbounded::<u8>();
        feeder.on_close(counted_hook(&runs, &releases));
        let other = feeder.clone();
        match end {
            0 => assert!(feeder.finish()),
            1 => assert!(feeder.fail("e")),
            2 => drop(feeder),
            _ => {
                assert!(feeder.finish());
                // Delivered too.
                assert!(stream.next_blocking().is_none());
            }
        }
        if end == 2 {
            drop(other);
        } else {
            // A hook added after the end is not stored for a later close.
            other.on_close(counted_hook(&runs, &releases));
        }
        stream.on_close(counted_hook(&runs, &releases));
        drop(stream);
        assert_eq!(count(&runs), 0, "end {end}: the stream ended, no close");
        let added = if end == 2 { 2 } else { 3 };
        assert_eq!(count(&releases), added, "end {end}: every hook released");
    }
}

#[test]
fn close_hook_added_after_close_and_end_does_not_run() {
    let (runs, releases) = (counter(), counter());
    let (feeder, stream) = unbounded::<u8>();
    let other = feeder.clone();
    assert!(feeder.finish());
    drop(stream);
    other.on_close(counted_hook(&runs, &releases));
    assert_eq!((count(&runs), count(&releases)), (0, 1));
}

#[test]
fn close_hooks_and_item_drops_run_outside_the_lock() {
    // A hook that uses the stream, and items whose drop uses the stream, would deadlock
    // if run under its lock.
    returns_in_bounded_time(|| {
        let (feeder, stream) = unbounded::<Reentrant>();
        let inner = feeder.clone();
        feeder.on_close(move || {
            assert!(inner.is_closed());
            assert_eq!(
                inner.push(Reentrant(None)).unwrap_err().reason(),
                RejectReason::Closed
            );
        });
        feeder.push(Reentrant(Some(feeder.clone()))).unwrap();
        drop(stream);
        drop(feeder);
    });
    returns_in_bounded_time(|| {
        let (feeder, _stream) = bounded::<Reentrant>(1, Overflow::DropOldest);
        feeder.push(Reentrant(Some(feeder.clone()))).unwrap();
        // Evicts the first item, whose drop reads the stats.
        feeder.push(Reentrant(None)).unwrap();
        assert_eq!(feeder.stats().dropped_oldest, 1);
    });
    returns_in_bounded_time(|| {
        let (feeder, _stream) = bounded::<Reentrant>(1, Overflow::DropNewest);
        feeder.push(Reentrant(None)).unwrap();
        feeder.push(Reentrant(Some(feeder.clone()))).unwrap();
        assert_eq!(feeder.stats().dropped_newest, 1);
    });
}

/// An item whose drop reads the stream's stats through a feeder clone.
struct Reentrant(Option<StreamFeeder<Reentrant, &'static str>>);

impl Drop for Reentrant {
    fn drop(&mut self) {
        if let Some(feeder) = self.0.take() {
            let _ = feeder.stats();
            let _ = feeder.is_closed();
        }
    }
}

#[test]
fn drop_of_stream_races_pushes() {
    for _ in 0..RACES {
        let drops = counter();
        let (runs, releases) = (counter(), counter());
        let (feeder, stream) = unbounded();
        stream.on_close(counted_hook(&runs, &releases));
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let drops2 = drops.clone();
        let pusher = thread::spawn(move || {
            go_rx.recv().unwrap();
            let mut accepted = 0;
            for id in 0..4 {
                match feeder.push(Val::counted_by(id, &drops2)) {
                    Ok(()) => accepted += 1,
                    Err(rejected) => assert_eq!(rejected.reason(), RejectReason::Closed),
                }
            }
            let stats = feeder.stats();
            // Kept alive: dropping the last feeder first would end (abandon) the stream,
            // and an ended stream runs no close hooks.
            (accepted, stats, feeder)
        });
        go_tx.send(()).unwrap();
        drop(stream);
        let (accepted, stats, feeder) = pusher.join().unwrap();
        assert_eq!(count(&drops), 4, "every item dropped exactly once");
        assert_eq!(stats.rejected, 4 - accepted);
        assert_eq!((count(&runs), count(&releases)), (1, 1));
        drop(feeder);
        assert_eq!(count(&runs), 1);
    }
}

// ---------------------------------------------------------------------------------------
// Contract: feeder clones, order, wake-ups
// ---------------------------------------------------------------------------------------

#[test]
fn each_feeders_order_is_kept_across_threads() {
    const FEEDERS: u32 = 3;
    let per_feeder: u32 = if cfg!(miri) { 20 } else { 2000 };
    let (feeder, mut stream) = unbounded::<(u32, u32)>();
    let producers: Vec<_> = (0..FEEDERS)
        .map(|f| {
            let feeder = feeder.clone();
            thread::spawn(move || {
                for i in 0..per_feeder {
                    feeder.push((f, i)).unwrap();
                }
            })
        })
        .collect();
    drop(feeder);
    let mut next = vec![0; FEEDERS as usize];
    let mut received = 0;
    for item in stream.blocking_iter() {
        match item {
            Ok((f, i)) => {
                assert_eq!(next[f as usize], i, "feeder {f} out of order");
                next[f as usize] += 1;
                received += 1;
            }
            Err(end) => assert_eq!(end, StreamError::Abandoned),
        }
    }
    for producer in producers {
        producer.join().unwrap();
    }
    assert_eq!(received, FEEDERS * per_feeder);
    assert!(stream.is_terminated());
}

#[test]
fn pending_poll_is_woken_by_each_event_and_waker_released() {
    // 0: push, 1: finish, 2: fail, 3: last feeder dropped.
    for event in 0..4 {
        let counting = counting_waker();
        let (feeder, mut stream) = unbounded::<u8>();
        assert_eq!(poll_with(&mut stream, &counting), Poll::Pending);
        assert_eq!((wakes(&counting), held(&counting)), (0, 1));
        let expected = match event {
            0 => {
                feeder.push(9).unwrap();
                Some(Ok(9))
            }
            1 => {
                assert!(feeder.finish());
                None
            }
            2 => {
                assert!(feeder.fail("e"));
                Some(Err(StreamError::Failed("e")))
            }
            _ => {
                drop(feeder);
                Some(Err(StreamError::Abandoned))
            }
        };
        assert_eq!(
            (wakes(&counting), held(&counting)),
            (1, 0),
            "event {event}: woken once, clone released"
        );
        assert_eq!(poll_noop(&mut stream), Poll::Ready(expected));
    }
}

#[test]
fn repoll_replaces_the_waker() {
    let (a, b) = (counting_waker(), counting_waker());
    let (feeder, mut stream) = unbounded::<u8>();
    assert_eq!(poll_with(&mut stream, &a), Poll::Pending);
    assert_eq!(poll_with(&mut stream, &b), Poll::Pending);
    assert_eq!((held(&a), held(&b)), (0, 1));
    feeder.push(1).unwrap();
    assert_eq!((wakes(&a), wakes(&b)), (0, 1));
    assert_eq!(held(&b), 0);
    // A push with nobody waiting wakes nobody.
    feeder.push(2).unwrap();
    assert_eq!(wakes(&b), 1);
}

#[test]
fn repoll_with_the_same_waker_does_not_clone_it_again() {
    let counting = CloneCountingWaker::new();
    let waker = counting.waker();
    let (feeder, mut stream) = unbounded::<u8>();
    let mut cx = Context::from_waker(&waker);
    for _ in 0..3 {
        assert_eq!(Pin::new(&mut stream).poll_next(&mut cx), Poll::Pending);
    }
    assert_eq!(
        counting.clones(),
        1,
        "a re-poll with the waker already stored cloned it again"
    );
    feeder.push(1).unwrap();
    assert_eq!((counting.wakes(), counting.live()), (1, 1));
    assert_eq!(
        Pin::new(&mut stream).poll_next(&mut cx),
        Poll::Ready(Some(Ok(1)))
    );
}

#[test]
fn a_drained_buffer_up_to_the_retained_size_is_kept() {
    use crate::stream::batch::{Batch, RETAINED_BYTES};
    use std::collections::VecDeque;
    // Exactly the retained size: kept for the next burst.
    let mut at_limit = VecDeque::<[u8; RETAINED_BYTES]>::with_capacity(1);
    assert_eq!(at_limit.capacity(), 1);
    assert!(Batch::trimmed(&mut at_limit).is_none());
    assert_eq!(at_limit.capacity(), 1);
    // One byte more: given back.
    let mut over = VecDeque::<[u8; RETAINED_BYTES + 1]>::with_capacity(1);
    assert!(Batch::trimmed(&mut over).is_some_and(|old| old.capacity() == 1));
    assert_eq!(over.capacity(), 0);
}

#[test]
fn dropping_the_stream_releases_its_waker_without_waking() {
    let counting = counting_waker();
    let (feeder, mut stream) = unbounded::<u8>();
    assert_eq!(poll_with(&mut stream, &counting), Poll::Pending);
    drop(stream);
    assert_eq!((wakes(&counting), held(&counting)), (0, 0));
    drop(feeder);
}

#[test]
fn waker_may_reenter_the_stream() {
    // A waker whose wake reads the stream's stats: must be woken outside the lock.
    struct Reentering(StreamFeeder<u8, ()>, AtomicUsize);
    impl Wake for Reentering {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            assert_eq!(self.0.stats().buffered, 1);
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }
    returns_in_bounded_time(|| {
        let (feeder, mut stream) = callback_stream::<u8, ()>(StreamPolicy::Unbounded);
        let reentering = Arc::new(Reentering(feeder.clone(), AtomicUsize::new(0)));
        let waker = Waker::from(reentering.clone());
        let mut cx = Context::from_waker(&waker);
        assert_eq!(Pin::new(&mut stream).poll_next(&mut cx), Poll::Pending);
        feeder.push(1).unwrap();
        assert_eq!(count(&reentering.1), 1);
        assert_eq!(
            Pin::new(&mut stream).poll_next(&mut cx),
            Poll::Ready(Some(Ok(1)))
        );
    });
}

// ---------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------

#[test]
fn window_accepts_below_the_window_with_one_chunk_overshoot() {
    let (feeder, mut stream) = window_bytes(10);
    let log = record_credits(&feeder);
    feeder.push(vec![0; 6]).unwrap();
    // 6 < 10: accepted, and goes past the window (12): overshoot counted.
    feeder.push(vec![1; 6]).unwrap();
    let stats = feeder.stats();
    assert_eq!(
        (stats.buffered, stats.buffered_weight, stats.overshoot),
        (2, 12, 1)
    );
    // 12 >= 10: refused, the item handed back.
    let rejected = feeder.push(vec![2; 1]).unwrap_err();
    assert_eq!(rejected.reason(), RejectReason::WindowFull);
    assert_eq!(rejected.into_inner(), vec![2; 1]);
    assert_eq!(stream.next_blocking(), Some(Ok(vec![0; 6])));
    assert_eq!(credits(&log), vec![6]);
    assert_eq!(stream.stats().buffered_weight, 6);
    // 6 + 4 = 10: exactly fills the window, no overshoot.
    feeder.push(vec![3; 4]).unwrap();
    assert_eq!(feeder.stats().overshoot, 1);
    // 10 >= 10: full, even for an empty item.
    assert_eq!(
        feeder.push(vec![]).unwrap_err().reason(),
        RejectReason::WindowFull
    );
    assert_eq!(stream.next_blocking(), Some(Ok(vec![1; 6])));
    assert_eq!(stream.next_blocking(), Some(Ok(vec![3; 4])));
    assert_eq!(credits(&log), vec![6, 6, 4]);
    let stats = stream.stats();
    assert_eq!(
        (
            stats.buffered,
            stats.buffered_weight,
            stats.rejected,
            stats.overshoot
        ),
        (0, 0, 2, 1)
    );
    assert_eq!((stats.dropped_oldest, stats.dropped_newest), (0, 0));
}

/// The pushes judge the window by a cached view of what the consumer took; a push the
/// view would refuse, or count as an overshoot, must look again. (No `stats()` between the
/// take and the push here: it reads the consumer's counts and so refreshes the view.)
#[test]
fn window_pushes_look_again_before_refusing_or_counting_an_overshoot() {
    // The consumer took the first chunk: 6 more fit in the window of 10, no overshoot.
    let (feeder, mut stream) = window_bytes(10);
    feeder.push(vec![0; 6]).unwrap();
    assert_eq!(stream.next_blocking(), Some(Ok(vec![0; 6])));
    feeder.push(vec![1; 6]).unwrap();
    let stats = feeder.stats();
    assert_eq!((stats.buffered_weight, stats.overshoot), (6, 0));
    // The consumer emptied a full window: even an empty chunk (which cannot overshoot) is
    // let in.
    let (feeder, mut stream) = window_bytes(10);
    feeder.push(vec![0; 10]).unwrap();
    assert_eq!(stream.next_blocking(), Some(Ok(vec![0; 10])));
    feeder.push(vec![]).unwrap();
    let stats = feeder.stats();
    assert_eq!((stats.buffered, stats.rejected, stats.overshoot), (1, 0, 0));
}

#[test]
fn window_of_zero_refuses_everything_and_weightless_items_fit() {
    let (feeder, _stream) = window_bytes(0);
    assert_eq!(
        feeder.push(vec![]).unwrap_err().reason(),
        RejectReason::WindowFull
    );
    let (feeder, mut stream) = window_bytes(1);
    for _ in 0..5 {
        feeder.push(vec![]).unwrap();
    }
    feeder.push(vec![1]).unwrap();
    assert_eq!(
        feeder.push(vec![]).unwrap_err().reason(),
        RejectReason::WindowFull
    );
    let stats = feeder.stats();
    assert_eq!(
        (stats.buffered, stats.buffered_weight, stats.overshoot),
        (6, 1, 0)
    );
    let log = record_credits(&feeder);
    drop(feeder);
    let items: Vec<_> = stream.blocking_iter().collect();
    assert_eq!(items.len(), 7);
    assert_eq!(items[6], Err(StreamError::Abandoned));
    assert_eq!(credits(&log), vec![0, 0, 0, 0, 0, 1]);
}

#[test]
fn credit_runs_on_the_consumer_thread_outside_the_lock() {
    returns_in_bounded_time(|| {
        let (feeder, mut stream) = window_bytes(4);
        let consumer = thread::current().id();
        // The hook reaches the stream through a feeder clone it does not own: a hook that
        // owned one would keep the stream's state alive (a reference cycle, and the
        // stream could never be abandoned), so the test takes it back at the end.
        let inner = Arc::new(Mutex::new(Some(feeder.clone())));
        let inner2 = inner.clone();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        feeder.on_credit(move |bytes| {
            assert_eq!(thread::current().id(), consumer);
            let inner = inner2.lock().unwrap();
            let inner = inner.as_ref().unwrap();
            // Re-enters the stream: the lock is not held. The window re-opened already.
            let stats = inner.stats();
            seen2.lock().unwrap().push((bytes, stats.buffered_weight));
            if bytes == 4 {
                inner.push(vec![9; 1]).unwrap();
            }
        });
        let producer = {
            let feeder = feeder.clone();
            thread::spawn(move || feeder.push(vec![1; 4]).unwrap())
        };
        producer.join().unwrap();
        assert_eq!(stream.next_blocking(), Some(Ok(vec![1; 4])));
        assert_eq!(*seen.lock().unwrap(), vec![(4, 0)]);
        assert_eq!(stream.stats().buffered_weight, 1);
        assert_eq!(stream.next_blocking(), Some(Ok(vec![9; 1])));
        assert_eq!(*seen.lock().unwrap(), vec![(4, 0), (1, 0)]);
        inner.lock().unwrap().take();
        drop(feeder);
        assert_eq!(stream.next_blocking(), Some(Err(StreamError::Abandoned)));
    });
}

#[test]
fn on_credit_replaces_the_earlier_callback() {
    let (feeder, mut stream) = window_bytes(100);
    let first = record_credits(&feeder);
    feeder.push(vec![0; 3]).unwrap();
    feeder.push(vec![0; 5]).unwrap();
    assert!(stream.next_blocking().is_some());
    let second = record_credits(&feeder);
    assert!(stream.next_blocking().is_some());
    assert_eq!((credits(&first), credits(&second)), (vec![3], vec![5]));
    // The consumer's side sets the same hook.
    let third = Arc::new(Mutex::new(Vec::new()));
    let log = third.clone();
    stream.on_credit(move |weight| log.lock().unwrap().push(weight));
    feeder.push(vec![0; 7]).unwrap();
    assert!(stream.next_blocking().is_some());
    assert_eq!(
        (credits(&first), credits(&second), credits(&third)),
        (vec![3], vec![5], vec![7])
    );
}

#[test]
fn credit_is_one_per_item_for_bounded_and_unbounded() {
    for policy in [
        StreamPolicy::Unbounded,
        StreamPolicy::Bounded {
            capacity: 8,
            overflow: Overflow::Reject,
        },
    ] {
        let (feeder, mut stream) = callback_stream::<Vec<u8>, ()>(policy);
        let log = record_credits(&feeder);
        feeder.push(vec![0; 100]).unwrap();
        feeder.push(vec![0; 7]).unwrap();
        assert_eq!(feeder.stats().buffered_weight, 2);
        assert!(feeder.finish());
        assert_eq!(stream.blocking_iter().count(), 2);
        assert_eq!(credits(&log), vec![1, 1]);
    }
}

#[test]
fn bounded_reject_hands_the_item_back_when_full() {
    let drops = counter();
    let (feeder, mut stream) = bounded(2, Overflow::Reject);
    feeder.push(Val::counted_by(0, &drops)).unwrap();
    feeder.push(Val::counted_by(1, &drops)).unwrap();
    let rejected = feeder.push(Val::counted_by(2, &drops)).unwrap_err();
    assert_eq!(rejected.reason(), RejectReason::Full);
    assert_eq!(
        count(&drops),
        0,
        "a rejected item is handed back, not dropped"
    );
    assert_eq!(rejected.into_inner().id, 2);
    assert_eq!(count(&drops), 1);
    assert_eq!(stream.next_blocking().unwrap().unwrap().id, 0);
    feeder.push(Val::counted_by(3, &drops)).unwrap();
    assert_eq!(
        stream.stats(),
        StreamStats {
            buffered: 2,
            buffered_weight: 2,
            rejected: 1,
            pushed: 4,
            ..StreamStats::default()
        }
    );
    drop(feeder);
    assert_eq!(
        ids(stream.blocking_iter().collect()),
        vec![Ok(1), Ok(3), Err(StreamError::Abandoned)]
    );
    assert_eq!(count(&drops), 4);
}

#[test]
fn bounded_drop_newest_drops_the_pushed_item() {
    let drops = counter();
    let counting = counting_waker();
    let (feeder, mut stream) = bounded(2, Overflow::DropNewest);
    feeder.push(Val::counted_by(0, &drops)).unwrap();
    feeder.push(Val::counted_by(1, &drops)).unwrap();
    for id in 2..5 {
        feeder.push(Val::counted_by(id, &drops)).unwrap();
        assert_eq!(count(&drops), id as usize - 1, "dropped at once");
    }
    assert_eq!(
        feeder.stats(),
        StreamStats {
            buffered: 2,
            buffered_weight: 2,
            dropped_newest: 3,
            pushed: 5,
            ..StreamStats::default()
        }
    );
    assert_eq!(
        poll_with(&mut stream, &counting).map(|x| x.map(|r| r.map(|v| v.id))),
        Poll::Ready(Some(Ok(0)))
    );
    assert_eq!(
        poll_with(&mut stream, &counting).map(|x| x.map(|r| r.map(|v| v.id))),
        Poll::Ready(Some(Ok(1)))
    );
    // Empty and waiting; a push into the (now not full) buffer wakes.
    assert!(poll_with(&mut stream, &counting).is_pending());
    feeder.push(Val::counted_by(5, &drops)).unwrap();
    assert_eq!(wakes(&counting), 1);
    assert!(feeder.finish());
    assert_eq!(ids(stream.blocking_iter().collect()), vec![Ok(5)]);
    assert_eq!(count(&drops), 6);
}

#[test]
fn bounded_drop_oldest_evicts_the_oldest_item() {
    let drops = counter();
    let (feeder, mut stream) = bounded(2, Overflow::DropOldest);
    for id in 0..5 {
        feeder.push(Val::counted_by(id, &drops)).unwrap();
    }
    assert_eq!(count(&drops), 3, "evicted items are dropped at once");
    assert_eq!(
        stream.stats(),
        StreamStats {
            buffered: 2,
            buffered_weight: 2,
            dropped_oldest: 3,
            pushed: 5,
            ..StreamStats::default()
        }
    );
    assert!(feeder.finish());
    assert_eq!(ids(stream.blocking_iter().collect()), vec![Ok(3), Ok(4)]);
    assert_eq!(count(&drops), 5);
}

#[test]
fn bounded_capacity_zero_holds_one() {
    let (feeder, mut stream) = bounded::<u8>(0, Overflow::Reject);
    feeder.push(1).unwrap();
    assert_eq!(feeder.push(2).unwrap_err().reason(), RejectReason::Full);
    assert_eq!(stream.next_blocking(), Some(Ok(1)));
    feeder.push(3).unwrap();
    assert_eq!(stream.stats().buffered, 1);
}

#[test]
fn unbounded_takes_everything() {
    let n: u32 = if cfg!(miri) { 200 } else { 100_000 };
    let (feeder, mut stream) = unbounded::<u32>();
    for i in 0..n {
        feeder.push(i).unwrap();
    }
    let stats = feeder.stats();
    assert_eq!(
        (stats.buffered, stats.buffered_weight),
        (n as usize, n as usize)
    );
    assert!(feeder.finish());
    let mut expected = 0;
    for item in stream.blocking_iter() {
        assert_eq!(item, Ok(expected));
        expected += 1;
    }
    assert_eq!(expected, n);
    assert_eq!(
        stream.stats(),
        StreamStats {
            pushed: n as u64,
            ..StreamStats::default()
        }
    );
}

#[test]
fn rejected_counts_every_reason() {
    let (feeder, stream) = bounded::<u8>(1, Overflow::Reject);
    feeder.push(0).unwrap();
    assert_eq!(feeder.push(1).unwrap_err().reason(), RejectReason::Full);
    let other = feeder.clone();
    assert!(feeder.finish());
    assert_eq!(other.push(2).unwrap_err().reason(), RejectReason::Ended);
    drop(stream);
    // Closed wins over Ended.
    assert_eq!(other.push(3).unwrap_err().reason(), RejectReason::Closed);
    assert_eq!(other.stats().rejected, 3);
}

// ---------------------------------------------------------------------------------------
// Blocking API
// ---------------------------------------------------------------------------------------

#[test]
fn next_timeout_times_out_and_the_stream_goes_on() {
    let (feeder, mut stream) = unbounded::<u8>();
    let wait = Duration::from_millis(if cfg!(miri) { 1 } else { 20 });
    let start = Instant::now();
    assert_eq!(stream.next_timeout(wait), Some(Err(StreamError::Timeout)));
    assert!(start.elapsed() >= wait, "returned before the timeout");
    assert_eq!(
        stream.next_deadline(Instant::now()),
        Some(Err(StreamError::Timeout))
    );
    feeder.push(1).unwrap();
    assert_eq!(stream.next_timeout(Duration::ZERO), Some(Ok(1)));
    assert!(feeder.finish());
    assert_eq!(stream.next_timeout(LONG), None);
    assert_eq!(stream.next_deadline(Instant::now()), None);
}

#[test]
fn poll_after_a_timed_out_wait_registers_afresh() {
    // The timed-out wait withdrew its thread; the next poll registers its waker and the
    // next push wakes it.
    let counting = counting_waker();
    let (feeder, mut stream) = unbounded::<u8>();
    assert_eq!(
        stream.next_timeout(Duration::ZERO),
        Some(Err(StreamError::Timeout))
    );
    assert_eq!(poll_with(&mut stream, &counting), Poll::Pending);
    feeder.push(1).unwrap();
    assert_eq!(wakes(&counting), 1);
}

#[test]
fn timed_out_wait_keeps_the_waker_of_an_earlier_poll() {
    // The `Stream` contract: the task that got `Pending` is woken when an item arrives,
    // even if a timed blocking receive ran (and timed out) in between.
    let counting = counting_waker();
    let (feeder, mut stream) = unbounded::<u8>();
    assert_eq!(poll_with(&mut stream, &counting), Poll::Pending);
    assert_eq!(
        stream.next_timeout(Duration::ZERO),
        Some(Err(StreamError::Timeout))
    );
    assert_eq!(held(&counting), 1, "the task's waker was put back");
    feeder.push(1).unwrap();
    assert_eq!((wakes(&counting), held(&counting)), (1, 0));
    // A receive that finds the item at its first look leaves no waker behind.
    assert_eq!(poll_with(&mut stream, &counting), Poll::Ready(Some(Ok(1))));
    assert_eq!(poll_with(&mut stream, &counting), Poll::Pending);
    feeder.push(2).unwrap();
    assert_eq!(wakes(&counting), 2);
    assert_eq!(stream.next_timeout(Duration::ZERO), Some(Ok(2)));
    assert_eq!(held(&counting), 0);
}

#[test]
fn blocking_receive_that_takes_an_item_keeps_the_task_waker() {
    // A task polled (`Pending`); then a blocking receive takes an item pushed by another
    // thread. Whether that push found the task's waker or the blocking thread, the task
    // must be woken once the next item is there (its last poll was `Pending`).
    for _ in 0..RACES {
        let counting = counting_waker();
        let (feeder, mut stream) = unbounded::<u8>();
        assert_eq!(poll_with(&mut stream, &counting), Poll::Pending);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let other = feeder.clone();
        let producer = thread::spawn(move || {
            go_rx.recv().unwrap();
            other.push(1).unwrap();
        });
        go_tx.send(()).unwrap();
        assert_eq!(stream.next_timeout(LONG), Some(Ok(1)));
        producer.join().unwrap();
        feeder.push(2).unwrap();
        assert!(wakes(&counting) >= 1, "the polling task was never woken");
        assert_eq!(poll_with(&mut stream, &counting), Poll::Ready(Some(Ok(2))));
        drop(stream);
        assert_eq!(held(&counting), 0);
    }
}

#[test]
fn blocking_receives_are_woken_by_a_foreign_thread() {
    for round in 0..RACES {
        let (feeder, mut stream) = bounded::<usize>(1, Overflow::Reject);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let producer = thread::spawn(move || {
            go_rx.recv().unwrap();
            feeder.push(round).unwrap();
            if round % 2 == 0 {
                assert!(feeder.fail("e"));
            }
        });
        go_tx.send(()).unwrap();
        let first = if round % 3 == 0 {
            stream.next_timeout(LONG)
        } else {
            stream.next_blocking()
        };
        assert_eq!(first, Some(Ok(round)));
        let end = if round % 2 == 0 {
            Some(Err(StreamError::Failed("e")))
        } else {
            Some(Err(StreamError::Abandoned))
        };
        assert_eq!(stream.next_deadline(Instant::now() + LONG), end);
        assert_eq!(stream.next_blocking(), None);
        producer.join().unwrap();
    }
}

#[test]
fn blocking_iter_collects_until_the_end() {
    let (feeder, mut stream) = unbounded::<u8>();
    let producer = thread::spawn(move || {
        for i in 0..10 {
            feeder.push(i).unwrap();
        }
        feeder.fail("boom")
    });
    let items: Vec<_> = stream.blocking_iter().collect();
    assert!(producer.join().unwrap());
    let mut expected: Vec<_> = (0..10).map(Ok).collect();
    expected.push(Err(StreamError::Failed("boom")));
    assert_eq!(items, expected);
    // The iterator is fused by the stream.
    assert_eq!(stream.blocking_iter().next(), None);
    assert!(format!("{:?}", stream.blocking_iter()).contains("BlockingIter"));
}

// ---------------------------------------------------------------------------------------
// FusedStream, size_hint, Debug/Display
// ---------------------------------------------------------------------------------------

#[test]
fn fused_after_the_end() {
    let (feeder, mut stream) = unbounded::<u8>();
    assert!(!stream.is_terminated());
    feeder.push(1).unwrap();
    assert!(feeder.finish());
    // Finished but an item and the end are still to be read.
    assert!(!stream.is_terminated());
    assert_eq!(poll_noop(&mut stream), Poll::Ready(Some(Ok(1))));
    assert!(!stream.is_terminated(), "the end is not delivered yet");
    assert_eq!(poll_noop(&mut stream), Poll::Ready(None));
    assert!(stream.is_terminated());
    for _ in 0..3 {
        assert_eq!(poll_noop(&mut stream), Poll::Ready(None));
    }

    // A terminal error is the last item: terminated once it is delivered.
    let (feeder, mut stream) = unbounded::<u8>();
    drop(feeder);
    assert!(!stream.is_terminated());
    assert_eq!(
        poll_noop(&mut stream),
        Poll::Ready(Some(Err(StreamError::Abandoned)))
    );
    assert!(stream.is_terminated());
    assert_eq!(poll_noop(&mut stream), Poll::Ready(None));
}

#[test]
fn size_hint_is_the_buffered_count() {
    let (feeder, mut stream) = unbounded::<u8>();
    assert_eq!(stream.size_hint(), (0, None));
    feeder.push(1).unwrap();
    feeder.push(2).unwrap();
    assert_eq!(stream.size_hint(), (2, None));
    assert!(stream.next_blocking().is_some());
    assert_eq!(stream.size_hint(), (1, None));
}

#[test]
fn debug_and_display() {
    let (feeder, stream) = window_bytes(8);
    for debug in [format!("{feeder:?}"), format!("{stream:?}")] {
        assert!(
            debug.contains("Window") && debug.contains("initial: 8") && debug.contains("stats"),
            "{debug}"
        );
    }
    assert!(format!("{stream:?}").starts_with("CallbackStream"));
    assert!(format!("{feeder:?}").starts_with("StreamFeeder"));
    drop(stream);
    let rejected = feeder.push(vec![1]).unwrap_err();
    assert!(format!("{rejected:?}").contains("Closed"));
    assert!(rejected.to_string().contains("consumer is gone"));
    let (full, _stream) = bounded::<u8>(1, Overflow::Reject);
    full.push(0).unwrap();
    let (window, _stream2) = window_bytes(0);
    let ended = full.clone();
    let shown = [
        full.push(1).unwrap_err().to_string(),
        window.push(vec![]).unwrap_err().to_string(),
        {
            assert!(full.finish());
            ended.push(2).unwrap_err().to_string()
        },
    ];
    for (shown, word) in shown.iter().zip(["full", "window", "ended"]) {
        assert!(
            shown.starts_with("the item was rejected") && shown.contains(word),
            "{shown}"
        );
    }
    assert!(StreamError::Failed("x").to_string().contains('x'));
    assert!(StreamError::<&str>::Abandoned
        .to_string()
        .contains("abandoned"));
    assert!(StreamError::<&str>::Timeout.to_string().contains("timeout"));
    let policy: StreamPolicy<u8> = StreamPolicy::Bounded {
        capacity: 3,
        overflow: Overflow::DropOldest,
    };
    assert_eq!(
        format!("{:?} {:?}", policy.clone(), StreamPolicy::<u8>::Unbounded),
        "Bounded { capacity: 3, overflow: DropOldest } Unbounded"
    );
}

/// A full `Reject` stream refuses pushes as `Full`, counted exactly — and once the stream
/// ended or lost its consumer, for that reason instead, never as `Full` (a producer that
/// retries on `Full` would retry forever).
#[test]
fn full_stream_refuses_as_full_until_it_ends_or_closes() {
    for close in [false, true] {
        let drops = counter();
        let (feeder, mut stream) = bounded::<Val>(2, Overflow::Reject);
        feeder.push(Val::counted_by(0, &drops)).unwrap();
        feeder.push(Val::counted_by(1, &drops)).unwrap();
        for id in 2..5 {
            let refused = feeder.push(Val::counted_by(id, &drops)).unwrap_err();
            assert_eq!(refused.reason(), RejectReason::Full);
        }
        assert_eq!(count(&drops), 3, "each refused item handed back once");
        let stats = feeder.stats();
        assert_eq!((stats.pushed, stats.rejected, stats.buffered), (5, 3, 2));
        // Room again after a take: the next push is accepted.
        assert_eq!(stream.next_blocking().map(|v| v.unwrap().id), Some(0));
        feeder.push(Val::counted_by(5, &drops)).unwrap();
        let other = feeder.clone();
        // Finishing keeps the consumer until the end of the round.
        let mut kept = Some(stream);
        let reason = if close {
            drop(kept.take());
            RejectReason::Closed
        } else {
            assert!(other.finish());
            RejectReason::Ended
        };
        let refused = feeder.push(Val::counted_by(6, &drops)).unwrap_err();
        assert_eq!(refused.reason(), reason, "close: {close}");
        drop(refused);
        let stats = feeder.stats();
        assert_eq!((stats.pushed, stats.rejected), (7, 4), "close: {close}");
        drop(kept);
    }
}

/// A full `DropNewest` stream drops a pushed item: `push` returns `Ok`, the item is
/// dropped at once and counted, and `pushed` still adds up.
#[test]
fn full_drop_newest_stream_drops_the_pushed_item() {
    let drops = counter();
    let (feeder, mut stream) = bounded::<Val>(1, Overflow::DropNewest);
    feeder.push(Val::counted_by(0, &drops)).unwrap();
    feeder.push(Val::counted_by(1, &drops)).unwrap();
    feeder.push(Val::counted_by(2, &drops)).unwrap();
    assert_eq!(count(&drops), 2, "the two newest items dropped at once");
    let stats = stream.stats();
    assert_eq!(
        (
            stats.pushed,
            stats.dropped_newest,
            stats.rejected,
            stats.buffered
        ),
        (3, 2, 0, 1)
    );
    assert_eq!(stream.next_blocking().map(|v| v.unwrap().id), Some(0));
    feeder.push(Val::counted_by(3, &drops)).unwrap();
    assert_eq!(stream.next_blocking().map(|v| v.unwrap().id), Some(3));
    assert_eq!(stream.stats().pushed, 4);
}
