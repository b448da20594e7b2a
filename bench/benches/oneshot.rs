//! One-shot completion: anywait's `waitable` against peer one-shot channels.
//!
//! Run with `cargo bench --bench oneshot`. All groups run in one criterion run so that the
//! ratios between crates are comparable; `BENCHMARKS.md` records the results.
//!
//! Groups (one function per crate in each):
//!
//! - `ready`: create a pair, complete it, poll the receiver once with a no-op waker
//!   (`Ready`), drop everything. The "callback fired before anyone awaited" path.
//! - `pending`: create a pair, poll the receiver (`Pending`, registers the waker),
//!   complete (wakes the no-op waker), poll again (`Ready`), drop everything. The "await,
//!   then the callback fires" path, on one thread so only the primitive is measured.
//! - `cross_thread_roundtrip`: a blocking ping-pong between the bench thread and one
//!   long-lived helper thread; see [`cross_thread_roundtrip`] for the exact design.
//!
//! Every crate sends the same payload (`u64`) and each iteration includes creating and
//! dropping both handles (i.e. the allocation and the deallocation of the shared block).

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

mod support;
use support::noop_cx;

/// Polls an `Unpin` future once.
#[inline(always)]
fn poll_once<F: Future + Unpin>(f: &mut F, cx: &mut Context<'_>) -> Poll<F::Output> {
    Pin::new(f).poll(cx)
}

/// Scenario 1: complete first, then a single poll that returns `Ready`.
fn ready(c: &mut Criterion) {
    let mut g = c.benchmark_group("ready");

    g.bench_function("anywait", |b| {
        let mut cx = noop_cx();
        b.iter(|| {
            let (tx, mut rx) = anywait::waitable::<u64>();
            assert!(tx.complete(black_box(7)).is_ok());
            let out = poll_once(&mut rx, &mut cx);
            assert!(matches!(out, Poll::Ready(Ok(7))));
            black_box(out)
        })
    });

    g.bench_function("oneshot", |b| {
        let mut cx = noop_cx();
        b.iter(|| {
            let (tx, mut rx) = oneshot::async_channel::<u64>();
            assert!(tx.send(black_box(7)).is_ok());
            let out = poll_once(&mut rx, &mut cx);
            assert!(matches!(out, Poll::Ready(Ok(7))));
            black_box(out)
        })
    });

    g.bench_function("tokio", |b| {
        let mut cx = noop_cx();
        b.iter(|| {
            let (tx, mut rx) = tokio::sync::oneshot::channel::<u64>();
            assert!(tx.send(black_box(7)).is_ok());
            let out = poll_once(&mut rx, &mut cx);
            assert!(matches!(out, Poll::Ready(Ok(7))));
            black_box(out)
        })
    });

    g.bench_function("futures_channel", |b| {
        let mut cx = noop_cx();
        b.iter(|| {
            let (tx, mut rx) = futures_channel::oneshot::channel::<u64>();
            assert!(tx.send(black_box(7)).is_ok());
            let out = poll_once(&mut rx, &mut cx);
            assert!(matches!(out, Poll::Ready(Ok(7))));
            black_box(out)
        })
    });

    g.bench_function("events_once", |b| {
        let mut cx = noop_cx();
        b.iter(|| {
            // `Event::boxed` is the heap-allocated, thread-safe flavour: the equivalent of
            // the others (its pooled and embedded flavours avoid the allocation).
            let (tx, mut rx) = events_once::Event::<u64>::boxed();
            tx.send(black_box(7));
            let out = poll_once(&mut rx, &mut cx);
            assert!(matches!(out, Poll::Ready(Ok(7))));
            black_box(out)
        })
    });

    g.finish();
}

