//! The cancellable waiter: foreign *blocking* waits and blocking work as cancellable
//! futures, on a pool of threads of its own.
//!
//! Some SDK signals cannot call back: a foreign event offers only a blocking
//! `wait(timeout) -> bool`, or a C library offers only a blocking call. anywait runs them
//! on a [`Waiters`] pool and hands out futures (and blocking waits):
//!
//! - [`wait_on`] / [`Waiters::wait_on`]: a helper thread waits on the foreign event in
//!   slices (`wait_slice(slice) -> bool`), checking between slices whether anyone still
//!   waits. Dropping the [`ForeignWait`] cancels it; the helper stops after the current
//!   slice at the latest, or at once if an [interrupt hook](ForeignWait::with_interrupt)
//!   can poke the foreign wait.
//! - [`Waiters::wait_on_keyed`]: every wait on the same key (an `Arc`, by pointer identity)
//!   shares one helper thread, and all its awaiters are released together.
//! - [`run_blocking`] / [`Waiters::run_blocking`]: runs a closure on the pool; the
//!   [`BlockingTask`] resolves with its result (or [`Panicked`]); dropping the task cancels
//!   the closure's [`CancelToken`].
//!
//! ```
//! use std::sync::{Arc, Condvar, Mutex};
//! use std::time::Duration;
//!
//! // A foreign event that can only be waited on blockingly.
//! struct Flag(Mutex<bool>, Condvar);
//! impl Flag {
//!     fn wait(&self, timeout: Duration) -> bool {
//!         let guard = self.0.lock().unwrap();
//!         *self.1.wait_timeout_while(guard, timeout, |set| !*set).unwrap().0
//!     }
//!     fn set(&self) {
//!         *self.0.lock().unwrap() = true;
//!         self.1.notify_all();
//!     }
//! }
//!
//! let flag = Arc::new(Flag(Mutex::new(false), Condvar::new()));
//! let waiters = anywait::Waiters::global();
//! // Any number of awaiters, one helper thread:
//! let a = waiters.wait_on_keyed(&flag, |flag, slice| flag.wait(slice));
//! let b = waiters.wait_on_keyed(&flag, |flag, slice| flag.wait(slice));
//! flag.set();
//! futures::executor::block_on(a).unwrap();
//! assert!(b.wait_timeout(Duration::from_secs(10)));
//! ```
//!
//! # States of a foreign wait
//!
//! ```text
//!   ┌────────┐ helper starts  ┌─────────┐ wait_slice(slice) = true  ┌──────────┐
//!   │ Queued │ ─────────────► │ Waiting │ ────────────────────────► │ Signaled │ all
//!   └────────┘  (pool limit)  └─────────┘                           └──────────┘ awaiters
//!       │                       │  ▲  │ wait_slice = false:                      released
//!       │ last awaiter          │  └──┘ check for cancellation, wait again
//!       │ dropped               │ last awaiter dropped: interrupt hook runs
//!       ▼                       ▼
//!   ┌────────────────────────────────┐
//!   │ Canceled: the helper leaves at │  (after its slice, or at once when interrupted)
//!   │ its next check, key released   │
//!   └────────────────────────────────┘
//! ```
//!
//! A thread that waits blockingly ([`ForeignWait::wait_blocking`], `wait_timeout`,
//! `wait_deadline`) on a wait that no helper has started yet runs `wait_slice` itself, on
//! its own thread: the signal then wakes it directly (one hand-off instead of two), and a
//! timed wait that runs out hands the foreign wait back to the pool for the other
//! awaiters. The helper woken for a new wait leaves it to its maker for up to 50 µs
//! unless a task polls the wait first, so a `wait_on(..).wait_blocking()` keeps the wait
//! even when an idle pool thread is ready to take it. Starting a little later loses no
//! signal, for the reason the gap between two slices loses none: `wait_slice` reports
//! whether the event is signalled, not whether it fired during the call.
//!
//! A `wait_slice` that panics is caught: the awaiters are released (never left hanging),
//! [`ForeignWait::panic_message`] reports it, and the pool thread survives.

