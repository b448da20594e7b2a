//! Latched events: anywait's `AsyncEvent` against peer notification primitives.
//!
//! Run with `cargo bench --bench event`. All groups run in one criterion run so that the
//! ratios between crates are comparable; `BENCHMARKS.event.md` records the results.
//!
//! Groups (one function per crate in each):
//!
//! - `wake_all/N` (N = 1, 100, 1 000, 10 000): one timed iteration is the whole life of N
//!   waiters on one long-lived event: create each wait future in place (in a slot that
//!   was allocated once, before timing, so the harness allocates nothing), poll it once
//!   with a no-op waker (`Pending`: it is now queued), wake all, poll each to `Ready`,
//!   drop it; then reset the event for the next iteration (see [`wake_all`] for the exact
//!   calls per crate). Throughput is `Elements(N)`: time per waiter = median / N.
//! - `set_when_set`: anywait `set()` on an event that is already set, against a bare
//!   `AtomicBool::load(Acquire)` and, for reference, the peers' "wake everybody" call when
//!   nobody waits.
//! - `is_set`: anywait `is_set()` against a bare atomic load and futures-intrusive's
//!   `ManualResetEvent::is_set()`.
//! - `blocking_roundtrip`: a ping-pong between the bench thread and one long-lived helper
//!   thread, with anywait events (`set` + `wait_blocking` + `clear`) against
//!   `Mutex<bool>` + `Condvar`; see [`blocking_roundtrip`].

use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::Context;
use std::thread;
use std::time::{Duration, Instant};

use anywait::AsyncEvent;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

mod support;
use support::{noop_cx, slots, Slot};

/// The timed body of `wake_all`: create and register every waiter, `wake`, complete and
/// drop every waiter, then `reset` the primitive for the next round.
#[inline(always)]
fn wake_all_round<F: Future<Output = O>, O>(
    slots: &mut [Slot<F>],
    cx: &mut Context<'_>,
    mut make: impl FnMut() -> F,
    wake: impl FnOnce(),
    reset: impl FnOnce(),
) {
    for slot in slots.iter_mut() {
        slot.as_mut().set(Some(make()));
        let wait = slot.as_mut().as_pin_mut().expect("just set");
        assert!(wait.poll(cx).is_pending());
    }
    wake();
    for slot in slots.iter_mut() {
        let wait = slot.as_mut().as_pin_mut().expect("set above");
        assert!(wait.poll(cx).is_ready());
        slot.as_mut().set(None);
    }
    reset();
}

/// Scenario 1: register N waiters, wake them all, complete them all.
///
/// Per crate (the event is created once per benchmark and reused):
///
/// - anywait: `event.wait()`, `event.set()`; reset with `event.clear()`.
/// - tokio: `notify.notified()` (polled once, so it is enabled and queued),
///   `notify.notify_waiters()`; nothing to reset.
/// - event_listener: `event.listen()` (registers at creation; the poll stores the waker),
///   `event.notify(usize::MAX)`; nothing to reset.
/// - futures_intrusive: `event.wait()` on a `ManualResetEvent`, `event.set()`; reset with
///   `event.reset()`.
/// - async_event: `event.wait_until(|| flag.load(Acquire).then_some(()))`,
///   `flag.store(true, Release)` + `event.notify_all()`; reset with
///   `flag.store(false, Relaxed)`. (async-event is a condition-variable-like primitive: the
///   latch is the caller's flag.)
fn wake_all(c: &mut Criterion) {
    let mut g = c.benchmark_group("wake_all");

    for n in [1usize, 100, 1_000, 10_000] {
        g.throughput(Throughput::Elements(n as u64));

        g.bench_with_input(BenchmarkId::new("anywait", n), &n, |b, &n| {
            let event = AsyncEvent::new();
            let mut slots = slots(n);
            let mut cx = noop_cx();
            b.iter(|| {
                wake_all_round(
                    &mut slots,
                    &mut cx,
                    || event.wait(),
                    || event.set(),
                    || event.clear(),
                )
            });
        });

        g.bench_with_input(BenchmarkId::new("tokio", n), &n, |b, &n| {
            let notify = tokio::sync::Notify::new();
            let mut slots = slots(n);
            let mut cx = noop_cx();
            b.iter(|| {
                wake_all_round(
                    &mut slots,
                    &mut cx,
                    || notify.notified(),
                    || notify.notify_waiters(),
                    || {},
                )
            });
        });

        g.bench_with_input(BenchmarkId::new("event_listener", n), &n, |b, &n| {
            let event = event_listener::Event::new();
            let mut slots = slots(n);
            let mut cx = noop_cx();
            b.iter(|| {
                wake_all_round(
                    &mut slots,
                    &mut cx,
                    || event.listen(),
                    || {
                        event.notify(usize::MAX);
                    },
                    || {},
                )
            });
        });

        g.bench_with_input(BenchmarkId::new("futures_intrusive", n), &n, |b, &n| {
            let event = futures_intrusive::sync::ManualResetEvent::new(false);
            let mut slots = slots(n);
            let mut cx = noop_cx();
            b.iter(|| {
                wake_all_round(
                    &mut slots,
                    &mut cx,
                    || event.wait(),
                    || event.set(),
                    || event.reset(),
                )
            });
        });

        g.bench_with_input(BenchmarkId::new("async_event", n), &n, |b, &n| {
            let event = async_event::Event::new();
            let flag = AtomicBool::new(false);
            let mut slots = slots(n);
            let mut cx = noop_cx();
            b.iter(|| {
                wake_all_round(
                    &mut slots,
                    &mut cx,
                    || event.wait_until(|| flag.load(Ordering::Acquire).then_some(())),
                    || {
                        flag.store(true, Ordering::Release);
                        event.notify_all();
                    },
                    || flag.store(false, Ordering::Relaxed),
                )
            });
        });
    }

    g.finish();
}

