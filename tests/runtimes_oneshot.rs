//! The one-shot primitive under every executor anywait claims to support, and under plain
//! threads with blocking waits.
//!
//! Each scenario is written once, as a function of a [`Runtime`]: an executor (the tests'
//! shared [`Executor`]s) that can run a `Send + 'static` future to completion
//! (`block_on`), and a way to wait for a [`WaitableFuture`] (`resolve`: await it on the
//! runtime, or block on it). Every runtime gets one test per scenario through
//! `runtime_tests!`.
//!
//! Events are ordered with channels only: a side that must act "after the other side
//! registered" waits for a message sent right after the registering poll. The only time
//! limits are failure guards (`GUARD`) that turn a hang into a failed test.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use anywait::{waitable, Abandoned, WaitError, WaitableFuture};
use futures::future::FusedFuture;
use futures::task::SpawnExt;
use support::{tokio_current_thread, tokio_multi_thread, Executor, Val, GUARD};

/// How often the racy scenarios repeat on each runtime.
const ROUNDS: usize = 20;

// ---------------------------------------------------------------------------------------
// Runtimes.

/// An executor, and how its users wait for a [`WaitableFuture`] on it.
type Runtime = support::Runner<Waiting>;

enum Waiting {
    /// `.await` inside `block_on`.
    Await,
    /// No executor library at all: the waiting side uses `wait_blocking` (the SDK side's
    /// `canceled()` is polled by [`Executor::Park`]).
    WaitBlocking,
    /// As [`Waiting::WaitBlocking`], with repeated short `wait_timeout`s.
    WaitTimeout,
}

impl Runtime {
    /// Waits for `future` the way this runtime's users would: `.await` inside `block_on`,
    /// or a blocking wait. Sends on `registered` once the wait is registered (after the
    /// first poll), with whether that first poll was `Pending`.
    fn resolve<T: Send + 'static>(
        &self,
        mut future: WaitableFuture<T>,
        registered: mpsc::Sender<bool>,
    ) -> Result<T, Abandoned> {
        match self.mode {
            Waiting::Await => self.block_on(async move { Signal::new(future, registered).await }),
            Waiting::WaitBlocking => {
                // Reported right before blocking; a completion that lands in between is
                // fine.
                let _ = registered.send(!future.is_complete());
                future.wait_blocking()
            }
            Waiting::WaitTimeout => {
                let _ = registered.send(!future.is_complete());
                let deadline = Instant::now() + GUARD;
                loop {
                    match future.wait_timeout(Duration::from_millis(2)) {
                        Ok(v) => return Ok(v),
                        Err(WaitError::Abandoned) => return Err(Abandoned),
                        Err(WaitError::Timeout) => {
                            assert!(Instant::now() < deadline, "wait_timeout never completed");
                            assert!(!future.is_terminated());
                        }
                    }
                }
            }
        }
    }
}

/// Wraps a future; after its first poll, sends whether that poll was `Pending`.
struct Signal<F> {
    inner: F,
    tx: Option<mpsc::Sender<bool>>,
}

impl<F> Signal<F> {
    fn new(inner: F, tx: mpsc::Sender<bool>) -> Self {
        Signal {
            inner,
            tx: Some(tx),
        }
    }
}

impl<F: Future + Unpin> Future for Signal<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let r = Pin::new(&mut self.inner).poll(cx);
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(r.is_pending());
        }
        r
    }
}

fn resume<T>(r: std::thread::Result<T>) -> T {
    r.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

// ---------------------------------------------------------------------------------------
// Scenarios.

/// The callback fires on a foreign `std::thread`, after the waiter registered.
fn completed_from_foreign_thread(rt: &Runtime) {
    for round in 0..ROUNDS as u32 {
        let drops = Arc::new(AtomicUsize::new(0));
        let (completer, future) = waitable::<Val>();
        let (registered_tx, registered) = mpsc::channel();
        let sdk_drops = drops.clone();
        let sdk = thread::spawn(move || {
            let first_pending = registered
                .recv_timeout(GUARD)
                .expect("waiter never registered");
            assert!(!completer.is_canceled());
            assert!(
                completer
                    .complete(Val::counted_by(round, &sdk_drops))
                    .is_ok(),
                "complete handed the value back although the future is alive"
            );
            first_pending
        });
        let got = rt
            .resolve(future, registered_tx)
            .expect("Abandoned instead of the value");
        assert_eq!(got.id, round);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "value dropped before delivery"
        );
        drop(got);
        assert!(
            sdk.join().unwrap(),
            "first poll was Ready before the value was sent"
        );
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "value dropped more than once"
        );
    }
}

/// The SDK calls back synchronously, inside `from_callback`.
fn completed_inside_from_callback(rt: &Runtime) {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let future = WaitableFuture::from_callback(move |completer| {
        assert!(completer.complete(Val::counted_by(7, &d)).is_ok());
    });
    assert!(future.is_complete());
    assert!(!future.is_terminated());
    let (tx, registered) = mpsc::channel();
    let got = rt
        .resolve(future, tx)
        .expect("Abandoned instead of the value");
    assert_eq!(got.id, 7);
    // Already complete when first looked at.
    assert!(!registered.recv().unwrap());
    drop(got);
    assert_eq!(drops.load(Ordering::SeqCst), 1);

    // Also from within the runtime itself.
    let got = rt.block_on(async {
        let f = WaitableFuture::from_callback(|c| {
            let _ = c.complete(String::from("inline"));
        });
        f.await
    });
    assert_eq!(got.as_deref(), Ok("inline"));
}

