//! The consumer's side of a callback stream: [`CallbackStream`] and its blocking receives.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::{FusedStream, Stream};

use super::batch::Batch;
use super::shared::{
    add_close_hook, set_credit_hook, spin_rounds, stats, CreditHook, End, Shared, State,
};
use super::{StreamError, StreamPolicy, StreamStats};
use crate::core::waiter::{block_until, would_deadlock, Deadline, NewWaiter, Waiter};
use crate::error::WouldDeadlock;
use crate::panics::{contain, HookKind};
use crate::sync::{arc_from_std, Arc, Ordering};

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
    /// What this consumer took out of the stream so far; published in `shared.taken`.
    taken: usize,
    taken_weight: usize,
    /// Whether the last take under the lock found few items and left none: the next
    /// blocking receive pauses before it looks (see `next_until`).
    keeping_pace: bool,
}

/// Why [`CallbackStream::take_next`] found nothing.
enum Miss {
    /// The stream is empty and the consumer is registered for the next push or end.
    Registered,
    /// The stream is empty and the consumer is not registered (yet).
    Unregistered,
    /// A push held the lock (only with `only_if_free`).
    Busy,
}

/// What one look at the shared state found.
enum Next<T, E> {
    /// One item popped (and counted as taken) under the lock, with its weight.
    Item(T, usize),
    Batch,
    End(Option<StreamError<E>>),
    Empty,
}

impl<T, E> CallbackStream<T, E> {
    pub(super) fn new(shared: Arc<Shared<T, E>>) -> Self {
        CallbackStream {
            shared,
            batch: Batch::new(),
            credit: None,
            credit_epoch: 0,
            taken: 0,
            taken_weight: 0,
            keeping_pace: false,
        }
    }

    /// Counts an item taken out of the stream and publishes the count (before the item's
    /// credit is given, so a push that the credit lets in finds the room). A plain store:
    /// only the consumer writes these counters.
    fn count_taken(&mut self, weight: usize) {
        count_taken(
            &self.shared,
            &mut self.taken,
            &mut self.taken_weight,
            weight,
        );
    }

