//! The SDK's side of a callback stream: [`StreamFeeder`].

use std::ffi::c_void;
use std::fmt;

use super::shared::{add_close_hook, set_credit_hook, stats, End, Shared, State};
use super::{Overflow, RejectReason, Rejected, StreamPolicy, StreamStats};
use crate::sync::{arc_from_std, Arc};

/// The SDK side of a callback stream: pushes items, ends the stream. Never blocks.
///
/// `Clone + Send + Sync`: several SDK threads may push; each clone's items keep their
/// order. Dropping every clone without [`finish`](Self::finish) or [`fail`](Self::fail)
/// ends the stream with [`StreamError::Abandoned`](super::StreamError::Abandoned).
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
    pub(super) fn new(shared: Arc<Shared<T, E>>) -> Self {
        StreamFeeder { shared }
    }

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
        state.pushed += 1;
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
        // What is held, as of the last look at the consumer's counters; looked at again
        // only when that view would refuse the item or count an overshoot (the consumer's
        // counts only grow, so the view overstates what is held, never understates it).
        let mut fresh = false;
        let (held, held_weight) = loop {
            let (held, held_weight) = shared.held(&mut state, fresh);
            let over = match shared.policy {
                StreamPolicy::Window { initial, .. } => {
                    held_weight >= initial || held_weight.saturating_add(weight) > initial
                }
                StreamPolicy::Bounded { capacity, .. } => held >= capacity,
                StreamPolicy::Unbounded => false,
            };
            if !over || fresh {
                break (held, held_weight);
            }
            fresh = true;
        };
        match shared.policy {
            StreamPolicy::Window { initial, .. } => {
                if held_weight >= initial {
                    return refuse(&mut state, item, RejectReason::WindowFull);
                }
                if held_weight.saturating_add(weight) > initial {
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
                        // No batching under DropOldest, and the consumer counts what it
                        // pops under the lock: the fresh count is exactly `queue.len()`
                        // here, so a full stream always has an oldest item to evict.
                        let oldest = state.queue.pop_front();
                        debug_assert!(oldest.is_some(), "held counts only queued items");
                        if oldest.is_some() {
                            state.entered = state.entered.wrapping_sub(1);
                            state.stats.dropped_oldest += 1;
                        }
                        evicted = oldest;
                    }
                }
            }
            _ => {}
        }
        state.queue.push_back(item);
        state.entered = state.entered.wrapping_add(1);
        if shared.weighs() {
            state.entered_weight = state.entered_weight.wrapping_add(weight);
        }
        if state.queue.len() > 1 {
            // The queue was not empty: the `ready` hint is already set and no consumer is
            // registered (one registers only on an empty queue, and the push that ends
            // that takes it).
            debug_assert!(state.consumer.is_none());
            drop(state);
        } else {
            shared.publish_and_wake(state);
        }
        drop(evicted); // outside the lock: an item's drop may run arbitrary code
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
        self.shared.publish_and_wake(state);
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
        set_credit_hook(&self.shared, arc_from_std(std::sync::Arc::new(f)));
    }

    /// Adds a hook to run once if the consumer drops the stream before it ended; see
    /// [`CallbackStream::on_close`](super::CallbackStream::on_close). Runs at once (on this thread) if that already happened.
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
        self.shared.publish_and_wake(state);
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
