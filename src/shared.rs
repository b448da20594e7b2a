//! [`SharedWaitable`]: one result, any number of waiters and done-callbacks — Python's
//! `concurrent.futures.Future`, for any executor.
//!
//! ```
//! let (completer, future) = anywait::waitable::<u32>();
//! let shared = future.shared();
//!
//! // Any number of clones: tasks await them, threads wait on them...
//! let task = shared.clone();
//! let thread = {
//!     let shared = shared.clone();
//!     std::thread::spawn(move || shared.wait_blocking())
//! };
//! // ...and done-callbacks run when the value arrives, on the completing thread.
//! shared.on_complete(|result| assert_eq!(result, Ok(7)));
//!
//! std::thread::spawn(move || completer.complete(7));
//! assert_eq!(futures::executor::block_on(task), Ok(7));
//! assert_eq!(thread.join().unwrap(), Ok(7));
//! ```
//!
//! # Guarantees
//!
//! - Every clone sees the same `Result<T, Abandoned>`; each waiter gets its own clone of
//!   the value (wrap values that are not `Clone` in an `Arc`: `Arc<T>` is always `Clone`).
//! - Cloning a handle is one atomic increment. Waiting allocates nothing: waiters queue in
//!   the same intrusive wait queue as [`AsyncEvent`] (the value's
//!   arrival *is* an `AsyncEvent` being set).
//! - Done-callbacks ([`on_complete`](SharedWaitable::on_complete)) run exactly once each:
//!   at once if the result is there, else on the completing (or abandoning) thread, in
//!   registration order, outside every lock, after all waiters were woken.
//! - A panicking done-callback is caught: the others still run, the value is unaffected,
//!   the panic reaches the std panic hook as usual (which prints it), and its payload is
//!   kept for [`take_callback_panics`](SharedWaitable::take_callback_panics). A panic
//!   never unwinds into the SDK's completing thread.
//! - Cancellation: the underlying future, and with it its
//!   [`on_cancel`](crate::WaitableFuture::on_cancel) hook, is dropped when the last handle
//!   is dropped before completion, and never earlier. Pending done-callbacks count as
//!   interest: while one is registered the operation is not canceled.
//!
//! # States
//!
//! ```text
//!   ┌─────────┐   completer completes / drops   ┌──────────────────────────────────┐
//!   │ Pending │ ──────────────────────────────► │ Complete(Ok(v) | Err(Abandoned)) │
//!   └─────────┘  (on the completing thread:     └──────────────────────────────────┘
//!        │        store, wake all, run callbacks)
//!        │ last handle dropped (and no pending callback)
//!        ▼
//!   ┌──────────┐  the inner WaitableFuture is dropped: its on_cancel hook runs,
//!   │ Canceled │  the completer sees is_canceled() and complete() returns Err(v)
//!   └──────────┘
//! ```

// Implementation: `Shared` holds the result (`OnceLock`), an `AsyncEvent` that is set
// once the result is stored (blocked threads wait on it with nodes on their stacks), a
// waker slab for tasks, the done-callback list, and the inner `WaitableFuture`. At
// creation the inner future is polled once with a waker that holds only a `Weak` to
// `Shared`, so the completing thread runs the fan-out through that waker without any
// executor, and dropping the last handle (the last strong reference) drops the inner future
// (cancellation) without a reference cycle. A pending done-callback holds a strong
// reference until it runs.
//
// Tasks register in a slab (one `Vec` of slots with a free list, like
// `futures::future::Shared`'s) rather than in intrusive nodes: a node would have to live
// in the handle and pin it, and the handle is `Unpin` so that `block_on(&mut shared)` and
// `select!` over a clone work as they do with the peers. The slab grows by doubling and is
// reused as handles come and go, so waiting allocates nothing per waiter once it has grown;
// the fan-out takes the whole slab with one lock and wakes every task outside it.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures_core::FusedFuture;

