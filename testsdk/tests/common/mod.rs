//! A small binding of the C test SDK on anywait, in the two modes the FFI kit offers,
//! shared by the FFI tests:
//!
//! - **safe handle mode** ([`Safe`]): `user_data` is a [`CompletionHandle`] of a registry
//!   (one set of registries and trampolines per test, from [`registries!`]), so duplicate,
//!   late and forged callbacks are refused and counted instead of being undefined
//!   behaviour;
//! - **raw mode** ([`Raw`]): `user_data` owns a `Completer` / `StreamFeeder`
//!   (`into_raw` / `from_raw`), which trusts the SDK to call back exactly once: only used
//!   with the modes that do.
//!
//! Both hand out futures whose `on_cancel` hook calls `tsdk_cancel`, and streams whose
//! `on_close` hook does, with `on_credit` wired to `tsdk_stream_update_window`.
//!
//! Hooks hold a `Weak<Sdk>`: dropping such a hook (possibly on an SDK thread, with the last
//! handle of a stream) can never be the last owner of the SDK, whose `tsdk_free` must not
//! run on an SDK thread.

#![allow(dead_code)]

use std::ffi::{c_int, c_void};
use std::future::Future;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Once, Weak};
use std::time::Duration;

use anywait::ffi::{catch_callback, CallbackError, Completions, Feeders, PanicPolicy};
use anywait::{
    callback_stream, AsyncEvent, CallbackStream, Completer, StreamFeeder, StreamPolicy,
    TryWaitableFuture,
};
use anywait_testsdk::*;

/// The bound on every wait and await: a broken binding fails instead of hanging.
pub const GUARD: Duration = Duration::from_secs(30);

/// `(user_data, error_code)`.
pub type DoneFn = unsafe extern "C" fn(*mut c_void, c_int);
/// `(user_data, error_code, payload, len)`.
pub type PayloadFn = unsafe extern "C" fn(*mut c_void, c_int, *const u8, usize);
/// `(user_data, chunk, len)`.
pub type ChunkFn = unsafe extern "C" fn(*mut c_void, *const u8, usize);

/// The body chunks of a stream, ended by `CallbackError::Failed(code)` on a non-zero final
/// code.
pub type Body = CallbackStream<Vec<u8>, CallbackError>;
/// A one-shot op's future.
pub type OpFuture = TryWaitableFuture<(), CallbackError>;
/// A payload op's future.
pub type ReadFuture = TryWaitableFuture<Vec<u8>, CallbackError>;

/// What the final callbacks of one test's streams did: lets a test wait (bounded) for a
/// stream's final callback without shutting the SDK down.
pub struct Finals {
    /// Set after every final callback.
    pub ended: AsyncEvent,
    /// Final callbacks so far.
    pub count: AtomicUsize,
    /// The last final callback's error code.
    pub last_code: AtomicI32,
}

impl Finals {
    pub const fn new() -> Self {
        Finals {
            ended: AsyncEvent::new(),
            count: AtomicUsize::new(0),
            last_code: AtomicI32::new(-1),
        }
    }
}

/// One test's registries and the `extern "C"` callbacks bound to them.
#[derive(Clone, Copy)]
pub struct Regs {
    pub ops: &'static Completions<()>,
    pub reads: &'static Completions<Vec<u8>>,
    pub bodies: &'static Feeders<Vec<u8>, CallbackError>,
    pub finals: &'static Finals,
    pub on_done: DoneFn,
    pub on_read: PayloadFn,
    pub on_chunk: ChunkFn,
    pub on_final: DoneFn,
}

impl Regs {
    /// `(ops, reads, bodies)` refusal counts.
    pub fn refused(&self) -> (usize, usize, usize) {
        (
            self.ops.refused(),
            self.reads.refused(),
            self.bodies.refused(),
        )
    }

    /// `(ops, reads, bodies)` outstanding handles.
    pub fn outstanding(&self) -> (usize, usize, usize) {
        (
            self.ops.outstanding(),
            self.reads.outstanding(),
            self.bodies.outstanding(),
        )
    }
}