/// The callback never fires: the SDK drops the completer, from a foreign thread after the
/// waiter registered, or synchronously.
fn never_completed(rt: &Runtime) {
    for _ in 0..ROUNDS {
        let (completer, future) = waitable::<Val>();
        let (tx, registered) = mpsc::channel();
        let sdk = thread::spawn(move || {
            let first_pending = registered
                .recv_timeout(GUARD)
                .expect("waiter never registered");
            drop(completer);
            first_pending
        });
        assert_eq!(rt.resolve(future, tx).err(), Some(Abandoned));
        assert!(
            sdk.join().unwrap(),
            "first poll was Ready before the abandonment"
        );
    }

    let future = WaitableFuture::<u8>::from_callback(drop);
    assert!(future.is_complete());
    let (tx, _registered) = mpsc::channel();
    assert_eq!(rt.resolve(future, tx), Err(Abandoned));
}

/// The caller gives up: the future, polled once on the runtime, is dropped there. The SDK
/// side, awaiting `canceled()` on the same runtime from another thread, sees it;
/// `complete` hands the value back and the `on_cancel` hook ran exactly once.
fn canceled_by_dropping_the_future(rt: &Runtime) {
    for round in 0..ROUNDS as u32 {
        let hooks = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut completer, future) = waitable::<Val>();
        let h = hooks.clone();
        let future = future.on_cancel(move || {
            h.fetch_add(1, Ordering::SeqCst);
        });
        let (watching_tx, watching) = mpsc::channel();

        thread::scope(|s| {
            let sdk = s.spawn(|| {
                rt.block_on(async move {
                    Signal::new(completer.canceled(), watching_tx).await;
                    assert!(completer.is_canceled());
                    completer
                })
            });
            // The SDK side registered its cancellation waker (or saw it already, which
            // would be a bug: nothing was dropped yet).
            assert!(
                watching.recv_timeout(GUARD).expect("SDK side never polled"),
                "canceled() was Ready before the future was dropped"
            );
            rt.block_on(async move {
                let mut future = future;
                let first = futures::poll!(&mut future);
                assert!(first.is_pending(), "ready although never completed");
                assert!(!future.is_terminated());
                drop(future);
            });
            let completer = resume(sdk.join());
            assert_eq!(
                hooks.load(Ordering::SeqCst),
                1,
                "on_cancel hook runs exactly once"
            );
            let back = completer
                .complete(Val::counted_by(round, &drops))
                .expect_err("complete accepted a value nobody can read");
            assert_eq!(back.id, round);
        });
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "handed-back value dropped once"
        );
        assert_eq!(
            hooks.load(Ordering::SeqCst),
            1,
            "on_cancel hook runs exactly once"
        );
    }

    // Dropped before anyone polled it, by a foreign thread.
    let hooks = Arc::new(AtomicUsize::new(0));
    let h = hooks.clone();
    let (mut completer, future) = waitable::<u8>();
    let future = future.on_cancel(move || {
        h.fetch_add(1, Ordering::SeqCst);
    });
    let (tx, watching) = mpsc::channel::<bool>();
    let dropper = thread::spawn(move || {
        assert!(watching.recv_timeout(GUARD).unwrap());
        drop(future);
    });
    let completer = rt.block_on(async move {
        Signal::new(completer.canceled(), tx).await;
        completer
    });
    dropper.join().unwrap();
    assert!(completer.is_canceled());
    assert_eq!(completer.complete(3), Err(3));
    assert_eq!(hooks.load(Ordering::SeqCst), 1);
}

macro_rules! runtime_tests {
    ($($name:ident => $rt:expr;)*) => {$(
        mod $name {
            use super::*;

            #[test]
            fn completed_from_foreign_thread() {
                super::completed_from_foreign_thread(&$rt);
            }

            #[test]
            fn completed_inside_from_callback() {
                super::completed_inside_from_callback(&$rt);
            }

            #[test]
            fn never_completed() {
                super::never_completed(&$rt);
            }

            #[test]
            fn canceled_by_dropping_the_future() {
                super::canceled_by_dropping_the_future(&$rt);
            }
        }
    )*};
}

runtime_tests! {
    tokio_current_thread => Runtime::new(Executor::tokio_current_thread(), Waiting::Await);
    tokio_multi_thread => Runtime::new(Executor::tokio_multi_thread(), Waiting::Await);
    smol_block_on => Runtime::new(Executor::SmolBlockOn, Waiting::Await);
    smol_executor => Runtime::new(Executor::smol_threads(), Waiting::Await);
    async_executor => Runtime::new(Executor::async_executor(), Waiting::Await);
    futures_block_on => Runtime::new(Executor::FuturesBlockOn, Waiting::Await);
    futures_thread_pool => Runtime::new(Executor::futures_thread_pool(), Waiting::Await);
    pollster => Runtime::new(Executor::Pollster, Waiting::Await);
    threads_wait_blocking => Runtime::new(Executor::Park, Waiting::WaitBlocking);
    threads_wait_timeout => Runtime::new(Executor::Park, Waiting::WaitTimeout);
}