/// Scenario 2: poll (`Pending`, registers the waker), complete, poll again (`Ready`).
fn pending(c: &mut Criterion) {
    let mut g = c.benchmark_group("pending");

    g.bench_function("anywait", |b| {
        let mut cx = noop_cx();
        b.iter(|| {
            let (tx, mut rx) = anywait::waitable::<u64>();
            assert!(poll_once(&mut rx, &mut cx).is_pending());
            assert!(tx.complete(black_box(7)).is_ok());
            let out = poll_once(&mut rx, &mut cx);
            assert!(matches!(out, Poll::Ready(Ok(7))));
            black_box(out)
        })
    });

    g.bench_function("oneshot", |b| {
        let mut cx = noop_cx();
        b.iter(|| {
            let (tx, mut rx) = oneshot::async_channel::<u64>();
            assert!(poll_once(&mut rx, &mut cx).is_pending());
            assert!(tx.send(black_box(7)).is_ok());
            let out = poll_once(&mut rx, &mut cx);
            assert!(matches!(out, Poll::Ready(Ok(7))));
            black_box(out)
        })
    });

    g.bench_function("tokio", |b| {
        let mut cx = noop_cx();
        b.iter(|| {
            let (tx, mut rx) = tokio::sync::oneshot::channel::<u64>();
            assert!(poll_once(&mut rx, &mut cx).is_pending());
            assert!(tx.send(black_box(7)).is_ok());
            let out = poll_once(&mut rx, &mut cx);
            assert!(matches!(out, Poll::Ready(Ok(7))));
            black_box(out)
        })
    });

    g.bench_function("futures_channel", |b| {
        let mut cx = noop_cx();
        b.iter(|| {
            let (tx, mut rx) = futures_channel::oneshot::channel::<u64>();
            assert!(poll_once(&mut rx, &mut cx).is_pending());
            assert!(tx.send(black_box(7)).is_ok());
            let out = poll_once(&mut rx, &mut cx);
            assert!(matches!(out, Poll::Ready(Ok(7))));
            black_box(out)
        })
    });

    g.bench_function("events_once", |b| {
        let mut cx = noop_cx();
        b.iter(|| {
            let (tx, mut rx) = events_once::Event::<u64>::boxed();
            assert!(poll_once(&mut rx, &mut cx).is_pending());
            tx.send(black_box(7));
            let out = poll_once(&mut rx, &mut cx);
            assert!(matches!(out, Poll::Ready(Ok(7))));
            black_box(out)
        })
    });

    g.finish();
}

/// One `cross_thread_roundtrip` bench for a one-shot channel: each round trip creates a
/// fresh pair per direction and every message carries the sender for its reply, so only
/// the primitive under test synchronises the two threads. `$pair` makes a pair of `Msg`;
/// `$send(sender, msg) -> bool` and `$recv(receiver) -> Option<Msg>` block as needed.
macro_rules! fresh_pair_roundtrip {
    ($group:expr, $name:literal, $sender:ty, $pair:expr, $send:expr, $recv:expr) => {{
        struct Msg($sender);
        let send = $send;
        let recv = $recv;
        let (to_helper, helper_rx) = $pair;
        let helper = thread::spawn(move || {
            let mut rx = helper_rx;
            while let Some(Msg(reply)) = recv(rx) {
                let (next_tx, next_rx) = $pair;
                assert!(send(reply, Msg(next_tx)));
                rx = next_rx;
            }
        });
        let mut to_helper = Some(to_helper);
        $group.bench_function($name, |b| {
            b.iter_custom(|iters| {
                let mut tx = to_helper.take().expect("helper is running");
                let start = Instant::now();
                for _ in 0..iters {
                    let (reply_tx, reply_rx) = $pair;
                    assert!(send(tx, Msg(reply_tx)));
                    let Some(Msg(next)) = recv(reply_rx) else {
                        panic!("helper dropped the reply");
                    };
                    tx = black_box(next);
                }
                let elapsed = start.elapsed();
                to_helper = Some(tx);
                elapsed
            })
        });
        drop(to_helper);
        helper.join().expect("helper thread panicked");
    }};
}

