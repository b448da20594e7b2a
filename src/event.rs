//! [`AsyncEvent`]: a latched event that any thread sets and any number of tasks and
//! threads wait on — Python's `threading.Event`, for any executor.
//!
//! ```
//! use std::sync::Arc;
//! use anywait::AsyncEvent;
//!
//! let shutdown = Arc::new(AsyncEvent::new());
//!
//! // Tasks on any executor, and plain threads, wait for it...
//! let task = shutdown.clone().wait_owned();
//! let waiter = {
//!     let shutdown = shutdown.clone();
//!     std::thread::spawn(move || shutdown.wait_blocking())
//! };
//!
//! // ...and any thread (an SDK's event loop, say) sets it.
//! std::thread::spawn(move || shutdown.set());
//!
//! futures::executor::block_on(task);
//! waiter.join().unwrap();
//! ```
//!
//! # Semantics
//!
//! - [`set`](AsyncEvent::set) latches the event and releases every current waiter at once;
//!   waits that start while it is set complete immediately. [`clear`](AsyncEvent::clear)
//!   unlatches it.
//! - A wait completes if the event is set when it is first polled, **or if any `set()`
//!   happened after the wait was created** — even if `clear()` ran before the waiter looked.
//!   (A `set()` on an event that is already set changes nothing, so it does not count: it
//!   costs one atomic load.)
//!   A waiter released by `set` stays released (Python: `wait()` returns `True`). A wait
//!   created after a `clear()` waits for the next `set()`.
//! - No lost wake-ups; no completion while unset unless a `set()` happened since the wait
//!   was created.
//! - [`is_set`](AsyncEvent::is_set), and [`set`](AsyncEvent::set) on an event that is
//!   already set, are one atomic load: no lock, no waiter list.
//! - Waiting allocates nothing: a waiter's node lives inside its pinned future, or on the
//!   blocked thread's stack. Dropping a waiting future unlinks it in O(1) and wakes nobody.
//! - Every waker and thread handle is woken, cloned and dropped outside the lock.
//!
//! # States
//!
//! ```text
//!                 set(): generation += 1, wake all queued waiters
//!        ┌──────────────────────────────────────────────────────────┐
//!        │                                                          ▼
//!   ┌─────────┐                                               ┌──────────┐
//!   │  Unset  │ ◄──────────────────────────────────────────── │   Set    │ ◄─┐ set(): one
//!   └─────────┘                   clear()                     └──────────┘ ──┘ load, no-op
//!
//!   A wait remembers the generation it was created in. It is done as soon as the
//!   event is Set or the generation moved on; otherwise it queues until the next set().
//! ```
//!
//! # Setting from C
//!
//! An SDK that reports an event through a C callback takes an [`EventSetter`] through
//! its `user_data`: see [`EventSetter::into_raw`] and [`EventSetter::set_raw`].

// Implementation: the state machine and the waiting body are `crate::core::latch`; this
// module is the public surface over them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::FusedFuture;
use pin_project_lite::pin_project;

use crate::core::latch::{Latch, LatchRef, LatchWait};
use crate::core::waiter::{would_deadlock, Deadline};
use crate::error::WouldDeadlock;
use crate::sync::const_fn_unless_loom;

/// A latched event: [`set`](Self::set) by any thread, awaited by any number of tasks on
/// any executor and waited on by any number of threads.
///
/// `Send + Sync`; usable as a `static`, inside an `Arc`, or borrowed.
///
/// # Examples
///
/// ```
/// use anywait::AsyncEvent;
///
/// static READY: AsyncEvent = AsyncEvent::new();
///
/// std::thread::spawn(|| READY.set());
/// pollster::block_on(READY.wait());
/// assert!(READY.is_set());
/// ```
pub struct AsyncEvent {
    latch: Latch,
}

impl AsyncEvent {
    const_fn_unless_loom! {
        /// A new, unset event. A `const fn`, so it can initialise a `static`.
        ///
        /// # Examples
        ///
        /// ```
        /// let event = anywait::AsyncEvent::new();
        /// assert!(!event.is_set());
        /// ```
        pub fn new() -> AsyncEvent {
            AsyncEvent {
                latch: Latch::new(),
            }
        }
    }