// The unit-level loom models live with the unit tests, in `src/tests/loom_waiter.rs`; they
// are declared here, as a child of this module, because they drive its private internals
// (the registry, `ForeignWait::new`, `blocking_job`).
#[cfg(all(test, anywait_loom))]
#[path = "../tests/loom_waiter.rs"]
mod loom_waiter;
mod pool;
mod registry;

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::FusedFuture;
use pin_project_lite::pin_project;

use self::pool::Pool;
pub use self::pool::{
    Waiters, WaitersBuilder, DEFAULT_KEEP_ALIVE, DEFAULT_MAX_THREADS, DEFAULT_SLICE,
};
use self::registry::{Foreign, Interrupt, WaitSlice};
use crate::core::latch::LatchWait;
use crate::error::{panic_message, Abandoned, Elapsed, Panicked, WaitError, WouldDeadlock};
use crate::event::{AsyncEvent, EventWait};
use crate::waitable::{waitable, WaitableFuture};

/// Waits on a foreign blocking event from the [global pool](Waiters::global): see
/// [`Waiters::wait_on`].
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
///
/// // A foreign "event": a channel that can only be received from blockingly.
/// let (signal, foreign) = mpsc::channel::<()>();
/// let wait = anywait::wait_on(move |slice| foreign.recv_timeout(slice).is_ok());
/// signal.send(()).unwrap();
/// pollster::block_on(wait).unwrap();
/// ```
pub fn wait_on<F>(wait_slice: F) -> ForeignWait
where
    F: FnMut(Duration) -> bool + Send + 'static,
{
    Waiters::global().wait_on(wait_slice)
}

/// Runs blocking work on the [global pool](Waiters::global): see
/// [`Waiters::run_blocking`].
///
/// # Examples
///
/// ```
/// let task = anywait::run_blocking(|_token| std::fs::metadata("Cargo.toml").is_ok());
/// assert_eq!(futures::executor::block_on(task).unwrap(), true);
/// ```
pub fn run_blocking<R, F>(f: F) -> BlockingTask<R>
where
    R: Send + 'static,
    F: FnOnce(&CancelToken) -> R + Send + 'static,
{
    Waiters::global().run_blocking(f)
}

impl Waiters {
    /// Turns a foreign blocking wait into a cancellable future.
    ///
    /// `wait_slice(slice)` must block for at most about `slice` (the pool's
    /// [slice](WaitersBuilder::slice)) and return `true` once the foreign event is
    /// signalled. A helper thread calls it in a loop until it returns `true` (releasing the
    /// [`ForeignWait`]) or the `ForeignWait` is dropped (cancellation: the helper stops after
    /// the current slice, or at once with [`ForeignWait::with_interrupt`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let pool = anywait::Waiters::builder().slice(Duration::from_millis(5)).build();
    /// let stopped = Arc::new(AtomicBool::new(false));
    /// let flag = stopped.clone();
    /// let wait = pool.wait_on(move |slice| {
    ///     std::thread::park_timeout(slice); // a foreign wait that never fires
    ///     flag.store(true, Ordering::SeqCst);
    ///     false
    /// });
    /// drop(wait); // cancel: the helper stops after its current slice
    /// ```
    pub fn wait_on<F>(&self, wait_slice: F) -> ForeignWait
    where
        F: FnMut(Duration) -> bool + Send + 'static,
    {
        let entry = Arc::new(Foreign::new());
        ForeignWait::with_runner(self.start_helper(None, entry, wait_slice))
    }