/// Fresh registries (statics private to the invoking expression, so each test counts its
/// own refusals) and the trampolines bound to them, as a [`Regs`]. The stream's final
/// callback is the `ends` trampoline plus a record in [`Finals`].
macro_rules! registries {
    () => {{
        static OPS: anywait::ffi::Completions<()> = anywait::ffi::Completions::new();
        static READS: anywait::ffi::Completions<Vec<u8>> = anywait::ffi::Completions::new();
        static BODIES: anywait::ffi::Feeders<Vec<u8>, anywait::ffi::CallbackError> =
            anywait::ffi::Feeders::new();
        static FINALS: $crate::common::Finals = $crate::common::Finals::new();
        anywait::trampoline! {
            extern "C" fn on_done(user_data, error_code) completes OPS;
        }
        anywait::trampoline! {
            extern "C" fn on_read(user_data, error_code, payload, len) completes READS;
        }
        anywait::trampoline! {
            extern "C" fn on_chunk(user_data, payload, len) feeds BODIES;
        }
        anywait::trampoline! {
            extern "C" fn end_body(user_data, error_code) ends BODIES;
        }
        extern "C" fn on_final(user_data: *mut ::std::ffi::c_void, error_code: ::std::ffi::c_int) {
            end_body(user_data, error_code);
            let _ = anywait::ffi::catch_callback(anywait::ffi::PanicPolicy::Abort, || {
                FINALS
                    .last_code
                    .store(error_code, ::std::sync::atomic::Ordering::SeqCst);
                FINALS
                    .count
                    .fetch_add(1, ::std::sync::atomic::Ordering::SeqCst);
                FINALS.ended.set();
            });
        }
        $crate::common::Regs {
            ops: &OPS,
            reads: &READS,
            bodies: &BODIES,
            finals: &FINALS,
            on_done,
            on_read,
            on_chunk,
            on_final,
        }
    }};
}
pub(crate) use registries;

/// A hook that cancels `op` on the SDK, if the SDK still exists.
fn cancel_hook(sdk: &Arc<Sdk>, op: u64) -> impl FnOnce() + Send + 'static {
    let sdk = Arc::downgrade(sdk);
    move || {
        if let Some(sdk) = sdk.upgrade() {
            sdk.cancel(op);
        }
    }
}

/// A credit hook that opens the SDK stream's window by the bytes the consumer took.
fn credit_hook(sdk: &Arc<Sdk>, op: u64) -> impl Fn(usize) + Send + Sync + 'static {
    let sdk: Weak<Sdk> = Arc::downgrade(sdk);
    move |bytes| {
        if let Some(sdk) = sdk.upgrade() {
            // SAFETY: the SDK object is alive (we hold a reference); unknown or finished
            // ops are ignored by the C side.
            unsafe { tsdk_stream_update_window(sdk.as_ptr(), op, bytes) }
        }
    }
}

/// The window policy of the tests: `window` bytes of chunks held at most.
pub fn window_policy(window: usize) -> StreamPolicy<Vec<u8>> {
    StreamPolicy::Window {
        initial: window,
        weigh: |chunk: &Vec<u8>| chunk.len(),
    }
}

/// A started (or refused) operation.
#[derive(Debug)]
pub struct Op<F> {
    /// The SDK's op id (0 if the start failed).
    pub id: u64,
    /// The start call's return code.
    pub rc: c_int,
    /// The future (or stream) for the caller.
    pub future: F,
}

/// Safe handle mode: the binding a library would ship.
#[derive(Clone)]
pub struct Safe {
    pub sdk: Arc<Sdk>,
    pub regs: Regs,
}

impl Safe {
    /// A binding on a fresh SDK object.
    pub fn new(regs: Regs) -> Self {
        Safe {
            sdk: new_sdk(),
            regs,
        }
    }