    /// Takes the next item or the end. When there is none yet, says whether the consumer
    /// is registered to be notified by the next push or end (`made` was stored, or the
    /// stored waiter already reaches `new`).
    ///
    /// `only_if_free`: take the lock only if nobody holds it; a held lock gives
    /// [`Miss::Busy`].
    fn take_next(
        &mut self,
        new: Option<NewWaiter<'_>>,
        made: Option<Waiter>,
        only_if_free: bool,
    ) -> Result<Option<Result<T, StreamError<E>>>, Miss> {
        if let Some(item) = self.batch.pop_front() {
            return Ok(Some(Ok(self.hand_out(item))));
        }
        // The batch is empty. If a burst grew it, give the memory back now (outside the
        // lock) rather than hand it to the queue.
        self.batch.trim();
        let shared = &*self.shared;
        let mut state = if only_if_free {
            match shared.try_lock() {
                Some(state) => state,
                None => return Err(Miss::Busy),
            }
        } else {
            shared.lock()
        };
        let mut shrunk = None;
        let next = if shared.batching && !state.queue.is_empty() {
            // Swap the whole queue in (the empty batch's allocation becomes the queue's, so
            // steady state allocates nothing).
            self.batch.swap(&mut state.queue);
            self.keeping_pace = self.batch.len() < small_batch(&shared.policy);
            Next::Batch
        } else {
            match state.queue.pop_front() {
                Some(item) => {
                    // One item at a time (`DropOldest`): this take found one item and left
                    // none, or items are waiting already.
                    self.keeping_pace = state.queue.is_empty() && 1 < small_batch(&shared.policy);
                    // Counted under the lock: a push that finds the stream full then
                    // always finds the item it may evict (`DropOldest`) in the queue.
                    let weight = shared.policy.weight(&item);
                    count_taken(shared, &mut self.taken, &mut self.taken_weight, weight);
                    Next::Item(item, weight)
                }
                None => match std::mem::replace(&mut state.end, End::Delivered) {
                    End::Open => {
                        state.end = End::Open;
                        // Drained: a queue a burst grew goes back to the allocator (its
                        // buffer is freed outside the lock).
                        shrunk = Batch::trimmed(&mut state.queue);
                        Next::Empty
                    }
                    End::Finished | End::Delivered => Next::End(None),
                    End::Failed(error) => Next::End(Some(StreamError::Failed(error))),
                    End::Abandoned => Next::End(Some(StreamError::Abandoned)),
                },
            }
        };
        shared.publish_ready(&state);
        let stale_credit = refresh_credit(shared, &mut self.credit, &mut self.credit_epoch, &state);
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
        // Waiters, hooks and buffers are dropped, and credit hooks run, outside the lock.
        drop(replaced);
        drop(stale_credit);
        drop(shrunk);
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
            Next::Empty if registered => Err(Miss::Registered),
            Next::Empty => Err(Miss::Unregistered),
        }
    }

    /// Hands an item of the batch out of the stream: it stops counting as held, and its
    /// weight of window is re-opened through `on_credit`.
    #[inline]
    fn hand_out(&mut self, item: T) -> T {
        let weight = self.shared.policy.weight(&item);
        self.count_taken(weight);
        self.give_credit(weight);
        item
    }

    /// Re-opens `weight` of window through `on_credit`. A panicking hook is contained
    /// (and reported): the item it was called for is still handed out.
    #[inline]
    fn give_credit(&mut self, weight: usize) {
        // ORDERING: Acquire pairs with `on_credit`'s Release.
        if self.shared.credit_epoch.load(Ordering::Acquire) != self.credit_epoch {
            self.pick_up_credit_hook();
        }
        if let Some(credit) = &self.credit {
            call_credit_hook(credit, weight);
        }
    }

    /// The credit hook changed since the consumer's last look: takes the new one.
    #[cold]
    #[inline(never)]
    fn pick_up_credit_hook(&mut self) {
        let state = self.shared.lock();
        let stale = refresh_credit(
            &self.shared,
            &mut self.credit,
            &mut self.credit_epoch,
            &state,
        );
        drop(state);
        drop(stale);
    }

    /// Takes the next item or the end, or registers the task or thread and returns `None`.
    /// One lock when a stored waiter already fits; otherwise the waiter is made (a waker
    /// clone runs foreign code) outside the lock and stored with a second one.
    ///
    /// This waits for the lock even when a push holds it. A task that instead woke itself
    /// and returned `Pending` (so that the push never has to wake it from the lock's own
    /// wait) measured 2-3x slower in the stream bench: its executor polls it again at once
    /// and it takes the lock even more often.
    fn next_or_register(
        &mut self,
        new: NewWaiter<'_>,
    ) -> Option<Option<Result<T, StreamError<E>>>> {
        match self.take_next(Some(new), None, false) {
            Ok(next) => Some(next),
            Err(Miss::Registered) => None,
            Err(Miss::Unregistered | Miss::Busy) => {
                self.take_next(Some(new), Some(new.make()), false).ok()
            }
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
    #[inline]
    pub fn next_blocking(&mut self) -> Option<Result<T, StreamError<E>>> {
        // The common case, straight from the batch: kept out of the nested results below,
        // whose copies cost more than the rest of a take.
        if let Some(item) = self.batch.pop_front() {
            return Some(Ok(self.hand_out(item)));
        }
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

    // Out of line: `next_blocking`'s path straight from the batch stays small.
    #[inline(never)]
    fn next_until(&mut self, deadline: Deadline) -> Option<Option<Result<T, StreamError<E>>>> {
        if self.keeping_pace {
            // The last take found few items: this consumer is keeping pace with the
            // pushes. A short pause lets the next batch grow, so that the lock and the
            // queue's lines change hands once per batch rather than every few items
            // (blocking receives went typically 20-30 % faster with it in interleaved runs
            // against the code without it; BENCHMARKS.md). It delays only an item pushed
            // during the pause, by at most the pause.
            for _ in 0..REFILL_PAUSE {
                std::hint::spin_loop();
            }
        }
        if let Ok(found) = self.take_next(None, None, true) {
            return Some(found);
        }
        // Spin, then yield, briefly before parking (crossbeam's backoff): a producer in the
        // middle of a burst refills the stream far sooner than a park/unpark round trip.
        // Only a free lock is taken here: queueing behind a push would make that push wake
        // this thread from the lock's own wait, a system call on the SDK's thread.
        for round in 0..spin_rounds() {
            // ORDERING: a hint; `take_next` takes the lock.
            if self.shared.ready.load(Ordering::Relaxed) {
                if let Ok(found) = self.take_next(None, None, true) {
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
    /// websocket. The hooks run after the items the stream still held are dropped, so a
    /// hook may free memory those items borrowed. Several hooks run in the order they
    /// were added, from either side ([`StreamFeeder::on_close`](super::StreamFeeder::on_close)
    /// has the same shape). A panicking hook is contained and reported to the
    /// [panic handler](crate::panics); the hooks after it still run.
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
    /// [`StreamFeeder::on_credit`](super::StreamFeeder::on_credit), for bindings that handed their only feeder to C
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
        set_credit_hook(&self.shared, arc_from_std(std::sync::Arc::new(f)));
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
        // No batch fast path here, unlike `next_blocking`: in the stream bench a task that
        // took items faster came back for the lock more often and ran 2-3x slower.
        let this = self.get_mut();
        match this.next_or_register(NewWaiter::Task(cx.waker())) {
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
        // Nothing is held any more: count everything that entered as taken (under the
        // lock, so no push slips in between; later pushes are refused).
        self.shared.taken.publish(
            state.entered,
            self.shared.weighs().then_some(state.entered_weight),
        );
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

/// A take that finds fewer items than this (and leaves none) means the blocking consumer
/// keeps pace with the pushes (`CallbackStream::next_until`): 32, or a bounded stream's
/// capacity if smaller (a take that found the stream full has no reason to wait).
fn small_batch<T>(policy: &StreamPolicy<T>) -> usize {
    match *policy {
        StreamPolicy::Bounded { capacity, .. } => capacity.min(32),
        _ => 32,
    }
}

/// `spin_loop` hints a blocking consumer pauses for after a small take before it takes the
/// next: long enough for a producer in a burst to queue a few dozen items, far shorter than
/// a park.
const REFILL_PAUSE: u32 = 128;

/// Runs the credit hook with its panics contained; out of line, so the take it follows
/// stays small where no hook is set.
#[inline(never)]
fn call_credit_hook(credit: &CreditHook, weight: usize) {
    contain(HookKind::CreditHook, || credit(weight));
}

/// [`CallbackStream::count_taken`] on the consumer's counters (`taken`, `taken_weight`),
/// for callers that hold the lock through `shared`.
fn count_taken<T, E>(
    shared: &Shared<T, E>,
    taken: &mut usize,
    taken_weight: &mut usize,
    weight: usize,
) {
    *taken = taken.wrapping_add(1);
    *taken_weight = taken_weight.wrapping_add(weight);
    shared
        .taken
        .publish(*taken, shared.weighs().then_some(*taken_weight));
}

/// Under the lock: picks up a credit hook set since the consumer's last look (`epoch`).
/// Returns the one it replaced, to be dropped outside the lock.
fn refresh_credit<T, E>(
    shared: &Shared<T, E>,
    credit: &mut Option<CreditHook>,
    epoch: &mut usize,
    state: &State<T, E>,
) -> Option<CreditHook> {
    // ORDERING: Acquire pairs with `set_credit_hook`'s Release; the hook is read under the
    // lock.
    let now = shared.credit_epoch.load(Ordering::Acquire);
    if now == *epoch {
        return None;
    }
    *epoch = now;
    std::mem::replace(credit, state.on_credit.clone())
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