    /// Whether the event is set. One atomic load.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = anywait::AsyncEvent::new();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        self.latch.is_set()
    }

    /// Sets the event and releases every current waiter; later waits complete at once
    /// until [`clear`](Self::clear). On an event that is already set this is one atomic
    /// load and does nothing else.
    ///
    /// Never blocks on waiters (it briefly takes the internal queue lock, only when some
    /// are queued, and wakes them after releasing it), so it is safe on an SDK's thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = anywait::AsyncEvent::new();
    /// event.set();
    /// event.set(); // no-op
    /// assert!(event.wait_timeout(std::time::Duration::ZERO));
    /// ```
    #[inline]
    pub fn set(&self) {
        self.latch.set();
    }

    /// Unsets the event. Waits created after this wait for the next [`set`](Self::set);
    /// waits created before it that a `set()` already released stay released.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = anywait::AsyncEvent::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// ```
    #[inline]
    pub fn clear(&self) {
        self.latch.clear();
    }

    /// A future that completes when the event is set (see the module docs for the exact
    /// rule). `Output = ()`; also a [`FusedFuture`].
    ///
    /// # Cancel safety
    ///
    /// Dropping it before completion unregisters it in O(1); no other waiter is affected.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = anywait::AsyncEvent::new();
    /// let wait = event.wait(); // created before the set()
    /// event.set();
    /// event.clear();
    /// pollster::block_on(wait); // still completes: a set() happened since creation
    /// ```
    #[inline]
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            inner: LatchWait::new(self),
        }
    }

    /// Like [`wait`](Self::wait), but owns a reference to the event, for `'static` tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let event = Arc::new(anywait::AsyncEvent::new());
    /// let runtime = tokio::runtime::Runtime::new().unwrap();
    /// let task = runtime.spawn(event.wait_owned());
    /// event.set();
    /// runtime.block_on(task).unwrap();
    /// ```
    pub fn wait_owned(self: &Arc<Self>) -> OwnedEventWait {
        OwnedEventWait {
            inner: LatchWait::new(Arc::clone(self)),
        }
    }

    /// Blocks the calling thread until the event is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let event = Arc::new(anywait::AsyncEvent::new());
    /// let setter = event.clone();
    /// std::thread::spawn(move || setter.set());
    /// event.wait_blocking();
    /// assert!(event.is_set());
    /// ```
    ///
    /// Inside an SDK callback scope ([`ffi::callback_scope`](crate::ffi::callback_scope))
    /// a wait that would block unwinds with a [`WouldDeadlock`] payload instead of hanging
    /// the SDK's thread; [`wait_blocking_checked`](Self::wait_blocking_checked) returns it.
    pub fn wait_blocking(&self) {
        if !self.latch.wait_blocking(Deadline::Never) {
            would_deadlock();
        }
    }

    /// [`wait_blocking`](Self::wait_blocking) that returns [`WouldDeadlock`] instead of
    /// blocking inside an SDK callback scope.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = anywait::AsyncEvent::new();
    /// anywait::ffi::callback_scope(|| {
    ///     assert_eq!(event.wait_blocking_checked(), Err(anywait::WouldDeadlock));
    /// });
    /// event.set();
    /// assert_eq!(event.wait_blocking_checked(), Ok(()));
    /// ```
    pub fn wait_blocking_checked(&self) -> Result<(), WouldDeadlock> {
        if self.latch.wait_blocking(Deadline::Never) {
            Ok(())
        } else {
            Err(WouldDeadlock)
        }
    }

    /// Blocks for at most `timeout`. Returns `true` when released by the event, `false`
    /// on timeout (at once inside an SDK callback scope, where it never blocks).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let event = anywait::AsyncEvent::new();
    /// assert!(!event.wait_timeout(Duration::from_millis(1)));
    /// event.set();
    /// assert!(event.wait_timeout(Duration::from_millis(1)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.latch.wait_blocking(Deadline::after(timeout))
    }

    /// Blocks until `deadline` at the latest. Returns `true` when released by the event,
    /// `false` on timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let event = anywait::AsyncEvent::new();
    /// assert!(!event.wait_deadline(Instant::now() + Duration::from_millis(1)));
    /// ```
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.latch.wait_blocking(Deadline::At(deadline))
    }
}

