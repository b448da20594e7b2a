//! The one-shot block behind `WaitableFuture` / `Completer`: one allocation, one state
//! word, no lock.
//!
//! # States
//!
//! Each bit of `state` has one writer (except `TERMINATED`/`VALUE` as noted):
//!
//! | bit          | set by | meaning                                                          |
//! |--------------|--------|------------------------------------------------------------------|
//! | `TX_CLOSED`  | tx     | the completer finished: completed (with `VALUE`) or abandoned    |
//! | `VALUE`      | tx     | the value cell holds a value for rx (rx clears it when it takes) |
//! | `TX_GONE`    | tx     | the completer will never touch the block again                   |
//! | `RX_CLOSED`  | rx     | the receiver was dropped (a cancellation if before `TX_CLOSED`)  |
//! | `RX_GONE`    | rx     | the receiver will never touch the block again                    |
//! | `RX_WAITER`  | rx     | the rx slot holds a waiter or done-callback for tx to notify     |
//! | `TX_WAITER`  | tx     | the tx slot holds the `canceled()` waker for rx to notify        |
//! | `TERMINATED` | rx     | the receiver returned `Ready` (fused)                            |
//!
//! Ownership of the cells:
//! - value: tx's until `TX_CLOSED`; then rx's if `VALUE`, else empty.
//! - rx slot: guarded by `RX_WAITER` / `TX_CLOSED` (see [`super::slot`]).
//! - tx slot: guarded by `TX_WAITER` / `RX_CLOSED`.
//! - cancel hook: always rx's.
//!
//! Closing a side is a compare-exchange that sets its `*_CLOSED` bit and, when the side
//! has no slot left to empty, its `*_GONE` bit in the same step. If it won a slot (the other
//! side's waiter) or must empty its own, it does that, then sets `*_GONE` with a second
//! step and notifies last, outside the block. Whichever side's `*_GONE` step finds the
//! other `*_GONE` already set frees the block. Nobody ever waits for the other side: no
//! spinning in drop, and the block is alive for as long as either side may touch it, so
//! "poll, then drop while the other side completes" cannot reach freed memory.
//!
//! ```text
//!                      complete / drop tx                       take (poll, wait, try_take)
//!   PENDING ─────────────────────────────────► TX_CLOSED[+VALUE] ──────────────────────► TERMINATED
//!      │                                               │
//!      │ drop rx (cancellation: hook runs,             │ drop rx (no hook)
//!      │ complete() hands the value back)              ▼
//!      └────────────────► RX_CLOSED              both GONE: block freed by the last side
//! ```

use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr::NonNull;
use std::task::{Poll, Waker};

use super::slot::{self, SlotBits};
use super::waiter::{block_until, Deadline, NewWaiter, Waiter};
use crate::error::Abandoned;
use crate::panics::{contain, HookKind};
use crate::sync::{AtomicUsize, LeakTrack, Ordering, UnsafeCell};

const TX_CLOSED: usize = 1 << 0;
const VALUE: usize = 1 << 1;
const TX_GONE: usize = 1 << 2;
const RX_CLOSED: usize = 1 << 3;
const RX_GONE: usize = 1 << 4;
const RX_WAITER: usize = 1 << 5;
const TX_WAITER: usize = 1 << 6;
const TERMINATED: usize = 1 << 7;

/// A snapshot of the state word, with a named predicate for each bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct State(usize);

impl State {
    /// The completer finished (completed or abandoned).
    fn tx_closed(self) -> bool {
        self.0 & TX_CLOSED != 0
    }

    /// The value cell holds a value for the receiver.
    fn has_value(self) -> bool {
        self.0 & VALUE != 0
    }

    /// The completer will never touch the block again.
    fn tx_gone(self) -> bool {
        self.0 & TX_GONE != 0
    }

    /// The receiver was dropped.
    fn rx_closed(self) -> bool {
        self.0 & RX_CLOSED != 0
    }

    /// The receiver will never touch the block again.
    fn rx_gone(self) -> bool {
        self.0 & RX_GONE != 0
    }

    /// The rx slot holds a waiter or done-callback.
    fn rx_waiter(self) -> bool {
        self.0 & RX_WAITER != 0
    }

    /// The tx slot holds the `canceled()` waker.
    fn tx_waiter(self) -> bool {
        self.0 & TX_WAITER != 0
    }

    /// The receiver returned `Ready`.
    fn terminated(self) -> bool {
        self.0 & TERMINATED != 0
    }
}