use crate::error::{Abandoned, WaitError, WouldDeadlock};
use crate::event::AsyncEvent;
use crate::sync::{lock, Mutex, OnceCell};
use crate::waitable::WaitableFuture;

type Callback<T> = Box<dyn FnOnce(Result<T, Abandoned>) + Send>;

struct Shared<T> {
    result: OnceCell<Result<T, Abandoned>>,
    /// Set once `result` is stored: blocked threads wait on it.
    arrived: AsyncEvent,
    source: Mutex<Option<WaitableFuture<T>>>,
    /// Waiting tasks and pending done-callbacks, emptied by the fan-out.
    waiting: Mutex<Waiting<T>>,
    panics: Mutex<Vec<Box<dyn Any + Send>>>,
}

/// One slot of the task slab: a registered waker, or a link in the free list.
enum Slot {
    Task(Waker),
    Free { next: usize },
}

/// The end of the slab's free list.
const NO_SLOT: usize = usize::MAX;

struct Waiting<T> {
    /// Set by the fan-out when it took `tasks` and `callbacks`: later registrations find
    /// the result instead.
    done: bool,
    tasks: Vec<Slot>,
    first_free: usize,
    callbacks: Vec<(Callback<T>, Arc<Shared<T>>)>,
}

impl<T> Waiting<T> {
    /// Stores `waker` in a free slot and returns its key.
    fn insert(&mut self, waker: Waker) -> usize {
        match self.first_free {
            NO_SLOT => {
                self.tasks.push(Slot::Task(waker));
                self.tasks.len() - 1
            }
            key => {
                let Slot::Free { next } =
                    std::mem::replace(&mut self.tasks[key], Slot::Task(waker))
                else {
                    unreachable!("the free list links free slots only");
                };
                self.first_free = next;
                key
            }
        }
    }

    /// Frees slot `key`, returning its waker (to be dropped outside the lock).
    fn remove(&mut self, key: usize) -> Option<Waker> {
        let free = Slot::Free {
            next: self.first_free,
        };
        self.first_free = key;
        match std::mem::replace(&mut self.tasks[key], free) {
            Slot::Task(waker) => Some(waker),
            Slot::Free { .. } => unreachable!("a handle frees its own slot once"),
        }
    }
}

impl<T> Shared<T> {
    fn is_complete(&self) -> bool {
        self.arrived.is_set()
    }
}

impl<T: Clone> Shared<T> {
    fn result(&self) -> Result<T, Abandoned> {
        self.result
            .get()
            .expect("the result is stored before it is announced")
            .clone()
    }

    fn fan_out(&self, result: Result<T, Abandoned>) {
        if self.result.set(result).is_err() {
            return;
        }
        self.arrived.set();
        let (tasks, callbacks) = {
            let mut waiting = lock(&self.waiting);
            waiting.done = true;
            waiting.first_free = NO_SLOT;
            (
                std::mem::take(&mut waiting.tasks),
                std::mem::take(&mut waiting.callbacks),
            )
        };
        // Outside the lock: wake every task, then run the callbacks in order.
        for slot in tasks {
            if let Slot::Task(waker) = slot {
                waker.wake();
            }
        }
        for (callback, keep_alive) in callbacks {
            self.run_callback(callback);
            drop(keep_alive);
        }
    }

    fn run_callback(&self, callback: Callback<T>) {
        let result = self.result();
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| callback(result))) {
            crate::panics::count();
            lock(&self.panics).push(payload);
        }
    }

    fn drive(&self, waker: &Waker) {
        loop {
            // The future is polled outside the lock; whoever holds it is the only poller.
            let Some(mut future) = lock(&self.source).take() else {
                return;
            };
            match Pin::new(&mut future).poll(&mut Context::from_waker(waker)) {
                Poll::Ready(result) => return self.fan_out(result),
                Poll::Pending => {
                    let mut source = lock(&self.source);
                    // A completion while we held the future found no source to drive: look
                    // again. Checked under the lock, so a later one finds the future back.
                    let raced = future.is_complete();
                    *source = Some(future);
                    drop(source);
                    if !raced {
                        return;
                    }
                }
            }
        }
    }
}

