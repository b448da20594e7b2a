//! [`Waiters`]: the thread pool behind foreign waits and blocking work, separate from
//! every runtime's blocking pool.
//!
//! ```text
//!             submit: queue the job; wake an idle thread, or spawn one if live < max
//!   ┌──────────┐ ─────────────────────────────────────────────────────────────┐
//!   │  queue   │                                                              ▼
//!   │ (FIFO)   │ ◄── job done: take the next job ──┐                  ┌────────────┐
//!   └──────────┘                                   └───────────────── │  running   │
//!        │ empty                                                      └────────────┘
//!        ▼
//!   ┌──────────┐  keep_alive passes with the queue empty  ┌─────────────────────────┐
//!   │   idle   │ ────────────────────────────────────────►│ exited (live -= 1, last │
//!   └──────────┘                                          │ act of the thread)      │
//!                                                         └─────────────────────────┘
//! ```
//!
//! `live` counts OS threads from before their spawn until their last act, so the limit
//! bounds real threads (trio's semantics), including threads whose awaiters are gone but
//! whose foreign wait has not returned yet.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

// The pool runs on `std` directly, also under `cfg(anywait_loom)`: loom cannot model a
// condvar with timeouts, so no loom model drives the pool (see `crate::sync`).

use super::registry::Registry;

/// A unit of work for a pool thread. It must not let a panic escape (the pool catches one
/// anyway, so a thread survives it).
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// Default [`WaitersBuilder::max_threads`].
pub const DEFAULT_MAX_THREADS: usize = 128;
/// Default [`WaitersBuilder::keep_alive`].
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Default [`WaitersBuilder::slice`].
pub const DEFAULT_SLICE: Duration = Duration::from_millis(100);

/// A pool of waiter threads for foreign blocking waits ([`Waiters::wait_on`],
/// [`Waiters::wait_on_keyed`]) and blocking work ([`Waiters::run_blocking`]).
///
/// - Its limit ([`max_threads`](WaitersBuilder::max_threads)) counts real OS threads
///   until they exit; work beyond it queues, in order.
/// - Idle threads exit after [`keep_alive`](WaitersBuilder::keep_alive); an unused pool
///   holds no threads.
/// - Threads are named `anywait-waiter-N`.
/// - It is independent of every runtime's blocking pool, so a foreign wait can never
///   starve (or be starved by) tokio's `spawn_blocking` and the like.
///
/// Cloning a `Waiters` shares the pool. [`Waiters::global`] is the process-wide default
/// used by [`wait_on`](crate::wait_on) and [`run_blocking`](crate::run_blocking).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let pool = anywait::Waiters::builder()
///     .max_threads(4)
///     .keep_alive(Duration::from_secs(1))
///     .slice(Duration::from_millis(20))
///     .build();
/// let task = pool.run_blocking(|_token| 6 * 7);
/// assert_eq!(task.wait_blocking().unwrap(), 42);
/// ```
#[derive(Clone)]
pub struct Waiters {
    pub(crate) pool: Arc<Pool>,
}

/// Configures a [`Waiters`] pool; from [`Waiters::builder`].
///
/// # Examples
///
/// ```
/// let pool = anywait::Waiters::builder().max_threads(2).build();
/// assert_eq!(pool.max_threads(), 2);
/// ```
#[derive(Clone, Debug)]
#[must_use = "call build() to create the pool"]
pub struct WaitersBuilder {
    max_threads: usize,
    keep_alive: Duration,
    slice: Duration,
}

pub(crate) struct Pool {
    max_threads: usize,
    keep_alive: Duration,
    pub(crate) slice: Duration,
    state: Mutex<PoolState>,
    work_ready: Condvar,
    pub(crate) registry: Registry,
    thread_names: AtomicUsize,
}

struct PoolState {
    queue: VecDeque<Job>,
    /// Threads spawned and not yet at their last act.
    live: usize,
    /// Threads waiting on `work_ready`.
    idle: usize,
}

impl WaitersBuilder {
    /// The most threads the pool runs at once (at least 1). Default
    /// [`DEFAULT_MAX_THREADS`].
    ///
    /// Each foreign wait occupies a thread until its event fires or its last awaiter is
    /// gone (plus at most one slice); keyed waits share one thread per key. Waits beyond
    /// the limit queue until a thread is free.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = anywait::Waiters::builder().max_threads(8).build();
    /// assert_eq!(pool.max_threads(), 8);
    /// ```
    pub fn max_threads(mut self, max_threads: usize) -> Self {
        self.max_threads = max_threads.max(1);
        self
    }

    /// How long an idle thread waits for work before it exits. Default
    /// [`DEFAULT_KEEP_ALIVE`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = anywait::Waiters::builder().keep_alive(Duration::from_millis(100)).build();
    /// assert_eq!(pool.keep_alive(), Duration::from_millis(100));
    /// ```
    pub fn keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = keep_alive;
        self
    }

    /// The longest a foreign wait blocks before its helper checks for cancellation
    /// (the `Duration` passed to each `wait_slice` call). It bounds how long a helper
    /// lingers after its last awaiter is dropped, when no interrupt hook is set. Default
    /// [`DEFAULT_SLICE`]; at least 1 ms.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = anywait::Waiters::builder().slice(Duration::from_millis(10)).build();
    /// assert_eq!(pool.slice(), Duration::from_millis(10));
    /// ```
    pub fn slice(mut self, slice: Duration) -> Self {
        self.slice = slice.max(Duration::from_millis(1));
        self
    }

    /// Creates the pool. No thread starts until work arrives.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = anywait::Waiters::builder().build();
    /// assert_eq!(pool.live_threads(), 0);
    /// ```
    pub fn build(self) -> Waiters {
        Waiters {
            pool: Arc::new(Pool {
                max_threads: self.max_threads,
                keep_alive: self.keep_alive,
                slice: self.slice,
                state: Mutex::new(PoolState {
                    queue: VecDeque::new(),
                    live: 0,
                    idle: 0,
                }),
                work_ready: Condvar::new(),
                registry: Registry::new(),
                thread_names: AtomicUsize::new(0),
            }),
        }
    }
}

