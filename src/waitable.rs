//! One-shot completions: [`WaitableFuture`] and its [`Completer`].
//!
//! An SDK reports that an operation finished by calling back, on a thread of its own. Hand
//! it a [`Completer`]; hand your caller the [`WaitableFuture`]. The caller awaits it under
//! any executor, or waits on it blockingly with an optional timeout. If your caller loses
//! interest and drops the future, the SDK side can see it ([`Completer::is_canceled`],
//! [`Completer::canceled`]) and an [`on_cancel`](WaitableFuture::on_cancel) hook tells the
//! SDK to stop.
//!
//! ```
//! use anywait::WaitableFuture;
//!
//! // A callback SDK: reports the result from a thread of its own.
//! fn sdk_start(on_done: impl FnOnce(u64) + Send + 'static) {
//!     std::thread::spawn(move || on_done(42));
//! }
//!
//! // The binding: one expression.
//! fn operation() -> WaitableFuture<u64> {
//!     WaitableFuture::from_callback(|completer| {
//!         sdk_start(move |n| {
//!             let _ = completer.complete(n); // Err(n) back if the caller gave up
//!         })
//!     })
//! }
//!
//! // Async callers, under any executor:
//! assert_eq!(futures::executor::block_on(operation()), Ok(42));
//! // Sync callers:
//! assert_eq!(operation().wait_blocking(), Ok(42));
//! ```
//!
//! # Guarantees
//!
//! - Completion happens-before the waiting side sees the value.
//! - Exactly one of these happens: the value is delivered; the future sees
//!   [`Abandoned`] (the completer was dropped without a value); or the future was dropped
//!   first, [`complete`](Completer::complete) hands the value back, and the `on_cancel`
//!   hook runs.
//! - [`complete`](Completer::complete) never blocks and never panics, so it is safe to call
//!   on an SDK's own event-loop thread.
//! - No operation allocates except [`waitable`] (one block for both handles) and the
//!   closures given to [`on_cancel`](WaitableFuture::on_cancel) and
//!   [`on_complete`](WaitableFuture::on_complete) (one box each, plus one to chain a
//!   second or later `on_cancel` hook to the earlier ones).
//! - No lock anywhere: the two handles meet in one atomic state word. Wakers and thread
//!   handles are woken and dropped after the last access to shared state. Whichever handle
//!   goes last frees the block; neither ever waits for the other.
//!
//! # States
//!
//! ```text
//!                  complete(v)                 poll / wait / try_take
//!   ┌─────────┐ ─────────────────► ┌──────────┐ ───────────────────► ┌───────────┐
//!   │ Pending │                    │ Complete │                      │ Delivered │
//!   └─────────┘ ──┐                └──────────┘                      └───────────┘
//!     │           │ drop(Completer)               poll / wait / try_take     ▲
//!     │           └───────────────► ┌───────────┐ ──────────────────► Err(Abandoned)
//!     │                             │ Abandoned │                            │
//!     │ drop(WaitableFuture)        └───────────┘                (Delivered again)
//!     ▼
//!   ┌──────────┐  on_cancel hook runs on the dropping thread;
//!   │ Canceled │  is_canceled() = true, canceled() resolves;
//!   └──────────┘  complete(v) returns Err(v)
//! ```
//!
//! After `Delivered`, the future is terminated ([`FusedFuture::is_terminated`]) and every
//! later poll, wait or `try_take` reports [`Abandoned`]: the value is never delivered twice
//! and nothing panics.

// Implementation: the lock-free block and its bit-level state machine are in
// `crate::core::oneshot`; this module only adds the public surface.

use std::ffi::c_void;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::FusedFuture;

use crate::core::oneshot::{self, Rx, Tx};
use crate::core::waiter::{would_deadlock, Deadline};
use crate::error::{Abandoned, TryTakeError, WaitError, WouldDeadlock};

