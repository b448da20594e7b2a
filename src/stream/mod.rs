//! Callback streams: repeated callbacks (HTTP body chunks, websocket frames) into a
//! [`Stream`](futures_core::Stream), with flow control that never blocks the SDK's thread.
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
//!   ended yet (so the binding can cancel the HTTP stream or close the websocket), after
//!   the items it still held are dropped.
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
//! Whatever the policy, memory shrinks back: once the consumer has drained a burst, the
//! stream keeps at most 64 KiB of buffer (32 KiB each for its queue and the consumer's
//! batch) for the next one, and gives the rest back to the allocator.
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

// Implementation: `shared` holds the state both sides meet in: a queue under a spin lock with
// the pushes' counts (what entered), and on a cache line of its own what the consumer took
// (two counters only the consumer stores to). A push reads the consumer's line only when
// its cached view of it would refuse the item or count a window overshoot (and `stats()`
// always reads it); the consumer takes the whole queue with one lock (one item at a time
// under `DropOldest`, whose pushes evict from the queue). A push into a full stream takes
// the lock like any other: answering it without the lock (from a mirror of the pushes'
// count and the consumer's count) was measured slower, because producers retrying
// without it poll the consumer's counter line in a tight loop. A blocking consumer that
// keeps pace with the pushes (small batches) pauses briefly before its next take, so that
// batches grow. `feeder` is the SDK's side,
// `consumer` the `Stream` and its blocking receives, `batch` the consumer's private batch.

pub(crate) mod batch;
mod consumer;
mod feeder;
mod shared;

use std::fmt;

use crate::sync::Arc;

pub use self::consumer::{BlockingIter, CallbackStream};
pub use self::feeder::StreamFeeder;
use self::shared::Shared;

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
    let shared = Arc::new(Shared::new(policy));
    (
        StreamFeeder::new(Arc::clone(&shared)),
        CallbackStream::new(shared),
    )
}
