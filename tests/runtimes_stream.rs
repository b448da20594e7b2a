//! Callback streams consumed under every executor anywait claims to support, and by a
//! plain blocking thread, with the items pushed from foreign `std::thread`s (the SDK's
//! threads).
//!
//! Each scenario is written once, as a function of a [`Consumer`] (something that drains a
//! `CallbackStream` to its end: `.collect().await` on a runtime, or `blocking_iter()` on
//! a thread); `runtime_tests!` gives every consumer one test per scenario. Every scenario
//! checks that all items arrive, in each feeder's order, and then exactly the expected
//! end. Flow control is real: the window producer waits on a `Condvar` signalled by
//! `on_credit`, the bounded producer retries (yielding) on `Full`. The only time limit is
//! a failure guard ([`GUARD`]) that turns a hang into a failed test.

mod support;

use std::sync::mpsc;
use std::thread;

use anywait::{callback_stream, CallbackStream, Overflow, RejectReason, StreamError, StreamPolicy};
use futures::StreamExt;
use support::{Credit, Executor, GUARD};

type Collected<T, E> = Vec<Result<T, StreamError<E>>>;

// ---------------------------------------------------------------------------------------
// Consumers.

/// An executor, and how its users drain a stream on it.
type Consumer = support::Runner<Draining>;

enum Draining {
    /// `.collect().await` inside `block_on`.
    Collect,
    /// No runtime: a plain thread drains the stream with `blocking_iter()`
    /// (`next_blocking`).
    BlockingIter,
    /// A blocking thread that waits with `next_timeout` (a long one): the timed path.
    NextTimeout,
}

impl Consumer {
    /// Drains the stream the way this runtime's users would: `.collect().await` inside
    /// `block_on`, or a blocking iterator.
    fn drain<T: Send + 'static, E: Send + 'static>(
        &self,
        mut stream: CallbackStream<T, E>,
    ) -> Collected<T, E> {
        match self.mode {
            Draining::Collect => self.block_on(async move { stream.collect::<Vec<_>>().await }),
            Draining::BlockingIter => thread::spawn(move || stream.blocking_iter().collect())
                .join()
                .unwrap(),
            Draining::NextTimeout => thread::spawn(move || {
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
            .unwrap(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios.

/// A byte window of 4 KiB; 2000 chunks of 1..=700 bytes, each starting with its sequence
/// number, pushed from a foreign thread that respects the credit; then `finish`.
fn window_with_credit(consumer: &Consumer) {
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
fn bounded_with_retry(consumer: &Consumer) {
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
fn two_feeders_abandon(consumer: &Consumer) {
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
fn consumer_drops_midway(consumer: &Consumer) {
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
                support::guarded(GUARD, "the scenario hung", || {
                    super::window_with_credit(&$consumer)
                });
            }

            #[test]
            fn bounded_with_retry() {
                support::guarded(GUARD, "the scenario hung", || {
                    super::bounded_with_retry(&$consumer)
                });
            }

            #[test]
            fn two_feeders_abandon() {
                support::guarded(GUARD, "the scenario hung", || {
                    super::two_feeders_abandon(&$consumer)
                });
            }

            #[test]
            fn consumer_drops_midway() {
                support::guarded(GUARD, "the scenario hung", || {
                    super::consumer_drops_midway(&$consumer)
                });
            }
        }
    )*};
}

runtime_tests! {
    tokio_current_thread: Consumer::new(Executor::tokio_current_thread(), Draining::Collect);
    tokio_multi_thread: Consumer::new(Executor::tokio_multi_thread(), Draining::Collect);
    smol: Consumer::new(Executor::SmolGlobal, Draining::Collect);
    async_executor: Consumer::new(Executor::async_executor(), Draining::Collect);
    pollster: Consumer::new(Executor::Pollster, Draining::Collect);
    // A plain thread; `block_on` is `futures::executor::block_on`.
    blocking_thread: Consumer::new(Executor::FuturesBlockOn, Draining::BlockingIter);
    blocking_timeout: Consumer::new(Executor::FuturesBlockOn, Draining::NextTimeout);
}