    /// Like [`wait_on`](Self::wait_on), de-duplicated by `key` (pointer identity of the
    /// `Arc`): every wait on the same key shares one helper thread, and one signal releases
    /// all of its awaiters together. The helper stops when the last awaiter is dropped, and
    /// the pool keeps no reference to the key after that.
    ///
    /// The `wait_slice` of the first waiter of a key is the one the helper runs; later
    /// waiters' closures are dropped unused (they must mean the same wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Barrier};
    /// use std::time::Duration;
    ///
    /// let key = Arc::new(Barrier::new(2));
    /// let waits: Vec<_> = (0..100)
    ///     .map(|_| anywait::Waiters::global().wait_on_keyed(&key, |_, slice| {
    ///         std::thread::park_timeout(slice);
    ///         true
    ///     }))
    ///     .collect();
    /// for wait in &waits {
    ///     assert!(wait.wait_timeout(Duration::from_secs(10)));
    /// }
    /// ```
    pub fn wait_on_keyed<K, F>(&self, key: &Arc<K>, mut wait_slice: F) -> ForeignWait
    where
        K: Send + Sync + 'static,
        F: FnMut(&K, Duration) -> bool + Send + 'static,
    {
        let address = Arc::as_ptr(key) as *const () as usize;
        let (entry, start) = self.pool.registry.attach(address);
        let runner = if start {
            let key = Arc::clone(key);
            self.start_helper(Some(address), entry, move |slice| wait_slice(&key, slice))
        } else {
            Runner {
                pool: Arc::clone(&self.pool),
                key: Some(address),
                entry,
            }
        };
        ForeignWait::with_runner(runner)
    }

    /// How many keys have a keyed wait registered (waiting, or whose helper has not left
    /// yet).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = anywait::Waiters::builder().build();
    /// assert_eq!(pool.keyed_waits(), 0);
    /// ```
    pub fn keyed_waits(&self) -> usize {
        self.pool.registry.len()
    }

    fn start_helper(
        &self,
        key: Option<usize>,
        entry: Arc<Foreign>,
        wait_slice: impl FnMut(Duration) -> bool + Send + 'static,
    ) -> Runner {
        entry.put_wait_slice(Box::new(wait_slice));
        let runner = Runner {
            pool: Arc::clone(&self.pool),
            key,
            entry,
        };
        submit_helper(runner.clone(), true);
        runner
    }

    /// Runs `f` on this pool and returns its result as a future.
    ///
    /// `f` receives a [`CancelToken`] that is canceled when the [`BlockingTask`] is dropped
    /// before it finishes; long-running work should check it (anyio's
    /// `check_cancelled()`). A task dropped before it started never runs. A panic in `f` is
    /// caught on the pool thread (which survives) and delivered as [`Panicked`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = anywait::Waiters::builder().max_threads(2).build();
    /// let task = pool.run_blocking(|token| {
    ///     let mut rounds = 0;
    ///     // Work in small steps until canceled (or done).
    ///     while rounds < 3 && !token.wait_canceled_timeout(Duration::from_millis(1)) {
    ///         rounds += 1;
    ///     }
    ///     rounds
    /// });
    /// assert_eq!(pollster::block_on(task).unwrap(), 3);
    /// ```
    pub fn run_blocking<R, F>(&self, f: F) -> BlockingTask<R>
    where
        R: Send + 'static,
        F: FnOnce(&CancelToken) -> R + Send + 'static,
    {
        let (task, job) = blocking_job(f);
        self.pool.submit(Box::new(move || {
            job();
        }));
        task
    }
}

/// The task `run_blocking` hands out and the job it submits, apart from the pool (so the
/// loom models can run the job on a thread of their own). The job returns whether `f`'s
/// result was delivered to the task (`false`: the task was dropped before the job
/// started, so `f` never ran, or before `f` returned, so the result was dropped).
/// Everything needed to run a foreign wait: on a pool helper, or on a blocked thread.
#[derive(Clone)]
pub(crate) struct Runner {
    pool: Arc<Pool>,
    key: Option<usize>,
    entry: Arc<Foreign>,
}

