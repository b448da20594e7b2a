//! Callback streams: anywait's `callback_stream` against peer channels as the pipe from a
//! foreign (SDK) thread to a consumer.
//!
//! Run with `cargo bench --bench stream`. All groups run in one criterion run so that the
//! ratios between crates are comparable; `BENCHMARKS.stream.md` records the results.
//!
//! Every measurement moves [`N`] `u64`s from one foreign `std::thread` (spawned per
//! run, as an SDK's callback thread) to a consumer, and ends when the consumer has seen
//! the end of the stream and the producer is joined; the consumer checks the sum. The
//! producers never block: a bounded producer that is refused (anywait `Rejected(Full)`,
//! the peers' `try_send` `Full`) yields (`std::thread::yield_now`) and retries the same
//! item. Groups:
//!
//! - `bounded_async`: capacity [`CAP`]; anywait `Bounded { CAP, Reject }` vs
//!   `tokio::sync::mpsc::channel(CAP)`, `async_channel::bounded(CAP)`,
//!   `flume::bounded(CAP)`, `futures::channel::mpsc::channel(CAP)` (which holds
//!   `CAP + 1` with one sender). The consumer is a task on a single-threaded executor,
//!   `futures::executor::block_on`, the same for every crate.
//! - `bounded_blocking`: the same pipes, drained by the bench thread with each crate's
//!   blocking receive (anywait `next_blocking`, tokio `blocking_recv`, async-channel
//!   `recv_blocking`, flume `recv`, futures `executor::block_on_stream`).
//! - `unbounded_async`, `unbounded_blocking`: anywait `Unbounded` vs the peers'
//!   unbounded channels (`futures` `unbounded_send`), consumed as above.

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use futures::StreamExt;

/// Items per measured run.
const N: u64 = 100_000;
/// Capacity of the bounded pipes.
const CAP: usize = 1024;
/// What the consumer must sum to.
const SUM: u64 = N * (N - 1) / 2;

/// One measured run: spawns the producer with `tx`, runs `consume` on this thread, joins.
fn run<Tx: Send + 'static>(tx: Tx, produce: fn(Tx), consume: impl FnOnce() -> u64) -> Duration {
    let start = Instant::now();
    let producer = thread::spawn(move || produce(tx));
    let sum = consume();
    producer.join().expect("producer panicked");
    let elapsed = start.elapsed();
    assert_eq!(sum, SUM, "items lost or duplicated");
    elapsed
}

/// Pushes `0..N`, retrying each refused item after a `yield_now`.
macro_rules! retrying {
    ($tx:ident, $send:expr, $full:pat => $back:expr) => {
        for i in 0..N {
            let mut item = black_box(i);
            loop {
                match $send(&$tx, item) {
                    Ok(()) => break,
                    Err($full) => {
                        item = $back;
                        thread::yield_now();
                    }
                }
            }
        }
    };
}

// ---------------------------------------------------------------------------------------
// Producers.

fn anywait_bounded() -> (
    anywait::StreamFeeder<u64, ()>,
    anywait::CallbackStream<u64, ()>,
) {
    anywait::callback_stream(anywait::StreamPolicy::Bounded {
        capacity: CAP,
        overflow: anywait::Overflow::Reject,
    })
}

fn anywait_unbounded() -> (
    anywait::StreamFeeder<u64, ()>,
    anywait::CallbackStream<u64, ()>,
) {
    anywait::callback_stream(anywait::StreamPolicy::Unbounded)
}

fn produce_anywait(tx: anywait::StreamFeeder<u64, ()>) {
    retrying!(tx, anywait::StreamFeeder::push, rejected => {
        debug_assert_eq!(rejected.reason(), anywait::RejectReason::Full);
        rejected.into_inner()
    });
    assert!(tx.finish());
}

fn produce_tokio(tx: tokio::sync::mpsc::Sender<u64>) {
    use tokio::sync::mpsc::error::TrySendError;
    retrying!(tx, tokio::sync::mpsc::Sender::try_send, e => match e {
        TrySendError::Full(item) => item,
        TrySendError::Closed(_) => panic!("closed"),
    });
}

