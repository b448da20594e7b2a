//! Unit tests of the one-shot primitive ([`waitable`], [`WaitableFuture`], [`Completer`]).
//!
//! The core is a matrix in the style of the `oneshot` crate's tests: one named test per
//! producer action x consumer action (`<producer>::<consumer>`). Same-thread producers act
//! at a fixed point of the consumer's sequence; threaded producers race it, and those
//! tests repeat (fewer times under miri). Whatever the order, every test checks the
//! outcome both sides saw, that the value is dropped exactly once, and that no waker
//! clone is leaked. Nothing is ordered with sleeps: only joins, channels and the
//! primitive itself. Miri-clean, also with `-Zmiri-strict-provenance`.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use futures::future::FusedFuture;
use futures::task::noop_waker_ref;

use super::support::{count, poll_once, SendPtr, Val, LONG};
use crate::{waitable, Abandoned, Canceled, Completer, TryTakeError, WaitError, WaitableFuture};

/// The id every matrix test sends.
const ID: u32 = 42;
/// How often a threaded matrix test repeats its race.
const RACES: usize = if cfg!(miri) { 2 } else { 200 };

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Counts of one [`CloneCountingWaker`]: how often its wakers were cloned and woken.
#[derive(Default)]
struct Counts {
    clones: AtomicUsize,
    wakes: AtomicUsize,
}

/// A waker that counts clones and wake-ups. Every `Waker` made from it holds one strong
/// count of the `Arc`, so [`CloneCountingWaker::live`] is the number of wakers alive.
/// (The shared `CountingWaker` of `tests/support/wakers.rs` is built on `Wake`, which
/// cannot count clones: this one has a vtable of its own.) `src/tests/event.rs` uses it
/// too.
pub(super) struct CloneCountingWaker {
    counts: Arc<Counts>,
}

const VTABLE: RawWakerVTable = RawWakerVTable::new(vt_clone, vt_wake, vt_wake_by_ref, vt_drop);

fn raw_waker(data: *const Counts) -> RawWaker {
    RawWaker::new(data.cast(), &VTABLE)
}

unsafe fn vt_clone(data: *const ()) -> RawWaker {
    let data = data.cast::<Counts>();
    // SAFETY: `data` came from `Arc::into_raw` and this waker still owns its count.
    unsafe { Arc::increment_strong_count(data) };
    // SAFETY: as above, the `Counts` is alive.
    unsafe { &*data }.clones.fetch_add(1, Ordering::SeqCst);
    raw_waker(data)
}

unsafe fn vt_wake(data: *const ()) {
    // SAFETY: the waker is consumed: wake by reference, then release its count.
    unsafe {
        vt_wake_by_ref(data);
        vt_drop(data);
    }
}

unsafe fn vt_wake_by_ref(data: *const ()) {
    // SAFETY: `data` came from `Arc::into_raw` and this waker still owns its count.
    unsafe { &*data.cast::<Counts>() }
        .wakes
        .fetch_add(1, Ordering::SeqCst);
}

unsafe fn vt_drop(data: *const ()) {
    // SAFETY: `data` came from `Arc::into_raw`; this releases the waker's own count.
    drop(unsafe { Arc::from_raw(data.cast::<Counts>()) });
}

impl CloneCountingWaker {
    pub(super) fn new() -> Self {
        CloneCountingWaker {
            counts: Arc::default(),
        }
    }

    /// A new waker (not counted as a clone).
    pub(super) fn waker(&self) -> Waker {
        let data = Arc::into_raw(self.counts.clone());
        // SAFETY: the vtable's functions uphold the `RawWaker` contract for an
        // `Arc<Counts>` pointer: clone adds a count, wake and drop release one.
        unsafe { Waker::from_raw(raw_waker(data)) }
    }

    pub(super) fn clones(&self) -> usize {
        count(&self.counts.clones)
    }

    pub(super) fn wakes(&self) -> usize {
        count(&self.counts.wakes)
    }

    /// How many wakers made from this one are alive.
    pub(super) fn live(&self) -> usize {
        Arc::strong_count(&self.counts) - 1
    }
}

// ---------------------------------------------------------------------------------------
// Producers
// ---------------------------------------------------------------------------------------

/// What the completing side does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Producer {
    /// `complete(value)` on the consumer's thread.
    Complete,
    /// Drops the completer on the consumer's thread.
    Drop,
    /// `complete(value)` on another thread, racing the consumer.
    CompleteThread,
    /// Drops the completer on another thread, racing the consumer.
    DropThread,
    /// `into_raw` here, then `from_raw` + `complete(value)` on another thread (a C SDK).
    RawComplete,
}

/// What a producer reported: `Some(complete's result)`, or `None` if it dropped.
type Sent = Option<Result<(), Val>>;

/// A producer that ran (same thread) or is running (another thread).
enum Run {
    Done(Sent),
    Thread(JoinHandle<Sent>),
}

impl Run {
    /// Waits for the producer to finish and returns what it reported.
    fn finish(self) -> Sent {
        match self {
            Run::Done(sent) => sent,
            Run::Thread(handle) => handle.join().expect("the producer panicked"),
        }
    }
}

