//! The FFI kit: completion handles that survive a misbehaving C SDK, panic containment at
//! the `extern "C"` boundary, deadlock detection on the SDK's threads, and trampolines for
//! the common callback shapes.
//!
//! Real SDKs call back twice, never, late after a cancel, synchronously inside the start
//! call, concurrently from several threads, and on threads that must never block. A raw
//! pointer in `user_data` ([`Completer::into_raw`](crate::Completer::into_raw)) trusts the
//! SDK to call back exactly once; this module does not:
//!
//! - **Handles** ([`Registry`], [`CompletionHandle`]): an integer token in `user_data`. A
//!   duplicate, late, stale or forged callback is a [`HandleError`], never undefined
//!   behaviour; [`Registry::abandon_all`] resolves every outstanding future at shutdown;
//!   [`Feeders`] and [`Setters`] carry streams and events through repeated callbacks
//!   until a final one releases them.
//! - **Panics** ([`catch_callback`], [`PanicPolicy`]): a panic never unwinds across the
//!   `extern "C"` boundary; it aborts with a clear message, is delivered to the awaiting
//!   side as [`CallbackError::Panicked`], or is logged and dropped.
//! - **Deadlocks** ([`callback_scope`]): inside an SDK callback, a blocking wait on any
//!   anywait primitive returns [`WouldDeadlock`](crate::WouldDeadlock) (or, where its
//!   signature has no error path, unwinds with it into the containment) instead of
//!   hanging the SDK's thread.
//! - **Trampolines** ([`trampoline!`](crate::trampoline)): `extern "C"` functions for the
//!   shapes `(user_data, error_code)`, `(user_data, error_code, payload, len)` and a
//!   repeated `(user_data, payload, len)`, with panic containment and the scope built in.
//!
//! ```
//! use anywait::ffi::{CallbackError, Completions};
//!
//! # mod sdk {
//! #     use std::ffi::{c_int, c_void};
//! #     pub type DoneFn = extern "C" fn(*mut c_void, c_int);
//! #     pub fn start(cb: DoneFn, user_data: *mut c_void) -> c_int {
//! #         let user_data = user_data as usize;
//! #         std::thread::spawn(move || {
//! #             cb(user_data as *mut c_void, 0);
//! #             cb(user_data as *mut c_void, 0); // this SDK calls back twice
//! #         });
//! #         0
//! #     }
//! # }
//! // One registry per callback shape, reachable from the `extern "C"` function.
//! static OPS: Completions<()> = Completions::new();
//!
//! // `(user_data, error_code)`: 0 completes with Ok(()), anything else with
//! // Err(CallbackError::Failed(code)). Panics are contained; duplicates are refused.
//! anywait::trampoline! {
//!     extern "C" fn on_done(user_data, error_code) completes OPS;
//! }
//!
//! fn start() -> anywait::TryWaitableFuture<(), CallbackError> {
//!     let (handle, future) = OPS.issue();
//!     if sdk::start(on_done, handle.into_user_data()) != 0 {
//!         OPS.abandon(handle).unwrap(); // a failed start never calls back
//!     }
//!     future
//! }
//!
//! assert_eq!(futures::executor::block_on(start()), Ok(()));
//! ```
//!
//! Things to know:
//!
//! - A `static` registry is process-wide: its [`Registry::outstanding`],
//!   [`Registry::refused`] and [`Registry::abandon_all`] cover every SDK instance that uses
//!   it. A binding that must shut down one instance of several gives each instance its own
//!   registry (`Box::leak` one per instance, or keep an `Arc<Registry<..>>` and a small
//!   `extern "C"` function per instance's user data that finds it).
//! - Inside a callback scope a timed wait cannot tell "would block" from a timeout: it
//!   reports the timeout at once. The checked forms (`wait_blocking_checked`) tell them
//!   apart.
//! - A chunk the stream refuses (a full window, a closed stream) is counted in the
//!   stream's [`StreamStats::rejected`](crate::StreamStats::rejected), not in the
//!   registry's `refused()`: the handle was fine.
//! - On 32-bit targets a slot's generation has 16 bits: a stale handle could match again
//!   after its slot was reused 65 536 times (on 64-bit targets: 2^32 times).
//!
//! The crate docs' guide, "Wrapping a C callback SDK", builds a binding step by step.

