//! anywait driving the AWS Common Runtime: aws-c-io and aws-c-http completions as futures
//! for any executor, built only from anywait's primitives.
//!
//! This crate is an integration proof, not a published binding. It links the CRT through
//! [`mountpoint_s3_crt_sys`] (re-exported as [`sys`]) and wraps:
//!
//! | CRT | callback | anywait primitive | here |
//! |---|---|---|---|
//! | `aws_event_loop_group_new` | `shutdown_callback_fn` | [`AsyncEvent`](anywait::AsyncEvent) via [`ffi::Setters`](anywait::ffi::Setters) | [`EventLoopGroup`] |
//! | `aws_host_resolver_resolve_host` | `aws_on_host_resolved_result_fn` | [`TryWaitableFuture`](anywait::TryWaitableFuture) via [`ffi::Registry`](anywait::ffi::Registry) | [`HostResolver::resolve`] |
//! | `aws_future_void` / `_bool` / `_size` | `aws_future_callback_fn` | [`TryWaitableFuture`](anywait::TryWaitableFuture) | [`crt_future`] |
//! | `aws_http_client_connect` | `on_setup`, `on_shutdown` | one-shot + event | [`HttpConnection::connect`] |
//! | `aws_http_connection_make_request` | headers, body, complete | one-shot + [`CallbackStream`](anywait::CallbackStream) under [`StreamPolicy::Window`](anywait::StreamPolicy) | [`HttpConnection::get`] |
//! | `aws_websocket_client_connect` (declared by hand) | setup, shutdown, incoming frame begin/payload/complete, outgoing payload/complete | one-shot + [`CallbackStream`](anywait::CallbackStream) under [`StreamPolicy::Window`](anywait::StreamPolicy) + event | [`WebSocket`] |
//!
//! Every `extern "C"` callback runs its body inside [`anywait::ffi::catch_callback`]: a
//! panic never unwinds into the CRT's event-loop threads, and a blocking wait inside one
//! reports [`WouldDeadlock`](anywait::WouldDeadlock) instead of hanging the loop.
//!
//! Every CRT object shuts down asynchronously: each wrapper's `shutdown()` releases the
//! binding's reference and returns the [`AsyncEvent`](anywait::AsyncEvent) that the CRT's
//! shutdown callback sets, to await under any executor or wait on blockingly.
//!
//! ```no_run
//! use anywait_aws_crt::{Allocator, EventLoopGroup, HostResolver};
//!
//! anywait_aws_crt::init();
//! let allocator = Allocator::default_allocator();
//! let group = EventLoopGroup::new(allocator, 1).unwrap();
//! let resolver = HostResolver::new(allocator, &group, 8).unwrap();
//! let addresses = resolver.resolve("localhost").wait_blocking().unwrap();
//! assert!(!addresses.is_empty());
//! resolver.shutdown().wait_blocking();
//! group.shutdown().wait_blocking();
//! ```
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod alloc;
pub mod crt_future;
mod error;
mod event_loop;
mod http;
mod resolver;
mod websocket;

pub use mountpoint_s3_crt_sys as sys;

pub use alloc::{join_all_managed_threads, Allocator, TracingAllocator};
pub use error::CrtError;
pub use event_loop::EventLoopGroup;
pub use http::{ClientBootstrap, ConnectOptions, HttpConnection, Response, ResponseBody};
pub use resolver::HostResolver;
pub use websocket::{opcode, Frame, Frames, WebSocket, WebSocketOptions, WebSocketSender};

use std::sync::Once;

/// Initializes aws-c-io and aws-c-http once per process (with the CRT's default
/// allocator, so that per-test tracing allocators see only their own objects). Every
/// constructor here calls it; calling it again is free.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // SAFETY: called once per process (the `Once`), with the CRT's static default
        // allocator, which lives for the whole process. aws_http_library_init initializes
        // aws-c-io (and aws-c-common) too. The libraries are never cleaned up: other threads
        // may still use them until the process exits.
        unsafe {
            sys::aws_http_library_init(sys::aws_default_allocator());
        }
    });
}

/// A raw pointer that may cross threads: the CRT objects it points to are thread-safe for
/// the calls made through it (reference counting, cancel, window updates).
#[derive(Debug)]
pub(crate) struct SendPtr<T>(pub(crate) *mut T);

// SAFETY: only used for CRT objects whose used functions are documented thread-safe
// (acquire/release, aws_http_stream_update_window, aws_http_stream_cancel,
// aws_future_*_set_*), see each use.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above: shared use only calls thread-safe CRT functions.
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}

/// Builds an `aws_byte_cursor` over `bytes` (valid as long as `bytes` is).
pub(crate) fn cursor(bytes: &[u8]) -> sys::aws_byte_cursor {
    sys::aws_byte_cursor {
        len: bytes.len(),
        ptr: bytes.as_ptr().cast_mut(),
    }
}

/// Copies an `aws_byte_cursor` that is valid for the current callback.
///
/// # Safety
/// `cursor.ptr` is null or points to `cursor.len` readable bytes.
pub(crate) unsafe fn cursor_bytes(cursor: &sys::aws_byte_cursor) -> Vec<u8> {
    if cursor.ptr.is_null() || cursor.len == 0 {
        return Vec::new();
    }
    // SAFETY: forwarded from this function's contract.
    unsafe { std::slice::from_raw_parts(cursor.ptr, cursor.len) }.to_vec()
}