#[cfg(all(test, not(anywait_loom)))]
impl AsyncEvent {
    /// An unset event whose generation counter wraps round after `sets` more set()s, to
    /// test the wrap without 2^62 (or, on 32-bit targets, 2^30) calls.
    pub(crate) fn near_generation_wrap(sets: usize) -> AsyncEvent {
        AsyncEvent {
            latch: Latch::near_generation_wrap(sets),
        }
    }

    /// How many set()s until the generation wraps.
    pub(crate) fn sets_before_generation_wrap(&self) -> usize {
        self.latch.sets_before_generation_wrap()
    }
}

impl Default for AsyncEvent {
    fn default() -> Self {
        AsyncEvent::new()
    }
}

impl fmt::Debug for AsyncEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncEvent")
            .field("set", &self.is_set())
            .finish()
    }
}

impl AsyncEvent {
    /// The latch inside, for crate primitives whose futures wait on it.
    pub(crate) fn latch(&self) -> &Latch {
        &self.latch
    }
}

impl LatchRef for &AsyncEvent {
    fn latch(&self) -> &Latch {
        &self.latch
    }
}

impl LatchRef for Arc<AsyncEvent> {
    fn latch(&self) -> &Latch {
        &self.latch
    }
}

pin_project! {
    /// The future returned by [`AsyncEvent::wait`].
    ///
    /// # Examples
    ///
    /// ```
    /// let event = anywait::AsyncEvent::new();
    /// event.set();
    /// let wait: anywait::EventWait<'_> = event.wait();
    /// futures::executor::block_on(wait);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct EventWait<'a> {
        #[pin]
        inner: LatchWait<&'a AsyncEvent>,
    }
}

pin_project! {
    /// The future returned by [`AsyncEvent::wait_owned`]: `'static`, holds an
    /// `Arc<AsyncEvent>`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let event = Arc::new(anywait::AsyncEvent::new());
    /// let wait: anywait::OwnedEventWait = event.wait_owned();
    /// event.set();
    /// smol::block_on(wait);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct OwnedEventWait {
        #[pin]
        inner: LatchWait<Arc<AsyncEvent>>,
    }
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().inner.poll_wait(cx)
    }
}

impl FusedFuture for EventWait<'_> {
    fn is_terminated(&self) -> bool {
        self.inner.is_done()
    }
}

impl Future for OwnedEventWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().inner.poll_wait(cx)
    }
}

impl FusedFuture for OwnedEventWait {
    fn is_terminated(&self) -> bool {
        self.inner.is_done()
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("done", &self.inner.is_done())
            .finish()
    }
}

impl fmt::Debug for OwnedEventWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedEventWait")
            .field("done", &self.inner.is_done())
            .finish()
    }
}

/// A handle that sets an [`AsyncEvent`], for SDKs that signal through a C callback.
///
/// It keeps the event alive (an `Arc`), so the SDK may fire after every waiter is gone.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use anywait::{AsyncEvent, EventSetter};
///
/// let event = Arc::new(AsyncEvent::new());
/// let setter = EventSetter::new(&event);
/// std::thread::spawn(move || setter.set());
/// event.wait_blocking();
/// ```
#[derive(Clone, Debug)]
pub struct EventSetter {
    event: Arc<AsyncEvent>,
}

impl EventSetter {
    /// A setter for `event`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let event = Arc::new(anywait::AsyncEvent::new());
    /// let setter = anywait::EventSetter::new(&event);
    /// setter.set();
    /// assert!(event.is_set());
    /// ```
    pub fn new(event: &Arc<AsyncEvent>) -> Self {
        EventSetter {
            event: Arc::clone(event),
        }
    }

