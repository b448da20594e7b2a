//! Raw bindings to a small C "test SDK" that misbehaves on purpose.
//!
//! The C library (`c/testsdk.c`, built by `build.rs` with the `cc` crate) calls
//! back in the awkward ways real callback SDKs do: from its own threads,
//! synchronously inside the start call, twice, never, late after a cancel, from
//! several threads at once, or while holding a global lock. anywait's tests wrap
//! it to check that every such behaviour is handled. `c/testsdk.h` is the
//! authoritative documentation; the items below mirror it one to one.
//!
//! Threading summary: every function is thread-safe; no callback runs while the
//! SDK's internal mutex is held; [`TSDK_ASYNC_UNDER_LOCK`] callbacks run while
//! holding the SDK's recursive *global callback lock*, which [`tsdk_cancel`]
//! also takes. Every function except [`tsdk_shutdown`] / [`tsdk_free`] may be
//! called from inside any callback.
//!
//! This crate is for tests only (`publish = false`).

#![allow(non_camel_case_types)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

use std::os::raw::{c_int, c_uint, c_void};

/// The opaque SDK object (`struct tsdk`). Only ever handled through `*mut tsdk`.
#[repr(C)]
pub struct tsdk {
    _opaque: [u8; 0],
    // Not Send/Sync/Unpin by itself: it only exists behind raw pointers.
    _marker: std::marker::PhantomData<(*mut u8, std::marker::PhantomPinned)>,
}

/// One-shot completion: `(user_data, error_code)`.
pub type tsdk_done_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, error_code: c_int)>;

/// One-shot completion with a payload `(user_data, error_code, payload, len)`.
///
/// The payload is valid only during the call (the SDK overwrites it with `0xDD`
/// and frees it right after); it is `(NULL, 0)` for `TSDK_ERR_SHUTDOWN` and
/// `TSDK_ERR_CANCELED`.
pub type tsdk_payload_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, error_code: c_int, payload: *const u8, len: usize),
>;

/// One stream chunk `(user_data, chunk, len)`, valid only during the call
/// (`chunk` is NULL when `len` is 0).
pub type tsdk_chunk_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, chunk: *const u8, len: usize)>;

/// End of a stream `(user_data, error_code)`: exactly once per started stream,
/// never concurrently with a chunk callback.
pub type tsdk_final_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, error_code: c_int)>;

/// `enum tsdk_mode`: how an operation calls back (a C enum with no negative
/// values, i.e. `unsigned int` for GCC/Clang).
pub type tsdk_mode = c_uint;

/// Once, from a thread of the SDK's own.
pub const TSDK_ASYNC: tsdk_mode = 0;
/// Once, synchronously inside the start call, before it returns.
pub const TSDK_SYNC: tsdk_mode = 1;
/// Twice from its own thread with the same user_data; the second call carries
/// [`TSDK_ERR_DUPLICATE`].
pub const TSDK_TWICE: tsdk_mode = 2;
/// Not until [`tsdk_shutdown`], which calls back with [`TSDK_ERR_SHUTDOWN`].
pub const TSDK_NEVER: tsdk_mode = 3;
/// Never at all; the op stays outstanding forever.
pub const TSDK_NEVER_EVEN_AT_SHUTDOWN: tsdk_mode = 4;
/// Waits for [`tsdk_cancel`], then calls back with [`TSDK_ERR_CANCELED`] from
/// its own thread; at shutdown (if not canceled first) with
/// [`TSDK_ERR_SHUTDOWN`] from the thread calling [`tsdk_shutdown`].
pub const TSDK_LATE_AFTER_CANCEL: tsdk_mode = 5;
/// From `n` threads at once (see [`tsdk_set_concurrency`], default 4), released
/// together by a barrier; thread 0 passes the result code, the others
/// [`TSDK_ERR_DUPLICATE`].
pub const TSDK_CONCURRENT: tsdk_mode = 6;
/// The start call returns [`TSDK_ERR_START`] and never calls back.
pub const TSDK_FAIL_START: tsdk_mode = 7;
/// Like [`TSDK_ASYNC`], but the callback runs while holding the SDK's global
/// callback lock (as paho.mqtt.c does).
pub const TSDK_ASYNC_UNDER_LOCK: tsdk_mode = 8;