/// The waker registered with the inner future: runs the fan-out on the completing thread.
struct FanOut<T>(Weak<Shared<T>>);

impl<T: Clone + Send + Sync + 'static> Wake for FanOut<T> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // No strong reference left means every handle is gone: nobody to tell.
        if let Some(shared) = self.0.upgrade() {
            shared.drive(&Waker::from(Arc::clone(self)));
        }
    }
}

/// A cloneable handle to one result that any number of tasks and threads wait on,
/// with any number of done-callbacks. Created by [`WaitableFuture::shared`].
///
/// Each clone is a [`Future`] resolving to a clone of the result (and a
/// [`FusedFuture`]); `wait_blocking`, `wait_timeout` and `wait_deadline` take `&self`,
/// so one handle can be waited on from several threads. The handle is `Unpin`: poll it
/// through `&mut`, e.g. `block_on(&mut shared)` or in a `select!`.
///
/// `Send + Sync` when `T: Send + Sync`.
///
/// # Examples
///
/// ```
/// let (completer, future) = anywait::waitable();
/// let shared = future.shared();
/// let other = shared.clone();
/// completer.complete(String::from("hello")).unwrap();
/// assert_eq!(pollster::block_on(shared).unwrap(), "hello");
/// assert_eq!(other.try_get(), Some(Ok(String::from("hello"))));
/// ```
#[must_use = "dropping the last handle cancels the operation"]
pub struct SharedWaitable<T> {
    shared: Arc<Shared<T>>,
    /// This handle's slot in the task slab, once it was polled to `Pending`.
    key: Option<usize>,
    /// `Ready` was returned.
    terminated: bool,
}

impl<T: Clone + Send + Sync + 'static> WaitableFuture<T> {
    /// Turns the future into a [`SharedWaitable`]: a cloneable handle that any number of
    /// tasks and threads wait on, with any number of done-callbacks.
    ///
    /// Any `on_cancel` hook of this future runs only if the last handle is dropped before
    /// completion. For values that are not `Clone`, complete with an `Arc<T>`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// struct Connection; // not Clone
    /// let (completer, future) = anywait::waitable::<Arc<Connection>>();
    /// let shared = future.shared();
    /// completer.complete(Arc::new(Connection)).ok().unwrap();
    /// let a = shared.wait_blocking().unwrap();
    /// let b = shared.clone().wait_blocking().unwrap();
    /// assert!(Arc::ptr_eq(&a, &b));
    /// ```
    pub fn shared(self) -> SharedWaitable<T> {
        let shared = Arc::new(Shared {
            result: OnceCell::new(),
            arrived: AsyncEvent::new(),
            source: Mutex::new(None),
            waiting: Mutex::new(Waiting {
                done: false,
                tasks: Vec::new(),
                first_free: NO_SLOT,
                callbacks: Vec::new(),
            }),
            panics: Mutex::new(Vec::new()),
        });
        *lock(&shared.source) = Some(self);
        shared.drive(&Waker::from(Arc::new(FanOut(Arc::downgrade(&shared)))));
        SharedWaitable::handle(shared)
    }
}

impl<T> SharedWaitable<T> {
    fn handle(shared: Arc<Shared<T>>) -> Self {
        SharedWaitable {
            shared,
            key: None,
            terminated: false,
        }
    }

    fn shared(&self) -> &Arc<Shared<T>> {
        &self.shared
    }
}

impl<T: Clone> SharedWaitable<T> {
    fn result(&self) -> Result<T, Abandoned> {
        self.shared.result()
    }

