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

/// The lock behind a callback stream's state, outside loom. loom cannot model a spin lock
/// under a preemption bound (a spinner whose budget is spent is never switched away from,
/// however often it yields), so under loom [`SpinLock`] is loom's mutex instead: the
/// stream's models still see every acquisition and release. The lock's own code is
/// checked by `sync_tests::spin_lock_*` (Miri's data-race detector runs them) and by
/// ThreadSanitizer over the stream's stress tests and runtime matrix.
#[cfg(not(anywait_loom))]
mod spin {
    use super::{thread, AtomicBool, Ordering, UnsafeCell};

    /// Rounds of busy spinning (1, 2, 4, ... `spin_loop`s) a waiter tries before it yields
    /// its time slice instead.
    const SPIN_LOCK_ROUNDS: u32 = 6;

    /// A lock for critical sections of a constant number of steps that run no user code: a
    /// waiter spins, then yields its time slice, and never sleeps in the kernel, so the thread
    /// that releases the lock never makes a system call to wake it (an SDK thread's push must
    /// not). Not seen by loom (see the module docs). `repr(C)`: the flag comes first, on
    /// the cache line of the value's first fields.
    #[repr(C)]
    pub(crate) struct SpinLock<T> {
        locked: AtomicBool,
        value: UnsafeCell<T>,
    }

    // SAFETY: the value is reached only through a guard, and one guard exists at a time (the
    // `locked` flag, taken with Acquire and released with Release); handing the value from
    // thread to thread through it needs `T: Send`.
    unsafe impl<T: Send> Sync for SpinLock<T> {}
    // SAFETY: as above.
    unsafe impl<T: Send> Send for SpinLock<T> {}

    impl<T> SpinLock<T> {
        pub(crate) fn new(value: T) -> Self {
            SpinLock {
                locked: AtomicBool::new(false),
                value: UnsafeCell::new(value),
            }
        }

        /// Takes the lock: while another thread holds it, spins a few rounds watching the
        /// flag, then yields its time slice, and tries again.
        #[inline]
        pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
            // Straight to the swap: a thread that means to wait for the lock would only
            // fetch the line twice (shared, then exclusive) by looking first.
            match self.swap_lock() {
                Some(guard) => guard,
                None => self.lock_contended(),
            }
        }

        /// [`lock`](Self::lock) once a first swap found the lock held: out of line, so the
        /// uncontended path stays a swap.
        #[cold]
        #[inline(never)]
        fn lock_contended(&self) -> SpinGuard<'_, T> {
            loop {
                // Test before test-and-set: watch a shared copy of the line.
                let mut round = 0;
                // ORDERING: a hint; the swap in `swap_lock` acquires.
                while round < SPIN_LOCK_ROUNDS && self.locked.load(Ordering::Relaxed) {
                    for _ in 0..1u32 << round {
                        std::hint::spin_loop();
                    }
                    round += 1;
                }
                if round == SPIN_LOCK_ROUNDS {
                    // Still held: let the holder run.
                    thread::yield_now();
                }
                if let Some(guard) = self.swap_lock() {
                    return guard;
                }
            }
        }

        /// Takes the lock if nobody holds it. Looks before it swaps: a failed swap would
        /// still take the line from the holder, which a caller polling the lock (a spinning
        /// consumer) must not do on every look.
        #[inline]
        pub(crate) fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
            // ORDERING: a hint; the swap acquires.
            if self.locked.load(Ordering::Relaxed) {
                return None;
            }
            self.swap_lock()
        }

        /// One attempt at the lock, by a swap.
        #[inline]
        fn swap_lock(&self) -> Option<SpinGuard<'_, T>> {
            // A swap, not a compare-exchange: a read-modify-write always reads the latest
            // value, where a failed compare-exchange is a plain load that may be stale.
            // ORDERING: Acquire pairs with the Release in the guard's drop: the previous
            // holder's writes are visible to us.
            // (`then`, not `then_some`: a guard made for nothing would release the lock of
            // the thread that holds it when dropped.)
            (!self.locked.swap(true, Ordering::Acquire)).then(|| SpinGuard { lock: self })
        }
    }

    /// Holds a [`SpinLock`]; releases it when dropped.
    pub(crate) struct SpinGuard<'a, T> {
        lock: &'a SpinLock<T>,
    }

    impl<T> std::ops::Deref for SpinGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            // SAFETY: the guard holds the lock, so no `&mut` to the value exists, and the
            // reference lives no longer than the guard.
            self.lock.value.with(|value| unsafe { &*value })
        }
    }

    impl<T> std::ops::DerefMut for SpinGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: the guard holds the lock and `&mut self` makes this the only reference
            // to the value, for no longer than the guard.
            self.lock.value.with_mut(|value| unsafe { &mut *value })
        }
    }

    impl<T> Drop for SpinGuard<'_, T> {
        fn drop(&mut self) {
            // ORDERING: Release publishes our writes to the next holder.
            self.lock.locked.store(false, Ordering::Release);
        }
    }
}

#[cfg(not(anywait_loom))]
pub(crate) use spin::{SpinGuard, SpinLock};

/// Under loom the stream's lock is loom's mutex, with the spin lock's API (see `spin`).
#[cfg(anywait_loom)]
pub(crate) struct SpinLock<T>(Mutex<T>);

#[cfg(anywait_loom)]
pub(crate) type SpinGuard<'a, T> = MutexGuard<'a, T>;

#[cfg(anywait_loom)]
impl<T> SpinLock<T> {
    pub(crate) fn new(value: T) -> Self {
        SpinLock(Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        lock(&self.0)
    }

    pub(crate) fn try_lock(&self) -> Option<SpinGuard<'_, T>> {
        match self.0.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
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