/// Scenario 3: blocking round trips between two threads.
///
/// # Design
///
/// The bench thread and one helper thread, spawned once per function (outside the timed
/// region) and joined after it, play ping-pong. `iter_custom` times `iters` complete round
/// trips back to back and reports the total; criterion divides by `iters`, so each figure is
/// the time of one round trip (two cross-thread hand-offs, each a wake-up of a parked thread).
///
/// For the one-shot primitives (anywait, oneshot, std mpsc used as a one-shot) there is no
/// separate hand-off channel: **every message carries the completer for the reply**, so the
/// only synchronisation measured is the primitive under test, and each direction of each
/// round trip uses a fresh pair:
///
/// ```text
///   bench thread                                   helper thread
///   ------------                                   -------------
///   holds `to_helper` (completer of pair H)        blocks on the receiver of pair H
///   (reply_tx, reply_rx) = new pair R
///   to_helper.complete(Msg(reply_tx))  ──────────► wakes with Msg(reply_tx)
///   blocks on reply_rx                             (next_tx, next_rx) = new pair H'
///   wakes with Msg(next_tx)  ◄──────────────────── reply_tx.complete(Msg(next_tx))
///   to_helper = next_tx                            blocks on next_rx
/// ```
///
/// Per round trip each thread creates one pair, completes one and blocks on one (anywait:
/// `wait_blocking`; oneshot: `Receiver::recv`; std mpsc: a fresh `mpsc::channel()` per
/// message and `Receiver::recv`). Dropping the bench thread's last completer makes the
/// helper's wait fail, which ends the helper.
///
/// Two references use long-lived state instead of fresh pairs:
///
/// - `park_unpark_baseline`: the floor for any blocking hand-off. Two `AtomicBool` flags;
///   each side sets the other's flag (Release) and `unpark`s the other thread, then loops
///   `swap(false, Acquire)` on its own flag, calling `thread::park` while it is false.
/// - `std_mpsc_reused`: two long-lived `mpsc::channel::<()>()`s, one per direction.
fn cross_thread_roundtrip(c: &mut Criterion) {
    let mut g = c.benchmark_group("cross_thread_roundtrip");

    // The one-shot primitives: fresh pairs, each message carrying the reply's sender.
    fresh_pair_roundtrip!(
        g,
        "anywait",
        anywait::Completer<Msg>,
        anywait::waitable::<Msg>(),
        |tx: anywait::Completer<Msg>, msg| tx.complete(msg).is_ok(),
        |rx: anywait::WaitableFuture<Msg>| rx.wait_blocking().ok()
    );
    fresh_pair_roundtrip!(
        g,
        "oneshot",
        oneshot::Sender<Msg>,
        oneshot::channel::<Msg>(),
        |tx: oneshot::Sender<Msg>, msg| tx.send(msg).is_ok(),
        |rx: oneshot::Receiver<Msg>| rx.recv().ok()
    );
    // std mpsc used as a one-shot: a fresh `channel()` per message, same protocol.
    fresh_pair_roundtrip!(
        g,
        "std_mpsc_fresh",
        mpsc::Sender<Msg>,
        mpsc::channel::<Msg>(),
        |tx: mpsc::Sender<Msg>, msg| tx.send(msg).is_ok(),
        |rx: mpsc::Receiver<Msg>| rx.recv().ok()
    );

    // std mpsc, long-lived channels (reference: no per-message allocation).
    {
        let (ping_tx, ping_rx) = mpsc::channel::<()>();
        let (pong_tx, pong_rx) = mpsc::channel::<()>();
        let helper = thread::spawn(move || {
            while ping_rx.recv().is_ok() {
                pong_tx.send(()).expect("bench thread is waiting");
            }
        });
        g.bench_function("std_mpsc_reused", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    ping_tx.send(()).expect("helper is running");
                    pong_rx.recv().expect("helper is running");
                }
                start.elapsed()
            })
        });
        drop(ping_tx);
        helper.join().expect("helper thread panicked");
    }

    // The floor: flags plus park/unpark, nothing allocated per round trip.
    {
        struct Flags {
            ping: AtomicBool,
            pong: AtomicBool,
            stop: AtomicBool,
        }
        let flags = Arc::new(Flags {
            ping: AtomicBool::new(false),
            pong: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let main_thread = thread::current();
        let helper = {
            let flags = Arc::clone(&flags);
            thread::spawn(move || loop {
                if flags.ping.swap(false, Ordering::Acquire) {
                    flags.pong.store(true, Ordering::Release);
                    main_thread.unpark();
                } else if flags.stop.load(Ordering::Acquire) {
                    return;
                } else {
                    thread::park();
                }
            })
        };
        let helper_thread = helper.thread().clone();
        g.bench_function("park_unpark_baseline", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    flags.ping.store(true, Ordering::Release);
                    helper_thread.unpark();
                    while !flags.pong.swap(false, Ordering::Acquire) {
                        thread::park();
                    }
                }
                start.elapsed()
            })
        });
        flags.stop.store(true, Ordering::Release);
        helper_thread.unpark();
        helper.join().expect("helper thread panicked");
    }

    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40)
}

criterion_group! {
    name = benches;
    config = config();
    targets = ready, pending, cross_thread_roundtrip
}
criterion_main!(benches);