/// What running the foreign wait for a while came to.
enum Ran {
    /// Signalled or failed: the awaiters are released.
    Ended,
    /// Every awaiter is gone: the wait is over, unsignalled.
    Canceled,
    /// The runner's own deadline passed first: the wait goes on elsewhere.
    OutOfTime(WaitSlice),
}

impl Runner {
    /// Runs `wait_slice` in slices until the foreign event is signalled, the wait fails or
    /// is canceled, or `deadline` passes.
    fn run(&self, mut wait_slice: WaitSlice, deadline: Option<Instant>) -> Ran {
        let entry = &self.entry;
        while !entry.is_canceled() {
            let slice = match deadline {
                None => self.pool.slice,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ran::OutOfTime(wait_slice);
                    }
                    left.min(self.pool.slice)
                }
            };
            match panic::catch_unwind(AssertUnwindSafe(|| wait_slice(slice))) {
                Ok(false) => continue,
                Ok(true) => {
                    // Leave first: a wait that starts after the signal gets a fresh helper
                    // instead of a stale "signalled".
                    self.leave();
                    entry.signaled.set();
                    return Ran::Ended;
                }
                Err(payload) => {
                    self.leave();
                    let message = panic_message(&*payload)
                        .unwrap_or("the foreign wait panicked")
                        .to_string();
                    entry.fail(message);
                    return Ran::Ended;
                }
            }
        }
        self.leave();
        // `wait_slice` (and with it a keyed wait's key) is dropped here, by the runner.
        Ran::Canceled
    }

    fn leave(&self) {
        if let Some(key) = self.key {
            self.pool.registry.leave(key, &self.entry);
        }
    }
}

/// How long a helper that picks up a new foreign wait leaves it to the thread that made
/// it, in case that thread is about to wait blockingly (and so run it itself, one hand-off
/// instead of two). Without it the woken helper took the wait first in about a quarter of
/// `wait_on(..).wait_blocking()` calls (BENCHMARKS.md).
const DIRECT_GRACE: Duration = Duration::from_micros(50);

/// Hands the foreign wait to a pool helper. The helper runs it unless a blocked thread
/// took it first (then the helper leaves at once; the thread hands it back if it stops
/// before the end). `grace`: a new wait, whose maker may still come to wait blockingly;
/// the helper gives it [`DIRECT_GRACE`] from now to do so before it takes the wait.
fn submit_helper(runner: Runner, grace: bool) {
    let pool = Arc::clone(&runner.pool);
    let submitted = grace.then(Instant::now);
    pool.submit(Box::new(move || {
        if let Some(submitted) = submitted {
            // `wait_slice` reports whether the event is signalled, not whether it fired
            // during the call, so starting it a few microseconds later loses no signal.
            // Yielding, so that on a single core the maker gets to run (`std`'s: this is a
            // pool thread, which no loom model drives).
            while runner.entry.has_wait_slice()
                && !runner.entry.is_canceled()
                && !runner.entry.is_polled()
                && submitted.elapsed() < DIRECT_GRACE
            {
                std::thread::yield_now();
            }
        }
        if let Some(wait_slice) = runner.entry.take_wait_slice() {
            let _ = runner.run(wait_slice, None);
        }
    }));
}