/// Success.
pub const TSDK_OK: c_int = 0;
/// Start failed ([`TSDK_FAIL_START`] or invalid arguments); no callback will come.
pub const TSDK_ERR_START: c_int = 1;
/// A second (third, ...) callback of the same op.
pub const TSDK_ERR_DUPLICATE: c_int = 2;
/// Delivered by [`tsdk_shutdown`]; also returned by start calls after shutdown.
pub const TSDK_ERR_SHUTDOWN: c_int = 3;
/// The op was canceled.
pub const TSDK_ERR_CANCELED: c_int = 4;

extern "C" {
    /// Creates an SDK object. Never returns NULL (the C side aborts on
    /// allocation failure). Release it with [`tsdk_free`].
    pub fn tsdk_new() -> *mut tsdk;

    /// Number of threads used by later [`TSDK_CONCURRENT`] ops (0 is treated as 1).
    pub fn tsdk_set_concurrency(sdk: *mut tsdk, n_threads: c_uint);

    /// Starts a one-shot op reporting `result_code` through `cb(user_data, code)`.
    ///
    /// Returns [`TSDK_OK`], [`TSDK_ERR_START`] ([`TSDK_FAIL_START`], NULL `sdk`
    /// or `cb`) or [`TSDK_ERR_SHUTDOWN`]; on error `cb` is never called and
    /// `*op_out` is 0. `*op_out` (if not NULL) gets the op id (>= 1) before any
    /// callback can run.
    pub fn tsdk_start_op(
        sdk: *mut tsdk,
        mode: tsdk_mode,
        result_code: c_int,
        cb: tsdk_done_fn,
        user_data: *mut c_void,
        op_out: *mut u64,
    ) -> c_int;

    /// Like [`tsdk_start_op`], but the callback also gets a fresh heap copy of
    /// `payload` (`len` bytes, copied at start), valid only during the callback.
    /// Callbacks carrying `result_code` or [`TSDK_ERR_DUPLICATE`] get the payload;
    /// those carrying [`TSDK_ERR_SHUTDOWN`] / [`TSDK_ERR_CANCELED`] get `(NULL, 0)`.
    pub fn tsdk_start_payload_op(
        sdk: *mut tsdk,
        mode: tsdk_mode,
        result_code: c_int,
        payload: *const u8,
        len: usize,
        cb: tsdk_payload_fn,
        user_data: *mut c_void,
        op_out: *mut u64,
    ) -> c_int;

    /// Starts a stream: from its own thread, `n_chunks` calls of `on_chunk`
    /// with `chunk_len`-byte chunks (chunk `i` filled with `i as u8`), then
    /// `on_final(user_data, 0)` once; `on_final(TSDK_ERR_CANCELED)` if canceled,
    /// `on_final(TSDK_ERR_SHUTDOWN)` (from the shutdown caller) at shutdown.
    ///
    /// Flow control when `window > 0`: the SDK sends a chunk only while the open
    /// window is >= `chunk_len`, subtracting `chunk_len` per chunk;
    /// [`tsdk_stream_update_window`] reopens it. `window == 0`: no flow control.
    /// Modes: [`TSDK_FAIL_START`] fails, [`TSDK_ASYNC_UNDER_LOCK`] runs every
    /// callback under the global callback lock, any other mode acts as [`TSDK_ASYNC`].
    #[allow(clippy::too_many_arguments)]
    pub fn tsdk_start_stream(
        sdk: *mut tsdk,
        mode: tsdk_mode,
        n_chunks: usize,
        chunk_len: usize,
        window: usize,
        on_chunk: tsdk_chunk_fn,
        on_final: tsdk_final_fn,
        user_data: *mut c_void,
        op_out: *mut u64,
    ) -> c_int;

    /// Opens a stream's window by `bytes` (saturating). Unknown or finished ops
    /// are ignored.
    pub fn tsdk_stream_update_window(sdk: *mut tsdk, op: u64, bytes: usize);

    /// Asks the SDK to cancel `op`; every call is counted. Returns 1 if the op
    /// was still live (final callback not yet begun), 0 if unknown or finished.
    /// Only [`TSDK_LATE_AFTER_CANCEL`] ops and streams react to it. Takes the
    /// global callback lock; safe inside any callback.
    pub fn tsdk_cancel(sdk: *mut tsdk, op: u64) -> c_int;

    /// Number of [`tsdk_cancel`] calls so far.
    pub fn tsdk_cancels_received(sdk: *mut tsdk) -> u64;

    /// Number of callbacks invoked so far (all kinds, chunks included), counted
    /// just before each callback runs.
    pub fn tsdk_callbacks_made(sdk: *mut tsdk) -> u64;

    /// Ops started and not yet finished with their final callback (an op counts
    /// as finished just before its final callback runs).
    pub fn tsdk_ops_outstanding(sdk: *mut tsdk) -> u64;

    /// Calls back every pending [`TSDK_NEVER`] / [`TSDK_LATE_AFTER_CANCEL`] op
    /// and unfinished stream with [`TSDK_ERR_SHUTDOWN`] from the calling thread,
    /// then joins every SDK thread. Idempotent. Must not be called from inside a
    /// callback (the C side aborts if it would join its own thread).
    pub fn tsdk_shutdown(sdk: *mut tsdk);

    /// [`tsdk_shutdown`], then frees the SDK object. NULL is ignored.
    pub fn tsdk_free(sdk: *mut tsdk);
}