mod registry;

use std::ffi::{c_int, c_void};

pub use self::registry::{
    CallbackError, CompletionHandle, Completions, FeedError, Feeders, HandleError, Registry,
    Setters,
};
use crate::core::waiter::CallbackScope;
use crate::panics::{self, CallbackPanic, HookKind};

/// Runs `f` as SDK callback code: while it runs, this thread is inside a callback scope,
/// where blocking waits on anywait primitives report
/// [`WouldDeadlock`](crate::WouldDeadlock) instead of hanging. Scopes nest. The
/// trampolines and [`catch_callback`] enter one for you.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let event = anywait::AsyncEvent::new();
/// anywait::ffi::callback_scope(|| {
///     assert!(anywait::ffi::in_callback_scope());
///     assert_eq!(event.wait_blocking_checked(), Err(anywait::WouldDeadlock));
///     assert!(!event.wait_timeout(Duration::from_secs(60))); // at once, not in a minute
/// });
/// assert!(!anywait::ffi::in_callback_scope());
/// ```
pub fn callback_scope<R>(f: impl FnOnce() -> R) -> R {
    let _scope = CallbackScope::enter();
    f()
}

/// Whether this thread is running inside an SDK callback scope.
///
/// # Examples
///
/// ```
/// assert!(!anywait::ffi::in_callback_scope());
/// anywait::ffi::callback_scope(|| assert!(anywait::ffi::in_callback_scope()));
/// ```
pub fn in_callback_scope() -> bool {
    crate::core::waiter::in_callback_scope()
}

/// What [`catch_callback`] does with a panic in callback code.
///
/// # Examples
///
/// ```
/// use anywait::ffi::{catch_callback, PanicPolicy};
///
/// let caught = catch_callback(PanicPolicy::Deliver, || -> u8 { panic!("bug") });
/// assert_eq!(caught.unwrap_err().message(), Some("bug"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PanicPolicy {
    /// Print the panic, say where it was contained, and abort the process: for callbacks
    /// after which the SDK's state cannot be trusted.
    Abort,
    /// Return the panic to the caller of `catch_callback`, which hands it to the awaiting
    /// side (e.g. completes the operation with [`CallbackError::Panicked`]); the
    /// trampolines for one-shot completions do that.
    Deliver,
    /// Hand the panic to the [panic handler](crate::panics) and return its message only:
    /// for repeated callbacks whose loss is acceptable.
    LogAndDrop,
}

/// Runs callback code with panic containment and inside a [`callback_scope`]: the body of
/// every `extern "C"` callback that is not a [`trampoline!`](crate::trampoline).
///
/// Returns `Ok` with `f`'s value, or `Err` with the panic under [`PanicPolicy::Deliver`]
/// and [`PanicPolicy::LogAndDrop`] (for the latter, its payload went to the panic handler
/// and the error carries the message only). Never unwinds.
///
/// # Examples
///
/// ```
/// use std::ffi::{c_int, c_void};
/// use anywait::ffi::{catch_callback, CompletionHandle, Completions, PanicPolicy};
///
/// static OPS: Completions<u32> = Completions::new();
///
/// /// `(user_data, status, count)`: a shape the trampolines do not cover.
/// extern "C" fn on_count(user_data: *mut c_void, status: c_int, count: u32) {
///     let handle = CompletionHandle::from_user_data(user_data);
///     let outcome = catch_callback(PanicPolicy::Deliver, || {
///         if status != 0 {
///             return Err(anywait::ffi::CallbackError::Failed(status));
///         }
///         Ok(count.checked_mul(2).expect("no overflow"))
///     });
///     // A panic becomes the caller's CallbackError::Panicked, never an abort.
///     let _ = OPS.complete(handle, outcome.unwrap_or_else(|panic| Err(panic.into())));
/// }
///
/// let (handle, future) = OPS.issue();
/// on_count(handle.into_user_data(), 0, u32::MAX); // overflows: panics inside
/// assert!(matches!(future.wait_blocking(), Err(anywait::ffi::CallbackError::Panicked(_))));
/// ```
pub fn catch_callback<R>(policy: PanicPolicy, f: impl FnOnce() -> R) -> Result<R, CallbackPanic> {
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback_scope(f)));
    let payload = match caught {
        Ok(value) => return Ok(value),
        Err(payload) => payload,
    };
    let panic = CallbackPanic::new(HookKind::FfiCallback, payload);
    match policy {
        PanicPolicy::Deliver => Err(panic),
        PanicPolicy::LogAndDrop => {
            let message = panic.message().map(str::to_string);
            panics::report(panic);
            let payload: Box<dyn std::any::Any + Send> = match message {
                Some(message) => Box::new(message),
                None => Box::new(()),
            };
            Err(CallbackPanic::new(HookKind::FfiCallback, payload))
        }
        PanicPolicy::Abort => {
            eprintln!("anywait: {panic} inside an SDK callback; aborting (PanicPolicy::Abort)");
            std::process::abort()
        }
    }
}

