//! Callback streams: repeated callbacks (HTTP body chunks, websocket frames) into a
//! [`Stream`], with flow control that never blocks the SDK's thread.
//!
//! ```
//! use anywait::{callback_stream, StreamPolicy};
//! use futures::StreamExt;
//!
//! // Credit-based flow control in bytes, like the AWS CRT's read window.
//! let (feeder, stream) = callback_stream::<Vec<u8>, String>(StreamPolicy::Window {
//!     initial: 64 * 1024,
//!     weigh: |chunk: &Vec<u8>| chunk.len(),
//! });
//! // The binding re-opens the SDK's window as the consumer takes chunks.
//! feeder.on_credit(|bytes| { /* aws_http_stream_update_window(stream, bytes) */ let _ = bytes; });
//!
//! // The SDK's body callback, on its own thread: push never blocks.
//! std::thread::spawn(move || {
//!     for i in 0..4u8 {
//!         feeder.push(vec![i; 1024]).expect("within the window");
//!     }
//!     feeder.finish();
//! });
//!
//! let chunks: Vec<_> = futures::executor::block_on(stream.collect());
//! assert_eq!(chunks.len(), 4);
//! assert!(chunks.iter().all(|chunk| chunk.as_ref().unwrap().len() == 1024));
//! ```
//!
//! # Semantics
//!
//! - [`StreamFeeder::push`] never blocks and never waits for the consumer; it costs no
//!   allocation beyond the buffer's own growth. A push the stream cannot take returns the
//!   item in [`Rejected`], with the reason.
//! - Exactly one terminal event: [`finish`](StreamFeeder::finish) or
//!   [`fail`](StreamFeeder::fail) from any feeder clone, or — when every feeder is dropped
//!   without either — [`StreamError::Abandoned`]. Every item accepted before the terminal
//!   event is delivered before it. After it, pushes are rejected with
//!   [`RejectReason::Ended`].
//! - Dropping the [`CallbackStream`] makes later pushes fail with
//!   [`RejectReason::Closed`] and runs the `on_close` hooks once, if the stream had not
//!   ended yet (so the binding can cancel the HTTP stream or close the websocket).
//! - Feeders are `Clone + Send + Sync`; the items of each feeder keep their order.
//! - Wakers and thread handles are woken and dropped outside the lock; `on_credit` and
//!   `on_close` hooks run outside it too.
//!
//! # Policies ([`StreamPolicy`])
//!
//! - `Window { initial, weigh }`: credit-based flow control. Each item weighs
//!   `weigh(&item)` (bytes, say); the window is `initial`. A push is accepted while the
//!   weight held by the stream is below the window, so an SDK that overshoots by one chunk
//!   is accepted (counted in [`StreamStats::overshoot`]); once the held weight reaches the
//!   window, pushes are rejected with [`RejectReason::WindowFull`]. The stream never holds
//!   more than `initial` plus one item's weight. As the consumer takes each item,
//!   `on_credit(weight)` re-opens that much window: exactly what
//!   `aws_http_stream_update_window` needs.
//! - `Bounded { capacity, overflow }`: at most `capacity` items held; when full,
//!   [`Overflow::DropOldest`] evicts the oldest held item, [`Overflow::DropNewest`] drops
//!   the pushed item (push still returns `Ok`), [`Overflow::Reject`] returns it in
//!   [`Rejected`]. Drops are counted in [`StreamStats`], readable by the consumer.
//! - `Unbounded`: never refuses an item — and so never bounds memory either. A slow
//!   consumer lets a fast SDK grow the buffer without limit. Prefer `Window` or `Bounded`.
//!
//! # States
//!
//! ```text
//!                 push (accepted items queue; the consumer takes them in order)
//!               ┌──────┐
//!               ▼      │   finish()      ┌──────────┐  buffer drained  ┌───────────────┐
//!   ┌────────────────┐ ├───────────────► │ Finished │ ───────────────► │ None (fused)  │
//!   │      Open      │ │   fail(e)       ├──────────┤                  └───────────────┘
//!   │                │ ├───────────────► │ Failed   │ ─► Some(Err(Failed(e))) ─► None
//!   └────────────────┘ │ all feeders     ├──────────┤
//!           │          └───dropped─────► │Abandoned │ ─► Some(Err(Abandoned)) ─► None
//!           │ stream dropped             └──────────┘
//!           ▼
//!   ┌────────────────┐  pushes: Rejected(Closed); on_close hooks ran once
//!   │     Closed     │
//!   └────────────────┘
//! ```

use std::collections::VecDeque;
use std::ffi::c_void;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::{FusedStream, Stream};

use crate::core::batch::Batch;
use crate::core::waiter::{block_until, would_deadlock, Deadline, NewWaiter, Waiter};
use crate::error::WouldDeadlock;
use crate::panics::{contain, HookKind};
use crate::sync::{AtomicBool, AtomicUsize, Mutex, MutexGuard, Ordering};

/// How a [`callback_stream`] buffers: see the [module docs](self#policies-streampolicy).
///
/// # Examples
///
/// ```
/// use anywait::{Overflow, StreamPolicy};
///
/// let window = StreamPolicy::Window { initial: 1 << 20, weigh: |chunk: &Vec<u8>| chunk.len() };
/// let bounded: StreamPolicy<Vec<u8>> = StreamPolicy::Bounded { capacity: 64, overflow: Overflow::DropOldest };
/// let unbounded: StreamPolicy<Vec<u8>> = StreamPolicy::Unbounded;
/// # let _ = (window, bounded, unbounded);
/// ```
pub enum StreamPolicy<T> {
    /// Credit-based flow control: at most `initial` weight held (plus one item's
    /// overshoot); the consumer re-opens the window as it takes items.
    Window {
        /// The window, in units of `weigh` (e.g. bytes).
        initial: usize,
        /// The weight of one item (e.g. its length in bytes).
        weigh: fn(&T) -> usize,
    },
    /// At most `capacity` items held; `overflow` says what a push into a full buffer does.
    Bounded {
        /// The most items held (at least 1).
        capacity: usize,
        /// What happens to a push when `capacity` items are held.
        overflow: Overflow,
    },
    /// No limit at all: memory grows with a slow consumer. Documented as the footgun it is.
    Unbounded,
}