    /// Sets the event; see [`AsyncEvent::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let event = Arc::new(anywait::AsyncEvent::new());
    /// anywait::EventSetter::new(&event).set();
    /// assert!(event.is_set());
    /// ```
    pub fn set(&self) {
        self.event.set();
    }

    /// Turns the setter into a pointer for a C callback's `user_data`. The pointer owns one
    /// reference to the event: release it exactly once with [`EventSetter::from_raw`] (for
    /// instance in the SDK's "user data destroy" callback). While it is alive, a callback
    /// that may fire any number of times sets the event with [`EventSetter::set_raw`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::ffi::c_void;
    /// use std::sync::Arc;
    /// use anywait::{AsyncEvent, EventSetter};
    ///
    /// // The SDK's callback, fired from its own thread, possibly many times.
    /// extern "C" fn on_shutdown(user_data: *mut c_void) {
    ///     // No panic may unwind into C: contain it.
    ///     let _ = anywait::ffi::catch_callback(anywait::ffi::PanicPolicy::Abort, || {
    ///         // SAFETY: `user_data` came from `EventSetter::into_raw` and is released
    ///         // only after the SDK promised not to call back again.
    ///         unsafe { EventSetter::set_raw(user_data) };
    ///     });
    /// }
    ///
    /// let event = Arc::new(AsyncEvent::new());
    /// let user_data = EventSetter::new(&event).into_raw() as usize;
    /// std::thread::spawn(move || {
    ///     on_shutdown(user_data as *mut c_void);
    ///     on_shutdown(user_data as *mut c_void);
    ///     // The SDK's destroy callback releases the reference, exactly once.
    ///     // SAFETY: from `into_raw`, released once, never used again.
    ///     drop(unsafe { EventSetter::from_raw(user_data as *mut c_void) });
    /// });
    /// event.wait_blocking();
    /// ```
    pub fn into_raw(self) -> *mut std::ffi::c_void {
        Arc::into_raw(self.event).cast_mut().cast()
    }

    /// Rebuilds the setter from [`EventSetter::into_raw`], taking back its reference.
    ///
    /// # Safety
    ///
    /// - `ptr` came from `EventSetter::into_raw` and has not been passed to `from_raw` yet.
    /// - It is not used (by `from_raw` or `set_raw`) after this call.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = std::sync::Arc::new(anywait::AsyncEvent::new());
    /// let raw = anywait::EventSetter::new(&event).into_raw();
    /// // SAFETY: from `into_raw`, used once.
    /// let setter = unsafe { anywait::EventSetter::from_raw(raw) };
    /// setter.set();
    /// assert!(event.is_set());
    /// ```
    pub unsafe fn from_raw(ptr: *mut std::ffi::c_void) -> EventSetter {
        EventSetter {
            // SAFETY: forwarded from this function's contract: the pointer owns a
            // reference made by `Arc::into_raw`.
            event: unsafe { Arc::from_raw(ptr.cast::<AsyncEvent>()) },
        }
    }

    /// Sets the event through a pointer from [`EventSetter::into_raw`] without consuming
    /// it: for C callbacks that fire repeatedly with the same `user_data`.
    ///
    /// # Safety
    ///
    /// - `ptr` came from `EventSetter::into_raw` and has not been released with
    ///   `from_raw` yet (nor is it released concurrently with this call).
    ///
    /// # Examples
    ///
    /// ```
    /// let event = std::sync::Arc::new(anywait::AsyncEvent::new());
    /// let raw = anywait::EventSetter::new(&event).into_raw();
    /// // SAFETY: `raw` is alive until the `from_raw` below.
    /// unsafe { anywait::EventSetter::set_raw(raw) };
    /// assert!(event.is_set());
    /// // SAFETY: released exactly once.
    /// drop(unsafe { anywait::EventSetter::from_raw(raw) });
    /// ```
    pub unsafe fn set_raw(ptr: *mut std::ffi::c_void) {
        // SAFETY: the pointer holds a live reference (this function's contract), so the
        // event outlives this borrow.
        let event = unsafe { &*ptr.cast::<AsyncEvent>() };
        event.set();
    }
}