/// The rx slot guards the receiver's waiter; tx's close claims it.
const RX_SLOT: SlotBits = SlotBits {
    waiter: RX_WAITER,
    closed: TX_CLOSED,
};
/// The tx slot guards the completer's `canceled()` waker; rx's close claims it.
const TX_SLOT: SlotBits = SlotBits {
    waiter: TX_WAITER,
    closed: RX_CLOSED,
};

/// A done-callback registered by `on_complete`.
pub(crate) type DoneCallback<T> = Box<dyn FnOnce(Result<T, Abandoned>) + Send>;
/// A cancel hook registered by `on_cancel`.
pub(crate) type CancelHook = Box<dyn FnOnce() + Send>;

/// What the receiver left in its slot.
enum RxWaiter<T> {
    /// A task or a blocked thread to notify.
    Wake(Waiter),
    /// A done-callback: the receiver handle is gone (`RX_GONE` was set with the slot).
    Callback(DoneCallback<T>),
}

struct Block<T> {
    state: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
    rx_slot: UnsafeCell<Option<RxWaiter<T>>>,
    tx_slot: UnsafeCell<Option<Waker>>,
    cancel_hook: UnsafeCell<Option<CancelHook>>,
    /// Lets loom report a block that neither side freed (zero-sized outside loom).
    _leak_track: LeakTrack,
}

impl<T> Drop for Block<T> {
    fn drop(&mut self) {
        // ORDERING: the freeing side synchronised with the other side's last step.
        if State(self.state.load(Ordering::Acquire)).has_value() {
            // SAFETY: VALUE is set, so the cell holds an initialised value nobody took; we
            // have `&mut self`, so nobody else can reach it.
            self.value.with_mut(|v| unsafe { (*v).assume_init_drop() });
        }
    }
}

/// Creates a connected pair with one allocation.
pub(crate) fn pair<T>() -> (Tx<T>, Rx<T>) {
    let block = Box::new(Block {
        state: AtomicUsize::new(0),
        value: UnsafeCell::new(MaybeUninit::uninit()),
        rx_slot: UnsafeCell::new(None),
        tx_slot: UnsafeCell::new(None),
        cancel_hook: UnsafeCell::new(None),
        _leak_track: LeakTrack::new(),
    });
    let ptr = NonNull::from(Box::leak(block));
    (
        Tx {
            block: ptr,
            _owns: PhantomData,
        },
        Rx {
            block: ptr,
            _owns: PhantomData,
        },
    )
}

/// Frees the block.
///
/// # Safety
/// - Both sides have published `*_GONE` (or the caller observed the other side's and never
///   published its own): nobody will touch the block again.
unsafe fn free<T>(block: NonNull<Block<T>>) {
    // SAFETY: allocated by `Box` in `pair`; the last reference (this function's contract).
    drop(unsafe { Box::from_raw(block.as_ptr()) });
}

/// The completing side.
pub(crate) struct Tx<T> {
    block: NonNull<Block<T>>,
    _owns: PhantomData<T>,
}

// SAFETY: the block is shared only through the state protocol above; a `T` crosses threads
// (from tx to rx), so `T: Send` is required and sufficient.
unsafe impl<T: Send> Send for Tx<T> {}
// SAFETY: `&Tx` only reads the atomic state word.
unsafe impl<T: Send> Sync for Tx<T> {}
// The handle is a pointer; nothing is pinned through it.
impl<T> Unpin for Tx<T> {}

impl<T> Tx<T> {
    fn block(&self) -> &Block<T> {
        // SAFETY: while a `Tx` exists it has not published TX_GONE, so the block is alive.
        unsafe { self.block.as_ref() }
    }

    /// Whether the receiver was dropped before completion.
    pub(crate) fn is_canceled(&self) -> bool {
        // ORDERING: Acquire so that a caller who sees the cancellation sees what the
        // receiving side did before dropping.
        State(self.block().state.load(Ordering::Acquire)).rx_closed()
    }

    /// Completes with `value`, or hands it back if the receiver is gone.
    pub(crate) fn complete(self, value: T) -> Result<(), T> {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used again and never dropped.
        unsafe { this.close(Some(value)) }
    }

    /// Polls for the receiver's cancellation, registering `waker` if it has not happened.
    pub(crate) fn poll_canceled(&mut self, waker: &Waker) -> Poll<()> {
        let block = self.block();
        // SAFETY: tx is the waiting side of the tx slot.
        let registered = unsafe {
            slot::register(
                &block.state,
                &block.tx_slot,
                TX_SLOT,
                |w| w.will_wake(waker),
                || waker.clone(),
            )
        };
        match registered {
            Ok(()) => Poll::Pending,
            Err(_) => Poll::Ready(()),
        }
    }