/// What a push into a full [`StreamPolicy::Bounded`] buffer does.
///
/// # Examples
///
/// ```
/// use anywait::{callback_stream, Overflow, StreamPolicy};
///
/// let (feeder, mut stream) = callback_stream::<u32, ()>(StreamPolicy::Bounded {
///     capacity: 2,
///     overflow: Overflow::DropOldest,
/// });
/// for i in 0..5 {
///     feeder.push(i).unwrap();
/// }
/// feeder.finish();
/// let items: Vec<u32> = stream.blocking_iter().map(Result::unwrap).collect();
/// assert_eq!(items, vec![3, 4]);
/// assert_eq!(stream.stats().dropped_oldest, 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// Evict the oldest held item to make room (counted in `dropped_oldest`).
    DropOldest,
    /// Drop the pushed item; `push` still returns `Ok` (counted in `dropped_newest`).
    DropNewest,
    /// Hand the pushed item back in [`Rejected`] with [`RejectReason::Full`].
    Reject,
}

impl<T> StreamPolicy<T> {
    fn weight(&self, item: &T) -> usize {
        match self {
            StreamPolicy::Window { weigh, .. } => weigh(item),
            _ => 1,
        }
    }
}

impl<T> Clone for StreamPolicy<T> {
    fn clone(&self) -> Self {
        match *self {
            StreamPolicy::Window { initial, weigh } => StreamPolicy::Window { initial, weigh },
            StreamPolicy::Bounded { capacity, overflow } => {
                StreamPolicy::Bounded { capacity, overflow }
            }
            StreamPolicy::Unbounded => StreamPolicy::Unbounded,
        }
    }
}

impl<T> fmt::Debug for StreamPolicy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamPolicy::Window { initial, .. } => f
                .debug_struct("Window")
                .field("initial", initial)
                .finish_non_exhaustive(),
            StreamPolicy::Bounded { capacity, overflow } => f
                .debug_struct("Bounded")
                .field("capacity", capacity)
                .field("overflow", overflow)
                .finish(),
            StreamPolicy::Unbounded => f.write_str("Unbounded"),
        }
    }
}

/// Why a [`StreamFeeder::push`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The [`CallbackStream`] was dropped: nobody will read the item.
    Closed,
    /// The stream already ended (`finish` or `fail` was called).
    Ended,
    /// A [`Bounded`](StreamPolicy::Bounded) buffer with [`Overflow::Reject`] is full.
    Full,
    /// The [`Window`](StreamPolicy::Window) is used up: the SDK pushed past its credit.
    WindowFull,
}

/// A pushed item the stream did not take, handed back with the reason.
///
/// # Examples
///
/// ```
/// use anywait::{callback_stream, RejectReason, StreamPolicy};
///
/// let (feeder, stream) = callback_stream::<&str, ()>(StreamPolicy::Unbounded);
/// drop(stream);
/// let rejected = feeder.push("late").unwrap_err();
/// assert_eq!(rejected.reason(), RejectReason::Closed);
/// assert_eq!(rejected.into_inner(), "late");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Rejected<T> {
    item: T,
    reason: RejectReason,
}

impl<T> Rejected<T> {
    /// Why the item was refused.
    ///
    /// # Examples
    ///
    /// ```
    /// let (feeder, stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
    /// drop(stream);
    /// assert_eq!(feeder.push(1).unwrap_err().reason(), anywait::RejectReason::Closed);
    /// ```
    pub fn reason(&self) -> RejectReason {
        self.reason
    }

    /// The item, back.
    ///
    /// # Examples
    ///
    /// ```
    /// let (feeder, stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
    /// drop(stream);
    /// assert_eq!(feeder.push(1).unwrap_err().into_inner(), 1);
    /// ```
    pub fn into_inner(self) -> T {
        self.item
    }
}

impl<T> fmt::Debug for Rejected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for Rejected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.reason {
            RejectReason::Closed => "the item was rejected: the stream's consumer is gone",
            RejectReason::Ended => "the item was rejected: the stream already ended",
            RejectReason::Full => "the item was rejected: the stream's buffer is full",
            RejectReason::WindowFull => "the item was rejected: the stream's window is used up",
        })
    }
}

impl<T> std::error::Error for Rejected<T> {}

/// An error item of a [`CallbackStream`], or a timed-out blocking receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamError<E> {
    /// The feeder ended the stream with [`StreamFeeder::fail`].
    Failed(E),
    /// Every feeder was dropped without `finish` or `fail`.
    Abandoned,
    /// Only from [`CallbackStream::next_timeout`]: nothing arrived in time. Not an end:
    /// the stream goes on.
    Timeout,
}

impl<E: fmt::Display> fmt::Display for StreamError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Failed(error) => write!(f, "the stream failed: {error}"),
            StreamError::Abandoned => {
                f.write_str("the stream was abandoned: every feeder was dropped without ending it")
            }
            StreamError::Timeout => f.write_str("no item arrived before the timeout"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for StreamError<E> {}

/// Counters of a callback stream, readable from either side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStats {
    /// Items held now (pushed, not yet taken by the consumer).
    pub buffered: usize,
    /// Weight held now (`Window`: the sum of `weigh`; other policies: `buffered`).
    pub buffered_weight: usize,
    /// Items evicted by [`Overflow::DropOldest`].
    pub dropped_oldest: u64,
    /// Items dropped by [`Overflow::DropNewest`].
    pub dropped_newest: u64,
    /// Pushes handed back in [`Rejected`] (for any reason).
    pub rejected: u64,
    /// `Window` pushes accepted although they went past the open window (by how many).
    pub overshoot: u64,
    /// Every push so far, accepted or not. Exact under any race:
    /// `pushed == taken + buffered + dropped_oldest + dropped_newest + rejected`, where
    /// `taken` is the number of items the consumer has received.
    pub pushed: u64,
}

