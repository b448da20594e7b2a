//! Callback streams: anywait's `callback_stream` against peer channels as the pipe from
//! foreign (SDK) threads to a consumer.
//!
//! Run with `cargo bench --bench stream`. All groups run in one criterion run so that the
//! ratios between crates are comparable; `BENCHMARKS.stream.md` records the results.
//!
//! Every measurement moves [`N`] `u64`s from foreign `std::thread`s (spawned per run, as an
//! SDK's callback threads) to a consumer, and ends when the consumer has seen the end of
//! the stream and every producer is joined; the consumer checks the sum. The producers
//! never block: a bounded producer that is refused (anywait `Rejected(Full)`, the peers'
//! `try_send` `Full`, kanal's `try_send` `Ok(false)`) yields (`std::thread::yield_now`)
//! and retries the same item. Groups:
//!
//! - `bounded_async`: capacity [`CAP`]; anywait `Bounded { CAP, Reject }` vs
//!   `tokio::sync::mpsc::channel(CAP)`, `async_channel::bounded(CAP)`,
//!   `flume::bounded(CAP)`, `futures::channel::mpsc::channel(CAP)` (which holds
//!   `CAP + 1` with one sender, `CAP + senders` with several), `kanal::bounded(CAP)`
//!   (received through `to_async()`), `thingbuf::mpsc::channel(CAP)`. The consumer is a
//!   task on a single-threaded executor, `futures::executor::block_on`, the same for
//!   every crate.
//! - `bounded_blocking`: the same pipes (thingbuf's `mpsc::blocking::channel(CAP)`),
//!   drained by the bench thread with each crate's blocking receive (anywait
//!   `next_blocking`, tokio `blocking_recv`, async-channel `recv_blocking`, flume `recv`,
//!   futures `executor::block_on_stream`, kanal `recv`, thingbuf `recv`).
//! - `unbounded_async`, `unbounded_blocking`: anywait `Unbounded` vs the peers'
//!   unbounded channels (`futures` `unbounded_send`, `flume` and `kanal` `send`, which
//!   never block on an unbounded channel), consumed as above. thingbuf has no unbounded
//!   channel.
//! - `bounded_async_4p`, `bounded_blocking_4p`, `unbounded_async_4p`,
//!   `unbounded_blocking_4p`: the same pipes and consumers, but [`P4`] producer threads
//!   (one sender clone each, anywait one `StreamFeeder` clone each) push `N / P4`
//!   distinct items each, released together by a `std::sync::Barrier` once all are
//!   spawned. The peers close when their last sender drops; anywait's producer that is
//!   done last (an atomic countdown) calls `finish`.
//!
//! Before and after each crate's benchmark the bench prints the cache-line round trip
//! between two threads (`cache_line_round_trip`): on a small VM the host moves the vCPUs
//! between places that share a cache and places that do not, and that moves the figures
//! more than most code changes do (BENCHMARKS.md).

use std::hint::black_box;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
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
/// Producer threads in the `_4p` groups.
const P4: usize = 4;
// Each producer pushes `N / P4` items.
const _: () = assert!(N / P4 as u64 * P4 as u64 == N);

/// One measured run: spawns `P` producers, each with a clone of `tx` (`P == 1`: `tx`
/// itself) and its share of `0..N`, runs `consume` on this thread, joins them.
fn run<const P: usize, Tx: Clone + Send + 'static>(
    tx: Tx,
    produce: fn(Tx, Range<u64>),
    consume: impl FnOnce() -> u64,
) -> Duration {
    let start = Instant::now();
    let producers: Vec<_> = if P == 1 {
        vec![thread::spawn(move || produce(tx, 0..N))]
    } else {
        let barrier = Arc::new(Barrier::new(P));
        let share = N / P as u64;
        let mut tx = Some(tx);
        (0..P as u64)
            .map(|k| {
                // The last producer gets `tx` itself: no sender is left on this thread.
                let tx = if k + 1 == P as u64 {
                    tx.take().expect("moved once")
                } else {
                    tx.as_ref().expect("not yet moved").clone()
                };
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    produce(tx, k * share..(k + 1) * share)
                })
            })
            .collect()
    };
    let sum = consume();
    for producer in producers {
        producer.join().expect("producer panicked");
    }
    let elapsed = start.elapsed();
    assert_eq!(sum, SUM, "items lost or duplicated");
    elapsed
}