    /// Withdraws a waker left by `poll_canceled`, so no task is kept alive by it.
    pub(crate) fn forget_canceled_waker(&mut self) {
        let block = self.block();
        if TX_SLOT.reclaim(&block.state).is_ok() {
            // SAFETY: `reclaim` returned Ok: the tx slot is ours.
            drop(unsafe { slot::take(&block.tx_slot) });
        }
    }

    /// Turns the handle into a pointer for a C callback's `user_data`.
    pub(crate) fn into_raw(self) -> *mut () {
        ManuallyDrop::new(self).block.as_ptr().cast()
    }

    /// Rebuilds a handle from [`Tx::into_raw`].
    ///
    /// # Safety
    /// - `ptr` came from `Tx::<T>::into_raw` (same `T`) and is not used again afterwards.
    pub(crate) unsafe fn from_raw(ptr: *mut ()) -> Self {
        Tx {
            // SAFETY: `into_raw` returned a non-null block pointer (this function's contract).
            block: unsafe { NonNull::new_unchecked(ptr.cast()) },
            _owns: PhantomData,
        }
    }

    /// Finishes the tx side: delivers `value` (or an abandonment for `None`), notifies
    /// the receiver, and frees the block if rx is already gone.
    ///
    /// # Safety
    /// - Called once, as the last use of this `Tx`.
    unsafe fn close(&self, value: Option<T>) -> Result<(), T> {
        let ptr = self.block;
        let block = self.block();
        let has_value = value.is_some();
        if let Some(v) = value {
            // SAFETY: TX_CLOSED is not set yet, so tx owns the value cell.
            block.value.with_mut(|cell| unsafe { (*cell).write(v) });
        }
        // ORDERING: Acquire so that RX_CLOSED / RX_WAITER come with the slots' contents.
        let mut s = State(block.state.load(Ordering::Acquire));
        let (reclaim_own, claim_rx) = loop {
            if s.rx_closed() {
                // The receiver is gone first: the value never became rx's; take it back.
                let back = has_value.then(|| {
                    // SAFETY: TX_CLOSED was never set, so the cell is still ours and holds
                    // the value we wrote above iff `has_value`.
                    let read = |cell: *mut MaybeUninit<T>| unsafe { (*cell).assume_init_read() };
                    block.value.with_mut(read)
                });
                // The tx slot, if TX_WAITER is set, was claimed by rx's close; not ours.
                let last = s.rx_gone()
                    // ORDERING: AcqRel: release our last accesses to whoever frees, or
                    // acquire rx's if we free. Both bits are ours and clear, so an add
                    // sets them (one `lock xadd`, where an or would be a CAS loop).
                    || State(block.state.fetch_add(TX_CLOSED | TX_GONE, Ordering::AcqRel)).rx_gone();
                if last {
                    // SAFETY: RX_GONE was set and we never touch the block again.
                    unsafe { free(ptr) };
                }
                return back.map_or(Ok(()), Err);
            }
            let reclaim_own = s.tx_waiter();
            let claim_rx = s.rx_waiter();
            let mut new = (s.0 & !TX_WAITER) | TX_CLOSED;
            if has_value {
                new |= VALUE;
            }
            if !(reclaim_own || claim_rx) {
                new |= TX_GONE;
            }
            // ORDERING: Release publishes the value to rx; Acquire takes the slots.
            match block
                .state
                .compare_exchange_weak(s.0, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break (reclaim_own, claim_rx),
                Err(actual) => s = State(actual),
            }
        };
        if !(reclaim_own || claim_rx) {
            // TX_GONE is published: the block may already be freed by rx.
            return Ok(());
        }
        // SAFETY: we cleared TX_WAITER while RX_CLOSED was clear: our own slot is ours.
        let own = reclaim_own.then(|| unsafe { slot::take(&block.tx_slot) });
        // SAFETY: we set TX_CLOSED while RX_WAITER was set: the rx slot is ours.
        let waiter = claim_rx
            .then(|| unsafe { slot::take(&block.rx_slot) })
            .flatten();
        if let Some(RxWaiter::Callback(callback)) = waiter {
            // A done-callback is only stored together with RX_GONE: we are the last side.
            let result = if has_value {
                // ORDERING: nobody else touches the block; clear VALUE so `free` does not
                // drop what we move out.
                block.state.fetch_and(!VALUE, Ordering::Relaxed);
                // SAFETY: we wrote the value above; rx is gone and never reads it.
                Ok(block
                    .value
                    .with_mut(|cell| unsafe { (*cell).assume_init_read() }))
            } else {
                Err(Abandoned)
            };
            // SAFETY: RX_GONE is set (a callback is stored only with it) and this is our
            // last access.
            unsafe { free(ptr) };
            drop(own);
            run_done_callback(callback, result);
            return Ok(());
        }
        // ORDERING: AcqRel: release our slot accesses / acquire rx's before freeing.
        // TX_GONE is ours and clear: the add sets it.
        if State(block.state.fetch_add(TX_GONE, Ordering::AcqRel)).rx_gone() {
            // SAFETY: both sides are gone now.
            unsafe { free(ptr) };
        }
        // Notify outside the block, after our last access to it.
        drop(own);
        if let Some(RxWaiter::Wake(w)) = waiter {
            w.notify();
        }
        Ok(())
    }
}

