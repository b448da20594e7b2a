//! The CRT's own futures (`aws/io/future.h`) bridged to anywait futures.
//!
//! A CRT API that returns an `aws_future_T *` hands its caller one reference and expects
//! one callback registration. [`bridge`] takes both: it registers a callback whose
//! `user_data` is an integer handle in a registry, reads the error or result when the CRT
//! future completes (on whatever thread completes it, or synchronously if it already
//! has), releases the reference, and completes a [`TryWaitableFuture`] that any executor
//! can await.
//!
//! ```no_run
//! use anywait_aws_crt::{crt_future, sys, Allocator};
//!
//! anywait_aws_crt::init();
//! // SAFETY: a new future with one reference, handed to the bridge; a second reference
//! // for the thread that completes it.
//! let future = unsafe { sys::aws_future_void_new(Allocator::default_allocator().as_ptr()) };
//! let producer = unsafe { crt_future::Owned::acquire(future) };
//! let bridged = unsafe { crt_future::bridge(future) };
//! std::thread::spawn(move || producer.with(|f| unsafe { sys::aws_future_void_set_result(f) }));
//! assert_eq!(bridged.wait_blocking(), Ok(()));
//! ```

use std::ffi::c_void;

use anywait::ffi::{catch_callback, CompletionHandle, PanicPolicy, Registry};
use anywait::{try_waitable, Completer, TryWaitableFuture};

use crate::{sys, CrtError};

/// A CRT future type (`aws_future_void`, `aws_future_bool`, `aws_future_size`).
pub trait CrtFuture: Sized + 'static {
    /// What a successful future yields.
    type Output: Send + 'static;

    /// `aws_future_T_register_callback`.
    ///
    /// # Safety
    /// `future` is a live future with no callback registered yet.
    unsafe fn register_callback(
        future: *mut Self,
        on_done: unsafe extern "C" fn(*mut c_void),
        user_data: *mut c_void,
    );

    /// `aws_future_T_get_error`.
    ///
    /// # Safety
    /// `future` is live and done.
    unsafe fn get_error(future: *const Self) -> i32;

    /// `aws_future_T_get_result`.
    ///
    /// # Safety
    /// `future` is live, done, and its error is 0.
    unsafe fn get_result(future: *const Self) -> Self::Output;

    /// `aws_future_T_acquire`.
    ///
    /// # Safety
    /// `future` is live.
    unsafe fn acquire(future: *mut Self) -> *mut Self;

    /// `aws_future_T_release`.
    ///
    /// # Safety
    /// `future` holds a reference that the caller gives up.
    unsafe fn release(future: *mut Self);

    /// The registry of bridges in flight for this future type.
    fn bridges() -> &'static Registry<Bridge<Self>>;
}

/// One bridged CRT future: its reference and the anywait completer.
#[derive(Debug)]
pub struct Bridge<F: CrtFuture> {
    future: crate::SendPtr<F>,
    completer: Completer<Result<F::Output, CrtError>>,
}

macro_rules! crt_future {
    ($ty:ident, $output:ty, $bridges:ident, |$f:ident| $result:expr) => {
        static $bridges: Registry<Bridge<sys::$ty>> = Registry::new();

        impl CrtFuture for sys::$ty {
            type Output = $output;

            unsafe fn register_callback(
                future: *mut Self,
                on_done: unsafe extern "C" fn(*mut c_void),
                user_data: *mut c_void,
            ) {
                // SAFETY: forwarded from the trait method's contract.
                unsafe { paste_fn!($ty, register_callback)(future, Some(on_done), user_data) }
            }

            unsafe fn get_error(future: *const Self) -> i32 {
                // SAFETY: forwarded from the trait method's contract.
                unsafe { paste_fn!($ty, get_error)(future) }
            }

            #[allow(unused_variables)]
            unsafe fn get_result($f: *const Self) -> $output {
                $result
            }

            unsafe fn acquire(future: *mut Self) -> *mut Self {
                // SAFETY: forwarded from the trait method's contract.
                unsafe { paste_fn!($ty, acquire)(future) }
            }

            unsafe fn release(future: *mut Self) {
                // SAFETY: forwarded from the trait method's contract.
                unsafe { paste_fn!($ty, release)(future) };
            }

            fn bridges() -> &'static Registry<Bridge<Self>> {
                &$bridges
            }
        }
    };
}

