//! `anywait::timeout`, `timeout_at` and `WaitableFuture::with_timeout` under every
//! executor: tokio (current-thread and multi-thread), smol, the futures executor
//! (`block_on` and `ThreadPool`) and pollster.
//!
//! Each executor runs the same cases: the deadline passes (timing checked as a lower bound
//! only); the future completes in time (the completion is fired from another thread once
//! the waiter is registered: the wrapper [`SignalOnPending`] reports the first `Pending`);
//! and a timed-out `Timeout` drops its inner future at once, so the `on_cancel` hook runs,
//! `Completer::is_canceled()` is true and `complete()` hands the value back, all while
//! the `Timeout` itself is still alive. Nothing sleeps to order events.

mod support;

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anywait::time::{timeout_at, Elapsed};
use anywait::{timeout, waitable, Abandoned, Completer};
use futures::future::FusedFuture;
use support::{runs, with_hook, Executor, SignalOnPending, LONG};

/// A deadline short enough to keep the suite fast, long enough to be measurable.
const SHORT: Duration = Duration::from_millis(50);

/// Spawns a thread that completes `completer` with `value` once `signal` fires.
fn complete_when_registered<T: Send + 'static>(
    completer: Completer<T>,
    value: T,
) -> (mpsc::Sender<()>, std::thread::JoinHandle<Result<(), T>>) {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        rx.recv().expect("the waiter never registered");
        completer.complete(value)
    });
    (tx, thread)
}

// ---------------------------------------------------------------------------------------
// The cases, each an async fn run under every executor.

/// The deadline passes: `Err(Elapsed)` no earlier than the deadline; the inner future was
/// dropped at once (hook ran, completer canceled) although the `Timeout` is still alive;
/// polling it again keeps returning `Err(Elapsed)`.
async fn elapsed() {
    let (completer, future, hook) = with_hook::<u32>();
    let start = Instant::now();
    let mut timed = pin!(timeout(SHORT, future));
    assert!(!timed.is_terminated());
    assert_eq!(timed.as_mut().await, Err(Elapsed));
    assert!(start.elapsed() >= SHORT, "timed out before the deadline");
    assert!(timed.is_terminated());
    // The Timeout is still alive here, yet the operation is already canceled.
    assert_eq!(
        runs(&hook),
        1,
        "the timed-out future was not dropped at once"
    );
    assert!(completer.is_canceled());
    assert_eq!(
        timed.as_mut().await,
        Err(Elapsed),
        "polled again after Ready"
    );
    assert_eq!(completer.complete(1), Err(1));
    assert_eq!(runs(&hook), 1);
}

/// The same through `with_timeout` and `timeout_at`.
async fn elapsed_with_timeout_and_timeout_at() {
    let (completer, future, hook) = with_hook::<u32>();
    let start = Instant::now();
    assert_eq!(future.with_timeout(SHORT).await, Err(Elapsed));
    assert!(start.elapsed() >= SHORT);
    assert_eq!(runs(&hook), 1);
    assert!(completer.is_canceled());

    let (completer, future, hook) = with_hook::<u32>();
    let deadline = Instant::now() + SHORT;
    let mut timed = pin!(timeout_at(deadline, future));
    assert_eq!(timed.as_mut().await, Err(Elapsed));
    assert!(Instant::now() >= deadline, "timed out before the deadline");
    assert_eq!(runs(&hook), 1);
    assert_eq!(completer.complete(2), Err(2));
}

/// The future completes in time: the completion comes from another thread after the
/// waiter registered; the result is `Ok(output)`, nothing is canceled.
async fn completes_in_time() {
    let (completer, future, hook) = with_hook::<u32>();
    let (registered, completing) = complete_when_registered(completer, 5);
    let mut timed = pin!(SignalOnPending::new(timeout(LONG, future), registered, ()));
    assert_eq!(timed.as_mut().await, Ok(Ok(5)));
    assert_eq!(
        completing.join().unwrap(),
        Ok(()),
        "the value was delivered"
    );
    assert_eq!(runs(&hook), 0);

    // The inner future's own abandonment is an output too, not an elapsed deadline.
    let (completer, future) = waitable::<u32>();
    let (tx, rx) = mpsc::channel::<()>();
    let abandoning = std::thread::spawn(move || {
        rx.recv().unwrap();
        drop(completer);
    });
    let timed = SignalOnPending::new(future.with_timeout(LONG), tx, ());
    assert_eq!(timed.await, Ok(Err(Abandoned)));
    abandoning.join().unwrap();
}