fn produce_tokio_unbounded(tx: tokio::sync::mpsc::UnboundedSender<u64>) {
    for i in 0..N {
        tx.send(black_box(i)).unwrap();
    }
}

fn produce_async_channel(tx: async_channel::Sender<u64>) {
    use async_channel::TrySendError;
    retrying!(tx, async_channel::Sender::try_send, e => match e {
        TrySendError::Full(item) => item,
        TrySendError::Closed(_) => panic!("closed"),
    });
}

fn produce_flume(tx: flume::Sender<u64>) {
    use flume::TrySendError;
    retrying!(tx, flume::Sender::try_send, e => match e {
        TrySendError::Full(item) => item,
        TrySendError::Disconnected(_) => panic!("closed"),
    });
}

fn produce_flume_unbounded(tx: flume::Sender<u64>) {
    for i in 0..N {
        tx.send(black_box(i)).unwrap();
    }
}

fn produce_futures(mut tx: futures::channel::mpsc::Sender<u64>) {
    for i in 0..N {
        let mut item = black_box(i);
        loop {
            match tx.try_send(item) {
                Ok(()) => break,
                Err(e) => {
                    assert!(e.is_full(), "closed");
                    item = e.into_inner();
                    thread::yield_now();
                }
            }
        }
    }
}

fn produce_futures_unbounded(tx: futures::channel::mpsc::UnboundedSender<u64>) {
    for i in 0..N {
        tx.unbounded_send(black_box(i)).unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Consumers.

/// Drains any `Stream` of `u64`s in a task on `futures::executor::block_on`.
fn drain_async<S: futures::Stream<Item = u64> + Unpin>(mut stream: S) -> u64 {
    futures::executor::block_on(async move {
        let mut sum = 0;
        while let Some(item) = stream.next().await {
            sum += item;
        }
        sum
    })
}

fn drain_anywait_async(stream: anywait::CallbackStream<u64, ()>) -> u64 {
    drain_async(stream.map(|item| item.expect("no error")))
}

fn drain_anywait_blocking(mut stream: anywait::CallbackStream<u64, ()>) -> u64 {
    let mut sum = 0;
    while let Some(item) = stream.next_blocking() {
        sum += item.expect("no error");
    }
    sum
}

fn drain_tokio_async(mut rx: tokio::sync::mpsc::Receiver<u64>) -> u64 {
    futures::executor::block_on(async move {
        let mut sum = 0;
        while let Some(item) = rx.recv().await {
            sum += item;
        }
        sum
    })
}

fn drain_tokio_unbounded_async(mut rx: tokio::sync::mpsc::UnboundedReceiver<u64>) -> u64 {
    futures::executor::block_on(async move {
        let mut sum = 0;
        while let Some(item) = rx.recv().await {
            sum += item;
        }
        sum
    })
}

fn drain_async_channel_async(rx: async_channel::Receiver<u64>) -> u64 {
    futures::executor::block_on(async move {
        let mut sum = 0;
        while let Ok(item) = rx.recv().await {
            sum += item;
        }
        sum
    })
}

fn drain_async_channel_blocking(rx: async_channel::Receiver<u64>) -> u64 {
    let mut sum = 0;
    while let Ok(item) = rx.recv_blocking() {
        sum += item;
    }
    sum
}

fn drain_flume_async(rx: flume::Receiver<u64>) -> u64 {
    futures::executor::block_on(async move {
        let mut sum = 0;
        while let Ok(item) = rx.recv_async().await {
            sum += item;
        }
        sum
    })
}

fn drain_flume_blocking(rx: flume::Receiver<u64>) -> u64 {
    rx.iter().sum()
}

fn drain_futures_blocking<S: futures::Stream<Item = u64> + Unpin>(rx: S) -> u64 {
    futures::executor::block_on_stream(rx).sum()
}

// ---------------------------------------------------------------------------------------
// Groups.

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(N));
    g
}

/// Registers one crate's benchmark: each criterion iteration is one run of `N` items.
fn bench(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    one: impl Fn() -> Duration,
) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| (0..iters).map(|_| one()).sum())
    });
}