impl<T> Drop for Tx<T> {
    fn drop(&mut self) {
        // SAFETY: drop is the last use of this Tx.
        let _ = unsafe { self.close(None) };
    }
}

/// The receiving side.
pub(crate) struct Rx<T> {
    block: NonNull<Block<T>>,
    _owns: PhantomData<T>,
}

// SAFETY: as for `Tx`: the value moves from tx to rx, so `T: Send`.
unsafe impl<T: Send> Send for Rx<T> {}
// SAFETY: `&Rx` only reads the atomic state word.
unsafe impl<T: Send> Sync for Rx<T> {}
// The handle is a pointer; nothing is pinned through it.
impl<T> Unpin for Rx<T> {}

impl<T> Rx<T> {
    fn block(&self) -> &Block<T> {
        // SAFETY: while an `Rx` exists it has not published RX_GONE, so the block is alive.
        unsafe { self.block.as_ref() }
    }

    /// Whether a value or an abandonment has arrived (taken or not).
    pub(crate) fn is_complete(&self) -> bool {
        // ORDERING: Acquire: a caller who sees completion may take the value next.
        State(self.block().state.load(Ordering::Acquire)).tx_closed()
    }

    /// Whether `Ready` was returned.
    pub(crate) fn is_terminated(&self) -> bool {
        // ORDERING: only rx writes TERMINATED; Relaxed reads its own writes.
        State(self.block().state.load(Ordering::Relaxed)).terminated()
    }

    /// Takes the result after TX_CLOSED was observed in `s`. After the first call the
    /// receiver is terminated and later calls return `Err(Abandoned)`.
    fn take(&mut self, s: State) -> Result<T, Abandoned> {
        let block = self.block();
        debug_assert!(s.tx_closed());
        if s.has_value() {
            let value = block.value.with_mut(|cell| {
                // SAFETY: TX_CLOSED and VALUE are set and only rx clears VALUE: the cell
                // is ours and initialised; `&mut self` rules out a concurrent take.
                unsafe { (*cell).assume_init_read() }
            });
            // TERMINATED is clear whenever VALUE is set: flip both.
            self.mark_taken(s, VALUE | TERMINATED);
            Ok(value)
        } else {
            if !s.terminated() {
                self.mark_taken(s, TERMINATED);
            }
            Err(Abandoned)
        }
    }

    /// Flips `bits` (rx's own, with known values in `s`) in the state word.
    fn mark_taken(&self, s: State, bits: usize) {
        let state = &self.block().state;
        if s.tx_gone() {
            // ORDERING: tx is gone and rx (`&mut self`) is the only writer left, so `s` is
            // still the state and a plain store suffices; the freeing side (rx) reads it.
            state.store(s.0 ^ bits, Ordering::Relaxed);
        } else {
            // ORDERING: tx may still be publishing TX_GONE, hence an RMW; AcqRel so tx's
            // `free` sees the value cell emptied.
            state.fetch_xor(bits, Ordering::AcqRel);
        }
    }

