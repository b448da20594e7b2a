//! Callback completions as futures for any executor, and as blocking waits.
//!
//! anywait is for library authors who wrap callback SDKs (C SDKs such as the AWS Common
//! Runtime, librdkafka, c-ares or MQTT clients, and any API that reports completion from
//! its own threads) and must hand their users plain Rust futures that work under *any*
//! executor, plus blocking waits for sync callers. It depends on no runtime.
//!
//! # Primitives
//!
//! - [`waitable()`], [`WaitableFuture`], [`Completer`]: a one-shot completion fired from any
//!   thread, awaitable anywhere, blockingly waitable with a timeout, with cancellation the
//!   SDK side can see.
//! - [`AsyncEvent`]: a latched event (Python's `threading.Event`) that any thread sets and
//!   any number of tasks and threads wait on, with no polling and no helper threads.
//!   [`EventSetter`] carries it through a C callback's `user_data`.
//! - [`SharedWaitable`] (from [`WaitableFuture::shared`]): one result for any number of
//!   waiting tasks and threads, with any number of done-callbacks.
//! - the cancellable waiter ([`wait_on`], [`Waiters::wait_on_keyed`], [`run_blocking`]):
//!   foreign *blocking* waits and blocking work as cancellable futures, on a [`Waiters`]
//!   pool with its own thread limit, one helper per foreign event, prompt cancellation.
//! - [`callback_stream`]: repeated callbacks (HTTP bodies, websocket frames) into a
//!   [`Stream`](futures_core::Stream) with flow control ([`StreamPolicy`]: a credit window
//!   like the AWS CRT's, a bounded buffer with an overflow rule, or unbounded) that never
//!   blocks the SDK's thread.
//! - `timeout`, `time::timeout_at` and `WaitableFuture::with_timeout` (feature
//!   `timer`): deadlines that work under every executor, on `async-io`'s timer.
//! - [`try_waitable()`], [`TryWaitableFuture`], [`TrySharedWaitable`]: the same one-shot
//!   completion for SDKs that report success or an error code, resolving to
//!   `Result<T, E>` with one level (the binding's `E: From<Abandoned>`).
//! - [`ffi`]: the FFI kit — completion handles that survive a misbehaving C SDK
//!   ([`ffi::Registry`]), panic containment at the `extern "C"` boundary
//!   ([`ffi::catch_callback`]), deadlock detection on the SDK's threads
//!   ([`ffi::callback_scope`], [`WouldDeadlock`]) and [`trampoline!`]s for the common
//!   callback shapes.
//! - [`panics`]: where panics in hooks anywait runs on other threads go.
//!
//! # Wrapping a callback SDK
//!
//! A typical C SDK starts an operation with a function that takes a callback and a
//! `user_data` pointer, and later calls the callback, once, from one of its own threads:
//!
//! ```c
//! int sdk_get(const char *key, void (*on_done)(void *user_data, int status), void *user_data);
//! void sdk_cancel(int op_id);
//! ```
//!
//! The binding keeps a `static` [`ffi::Completions`] registry, passes a
//! [`ffi::CompletionHandle`] through `user_data`, and returns the future, with an
//! [`on_cancel`](TryWaitableFuture::on_cancel) hook that tells the SDK to stop if the
//! caller drops it. [`trampoline!`] writes the `extern "C"` callback, with panic
//! containment built in; a duplicate, late or forged callback is refused, never undefined
//! behaviour:
//!
//! ```
//! use anywait::ffi::{CallbackError, Completions};
//! use anywait::TryWaitableFuture;
//! # mod sdk {
//! #     use std::ffi::{c_int, c_void};
//! #     pub type Callback = extern "C" fn(*mut c_void, c_int);
//! #     pub unsafe fn sdk_get(cb: Callback, user_data: *mut c_void) -> i32 {
//! #         let user_data = user_data as usize;
//! #         std::thread::spawn(move || cb(user_data as *mut c_void, 0));
//! #         1
//! #     }
//! #     pub unsafe fn sdk_cancel(_op: i32) {}
//! # }
//!
//! static GETS: Completions<()> = Completions::new();
//!
//! anywait::trampoline! {
//!     /// Runs on an SDK thread: status 0 completes with Ok(()), any other status with
//!     /// Err(CallbackError::Failed(status)). Never blocks, never unwinds into C.
//!     extern "C" fn on_done(user_data, error_code) completes GETS;
//! }
//!
//! /// The binding's public API: a plain future, plus blocking waits for sync callers.
//! pub fn get() -> TryWaitableFuture<(), CallbackError> {
//!     let (handle, future) = GETS.issue();
//!     // SAFETY: `on_done` matches the SDK's callback type; the handle is an integer.
//!     let op = unsafe { sdk::sdk_get(on_done, handle.into_user_data()) };
//!     // SAFETY: `op` is a live operation id; cancelling a finished one is a no-op.
//!     future.on_cancel(move || unsafe { sdk::sdk_cancel(op) })
//! }
//!
//! // Works under any executor...
//! assert_eq!(futures::executor::block_on(get()), Ok(()));
//! // ...and for sync callers.
//! assert_eq!(get().wait_blocking(), Ok(()));
//! ```
//!
//! For SDKs that promise exactly one callback, [`Completer::into_raw`] /
//! [`Completer::from_raw`] carry the completer itself through `user_data` (raw mode: no
//! registry, but a second callback is a double free and a missing one leaves the future
//! pending — bound it with [`WaitableFuture::wait_timeout`] or `with_timeout`). The guide
//! [Wrapping a C callback SDK](#wrapping-a-c-callback-sdk) below goes through failed
//! starts, payloads, duplicates, cancellation, streams, shutdown, panics and the SDK's own
//! thread, step by step.
//!
//! Rules of thumb the primitives are built around:
//!
//! 1. **Never block the SDK's thread.** [`Completer::complete`] never blocks, and
//!    returns the value when nobody wants it.
//! 2. **A callback that never fires is an error, not a hang.** Dropping a [`Completer`]
//!    resolves its future with [`Abandoned`]. Make sure your `user_data` is released when
//!    the SDK reports it will not call back (e.g. on a failed start).
//! 3. **Tell the SDK when the caller gives up.** Use
//!    [`on_cancel`](WaitableFuture::on_cancel), or let SDK-side work watch
//!    [`Completer::is_canceled`] / [`Completer::canceled`].
//! 4. **Pure Rust SDKs** that take a Rust closure need no raw pointers:
//!    [`WaitableFuture::from_callback`] hands the completer to the closure in one
//!    expression, even if the SDK answers synchronously.
//! 5. **Sync callers** use [`WaitableFuture::wait_blocking`],
//!    [`wait_timeout`](WaitableFuture::wait_timeout) or
//!    [`on_complete`](WaitableFuture::on_complete); none needs an executor. Never wait
//!    blockingly on the SDK thread that would fire the callback.
//!
//! ## Events the SDK signals
//!
//! For "shutdown complete", "connection ready" and other latched signals, give the SDK an
//! [`EventSetter`] (through `user_data` with [`EventSetter::into_raw`]; its callback calls
//! [`EventSetter::set_raw`], as often as it likes) and your users an [`AsyncEvent`] to
//! `wait()` on, from any number of tasks and threads at once:
//!
//! ```
//! use std::sync::Arc;
//! use anywait::{AsyncEvent, EventSetter};
//!
//! let shutdown = Arc::new(AsyncEvent::new());
//! let setter = EventSetter::new(&shutdown);
//! std::thread::spawn(move || setter.set()); // the SDK's "shutdown complete" callback
//! futures::executor::block_on(shutdown.wait());
//! ```
//!
//! ## Results many parties wait for
//!
//! [`WaitableFuture::shared`] turns a one-shot result into a [`SharedWaitable`]: clone it
//! for every waiter, register done-callbacks with [`SharedWaitable::on_complete`] (Python's
//! `add_done_callback`). The operation is canceled only when the last handle is dropped.
//!
//! ## Signals that cannot call back
//!
//! When the SDK offers only a blocking `wait(timeout)`, hand it to [`wait_on`] (or
//! [`Waiters::wait_on_keyed`] to share one helper thread among all waiters of the same
//! object). Add [`ForeignWait::with_interrupt`] if the wait can be poked, so cancellation is
//! immediate instead of taking up to one slice. Blocking calls go to [`run_blocking`],
//! whose closure gets a [`CancelToken`]. Both run on a [`Waiters`] pool, never on your
//! users' runtime's blocking pool.
//!
//! ```
//! use std::sync::mpsc;
//!
//! let (signal, foreign) = mpsc::channel::<()>();
//! let ready = anywait::wait_on(move |slice| foreign.recv_timeout(slice).is_ok());
//! let answer = anywait::run_blocking(|_token| 6 * 7); // e.g. a blocking C call
//! signal.send(()).unwrap();
//! futures::executor::block_on(ready).unwrap();
//! assert_eq!(answer.wait_blocking().unwrap(), 42);
//! ```
//!
//! ## Repeated callbacks
//!
//! HTTP bodies and websocket frames arrive as many callbacks on an SDK thread that must
//! never block. [`callback_stream`] gives the callbacks a [`StreamFeeder`] and your users a
//! [`CallbackStream`]. Choose the flow control: a [`StreamPolicy::Window`] mirrors the
//! AWS CRT's read window — wire [`StreamFeeder::on_credit`] to the SDK's "update window"
//! call — and bounds memory to the window plus one chunk.
//!
//! ```
//! use anywait::{callback_stream, StreamPolicy};
//!
//! let (feeder, mut body) = callback_stream::<Vec<u8>, String>(StreamPolicy::Window {
//!     initial: 256 * 1024,
//!     weigh: |chunk: &Vec<u8>| chunk.len(),
//! });
//! feeder.on_credit(|bytes| { let _ = bytes; /* aws_http_stream_update_window(s, bytes) */ });
//! std::thread::spawn(move || {
//!     feeder.push(b"hello".to_vec()).unwrap(); // the SDK's on_body callback
//!     feeder.finish();                          // its on_complete callback
//! });
//! assert_eq!(body.next_blocking().unwrap().unwrap(), b"hello");
//! assert!(body.next_blocking().is_none());
//! ```
//!
//! ## Which thread runs what
//!
//! | code | runs on |
//! |---|---|
//! | `on_cancel` hooks, `on_close` hooks, interrupt hooks | the thread that drops the last handle |
//! | `WaitableFuture::on_complete`, `SharedWaitable::on_complete` | the completing thread (or at once on the registering thread) |
//! | `on_credit` hooks (`StreamFeeder::on_credit`, `CallbackStream::on_credit`) | the consumer's thread, as it takes items |
//! | `wait_on`'s `wait_slice`, `run_blocking`'s closure | an `anywait-waiter-N` pool thread |
//!
//! None of them runs under an internal lock, and a panic in any of them never unwinds
//! into the thread that runs it: hooks' panics go to the [panic handler](panics)
//! (`SharedWaitable`'s done-callbacks keep theirs for
//! [`take_callback_panics`](SharedWaitable::take_callback_panics)); panics in `wait_slice`
//! and in `run_blocking` closures reach the awaiting side as [`Panicked`].
//!
#![doc = include_str!("guide_c_sdk.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]
#![warn(missing_debug_implementations, rust_2018_idioms)]

mod core;
mod error;
pub mod event;
pub mod ffi;
pub mod panics;
pub mod shared;
pub mod stream;
mod sync;
#[cfg(all(test, not(anywait_loom)))]
mod tests;
#[cfg(feature = "timer")]
#[cfg_attr(docsrs, doc(cfg(feature = "timer")))]
pub mod time;
pub mod try_waitable;
pub mod waitable;
pub mod waiter;

pub use error::{Abandoned, Elapsed, Panicked, TryTakeError, WaitError, WouldDeadlock};
pub use event::{AsyncEvent, EventSetter, EventWait, OwnedEventWait};
pub use shared::SharedWaitable;
pub use stream::{
    callback_stream, BlockingIter, CallbackStream, Overflow, RejectReason, Rejected, StreamError,
    StreamFeeder, StreamPolicy, StreamStats,
};
#[cfg(feature = "timer")]
pub use time::{timeout, Timeout, TryTimeout};
pub use try_waitable::{try_waitable, TrySharedWaitable, TryWaitableFuture};
pub use waitable::{waitable, Canceled, Completer, WaitableFuture};
pub use waiter::{
    run_blocking, wait_on, BlockingTask, CancelToken, ForeignWait, Waiters, WaitersBuilder,
};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