impl Producer {
    fn delivers(self) -> bool {
        matches!(
            self,
            Producer::Complete | Producer::CompleteThread | Producer::RawComplete
        )
    }

    fn threaded(self) -> bool {
        !matches!(self, Producer::Complete | Producer::Drop)
    }

    fn races(self) -> usize {
        if self.threaded() {
            RACES
        } else {
            1
        }
    }

    /// Runs the producer now, or starts it on another thread.
    fn start(self, completer: Completer<Val>, value: Val) -> Run {
        self.start_inner(completer, value, false)
    }

    /// As [`Producer::start`], but the producer first waits for `canceled()`.
    fn start_after_cancel(self, completer: Completer<Val>, value: Val) -> Run {
        self.start_inner(completer, value, true)
    }

    fn start_inner(self, completer: Completer<Val>, value: Val, after_cancel: bool) -> Run {
        fn act(
            mut completer: Completer<Val>,
            value: Val,
            deliver: bool,
            after_cancel: bool,
        ) -> Sent {
            if after_cancel {
                futures::executor::block_on(completer.canceled());
                assert!(completer.is_canceled());
            }
            if deliver {
                Some(completer.complete(value))
            } else {
                drop(completer);
                drop(value);
                None
            }
        }
        let deliver = self.delivers();
        match self {
            Producer::Complete | Producer::Drop => {
                Run::Done(act(completer, value, deliver, after_cancel))
            }
            Producer::CompleteThread | Producer::DropThread => {
                Run::Thread(thread::spawn(move || {
                    act(completer, value, deliver, after_cancel)
                }))
            }
            Producer::RawComplete => {
                let ptr = SendPtr(completer.into_raw());
                Run::Thread(thread::spawn(move || {
                    let ptr = ptr;
                    // SAFETY: `ptr` came from `Completer::<Val>::into_raw` and is used once.
                    let completer = unsafe { Completer::<Val>::from_raw(ptr.0) };
                    act(completer, value, deliver, after_cancel)
                }))
            }
        }
    }

    /// Checks the result the future delivered.
    fn check_received(self, got: Result<Val, Abandoned>) {
        if self.delivers() {
            assert_eq!(got.expect("the value must arrive").id, ID);
        } else {
            assert_eq!(got.expect_err("nothing was sent"), Abandoned);
        }
    }

    /// Checks what the producer saw while the future stayed alive.
    fn check_sent_alive(self, sent: Sent) {
        if self.delivers() {
            assert!(matches!(sent, Some(Ok(()))), "the future was alive");
        } else {
            assert!(sent.is_none());
        }
    }

