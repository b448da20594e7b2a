//! The executors the runtime tests (`tests/runtimes_*.rs`, `tests/timeout.rs`) run on:
//! [`Executor`] (every executor anywait claims to support), [`Runner`] (an executor and
//! how a test uses it), the tokio and futures constructors, and [`park_block_on`].

// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::future::Future;
use std::panic;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::Instant;

use futures::task::SpawnExt;

use super::guard::GUARD;
use super::wakers::thread_waker;

pub fn tokio_current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

pub fn tokio_multi_thread(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .unwrap()
}

pub fn futures_thread_pool(threads: usize) -> futures::executor::ThreadPool {
    futures::executor::ThreadPool::builder()
        .pool_size(threads)
        .create()
        .unwrap()
}

/// An executor anywait claims to support, as the runtime tests drive it.
// Variants are named after the crates: `AsyncExecutor` is `async_executor`'s.
#[allow(clippy::enum_variant_names)]
pub enum Executor {
    /// tokio, current-thread runtime: the future runs on the calling thread.
    TokioCurrentThread(tokio::runtime::Runtime),
    /// tokio, multi-thread runtime: the future runs as a spawned task on a worker thread.
    TokioMultiThread(tokio::runtime::Runtime),
    /// `smol::block_on` on the calling thread.
    SmolBlockOn,
    /// A task on smol's global executor.
    SmolGlobal,
    /// A `smol::Executor` driven by two threads of its own; futures run as spawned tasks.
    SmolThreads(SmolThreads),
    /// An `async_executor::Executor` run on the calling thread (by `futures::executor`),
    /// the future spawned on it.
    AsyncExecutor(async_executor::Executor<'static>),
    /// `futures::executor::block_on`.
    FuturesBlockOn,
    /// `futures::executor::ThreadPool`; the caller waits on the task's remote handle.
    FuturesThreadPool(futures::executor::ThreadPool),
    /// pollster: the simplest possible `block_on`.
    Pollster,
    /// No executor library at all: [`park_block_on`], as a sync caller would write it.
    Park,
}

impl Executor {
    pub fn tokio_current_thread() -> Self {
        Executor::TokioCurrentThread(tokio_current_thread())
    }

    /// With two worker threads.
    pub fn tokio_multi_thread() -> Self {
        Executor::TokioMultiThread(tokio_multi_thread(2))
    }

    pub fn smol_threads() -> Self {
        Executor::SmolThreads(SmolThreads::new())
    }

    pub fn async_executor() -> Self {
        Executor::AsyncExecutor(async_executor::Executor::new())
    }

    /// With two pool threads.
    pub fn futures_thread_pool() -> Self {
        Executor::FuturesThreadPool(futures_thread_pool(2))
    }

    /// Runs `future` to completion on this executor and returns its output (panics inside
    /// it propagate).
    pub fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            Executor::TokioCurrentThread(rt) => rt.block_on(future),
            Executor::TokioMultiThread(rt) => match rt.block_on(rt.spawn(future)) {
                Ok(out) => out,
                Err(e) => panic::resume_unwind(e.into_panic()),
            },
            Executor::SmolBlockOn => smol::block_on(future),
            Executor::SmolGlobal => smol::block_on(smol::spawn(future)),
            Executor::SmolThreads(threads) => smol::block_on(threads.ex.spawn(future)),
            Executor::AsyncExecutor(ex) => {
                let task = ex.spawn(future);
                futures::executor::block_on(ex.run(task))
            }
            Executor::FuturesBlockOn => futures::executor::block_on(future),
            // A panic in the task is resumed when the handle is awaited. `spawn_with_handle`
            // sends the output from inside the task's poll, before the pool drops the
            // spawned future: awaited inside an `async` block, `future` is dropped first, so
            // whatever it owns is gone when this returns, as with the other executors.
            #[allow(clippy::redundant_async_block)] // not redundant: it orders the drop
            Executor::FuturesThreadPool(pool) => futures::executor::block_on(
                pool.spawn_with_handle(async move { future.await }).unwrap(),
            ),
            Executor::Pollster => pollster::block_on(future),
            Executor::Park => park_block_on(future),
        }
    }
}

/// An [`Executor`], and how a test uses it (`M`): how the runtime tests wait for a future
/// on it, how the stream tests drain a stream.
pub struct Runner<M> {
    pub executor: Executor,
    pub mode: M,
}

impl<M> Runner<M> {
    pub fn new(executor: Executor, mode: M) -> Self {
        Runner { executor, mode }
    }

    /// [`Executor::block_on`].
    pub fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.executor.block_on(future)
    }
}

/// A `smol::Executor` run by two threads of its own until dropped.
pub struct SmolThreads {
    ex: Arc<smol::Executor<'static>>,
    stop: Option<smol::channel::Sender<()>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl SmolThreads {
    fn new() -> Self {
        let ex = Arc::new(smol::Executor::new());
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let threads = (0..2)
            .map(|_| {
                let ex = ex.clone();
                let stopped = stopped.clone();
                thread::spawn(move || {
                    let _ = smol::block_on(ex.run(stopped.recv()));
                })
            })
            .collect();
        SmolThreads {
            ex,
            stop: Some(stop),
            threads,
        }
    }
}

impl Drop for SmolThreads {
    fn drop(&mut self) {
        drop(self.stop.take());
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
    }
}

/// Polls `future` on the calling thread, parking between polls: a ten-line executor, as a
/// sync caller would write it. Fails if not woken within [`GUARD`].
pub fn park_block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = thread_waker();
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + GUARD;
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        assert!(Instant::now() < deadline, "park_block_on: never woken");
        thread::park_timeout(GUARD);
    }
}