/// Pushes `$items`, retrying each refused item after a `yield_now`.
macro_rules! retrying {
    ($tx:ident, $items:expr, $send:expr, $full:pat => $back:expr) => {
        for i in $items {
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

/// anywait's producer side: a feeder clone and the count of producers still pushing.
type Feeder = (anywait::StreamFeeder<u64, ()>, Arc<AtomicUsize>);

/// A callback stream for `P` producers.
fn anywait_stream<const P: usize>(
    policy: anywait::StreamPolicy<u64>,
) -> (Feeder, anywait::CallbackStream<u64, ()>) {
    let (tx, rx) = anywait::callback_stream(policy);
    ((tx, Arc::new(AtomicUsize::new(P))), rx)
}

fn anywait_bounded<const P: usize>() -> (Feeder, anywait::CallbackStream<u64, ()>) {
    anywait_stream::<P>(anywait::StreamPolicy::Bounded {
        capacity: CAP,
        overflow: anywait::Overflow::Reject,
    })
}

fn anywait_unbounded<const P: usize>() -> (Feeder, anywait::CallbackStream<u64, ()>) {
    anywait_stream::<P>(anywait::StreamPolicy::Unbounded)
}

/// Pushes `items`; the producer that is done last finishes the stream.
fn produce_anywait((tx, pushing): Feeder, items: Range<u64>) {
    retrying!(tx, items, anywait::StreamFeeder::push, rejected => {
        debug_assert_eq!(rejected.reason(), anywait::RejectReason::Full);
        rejected.into_inner()
    });
    if pushing.fetch_sub(1, Ordering::AcqRel) == 1 {
        assert!(tx.finish());
    }
}

fn produce_tokio(tx: tokio::sync::mpsc::Sender<u64>, items: Range<u64>) {
    use tokio::sync::mpsc::error::TrySendError;
    retrying!(tx, items, tokio::sync::mpsc::Sender::try_send, e => match e {
        TrySendError::Full(item) => item,
        TrySendError::Closed(_) => panic!("closed"),
    });
}

fn produce_tokio_unbounded(tx: tokio::sync::mpsc::UnboundedSender<u64>, items: Range<u64>) {
    for i in items {
        tx.send(black_box(i)).unwrap();
    }
}

fn produce_async_channel(tx: async_channel::Sender<u64>, items: Range<u64>) {
    use async_channel::TrySendError;
    retrying!(tx, items, async_channel::Sender::try_send, e => match e {
        TrySendError::Full(item) => item,
        TrySendError::Closed(_) => panic!("closed"),
    });
}

fn produce_flume(tx: flume::Sender<u64>, items: Range<u64>) {
    use flume::TrySendError;
    retrying!(tx, items, flume::Sender::try_send, e => match e {
        TrySendError::Full(item) => item,
        TrySendError::Disconnected(_) => panic!("closed"),
    });
}

fn produce_flume_unbounded(tx: flume::Sender<u64>, items: Range<u64>) {
    for i in items {
        tx.send(black_box(i)).unwrap();
    }
}

fn produce_futures(mut tx: futures::channel::mpsc::Sender<u64>, items: Range<u64>) {
    for i in items {
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

fn produce_futures_unbounded(tx: futures::channel::mpsc::UnboundedSender<u64>, items: Range<u64>) {
    for i in items {
        tx.unbounded_send(black_box(i)).unwrap();
    }
}

fn produce_kanal(tx: kanal::Sender<u64>, items: Range<u64>) {
    // `try_send` answers `Ok(false)` when full, dropping its copy of the item.
    let try_send = |tx: &kanal::Sender<u64>, item| match tx.try_send(item) {
        Ok(true) => Ok(()),
        Ok(false) => Err(item),
        Err(e) => panic!("closed: {e}"),
    };
    retrying!(tx, items, try_send, item => item);
}

fn produce_kanal_unbounded(tx: kanal::Sender<u64>, items: Range<u64>) {
    for i in items {
        tx.send(black_box(i)).unwrap();
    }
}

/// thingbuf's async and blocking senders have the same `try_send`.
macro_rules! produce_thingbuf {
    ($name:ident, $sender:ty) => {
        fn $name(tx: $sender, items: Range<u64>) {
            use thingbuf::mpsc::errors::TrySendError;
            retrying!(tx, items, <$sender>::try_send, e => match e {
                TrySendError::Full(item) => item,
                _ => panic!("closed"),
            });
        }
    };
}
produce_thingbuf!(produce_thingbuf, thingbuf::mpsc::Sender<u64>);
produce_thingbuf!(
    produce_thingbuf_blocking,
    thingbuf::mpsc::blocking::Sender<u64>
);

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

fn drain_tokio_blocking(mut rx: tokio::sync::mpsc::Receiver<u64>) -> u64 {
    let mut sum = 0;
    while let Some(item) = rx.blocking_recv() {
        sum += item;
    }
    sum
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

fn drain_tokio_unbounded_blocking(mut rx: tokio::sync::mpsc::UnboundedReceiver<u64>) -> u64 {
    let mut sum = 0;
    while let Some(item) = rx.blocking_recv() {
        sum += item;
    }
    sum
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

fn drain_kanal_async(rx: kanal::Receiver<u64>) -> u64 {
    let rx = rx.to_async();
    futures::executor::block_on(async move {
        let mut sum = 0;
        while let Ok(item) = rx.recv().await {
            sum += item;
        }
        sum
    })
}

fn drain_kanal_blocking(rx: kanal::Receiver<u64>) -> u64 {
    let mut sum = 0;
    while let Ok(item) = rx.recv() {
        sum += item;
    }
    sum
}

fn drain_thingbuf_async(rx: thingbuf::mpsc::Receiver<u64>) -> u64 {
    futures::executor::block_on(async move {
        let mut sum = 0;
        while let Some(item) = rx.recv().await {
            sum += item;
        }
        sum
    })
}

fn drain_thingbuf_blocking(rx: thingbuf::mpsc::blocking::Receiver<u64>) -> u64 {
    let mut sum = 0;
    while let Some(item) = rx.recv() {
        sum += item;
    }
    sum
}

// ---------------------------------------------------------------------------------------
// Groups.

/// Group `base` with one producer, `base_4p` with [`P4`].
fn group<'a, const P: usize>(
    c: &'a mut Criterion,
    base: &str,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let name = match P {
        1 => base.to_owned(),
        _ => format!("{base}_{P}p"),
    };
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(N));
    g
}

/// Registers one crate's benchmark: each criterion iteration is one run of `N` items.
/// Prints the cache-line round trip between two threads just before and after it (see
/// [`cache_line_round_trip`]).
fn bench(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    one: impl Fn() -> Duration,
) {
    let before = cache_line_round_trip();
    g.bench_function(name, |b| {
        b.iter_custom(|iters| (0..iters).map(|_| one()).sum())
    });
    let after = cache_line_round_trip();
    eprintln!("{name}: cache-line round trip {before:.0} ns before, {after:.0} ns after");
}

/// Nanoseconds for one cache line to go to another thread and back (the median of five
/// sets of 2 000 round trips). On a small VM it tells where the host placed the two vCPUs:
/// sharing a cache (tens of ns) or not (hundreds), which moves every pipe's throughput
/// and, for a stream whose consumer keeps up closely, by more than a lagging one's.
fn cache_line_round_trip() -> f64 {
    const TRIPS: usize = 2_000;
    let mut sets: Vec<f64> = (0..5)
        .map(|_| {
            let line = Arc::new(AtomicUsize::new(0));
            let other = Arc::clone(&line);
            let echo = thread::spawn(move || {
                for i in 0..TRIPS {
                    while other.load(Ordering::Acquire) != 2 * i + 1 {
                        std::hint::spin_loop();
                    }
                    other.store(2 * i + 2, Ordering::Release);
                }
            });
            let start = Instant::now();
            for i in 0..TRIPS {
                line.store(2 * i + 1, Ordering::Release);
                while line.load(Ordering::Acquire) != 2 * i + 2 {
                    std::hint::spin_loop();
                }
            }
            let took = start.elapsed();
            echo.join().expect("echo thread");
            took.as_nanos() as f64 / TRIPS as f64
        })
        .collect();
    sets.sort_by(f64::total_cmp);
    sets[2]
}

/// Registers in group `$g` one bench per row `name: pipe, producer, consumer;`: each run
/// makes a fresh pipe, feeds it from `$p` producer threads, drains it on this thread.
macro_rules! peers {
    ($g:ident, $p:ident; $($name:literal: $pipe:expr, $produce:expr, $consume:expr;)*) => {
        $(bench(&mut $g, $name, || {
            let (tx, rx) = $pipe;
            run::<$p, _>(tx, $produce, || $consume(rx))
        });)*
    };
}

fn bounded_async<const P: usize>(c: &mut Criterion) {
    let mut g = group::<P>(c, "bounded_async");
    peers! { g, P;
        "anywait": anywait_bounded::<P>(), produce_anywait, drain_anywait_async;
        "tokio": tokio::sync::mpsc::channel(CAP), produce_tokio, drain_tokio_async;
        "async_channel": async_channel::bounded(CAP), produce_async_channel,
            drain_async_channel_async;
        "flume": flume::bounded(CAP), produce_flume, drain_flume_async;
        "futures_mpsc": futures::channel::mpsc::channel(CAP), produce_futures, drain_async;
        "kanal": kanal::bounded(CAP), produce_kanal, drain_kanal_async;
        "thingbuf": thingbuf::mpsc::channel(CAP), produce_thingbuf, drain_thingbuf_async;
    }
    g.finish();
}

fn bounded_blocking<const P: usize>(c: &mut Criterion) {
    let mut g = group::<P>(c, "bounded_blocking");
    peers! { g, P;
        "anywait": anywait_bounded::<P>(), produce_anywait, drain_anywait_blocking;
        "tokio": tokio::sync::mpsc::channel(CAP), produce_tokio, drain_tokio_blocking;
        "async_channel": async_channel::bounded(CAP), produce_async_channel,
            drain_async_channel_blocking;
        "flume": flume::bounded(CAP), produce_flume, drain_flume_blocking;
        "futures_mpsc": futures::channel::mpsc::channel(CAP), produce_futures,
            drain_futures_blocking;
        "kanal": kanal::bounded(CAP), produce_kanal, drain_kanal_blocking;
        "thingbuf": thingbuf::mpsc::blocking::channel(CAP), produce_thingbuf_blocking,
            drain_thingbuf_blocking;
    }
    g.finish();
}

fn unbounded_async<const P: usize>(c: &mut Criterion) {
    let mut g = group::<P>(c, "unbounded_async");
    peers! { g, P;
        "anywait": anywait_unbounded::<P>(), produce_anywait, drain_anywait_async;
        "tokio": tokio::sync::mpsc::unbounded_channel(), produce_tokio_unbounded,
            drain_tokio_unbounded_async;
        "async_channel": async_channel::unbounded(), produce_async_channel,
            drain_async_channel_async;
        "flume": flume::unbounded(), produce_flume_unbounded, drain_flume_async;
        "futures_mpsc": futures::channel::mpsc::unbounded(), produce_futures_unbounded,
            drain_async;
        "kanal": kanal::unbounded(), produce_kanal_unbounded, drain_kanal_async;
    }
    g.finish();
}

fn unbounded_blocking<const P: usize>(c: &mut Criterion) {
    let mut g = group::<P>(c, "unbounded_blocking");
    peers! { g, P;
        "anywait": anywait_unbounded::<P>(), produce_anywait, drain_anywait_blocking;
        "tokio": tokio::sync::mpsc::unbounded_channel(), produce_tokio_unbounded,
            drain_tokio_unbounded_blocking;
        "async_channel": async_channel::unbounded(), produce_async_channel,
            drain_async_channel_blocking;
        "flume": flume::unbounded(), produce_flume_unbounded, drain_flume_blocking;
        "futures_mpsc": futures::channel::mpsc::unbounded(), produce_futures_unbounded,
            drain_futures_blocking;
        "kanal": kanal::unbounded(), produce_kanal_unbounded, drain_kanal_blocking;
    }
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
    targets = bounded_async::<1>, bounded_blocking::<1>, unbounded_async::<1>,
        unbounded_blocking::<1>, bounded_async::<P4>, bounded_blocking::<P4>,
        unbounded_async::<P4>, unbounded_blocking::<P4>
}
criterion_main!(benches);