/// Owning handle to a `tsdk` object: [`tsdk_free`] on drop.
///
/// Drop it (or call [`Sdk::shutdown`]) only after everything a pending callback
/// may touch is still alive, and never from inside an SDK callback.
#[derive(Debug)]
pub struct Sdk(*mut tsdk);

// SAFETY: the C SDK is fully thread-safe (every entry point synchronises on the
// SDK's own mutex), so the pointer may be used and freed from any thread;
// `Sdk` hands out no references into the C object.
unsafe impl Send for Sdk {}
// SAFETY: as above; all `&self` methods call thread-safe C functions.
unsafe impl Sync for Sdk {}

impl Sdk {
    /// Creates a fresh SDK object.
    pub fn new() -> Self {
        // SAFETY: tsdk_new has no preconditions.
        let ptr = unsafe { tsdk_new() };
        assert!(!ptr.is_null(), "tsdk_new returned NULL");
        Sdk(ptr)
    }

    /// The raw pointer, for the `tsdk_*` functions. Valid while `self` lives.
    pub fn as_ptr(&self) -> *mut tsdk {
        self.0
    }

    /// [`tsdk_set_concurrency`].
    pub fn set_concurrency(&self, n_threads: u32) {
        // SAFETY: self.0 is a live SDK object until drop.
        unsafe { tsdk_set_concurrency(self.0, n_threads) }
    }

    /// [`tsdk_shutdown`]: delivers pending shutdown callbacks on this thread and
    /// joins all SDK threads. Must not be called from inside an SDK callback.
    pub fn shutdown(&self) {
        // SAFETY: self.0 is a live SDK object until drop.
        unsafe { tsdk_shutdown(self.0) }
    }

    /// [`tsdk_cancel`]: `true` if the op was still live.
    pub fn cancel(&self, op: u64) -> bool {
        // SAFETY: self.0 is a live SDK object until drop.
        unsafe { tsdk_cancel(self.0, op) != 0 }
    }

    /// [`tsdk_cancels_received`].
    pub fn cancels_received(&self) -> u64 {
        // SAFETY: self.0 is a live SDK object until drop.
        unsafe { tsdk_cancels_received(self.0) }
    }

    /// [`tsdk_callbacks_made`].
    pub fn callbacks_made(&self) -> u64 {
        // SAFETY: self.0 is a live SDK object until drop.
        unsafe { tsdk_callbacks_made(self.0) }
    }

    /// [`tsdk_ops_outstanding`].
    pub fn ops_outstanding(&self) -> u64 {
        // SAFETY: self.0 is a live SDK object until drop.
        unsafe { tsdk_ops_outstanding(self.0) }
    }
}

impl Default for Sdk {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Sdk {
    fn drop(&mut self) {
        // SAFETY: self.0 came from tsdk_new and is freed exactly once, here.
        unsafe { tsdk_free(self.0) }
    }
}