    /// Polls as a future: returns the result if the completer has finished, else
    /// registers the task (keeping the stored waker if it wakes the same task).
    pub(crate) fn poll(&mut self, waker: &Waker) -> Poll<Result<T, Abandoned>> {
        let block = self.block();
        // ORDERING: Acquire pairs with tx's Release of TX_CLOSED (and the value).
        let s = State(block.state.load(Ordering::Acquire));
        if s.tx_closed() {
            return Poll::Ready(self.take(s));
        }
        let new = NewWaiter::Task(waker);
        // SAFETY: rx is the waiting side of the rx slot.
        let registered = unsafe {
            slot::register(
                &block.state,
                &block.rx_slot,
                RX_SLOT,
                |w| matches!(w, RxWaiter::Wake(w) if new.keeps(w)),
                || RxWaiter::Wake(new.make()),
            )
        };
        match registered {
            Ok(()) => Poll::Pending,
            Err(s) => Poll::Ready(self.take(State(s))),
        }
    }

    /// Takes the result if the completer has finished, without registering anything.
    pub(crate) fn try_take(&mut self) -> Option<Result<T, Abandoned>> {
        // ORDERING: as in `poll`.
        let s = State(self.block().state.load(Ordering::Acquire));
        (s.tx_closed()).then(|| self.take(s))
    }

    /// Blocks the calling thread until the result arrives or `deadline` passes.
    ///
    /// A task waker an earlier `poll` left is set aside while the thread waits and put
    /// back on timeout, so that task is still woken by the completion.
    pub(crate) fn wait(&mut self, deadline: Deadline) -> Option<Result<T, Abandoned>> {
        if let Some(result) = self.try_take() {
            return Some(result);
        }
        let me = Some(RxWaiter::Wake(Waiter::current_thread()));
        let set_aside = match self.swap_waiter(me) {
            Ok(previous) => previous,
            Err(result) => return Some(result),
        };
        if let Some(result) = block_until(deadline, || self.try_take()) {
            return Some(result);
        }
        // Timed out: withdraw the thread handle and put back what was there.
        match self.swap_waiter(set_aside) {
            Ok(ours) => {
                drop(ours);
                None
            }
            Err(result) => Some(result),
        }
    }

    /// Replaces the waiter in the rx slot with `waiter` (or empties it for `None`) and
    /// returns what was there. `Err` with the result if the completer finished first; any
    /// waiter given is then dropped.
    fn swap_waiter(
        &mut self,
        waiter: Option<RxWaiter<T>>,
    ) -> Result<Option<RxWaiter<T>>, Result<T, Abandoned>> {
        let block = self.block();
        if let Err(s) = RX_SLOT.reclaim(&block.state) {
            return Err(self.take(State(s)));
        }
        let publish = waiter.is_some();
        // SAFETY: `reclaim` returned Ok: the rx slot is ours until we publish it.
        let previous = block
            .rx_slot
            .with_mut(|cell| unsafe { std::mem::replace(&mut *cell, waiter) });
        if !publish {
            return Ok(previous);
        }
        match RX_SLOT.publish(&block.state, 0) {
            Ok(()) => Ok(previous),
            Err(s) => {
                // SAFETY: `publish` failed, so the slot was never frozen: still ours.
                drop(unsafe { slot::take(&block.rx_slot) });
                drop(previous);
                Err(self.take(State(s)))
            }
        }
    }

    /// Adds a hook to run if the receiver is dropped before completion.
    pub(crate) fn add_cancel_hook(&mut self, hook: CancelHook) {
        // SAFETY: the cancel hook cell is always rx's; `&mut self` makes this access unique.
        self.block().cancel_hook.with_mut(|cell| unsafe {
            *cell = Some(match (*cell).take() {
                None => hook,
                // Each hook is contained on its own, so a panicking one does not stop
                // the hooks added after it.
                Some(earlier) => Box::new(move || {
                    contain(HookKind::CancelHook, earlier);
                    hook();
                }),
            });
        });
    }