/// Creates a connected [`Completer`] and [`WaitableFuture`], with one allocation.
///
/// # Examples
///
/// ```
/// let (completer, future) = anywait::waitable();
/// std::thread::spawn(move || completer.complete("done"));
/// assert_eq!(future.wait_blocking(), Ok("done"));
/// ```
pub fn waitable<T>() -> (Completer<T>, WaitableFuture<T>) {
    let (tx, rx) = oneshot::pair();
    (Completer { tx }, WaitableFuture { rx })
}

/// The completing half: hand it to the SDK's callback.
///
/// Call [`complete`](Completer::complete) once with the result. Dropping it without doing
/// so resolves the future with [`Abandoned`], so a callback that never fires becomes an
/// error for the caller, never a hang.
///
/// One pointer in size, `Send` and `Sync` when `T: Send`.
///
/// # Examples
///
/// ```
/// let (completer, future) = anywait::waitable::<i32>();
/// assert!(!completer.is_canceled());
/// completer.complete(1).unwrap();
/// assert_eq!(future.wait_blocking(), Ok(1));
/// ```
pub struct Completer<T> {
    tx: Tx<T>,
}

/// The waiting half: a [`Future`] resolving to `Result<T, Abandoned>`, also waitable
/// blockingly.
///
/// Dropping it before completion cancels the operation: see
/// [`on_cancel`](WaitableFuture::on_cancel) and [`Completer::canceled`].
///
/// One pointer in size, `Unpin`, `Send` and `Sync` when `T: Send`.
///
/// # Examples
///
/// ```
/// let (completer, future) = anywait::waitable();
/// std::thread::spawn(move || completer.complete(5u8));
/// assert_eq!(pollster::block_on(future), Ok(5));
/// ```
#[must_use = "dropping a WaitableFuture cancels the operation"]
pub struct WaitableFuture<T> {
    rx: Rx<T>,
}

impl<T> Completer<T> {
    /// Delivers `value` to the future, waking whoever waits on it.
    ///
    /// Never blocks and never panics — not even when a done-callback registered with
    /// [`on_complete`](WaitableFuture::on_complete) panics (that panic is contained) — so
    /// it is safe on an SDK's own thread. Returns
    /// `Err(value)` when the future was already dropped: the operation was canceled and
    /// nobody will read the value.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::waitable();
    /// drop(future);
    /// assert_eq!(completer.complete(3), Err(3));
    /// ```
    pub fn complete(self, value: T) -> Result<(), T> {
        self.tx.complete(value)
    }

    /// Whether the future was dropped before completion, so the work can be skipped.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::waitable::<()>();
    /// assert!(!completer.is_canceled());
    /// drop(future);
    /// assert!(completer.is_canceled());
    /// ```
    pub fn is_canceled(&self) -> bool {
        self.tx.is_canceled()
    }

    /// Polls for cancellation: `Ready` once the future was dropped without taking a value.
    ///
    /// The waker is kept until cancellation, completion or [`Completer::canceled`]'s future
    /// is dropped; the most recent waker wins.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::task::{Context, Poll};
    ///
    /// let (mut completer, future) = anywait::waitable::<()>();
    /// let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    /// assert_eq!(completer.poll_canceled(&mut cx), Poll::Pending);
    /// drop(future);
    /// assert_eq!(completer.poll_canceled(&mut cx), Poll::Ready(()));
    /// ```
    pub fn poll_canceled(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.tx.poll_canceled(cx.waker())
    }