/// Reads a C payload that is valid only during the callback into an owned `Vec<u8>`.
///
/// # Safety
/// - `payload` is null (then `len` is ignored) or points to `len` readable bytes.
unsafe fn copy_payload(payload: *const u8, len: usize) -> Vec<u8> {
    if payload.is_null() || len == 0 {
        return Vec::new();
    }
    // SAFETY: forwarded from this function's contract.
    unsafe { std::slice::from_raw_parts(payload, len) }.to_vec()
}

/// The body of a `(user_data, error_code)` completion callback: `0` completes with
/// `Ok(())`, any other code with [`CallbackError::Failed`]. Panics are contained
/// ([`PanicPolicy::Deliver`]); a duplicate, late or unknown `user_data` is refused and
/// counted ([`Registry::refused`]). Never unwinds, never blocks.
///
/// [`trampoline!`](crate::trampoline) wraps it in an `extern "C"` function.
///
/// # Examples
///
/// ```
/// use anywait::ffi::{complete_code, CallbackError, Completions, HandleError};
///
/// static OPS: Completions<()> = Completions::new();
/// let (handle, future) = OPS.issue();
/// assert_eq!(complete_code(&OPS, handle.into_user_data(), -2), Ok(()));
/// assert_eq!(complete_code(&OPS, handle.into_user_data(), 0), Err(HandleError::Duplicate));
/// assert_eq!(future.wait_blocking(), Err(CallbackError::Failed(-2)));
/// ```
pub fn complete_code(
    registry: &Completions<()>,
    user_data: *mut c_void,
    error_code: c_int,
) -> Result<(), HandleError> {
    let handle = CompletionHandle::from_user_data(user_data);
    let result = if error_code == 0 {
        Ok(())
    } else {
        Err(CallbackError::Failed(error_code))
    };
    catch_callback(PanicPolicy::LogAndDrop, || {
        registry.complete(handle, result)
    })
    .unwrap_or(Err(HandleError::Unknown))
}

/// The body of a `(user_data, error_code, payload, len)` completion callback: the payload
/// is copied before the callback returns (it need only be valid during the call), then
/// `0` completes with `Ok(bytes)`, any other code with [`CallbackError::Failed`]. As
/// [`complete_code`] otherwise.
///
/// # Safety
///
/// - `payload` is null or points to `len` bytes readable for the duration of this call.
///
/// # Examples
///
/// ```
/// use anywait::ffi::{complete_payload, Completions};
///
/// static READS: Completions<Vec<u8>> = Completions::new();
/// let (handle, future) = READS.issue();
/// let buffer = b"hello".to_vec(); // the SDK frees it right after the callback
/// // SAFETY: `buffer` is valid for the call.
/// unsafe { complete_payload(&READS, handle.into_user_data(), 0, buffer.as_ptr(), buffer.len()) }
///     .unwrap();
/// drop(buffer);
/// assert_eq!(future.wait_blocking(), Ok(b"hello".to_vec()));
/// ```
pub unsafe fn complete_payload(
    registry: &Completions<Vec<u8>>,
    user_data: *mut c_void,
    error_code: c_int,
    payload: *const u8,
    len: usize,
) -> Result<(), HandleError> {
    let handle = CompletionHandle::from_user_data(user_data);
    let outcome = catch_callback(PanicPolicy::Deliver, || {
        if error_code == 0 {
            // SAFETY: forwarded from this function's contract.
            Ok(unsafe { copy_payload(payload, len) })
        } else {
            Err(CallbackError::Failed(error_code))
        }
    });
    let result = outcome.unwrap_or_else(|panic| Err(panic.into()));
    catch_callback(PanicPolicy::LogAndDrop, || {
        registry.complete(handle, result)
    })
    .unwrap_or(Err(HandleError::Unknown))
}