    /// The result if it has arrived, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::waitable();
    /// let shared = future.shared();
    /// assert_eq!(shared.try_get(), None);
    /// completer.complete(1).unwrap();
    /// assert_eq!(shared.try_get(), Some(Ok(1)));
    /// ```
    pub fn try_get(&self) -> Option<Result<T, Abandoned>> {
        self.is_complete().then(|| self.result())
    }

    /// Whether the result (a value or an abandonment) has arrived.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::waitable::<()>();
    /// let shared = future.shared();
    /// assert!(!shared.is_complete());
    /// drop(completer);
    /// assert!(shared.is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.shared().arrived.is_set()
    }

    /// Blocks the calling thread until the result arrives.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::waitable();
    /// let shared = future.shared();
    /// std::thread::spawn(move || completer.complete(3));
    /// assert_eq!(shared.wait_blocking(), Ok(3));
    /// assert_eq!(shared.wait_blocking(), Ok(3)); // again: it is shared
    /// ```
    pub fn wait_blocking(&self) -> Result<T, Abandoned> {
        self.shared().arrived.wait_blocking();
        self.result()
    }

    /// Blocks for at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use anywait::WaitError;
    ///
    /// let (completer, future) = anywait::waitable::<u8>();
    /// let shared = future.shared();
    /// assert_eq!(shared.wait_timeout(Duration::ZERO), Err(WaitError::Timeout));
    /// drop(completer);
    /// assert_eq!(shared.wait_timeout(Duration::ZERO), Err(WaitError::Abandoned));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<T, WaitError> {
        self.finish_wait(self.shared().arrived.wait_timeout(timeout))
    }

    /// Blocks until `deadline` at the latest.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let (completer, future) = anywait::waitable();
    /// let shared = future.shared();
    /// completer.complete('k').unwrap();
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(shared.wait_deadline(deadline), Ok('k'));
    /// ```
    pub fn wait_deadline(&self, deadline: Instant) -> Result<T, WaitError> {
        self.finish_wait(self.shared().arrived.wait_deadline(deadline))
    }

    fn finish_wait(&self, released: bool) -> Result<T, WaitError> {
        if released {
            self.result().map_err(WaitError::from)
        } else {
            Err(WaitError::Timeout)
        }
    }

    /// [`wait_blocking`](Self::wait_blocking) that returns [`WouldDeadlock`] instead of
    /// blocking inside an SDK callback scope.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::waitable::<u8>();
    /// let shared = future.shared();
    /// anywait::ffi::callback_scope(|| {
    ///     assert_eq!(shared.wait_blocking_checked(), Err(anywait::WouldDeadlock));
    /// });
    /// completer.complete(2).unwrap();
    /// assert_eq!(shared.wait_blocking_checked(), Ok(Ok(2)));
    /// ```
    pub fn wait_blocking_checked(&self) -> Result<Result<T, Abandoned>, WouldDeadlock> {
        self.shared().arrived.wait_blocking_checked()?;
        Ok(self.result())
    }

    /// Registers a done-callback: runs exactly once, at once on this thread if the result
    /// is there, else on the completing thread after every waiter was woken. Callbacks
    /// queued before completion run in registration order, outside every lock; one
    /// registered once the result is observable runs at once on the registering thread, so
    /// it may start before earlier callbacks still running on the completing thread (as
    /// with Python's `add_done_callback`). A pending callback keeps the operation alive (it
    /// is not canceled while one is registered).
    ///
    /// A panic in `f` is caught (see [`take_callback_panics`](Self::take_callback_panics)):
    /// the other callbacks still run and the value is unaffected.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let (completer, future) = anywait::waitable();
    /// let shared = future.shared();
    /// let (tx, rx) = mpsc::channel();
    /// for i in 0..3 {
    ///     let tx = tx.clone();
    ///     shared.on_complete(move |result| tx.send((i, result)).unwrap());
    /// }
    /// drop(shared); // the callbacks keep the operation alive
    /// completer.complete("v").unwrap();
    /// let order: Vec<_> = rx.try_iter().collect();
    /// assert_eq!(order, vec![(0, Ok("v")), (1, Ok("v")), (2, Ok("v"))]);
    /// ```
    pub fn on_complete(&self, f: impl FnOnce(Result<T, Abandoned>) + Send + 'static) {
        let shared = self.shared();
        let f: Callback<T> = Box::new(f);
        let run_now = {
            let mut waiting = lock(&shared.waiting);
            // Also when the result is stored but the fan-out has not taken the list yet:
            // a caller that has seen the result must see its callback run at once.
            if waiting.done || shared.result.get().is_some() {
                Some(f)
            } else {
                waiting.callbacks.push((f, Arc::clone(shared)));
                None
            }
        };
        if let Some(f) = run_now {
            shared.run_callback(f);
        }
    }

    /// Takes the payloads of done-callbacks that panicked (they were caught so that the
    /// other callbacks still ran and no panic unwound into the completing thread).
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::waitable::<()>();
    /// let shared = future.shared();
    /// shared.on_complete(|_| panic!("a buggy callback"));
    /// completer.complete(()).unwrap(); // does not panic
    /// let panics = shared.take_callback_panics();
    /// assert_eq!(panics.len(), 1);
    /// assert_eq!(panics[0].downcast_ref::<&str>(), Some(&"a buggy callback"));
    /// ```
    pub fn take_callback_panics(&self) -> Vec<Box<dyn Any + Send>> {
        std::mem::take(&mut *lock(&self.shared().panics))
    }
}