    /// A future that resolves once the [`WaitableFuture`] was dropped without taking a
    /// value. Never resolves if the value is taken, or a done-callback was registered with
    /// [`on_complete`](WaitableFuture::on_complete).
    ///
    /// Use it to abort SDK-side work when the caller gives up, e.g. in a `select!` with
    /// the work itself. Dropping it withdraws its waker.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut completer, future) = anywait::waitable::<()>();
    /// std::thread::spawn(move || drop(future));
    /// pollster::block_on(completer.canceled());
    /// assert!(completer.is_canceled());
    /// ```
    pub fn canceled(&mut self) -> Canceled<'_, T> {
        Canceled { completer: self }
    }

    /// Turns the completer into a pointer for a C callback's `user_data`.
    ///
    /// The pointer owns the completer. Pass it to [`Completer::from_raw`] **exactly once**:
    /// never calling it leaks the block and leaves the future pending forever (bound the
    /// wait with [`wait_timeout`](WaitableFuture::wait_timeout) or `with_timeout`); calling
    /// it twice is a double free. For SDKs that may call back zero or two times, use the
    /// checked handles of [`ffi::Completions`](crate::ffi::Completions) instead: a
    /// duplicate is refused, and [`abandon_all`](crate::ffi::Registry::abandon_all)
    /// resolves what never comes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::ffi::c_void;
    /// use anywait::ffi::{catch_callback, PanicPolicy};
    /// use anywait::Completer;
    ///
    /// extern "C" fn on_done(user_data: *mut c_void, status: i32) {
    ///     // No panic may unwind into C: contain it (here: abort with a clear message).
    ///     let _ = catch_callback(PanicPolicy::Abort, || {
    ///         // SAFETY: `user_data` came from `into_raw` and this callback runs once.
    ///         let completer = unsafe { Completer::<i32>::from_raw(user_data) };
    ///         let _ = completer.complete(status);
    ///     });
    /// }
    ///
    /// let (completer, future) = anywait::waitable::<i32>();
    /// // What a C SDK stores and later passes back (as an integer to cross threads here).
    /// let user_data = completer.into_raw() as usize;
    /// std::thread::spawn(move || on_done(user_data as *mut c_void, 0)).join().unwrap();
    /// assert_eq!(future.wait_blocking(), Ok(0));
    /// ```
    pub fn into_raw(self) -> *mut c_void {
        let Completer { tx } = self;
        tx.into_raw().cast()
    }

    /// Rebuilds a completer from a pointer made by [`Completer::into_raw`].
    ///
    /// # Safety
    ///
    /// - `ptr` was returned by `Completer::<T>::into_raw` with the same `T`.
    /// - It is passed to `from_raw` at most once, and not used afterwards.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::waitable::<u8>();
    /// let ptr = completer.into_raw();
    /// // SAFETY: `ptr` came from `into_raw` for the same `T` and is used once.
    /// let completer = unsafe { anywait::Completer::<u8>::from_raw(ptr) };
    /// completer.complete(9).unwrap();
    /// assert_eq!(future.wait_blocking(), Ok(9));
    /// ```
    pub unsafe fn from_raw(ptr: *mut c_void) -> Completer<T> {
        Completer {
            // SAFETY: forwarded from this function's contract.
            tx: unsafe { Tx::from_raw(ptr.cast()) },
        }
    }
}

impl<T> fmt::Debug for Completer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completer")
            .field("canceled", &self.is_canceled())
            .finish()
    }
}

/// The future returned by [`Completer::canceled`].
///
/// # Examples
///
/// ```
/// let (mut completer, future) = anywait::waitable::<()>();
/// drop(future);
/// pollster::block_on(completer.canceled());
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Canceled<'a, T> {
    completer: &'a mut Completer<T>,
}

impl<T> Future for Canceled<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().completer.poll_canceled(cx)
    }
}

impl<T> Drop for Canceled<'_, T> {
    fn drop(&mut self) {
        self.completer.tx.forget_canceled_waker();
    }
}

impl<T> fmt::Debug for Canceled<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canceled").finish_non_exhaustive()
    }
}