/// The body of a repeated `(user_data, payload, len)` callback feeding a stream: the
/// payload is copied and pushed (never blocking). A push the stream refuses, or a handle
/// that reaches no feeder, is returned; panics are logged and dropped.
///
/// # Safety
///
/// - `payload` is null or points to `len` bytes readable for the duration of this call.
///
/// # Examples
///
/// ```
/// use anywait::ffi::{push_payload, Feeders};
///
/// static BODIES: Feeders<Vec<u8>, anywait::ffi::CallbackError> = Feeders::new();
/// let (feeder, mut body) = anywait::callback_stream(anywait::StreamPolicy::Unbounded);
/// let user_data = BODIES.insert(feeder).unwrap().into_user_data();
/// let chunk = [1u8, 2, 3];
/// // SAFETY: `chunk` is valid for the call.
/// unsafe { push_payload(&BODIES, user_data, chunk.as_ptr(), chunk.len()) }.unwrap();
/// assert_eq!(body.next_blocking(), Some(Ok(vec![1, 2, 3])));
/// ```
pub unsafe fn push_payload<E>(
    registry: &Feeders<Vec<u8>, E>,
    user_data: *mut c_void,
    payload: *const u8,
    len: usize,
) -> Result<(), FeedError<Vec<u8>>> {
    let handle = CompletionHandle::from_user_data(user_data);
    catch_callback(PanicPolicy::LogAndDrop, || {
        // SAFETY: forwarded from this function's contract.
        let chunk = unsafe { copy_payload(payload, len) };
        registry.push(handle, chunk)
    })
    .unwrap_or(Err(FeedError::Handle(HandleError::Unknown)))
}

/// The body of a stream's final `(user_data, error_code)` callback: `0` finishes the
/// stream, any other code fails it with [`CallbackError::Failed`]; either way the handle
/// is released. A second final callback is refused.
///
/// # Examples
///
/// ```
/// use anywait::ffi::{end_stream, CallbackError, Feeders};
///
/// static BODIES: Feeders<Vec<u8>, CallbackError> = Feeders::new();
/// let (feeder, mut body) = anywait::callback_stream(anywait::StreamPolicy::Unbounded);
/// let user_data = BODIES.insert(feeder).unwrap().into_user_data();
/// end_stream(&BODIES, user_data, 104).unwrap();
/// assert_eq!(
///     body.next_blocking(),
///     Some(Err(anywait::StreamError::Failed(CallbackError::Failed(104))))
/// );
/// assert!(end_stream(&BODIES, user_data, 0).is_err()); // a duplicate final callback
/// ```
pub fn end_stream<T>(
    registry: &Feeders<T, CallbackError>,
    user_data: *mut c_void,
    error_code: c_int,
) -> Result<bool, HandleError> {
    let handle = CompletionHandle::from_user_data(user_data);
    catch_callback(PanicPolicy::LogAndDrop, || {
        if error_code == 0 {
            registry.finish(handle)
        } else {
            registry.fail(handle, CallbackError::Failed(error_code))
        }
    })
    .unwrap_or(Err(HandleError::Unknown))
}

