//! Checks the C test SDK's documented behaviour through the raw bindings, with
//! std only. Events are ordered with channels (recv with a generous timeout so
//! a broken SDK fails instead of hanging), never with sleeps.

use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::{self, ThreadId};
use std::time::Duration;

use anywait_testsdk::*;

const TIMEOUT: Duration = Duration::from_secs(30);

/// What a callback saw.
#[derive(Debug, PartialEq)]
enum Event {
    Done { code: c_int, thread: ThreadId },
    Payload { code: c_int, bytes: Option<Vec<u8>> },
    Chunk(Vec<u8>),
    Final { code: c_int, thread: ThreadId },
}

/// State shared with the callbacks through `user_data`. Declared before the
/// `Sdk` in every test so that it outlives it (drop order is reverse).
struct Ctx {
    count: AtomicUsize,
    tx: Sender<Event>,
    /// The SDK, for callbacks that call back into it.
    sdk: AtomicPtr<tsdk>,
    /// Written by the SDK through `op_out` before any callback runs.
    op: AtomicU64,
    /// An op for a callback to cancel.
    other_op: AtomicU64,
    /// Flow-control bookkeeping: initial window, bytes granted, bytes received.
    window: AtomicUsize,
    granted: AtomicUsize,
    received: AtomicUsize,
    over_window: AtomicBool,
}

impl Ctx {
    fn new() -> (Ctx, Receiver<Event>) {
        let (tx, rx) = channel();
        let ctx = Ctx {
            count: AtomicUsize::new(0),
            tx,
            sdk: AtomicPtr::new(ptr::null_mut()),
            op: AtomicU64::new(0),
            other_op: AtomicU64::new(0),
            window: AtomicUsize::new(0),
            granted: AtomicUsize::new(0),
            received: AtomicUsize::new(0),
            over_window: AtomicBool::new(false),
        };
        (ctx, rx)
    }

    fn ud(&self) -> *mut c_void {
        self as *const Ctx as *mut c_void
    }

    fn op_out(&self) -> *mut u64 {
        self.op.as_ptr()
    }

    fn count(&self) -> usize {
        self.count.load(SeqCst)
    }

    fn record(&self, ev: Event) {
        self.count.fetch_add(1, SeqCst);
        // The receiver lives as long as the test; a send error only means the
        // test already failed.
        let _ = self.tx.send(ev);
    }
}

/// Runs a callback body; a panic aborts the process instead of unwinding into C.
fn guard(f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        eprintln!("panic inside an extern \"C\" callback: aborting");
        std::process::abort();
    }
}

/// # Safety
/// `ud` must come from [`Ctx::ud`] of a `Ctx` that is still alive.
unsafe fn ctx<'a>(ud: *mut c_void) -> &'a Ctx {
    // SAFETY: guaranteed by the caller.
    unsafe { &*(ud as *const Ctx) }
}

unsafe extern "C" fn on_done(ud: *mut c_void, code: c_int) {
    guard(|| {
        // SAFETY: every test passes a Ctx that outlives its Sdk.
        let ctx = unsafe { ctx(ud) };
        ctx.record(Event::Done {
            code,
            thread: thread::current().id(),
        });
    })
}

/// Cancels `other_op` and its own op from inside the callback, reads the
/// cancel counter, then reports like `on_done`.
unsafe extern "C" fn on_done_cancel_inside(ud: *mut c_void, code: c_int) {
    guard(|| {
        // SAFETY: every test passes a Ctx that outlives its Sdk.
        let ctx = unsafe { ctx(ud) };
        let sdk = ctx.sdk.load(SeqCst);
        // SAFETY: the Sdk outlives its callbacks; these calls are documented safe in any callback.
        let (other, own, cancels) = unsafe {
            (
                tsdk_cancel(sdk, ctx.other_op.load(SeqCst)),
                tsdk_cancel(sdk, ctx.op.load(SeqCst)),
                tsdk_cancels_received(sdk),
            )
        };
        assert_eq!((other, own, cancels), (1, 0, 2));
        ctx.record(Event::Done {
            code,
            thread: thread::current().id(),
        });
    })
}