impl<T> WaitableFuture<T> {
    /// Creates a pair and hands the completer to `register` at once: the usual way to start
    /// an SDK operation in one expression.
    ///
    /// `register` may complete the completer synchronously (some SDKs call back before
    /// returning); the future is then ready at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use anywait::WaitableFuture;
    ///
    /// // An SDK that sometimes answers synchronously, from inside the call:
    /// let future = WaitableFuture::from_callback(|completer| {
    ///     completer.complete("cached").unwrap();
    /// });
    /// assert!(future.is_complete());
    /// assert_eq!(future.wait_blocking(), Ok("cached"));
    /// ```
    pub fn from_callback(register: impl FnOnce(Completer<T>)) -> WaitableFuture<T> {
        let (completer, future) = waitable();
        register(completer);
        future
    }

    /// Blocks the calling thread until the value arrives or the completer is abandoned.
    ///
    /// Usable from any thread, including a thread that is running an async runtime (it
    /// never panics there, though it does block that thread). Do not call it on the thread
    /// that must run the completing callback: that deadlocks.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::waitable();
    /// std::thread::spawn(move || completer.complete(10));
    /// assert_eq!(future.wait_blocking(), Ok(10));
    /// ```
    ///
    /// Inside an SDK callback scope ([`ffi::callback_scope`](crate::ffi::callback_scope))
    /// a wait that would block unwinds with a [`WouldDeadlock`] payload instead of hanging
    /// the SDK's thread; [`wait_blocking_checked`](Self::wait_blocking_checked) returns it.
    pub fn wait_blocking(mut self) -> Result<T, Abandoned> {
        self.rx
            .wait(Deadline::Never)
            .unwrap_or_else(|| would_deadlock())
    }

    /// [`wait_blocking`](Self::wait_blocking) that returns [`WouldDeadlock`] instead of
    /// blocking inside an SDK callback scope; the future is then intact.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, mut future) = anywait::waitable::<u8>();
    /// anywait::ffi::callback_scope(|| {
    ///     assert_eq!(future.wait_blocking_checked(), Err(anywait::WouldDeadlock));
    /// });
    /// completer.complete(1).unwrap();
    /// assert_eq!(future.wait_blocking_checked(), Ok(Ok(1)));
    /// ```
    pub fn wait_blocking_checked(&mut self) -> Result<Result<T, Abandoned>, WouldDeadlock> {
        self.rx.wait(Deadline::Never).ok_or(WouldDeadlock)
    }

    /// Blocks for at most `timeout`. On [`WaitError::Timeout`] the future is intact: wait or
    /// await it again.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use anywait::WaitError;
    ///
    /// let (completer, mut future) = anywait::waitable();
    /// assert_eq!(future.wait_timeout(Duration::ZERO), Err(WaitError::Timeout));
    /// completer.complete('x').unwrap();
    /// assert_eq!(future.wait_timeout(Duration::from_secs(1)), Ok('x'));
    /// ```
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<T, WaitError> {
        self.wait_until(Deadline::after(timeout))
    }

    /// Blocks until `deadline` at the latest. On [`WaitError::Timeout`] the future is
    /// intact: wait or await it again.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let (completer, mut future) = anywait::waitable();
    /// std::thread::spawn(move || completer.complete(()));
    /// let deadline = Instant::now() + Duration::from_secs(10);
    /// assert_eq!(future.wait_deadline(deadline), Ok(()));
    /// ```
    pub fn wait_deadline(&mut self, deadline: Instant) -> Result<T, WaitError> {
        self.wait_until(Deadline::At(deadline))
    }

    fn wait_until(&mut self, deadline: Deadline) -> Result<T, WaitError> {
        match self.rx.wait(deadline) {
            Some(result) => result.map_err(WaitError::from),
            // Also at once inside an SDK callback scope, where a wait never blocks.
            None => Err(WaitError::Timeout),
        }
    }