type Hook = Box<dyn FnOnce() + Send>;
type CreditHook = Arc<dyn Fn(usize) + Send + Sync>;

enum End<E> {
    Open,
    Finished,
    Failed(E),
    Abandoned,
    /// The terminal item was delivered (or there was none): the stream is fused.
    Delivered,
}

struct State<T, E> {
    /// Items pushed and not yet moved to the consumer's batch.
    queue: VecDeque<T>,
    end: End<E>,
    consumer_gone: bool,
    feeders: usize,
    consumer: Option<Waiter>,
    on_close: Option<Hook>,
    on_credit: Option<CreditHook>,
    stats: StreamStats,
}

struct Shared<T, E> {
    policy: StreamPolicy<T>,
    state: Mutex<State<T, E>>,
    /// A hint, written under the lock: the consumer would find an item or the end. Lets a
    /// blocking consumer spin briefly without taking the lock.
    ready: AtomicBool,
    /// Items held: in `queue` plus in the consumer's batch. Raised by pushes (under the
    /// lock), lowered by the consumer as it hands items out (without it).
    held: AtomicUsize,
    /// Their weight (`weigh` for `Window`, 1 an item otherwise); kept like `held`.
    held_weight: AtomicUsize,
    /// Bumped (under the lock) whenever `on_credit` changes, so the consumer refreshes
    /// the hook it caches.
    credit_epoch: AtomicUsize,
    /// Whether the consumer may move the whole queue into its batch with one lock.
    /// `DropOldest` may not: its pushes evict the oldest held item, which must still be in
    /// `queue`.
    batching: bool,
}