unsafe extern "C" fn on_payload(ud: *mut c_void, code: c_int, payload: *const u8, len: usize) {
    guard(|| {
        // SAFETY: every test passes a Ctx that outlives its Sdk.
        let ctx = unsafe { ctx(ud) };
        let bytes = if payload.is_null() {
            assert_eq!(len, 0);
            None
        } else {
            // SAFETY: the SDK passes `len` readable bytes, valid during this call.
            Some(unsafe { std::slice::from_raw_parts(payload, len) }.to_vec())
        };
        ctx.record(Event::Payload { code, bytes });
    })
}

unsafe extern "C" fn on_chunk(ud: *mut c_void, chunk: *const u8, len: usize) {
    guard(|| {
        // SAFETY: every test passes a Ctx that outlives its Sdk.
        let ctx = unsafe { ctx(ud) };
        let received = ctx.received.fetch_add(len, SeqCst) + len;
        let window = ctx.window.load(SeqCst);
        if window > 0 && received > window + ctx.granted.load(SeqCst) {
            ctx.over_window.store(true, SeqCst);
        }
        let bytes = if len == 0 {
            Vec::new()
        } else {
            // SAFETY: the SDK passes `len` readable bytes, valid during this call.
            unsafe { std::slice::from_raw_parts(chunk, len) }.to_vec()
        };
        ctx.record(Event::Chunk(bytes));
    })
}

/// Chunk callback that cancels its own stream from inside (under-lock mode).
unsafe extern "C" fn on_chunk_cancel_self(ud: *mut c_void, chunk: *const u8, len: usize) {
    guard(|| {
        // SAFETY: every test passes a Ctx that outlives its Sdk.
        let ctx = unsafe { ctx(ud) };
        // SAFETY: the Sdk outlives its callbacks; tsdk_cancel is safe in any callback.
        let live = unsafe { tsdk_cancel(ctx.sdk.load(SeqCst), ctx.op.load(SeqCst)) };
        assert_eq!(live, 1);
        // SAFETY: same contract as on_chunk.
        unsafe { on_chunk(ud, chunk, len) }
    })
}

unsafe extern "C" fn on_final(ud: *mut c_void, code: c_int) {
    guard(|| {
        // SAFETY: every test passes a Ctx that outlives its Sdk.
        let ctx = unsafe { ctx(ud) };
        ctx.record(Event::Final {
            code,
            thread: thread::current().id(),
        });
    })
}

fn start_op(sdk: &Sdk, ctx: &Ctx, mode: tsdk_mode, result: c_int) -> c_int {
    // SAFETY: live sdk; ctx outlives the sdk; op_out points into ctx.
    unsafe {
        tsdk_start_op(
            sdk.as_ptr(),
            mode,
            result,
            Some(on_done),
            ctx.ud(),
            ctx.op_out(),
        )
    }
}

fn start_payload(sdk: &Sdk, ctx: &Ctx, mode: tsdk_mode, result: c_int, payload: &[u8]) -> c_int {
    // SAFETY: live sdk; payload is copied during the call; ctx outlives the sdk.
    unsafe {
        tsdk_start_payload_op(
            sdk.as_ptr(),
            mode,
            result,
            payload.as_ptr(),
            payload.len(),
            Some(on_payload),
            ctx.ud(),
            ctx.op_out(),
        )
    }
}

fn start_stream(
    sdk: &Sdk,
    ctx: &Ctx,
    mode: tsdk_mode,
    n: usize,
    len: usize,
    window: usize,
) -> c_int {
    ctx.window.store(window, SeqCst);
    // SAFETY: live sdk; ctx outlives the sdk; op_out points into ctx.
    unsafe {
        tsdk_start_stream(
            sdk.as_ptr(),
            mode,
            n,
            len,
            window,
            Some(on_chunk),
            Some(on_final),
            ctx.ud(),
            ctx.op_out(),
        )
    }
}

fn recv(rx: &Receiver<Event>) -> Event {
    rx.recv_timeout(TIMEOUT).expect("expected a callback")
}

fn done_code(ev: Event) -> c_int {
    match ev {
        Event::Done { code, .. } => code,
        other => panic!("expected Done, got {other:?}"),
    }
}