/// Scenario 2: `set()` on an event that is already set (a repeatedly firing callback).
fn set_when_set(c: &mut Criterion) {
    let mut g = c.benchmark_group("set_when_set");

    g.bench_function("anywait", |b| {
        let event = AsyncEvent::new();
        event.set();
        b.iter(|| black_box(&event).set());
    });

    g.bench_function("atomic_load", |b| {
        let flag = AtomicBool::new(true);
        b.iter(|| black_box(black_box(&flag).load(Ordering::Acquire)));
    });

    g.bench_function("tokio_notify_waiters_no_waiters", |b| {
        let notify = tokio::sync::Notify::new();
        b.iter(|| black_box(&notify).notify_waiters());
    });

    g.bench_function("event_listener_notify_all_no_listeners", |b| {
        let event = event_listener::Event::new();
        b.iter(|| black_box(black_box(&event).notify(usize::MAX)));
    });

    g.bench_function("futures_intrusive", |b| {
        let event = futures_intrusive::sync::ManualResetEvent::new(true);
        b.iter(|| black_box(&event).set());
    });

    g.finish();
}

/// Scenario 3: `is_set()`.
fn is_set(c: &mut Criterion) {
    let mut g = c.benchmark_group("is_set");

    g.bench_function("anywait", |b| {
        let event = AsyncEvent::new();
        event.set();
        b.iter(|| black_box(black_box(&event).is_set()));
    });

    g.bench_function("atomic_load", |b| {
        let flag = AtomicBool::new(true);
        b.iter(|| black_box(black_box(&flag).load(Ordering::Acquire)));
    });

    g.bench_function("futures_intrusive", |b| {
        let event = futures_intrusive::sync::ManualResetEvent::new(true);
        b.iter(|| black_box(black_box(&event).is_set()));
    });

    g.finish();
}

/// A one-direction "you may go" signal for the ping-pong, with a shutdown flag.
trait Signal: Send + Sync + 'static {
    fn new() -> Self;
    /// Lets the other side go.
    fn signal(&self);
    /// Blocks until signalled, and consumes the signal.
    fn wait_and_reset(&self);
}

/// anywait: `set()`; `wait_blocking()` then `clear()`.
impl Signal for AsyncEvent {
    fn new() -> Self {
        AsyncEvent::new()
    }

    fn signal(&self) {
        self.set();
    }

    fn wait_and_reset(&self) {
        self.wait_blocking();
        self.clear();
    }
}

/// The std baseline: a flag under a mutex, a condition variable, notify after unlocking.
struct CondvarFlag {
    flag: Mutex<bool>,
    cond: Condvar,
}

impl Signal for CondvarFlag {
    fn new() -> Self {
        CondvarFlag {
            flag: Mutex::new(false),
            cond: Condvar::new(),
        }
    }

    fn signal(&self) {
        *self.flag.lock().unwrap() = true;
        self.cond.notify_one();
    }

    fn wait_and_reset(&self) {
        let mut flag = self.flag.lock().unwrap();
        while !*flag {
            flag = self.cond.wait(flag).unwrap();
        }
        *flag = false;
    }
}

struct PingPong<S> {
    ping: S,
    pong: S,
    stop: AtomicBool,
}

/// Times `iters` round trips: the bench thread signals `ping` and waits for `pong`; a
/// helper thread (spawned once per benchmark, outside the timing) waits for `ping` and
/// signals `pong`. Each side resets its signal after waking, before answering, so a
/// round trip is two signals, two wake-ups and two resets.
fn ping_pong<S: Signal>(b: &mut criterion::Bencher<'_>) {
    let pp = Arc::new(PingPong {
        ping: S::new(),
        pong: S::new(),
        stop: AtomicBool::new(false),
    });
    let helper = {
        let pp = Arc::clone(&pp);
        thread::spawn(move || loop {
            pp.ping.wait_and_reset();
            if pp.stop.load(Ordering::Acquire) {
                return;
            }
            pp.pong.signal();
        })
    };
    b.iter_custom(|iters| {
        let start = Instant::now();
        for _ in 0..iters {
            pp.ping.signal();
            pp.pong.wait_and_reset();
        }
        start.elapsed()
    });
    pp.stop.store(true, Ordering::Release);
    pp.ping.signal();
    helper.join().unwrap();
}

/// Scenario 4: blocking ping-pong between two threads.
fn blocking_roundtrip(c: &mut Criterion) {
    let mut g = c.benchmark_group("blocking_roundtrip");
    g.bench_function("anywait", ping_pong::<AsyncEvent>);
    g.bench_function("mutex_condvar", ping_pong::<CondvarFlag>);
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(25)
}

criterion_group! {
    name = benches;
    config = config();
    targets = wake_all, set_when_set, is_set, blocking_roundtrip
}
criterion_main!(benches);