pub(crate) fn blocking_job<R, F>(f: F) -> (BlockingTask<R>, impl FnOnce() -> bool + Send + 'static)
where
    R: Send + 'static,
    F: FnOnce(&CancelToken) -> R + Send + 'static,
{
    let token = CancelToken {
        canceled: Arc::new(AsyncEvent::new()),
    };
    let cancel = token.clone();
    let (completer, future) = waitable();
    let future = future.on_cancel(move || cancel.canceled.set());
    let job = move || {
        if completer.is_canceled() {
            return false;
        }
        let result =
            panic::catch_unwind(AssertUnwindSafe(|| f(&token))).map_err(Panicked::from_payload);
        // Err only if the task was dropped meanwhile: nobody wants the result.
        completer.complete(result).is_ok()
    };
    (BlockingTask { result: future }, job)
}

pin_project! {
    /// A foreign blocking wait as a future; from [`wait_on`], [`Waiters::wait_on`] or
    /// [`Waiters::wait_on_keyed`].
    ///
    /// Resolves once the foreign wait ended: `Ok(())` when the foreign event was
    /// signalled, `Err(Panicked)` when `wait_slice` panicked (the awaiters are released
    /// rather than left hanging, but never as if signalled). Also waitable blockingly.
    /// Dropping it cancels the wait (for keyed waits: once the last awaiter of the key is
    /// dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let wait = anywait::wait_on(|_slice| true); // signalled at once
    /// assert!(smol::block_on(wait).is_ok());
    /// ```
    #[must_use = "dropping a ForeignWait cancels the wait"]
    pub struct ForeignWait {
        #[pin]
        wait: LatchWait<Arc<Foreign>>,
        // How to run the foreign wait on a blocked caller's own thread.
        runner: Option<Runner>,
    }

    impl PinnedDrop for ForeignWait {
        fn drop(this: Pin<&mut Self>) {
            this.project().wait.source().detach();
        }
    }
}

impl ForeignWait {
    /// A wait on `entry` with no way to run it directly (the unit models' form).
    #[cfg_attr(not(all(test, anywait_loom)), allow(dead_code))]
    fn new(entry: Arc<Foreign>) -> Self {
        ForeignWait {
            wait: LatchWait::new(entry),
            runner: None,
        }
    }

    fn with_runner(runner: Runner) -> Self {
        ForeignWait {
            wait: LatchWait::new(Arc::clone(&runner.entry)),
            runner: Some(runner),
        }
    }

    /// One hand-off instead of two: when no helper has started the foreign wait yet, a
    /// blocked thread runs it itself until it ends or `deadline` passes (then it hands the
    /// wait back to the pool, so the other awaiters are still served). `None` when a helper
    /// (or another blocked thread) runs it, or inside an SDK callback scope.
    fn wait_direct(&self, deadline: Option<Instant>) -> Option<bool> {
        if crate::core::waiter::in_callback_scope() {
            return None;
        }
        let runner = self.runner.as_ref()?;
        let wait_slice = runner.entry.take_wait_slice()?;
        match runner.run(wait_slice, deadline) {
            Ran::Ended => Some(true),
            // Cannot happen while this awaiter lives; nothing to hand back either way.
            Ran::Canceled => Some(false),
            Ran::OutOfTime(wait_slice) => {
                runner.entry.put_wait_slice(wait_slice);
                submit_helper(runner.clone(), false);
                Some(false)
            }
        }
    }

    fn entry(&self) -> &Foreign {
        self.wait.source()
    }

    /// Attaches an interrupt hook: when the wait is canceled (the last awaiter dropped
    /// before the signal), `interrupt` runs on the dropping thread so that the foreign
    /// wait returns early — a C "cancel wait" call, a condvar notify, an eventfd write —
    /// and the helper exits at once instead of finishing its slice. Replaces an earlier
    /// hook of the same wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Condvar, Mutex};
    /// use std::time::Duration;
    ///
    /// let poke = Arc::new((Mutex::new(false), Condvar::new()));
    /// let foreign = poke.clone();
    /// let pool = anywait::Waiters::builder().slice(Duration::from_secs(3600)).build();
    /// let wait = pool
    ///     .wait_on(move |slice| {
    ///         let (lock, cvar) = &*foreign;
    ///         let guard = lock.lock().unwrap();
    ///         let _ = cvar.wait_timeout_while(guard, slice, |poked| !*poked).unwrap();
    ///         false // poked, not signalled
    ///     })
    ///     .with_interrupt(move || {
    ///         *poke.0.lock().unwrap() = true;
    ///         poke.1.notify_all();
    ///     });
    /// drop(wait); // the helper leaves now, not in an hour
    /// ```
    pub fn with_interrupt(self, interrupt: impl Fn() + Send + Sync + 'static) -> Self {
        let interrupt: Interrupt = Arc::new(interrupt);
        self.entry().set_interrupt(interrupt);
        self
    }

    /// Whether the foreign wait ended: the event was signalled, or its wait failed (see
    /// [`outcome`](Self::outcome) for which).
    ///
    /// # Examples
    ///
    /// ```
    /// let wait = anywait::wait_on(|_| true);
    /// wait.wait_blocking().unwrap();
    /// assert!(wait.is_signaled());
    /// ```
    pub fn is_signaled(&self) -> bool {
        self.entry().signaled.is_set()
    }

    /// How the foreign wait ended, without waiting: `None` while it goes on, `Some(Ok(()))`
    /// once signalled, `Some(Err(Panicked))` if `wait_slice` panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let wait = anywait::wait_on(|_| panic!("foreign wait broke"));
    /// let _ = wait.wait_blocking();
    /// let err = wait.outcome().unwrap().unwrap_err();
    /// assert_eq!(err.message(), Some("foreign wait broke"));
    /// ```
    pub fn outcome(&self) -> Option<Result<(), Panicked>> {
        self.is_signaled().then(|| self.ended())
    }

    /// The outcome once the `signaled` event is set.
    fn ended(&self) -> Result<(), Panicked> {
        match self.entry().failure() {
            None => Ok(()),
            Some(message) => Err(Panicked::from_payload(Box::new(message.to_string()))),
        }
    }

    /// If the foreign wait panicked: its message. The awaiters were released rather than
    /// left hanging, so check this after a wait returns if `wait_slice` can panic.
    ///
    /// # Examples
    ///
    /// ```
    /// let wait = anywait::wait_on(|_| panic!("foreign wait broke"));
    /// assert!(wait.wait_blocking().is_err()); // released, not hung, not signalled
    /// assert_eq!(wait.panic_message(), Some("foreign wait broke"));
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        self.entry().failure()
    }

    /// Blocks the calling thread until the foreign wait ends; `Err` if `wait_slice`
    /// panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// anywait::wait_on(|_| true).wait_blocking().unwrap();
    /// ```
    pub fn wait_blocking(&self) -> Result<(), Panicked> {
        if self.wait_direct(None) != Some(true) {
            self.entry().signaled.wait_blocking();
        }
        self.ended()
    }

    /// [`wait_blocking`](Self::wait_blocking) that returns [`WouldDeadlock`] instead of
    /// blocking inside an SDK callback scope.
    ///
    /// # Examples
    ///
    /// ```
    /// let wait = anywait::wait_on(|slice| { std::thread::park_timeout(slice); false });
    /// anywait::ffi::callback_scope(|| {
    ///     assert!(matches!(wait.wait_blocking_checked(), Err(anywait::WouldDeadlock)));
    /// });
    /// ```
    pub fn wait_blocking_checked(&self) -> Result<Result<(), Panicked>, WouldDeadlock> {
        if self.wait_direct(None) != Some(true) {
            self.entry().signaled.wait_blocking_checked()?;
        }
        Ok(self.ended())
    }

    /// Blocks for at most `timeout`; `true` when the wait ended, `false` on timeout (the
    /// wait goes on: wait or await again). After `true`, [`outcome`](Self::outcome) says
    /// whether it was signalled or failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let wait = anywait::wait_on(|slice| { std::thread::park_timeout(slice); false });
    /// assert!(!wait.wait_timeout(Duration::from_millis(1)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.wait_deadline(deadline),
            None => self.wait_blocking_checked().is_ok(),
        }
    }

    /// Blocks until `deadline` at the latest; `true` when the wait ended, `false` on
    /// timeout; as [`wait_timeout`](Self::wait_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let wait = anywait::wait_on(|_| true);
    /// assert!(wait.wait_deadline(Instant::now() + Duration::from_secs(10)));
    /// ```
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        match self.wait_direct(Some(deadline)) {
            Some(ended) => ended,
            None => self.entry().signaled.wait_deadline(deadline),
        }
    }
}

