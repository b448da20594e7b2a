//! Callback streams consumed under every executor anywait claims to support, and by a
//! plain blocking thread, with the items pushed from foreign `std::thread`s (the SDK's
//! threads).
//!
//! Each scenario is written once, generic over a [`Consumer`] (something that drains a
//! `CallbackStream` to its end: `.collect().await` on a runtime, or `blocking_iter()` on
//! a thread); `runtime_tests!` gives every consumer one test per scenario. Every scenario
//! checks that all items arrive, in each feeder's order, and then exactly the expected
//! end. Flow control is real: the window producer waits on a `Condvar` signalled by
//! `on_credit`, the bounded producer retries (yielding) on `Full`. The only time limit is
//! a failure guard ([`GUARD`]) that turns a hang into a failed test.

use std::future::Future;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use anywait::{
    callback_stream, CallbackStream, Overflow, RejectReason, StreamError, StreamFeeder,
    StreamPolicy,
};
use futures::StreamExt;

/// A failure guard: no correct run comes anywhere near it.
const GUARD: Duration = Duration::from_secs(60);

type Collected<T, E> = Vec<Result<T, StreamError<E>>>;

// ---------------------------------------------------------------------------------------
// Consumers.

trait Consumer: Sync {
    /// Runs `future` to completion on this runtime.
    fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Drains the stream the way this runtime's users would: `.collect().await` inside
    /// `block_on`, or a blocking iterator.
    fn drain<T: Send + 'static, E: Send + 'static>(
        &self,
        stream: CallbackStream<T, E>,
    ) -> Collected<T, E> {
        self.block_on(async move { stream.collect::<Vec<_>>().await })
    }
}

/// tokio, current-thread runtime: the stream is awaited on the calling thread.
struct TokioCurrentThread(tokio::runtime::Runtime);

impl TokioCurrentThread {
    fn new() -> Self {
        TokioCurrentThread(
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
        )
    }
}

impl Consumer for TokioCurrentThread {
    fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0.block_on(future)
    }
}

/// tokio, multi-thread runtime: the stream is awaited in a spawned task (a worker thread).
struct TokioMultiThread(tokio::runtime::Runtime);

impl TokioMultiThread {
    fn new() -> Self {
        TokioMultiThread(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap(),
        )
    }
}

impl Consumer for TokioMultiThread {
    fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0.block_on(self.0.spawn(future)).unwrap()
    }
}

/// smol: the stream is awaited in a task on smol's global executor.
struct Smol;

impl Consumer for Smol {
    fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        ::smol::block_on(::smol::spawn(future))
    }
}

/// `async_executor::Executor` run on the calling thread (by `futures::executor`), the
/// stream awaited in a task spawned on it.
struct AsyncExecutor;

impl Consumer for AsyncExecutor {
    fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let ex = ::async_executor::Executor::new();
        let task = ex.spawn(future);
        futures::executor::block_on(ex.run(task))
    }
}

/// pollster: the simplest possible `block_on`.
struct Pollster;

impl Consumer for Pollster {
    fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        ::pollster::block_on(future)
    }
}

/// No runtime: a plain thread drains the stream with `blocking_iter()` (`next_blocking`).
struct BlockingThread;

impl Consumer for BlockingThread {
    fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        futures::executor::block_on(future)
    }

    fn drain<T: Send + 'static, E: Send + 'static>(
        &self,
        mut stream: CallbackStream<T, E>,
    ) -> Collected<T, E> {
        thread::spawn(move || stream.blocking_iter().collect())
            .join()
            .unwrap()
    }
}

/// A blocking thread that waits with `next_timeout` (a long one): the timed path.
struct BlockingTimeout;

