//! One foreign wait shared by all its awaiters, and the per-pool registry of keyed waits.
//!
//! ```text
//!                  attach (awaiters += 1, only while > 0)
//!                 ┌──────┐
//!                 ▼      │
//!   ┌──────────────────────┐  wait_slice returned true  ┌──────────┐
//!   │ Waiting (awaiters>0) │ ─────────────────────────► │ Signaled │ fan-out: every
//!   └──────────────────────┘  (or it panicked: Failed)  └──────────┘ awaiter released
//!                 │ last detach (awaiters 1 -> 0)
//!                 ▼
//!   ┌──────────────────────┐  the helper sees it after its slice (or at once, woken by
//!   │ Canceled (terminal)  │  the interrupt hook), leaves the registry and drops the key
//!   └──────────────────────┘
//! ```
//!
//! `awaiters` never rises again once it reached 0: a new wait on the same key then
//! creates a new entry (and helper) instead of reviving a canceled one.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::core::latch::{Latch, LatchRef};
use crate::event::AsyncEvent;
use crate::panics::{contain, HookKind};
use crate::sync::{lock, AtomicBool, AtomicUsize, Mutex, OnceCell, Ordering};

/// An interrupt hook: pokes a blocked foreign wait so it returns early.
pub(crate) type Interrupt = Arc<dyn Fn() + Send + Sync>;

/// The foreign wait itself, `wait_slice` with its key bound.
pub(crate) type WaitSlice = Box<dyn FnMut(Duration) -> bool + Send>;

/// One foreign event being waited on by one helper, shared by its awaiters.
pub(crate) struct Foreign {
    /// Set by the helper when the foreign wait reports the signal (or fails).
    pub(crate) signaled: AsyncEvent,
    /// Live awaiter handles; 0 is terminal (canceled).
    awaiters: AtomicUsize,
    /// Run by the last awaiter's drop, after canceling.
    interrupt: Mutex<Option<Interrupt>>,
    /// The panic message, if the foreign wait panicked.
    failure: OnceCell<String>,
    /// The foreign wait, until whoever runs it takes it: a pool helper, or a thread that
    /// waits blockingly before any helper started (one hand-off instead of two). Whoever
    /// holds it and stops before the end puts it back and hands it to the pool.
    wait_slice: Mutex<Option<WaitSlice>>,
    /// A task has polled the wait: a helper that picks it up need not leave it to a
    /// blocked thread first.
    polled: AtomicBool,
}

impl Foreign {
    /// A new entry with one awaiter (the caller's).
    pub(crate) fn new() -> Self {
        Foreign {
            signaled: AsyncEvent::new(),
            awaiters: AtomicUsize::new(1),
            interrupt: Mutex::new(None),
            failure: OnceCell::new(),
            wait_slice: Mutex::new(None),
            polled: AtomicBool::new(false),
        }
    }

    /// Adds an awaiter unless the entry is already canceled.
    fn try_attach(&self) -> bool {
        // ORDERING: Relaxed first read; the compare-exchange decides.
        let mut n = self.awaiters.load(Ordering::Relaxed);
        loop {
            if n == 0 {
                return false;
            }
            // ORDERING: AcqRel so the attach is ordered with a concurrent last detach.
            match self
                .awaiters
                .compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => n = actual,
            }
        }
    }

    /// Removes an awaiter. The last one cancels the wait and runs the interrupt hook (on
    /// this thread, outside every lock) unless the event already fired.
    pub(crate) fn detach(&self) {
        // ORDERING: AcqRel: the helper's Acquire load of 0 sees everything before it.
        if self.awaiters.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        if self.signaled.is_set() {
            return;
        }
        let interrupt = lock(&self.interrupt).clone();
        if let Some(interrupt) = interrupt {
            contain(HookKind::InterruptHook, || interrupt());
        }
    }

    /// Whether every awaiter is gone.
    pub(crate) fn is_canceled(&self) -> bool {
        // ORDERING: Acquire pairs with the last detach.
        self.awaiters.load(Ordering::Acquire) == 0
    }

    /// Sets (replaces) the interrupt hook. Called through a live awaiter, so the wait is
    /// not canceled yet and the last detach will see the hook.
    pub(crate) fn set_interrupt(&self, interrupt: Interrupt) {
        let old = lock(&self.interrupt).replace(interrupt);
        drop(old); // outside the lock
    }

    /// Records that the foreign wait panicked, and releases every awaiter.
    pub(crate) fn fail(&self, message: String) {
        let _ = self.failure.set(message);
        self.signaled.set();
    }

    /// Stores the foreign wait for whoever runs it first.
    pub(crate) fn put_wait_slice(&self, wait_slice: WaitSlice) {
        let old = lock(&self.wait_slice).replace(wait_slice);
        debug_assert!(old.is_none(), "one foreign wait per entry");
    }

    /// Whether nobody took the foreign wait to run it yet.
    pub(crate) fn has_wait_slice(&self) -> bool {
        lock(&self.wait_slice).is_some()
    }

    /// Records that a task polled the wait (see [`Foreign::polled`]).
    pub(crate) fn mark_polled(&self) {
        // ORDERING: a hint that only shortens the helper's grace; Relaxed suffices.
        if !self.polled.load(Ordering::Relaxed) {
            self.polled.store(true, Ordering::Relaxed);
        }
    }

    /// Whether a task polled the wait.
    pub(crate) fn is_polled(&self) -> bool {
        // ORDERING: a hint, as above.
        self.polled.load(Ordering::Relaxed)
    }

    /// Takes the foreign wait to run it; `None` if a helper or a blocked thread runs it.
    pub(crate) fn take_wait_slice(&self) -> Option<WaitSlice> {
        lock(&self.wait_slice).take()
    }

    /// The panic message of a foreign wait that panicked.
    pub(crate) fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }
}

impl LatchRef for Arc<Foreign> {
    fn latch(&self) -> &Latch {
        self.signaled.latch()
    }
}

/// Keyed waits of one pool: key address -> the entry whose helper waits on that key.
///
/// Holds only `Weak`s and addresses, never a key: a live entry's helper holds its key, so
/// an address in the map cannot be reused by another key while the entry is live.
pub(crate) struct Registry {
    entries: Mutex<HashMap<usize, Weak<Foreign>>>,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Registry {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Joins the live wait on `key` or, if there is none, registers a new entry. Returns
    /// the entry and whether the caller must start its helper.
    pub(crate) fn attach(&self, key: usize) -> (Arc<Foreign>, bool) {
        let mut entries = lock(&self.entries);
        if let Some(entry) = entries.get(&key).and_then(Weak::upgrade) {
            if entry.try_attach() {
                return (entry, false);
            }
        }
        let entry = Arc::new(Foreign::new());
        entries.insert(key, Arc::downgrade(&entry));
        (entry, true)
    }

    /// Forgets `entry` (its helper is leaving) unless a newer entry took its key.
    pub(crate) fn leave(&self, key: usize, entry: &Arc<Foreign>) {
        let mut entries = lock(&self.entries);
        if entries
            .get(&key)
            .is_some_and(|current| std::ptr::eq(current.as_ptr(), Arc::as_ptr(entry)))
        {
            entries.remove(&key);
        }
    }

    /// How many keys have a registered wait (for tests and debugging).
    pub(crate) fn len(&self) -> usize {
        lock(&self.entries).len()
    }
}