    /// `tsdk_start_op`: the future resolves with `Ok(())`, `Err(Failed(code))`, or
    /// `Err(Abandoned)` (a failed start, or `abandon_all`); dropping it cancels the op.
    pub fn start_op(&self, mode: tsdk_mode, result_code: c_int) -> Op<OpFuture> {
        let ops = self.regs.ops;
        let (handle, future) = ops.issue();
        let mut id = 0;
        // SAFETY: live SDK; the callback matches `tsdk_done_fn` and treats `user_data` as
        // a handle of `ops` (never dereferenced); `id` outlives the call.
        let rc = unsafe {
            tsdk_start_op(
                self.sdk.as_ptr(),
                mode,
                result_code,
                Some(self.regs.on_done),
                handle.into_user_data(),
                &mut id,
            )
        };
        let future = if rc == TSDK_OK {
            future.on_cancel(cancel_hook(&self.sdk, id))
        } else {
            // A failed start never calls back.
            ops.abandon(handle)
                .expect("the handle of a failed start is live");
            future
        };
        Op { id, rc, future }
    }

    /// `tsdk_start_payload_op`: the future gets a copy of the payload.
    pub fn start_read(
        &self,
        mode: tsdk_mode,
        result_code: c_int,
        payload: &[u8],
    ) -> Op<ReadFuture> {
        let reads = self.regs.reads;
        let (handle, future) = reads.issue();
        let mut id = 0;
        // SAFETY: live SDK; `payload` is copied during the call; the callback matches
        // `tsdk_payload_fn` and treats `user_data` as a handle of `reads`.
        let rc = unsafe {
            tsdk_start_payload_op(
                self.sdk.as_ptr(),
                mode,
                result_code,
                payload.as_ptr(),
                payload.len(),
                Some(self.regs.on_read),
                handle.into_user_data(),
                &mut id,
            )
        };
        let future = if rc == TSDK_OK {
            future.on_cancel(cancel_hook(&self.sdk, id))
        } else {
            reads
                .abandon(handle)
                .expect("the handle of a failed start is live");
            future
        };
        Op { id, rc, future }
    }

    /// `tsdk_start_stream` with the same window on both sides (`window == 0`: no flow
    /// control on either side).
    pub fn start_stream(
        &self,
        mode: tsdk_mode,
        n_chunks: usize,
        chunk_len: usize,
        window: usize,
    ) -> Op<Body> {
        let policy = if window == 0 {
            StreamPolicy::Unbounded
        } else {
            window_policy(window)
        };
        self.start_stream_with(policy, mode, n_chunks, chunk_len, window)
    }

    /// `tsdk_start_stream` with an explicit anywait policy and SDK window.
    pub fn start_stream_with(
        &self,
        policy: StreamPolicy<Vec<u8>>,
        mode: tsdk_mode,
        n_chunks: usize,
        chunk_len: usize,
        sdk_window: usize,
    ) -> Op<Body> {
        let bodies = self.regs.bodies;
        let (feeder, stream) = callback_stream(policy);
        let handle = bodies.insert(feeder).expect("a free handle");
        let mut id = 0;
        // SAFETY: live SDK; both callbacks match the SDK's types and treat `user_data` as
        // a handle of `bodies`; `id` outlives the call.
        let rc = unsafe {
            tsdk_start_stream(
                self.sdk.as_ptr(),
                mode,
                n_chunks,
                chunk_len,
                sdk_window,
                Some(self.regs.on_chunk),
                Some(self.regs.on_final),
                handle.into_user_data(),
                &mut id,
            )
        };
        if rc == TSDK_OK {
            // The consumer has taken nothing yet: no credit can be missed.
            stream.on_credit(credit_hook(&self.sdk, id));
            stream.on_close(cancel_hook(&self.sdk, id));
        } else {
            // No callback will come: dropping the feeder ends the stream as abandoned.
            bodies
                .release(handle)
                .expect("the handle of a failed start is live");
        }
        Op {
            id,
            rc,
            future: stream,
        }
    }

    /// The SDK's shutdown: pending NEVER / LATE_AFTER_CANCEL ops and streams are called
    /// back with `TSDK_ERR_SHUTDOWN` on this thread, then every SDK thread is joined.
    pub fn shutdown(&self) {
        self.sdk.shutdown();
    }

