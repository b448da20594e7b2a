//! The one place where anywait chooses between `std` and `loom`.
//!
//! Algorithm code imports atomics, cells, `Arc`, `Mutex` and thread parking from here
//! and never mentions `cfg(anywait_loom)` itself. The std side offers loom's API
//! (`UnsafeCell::with` / `with_mut`) so the two are drop-in replacements.
//!
//! The cfg is crate-prefixed (`anywait_loom`) so that a downstream `--cfg loom` never
//! switches anywait's internals.
//!
//! What stays on `std` on purpose, because loom cannot model it: `std::sync::Weak` (loom has
//! no weak references; `SharedWaitable`'s fan-out waker and the waiter registry hold one),
//! the `Arc`s of the public API (`Arc<AsyncEvent>`, keys of keyed waits: the user's own
//! `std` `Arc`s), `std::sync::Arc<impl Wake>` behind a `Waker`, and the waiter pool (a
//! condvar with timeouts, which loom does not model). Everything else goes through here.

#[cfg(not(anywait_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

    /// An array of null atomic pointers, usable in a `static`'s initialiser.
    pub(crate) const fn null_ptr_array<T, const N: usize>() -> [AtomicPtr<T>; N] {
        [const { AtomicPtr::new(std::ptr::null_mut()) }; N]
    }
    pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

    /// Rounds of spinning a blocking consumer tries before it parks.
    pub(crate) const SPIN_ROUNDS: u32 = 10;

    /// An `Arc` made from a `std` one (unsized values: `Arc<dyn Fn>`).
    pub(crate) fn arc_from_std<T: ?Sized>(arc: std::sync::Arc<T>) -> Arc<T> {
        arc
    }

    /// `std::cell::UnsafeCell` with loom's closure-based access API.
    #[derive(Debug, Default)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T: ?Sized>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }
    }

    impl<T: ?Sized> UnsafeCell<T> {
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    pub(crate) mod thread {
        pub(crate) use std::thread::{current, park, park_timeout, yield_now, Thread};
    }

    /// Marks a heap block so loom reports it if it leaks; zero-sized outside loom. In the
    /// unit tests it also counts, per thread, the blocks created minus the blocks freed
    /// ([`LeakTrack::live_on_this_thread`]), so that a test running both handles on one
    /// thread sees a block that neither side freed.
    #[derive(Debug)]
    pub(crate) struct LeakTrack;

    #[cfg(test)]
    std::thread_local! {
        static LIVE: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
    }

    impl LeakTrack {
        pub(crate) fn new() -> Self {
            #[cfg(test)]
            let _ = LIVE.try_with(|live| live.set(live.get() + 1));
            LeakTrack
        }

        /// Blocks created on this thread minus blocks freed on it (unit tests only).
        #[cfg(test)]
        pub(crate) fn live_on_this_thread() -> isize {
            LIVE.with(std::cell::Cell::get)
        }
    }

    #[cfg(test)]
    impl Drop for LeakTrack {
        fn drop(&mut self) {
            let _ = LIVE.try_with(|live| live.set(live.get() - 1));
        }
    }
}

#[cfg(anywait_loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

    /// An array of null atomic pointers (loom's are not `const`).
    pub(crate) fn null_ptr_array<T, const N: usize>() -> [AtomicPtr<T>; N] {
        std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut()))
    }
    pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};

    /// No spinning under loom: its models must not multiply by it.
    pub(crate) const SPIN_ROUNDS: u32 = 0;

    /// An `Arc` made from a `std` one (unsized values: `Arc<dyn Fn>`).
    pub(crate) fn arc_from_std<T: ?Sized>(arc: std::sync::Arc<T>) -> Arc<T> {
        Arc::from_std(arc)
    }

    pub(crate) mod thread {
        pub(crate) use loom::thread::{current, park, yield_now, Thread};

        /// loom has no clock: a timed park is modelled as a park that returns at once,
        /// which `std` allows too (spurious wake-up), so every caller already handles it.
        pub(crate) fn park_timeout(_dur: std::time::Duration) {
            loom::thread::yield_now();
        }
    }

    /// Marks a heap block so loom reports it if it is never freed.
    #[derive(Debug)]
    pub(crate) struct LeakTrack(#[allow(dead_code)] loom::alloc::Track<()>);

    impl LeakTrack {
        pub(crate) fn new() -> Self {
            LeakTrack(loom::alloc::Track::new(()))
        }
    }
}

pub(crate) use imp::*;

/// Locks `mutex`, ignoring poison: no anywait code panics while holding one of its locks,
/// and a user panic elsewhere must never make a primitive unusable.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Locks `mutex` if nobody holds it; `None` if somebody does (poison ignored, as
/// [`lock`]). For callers that would rather do something else than wait for the lock.
pub(crate) fn try_lock<T: ?Sized>(mutex: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// Declares a `const fn` that is a plain `fn` under loom, whose types have no const
/// constructors. Keeps `AsyncEvent::new` usable in a `static` without a cfg at each site.
macro_rules! const_fn_unless_loom {
    ($(#[$meta:meta])* $vis:vis fn $name:ident() -> $ret:ty $body:block) => {
        #[cfg(not(anywait_loom))]
        $(#[$meta])*
        $vis const fn $name() -> $ret $body

        #[cfg(anywait_loom)]
        $(#[$meta])*
        $vis fn $name() -> $ret $body
    };
}
pub(crate) use const_fn_unless_loom;

/// A cell written at most once, read without a lock afterwards: `std::sync::OnceLock`'s
/// `get` / `set`, built from the shim's atomics, mutex and cell so that loom sees it.
pub(crate) struct OnceCell<T> {
    /// Set (Release) once `value` holds a value; never cleared.
    ready: AtomicBool,
    /// Serialises writers.
    writing: Mutex<()>,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is written once, under `writing`, before `ready` is published with
// Release; readers read it only after an Acquire load of `ready` saw it set, and never
// write it. Sharing the cell shares `&T` (`T: Sync`); setting it moves a `T` in (`T: Send`).
unsafe impl<T: Send + Sync> Sync for OnceCell<T> {}
// SAFETY: sending the cell sends its value.
unsafe impl<T: Send> Send for OnceCell<T> {}

impl<T> OnceCell<T> {
    /// An empty cell.
    pub(crate) fn new() -> Self {
        OnceCell {
            ready: AtomicBool::new(false),
            writing: Mutex::new(()),
            value: UnsafeCell::new(None),
        }
    }

    /// The value, once set.
    pub(crate) fn get(&self) -> Option<&T> {
        // ORDERING: Acquire pairs with `set`'s Release: the value is fully written.
        if !self.ready.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: `ready` is set, so the value is written and never written again; only
        // shared references to it exist from here on.
        self.value.with(|cell| unsafe { (*cell).as_ref() })
    }

    /// Sets the value, or gives it back if the cell was already set.
    pub(crate) fn set(&self, value: T) -> Result<(), T> {
        let _writing = lock(&self.writing);
        // ORDERING: under the writers' lock, the last writer's Release store is visible.
        if self.ready.load(Ordering::Relaxed) {
            return Err(value);
        }
        // SAFETY: not ready, and we hold the writers' lock: no reader or writer touches
        // the cell.
        self.value.with_mut(|cell| unsafe { *cell = Some(value) });
        // ORDERING: Release publishes the value to `get`.
        self.ready.store(true, Ordering::Release);
        Ok(())
    }
}