impl<T, E> Shared<T, E> {
    /// Counts an item taken out of the stream (delivered to the consumer or evicted).
    fn release(&self, weight: usize) {
        // ORDERING: counters only; the items themselves move under the lock.
        self.held.fetch_sub(1, Ordering::Relaxed);
        self.held_weight.fetch_sub(weight, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, State<T, E>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Refreshes the `ready` hint; called with the lock held after a change.
    fn publish_ready(&self, state: &State<T, E>) {
        let ready = !state.queue.is_empty() || !matches!(state.end, End::Open);
        // ORDERING: a hint only; the lock orders the real state.
        self.ready.store(ready, Ordering::Relaxed);
    }
}

/// Rounds of spinning (then yielding) a blocking consumer tries before it parks: an SDK
/// thread that pushes a burst usually refills the stream within microseconds. None under
/// loom, whose models must not multiply by it.
fn spin_rounds() -> u32 {
    if cfg!(anywait_loom) {
        0
    } else {
        10
    }
}

/// Creates a callback stream: the [`StreamFeeder`] goes to the SDK's callbacks, the
/// [`CallbackStream`] to the consumer.
///
/// # Examples
///
/// ```
/// use anywait::{callback_stream, Overflow, StreamPolicy};
///
/// let (feeder, mut stream) = callback_stream::<String, std::io::Error>(StreamPolicy::Bounded {
///     capacity: 16,
///     overflow: Overflow::Reject,
/// });
/// feeder.push("frame".to_string()).unwrap();
/// feeder.finish();
/// assert_eq!(stream.next_blocking().unwrap().unwrap(), "frame");
/// assert!(stream.next_blocking().is_none());
/// ```
pub fn callback_stream<T, E>(
    policy: StreamPolicy<T>,
) -> (StreamFeeder<T, E>, CallbackStream<T, E>) {
    let policy = match policy {
        StreamPolicy::Bounded { capacity, overflow } => StreamPolicy::Bounded {
            capacity: capacity.max(1),
            overflow,
        },
        other => other,
    };
    let batching = !matches!(
        policy,
        StreamPolicy::Bounded {
            overflow: Overflow::DropOldest,
            ..
        }
    );
    let shared = Arc::new(Shared {
        policy,
        batching,
        state: Mutex::new(State {
            queue: VecDeque::new(),
            end: End::Open,
            consumer_gone: false,
            feeders: 1,
            consumer: None,
            on_close: None,
            on_credit: None,
            stats: StreamStats::default(),
        }),
        ready: AtomicBool::new(false),
        held: AtomicUsize::new(0),
        held_weight: AtomicUsize::new(0),
        credit_epoch: AtomicUsize::new(0),
    });
    (
        StreamFeeder {
            shared: Arc::clone(&shared),
        },
        CallbackStream {
            shared,
            batch: Batch::new(),
            credit: None,
            credit_epoch: 0,
        },
    )
}

/// The SDK side of a callback stream: pushes items, ends the stream. Never blocks.
///
/// `Clone + Send + Sync`: several SDK threads may push; each clone's items keep their
/// order. Dropping every clone without [`finish`](Self::finish) or [`fail`](Self::fail)
/// ends the stream with [`StreamError::Abandoned`].
///
/// # Examples
///
/// ```
/// let (feeder, mut stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
/// let other = feeder.clone();
/// feeder.push(1).unwrap();
/// other.push(2).unwrap();
/// drop(feeder);
/// drop(other); // no finish(): abandoned
/// let items: Vec<_> = stream.blocking_iter().collect();
/// assert_eq!(items, vec![Ok(1), Ok(2), Err(anywait::StreamError::Abandoned)]);
/// ```
pub struct StreamFeeder<T, E> {
    shared: Arc<Shared<T, E>>,
}

impl<T, E> StreamFeeder<T, E> {
    /// Offers an item. Never blocks. Returns the item in [`Rejected`] when the consumer is
    /// gone, the stream ended, or the policy refuses it; see [`StreamPolicy`].
    ///
    /// # Examples
    ///
    /// ```
    /// use anywait::{callback_stream, Overflow, RejectReason, StreamPolicy};
    ///
    /// let (feeder, _stream) = callback_stream::<u8, ()>(StreamPolicy::Bounded {
    ///     capacity: 1,
    ///     overflow: Overflow::Reject,
    /// });
    /// feeder.push(1).unwrap();
    /// assert_eq!(feeder.push(2).unwrap_err().reason(), RejectReason::Full);
    /// ```
    pub fn push(&self, item: T) -> Result<(), Rejected<T>> {
        let shared = &*self.shared;
        let weight = shared.policy.weight(&item);
        let mut state = shared.lock();
        state.stats.pushed += 1;
        let refuse = |state: &mut State<T, E>, item, reason| {
            state.stats.rejected += 1;
            Err(Rejected { item, reason })
        };
        if state.consumer_gone {
            return refuse(&mut state, item, RejectReason::Closed);
        }
        if !matches!(state.end, End::Open) {
            return refuse(&mut state, item, RejectReason::Ended);
        }
        let mut evicted = None;
        // ORDERING: counters only (see `Shared::held`); a consumer lowering them at the same
        // time only makes this check a moment stale, as if it had run a moment earlier.
        let held = shared.held.load(Ordering::Relaxed);
        let held_weight = shared.held_weight.load(Ordering::Relaxed);
        match shared.policy {
            StreamPolicy::Window { initial, .. } => {
                if held_weight >= initial {
                    return refuse(&mut state, item, RejectReason::WindowFull);
                }
                if held_weight + weight > initial {
                    state.stats.overshoot += 1;
                }
            }
            StreamPolicy::Bounded { capacity, overflow } if held >= capacity => {
                match overflow {
                    Overflow::Reject => return refuse(&mut state, item, RejectReason::Full),
                    Overflow::DropNewest => {
                        state.stats.dropped_newest += 1;
                        drop(state);
                        // Dropped outside the lock: an item's drop may run arbitrary code.
                        drop(item);
                        return Ok(());
                    }
                    Overflow::DropOldest => {
                        // No batching under DropOldest, and the consumer releases what it
                        // pops under the lock: `held` is exactly `queue.len()` here, so a
                        // full stream always has an oldest item to evict.
                        let oldest = state.queue.pop_front();
                        debug_assert!(oldest.is_some(), "held counts only queued items");
                        if oldest.is_some() {
                            shared.release(1);
                            state.stats.dropped_oldest += 1;
                        }
                        evicted = oldest;
                    }
                }
            }
            _ => {}
        }
        state.queue.push_back(item);
        // ORDERING: counters only; raised under the lock, before the item can be taken.
        shared.held.fetch_add(1, Ordering::Relaxed);
        shared.held_weight.fetch_add(weight, Ordering::Relaxed);
        shared.publish_ready(&state);
        let consumer = state.consumer.take();
        drop(state);
        drop(evicted);
        if let Some(consumer) = consumer {
            consumer.notify();
        }
        Ok(())
    }

    /// Ends the stream: the consumer gets every item pushed so far, then the end (`None`).
    /// Returns `false` (and changes nothing) if the stream had already ended — through
    /// another clone — or its consumer is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// let (feeder, mut stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
    /// feeder.push(7).unwrap();
    /// assert!(feeder.finish());
    /// assert_eq!(stream.next_blocking(), Some(Ok(7)));
    /// assert_eq!(stream.next_blocking(), None);
    /// ```
    pub fn finish(self) -> bool {
        self.end(End::Finished)
    }

    /// Ends the stream with an error: the consumer gets every item pushed so far, then
    /// `Err(StreamError::Failed(error))`, then the end. Returns `false` (dropping `error`)
    /// if the stream had already ended or its consumer is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use anywait::StreamError;
    ///
    /// let (feeder, mut stream) = anywait::callback_stream::<u8, &str>(anywait::StreamPolicy::Unbounded);
    /// feeder.push(1).unwrap();
    /// assert!(feeder.fail("connection reset"));
    /// assert_eq!(stream.next_blocking(), Some(Ok(1)));
    /// assert_eq!(stream.next_blocking(), Some(Err(StreamError::Failed("connection reset"))));
    /// assert_eq!(stream.next_blocking(), None);
    /// ```
    pub fn fail(self, error: E) -> bool {
        self.end(End::Failed(error))
    }

    fn end(&self, end: End<E>) -> bool {
        let mut state = self.shared.lock();
        if state.consumer_gone || !matches!(state.end, End::Open) {
            return false;
        }
        state.end = end;
        self.shared.publish_ready(&state);
        let consumer = state.consumer.take();
        drop(state);
        if let Some(consumer) = consumer {
            consumer.notify();
        }
        true
    }

    /// Registers the credit callback: called on the consumer's thread, outside every lock,
    /// each time the consumer takes an item, with the weight it re-opens (`weigh(&item)`
    /// for `Window`, 1 otherwise). Replaces an earlier callback.
    ///
    /// The callback lives as long as the stream: do not move a `StreamFeeder` clone into
    /// it (that clone would never be dropped, so the stream could never end as
    /// abandoned). Give it the SDK's own handle instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use anywait::{callback_stream, StreamPolicy};
    ///
    /// let reopened = Arc::new(AtomicUsize::new(0));
    /// let (feeder, mut stream) = callback_stream::<Vec<u8>, ()>(StreamPolicy::Window {
    ///     initial: 100,
    ///     weigh: |chunk: &Vec<u8>| chunk.len(),
    /// });
    /// let counter = reopened.clone();
    /// feeder.on_credit(move |bytes| { counter.fetch_add(bytes, Ordering::SeqCst); });
    /// feeder.push(vec![0; 60]).unwrap();
    /// stream.next_blocking();
    /// assert_eq!(reopened.load(Ordering::SeqCst), 60);
    /// ```
    pub fn on_credit(&self, f: impl Fn(usize) + Send + Sync + 'static) {
        set_credit_hook(&self.shared, Arc::new(f));
    }

    /// Adds a hook to run once if the consumer drops the stream before it ended; see
    /// [`CallbackStream::on_close`]. Runs at once (on this thread) if that already happened.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let closed = Arc::new(AtomicBool::new(false));
    /// let (feeder, stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
    /// let flag = closed.clone();
    /// feeder.on_close(move || flag.store(true, Ordering::SeqCst));
    /// drop(stream);
    /// assert!(closed.load(Ordering::SeqCst));
    /// ```
    pub fn on_close(&self, hook: impl FnOnce() + Send + 'static) {
        add_close_hook(&self.shared, Box::new(hook));
    }

    /// Whether the consumer dropped the stream (pushes will be rejected).
    ///
    /// # Examples
    ///
    /// ```
    /// let (feeder, stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
    /// assert!(!feeder.is_closed());
    /// drop(stream);
    /// assert!(feeder.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.lock().consumer_gone
    }

    /// The stream's counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let (feeder, _stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
    /// feeder.push(1).unwrap();
    /// assert_eq!(feeder.stats().buffered, 1);
    /// ```
    pub fn stats(&self) -> StreamStats {
        stats(&self.shared)
    }
}

fn stats<T, E>(shared: &Shared<T, E>) -> StreamStats {
    let state = shared.lock();
    StreamStats {
        // ORDERING: counters; read under the lock so pushes are not half counted.
        buffered: shared.held.load(Ordering::Relaxed),
        buffered_weight: shared.held_weight.load(Ordering::Relaxed),
        ..state.stats
    }
}

/// Sets (replaces) the credit hook; the consumer picks it up at its next item.
fn set_credit_hook<T, E>(shared: &Shared<T, E>, hook: CreditHook) {
    let mut state = shared.lock();
    let old = state.on_credit.replace(hook);
    // ORDERING: Release, under the lock: a consumer that sees the new epoch re-reads the
    // hook under the lock.
    shared.credit_epoch.fetch_add(1, Ordering::Release);
    drop(state);
    drop(old); // outside the lock: a hook's captures may run arbitrary drops
}

fn add_close_hook<T, E>(shared: &Shared<T, E>, hook: Hook) {
    let mut state = shared.lock();
    if state.consumer_gone {
        let ended = !matches!(state.end, End::Open);
        drop(state);
        if !ended {
            contain(HookKind::CloseHook, hook);
        }
        return;
    }
    state.on_close = Some(match state.on_close.take() {
        None => hook,
        // Each hook is contained on its own: a panicking one does not stop later ones.
        Some(earlier) => Box::new(move || {
            contain(HookKind::CloseHook, earlier);
            hook();
        }),
    });
}

impl<T, E> StreamFeeder<T, E> {
    /// Turns this feeder into a pointer for a C callback's `user_data` (raw mode; the
    /// [`ffi::Feeders`](crate::ffi::Feeders) registry is the checked alternative). The
    /// pointer owns the feeder: push through it with [`push_raw`](Self::push_raw) from
    /// any number of callbacks, and release it exactly once with
    /// [`from_raw`](Self::from_raw) in the SDK's final callback.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::ffi::c_void;
    /// use anywait::StreamFeeder;
    ///
    /// let (feeder, mut stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
    /// let user_data: *mut c_void = feeder.into_raw();
    /// // SAFETY: `user_data` is live until the `from_raw` below.
    /// unsafe { StreamFeeder::<u8, ()>::push_raw(user_data, 1) }.unwrap();
    /// // SAFETY: released exactly once, never used again.
    /// unsafe { StreamFeeder::<u8, ()>::from_raw(user_data) }.finish();
    /// assert_eq!(stream.next_blocking(), Some(Ok(1)));
    /// assert_eq!(stream.next_blocking(), None);
    /// ```
    pub fn into_raw(self) -> *mut c_void {
        // The feeder's count and its reference move into the pointer: no drop runs.
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped or used again, so the `Arc` is moved out once.
        let shared = unsafe { std::ptr::read(&this.shared) };
        Arc::into_raw(shared).cast_mut().cast()
    }