/// Produces an `extern "C"` callback for one of the common shapes, with panic containment
/// and the callback scope built in. The registry is a `static` (or any expression of type
/// `&Registry<..>` valid for `'static`).
///
/// | shape | registry | does |
/// |---|---|---|
/// | `fn name(user_data, error_code) completes OPS;` | [`Completions<()>`](Completions) | [`complete_code`] |
/// | `fn name(user_data, error_code, payload, len) completes OPS;` | [`Completions<Vec<u8>>`](Completions) | [`complete_payload`] (copies the payload) |
/// | `fn name(user_data, payload, len) feeds STREAMS;` | [`Feeders<Vec<u8>, CallbackError>`](Feeders) | [`push_payload`] (copies the payload) |
/// | `fn name(user_data, error_code) ends STREAMS;` | [`Feeders<T, CallbackError>`](Feeders) | [`end_stream`] (finishes or fails, releases) |
///
/// Parameter types: `user_data: *mut c_void`, `error_code: c_int`, `payload: *const u8`,
/// `len: usize`. Errors (duplicates, late calls) are counted by the registry
/// ([`Registry::refused`]) and otherwise ignored: C has nothing to do with them.
///
/// # Examples
///
/// ```
/// use anywait::ffi::{CallbackError, Completions, Feeders};
///
/// static READS: Completions<Vec<u8>> = Completions::new();
/// static BODIES: Feeders<Vec<u8>, CallbackError> = Feeders::new();
///
/// anywait::trampoline! {
///     /// The SDK's read callback.
///     pub extern "C" fn on_read(user_data, error_code, payload, len) completes READS;
/// }
/// anywait::trampoline! {
///     extern "C" fn on_chunk(user_data, payload, len) feeds BODIES;
/// }
/// anywait::trampoline! {
///     extern "C" fn on_body_done(user_data, error_code) ends BODIES;
/// }
///
/// let (handle, read) = READS.issue();
/// let data = *b"abc";
/// on_read(handle.into_user_data(), 0, data.as_ptr(), data.len());
/// assert_eq!(read.wait_blocking(), Ok(b"abc".to_vec()));
///
/// let (feeder, mut body) = anywait::callback_stream(anywait::StreamPolicy::Unbounded);
/// let user_data = BODIES.insert(feeder).unwrap().into_user_data();
/// on_chunk(user_data, data.as_ptr(), 2);
/// on_body_done(user_data, 0);
/// on_chunk(user_data, data.as_ptr(), 1); // after the final callback: refused, not UB
/// assert_eq!(body.next_blocking(), Some(Ok(b"ab".to_vec())));
/// assert_eq!(body.next_blocking(), None);
/// assert_eq!(BODIES.refused(), 1);
/// ```
#[macro_export]
macro_rules! trampoline {
    ($(#[$meta:meta])* $vis:vis extern "C" fn $name:ident(user_data, error_code) completes $registry:expr;) => {
        $(#[$meta])*
        $vis extern "C" fn $name(user_data: *mut ::std::ffi::c_void, error_code: ::std::ffi::c_int) {
            let _ = $crate::ffi::complete_code(&$registry, user_data, error_code);
        }
    };
    ($(#[$meta:meta])* $vis:vis extern "C" fn $name:ident(user_data, error_code, payload, len) completes $registry:expr;) => {
        $(#[$meta])*
        $vis extern "C" fn $name(
            user_data: *mut ::std::ffi::c_void,
            error_code: ::std::ffi::c_int,
            payload: *const u8,
            len: usize,
        ) {
            let registry = &$registry;
            // SAFETY: the SDK passes a payload valid for the duration of the callback.
            let _ = unsafe {
                $crate::ffi::complete_payload(registry, user_data, error_code, payload, len)
            };
        }
    };
    ($(#[$meta:meta])* $vis:vis extern "C" fn $name:ident(user_data, payload, len) feeds $registry:expr;) => {
        $(#[$meta])*
        $vis extern "C" fn $name(user_data: *mut ::std::ffi::c_void, payload: *const u8, len: usize) {
            let registry = &$registry;
            // SAFETY: the SDK passes a payload valid for the duration of the callback.
            let _ = unsafe { $crate::ffi::push_payload(registry, user_data, payload, len) };
        }
    };
    ($(#[$meta:meta])* $vis:vis extern "C" fn $name:ident(user_data, error_code) ends $registry:expr;) => {
        $(#[$meta])*
        $vis extern "C" fn $name(user_data: *mut ::std::ffi::c_void, error_code: ::std::ffi::c_int) {
            let _ = $crate::ffi::end_stream(&$registry, user_data, error_code);
        }
    };
}