impl Consumer for BlockingTimeout {
    fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        futures::executor::block_on(future)
    }

    fn drain<T: Send + 'static, E: Send + 'static>(
        &self,
        mut stream: CallbackStream<T, E>,
    ) -> Collected<T, E> {
        thread::spawn(move || {
            let mut items = Vec::new();
            while let Some(item) = stream.next_timeout(GUARD) {
                assert!(
                    !matches!(item, Err(StreamError::Timeout)),
                    "no item within the guard"
                );
                items.push(item);
            }
            items
        })
        .join()
        .unwrap()
    }
}

/// Runs `f` on its own thread; fails if it does not finish within [`GUARD`].
fn guarded<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(GUARD) {
        Ok(r) => {
            worker.join().unwrap();
            r
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(worker.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the scenario hung"),
    }
}

// ---------------------------------------------------------------------------------------
// A producer that respects the window.

/// The producer's own credit counter, re-opened by `on_credit`. The producer pushes only
/// while it has credit (`> 0`) and otherwise waits on the condvar: flow control, as an
/// SDK with a read window does it.
struct Credit {
    open: Mutex<isize>,
    reopened: Condvar,
}

impl Credit {
    fn install<T, E>(feeder: &StreamFeeder<T, E>, initial: usize) -> Arc<Credit> {
        let credit = Arc::new(Credit {
            open: Mutex::new(initial as isize),
            reopened: Condvar::new(),
        });
        let hook = credit.clone();
        feeder.on_credit(move |weight| {
            *hook.open.lock().unwrap() += weight as isize;
            hook.reopened.notify_one();
        });
        credit
    }

    /// Waits until there is credit, then takes `weight` of it.
    fn take(&self, weight: usize) {
        let mut open = self.open.lock().unwrap();
        while *open <= 0 {
            open = self.reopened.wait(open).unwrap();
        }
        *open -= weight as isize;
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios.

/// A byte window of 4 KiB; 2000 chunks of 1..=700 bytes, each starting with its sequence
/// number, pushed from a foreign thread that respects the credit; then `finish`.
fn window_with_credit<C: Consumer>(consumer: &C) {
    const INITIAL: usize = 4096;
    const CHUNKS: u32 = 2000;
    let (feeder, stream) = callback_stream::<Vec<u8>, String>(StreamPolicy::Window {
        initial: INITIAL,
        weigh: |chunk: &Vec<u8>| chunk.len(),
    });
    let credit = Credit::install(&feeder, INITIAL);
    let producer = thread::spawn(move || {
        for seq in 0..CHUNKS {
            let len = 4 + (seq as usize * 37) % 697;
            let mut chunk = vec![seq as u8; len];
            chunk[..4].copy_from_slice(&seq.to_le_bytes());
            credit.take(len);
            feeder
                .push(chunk)
                .expect("a producer within its credit is never refused");
        }
        let stats = feeder.stats();
        assert_eq!(stats.rejected, 0);
        assert!(feeder.finish());
    });
    let items = consumer.drain(stream);
    producer.join().unwrap();
    assert_eq!(
        items.len(),
        CHUNKS as usize,
        "every chunk, then the end (None)"
    );
    for (seq, item) in items.into_iter().enumerate() {
        let chunk = item.expect("only chunks before the end");
        assert_eq!(chunk[..4], (seq as u32).to_le_bytes(), "out of order");
        assert_eq!(chunk.len(), 4 + (seq * 37) % 697);
    }
}

/// A bounded buffer of 8 that rejects when full; the foreign producer retries each
/// refused item (yielding); then `fail`.
fn bounded_with_retry<C: Consumer>(consumer: &C) {
    const N: u64 = 5000;
    let (feeder, stream) = callback_stream::<u64, String>(StreamPolicy::Bounded {
        capacity: 8,
        overflow: Overflow::Reject,
    });
    let producer = thread::spawn(move || {
        for i in 0..N {
            let mut item = i;
            loop {
                match feeder.push(item) {
                    Ok(()) => break,
                    Err(rejected) => {
                        assert_eq!(rejected.reason(), RejectReason::Full);
                        item = rejected.into_inner();
                        thread::yield_now();
                    }
                }
            }
        }
        assert!(feeder.fail("done".to_string()));
    });
    let items = consumer.drain(stream);
    producer.join().unwrap();
    let mut expected: Vec<_> = (0..N).map(Ok).collect();
    expected.push(Err(StreamError::Failed("done".to_string())));
    assert!(items == expected, "items out of order or the end missing");
}

/// Two foreign threads push through their own feeder clones into an unbounded stream,
/// then drop them: each feeder's order kept, everything delivered, then `Abandoned`.
fn two_feeders_abandon<C: Consumer>(consumer: &C) {
    const PER_FEEDER: u32 = 3000;
    let (feeder, stream) = callback_stream::<(u8, u32), ()>(StreamPolicy::Unbounded);
    let producers: Vec<_> = (0..2u8)
        .map(|f| {
            let feeder = feeder.clone();
            thread::spawn(move || {
                for i in 0..PER_FEEDER {
                    feeder.push((f, i)).unwrap();
                }
            })
        })
        .collect();
    drop(feeder);
    let mut items = consumer.drain(stream);
    for producer in producers {
        producer.join().unwrap();
    }
    assert_eq!(items.pop(), Some(Err(StreamError::Abandoned)), "the end");
    let mut next = [0u32; 2];
    for item in items {
        let (f, i) = item.expect("only items before the end");
        assert_eq!(next[f as usize], i, "feeder {f} out of order");
        next[f as usize] += 1;
    }
    assert_eq!(next, [PER_FEEDER; 2]);
}

/// The consumer drops the stream midway: the producer sees `Closed` and the close hook
/// runs once (the binding would cancel the SDK's stream there).
fn consumer_drops_midway<C: Consumer>(consumer: &C) {
    let (feeder, stream) = callback_stream::<u32, ()>(StreamPolicy::Bounded {
        capacity: 4,
        overflow: Overflow::Reject,
    });
    let (closed_tx, closed_rx) = mpsc::channel();
    feeder.on_close(move || closed_tx.send(()).unwrap());
    let producer = thread::spawn(move || {
        let mut i = 0;
        loop {
            match feeder.push(i) {
                Ok(()) => i += 1,
                Err(rejected) if rejected.reason() == RejectReason::Full => thread::yield_now(),
                Err(rejected) => {
                    assert_eq!(rejected.reason(), RejectReason::Closed);
                    return i;
                }
            }
        }
    });
    let taken = consumer.block_on(async move {
        let mut stream = stream;
        let mut taken = Vec::new();
        for _ in 0..10 {
            taken.push(stream.next().await.unwrap().unwrap());
        }
        taken
    });
    assert_eq!(taken, (0..10).collect::<Vec<_>>());
    closed_rx.recv_timeout(GUARD).expect("the close hook ran");
    assert!(producer.join().unwrap() >= 10);
    assert!(closed_rx.try_recv().is_err(), "the close hook ran once");
}

macro_rules! runtime_tests {
    ($($module:ident: $consumer:expr;)*) => {$(
        mod $module {
            use super::*;

            #[test]
            fn window_with_credit() {
                guarded(|| super::window_with_credit(&$consumer));
            }

            #[test]
            fn bounded_with_retry() {
                guarded(|| super::bounded_with_retry(&$consumer));
            }

            #[test]
            fn two_feeders_abandon() {
                guarded(|| super::two_feeders_abandon(&$consumer));
            }

            #[test]
            fn consumer_drops_midway() {
                guarded(|| super::consumer_drops_midway(&$consumer));
            }
        }
    )*};
}

runtime_tests! {
    tokio_current_thread: TokioCurrentThread::new();
    tokio_multi_thread: TokioMultiThread::new();
    smol: Smol;
    async_executor: AsyncExecutor;
    pollster: Pollster;
    blocking_thread: BlockingThread;
    blocking_timeout: BlockingTimeout;
}