    /// Takes the feeder back from [`into_raw`](Self::into_raw) (to finish, fail or drop
    /// it).
    ///
    /// # Safety
    ///
    /// - `ptr` came from `StreamFeeder::<T, E>::into_raw` (same `T`, `E`) and has not been
    ///   passed to `from_raw` yet; it is not used again afterwards.
    ///
    /// # Examples
    ///
    /// ```
    /// let (feeder, _stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
    /// let raw = feeder.into_raw();
    /// // SAFETY: from `into_raw`, released once.
    /// let feeder = unsafe { anywait::StreamFeeder::<u8, ()>::from_raw(raw) };
    /// assert!(feeder.finish());
    /// ```
    pub unsafe fn from_raw(ptr: *mut c_void) -> Self {
        StreamFeeder {
            // SAFETY: forwarded from this function's contract: the pointer owns the
            // reference `into_raw` leaked (and with it the feeder's count).
            shared: unsafe { Arc::from_raw(ptr.cast::<Shared<T, E>>()) },
        }
    }

    /// Pushes through a pointer from [`into_raw`](Self::into_raw) without consuming it; as
    /// [`push`](Self::push).
    ///
    /// # Safety
    ///
    /// - `ptr` came from `StreamFeeder::<T, E>::into_raw` and has not been released with
    ///   `from_raw` (nor is it released concurrently with this call).
    ///
    /// # Examples
    ///
    /// ```
    /// let (feeder, stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
    /// let raw = feeder.into_raw();
    /// // SAFETY: `raw` is live.
    /// unsafe { anywait::StreamFeeder::<u8, ()>::push_raw(raw, 3) }.unwrap();
    /// assert_eq!(stream.stats().buffered, 1);
    /// // SAFETY: released exactly once.
    /// drop(unsafe { anywait::StreamFeeder::<u8, ()>::from_raw(raw) });
    /// ```
    pub unsafe fn push_raw(ptr: *mut c_void, item: T) -> Result<(), Rejected<T>> {
        // SAFETY: the pointer holds a live reference and a feeder count (this function's
        // contract); the borrowed feeder is never dropped.
        let feeder = std::mem::ManuallyDrop::new(unsafe { Self::from_raw(ptr) });
        feeder.push(item)
    }
}

impl<T, E> Clone for StreamFeeder<T, E> {
    fn clone(&self) -> Self {
        self.shared.lock().feeders += 1;
        StreamFeeder {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T, E> Drop for StreamFeeder<T, E> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.feeders -= 1;
        if state.feeders > 0 || !matches!(state.end, End::Open) {
            return;
        }
        state.end = End::Abandoned;
        self.shared.publish_ready(&state);
        let consumer = state.consumer.take();
        drop(state);
        if let Some(consumer) = consumer {
            consumer.notify();
        }
    }
}

impl<T, E> fmt::Debug for StreamFeeder<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamFeeder")
            .field("policy", &self.shared.policy)
            .field("stats", &self.stats())
            .finish()
    }
}