// Maps (type, operation) to the CRT function, inside the callers' `unsafe fn` bodies.
macro_rules! paste_fn {
    (aws_future_void, register_callback) => {
        sys::aws_future_void_register_callback
    };
    (aws_future_void, get_error) => {
        sys::aws_future_void_get_error
    };
    (aws_future_void, acquire) => {
        sys::aws_future_void_acquire
    };
    (aws_future_void, release) => {
        sys::aws_future_void_release
    };
    (aws_future_bool, register_callback) => {
        sys::aws_future_bool_register_callback
    };
    (aws_future_bool, get_error) => {
        sys::aws_future_bool_get_error
    };
    (aws_future_bool, acquire) => {
        sys::aws_future_bool_acquire
    };
    (aws_future_bool, release) => {
        sys::aws_future_bool_release
    };
    (aws_future_size, register_callback) => {
        sys::aws_future_size_register_callback
    };
    (aws_future_size, get_error) => {
        sys::aws_future_size_get_error
    };
    (aws_future_size, acquire) => {
        sys::aws_future_size_acquire
    };
    (aws_future_size, release) => {
        sys::aws_future_size_release
    };
}

crt_future!(aws_future_void, (), VOID_BRIDGES, |future| ());
crt_future!(aws_future_bool, bool, BOOL_BRIDGES, |future| {
    // SAFETY: forwarded from `get_result`'s contract.
    unsafe { sys::aws_future_bool_get_result(future) }
});
crt_future!(aws_future_size, usize, SIZE_BRIDGES, |future| {
    // SAFETY: forwarded from `get_result`'s contract.
    unsafe { sys::aws_future_size_get_result(future) }
});

/// Bridges a CRT future to a [`TryWaitableFuture`]: `Ok(result)` when the CRT future
/// completes with error 0, `Err(CrtError::Crt(code))` when it completes with an error.
///
/// Takes over the caller's reference (released once the CRT future is done) and its one
/// callback registration. A CRT future has no cancel: dropping the returned future just
/// leaves the late completion with no reader (the registry refuses and counts it).
///
/// # Safety
/// `future` is a live CRT future on which the caller owns one reference, and no callback
/// has been registered on it (the CRT allows one).
pub unsafe fn bridge<F: CrtFuture>(future: *mut F) -> TryWaitableFuture<F::Output, CrtError> {
    let (completer, waitable) = try_waitable();
    let bridge = Bridge {
        future: crate::SendPtr(future),
        completer,
    };
    let handle = match F::bridges().try_insert(bridge) {
        Ok(handle) => handle,
        Err(bridge) => {
            // SAFETY: the caller's reference, given up.
            unsafe { F::release(future) };
            let _ = bridge.completer.complete(Err(CrtError::Crt(
                sys::aws_common_error::AWS_ERROR_OOM as i32,
            )));
            return waitable;
        }
    };
    // SAFETY: the future is live (our reference) and has no callback yet (contract); the
    // callback runs once, here or on the completing thread; the handle is an integer.
    unsafe { F::register_callback(future, on_done::<F>, handle.into_user_data()) };
    waitable
}

/// `aws_future_callback_fn`: the CRT future is done.
unsafe extern "C" fn on_done<F: CrtFuture>(user_data: *mut c_void) {
    let handle = CompletionHandle::from_user_data(user_data);
    let _ = catch_callback(PanicPolicy::LogAndDrop, || {
        let Ok(bridge) = F::bridges().take(handle) else {
            return; // a second callback: refused and counted by the registry
        };
        let future = bridge.future.0;
        let outcome = catch_callback(PanicPolicy::Deliver, || {
            // SAFETY: the CRT calls back once the future is done; our reference keeps it
            // alive until released below.
            let code = unsafe { F::get_error(future) };
            CrtError::check(code)?;
            // SAFETY: done with error 0.
            Ok(unsafe { F::get_result(future) })
        });
        // SAFETY: the reference the bridge took over, given up once.
        unsafe { F::release(future) };
        let _ = bridge
            .completer
            .complete(outcome.unwrap_or_else(|panic| Err(panic.into())));
    });
}

/// A reference on a CRT future that may move to another thread (to complete the future
/// there). Releases the reference when dropped.
#[derive(Debug)]
pub struct Owned<F: CrtFuture>(crate::SendPtr<F>);

impl<F: CrtFuture> Owned<F> {
    /// Takes a new reference on `future` (`aws_future_T_acquire`).
    ///
    /// # Safety
    /// `future` is a live CRT future of type `F`.
    ///
    /// # Panics
    /// If `future` is null.
    pub unsafe fn acquire(future: *mut F) -> Owned<F> {
        assert!(!future.is_null());
        // SAFETY: a live future (this function's contract); the new reference is ours.
        Owned(crate::SendPtr(unsafe { F::acquire(future) }))
    }

    /// Runs `f` with the future's pointer (live while `self` is).
    pub fn with<R>(&self, f: impl FnOnce(*mut F) -> R) -> R {
        f(self.0 .0)
    }
}

impl<F: CrtFuture> Drop for Owned<F> {
    fn drop(&mut self) {
        // SAFETY: our reference, released once.
        unsafe { F::release(self.0 .0) };
    }
}