    /// Consumes the receiver, delivering the result to `callback` at once if it is
    /// available, else on the completing (or abandoning) thread.
    pub(crate) fn on_complete(self, callback: impl FnOnce(Result<T, Abandoned>) + Send + 'static) {
        let mut this = self;
        if let Some(result) = this.try_take() {
            drop(this);
            return run_done_callback(callback, result);
        }
        // The receiver stays wanted: its cancel hook must never run. Drop it now.
        let hook = this.block().cancel_hook.with_mut(|cell| {
            // SAFETY: the hook cell is always rx's.
            unsafe { (*cell).take() }
        });
        drop(hook);
        let boxed: DoneCallback<T> = Box::new(callback);
        let block = this.block();
        if let Err(s) = RX_SLOT.reclaim(&block.state) {
            // The result raced in; the slot is tx's or empty: leave it alone.
            let result = this.take(State(s));
            drop(this);
            return run_done_callback(boxed, result);
        }
        // A waiter an earlier poll left is replaced and dropped here, outside any
        // critical section.
        let replaced = block.rx_slot.with_mut(|cell| {
            // SAFETY: `reclaim` returned Ok: the rx slot is ours.
            unsafe { (*cell).replace(RxWaiter::Callback(boxed)) }
        });
        drop(replaced);
        match RX_SLOT.publish(&block.state, RX_GONE) {
            // RX_GONE went out with the callback: this handle must never touch the block
            // again (tx may free it at any moment).
            Ok(()) => std::mem::forget(this),
            Err(s) => {
                // The result raced in before the slot was frozen: the slot is still ours.
                // SAFETY: `publish` failed, so the waiter bit was never set.
                let stored = unsafe { slot::take(&this.block().rx_slot) };
                let Some(RxWaiter::Callback(callback)) = stored else {
                    unreachable!("the slot holds the callback stored above");
                };
                let result = this.take(State(s));
                drop(this);
                run_done_callback(callback, result);
            }
        }
    }
}

impl<T> Drop for Rx<T> {
    fn drop(&mut self) {
        let ptr = self.block;
        let block = self.block();
        // ORDERING: Acquire: TX_GONE / TX_CLOSED come with tx's last accesses.
        let mut s = State(block.state.load(Ordering::Acquire));
        if s.tx_gone() {
            // The common case after a delivered value: nobody else is left. Freeing drops
            // any hook unrun, on this thread.
            // SAFETY: tx is gone and so are we from here on.
            unsafe { free(ptr) };
            return;
        }
        // The hook must leave the block before our last state change (after which tx may
        // free it), so that it is run or dropped here, on the dropping thread.
        // SAFETY: the hook cell is always rx's.
        let hook = block.cancel_hook.with_mut(|cell| unsafe { (*cell).take() });
        let (reclaim_own, claim_tx) = loop {
            if s.tx_gone() {
                // SAFETY: tx is gone and so are we from here on.
                unsafe { free(ptr) };
                return;
            }
            if s.tx_closed() {
                // Completed or abandoned, tx still finishing: it owns the rx slot if
                // RX_WAITER is set, and has reclaimed its own. Just leave.
                // ORDERING: AcqRel: our accesses happen-before tx frees the block.
                match block.state.compare_exchange_weak(
                    s.0,
                    s.0 | RX_CLOSED | RX_GONE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return,
                    Err(actual) => {
                        s = State(actual);
                        continue;
                    }
                }
            }
            // Still pending: this drop is a cancellation.
            let reclaim_own = s.rx_waiter();
            let claim_tx = s.tx_waiter();
            let mut new = (s.0 & !RX_WAITER) | RX_CLOSED;
            if !(reclaim_own || claim_tx) {
                new |= RX_GONE;
            }
            // ORDERING: as above.
            match block
                .state
                .compare_exchange_weak(s.0, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break (reclaim_own, claim_tx),
                Err(actual) => s = State(actual),
            }
        };
        let (own, tx_waker) = if reclaim_own || claim_tx {
            // SAFETY: we cleared RX_WAITER while TX_CLOSED was clear: our slot is ours.
            let own = reclaim_own.then(|| unsafe { slot::take(&block.rx_slot) });
            // SAFETY: we set RX_CLOSED while TX_WAITER was set: the tx slot is ours.
            let tx_waker = claim_tx
                .then(|| unsafe { slot::take(&block.tx_slot) })
                .flatten();
            // ORDERING: AcqRel, as in tx's close. RX_GONE is ours and clear: the add sets it.
            if State(block.state.fetch_add(RX_GONE, Ordering::AcqRel)).tx_gone() {
                // SAFETY: both sides are gone now.
                unsafe { free(ptr) };
            }
            (own, tx_waker)
        } else {
            (None, None)
        };
        // Everything below runs after our last access to the block.
        drop(own);
        if let Some(waker) = tx_waker {
            waker.wake();
        }
        if let Some(hook) = hook {
            contain(HookKind::CancelHook, hook);
        }
    }
}

/// Runs a done-callback, containing a panic: it must never unwind into the completing
/// thread, which is often an SDK's own.
fn run_done_callback<T>(callback: impl FnOnce(Result<T, Abandoned>), result: Result<T, Abandoned>) {
    contain(HookKind::DoneCallback, move || callback(result));
}