/// The consumer side of a callback stream: a [`Stream`] of `Result<T, StreamError<E>>`,
/// also readable blockingly.
///
/// Dropping it closes the stream: later pushes are rejected and the `on_close` hooks run.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// let (feeder, stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
/// std::thread::spawn(move || {
///     feeder.push(1).unwrap();
///     feeder.finish();
/// });
/// let items: Vec<_> = pollster::block_on(stream.collect());
/// assert_eq!(items, vec![Ok(1)]);
/// ```
#[must_use = "dropping a CallbackStream closes it"]
pub struct CallbackStream<T, E> {
    shared: Arc<Shared<T, E>>,
    /// Items moved out of the shared queue with one lock, handed out one by one without
    /// it (still counted as held until handed out).
    batch: Batch<T>,
    /// The `on_credit` hook as of `credit_epoch`.
    credit: Option<CreditHook>,
    credit_epoch: usize,
}

/// What one look at the shared state found.
enum Next<T, E> {
    /// One item popped (and released) under the lock, with its weight.
    Item(T, usize),
    Batch,
    End(Option<StreamError<E>>),
    Empty,
}

impl<T, E> CallbackStream<T, E> {
    /// Takes the next item or the end. When there is none yet, returns `Err(true)` if the
    /// consumer is registered to be notified by the next push or end — `made` was stored,
    /// or the stored waiter already reaches `new` — else `Err(false)`.
    fn take_next(
        &mut self,
        new: Option<NewWaiter<'_>>,
        made: Option<Waiter>,
    ) -> Result<Option<Result<T, StreamError<E>>>, bool> {
        if let Some(item) = self.batch.pop_front() {
            return Ok(Some(Ok(self.hand_out(item))));
        }
        let shared = &*self.shared;
        let mut state = shared.lock();
        let next = if shared.batching && !state.queue.is_empty() {
            // The batch is empty: swap the whole queue in (the empty batch's allocation
            // becomes the queue's, so steady state allocates nothing).
            self.batch.swap(&mut state.queue);
            Next::Batch
        } else {
            match state.queue.pop_front() {
                Some(item) => {
                    // Released under the lock: a push that finds the stream full then
                    // always finds the item it may evict (`DropOldest`) in the queue.
                    let weight = shared.policy.weight(&item);
                    shared.release(weight);
                    Next::Item(item, weight)
                }
                None => match std::mem::replace(&mut state.end, End::Delivered) {
                    End::Open => {
                        state.end = End::Open;
                        Next::Empty
                    }
                    End::Finished | End::Delivered => Next::End(None),
                    End::Failed(error) => Next::End(Some(StreamError::Failed(error))),
                    End::Abandoned => Next::End(Some(StreamError::Abandoned)),
                },
            }
        };
        shared.publish_ready(&state);
        // ORDERING: Acquire pairs with `on_credit`'s Release; the hook is read under the lock.
        let epoch = shared.credit_epoch.load(Ordering::Acquire);
        let stale_credit = if epoch != self.credit_epoch {
            self.credit_epoch = epoch;
            std::mem::replace(&mut self.credit, state.on_credit.clone())
        } else {
            None
        };
        let (registered, replaced) = match (&next, made) {
            (Next::Empty, Some(waiter)) => (true, state.consumer.replace(waiter)),
            (Next::Empty, None) => {
                let kept =
                    new.is_some_and(|new| state.consumer.as_ref().is_some_and(|w| new.keeps(w)));
                (kept, None)
            }
            (_, unused) => (false, unused),
        };
        drop(state);
        // Waiters and hooks are dropped, and credit hooks run, outside the lock.
        drop(replaced);
        drop(stale_credit);
        match next {
            Next::Item(item, weight) => {
                self.give_credit(weight);
                Ok(Some(Ok(item)))
            }
            Next::Batch => {
                let item = self
                    .batch
                    .pop_front()
                    .expect("swapped in a non-empty queue");
                Ok(Some(Ok(self.hand_out(item))))
            }
            Next::End(error) => Ok(error.map(Err)),
            Next::Empty => Err(registered),
        }
    }

    /// Hands an item of the batch out of the stream: it stops counting as held, and its
    /// weight of window is re-opened through `on_credit`.
    fn hand_out(&mut self, item: T) -> T {
        let weight = self.shared.policy.weight(&item);
        self.shared.release(weight);
        self.give_credit(weight);
        item
    }