#[test]
fn async_calls_back_once_from_an_sdk_thread() {
    let (ctx, rx) = Ctx::new();
    let sdk = Sdk::new();
    assert_eq!(start_op(&sdk, &ctx, TSDK_ASYNC, 7), TSDK_OK);
    assert!(ctx.op.load(SeqCst) >= 1);
    match recv(&rx) {
        Event::Done { code, thread } => {
            assert_eq!(code, 7);
            assert_ne!(thread, thread::current().id());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sdk.ops_outstanding(), 0);
    sdk.shutdown(); // joins the SDK thread: nothing more can come
    assert_eq!(ctx.count(), 1);
    assert_eq!(sdk.callbacks_made(), 1);
    assert!(rx.try_recv().is_err());
}

#[test]
fn sync_calls_back_before_start_returns() {
    let (ctx, rx) = Ctx::new();
    let sdk = Sdk::new();
    assert_eq!(start_op(&sdk, &ctx, TSDK_SYNC, 5), TSDK_OK);
    assert_eq!(ctx.count(), 1);
    assert_eq!(
        rx.try_recv().unwrap(),
        Event::Done {
            code: 5,
            thread: thread::current().id()
        }
    );
    assert_eq!(sdk.ops_outstanding(), 0);
    sdk.shutdown();
    assert_eq!(ctx.count(), 1);
}

#[test]
fn twice_calls_back_twice_second_with_duplicate() {
    let (ctx, rx) = Ctx::new();
    let sdk = Sdk::new();
    assert_eq!(start_op(&sdk, &ctx, TSDK_TWICE, 0), TSDK_OK);
    assert_eq!(done_code(recv(&rx)), 0);
    assert_eq!(done_code(recv(&rx)), TSDK_ERR_DUPLICATE);
    assert_eq!(sdk.ops_outstanding(), 0);
    sdk.shutdown();
    assert_eq!(ctx.count(), 2);
    assert_eq!(sdk.callbacks_made(), 2);
}

#[test]
fn never_calls_back_only_at_shutdown_on_the_shutdown_thread() {
    let (ctx, rx) = Ctx::new();
    let sdk = Sdk::new();
    assert_eq!(start_op(&sdk, &ctx, TSDK_NEVER, 0), TSDK_OK);
    // A NEVER op has no thread: nothing can call back before shutdown.
    assert!(sdk.cancel(ctx.op.load(SeqCst)), "a NEVER op stays live");
    assert_eq!(ctx.count(), 0);
    assert_eq!(sdk.ops_outstanding(), 1);
    sdk.shutdown();
    assert_eq!(
        rx.try_recv().unwrap(),
        Event::Done {
            code: TSDK_ERR_SHUTDOWN,
            thread: thread::current().id()
        }
    );
    assert_eq!(ctx.count(), 1);
    assert_eq!(sdk.ops_outstanding(), 0);
    sdk.shutdown(); // idempotent
    assert_eq!(ctx.count(), 1);
}

#[test]
fn never_even_at_shutdown_never_calls_back() {
    let (ctx, _rx) = Ctx::new();
    let sdk = Sdk::new();
    assert_eq!(
        start_op(&sdk, &ctx, TSDK_NEVER_EVEN_AT_SHUTDOWN, 0),
        TSDK_OK
    );
    sdk.shutdown();
    assert_eq!(ctx.count(), 0);
    assert_eq!(sdk.ops_outstanding(), 1);
    assert_eq!(sdk.callbacks_made(), 0);
}

#[test]
fn late_after_cancel_waits_for_the_cancel() {
    let (ctx, rx) = Ctx::new();
    let sdk = Sdk::new();
    assert_eq!(start_op(&sdk, &ctx, TSDK_LATE_AFTER_CANCEL, 0), TSDK_OK);
    // Its thread waits for the cancel, so nothing can have arrived yet.
    assert_eq!(ctx.count(), 0);
    assert!(sdk.cancel(ctx.op.load(SeqCst)));
    match recv(&rx) {
        Event::Done { code, thread } => {
            assert_eq!(code, TSDK_ERR_CANCELED);
            assert_ne!(thread, thread::current().id());
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !sdk.cancel(ctx.op.load(SeqCst)),
        "finished op is no longer live"
    );
    assert_eq!(sdk.cancels_received(), 2);
    sdk.shutdown();
    assert_eq!(ctx.count(), 1);
}

#[test]
fn late_after_cancel_is_called_back_at_shutdown_if_never_canceled() {
    let (ctx, rx) = Ctx::new();
    let sdk = Sdk::new();
    assert_eq!(start_op(&sdk, &ctx, TSDK_LATE_AFTER_CANCEL, 0), TSDK_OK);
    sdk.shutdown();
    assert_eq!(
        rx.try_recv().unwrap(),
        Event::Done {
            code: TSDK_ERR_SHUTDOWN,
            thread: thread::current().id()
        }
    );
    assert_eq!(ctx.count(), 1);
    assert_eq!(sdk.ops_outstanding(), 0);
}

#[test]
fn concurrent_calls_back_from_n_threads() {
    let (ctx, rx) = Ctx::new();
    let sdk = Sdk::new();
    sdk.set_concurrency(3);
    assert_eq!(start_op(&sdk, &ctx, TSDK_CONCURRENT, 9), TSDK_OK);
    let mut codes = Vec::new();
    let mut threads = Vec::new();
    for _ in 0..3 {
        match recv(&rx) {
            Event::Done { code, thread } => {
                codes.push(code);
                threads.push(thread);
            }
            other => panic!("{other:?}"),
        }
    }
    codes.sort();
    assert_eq!(codes, [TSDK_ERR_DUPLICATE, TSDK_ERR_DUPLICATE, 9]);
    threads.sort_by_key(|t| format!("{t:?}"));
    threads.dedup();
    assert_eq!(threads.len(), 3, "three distinct SDK threads");
    assert_eq!(sdk.ops_outstanding(), 0);
    sdk.shutdown();
    assert_eq!(ctx.count(), 3);
    assert_eq!(sdk.callbacks_made(), 3);
}

#[test]
fn fail_start_never_calls_back() {
    let (ctx, _rx) = Ctx::new();
    let sdk = Sdk::new();
    ctx.op.store(99, SeqCst);
    assert_eq!(start_op(&sdk, &ctx, TSDK_FAIL_START, 0), TSDK_ERR_START);
    assert_eq!(ctx.op.load(SeqCst), 0, "op_out is zeroed on failure");
    assert_eq!(
        start_payload(&sdk, &ctx, TSDK_FAIL_START, 0, b"abc"),
        TSDK_ERR_START
    );
    assert_eq!(
        start_stream(&sdk, &ctx, TSDK_FAIL_START, 3, 3, 0),
        TSDK_ERR_START
    );
    assert_eq!(sdk.ops_outstanding(), 0);
    sdk.shutdown();
    assert_eq!(ctx.count(), 0);
    assert_eq!(sdk.callbacks_made(), 0);
}

#[test]
fn payload_arrives_with_the_right_bytes() {
    let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (ctx, rx) = Ctx::new();
    let sdk = Sdk::new();

    assert_eq!(start_payload(&sdk, &ctx, TSDK_SYNC, 1, &payload), TSDK_OK);
    assert_eq!(
        rx.try_recv().unwrap(),
        Event::Payload {
            code: 1,
            bytes: Some(payload.clone())
        }
    );

    assert_eq!(start_payload(&sdk, &ctx, TSDK_ASYNC, 0, &payload), TSDK_OK);
    assert_eq!(
        recv(&rx),
        Event::Payload {
            code: 0,
            bytes: Some(payload.clone())
        }
    );

    assert_eq!(start_payload(&sdk, &ctx, TSDK_TWICE, 0, &payload), TSDK_OK);
    assert_eq!(
        recv(&rx),
        Event::Payload {
            code: 0,
            bytes: Some(payload.clone())
        }
    );
    assert_eq!(
        recv(&rx),
        Event::Payload {
            code: TSDK_ERR_DUPLICATE,
            bytes: Some(payload.clone())
        }
    );

    assert_eq!(start_payload(&sdk, &ctx, TSDK_ASYNC, 0, &[]), TSDK_OK);
    assert_eq!(
        recv(&rx),
        Event::Payload {
            code: 0,
            bytes: None
        }
    );

    assert_eq!(start_payload(&sdk, &ctx, TSDK_NEVER, 0, &payload), TSDK_OK);
    sdk.shutdown();
    assert_eq!(
        rx.try_recv().unwrap(),
        Event::Payload {
            code: TSDK_ERR_SHUTDOWN,
            bytes: None
        }
    );
    assert_eq!(ctx.count(), 6);
}

#[test]
fn stream_delivers_chunks_then_final() {
    let (ctx, rx) = Ctx::new();
    let sdk = Sdk::new();
    assert_eq!(start_stream(&sdk, &ctx, TSDK_ASYNC, 300, 3, 0), TSDK_OK);
    for i in 0..300usize {
        assert_eq!(recv(&rx), Event::Chunk(vec![(i & 0xff) as u8; 3]));
    }
    match recv(&rx) {
        Event::Final { code, .. } => assert_eq!(code, 0),
        other => panic!("{other:?}"),
    }
    sdk.shutdown();
    assert_eq!(ctx.count(), 301);
    assert_eq!(sdk.callbacks_made(), 301);
    assert_eq!(sdk.ops_outstanding(), 0);
}

#[test]
fn stream_window_limits_bytes_until_update() {
    let (ctx, rx) = Ctx::new();
    let sdk = Sdk::new();
    // window 10, chunks of 4: two chunks fit, then it must wait.
    assert_eq!(start_stream(&sdk, &ctx, TSDK_ASYNC, 6, 4, 10), TSDK_OK);
    let op = ctx.op.load(SeqCst);
    let grant = |n: usize| {
        ctx.granted.fetch_add(n, SeqCst); // before the SDK can use it
                                          // SAFETY: live sdk.
        unsafe { tsdk_stream_update_window(sdk.as_ptr(), op, n) };
    };
    let mut chunk = 0u8;
    let mut expect_chunks = |k: usize| {
        for _ in 0..k {
            assert_eq!(recv(&rx), Event::Chunk(vec![chunk; 4]));
            chunk += 1;
        }
    };
    expect_chunks(2); // open: 10 - 8 = 2
    grant(2); // open 4: one chunk
    expect_chunks(1);
    grant(8); // open 8: two chunks
    expect_chunks(2);
    grant(3); // open 3: not enough for a chunk
    grant(1); // open 4: the last chunk
    expect_chunks(1);
    match recv(&rx) {
        Event::Final { code, .. } => assert_eq!(code, 0),
        other => panic!("{other:?}"),
    }
    sdk.shutdown();
    assert!(
        !ctx.over_window.load(SeqCst),
        "SDK sent more than the open window"
    );
    assert_eq!(ctx.received.load(SeqCst), 24);
}

#[test]
fn stream_cancel_while_waiting_for_window() {
    let (ctx, rx) = Ctx::new();
    let sdk = Sdk::new();
    assert_eq!(start_stream(&sdk, &ctx, TSDK_ASYNC, 10, 4, 4), TSDK_OK);
    assert_eq!(recv(&rx), Event::Chunk(vec![0; 4]));
    assert!(sdk.cancel(ctx.op.load(SeqCst)));
    match recv(&rx) {
        Event::Final { code, thread } => {
            assert_eq!(code, TSDK_ERR_CANCELED);
            assert_ne!(thread, thread::current().id());
        }
        other => panic!("{other:?}"),
    }
    sdk.shutdown();
    assert_eq!(ctx.count(), 2);
    assert_eq!(sdk.cancels_received(), 1);
    assert!(!ctx.over_window.load(SeqCst));
}

#[test]
fn stream_shutdown_delivers_final_on_the_shutdown_thread() {
    let (ctx, rx) = Ctx::new();
    let sdk = Sdk::new();
    assert_eq!(start_stream(&sdk, &ctx, TSDK_ASYNC, 10, 4, 8), TSDK_OK);
    assert_eq!(recv(&rx), Event::Chunk(vec![0; 4]));
    assert_eq!(recv(&rx), Event::Chunk(vec![1; 4]));
    sdk.shutdown();
    assert_eq!(
        rx.try_recv().unwrap(),
        Event::Final {
            code: TSDK_ERR_SHUTDOWN,
            thread: thread::current().id()
        }
    );
    assert_eq!(ctx.count(), 3);
    assert_eq!(sdk.ops_outstanding(), 0);
}

#[test]
fn under_lock_callback_may_cancel_and_count() {
    let (ctx, rx) = Ctx::new();
    let (late_ctx, late_rx) = Ctx::new();
    let sdk = Sdk::new();
    ctx.sdk.store(sdk.as_ptr(), SeqCst);
    // A LATE_AFTER_CANCEL op that the under-lock callback will cancel.
    assert_eq!(
        start_op(&sdk, &late_ctx, TSDK_LATE_AFTER_CANCEL, 0),
        TSDK_OK
    );
    ctx.other_op.store(late_ctx.op.load(SeqCst), SeqCst);
    // SAFETY: live sdk; ctx outlives it; op_out points into ctx.
    let rc = unsafe {
        tsdk_start_op(
            sdk.as_ptr(),
            TSDK_ASYNC_UNDER_LOCK,
            0,
            Some(on_done_cancel_inside),
            ctx.ud(),
            ctx.op_out(),
        )
    };
    assert_eq!(rc, TSDK_OK);
    assert_eq!(done_code(recv(&rx)), 0);
    assert_eq!(done_code(recv(&late_rx)), TSDK_ERR_CANCELED);
    sdk.shutdown();
    assert_eq!(ctx.count() + late_ctx.count(), 2);
    assert_eq!(sdk.cancels_received(), 2);
}

#[test]
fn under_lock_stream_can_cancel_itself_from_a_chunk() {
    let (ctx, rx) = Ctx::new();
    let sdk = Sdk::new();
    ctx.sdk.store(sdk.as_ptr(), SeqCst);
    // SAFETY: live sdk; ctx outlives it; op_out points into ctx.
    let rc = unsafe {
        tsdk_start_stream(
            sdk.as_ptr(),
            TSDK_ASYNC_UNDER_LOCK,
            5,
            2,
            0,
            Some(on_chunk_cancel_self),
            Some(on_final),
            ctx.ud(),
            ctx.op_out(),
        )
    };
    assert_eq!(rc, TSDK_OK);
    assert_eq!(recv(&rx), Event::Chunk(vec![0; 2]));
    match recv(&rx) {
        Event::Final { code, .. } => assert_eq!(code, TSDK_ERR_CANCELED),
        other => panic!("{other:?}"),
    }
    sdk.shutdown();
    assert_eq!(ctx.count(), 2);
}

#[test]
fn cancels_are_counted_live_or_not() {
    let (ctx, rx) = Ctx::new();
    let sdk = Sdk::new();
    assert!(!sdk.cancel(12345), "unknown op");
    assert_eq!(start_op(&sdk, &ctx, TSDK_ASYNC, 0), TSDK_OK);
    let op = ctx.op.load(SeqCst);
    assert_eq!(done_code(recv(&rx)), 0);
    assert!(!sdk.cancel(op), "finished op");
    assert_eq!(start_op(&sdk, &ctx, TSDK_NEVER, 0), TSDK_OK);
    assert!(sdk.cancel(ctx.op.load(SeqCst)));
    assert!(
        sdk.cancel(ctx.op.load(SeqCst)),
        "NEVER ignores cancels and stays live"
    );
    assert_eq!(sdk.cancels_received(), 4);
    sdk.shutdown();
    assert_eq!(ctx.count(), 2);
}

#[test]
fn start_after_shutdown_is_refused() {
    let (ctx, _rx) = Ctx::new();
    let sdk = Sdk::new();
    sdk.shutdown();
    assert_eq!(start_op(&sdk, &ctx, TSDK_ASYNC, 0), TSDK_ERR_SHUTDOWN);
    assert_eq!(start_op(&sdk, &ctx, TSDK_SYNC, 0), TSDK_ERR_SHUTDOWN);
    assert_eq!(
        start_stream(&sdk, &ctx, TSDK_ASYNC, 1, 1, 0),
        TSDK_ERR_SHUTDOWN
    );
    assert_eq!(ctx.count(), 0);
}

#[test]
fn many_ops_of_every_mode_are_reaped_and_freed() {
    let (ctx, rx) = Ctx::new();
    let sdk = Sdk::new();
    sdk.set_concurrency(2);
    let modes = [
        (TSDK_ASYNC, 1),
        (TSDK_SYNC, 1),
        (TSDK_TWICE, 2),
        (TSDK_CONCURRENT, 2),
        (TSDK_ASYNC_UNDER_LOCK, 1),
    ];
    let mut expected = 0;
    for round in 0..40 {
        for &(mode, n) in &modes {
            assert_eq!(start_op(&sdk, &ctx, mode, round), TSDK_OK);
            expected += n;
        }
    }
    for _ in 0..expected {
        recv(&rx);
    }
    assert_eq!(sdk.ops_outstanding(), 0);
    drop(sdk); // tsdk_free: joins and frees whatever was not reaped yet
    assert_eq!(ctx.count(), expected);
}