impl Default for WaitersBuilder {
    fn default() -> Self {
        WaitersBuilder {
            max_threads: DEFAULT_MAX_THREADS,
            keep_alive: DEFAULT_KEEP_ALIVE,
            slice: DEFAULT_SLICE,
        }
    }
}

impl Waiters {
    /// A builder with the defaults ([`DEFAULT_MAX_THREADS`], [`DEFAULT_KEEP_ALIVE`],
    /// [`DEFAULT_SLICE`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = anywait::Waiters::builder().build();
    /// assert_eq!(pool.max_threads(), anywait::waiter::DEFAULT_MAX_THREADS);
    /// ```
    pub fn builder() -> WaitersBuilder {
        WaitersBuilder::default()
    }

    /// The process-wide default pool, with the default settings. Used by
    /// [`wait_on`](crate::wait_on) and [`run_blocking`](crate::run_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = anywait::Waiters::global();
    /// let b = anywait::Waiters::global();
    /// assert_eq!(a.max_threads(), b.max_threads());
    /// ```
    pub fn global() -> &'static Waiters {
        static GLOBAL: OnceLock<Waiters> = OnceLock::new();
        GLOBAL.get_or_init(|| Waiters::builder().build())
    }

    /// The thread limit.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(anywait::Waiters::builder().max_threads(3).build().max_threads(), 3);
    /// ```
    pub fn max_threads(&self) -> usize {
        self.pool.max_threads
    }

    /// How long idle threads linger.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(anywait::Waiters::global().keep_alive(), anywait::waiter::DEFAULT_KEEP_ALIVE);
    /// ```
    pub fn keep_alive(&self) -> std::time::Duration {
        self.pool.keep_alive
    }

    /// The slice length given to foreign waits.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(anywait::Waiters::global().slice(), anywait::waiter::DEFAULT_SLICE);
    /// ```
    pub fn slice(&self) -> std::time::Duration {
        self.pool.slice
    }

    /// How many threads the pool has right now (running, idle, or finishing their last
    /// act).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = anywait::Waiters::builder().build();
    /// assert_eq!(pool.live_threads(), 0);
    /// pool.run_blocking(|_| ()).wait_blocking().unwrap();
    /// assert!(pool.live_threads() <= 1);
    /// ```
    pub fn live_threads(&self) -> usize {
        self.pool.lock().live
    }

    /// How many jobs wait for a free thread.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(anywait::Waiters::builder().build().queued(), 0);
    /// ```
    pub fn queued(&self) -> usize {
        self.pool.lock().queue.len()
    }
}

impl fmt::Debug for Waiters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.pool.lock();
        f.debug_struct("Waiters")
            .field("max_threads", &self.pool.max_threads)
            .field("keep_alive", &self.pool.keep_alive)
            .field("slice", &self.pool.slice)
            .field("live_threads", &state.live)
            .field("idle_threads", &state.idle)
            .field("queued", &state.queue.len())
            .finish()
    }
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `job`; wakes an idle thread or starts a new one if under the limit.
    pub(crate) fn submit(self: &Arc<Self>, job: Job) {
        let mut state = self.lock();
        state.queue.push_back(job);
        let spawn = if state.idle > state.queue.len() - 1 {
            false
        } else if state.live < self.max_threads {
            state.live += 1;
            true
        } else {
            false
        };
        drop(state);
        if !spawn {
            // Wake outside the lock; a spurious notify is harmless.
            self.work_ready.notify_one();
            return;
        }
        let id = self.thread_names.fetch_add(1, Ordering::Relaxed) + 1;
        let pool = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name(format!("anywait-waiter-{id}"))
            .spawn(move || pool.work());
        if let Err(error) = spawned {
            // No thread: roll back. If no thread at all is left to run the queue, drop
            // the queued jobs, which resolves their futures with errors instead of hangs.
            let mut state = self.lock();
            state.live -= 1;
            let orphaned = if state.live == 0 {
                std::mem::take(&mut state.queue)
            } else {
                VecDeque::new()
            };
            drop(state);
            drop(orphaned);
            let _ = error;
        }
    }

    /// A pool thread's life: run jobs in order; exit after `keep_alive` without work.
    fn work(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                // A job should not panic (the pool's own jobs catch user panics); if one
                // does, the thread survives and carries on.
                let _ = panic::catch_unwind(AssertUnwindSafe(job));
                state = self.lock();
                continue;
            }
            let idle_until = Instant::now() + self.keep_alive;
            loop {
                let now = Instant::now();
                if now >= idle_until {
                    // The last act of this thread: give its slot back.
                    state.live -= 1;
                    return;
                }
                state.idle += 1;
                state = match self.work_ready.wait_timeout(state, idle_until - now) {
                    Ok((guard, _)) => guard,
                    Err(poisoned) => poisoned.into_inner().0,
                };
                state.idle -= 1;
                if !state.queue.is_empty() {
                    break;
                }
            }
        }
    }
}