/// `FusedFuture::is_terminated` follows the result, and a ready inner future wins over an
/// expired deadline (it is polled first).
async fn fused_and_ready_first() {
    let mut timed = pin!(timeout(LONG, async { 3 }));
    assert!(!timed.is_terminated());
    assert_eq!(timed.as_mut().await, Ok(3));
    assert!(timed.is_terminated());
    // Once terminated, it reports Elapsed (the output was moved out).
    assert_eq!(timed.as_mut().await, Err(Elapsed));

    let past = Instant::now();
    assert_eq!(timeout_at(past, async { 4 }).await, Ok(4));
    let pending = std::future::pending::<()>();
    assert_eq!(timeout_at(past, pending).await, Err(Elapsed));
    assert_eq!(
        timeout(Duration::ZERO, std::future::pending::<()>()).await,
        Err(Elapsed)
    );
    // A duration too large for `Instant` is "no deadline", not a panic.
    assert_eq!(timeout(Duration::MAX, async { 5 }).await, Ok(5));
}

/// A timed-out clone of a `SharedWaitable` is dropped, but another handle keeps the
/// operation alive; the last handle's drop then cancels it.
async fn shared_clone_timeout() {
    let (completer, future, hook) = with_hook::<u32>();
    let shared = future.shared();
    assert_eq!(timeout(SHORT, shared.clone()).await, Err(Elapsed));
    assert_eq!(runs(&hook), 0, "another handle is alive: not canceled");
    assert!(!completer.is_canceled());
    let (registered, completing) = complete_when_registered(completer, 6);
    let timed = SignalOnPending::new(timeout(LONG, shared.clone()), registered, ());
    assert_eq!(timed.await, Ok(Ok(6)));
    assert_eq!(completing.join().unwrap(), Ok(()));
    drop(shared);
    assert_eq!(runs(&hook), 0);

    let (completer, future, hook) = with_hook::<u32>();
    let shared = future.shared();
    assert_eq!(timeout(SHORT, shared).await, Err(Elapsed));
    assert_eq!(runs(&hook), 1, "the last handle timed out: canceled");
    assert!(completer.is_canceled());
}

type Case = fn() -> Pin<Box<dyn Future<Output = ()> + Send>>;

fn cases() -> Vec<(&'static str, Case)> {
    vec![
        ("elapsed", || Box::pin(elapsed())),
        ("elapsed_with_timeout_and_timeout_at", || {
            Box::pin(elapsed_with_timeout_and_timeout_at())
        }),
        ("completes_in_time", || Box::pin(completes_in_time())),
        (
            "fused_and_ready_first",
            || Box::pin(fused_and_ready_first()),
        ),
        ("shared_clone_timeout", || Box::pin(shared_clone_timeout())),
    ]
}

/// Runs every case on `executor`, naming the case that fails.
fn run_all(name: &str, executor: Executor) {
    for (case_name, case) in cases() {
        eprintln!("{name}: {case_name}");
        executor.block_on(case());
    }
}

// ---------------------------------------------------------------------------------------
// The executors.

#[test]
fn tokio_current_thread() {
    // No `enable_time`: the timer is async-io's, not tokio's.
    run_all("tokio current-thread", Executor::tokio_current_thread());
}

#[test]
fn tokio_multi_thread() {
    // Spawned, so the case runs on a worker thread.
    run_all("tokio multi-thread", Executor::tokio_multi_thread());
}

#[test]
fn smol() {
    run_all("smol", Executor::SmolBlockOn);
}

#[test]
fn futures_block_on() {
    run_all("futures block_on", Executor::FuturesBlockOn);
}

#[test]
fn futures_thread_pool() {
    run_all("futures ThreadPool", Executor::futures_thread_pool());
}

#[test]
fn pollster() {
    run_all("pollster", Executor::Pollster);
}

/// The SDK side sees the cancellation of a timed-out operation without polling:
/// `Completer::canceled()`, awaited on the SDK's own thread, resolves when the `Timeout`
/// drops the future, and `complete()` then hands the value back.
#[test]
fn timed_out_operation_is_canceled_for_the_sdk() {
    let (mut completer, future, hook) = with_hook::<u32>();
    let sdk = std::thread::spawn(move || {
        pollster::block_on(completer.canceled());
        assert!(completer.is_canceled());
        completer.complete(9)
    });
    let start = Instant::now();
    assert_eq!(pollster::block_on(future.with_timeout(SHORT)), Err(Elapsed));
    assert!(start.elapsed() >= SHORT);
    assert_eq!(sdk.join().unwrap(), Err(9));
    assert_eq!(runs(&hook), 1);
}