// ---------------------------------------------------------------------------------------
// Blocking waits inside a tokio runtime: they block that thread but must never panic.

/// A pair whose completer fires from a foreign thread once `go` receives.
fn completed_later(
    value: u32,
) -> (
    WaitableFuture<u32>,
    mpsc::Sender<()>,
    thread::JoinHandle<()>,
) {
    let (completer, future) = waitable();
    let (go, went) = mpsc::channel::<()>();
    let sdk = thread::spawn(move || {
        went.recv_timeout(GUARD).expect("never told to complete");
        completer.complete(value).unwrap();
    });
    (future, go, sdk)
}

#[test]
fn wait_blocking_directly_inside_block_on() {
    for rt in [tokio_current_thread(), tokio_multi_thread(2)] {
        let (future, go, sdk) = completed_later(1);
        let got = rt.block_on(async move {
            go.send(()).unwrap();
            future.wait_blocking()
        });
        assert_eq!(got, Ok(1));
        sdk.join().unwrap();

        let (mut future, go, sdk) = completed_later(2);
        let got = rt.block_on(async move {
            assert_eq!(future.wait_timeout(Duration::ZERO), Err(WaitError::Timeout));
            go.send(()).unwrap();
            future.wait_timeout(GUARD)
        });
        assert_eq!(got, Ok(2));
        sdk.join().unwrap();
    }
}

#[test]
fn wait_blocking_inside_block_in_place() {
    let rt = tokio_multi_thread(2);
    let (future, go, sdk) = completed_later(3);
    let got = rt
        .block_on(rt.spawn(async move {
            tokio::task::block_in_place(move || {
                go.send(()).unwrap();
                future.wait_blocking()
            })
        }))
        .unwrap();
    assert_eq!(got, Ok(3));
    sdk.join().unwrap();
}

#[test]
fn wait_blocking_inside_spawn_blocking() {
    let rt = tokio_multi_thread(2);
    let (future, go, sdk) = completed_later(4);
    let got = rt
        .block_on(rt.spawn_blocking(move || {
            go.send(()).unwrap();
            future.wait_blocking()
        }))
        .unwrap();
    assert_eq!(got, Ok(4));
    sdk.join().unwrap();

    // Also on a current-thread runtime's blocking pool.
    let rt = tokio_current_thread();
    let (future, go, sdk) = completed_later(5);
    let got = rt
        .block_on(async move {
            let waiting = tokio::task::spawn_blocking(move || future.wait_blocking());
            go.send(()).unwrap();
            waiting.await
        })
        .unwrap();
    assert_eq!(got, Ok(5));
    sdk.join().unwrap();
}

#[test]
fn wait_blocking_on_a_tokio_worker_task() {
    let rt = tokio_multi_thread(2);
    let (future, go, sdk) = completed_later(6);
    let got = rt
        .block_on(rt.spawn(async move {
            go.send(()).unwrap();
            future.wait_blocking()
        }))
        .unwrap();
    assert_eq!(got, Ok(6));
    sdk.join().unwrap();
}

/// A timed wait on a future that never completes lasts at least its timeout (lower bound
/// only) and leaves the future intact.
#[test]
fn wait_timeout_lasts_at_least_the_timeout() {
    let (completer, mut future) = waitable::<u8>();
    for timeout in [Duration::from_millis(1), Duration::from_millis(30)] {
        let start = Instant::now();
        assert_eq!(future.wait_timeout(timeout), Err(WaitError::Timeout));
        assert!(start.elapsed() >= timeout, "returned before the timeout");
        let start = Instant::now();
        let deadline = start + timeout;
        assert_eq!(future.wait_deadline(deadline), Err(WaitError::Timeout));
        assert!(Instant::now() >= deadline, "returned before the deadline");
    }
    assert!(!future.is_complete() && !future.is_terminated());
    assert!(!completer.is_canceled());
    completer.complete(8).unwrap();
    assert_eq!(future.wait_timeout(Duration::ZERO), Ok(8));
    assert!(future.is_terminated());
    assert_eq!(
        future.wait_timeout(Duration::ZERO),
        Err(WaitError::Abandoned)
    );
}

/// The futures `ThreadPool` through its `Spawn` trait, with the completion fired from
/// another pool task rather than a plain thread.
#[test]
fn futures_thread_pool_task_completes_another_task() {
    let pool = support::futures_thread_pool(2);
    let (completer, future) = waitable::<u32>();
    let (tx, registered) = mpsc::channel();
    let waiter = pool
        .spawn_with_handle(async move { Signal::new(future, tx).await })
        .unwrap();
    assert!(registered.recv_timeout(GUARD).unwrap());
    pool.spawn(async move { completer.complete(11).unwrap() })
        .unwrap();
    assert_eq!(futures::executor::block_on(waiter), Ok(11));
}