impl Future for ForeignWait {
    type Output = Result<(), Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.entry().mark_polled();
        match self.as_mut().project().wait.poll_wait(cx) {
            Poll::Ready(()) => Poll::Ready(self.ended()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl FusedFuture for ForeignWait {
    fn is_terminated(&self) -> bool {
        self.wait.is_done()
    }
}

impl fmt::Debug for ForeignWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForeignWait")
            .field("signaled", &self.is_signaled())
            .finish()
    }
}

/// Blocking work running on a [`Waiters`] pool; from [`run_blocking`] or
/// [`Waiters::run_blocking`].
///
/// A future resolving to `Result<R, Panicked>`, also waitable blockingly. Dropping it
/// before it finishes cancels the closure's [`CancelToken`] (and a task that has not
/// started yet never runs).
///
/// # Examples
///
/// ```
/// let task = anywait::run_blocking(|_| 1 + 1);
/// assert_eq!(task.wait_blocking().unwrap(), 2);
/// ```
#[must_use = "dropping a BlockingTask cancels it"]
pub struct BlockingTask<R> {
    result: WaitableFuture<Result<R, Panicked>>,
}

fn not_run(_: Abandoned) -> Panicked {
    Panicked::from_payload(Box::new(
        "the waiter pool dropped the task without running it (no thread could be started)",
    ))
}

impl<R> BlockingTask<R> {
    /// Blocks the calling thread until the closure has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// let task = anywait::run_blocking(|_| "done");
    /// assert_eq!(task.wait_blocking().unwrap(), "done");
    /// ```
    pub fn wait_blocking(self) -> Result<R, Panicked> {
        let BlockingTask { result } = self;
        result
            .wait_blocking()
            .unwrap_or_else(|abandoned| Err(not_run(abandoned)))
    }

