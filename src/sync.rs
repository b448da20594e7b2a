//! The one place where anywait chooses between `std` and `loom`.
//!
//! Algorithm code imports atomics, cells, `Arc`, `Mutex` and thread parking from here
//! and never mentions `cfg(anywait_loom)` itself. The std side offers loom's API
//! (`UnsafeCell::with` / `with_mut`) so the two are drop-in replacements.
//!
//! The cfg is crate-prefixed (`anywait_loom`) so that a downstream `--cfg loom` never
//! switches anywait's internals.

#![allow(dead_code, unused_imports)]

#[cfg(not(anywait_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering,
    };

    /// An array of null atomic pointers, usable in a `static`'s initialiser.
    pub(crate) const fn null_ptr_array<T, const N: usize>() -> [AtomicPtr<T>; N] {
        [const { AtomicPtr::new(std::ptr::null_mut()) }; N]
    }
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};

    /// `std::cell::UnsafeCell` with loom's closure-based access API.
    #[derive(Debug, Default)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T: ?Sized>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner()
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
        pub(crate) use std::thread::{
            current, park, park_timeout, spawn, yield_now, Builder, Thread,
        };
    }

    /// Marks a heap block so loom reports it if it leaks; zero-sized outside loom.
    #[derive(Debug, Default)]
    pub(crate) struct LeakTrack;

    impl LeakTrack {
        pub(crate) fn new() -> Self {
            LeakTrack
        }
    }
}

#[cfg(anywait_loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering,
    };

    /// An array of null atomic pointers (loom's are not `const`).
    pub(crate) fn null_ptr_array<T, const N: usize>() -> [AtomicPtr<T>; N] {
        std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut()))
    }
    pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

    pub(crate) mod thread {
        pub(crate) use loom::thread::{current, park, spawn, yield_now, Builder, Thread};

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