    /// Takes the value if it has arrived, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use anywait::TryTakeError;
    ///
    /// let (completer, mut future) = anywait::waitable::<u8>();
    /// assert_eq!(future.try_take(), Err(TryTakeError::Pending));
    /// drop(completer);
    /// assert_eq!(future.try_take(), Err(TryTakeError::Abandoned));
    /// ```
    pub fn try_take(&mut self) -> Result<T, TryTakeError> {
        match self.rx.try_take() {
            Some(result) => result.map_err(TryTakeError::from),
            None => Err(TryTakeError::Pending),
        }
    }

    /// Whether a value or an abandonment has arrived (whether or not it was taken yet).
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::waitable::<u8>();
    /// assert!(!future.is_complete());
    /// drop(completer);
    /// assert!(future.is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.rx.is_complete()
    }

    /// Registers `hook` to run if this future is dropped before a value or an abandonment
    /// arrived: the way a binding tells its SDK to cancel the operation.
    ///
    /// The hook runs exactly once in that case and never otherwise (not after completion,
    /// not after abandonment, not when the future is consumed by
    /// [`on_complete`](Self::on_complete)). It runs on the thread that drops the future,
    /// after the future has released the shared state, so it may call into the SDK freely.
    /// Several hooks run in the order they were added. A panic in a hook never propagates
    /// out of the drop (which may happen on an SDK's thread): it is contained and handed to
    /// the [panic handler](crate::panics), and the hooks after it still run.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let told_sdk = Arc::new(AtomicBool::new(false));
    /// let flag = told_sdk.clone();
    /// let (completer, future) = anywait::waitable::<u32>();
    /// let future = future.on_cancel(move || flag.store(true, Ordering::SeqCst));
    /// drop(future);
    /// assert!(told_sdk.load(Ordering::SeqCst));
    /// assert_eq!(completer.complete(1), Err(1));
    /// ```
    pub fn on_cancel(mut self, hook: impl FnOnce() + Send + 'static) -> Self {
        self.rx.add_cancel_hook(Box::new(hook));
        self
    }

    /// Consumes the future and calls `f` with the result: at once on this thread if it has
    /// arrived, else on the thread that completes (or abandons) the completer. Python's
    /// `add_done_callback`; needs no executor.
    ///
    /// `f` runs exactly once (if the completer is leaked, never). Any `on_cancel` hook is
    /// discarded: the result is still wanted. A panic in `f` never propagates, neither out
    /// of `complete` nor out of the completer's drop (both often run on an SDK's thread,
    /// inside an `extern "C"` callback, where unwinding aborts the process): it is contained
    /// and handed, with its payload, to the [panic handler](crate::panics) as a
    /// [`CallbackPanic`](crate::panics::CallbackPanic) of kind
    /// [`DoneCallback`](crate::panics::HookKind::DoneCallback).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let (completer, future) = anywait::waitable();
    /// let (tx, rx) = mpsc::channel();
    /// future.on_complete(move |result| tx.send(result).unwrap());
    /// std::thread::spawn(move || completer.complete(99));
    /// assert_eq!(rx.recv().unwrap(), Ok(99));
    /// ```
    pub fn on_complete(self, f: impl FnOnce(Result<T, Abandoned>) + Send + 'static) {
        self.rx.on_complete(f)
    }
}

impl<T> Future for WaitableFuture<T> {
    type Output = Result<T, Abandoned>;

    /// Resolves with the value, or [`Abandoned`] if the completer went away without one.
    /// Polling again after `Ready` returns `Ready(Err(Abandoned))`: the value is never
    /// delivered twice, and nothing panics.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().rx.poll(cx.waker())
    }
}

impl<T> FusedFuture for WaitableFuture<T> {
    /// True only after `poll` (or a wait, or `try_take`) has returned the result.
    fn is_terminated(&self) -> bool {
        self.rx.is_terminated()
    }
}

impl<T> fmt::Debug for WaitableFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitableFuture")
            .field("complete", &self.is_complete())
            .field("terminated", &self.rx.is_terminated())
            .finish()
    }
}