    /// Blocks for at most `timeout`. On `Err(Elapsed)` the task is intact (and still
    /// running): wait or await it again, or drop it to cancel it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (go, wait_for_go) = std::sync::mpsc::channel::<()>();
    /// let mut task = anywait::run_blocking(move |_| wait_for_go.recv().is_ok());
    /// assert_eq!(task.wait_timeout(Duration::ZERO).unwrap_err(), anywait::Elapsed);
    /// go.send(()).unwrap();
    /// assert!(task.wait_timeout(Duration::from_secs(60)).unwrap().unwrap());
    /// ```
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Result<R, Panicked>, Elapsed> {
        Self::timed(self.result.wait_timeout(timeout))
    }

    /// Blocks until `deadline` at the latest; as [`wait_timeout`](Self::wait_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let mut task = anywait::run_blocking(|_| 7);
    /// let deadline = Instant::now() + Duration::from_secs(60);
    /// assert_eq!(task.wait_deadline(deadline).unwrap().unwrap(), 7);
    /// ```
    pub fn wait_deadline(&mut self, deadline: Instant) -> Result<Result<R, Panicked>, Elapsed> {
        Self::timed(self.result.wait_deadline(deadline))
    }

    /// [`wait_blocking`](Self::wait_blocking) that returns [`WouldDeadlock`] instead of
    /// blocking inside an SDK callback scope; the task is then intact.
    ///
    /// # Examples
    ///
    /// ```
    /// let (go, wait_for_go) = std::sync::mpsc::channel::<()>();
    /// let mut task = anywait::run_blocking(move |_| wait_for_go.recv().is_ok());
    /// anywait::ffi::callback_scope(|| {
    ///     assert!(task.wait_blocking_checked().is_err());
    /// });
    /// go.send(()).unwrap();
    /// assert!(task.wait_blocking_checked().unwrap().unwrap());
    /// ```
    pub fn wait_blocking_checked(&mut self) -> Result<Result<R, Panicked>, WouldDeadlock> {
        let result = self.result.wait_blocking_checked()?;
        Ok(result.unwrap_or_else(|abandoned| Err(not_run(abandoned))))
    }