    /// Re-opens `weight` of window through `on_credit`. A panicking hook is contained
    /// (and reported): the item it was called for is still handed out.
    fn give_credit(&mut self, weight: usize) {
        // ORDERING: Acquire pairs with `on_credit`'s Release.
        if self.shared.credit_epoch.load(Ordering::Acquire) != self.credit_epoch {
            let state = self.shared.lock();
            self.credit_epoch = self.shared.credit_epoch.load(Ordering::Acquire);
            let stale = std::mem::replace(&mut self.credit, state.on_credit.clone());
            drop(state);
            drop(stale);
        }
        if let Some(credit) = &self.credit {
            contain(HookKind::CreditHook, || credit(weight));
        }
    }

    /// Takes the next item or the end, or registers the task or thread and returns `None`.
    /// One lock when a stored waiter already fits; otherwise the waiter is made (a waker
    /// clone runs foreign code) outside the lock and stored with a second one.
    fn next_or_register(
        &mut self,
        new: NewWaiter<'_>,
    ) -> Option<Option<Result<T, StreamError<E>>>> {
        match self.take_next(Some(new), None) {
            Ok(next) => Some(next),
            Err(true) => None,
            Err(false) => self.take_next(Some(new), Some(new.make())).ok(),
        }
    }

    /// Blocks the calling thread for the next item; `None` at the end of the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let (feeder, mut stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
    /// std::thread::spawn(move || { feeder.push(5).unwrap(); });
    /// assert_eq!(stream.next_blocking(), Some(Ok(5)));
    /// assert_eq!(stream.next_blocking(), Some(Err(anywait::StreamError::Abandoned)));
    /// ```
    ///
    /// Inside an SDK callback scope ([`ffi::callback_scope`](crate::ffi::callback_scope))
    /// a receive that would block unwinds with a [`WouldDeadlock`] payload instead of
    /// hanging the SDK's thread; [`next_blocking_checked`](Self::next_blocking_checked)
    /// returns it.
    pub fn next_blocking(&mut self) -> Option<Result<T, StreamError<E>>> {
        self.next_until(Deadline::Never)
            .unwrap_or_else(|| would_deadlock())
    }

    /// [`next_blocking`](Self::next_blocking) that returns [`WouldDeadlock`] instead of
    /// blocking inside an SDK callback scope.
    ///
    /// # Examples
    ///
    /// ```
    /// let (feeder, mut stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
    /// anywait::ffi::callback_scope(|| {
    ///     assert_eq!(stream.next_blocking_checked(), Err(anywait::WouldDeadlock));
    ///     feeder.push(1).unwrap();
    ///     assert_eq!(stream.next_blocking_checked(), Ok(Some(Ok(1)))); // no need to block
    /// });
    /// ```
    pub fn next_blocking_checked(
        &mut self,
    ) -> Result<Option<Result<T, StreamError<E>>>, WouldDeadlock> {
        self.next_until(Deadline::Never).ok_or(WouldDeadlock)
    }

    /// Blocks for at most `timeout` for the next item; `None` at the end of the stream,
    /// `Some(Err(StreamError::Timeout))` if nothing arrived in time (the stream goes on).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use anywait::StreamError;
    ///
    /// let (feeder, mut stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
    /// assert_eq!(stream.next_timeout(Duration::from_millis(1)), Some(Err(StreamError::Timeout)));
    /// feeder.push(1).unwrap();
    /// assert_eq!(stream.next_timeout(Duration::from_millis(1)), Some(Ok(1)));
    /// ```
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<T, StreamError<E>>> {
        self.next_until(Deadline::after(timeout))
            .unwrap_or(Some(Err(StreamError::Timeout)))
    }

    /// Blocks until `deadline` at the latest for the next item; as
    /// [`next_timeout`](Self::next_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    ///
    /// let (_feeder, mut stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
    /// assert_eq!(stream.next_deadline(Instant::now()), Some(Err(anywait::StreamError::Timeout)));
    /// ```
    pub fn next_deadline(&mut self, deadline: Instant) -> Option<Result<T, StreamError<E>>> {
        self.next_until(Deadline::At(deadline))
            .unwrap_or(Some(Err(StreamError::Timeout)))
    }

    fn next_until(&mut self, deadline: Deadline) -> Option<Option<Result<T, StreamError<E>>>> {
        if let Ok(found) = self.take_next(None, None) {
            return Some(found);
        }
        // Spin, then yield, briefly before parking (crossbeam's backoff): a producer in the
        // middle of a burst refills the stream far sooner than a park/unpark round trip.
        for round in 0..spin_rounds() {
            // ORDERING: a hint; `take_next` takes the lock.
            if self.shared.ready.load(Ordering::Relaxed) {
                if let Ok(found) = self.take_next(None, None) {
                    return Some(found);
                }
            }
            if round < 6 {
                for _ in 0..1u32 << round {
                    std::hint::spin_loop();
                }
            } else {
                crate::sync::thread::yield_now();
            }
        }
        // A task waker an earlier poll left is set aside while this thread waits.
        let set_aside = self.shared.lock().consumer.take();
        let found = block_until(deadline, || self.next_or_register(NewWaiter::Thread));
        if found.is_some() && set_aside.is_none() {
            return found;
        }
        // Withdraw the thread handle (if it timed out) and put the task's waker back — or
        // wake it at once if the stream is ready, so its wake-up is not lost. Also after an
        // item was taken: the task's last poll was `Pending`, so it must be woken when the
        // next item (or the end) arrives.
        let (stale, wake_now) = {
            let mut state = self.shared.lock();
            let ready = !self.batch.is_empty()
                || !state.queue.is_empty()
                || !matches!(state.end, End::Open);
            if ready {
                (state.consumer.take(), set_aside)
            } else {
                (std::mem::replace(&mut state.consumer, set_aside), None)
            }
        };
        drop(stale);
        if let Some(waiter) = wake_now {
            waiter.notify();
        }
        found
    }