    /// A thread that shuts the SDK down (for waits that must be released by it).
    pub fn shutdown_in_thread(&self) -> std::thread::JoinHandle<()> {
        let sdk = Arc::clone(&self.sdk);
        std::thread::spawn(move || sdk.shutdown())
    }
}

/// Maps an SDK error code to the FFI kit's result, as the trampolines do.
pub fn code_result(code: c_int) -> Result<(), CallbackError> {
    if code == 0 {
        Ok(())
    } else {
        Err(CallbackError::Failed(code))
    }
}

// ---- raw mode ------------------------------------------------------------------------

/// Raw `(user_data, error_code)`: `user_data` owns a `Completer` from `into_raw`.
///
/// # Safety
/// `user_data` came from `Completer::<Result<(), CallbackError>>::into_raw` and this is the
/// only callback for it (raw mode trusts the SDK to call back exactly once).
pub unsafe extern "C" fn raw_on_done(user_data: *mut c_void, code: c_int) {
    // SAFETY: forwarded from this function's contract.
    let completer = unsafe { Completer::<Result<(), CallbackError>>::from_raw(user_data) };
    let _ = catch_callback(PanicPolicy::Abort, move || {
        if completer.complete(code_result(code)).is_err() {
            RAW_UNWANTED.fetch_add(1, SeqCst);
        }
    });
}

/// Raw completions that found their future dropped (a late callback after a cancel).
/// Only the raw LATE_AFTER_CANCEL test produces them, so the count is exact there.
pub static RAW_UNWANTED: AtomicUsize = AtomicUsize::new(0);

/// Raw `(user_data, error_code, payload, len)`: copies the payload before returning.
///
/// # Safety
/// As [`raw_on_done`] (with `Result<Vec<u8>, CallbackError>`); `payload` is null or
/// points to `len` bytes valid during the call.
pub unsafe extern "C" fn raw_on_read(
    user_data: *mut c_void,
    code: c_int,
    payload: *const u8,
    len: usize,
) {
    // SAFETY: forwarded from this function's contract.
    let completer = unsafe { Completer::<Result<Vec<u8>, CallbackError>>::from_raw(user_data) };
    let outcome = catch_callback(PanicPolicy::Deliver, || {
        code_result(code)?;
        if payload.is_null() {
            return Ok(Vec::new());
        }
        // SAFETY: the SDK's payload is valid for `len` bytes during the callback; it is
        // copied here, before the SDK overwrites it.
        Ok(unsafe { std::slice::from_raw_parts(payload, len) }.to_vec())
    });
    let result = outcome.unwrap_or_else(|panic| Err(panic.into()));
    let _ = catch_callback(PanicPolicy::Abort, move || {
        if completer.complete(result).is_err() {
            RAW_UNWANTED.fetch_add(1, SeqCst);
        }
    });
}

/// Raw `(user_data, chunk, len)`: `user_data` is a `StreamFeeder` from `into_raw`.
///
/// # Safety
/// `user_data` came from `StreamFeeder::<Vec<u8>, CallbackError>::into_raw` and is released
/// only by [`raw_on_final`], never concurrently with this call; `chunk` is null or points
/// to `len` bytes valid during the call.
pub unsafe extern "C" fn raw_on_chunk(user_data: *mut c_void, chunk: *const u8, len: usize) {
    let _ = catch_callback(PanicPolicy::Abort, || {
        let bytes = if chunk.is_null() {
            Vec::new()
        } else {
            // SAFETY: valid during the callback (contract); copied before returning.
            unsafe { std::slice::from_raw_parts(chunk, len) }.to_vec()
        };
        // SAFETY: the feeder pointer is live until the final callback (contract).
        let pushed = unsafe { StreamFeeder::<Vec<u8>, CallbackError>::push_raw(user_data, bytes) };
        // A rejected push (window overrun, or the consumer is gone) is counted in the
        // stream's stats; nothing to do here.
        drop(pushed);
    });
}