fn bounded_async(c: &mut Criterion) {
    let mut g = group(c, "bounded_async");
    bench(&mut g, "anywait", || {
        let (tx, rx) = anywait_bounded();
        run(tx, produce_anywait, || drain_anywait_async(rx))
    });
    bench(&mut g, "tokio", || {
        let (tx, rx) = tokio::sync::mpsc::channel(CAP);
        run(tx, produce_tokio, || drain_tokio_async(rx))
    });
    bench(&mut g, "async_channel", || {
        let (tx, rx) = async_channel::bounded(CAP);
        run(tx, produce_async_channel, || drain_async_channel_async(rx))
    });
    bench(&mut g, "flume", || {
        let (tx, rx) = flume::bounded(CAP);
        run(tx, produce_flume, || drain_flume_async(rx))
    });
    bench(&mut g, "futures_mpsc", || {
        let (tx, rx) = futures::channel::mpsc::channel(CAP);
        run(tx, produce_futures, || drain_async(rx))
    });
    g.finish();
}

fn bounded_blocking(c: &mut Criterion) {
    let mut g = group(c, "bounded_blocking");
    bench(&mut g, "anywait", || {
        let (tx, rx) = anywait_bounded();
        run(tx, produce_anywait, || drain_anywait_blocking(rx))
    });
    bench(&mut g, "tokio", || {
        let (tx, mut rx) = tokio::sync::mpsc::channel(CAP);
        run(tx, produce_tokio, move || {
            let mut sum = 0;
            while let Some(item) = rx.blocking_recv() {
                sum += item;
            }
            sum
        })
    });
    bench(&mut g, "async_channel", || {
        let (tx, rx) = async_channel::bounded(CAP);
        run(tx, produce_async_channel, || {
            drain_async_channel_blocking(rx)
        })
    });
    bench(&mut g, "flume", || {
        let (tx, rx) = flume::bounded(CAP);
        run(tx, produce_flume, || drain_flume_blocking(rx))
    });
    bench(&mut g, "futures_mpsc", || {
        let (tx, rx) = futures::channel::mpsc::channel(CAP);
        run(tx, produce_futures, || drain_futures_blocking(rx))
    });
    g.finish();
}

fn unbounded_async(c: &mut Criterion) {
    let mut g = group(c, "unbounded_async");
    bench(&mut g, "anywait", || {
        let (tx, rx) = anywait_unbounded();
        run(tx, produce_anywait, || drain_anywait_async(rx))
    });
    bench(&mut g, "tokio", || {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        run(tx, produce_tokio_unbounded, || {
            drain_tokio_unbounded_async(rx)
        })
    });
    bench(&mut g, "async_channel", || {
        let (tx, rx) = async_channel::unbounded();
        run(tx, produce_async_channel, || drain_async_channel_async(rx))
    });
    bench(&mut g, "flume", || {
        let (tx, rx) = flume::unbounded();
        run(tx, produce_flume_unbounded, || drain_flume_async(rx))
    });
    bench(&mut g, "futures_mpsc", || {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        run(tx, produce_futures_unbounded, || drain_async(rx))
    });
    g.finish();
}

fn unbounded_blocking(c: &mut Criterion) {
    let mut g = group(c, "unbounded_blocking");
    bench(&mut g, "anywait", || {
        let (tx, rx) = anywait_unbounded();
        run(tx, produce_anywait, || drain_anywait_blocking(rx))
    });
    bench(&mut g, "tokio", || {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        run(tx, produce_tokio_unbounded, move || {
            let mut sum = 0;
            while let Some(item) = rx.blocking_recv() {
                sum += item;
            }
            sum
        })
    });
    bench(&mut g, "async_channel", || {
        let (tx, rx) = async_channel::unbounded();
        run(tx, produce_async_channel, || {
            drain_async_channel_blocking(rx)
        })
    });
    bench(&mut g, "flume", || {
        let (tx, rx) = flume::unbounded();
        run(tx, produce_flume_unbounded, || drain_flume_blocking(rx))
    });
    bench(&mut g, "futures_mpsc", || {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        run(tx, produce_futures_unbounded, || drain_futures_blocking(rx))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bounded_async, bounded_blocking, unbounded_async, unbounded_blocking
}
criterion_main!(benches);