    /// A blocking iterator over the rest of the stream (ends after the terminal item).
    ///
    /// # Examples
    ///
    /// ```
    /// let (feeder, mut stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
    /// for i in 0..3 { feeder.push(i).unwrap(); }
    /// feeder.finish();
    /// let items: Vec<u8> = stream.blocking_iter().map(Result::unwrap).collect();
    /// assert_eq!(items, vec![0, 1, 2]);
    /// ```
    pub fn blocking_iter(&mut self) -> BlockingIter<'_, T, E> {
        BlockingIter { stream: self }
    }

    /// Adds a hook to run once, on the dropping thread, if the stream is dropped before it
    /// ended (no `finish`, `fail` or abandonment yet): cancel the HTTP stream, close the
    /// websocket. Several hooks run in the order they were added, from either side
    /// ([`StreamFeeder::on_close`] has the same shape). A panicking hook is contained and
    /// reported to the [panic handler](crate::panics); the hooks after it still run.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let closed = Arc::new(AtomicBool::new(false));
    /// let flag = closed.clone();
    /// let (feeder, stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
    /// stream.on_close(move || flag.store(true, Ordering::SeqCst));
    /// drop(stream);
    /// assert!(closed.load(Ordering::SeqCst));
    /// assert!(feeder.push(1).is_err());
    /// ```
    pub fn on_close(&self, hook: impl FnOnce() + Send + 'static) {
        add_close_hook(&self.shared, Box::new(hook));
    }

    /// Registers the credit callback from the consumer's side: the same hook as
    /// [`StreamFeeder::on_credit`], for bindings that handed their only feeder to C
    /// before the SDK's stream object (whose window the hook opens) existed. Replaces an
    /// earlier callback; takes effect from the next item taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use anywait::{callback_stream, StreamPolicy};
    ///
    /// let (feeder, mut stream) = callback_stream::<Vec<u8>, ()>(StreamPolicy::Window {
    ///     initial: 100,
    ///     weigh: |chunk: &Vec<u8>| chunk.len(),
    /// });
    /// let user_data = feeder.into_raw(); // handed to the SDK first
    /// let reopened = Arc::new(AtomicUsize::new(0));
    /// let counter = reopened.clone();
    /// stream.on_credit(move |bytes| { counter.fetch_add(bytes, Ordering::SeqCst); });
    /// // SAFETY: `user_data` is live until released below.
    /// unsafe { anywait::StreamFeeder::<Vec<u8>, ()>::push_raw(user_data, vec![0; 40]) }.unwrap();
    /// stream.next_blocking();
    /// assert_eq!(reopened.load(Ordering::SeqCst), 40);
    /// // SAFETY: released exactly once.
    /// drop(unsafe { anywait::StreamFeeder::<Vec<u8>, ()>::from_raw(user_data) });
    /// ```
    pub fn on_credit(&self, f: impl Fn(usize) + Send + Sync + 'static) {
        set_credit_hook(&self.shared, Arc::new(f));
    }

    /// The stream's counters (drops, rejections, what is buffered).
    ///
    /// # Examples
    ///
    /// ```
    /// let (feeder, stream) = anywait::callback_stream::<u8, ()>(anywait::StreamPolicy::Unbounded);
    /// feeder.push(1).unwrap();
    /// assert_eq!(stream.stats().buffered, 1);
    /// ```
    pub fn stats(&self) -> StreamStats {
        stats(&self.shared)
    }
}

// The batch is plain data owned by the handle; nothing is pinned through it.
impl<T, E> Unpin for CallbackStream<T, E> {}

impl<T, E> Stream for CallbackStream<T, E> {
    type Item = Result<T, StreamError<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut().next_or_register(NewWaiter::Task(cx.waker())) {
            Some(next) => Poll::Ready(next),
            None => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.batch.len() + self.shared.lock().queue.len(), None)
    }
}

impl<T, E> FusedStream for CallbackStream<T, E> {
    fn is_terminated(&self) -> bool {
        let state = self.shared.lock();
        self.batch.is_empty() && state.queue.is_empty() && matches!(state.end, End::Delivered)
    }
}

impl<T, E> Drop for CallbackStream<T, E> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.consumer_gone = true;
        let hook = state.on_close.take();
        let ended = !matches!(state.end, End::Open);
        let buffered = std::mem::take(&mut state.queue);
        // ORDERING: counters only; nothing is held any more.
        self.shared.held.store(0, Ordering::Relaxed);
        self.shared.held_weight.store(0, Ordering::Relaxed);
        let consumer = state.consumer.take();
        drop(state);
        drop(consumer);
        drop(buffered);
        self.batch.clear();
        if let Some(hook) = hook {
            if !ended {
                contain(HookKind::CloseHook, hook);
            }
        }
    }
}

impl<T, E> fmt::Debug for CallbackStream<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackStream")
            .field("policy", &self.shared.policy)
            .field("stats", &self.stats())
            .finish()
    }
}

/// A blocking iterator over a [`CallbackStream`]; from
/// [`CallbackStream::blocking_iter`].
///
/// # Examples
///
/// ```
/// let (feeder, mut stream) = anywait::callback_stream::<u8, &str>(anywait::StreamPolicy::Unbounded);
/// feeder.push(1).unwrap();
/// feeder.fail("reset");
/// let items: Vec<_> = stream.blocking_iter().collect();
/// assert_eq!(items, vec![Ok(1), Err(anywait::StreamError::Failed("reset"))]);
/// ```
pub struct BlockingIter<'a, T, E> {
    stream: &'a mut CallbackStream<T, E>,
}

impl<T, E> Iterator for BlockingIter<'_, T, E> {
    type Item = Result<T, StreamError<E>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.stream.next_blocking()
    }
}

impl<T, E> fmt::Debug for BlockingIter<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingIter").finish_non_exhaustive()
    }
}