impl<T> Clone for SharedWaitable<T> {
    /// Another handle to the same result: one atomic increment, no allocation.
    fn clone(&self) -> Self {
        SharedWaitable::handle(Arc::clone(&self.shared))
    }
}

impl<T> Drop for SharedWaitable<T> {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        if self.shared.is_complete() {
            return; // the fan-out took the slab
        }
        let waker = {
            let mut waiting = lock(&self.shared.waiting);
            if waiting.done {
                None
            } else {
                waiting.remove(key)
            }
        };
        drop(waker); // outside the lock
    }
}

impl<T: Clone> Future for SharedWaitable<T> {
    type Output = Result<T, Abandoned>;

    /// Resolves with a clone of the result. Polling again after `Ready` returns it again.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.shared.is_complete() {
            return this.ready();
        }
        let waker = cx.waker();
        // A fresh registration clones the waker before taking the lock; a repeated one
        // keeps the stored waker when it wakes the same task, else swaps in a clone made
        // outside the lock. Wakers are cloned and dropped outside it either way.
        let fresh = match this.key {
            None => Some(waker.clone()),
            Some(key) => {
                let waiting = lock(&this.shared.waiting);
                if waiting.done {
                    drop(waiting);
                    return this.ready();
                }
                match &waiting.tasks[key] {
                    Slot::Task(stored) if stored.will_wake(waker) => return Poll::Pending,
                    _ => None,
                }
            }
        };
        let fresh = fresh.unwrap_or_else(|| waker.clone());
        let mut waiting = lock(&this.shared.waiting);
        if waiting.done {
            drop(waiting);
            drop(fresh);
            return this.ready();
        }
        let replaced = match this.key {
            None => {
                this.key = Some(waiting.insert(fresh));
                None
            }
            Some(key) => Some(std::mem::replace(
                &mut waiting.tasks[key],
                Slot::Task(fresh),
            )),
        };
        drop(waiting);
        drop(replaced);
        Poll::Pending
    }
}

impl<T: Clone> SharedWaitable<T> {
    /// Returns the result from `poll` once it has arrived.
    fn ready(&mut self) -> Poll<Result<T, Abandoned>> {
        self.terminated = true;
        Poll::Ready(self.result())
    }
}

impl<T: Clone> FusedFuture for SharedWaitable<T> {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl<T> fmt::Debug for SharedWaitable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedWaitable")
            .field("complete", &self.shared().arrived.is_set())
            .finish()
    }
}