    fn timed(
        waited: Result<Result<R, Panicked>, WaitError>,
    ) -> Result<Result<R, Panicked>, Elapsed> {
        match waited {
            Ok(result) => Ok(result),
            Err(WaitError::Timeout) => Err(Elapsed),
            Err(WaitError::Abandoned) => Ok(Err(not_run(Abandoned))),
        }
    }

    /// Whether the closure has finished (or panicked).
    ///
    /// # Examples
    ///
    /// ```
    /// let task = anywait::run_blocking(|_| ());
    /// let task_done = loop {
    ///     if task.is_finished() { break true; }
    ///     std::thread::yield_now();
    /// };
    /// assert!(task_done);
    /// ```
    pub fn is_finished(&self) -> bool {
        self.result.is_complete()
    }
}

impl<R> Future for BlockingTask<R> {
    type Output = Result<R, Panicked>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().result)
            .poll(cx)
            .map(|result| result.unwrap_or_else(|abandoned| Err(not_run(abandoned))))
    }
}

impl<R> FusedFuture for BlockingTask<R> {
    fn is_terminated(&self) -> bool {
        self.result.is_terminated()
    }
}

impl<R> fmt::Debug for BlockingTask<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingTask")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Tells blocking work that its [`BlockingTask`] was dropped: the awaiting side gave up.
///
/// Cloneable, so the work can hand it to threads of its own.
///
/// # Examples
///
/// ```
/// let (tx, rx) = std::sync::mpsc::channel();
/// let task = anywait::run_blocking(move |token| {
///     tx.send(()).unwrap();
///     token.wait_canceled_timeout(std::time::Duration::from_secs(60))
/// });
/// rx.recv().unwrap(); // the closure is running
/// drop(task);         // cancel: the closure returns at once with `true`
/// ```
#[derive(Clone)]
pub struct CancelToken {
    canceled: Arc<AsyncEvent>,
}

impl CancelToken {
    /// Whether the task was canceled. One atomic load.
    ///
    /// # Examples
    ///
    /// ```
    /// let task = anywait::run_blocking(|token| token.is_canceled());
    /// assert_eq!(task.wait_blocking().unwrap(), false);
    /// ```
    pub fn is_canceled(&self) -> bool {
        self.canceled.is_set()
    }

    /// A future that resolves once the task is canceled.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let task = anywait::run_blocking(move |token| {
    ///     tx.send(()).unwrap();
    ///     pollster::block_on(token.canceled());
    /// });
    /// rx.recv().unwrap();
    /// drop(task);
    /// ```
    pub fn canceled(&self) -> EventWait<'_> {
        self.canceled.wait()
    }

    /// Blocks for at most `timeout` waiting for cancellation: `true` if canceled. Handy as
    /// the "sleep" between steps of blocking work.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let task = anywait::run_blocking(|token| token.wait_canceled_timeout(Duration::ZERO));
    /// assert_eq!(task.wait_blocking().unwrap(), false);
    /// ```
    pub fn wait_canceled_timeout(&self, timeout: Duration) -> bool {
        self.canceled.wait_timeout(timeout)
    }

    /// Blocks until `deadline` at the latest waiting for cancellation: `true` if canceled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    ///
    /// let task = anywait::run_blocking(|token| token.wait_canceled_deadline(Instant::now()));
    /// assert_eq!(task.wait_blocking().unwrap(), false);
    /// ```
    pub fn wait_canceled_deadline(&self, deadline: Instant) -> bool {
        self.canceled.wait_deadline(deadline)
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("canceled", &self.is_canceled())
            .finish()
    }
}