/// Raw final `(user_data, error_code)`: releases the feeder, finishing or failing the
/// stream.
///
/// # Safety
/// As [`raw_on_chunk`]; called exactly once per stream (the SDK guarantees it).
pub unsafe extern "C" fn raw_on_final(user_data: *mut c_void, code: c_int) {
    // SAFETY: forwarded from this function's contract: the final use of the pointer.
    let feeder = unsafe { StreamFeeder::<Vec<u8>, CallbackError>::from_raw(user_data) };
    let _ = catch_callback(PanicPolicy::Abort, move || match code_result(code) {
        Ok(()) => feeder.finish(),
        Err(error) => feeder.fail(error),
    });
}

/// Raw mode: `user_data` owns the completer or feeder.
#[derive(Clone)]
pub struct Raw {
    pub sdk: Arc<Sdk>,
}

impl Raw {
    pub fn new() -> Self {
        Raw { sdk: new_sdk() }
    }

    /// `tsdk_start_op` with `cb` (e.g. [`raw_on_done`]); only for modes that call back
    /// exactly once (or FAIL_START, whose completer the binding reclaims).
    ///
    /// # Safety
    /// `cb` consumes a `Completer::<Result<(), CallbackError>>` pointer exactly once, and
    /// `mode` calls back exactly once or fails to start.
    pub unsafe fn start_op_with(&self, cb: DoneFn, mode: tsdk_mode, code: c_int) -> Op<OpFuture> {
        let (completer, future) = anywait::try_waitable::<(), CallbackError>();
        let user_data = completer.into_raw();
        let mut id = 0;
        // SAFETY: live SDK; `cb` matches `tsdk_done_fn` and owns `user_data` (contract).
        let rc =
            unsafe { tsdk_start_op(self.sdk.as_ptr(), mode, code, Some(cb), user_data, &mut id) };
        let future = if rc == TSDK_OK {
            future.on_cancel(cancel_hook(&self.sdk, id))
        } else {
            // No callback will come: take the completer back; the future sees Abandoned.
            // SAFETY: from `into_raw` above; the SDK will never use it.
            drop(unsafe { Completer::<Result<(), CallbackError>>::from_raw(user_data) });
            future
        };
        Op { id, rc, future }
    }

    /// [`start_op_with`](Self::start_op_with) with [`raw_on_done`].
    ///
    /// # Safety
    /// `mode` calls back exactly once or fails to start (not TWICE, CONCURRENT or
    /// NEVER_EVEN_AT_SHUTDOWN).
    pub unsafe fn start_op(&self, mode: tsdk_mode, code: c_int) -> Op<OpFuture> {
        // SAFETY: forwarded; `raw_on_done` consumes the completer once.
        unsafe { self.start_op_with(raw_on_done, mode, code) }
    }

    /// `tsdk_start_payload_op` with [`raw_on_read`].
    ///
    /// # Safety
    /// As [`start_op`](Self::start_op).
    pub unsafe fn start_read(
        &self,
        mode: tsdk_mode,
        code: c_int,
        payload: &[u8],
    ) -> Op<ReadFuture> {
        let (completer, future) = anywait::try_waitable::<Vec<u8>, CallbackError>();
        let user_data = completer.into_raw();
        let mut id = 0;
        // SAFETY: live SDK; payload copied during the call; `raw_on_read` owns `user_data`.
        let rc = unsafe {
            tsdk_start_payload_op(
                self.sdk.as_ptr(),
                mode,
                code,
                payload.as_ptr(),
                payload.len(),
                Some(raw_on_read),
                user_data,
                &mut id,
            )
        };
        let future = if rc == TSDK_OK {
            future.on_cancel(cancel_hook(&self.sdk, id))
        } else {
            // SAFETY: from `into_raw` above; the SDK will never use it.
            drop(unsafe { Completer::<Result<Vec<u8>, CallbackError>>::from_raw(user_data) });
            future
        };
        Op { id, rc, future }
    }