    /// Checks what the producer saw when it raced a drop of the future, and that the
    /// value was dropped exactly once. Returns whether the value was handed back.
    fn check_sent_raced(self, sent: Sent, drops: &AtomicUsize) -> bool {
        match sent {
            None => {
                assert!(!self.delivers());
                assert_eq!(count(drops), 1);
                false
            }
            Some(Ok(())) => {
                assert!(self.delivers());
                assert_eq!(
                    count(drops),
                    1,
                    "the delivered value must be dropped with the future"
                );
                false
            }
            Some(Err(back)) => {
                assert!(self.delivers());
                assert_eq!(back.id, ID);
                assert_eq!(count(drops), 0, "a handed-back value is intact");
                drop(back);
                assert_eq!(count(drops), 1);
                true
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Consumers
// ---------------------------------------------------------------------------------------

/// Polls with a noop waker, then a counting one, while the producer acts; a `Pending` poll
/// is followed by exactly one wake-up.
fn consume_poll(p: Producer) {
    for _ in 0..p.races() {
        let (completer, mut future) = waitable::<Val>();
        let (value, drops) = Val::new(ID);
        let counting = CloneCountingWaker::new();
        let waker = counting.waker();
        assert!(poll_once(&mut future, noop_waker_ref()).is_pending());
        assert!(poll_once(&mut future, &waker).is_pending());
        assert!(!future.is_terminated());
        let run = p.start(completer, value);
        let first = poll_once(&mut future, &waker);
        p.check_sent_alive(run.finish());
        let got = match first {
            Poll::Ready(got) => got,
            Poll::Pending => {
                assert_eq!(counting.wakes(), 1, "Pending must be followed by a wake-up");
                match poll_once(&mut future, &waker) {
                    Poll::Ready(got) => got,
                    Poll::Pending => panic!("woken but still pending"),
                }
            }
        };
        assert!(future.is_terminated());
        p.check_received(got);
        if !p.threaded() {
            assert_eq!(counting.wakes(), 1, "the registered waker is woken");
        }
        assert!(counting.wakes() <= 1);
        assert!(matches!(
            poll_once(&mut future, &waker),
            Poll::Ready(Err(Abandoned))
        ));
        assert!(future.is_terminated());
        drop(future);
        drop(waker);
        assert_eq!(counting.live(), 0, "waker leaked");
        assert_eq!(count(&drops), 1);
    }
}

/// Drops the never-polled future while the producer acts.
fn consume_drop(p: Producer) {
    for _ in 0..p.races() {
        let (completer, future) = waitable::<Val>();
        let (value, drops) = Val::new(ID);
        let run = p.start(completer, value);
        drop(future);
        let canceled = p.check_sent_raced(run.finish(), &drops);
        assert!(p.threaded() || !canceled, "the producer went first");
    }
}

/// Polls (registering a waker), then drops the future while the producer acts.
fn consume_drop_after_poll(p: Producer) {
    for _ in 0..p.races() {
        let (completer, mut future) = waitable::<Val>();
        let (value, drops) = Val::new(ID);
        let counting = CloneCountingWaker::new();
        assert!(poll_once(&mut future, &counting.waker()).is_pending());
        assert_eq!(counting.live(), 1, "the future holds one clone");
        let run = p.start(completer, value);
        drop(future);
        let canceled = p.check_sent_raced(run.finish(), &drops);
        if canceled {
            assert_eq!(counting.wakes(), 0, "the future was dropped first");
        }
        if !p.threaded() {
            assert_eq!(counting.wakes(), 1);
        }
        assert!(counting.wakes() <= 1);
        assert_eq!(counting.live(), 0, "waker leaked");
    }
}

/// `try_take` before, during and after the producer acts.
fn consume_try_take(p: Producer) {
    for _ in 0..p.races() {
        let (completer, mut future) = waitable::<Val>();
        let (value, drops) = Val::new(ID);
        assert_eq!(future.try_take().unwrap_err(), TryTakeError::Pending);
        assert!(!future.is_complete());
        let run = p.start(completer, value);
        let first = future.try_take();
        p.check_sent_alive(run.finish());
        assert!(future.is_complete());
        let got = match first {
            Err(TryTakeError::Pending) => {
                assert!(p.threaded());
                future.try_take()
            }
            other => other,
        };
        p.check_received(got.map_err(|e| {
            assert_eq!(e, TryTakeError::Abandoned);
            Abandoned
        }));
        assert!(future.is_terminated());
        assert_eq!(future.try_take().unwrap_err(), TryTakeError::Abandoned);
        drop(future);
        assert_eq!(count(&drops), 1);
    }
}

/// `wait_blocking` while the producer acts.
fn consume_wait_blocking(p: Producer) {
    for _ in 0..p.races() {
        let (completer, future) = waitable::<Val>();
        let (value, drops) = Val::new(ID);
        let run = p.start(completer, value);
        let got = future.wait_blocking();
        p.check_sent_alive(run.finish());
        p.check_received(got);
        assert_eq!(count(&drops), 1);
    }
}

fn wait_to_abandoned(result: Result<Val, WaitError>) -> Result<Val, Abandoned> {
    result.map_err(|e| {
        assert_eq!(e, WaitError::Abandoned, "the wait timed out");
        Abandoned
    })
}

/// `wait_timeout(ZERO)` before and while the producer acts: it registers, re-checks and
/// deregisters the thread.
fn consume_wait_timeout_zero(p: Producer) {
    for _ in 0..p.races() {
        let (completer, mut future) = waitable::<Val>();
        let (value, drops) = Val::new(ID);
        assert_eq!(
            future.wait_timeout(Duration::ZERO).unwrap_err(),
            WaitError::Timeout
        );
        let run = p.start(completer, value);
        let first = future.wait_timeout(Duration::ZERO);
        p.check_sent_alive(run.finish());
        let got = match first {
            Err(WaitError::Timeout) => {
                assert!(p.threaded());
                future.wait_timeout(Duration::ZERO)
            }
            other => other,
        };
        p.check_received(wait_to_abandoned(got));
        assert!(future.is_terminated());
        drop(future);
        assert_eq!(count(&drops), 1);
    }
}

/// `wait_timeout(LONG)` while the producer acts: returns with the result, never times out.
fn consume_wait_timeout_long(p: Producer) {
    for _ in 0..p.races() {
        let (completer, mut future) = waitable::<Val>();
        let (value, drops) = Val::new(ID);
        let run = p.start(completer, value);
        let got = future.wait_timeout(LONG);
        p.check_sent_alive(run.finish());
        p.check_received(wait_to_abandoned(got));
        assert_eq!(future.wait_timeout(LONG).unwrap_err(), WaitError::Abandoned);
        drop(future);
        assert_eq!(count(&drops), 1);
    }
}

/// `on_complete`: registered before a same-thread producer acts (the completing side runs
/// it), or racing a threaded one. The callback runs exactly once and is then released.
fn consume_on_complete(p: Producer) {
    for _ in 0..p.races() {
        let (completer, future) = waitable::<Val>();
        let (value, drops) = Val::new(ID);
        let (tx, rx) = mpsc::channel();
        let callback = move |result| tx.send(result).unwrap();
        let sent = if p.threaded() {
            let run = p.start(completer, value);
            future.on_complete(callback);
            run.finish()
        } else {
            future.on_complete(callback);
            assert!(rx.try_recv().is_err(), "nothing arrived yet");
            p.start(completer, value).finish()
        };
        p.check_sent_alive(sent);
        p.check_received(rx.try_recv().expect("the callback has run"));
        // Ran once, and was dropped (with its sender) afterwards.
        assert_eq!(rx.try_recv().unwrap_err(), mpsc::TryRecvError::Disconnected);
        assert_eq!(count(&drops), 1);
    }
}

/// `on_cancel`, then a drop of the future: after a same-thread producer (the hook must not
/// run), or racing a threaded one (the hook runs iff the value came back).
fn consume_on_cancel_then_drop(p: Producer) {
    for _ in 0..p.races() {
        let hooks = Arc::new(AtomicUsize::new(0));
        let (completer, future) = waitable::<Val>();
        let (value, drops) = Val::new(ID);
        let hook_count = hooks.clone();
        let future = future.on_cancel(move || {
            hook_count.fetch_add(1, Ordering::SeqCst);
        });
        let run = p.start(completer, value);
        drop(future);
        let canceled = p.check_sent_raced(run.finish(), &drops);
        if p.delivers() {
            assert_eq!(count(&hooks), usize::from(canceled));
        } else if !p.threaded() {
            assert_eq!(count(&hooks), 0, "no hook after abandonment");
        } else {
            assert!(count(&hooks) <= 1);
        }
        // The hook (and its clone of `hooks`) was released either way.
        assert_eq!(Arc::strong_count(&hooks), 1);
    }
}

/// The future is dropped (with an `on_cancel` hook); the producer observes it through
/// `canceled()` before acting, so complete hands the value back.
fn consume_canceled(p: Producer) {
    for _ in 0..p.races() {
        let hooks = Arc::new(AtomicUsize::new(0));
        let (mut completer, future) = waitable::<Val>();
        let (value, drops) = Val::new(ID);
        let hook_count = hooks.clone();
        let future = future.on_cancel(move || {
            hook_count.fetch_add(1, Ordering::SeqCst);
        });
        let sent = if p.threaded() {
            let run = p.start_after_cancel(completer, value);
            drop(future);
            run.finish()
        } else {
            let counting = CloneCountingWaker::new();
            let waker = counting.waker();
            let mut cx = Context::from_waker(&waker);
            assert!(completer.poll_canceled(&mut cx).is_pending());
            assert!(completer.poll_canceled(&mut cx).is_pending());
            assert_eq!(
                counting.clones(),
                1,
                "a re-poll with the same waker keeps it"
            );
            assert!(!completer.is_canceled());
            drop(future);
            assert_eq!(counting.wakes(), 1, "the drop wakes canceled()");
            assert_eq!(counting.live(), 1, "the woken clone was consumed");
            assert!(completer.poll_canceled(&mut cx).is_ready());
            drop(waker);
            assert_eq!(counting.live(), 0);
            p.start_after_cancel(completer, value).finish()
        };
        assert_eq!(count(&hooks), 1, "the hook runs exactly once");
        if p.delivers() {
            assert!(
                p.check_sent_raced(sent, &drops),
                "complete must hand the value back"
            );
        } else {
            assert!(!p.check_sent_raced(sent, &drops));
        }
    }
}

macro_rules! matrix {
    ($($producer:ident => $variant:ident;)*) => {$(
        mod $producer {
            use super::*;

            #[test]
            fn poll() {
                consume_poll(Producer::$variant);
            }

            #[test]
            fn drop_future() {
                consume_drop(Producer::$variant);
            }

            #[test]
            fn drop_after_poll() {
                consume_drop_after_poll(Producer::$variant);
            }

            #[test]
            fn try_take() {
                consume_try_take(Producer::$variant);
            }

            #[test]
            fn wait_blocking() {
                consume_wait_blocking(Producer::$variant);
            }

            #[test]
            fn wait_timeout_zero() {
                consume_wait_timeout_zero(Producer::$variant);
            }

            #[test]
            fn wait_timeout_long() {
                consume_wait_timeout_long(Producer::$variant);
            }

            #[test]
            fn on_complete() {
                consume_on_complete(Producer::$variant);
            }

            #[test]
            fn on_cancel_then_drop() {
                consume_on_cancel_then_drop(Producer::$variant);
            }

            #[test]
            fn canceled() {
                consume_canceled(Producer::$variant);
            }
        }
    )*};
}

matrix! {
    complete => Complete;
    abandon => Drop;
    complete_other_thread => CompleteThread;
    abandon_other_thread => DropThread;
    raw_complete => RawComplete;
}

// ---------------------------------------------------------------------------------------
// Layout, auto traits, fused polling, waker handling
// ---------------------------------------------------------------------------------------

#[test]
fn handles_are_one_pointer() {
    use std::mem::size_of;
    assert_eq!(size_of::<WaitableFuture<u64>>(), size_of::<usize>());
    assert_eq!(size_of::<Completer<u64>>(), size_of::<usize>());
    assert_eq!(size_of::<WaitableFuture<[u8; 1024]>>(), size_of::<usize>());
    assert_eq!(size_of::<Completer<[u8; 1024]>>(), size_of::<usize>());
    // The null niche: an `Option` of a handle costs nothing.
    assert_eq!(size_of::<Option<WaitableFuture<u64>>>(), size_of::<usize>());
    assert_eq!(size_of::<Option<Completer<u64>>>(), size_of::<usize>());
}

#[test]
fn auto_traits() {
    fn send_sync_unpin<T: Send + Sync + Unpin>() {}
    fn send<T: Send>() {}
    send_sync_unpin::<WaitableFuture<u64>>();
    send_sync_unpin::<Completer<u64>>();
    send_sync_unpin::<Canceled<'static, u64>>();
    // `T: Send` is all that is needed: a `Cell` is `Send` but not `Sync`.
    send_sync_unpin::<WaitableFuture<std::cell::Cell<u8>>>();
    send_sync_unpin::<Completer<std::cell::Cell<u8>>>();
    // A `!Unpin` value does not make the handles `!Unpin`.
    send_sync_unpin::<WaitableFuture<std::marker::PhantomPinned>>();
    send::<WaitableFuture<Box<dyn Send>>>();
}

#[test]
fn poll_after_ready_is_abandoned_and_fused() {
    let (completer, mut future) = waitable::<u64>();
    assert!(!future.is_terminated());
    assert!(poll_once(&mut future, noop_waker_ref()).is_pending());
    assert!(!future.is_terminated(), "Pending does not terminate");
    completer.complete(5).unwrap();
    assert!(future.is_complete());
    assert!(!future.is_terminated(), "complete but not yet taken");
    assert_eq!(poll_once(&mut future, noop_waker_ref()), Poll::Ready(Ok(5)));
    assert!(future.is_terminated());
    for _ in 0..3 {
        assert_eq!(
            poll_once(&mut future, noop_waker_ref()),
            Poll::Ready(Err(Abandoned))
        );
        assert!(future.is_terminated());
    }
    assert_eq!(future.try_take(), Err(TryTakeError::Abandoned));
    assert_eq!(
        future.wait_timeout(Duration::ZERO),
        Err(WaitError::Abandoned)
    );
    assert_eq!(future.wait_blocking(), Err(Abandoned));
}

#[test]
fn abandoned_is_terminated_only_after_ready() {
    let (completer, mut future) = waitable::<u64>();
    drop(completer);
    assert!(future.is_complete());
    assert!(!future.is_terminated());
    assert_eq!(
        poll_once(&mut future, noop_waker_ref()),
        Poll::Ready(Err(Abandoned))
    );
    assert!(future.is_terminated());
    assert_eq!(
        poll_once(&mut future, noop_waker_ref()),
        Poll::Ready(Err(Abandoned))
    );
}

#[test]
fn try_take_and_waits_terminate() {
    let (completer, mut future) = waitable::<u64>();
    completer.complete(1).unwrap();
    assert_eq!(future.wait_timeout(Duration::ZERO), Ok(1));
    assert!(future.is_terminated());

    let (completer, mut future) = waitable::<u64>();
    completer.complete(2).unwrap();
    assert_eq!(future.try_take(), Ok(2));
    assert!(future.is_terminated());
    assert_eq!(
        poll_once(&mut future, noop_waker_ref()),
        Poll::Ready(Err(Abandoned))
    );
}

#[test]
fn repoll_with_same_waker_does_not_clone() {
    let (completer, mut future) = waitable::<u64>();
    let counting = CloneCountingWaker::new();
    let waker = counting.waker();
    for _ in 0..4 {
        assert!(poll_once(&mut future, &waker).is_pending());
    }
    assert_eq!(counting.clones(), 1, "one clone, kept across re-polls");
    // A clone of the same waker `will_wake` the stored one: still no new clone.
    let same = waker.clone();
    assert_eq!(counting.clones(), 2);
    assert!(poll_once(&mut future, &same).is_pending());
    assert_eq!(counting.clones(), 2);
    assert_eq!(counting.live(), 3);
    completer.complete(3).unwrap();
    assert_eq!(counting.wakes(), 1);
    assert_eq!(
        counting.live(),
        2,
        "the stored clone was consumed by the wake-up"
    );
    assert_eq!(poll_once(&mut future, &waker), Poll::Ready(Ok(3)));
    assert_eq!(counting.clones(), 2, "Ready does not clone");
}

#[test]
fn repoll_with_new_waker_replaces_old() {
    let (completer, mut future) = waitable::<u64>();
    let old = CloneCountingWaker::new();
    let new = CloneCountingWaker::new();
    let (old_waker, new_waker) = (old.waker(), new.waker());
    assert!(poll_once(&mut future, &old_waker).is_pending());
    assert_eq!(old.live(), 2);
    assert!(poll_once(&mut future, &new_waker).is_pending());
    assert_eq!(old.live(), 1, "the replaced clone is released at once");
    assert_eq!(new.live(), 2);
    completer.complete(4).unwrap();
    assert_eq!(
        (old.wakes(), new.wakes()),
        (0, 1),
        "only the last waker is woken"
    );
    assert_eq!(poll_once(&mut future, &new_waker), Poll::Ready(Ok(4)));
    drop((old_waker, new_waker));
    assert_eq!((old.live(), new.live()), (0, 0));
}

#[test]
fn timed_out_wait_keeps_the_task_waker() {
    let (completer, mut future) = waitable::<u64>();
    let counting = CloneCountingWaker::new();
    assert!(poll_once(&mut future, &counting.waker()).is_pending());
    assert_eq!(counting.live(), 1);
    for _ in 0..2 {
        assert_eq!(future.wait_timeout(Duration::ZERO), Err(WaitError::Timeout));
        assert_eq!(
            counting.live(),
            1,
            "the task's waker is put back after a timeout"
        );
    }
    assert_eq!(counting.clones(), 1, "put back, not cloned again");
    completer.complete(6).unwrap();
    assert_eq!(counting.wakes(), 1, "the completion still wakes the task");
    assert_eq!(counting.live(), 0);
    assert_eq!(poll_once(&mut future, noop_waker_ref()), Poll::Ready(Ok(6)));
}

#[test]
fn wait_after_poll_takes_the_value_and_releases_the_waker() {
    for _ in 0..RACES {
        let (completer, mut future) = waitable::<u64>();
        let counting = CloneCountingWaker::new();
        assert!(poll_once(&mut future, &counting.waker()).is_pending());
        let producer = thread::spawn(move || completer.complete(7));
        assert_eq!(future.wait_timeout(LONG), Ok(7));
        assert_eq!(producer.join().unwrap(), Ok(()));
        drop(future);
        // Woken only if the completion came before the wait set the waker aside.
        assert!(counting.wakes() <= 1);
        assert_eq!(counting.live(), 0, "waker leaked");
    }
}

#[test]
fn repeated_timeouts_then_await() {
    let (completer, mut future) = waitable::<u64>();
    for _ in 0..3 {
        assert_eq!(future.wait_timeout(Duration::ZERO), Err(WaitError::Timeout));
    }
    let producer = thread::spawn(move || completer.complete(7));
    assert_eq!(futures::executor::block_on(&mut future), Ok(7));
    assert_eq!(producer.join().unwrap(), Ok(()));
}

#[test]
fn await_under_executors() {
    let (completer, future) = waitable::<u64>();
    let producer = thread::spawn(move || completer.complete(8));
    assert_eq!(futures::executor::block_on(future), Ok(8));
    producer.join().unwrap().unwrap();

    let (completer, future) = waitable::<u64>();
    let producer = thread::spawn(move || drop(completer));
    assert_eq!(futures::executor::block_on(future), Err(Abandoned));
    producer.join().unwrap();

    // `pin!` works too, though the future is `Unpin`.
    let (completer, future) = waitable::<u64>();
    completer.complete(9).unwrap();
    let mut future = pin!(future);
    assert_eq!(
        future
            .as_mut()
            .poll(&mut Context::from_waker(noop_waker_ref())),
        Poll::Ready(Ok(9))
    );
}

#[test]
fn on_complete_after_poll_releases_the_waker() {
    let (completer, mut future) = waitable::<u64>();
    let counting = CloneCountingWaker::new();
    assert!(poll_once(&mut future, &counting.waker()).is_pending());
    let (tx, rx) = mpsc::channel();
    future.on_complete(move |result| tx.send(result).unwrap());
    assert_eq!(counting.live(), 0, "the callback replaced the waker");
    assert!(
        !completer.is_canceled(),
        "on_complete keeps the result wanted"
    );
    assert_eq!(completer.complete(10), Ok(()));
    assert_eq!(rx.try_recv(), Ok(Ok(10)));
    assert_eq!(counting.wakes(), 0);
}

#[test]
fn on_complete_discards_cancel_hooks() {
    let hooks = Arc::new(AtomicUsize::new(0));
    let hook_count = hooks.clone();
    let (completer, future) = waitable::<u64>();
    let future = future.on_cancel(move || {
        hook_count.fetch_add(1, Ordering::SeqCst);
    });
    let (tx, rx) = mpsc::channel();
    future.on_complete(move |result| tx.send(result).unwrap());
    assert_eq!(Arc::strong_count(&hooks), 1, "the hook was dropped unrun");
    drop(completer);
    assert_eq!(rx.try_recv(), Ok(Err(Abandoned)));
    assert_eq!(count(&hooks), 0);
}

#[test]
fn cancel_hooks_run_in_order() {
    let (tx, rx) = mpsc::channel();
    let (tx1, tx2) = (tx.clone(), tx);
    let (completer, future) = waitable::<u64>();
    let future = future
        .on_cancel(move || tx1.send(1).unwrap())
        .on_cancel(move || tx2.send(2).unwrap());
    drop(future);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    assert!(completer.is_canceled());
    assert_eq!(completer.complete(0), Err(0));
}

#[test]
fn no_cancel_hook_after_completion_or_take() {
    let hooks = Arc::new(AtomicUsize::new(0));
    let (completer, future) = waitable::<u64>();
    let hook_count = hooks.clone();
    let mut future = future.on_cancel(move || {
        hook_count.fetch_add(1, Ordering::SeqCst);
    });
    completer.complete(11).unwrap();
    assert_eq!(future.try_take(), Ok(11));
    drop(future);
    assert_eq!(count(&hooks), 0);
    assert_eq!(Arc::strong_count(&hooks), 1);
}

#[test]
fn dropping_canceled_withdraws_its_waker() {
    let (mut completer, future) = waitable::<u64>();
    let counting = CloneCountingWaker::new();
    {
        let mut canceled = completer.canceled();
        assert!(poll_once(&mut canceled, &counting.waker()).is_pending());
        assert_eq!(counting.live(), 1);
    }
    assert_eq!(counting.live(), 0, "dropping canceled() releases the waker");
    drop(future);
    assert_eq!(counting.wakes(), 0);
    assert!(completer.is_canceled());
    futures::executor::block_on(completer.canceled());
}

#[test]
fn canceled_waker_released_on_complete() {
    let (mut completer, future) = waitable::<u64>();
    let counting = CloneCountingWaker::new();
    let mut cx = Context::from_waker(noop_waker_ref());
    assert!(completer.poll_canceled(&mut cx).is_pending());
    assert!(completer
        .poll_canceled(&mut Context::from_waker(&counting.waker()))
        .is_pending());
    assert_eq!(counting.live(), 1, "the new waker replaced the noop one");
    completer.complete(12).unwrap();
    assert_eq!(counting.live(), 0);
    assert_eq!(counting.wakes(), 0, "completion is not a cancellation");
    assert_eq!(future.wait_blocking(), Ok(12));
}

#[test]
fn canceled_waker_released_when_the_raw_completer_is_dropped() {
    let (mut completer, future) = waitable::<u64>();
    let counting = CloneCountingWaker::new();
    assert!(completer
        .poll_canceled(&mut Context::from_waker(&counting.waker()))
        .is_pending());
    let ptr = completer.into_raw();
    assert_eq!(counting.live(), 1);
    // SAFETY: `ptr` came from `Completer::<u64>::into_raw` and is used once.
    drop(unsafe { Completer::<u64>::from_raw(ptr) });
    assert_eq!(counting.live(), 0);
    assert_eq!(future.wait_blocking(), Err(Abandoned));
}

#[test]
fn from_callback_synchronous_and_deferred() {
    let future = WaitableFuture::from_callback(|completer| completer.complete(13).unwrap());
    assert!(future.is_complete());
    assert_eq!(future.wait_blocking(), Ok(13));

    let mut slot = None;
    let mut future = WaitableFuture::<u64>::from_callback(|completer| slot = Some(completer));
    assert!(!future.is_complete());
    slot.take().unwrap().complete(14).unwrap();
    assert_eq!(future.try_take(), Ok(14));
}

#[test]
fn value_not_taken_is_dropped_with_the_last_handle() {
    let (value, drops) = Val::new(ID);
    let (completer, future) = waitable::<Val>();
    completer.complete(value).unwrap();
    assert_eq!(count(&drops), 0);
    drop(future);
    assert_eq!(count(&drops), 1);
}

#[test]
fn complete_after_drop_hands_back() {
    let (value, drops) = Val::new(ID);
    let (completer, future) = waitable::<Val>();
    drop(future);
    assert!(completer.is_canceled());
    let back = completer.complete(value).unwrap_err();
    assert_eq!((back.id, count(&drops)), (ID, 0));
}

/// Every way the two handles can end, run on one thread, frees the block: the last side
/// out frees it, whichever it is and whatever it left in the slots. The block's
/// `LeakTrack` counts live blocks per thread in the unit tests, so a block that neither
/// side frees shows here and not only under Miri, valgrind or loom. (Kills the mutants
/// that lose `RX_GONE`: `State::rx_gone` always false, `RX_GONE` zero, and the
/// receiver's drop setting `RX_GONE` in the wrong step.)
#[test]
fn every_ending_frees_the_block() {
    use crate::sync::LeakTrack;
    let live = LeakTrack::live_on_this_thread;
    let start = live();
    let mut cx = Context::from_waker(noop_waker_ref());
    type Ending = fn(Completer<u32>, WaitableFuture<u32>);
    let endings: [(&str, Ending); 10] = [
        ("complete, then drop the future unread", |c, f| {
            c.complete(1).unwrap();
            drop(f);
        }),
        ("complete, take, drop", |c, mut f| {
            c.complete(1).unwrap();
            assert_eq!(f.try_take(), Ok(1));
            drop(f);
        }),
        ("drop the future, then complete", |c, f| {
            drop(f);
            assert_eq!(c.complete(1), Err(1));
        }),
        ("drop the future, then the completer", |c, f| {
            drop(f);
            drop(c);
        }),
        ("poll, drop the future, complete", |c, mut f| {
            assert!(poll_once(&mut f, noop_waker_ref()).is_pending());
            drop(f);
            assert_eq!(c.complete(1), Err(1));
        }),
        ("poll, drop the future, drop the completer", |c, mut f| {
            assert!(poll_once(&mut f, noop_waker_ref()).is_pending());
            drop(f);
            drop(c);
        }),
        ("poll, complete, drop the future unread", |c, mut f| {
            assert!(poll_once(&mut f, noop_waker_ref()).is_pending());
            c.complete(1).unwrap();
            drop(f);
        }),
        (
            "watch for cancellation, drop the future, complete",
            |mut c, f| {
                let mut cx = Context::from_waker(noop_waker_ref());
                assert!(c.poll_canceled(&mut cx).is_pending());
                drop(f);
                assert_eq!(c.complete(1), Err(1));
            },
        ),
        (
            "poll both sides, drop the future, drop the completer",
            |mut c, mut f| {
                let mut cx = Context::from_waker(noop_waker_ref());
                assert!(c.poll_canceled(&mut cx).is_pending());
                assert!(poll_once(&mut f, noop_waker_ref()).is_pending());
                drop(f);
                drop(c);
            },
        ),
        ("on_complete, then complete", |c, f| {
            f.on_complete(|r| assert_eq!(r, Ok(1)));
            c.complete(1).unwrap();
        }),
    ];
    for (ending, run) in endings {
        let (c, f) = waitable::<u32>();
        assert_eq!(live(), start + 1, "{ending}: one block per pair");
        run(c, f);
        assert_eq!(live(), start, "{ending}: the block was not freed");
    }
    // A completer that watched for cancellation and then completes first.
    let (mut c, f) = waitable::<u32>();
    assert!(c.poll_canceled(&mut cx).is_pending());
    c.complete(1).unwrap();
    drop(f);
    assert_eq!(live(), start, "poll_canceled, complete, drop: not freed");
}

#[test]
fn debug_output() {
    let (completer, future) = waitable::<u64>();
    assert_eq!(format!("{completer:?}"), "Completer { canceled: false }");
    assert_eq!(
        format!("{future:?}"),
        "WaitableFuture { complete: false, terminated: false }"
    );
    drop(completer);
    assert_eq!(
        format!("{future:?}"),
        "WaitableFuture { complete: true, terminated: false }"
    );
}

/// Many pairs at once, each completed on one of two threads while the main thread awaits
/// or drops them: a smoke test for the free-by-the-last-side protocol under real races.
#[test]
fn many_pairs_across_threads() {
    let pairs = if cfg!(miri) { 8 } else { 2000 };
    let (completers, futures): (Vec<_>, Vec<_>) = (0..pairs).map(|_| waitable::<Val>()).unzip();
    let counters: Vec<_> = (0..pairs).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let mut halves = [Vec::new(), Vec::new()];
    for (i, (completer, drops)) in completers.into_iter().zip(&counters).enumerate() {
        let value = Val::counted_by(i as u32, drops);
        halves[i % 2].push((completer, value));
    }
    let producers: Vec<_> = halves
        .into_iter()
        .map(|half| {
            thread::spawn(move || {
                half.into_iter()
                    .map(|(completer, value)| completer.complete(value).is_err())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut received = vec![false; pairs];
    for (i, future) in futures.into_iter().enumerate() {
        if i % 3 == 0 {
            drop(future);
        } else {
            let val = future.wait_blocking().unwrap();
            assert_eq!(val.id, i as u32);
            received[i] = true;
        }
    }
    let handed_back: Vec<Vec<bool>> = producers.into_iter().map(|p| p.join().unwrap()).collect();
    for (i, drops) in counters.iter().enumerate() {
        assert_eq!(count(drops), 1, "value {i} dropped exactly once");
        let back = handed_back[i % 2][i / 2];
        assert!(
            !(back && received[i]),
            "value {i} both received and handed back"
        );
        if i % 3 != 0 {
            assert!(!back);
        }
    }
}

/// A re-poll of a pending future with another waker takes the rx slot back and stores
/// the new waker: that step must leave every other bit of the shared state alone — here
/// the completer's `poll_canceled` registration, which the future's drop must still wake.
#[test]
fn repoll_with_another_waker_keeps_the_completers_cancel_waiter() {
    use super::support::counting_waker;
    let (mut completer, future) = waitable::<u32>();
    let mut future = Box::pin(future);
    let (first, first_waker) = counting_waker();
    let (second, second_waker) = counting_waker();
    let (canceled, canceled_waker) = counting_waker();
    assert!(future
        .as_mut()
        .poll(&mut Context::from_waker(&first_waker))
        .is_pending());
    assert!(completer
        .poll_canceled(&mut Context::from_waker(&canceled_waker))
        .is_pending());
    assert!(future
        .as_mut()
        .poll(&mut Context::from_waker(&second_waker))
        .is_pending());
    assert!(!completer.is_canceled());
    drop(future);
    assert_eq!(
        canceled.wakes(),
        1,
        "the completer's cancel waiter was lost"
    );
    assert!(completer
        .poll_canceled(&mut Context::from_waker(&canceled_waker))
        .is_ready());
    assert_eq!(first.wakes() + second.wakes(), 0);
}