    /// `tsdk_start_stream` with the raw chunk and final callbacks and a window on both
    /// sides (the SDK calls `on_final` exactly once per started stream).
    pub fn start_stream(
        &self,
        mode: tsdk_mode,
        n_chunks: usize,
        chunk_len: usize,
        window: usize,
    ) -> Op<Body> {
        assert!(window > 0, "raw streams are windowed");
        let (feeder, stream) = callback_stream(window_policy(window));
        let user_data = feeder.into_raw();
        let mut id = 0;
        // SAFETY: live SDK; the callbacks match the SDK's types; `raw_on_final` releases
        // `user_data` exactly once and the SDK never overlaps it with `raw_on_chunk`.
        let rc = unsafe {
            tsdk_start_stream(
                self.sdk.as_ptr(),
                mode,
                n_chunks,
                chunk_len,
                window,
                Some(raw_on_chunk),
                Some(raw_on_final),
                user_data,
                &mut id,
            )
        };
        if rc == TSDK_OK {
            stream.on_credit(credit_hook(&self.sdk, id));
            stream.on_close(cancel_hook(&self.sdk, id));
        } else {
            // SAFETY: from `into_raw` above; the SDK will never use it.
            drop(unsafe { StreamFeeder::<Vec<u8>, CallbackError>::from_raw(user_data) });
        }
        Op {
            id,
            rc,
            future: stream,
        }
    }

    pub fn shutdown(&self) {
        self.sdk.shutdown();
    }
}

// ---- process-wide setup ---------------------------------------------------------------

/// A fresh SDK object, created after [`init`].
pub fn new_sdk() -> Arc<Sdk> {
    init();
    Arc::new(Sdk::new())
}

/// Starts async-io's global driver thread (named "async-io": smol's `block_on` and
/// anywait's timeouts use it) if it is not running yet. Every helper that creates an SDK or
/// a runtime calls this first, so that in a test process the driver thread starts before
/// any thread has been joined.
///
/// Why it matters (valgrind only): that thread never exits, so at exit memcheck reports
/// its glibc TLS block (DTV) as "possibly lost". `testsdk/valgrind.supp` suppresses that
/// one block by its allocation stack (async-io's driver start). But glibc gives a new
/// thread the cached stack, and with it the DTV, of an already-joined thread when it has
/// one: the block would then carry the allocation stack of that earlier thread (an SDK
/// thread, a tokio worker) and escape the narrow suppression.
pub fn init() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| smol::block_on(async {}));
}

/// Lets async-io's reactor apply the timer removals queued by guard timers that were
/// dropped before firing. It applies them only on its next tick, and until then keeps each
/// such timer's waker, and through it the (already dropped) runtime the waker belongs to:
/// a test process exiting right after a test would show that runtime's state as "possibly
/// lost" under valgrind. Registering and awaiting one more timer makes the reactor drain
/// its queue of timer operations (in order) before that timer can fire.
fn flush_timers() {
    smol::block_on(smol::Timer::after(Duration::from_millis(1)));
}

// ---- executors -----------------------------------------------------------------------

/// The executors every async scenario runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exec {
    /// A tokio multi-thread runtime (2 workers); the scenario runs as a spawned task.
    TokioMulti,
    /// A tokio current-thread runtime; the scenario runs in `block_on`.
    TokioCurrent,
    /// A smol executor; the scenario runs as a spawned task.
    Smol,
}

pub const EXECS: [Exec; 3] = [Exec::TokioMulti, Exec::TokioCurrent, Exec::Smol];

/// Runs `scenario` to completion on `exec` (the runtime is created and dropped here).
pub fn run<F>(exec: Exec, scenario: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    init();
    let output = run_on(exec, scenario);
    flush_timers();
    output
}

fn run_on<F>(exec: Exec, scenario: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match exec {
        Exec::TokioMulti => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .expect("a tokio runtime");
            let out = rt.block_on(rt.spawn(scenario));
            drop(rt);
            out.unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()))
        }
        Exec::TokioCurrent => tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a tokio runtime")
            .block_on(scenario),
        Exec::Smol => {
            let ex = smol::Executor::new();
            let task = ex.spawn(scenario);
            smol::block_on(ex.run(task))
        }
    }
}

/// Awaits `future` for at most [`GUARD`]: a hang fails the test.
pub async fn guard<F: Future>(future: F) -> F::Output {
    anywait::timeout(GUARD, future)
        .await
        .expect("an await outlived the guard: the binding hung")
}
