//! The cancellable waiter: wake and cancel latencies of foreign waits, and `run_blocking`
//! against peers.
//!
//! Run with `cargo bench --bench foreign`; `BENCHMARKS.md` records the results.
//!
//! Groups:
//!
//! - `wake_latency`: from the foreign signal (a thread notifies a `Mutex` + `Condvar`
//!   event) to the awaiting thread running again. `raw_handoff_baseline`: the awaiting
//!   thread blocks in the event's `wait_timeout` itself (one hand-off). `anywait_*`: a
//!   `wait_on` helper blocks in it (the slice wait returns as soon as notified) and the
//!   awaiting thread blocks on the `ForeignWait` (`wait_blocking`, or
//!   `futures::executor::block_on`): two hand-offs. Bar: <= 2x the baseline.
//! - `slice_only_wake`: a foreign wait that cannot be woken — it sleeps its slice (1 ms)
//!   and then checks a flag. The signal comes right after a slice began (the worst phase),
//!   so the figure is the upper bound. Bar: <= one slice (plus the hand-off).
//! - `cancel_latency`: from dropping the last `ForeignWait` to its helper leaving (the
//!   helper drops its `wait_slice` closure). `interrupt_hook`: a slice of 1 hour, cut short
//!   by the hook poking the condvar (bar: <= 1 ms). `slice_only_1ms`: the sleeping wait
//!   above, no hook (bar: <= one slice).
//! - `run_blocking`: one round trip of a trivial closure: anywait's `run_blocking` awaited
//!   with `futures::executor::block_on` and with `wait_blocking`, `blocking::unblock`
//!   awaited with `futures::executor::block_on`, and a raw `std::thread::spawn` + `mpsc`
//!   channel per call.
//!
//! # Measuring one-way latencies
//!
//! The latency groups use `iter_custom` with long-lived setup (the pool, a signaller
//! thread) and return the *sum of the per-iteration latencies*, each measured from an
//! `Instant` taken right before the signal (or the drop) to one taken right after the
//! wake (or by the helper as it leaves); criterion divides by the iteration count. Set-up
//! per iteration (creating the wait, the helper reaching its foreign wait) is outside the
//! measured span, so the wall time of these groups exceeds criterion's estimates. The
//! signaller signals only once the foreign wait is blocked in the condvar (the event
//! records that under its lock), so every figure is a wake of a blocked thread. Each
//! latency group also prints per-wake percentiles (p10/median/p90/p99) over all the
//! iterations it ran: criterion's figures are means per sample, which a few preempted
//! wakes on a busy machine can dominate.

use std::hint::black_box;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anywait::Waiters;
use criterion::{criterion_group, criterion_main, Criterion};

const LONG: Duration = Duration::from_secs(3600);
const SLICE_ONLY: Duration = Duration::from_millis(1);

/// A foreign event: a generation counter under a mutex, waited on with a timeout.
#[derive(Default)]
struct Event {
    state: Mutex<EventState>,
    /// Notified on a signal or a poke.
    changed: Condvar,
    /// Notified when a waiter is blocked (armed) or the event is stopped.
    armed_changed: Condvar,
}

#[derive(Default)]
struct EventState {
    generation: u64,
    /// A waiter is blocked (in the condvar, or in the sleeping slice).
    armed: bool,
    poked: bool,
    stop: bool,
    signaled_at: Option<Instant>,
}

impl Event {
    fn generation(&self) -> u64 {
        self.state.lock().unwrap().generation
    }

    fn signaled_at(&self) -> Instant {
        self.state.lock().unwrap().signaled_at.expect("signalled")
    }

    /// The interrupt-capable foreign wait: blocks up to `timeout` until the generation
    /// moves past `seen` (`true`) or the event is poked (`false`).
    fn wait_past(&self, seen: u64, timeout: Duration) -> bool {
        let mut state = self.state.lock().unwrap();
        if state.generation == seen && !state.poked {
            state.armed = true;
            self.armed_changed.notify_all();
            state = self
                .changed
                .wait_timeout_while(state, timeout, |s| s.generation == seen && !s.poked)
                .unwrap()
                .0;
            state.armed = false;
        }
        state.generation != seen
    }

    /// The slice-only foreign wait: it cannot be woken; it sleeps the slice, then checks.
    fn poll_past(&self, seen: u64, slice: Duration) -> bool {
        {
            let mut state = self.state.lock().unwrap();
            if state.generation != seen {
                return true;
            }
            state.armed = true;
            self.armed_changed.notify_all();
        }
        thread::sleep(slice); // the foreign API's own blocking; nothing is ordered by it
        self.generation() != seen
    }

    /// Blocks until a waiter is armed and disarms it; `false` once stopped.
    fn wait_armed(&self) -> bool {
        let state = self.state.lock().unwrap();
        let mut state = self
            .armed_changed
            .wait_while(state, |s| !s.armed && !s.stop)
            .unwrap();
        if state.stop {
            return false;
        }
        state.armed = false;
        true
    }

    /// The signaller's loop body: once a waiter is armed, record the instant and signal.
    fn signal_when_armed(&self) -> bool {
        if !self.wait_armed() {
            return false;
        }
        let mut state = self.state.lock().unwrap();
        state.generation += 1;
        state.signaled_at = Some(Instant::now());
        drop(state);
        self.changed.notify_all();
        true
    }

    fn poke(&self) {
        self.state.lock().unwrap().poked = true;
        self.changed.notify_all();
    }

    fn stop(&self) {
        self.state.lock().unwrap().stop = true;
        self.armed_changed.notify_all();
    }
}

/// A signaller thread that signals `event` whenever a waiter is armed, until stopped.
struct Signaller {
    event: Arc<Event>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Signaller {
    fn start() -> Self {
        let event = Arc::new(Event::default());
        let thread = {
            let event = Arc::clone(&event);
            thread::spawn(move || while event.signal_when_armed() {})
        };
        Signaller {
            event,
            thread: Some(thread),
        }
    }
}

impl Drop for Signaller {
    fn drop(&mut self) {
        self.event.stop();
        self.thread.take().unwrap().join().unwrap();
    }
}

/// Sends the instant it is dropped: held by a `wait_slice` closure, it reports when the
/// helper dropped the closure, i.e. left the wait.
struct ExitReport(mpsc::Sender<Instant>);

impl Drop for ExitReport {
    fn drop(&mut self) {
        let _ = self.0.send(Instant::now());
    }
}

/// Keeps one latency for the per-wake percentiles and returns it for criterion's total.
fn record(latencies: &mut Vec<Duration>, latency: Duration) -> Duration {
    latencies.push(latency);
    latency
}

/// Prints per-wake percentiles over every iteration criterion ran (warm-up included):
/// criterion itself reports per-sample means, which a few preempted wakes can dominate.
fn report(name: &str, mut latencies: Vec<Duration>) {
    if latencies.is_empty() {
        return; // filtered out
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "{name}: per-wake p10 {:?}, median {:?}, p90 {:?}, p99 {:?} over {} wakes",
        at(0.1),
        at(0.5),
        at(0.9),
        at(0.99),
        latencies.len()
    );
}

fn wake_latency(c: &mut Criterion) {
    let mut g = c.benchmark_group("wake_latency");
    let pool = Waiters::builder().slice(LONG).build();

    let mut wakes = Vec::new();
    g.bench_function("raw_handoff_baseline", |b| {
        let signaller = Signaller::start();
        let event = &signaller.event;
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let seen = event.generation();
                assert!(event.wait_past(seen, LONG));
                let woke = Instant::now();
                total += record(&mut wakes, woke - event.signaled_at());
            }
            total
        })
    });
    report("wake_latency/raw_handoff_baseline", wakes);

    let mut wakes = Vec::new();
    g.bench_function("anywait_wait_blocking", |b| {
        let signaller = Signaller::start();
        let event = &signaller.event;
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let seen = event.generation();
                let foreign = Arc::clone(event);
                let wait = pool.wait_on(move |slice| foreign.wait_past(seen, slice));
                wait.wait_blocking().expect("signalled");
                let woke = Instant::now();
                total += record(&mut wakes, woke - event.signaled_at());
            }
            total
        })
    });
    report("wake_latency/anywait_wait_blocking", wakes);

    let mut wakes = Vec::new();
    g.bench_function("anywait_block_on", |b| {
        let signaller = Signaller::start();
        let event = &signaller.event;
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let seen = event.generation();
                let foreign = Arc::clone(event);
                let wait = pool.wait_on(move |slice| foreign.wait_past(seen, slice));
                futures::executor::block_on(wait).expect("signalled");
                let woke = Instant::now();
                total += record(&mut wakes, woke - event.signaled_at());
            }
            total
        })
    });
    report("wake_latency/anywait_block_on", wakes);

    g.finish();
}

fn slice_only_wake(c: &mut Criterion) {
    let mut g = c.benchmark_group("slice_only_wake");
    let pool = Waiters::builder().slice(SLICE_ONLY).build();
    let mut wakes = Vec::new();
    g.bench_function("anywait_1ms_slice", |b| {
        let signaller = Signaller::start();
        let event = &signaller.event;
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let seen = event.generation();
                let foreign = Arc::clone(event);
                let wait = pool.wait_on(move |slice| foreign.poll_past(seen, slice));
                wait.wait_blocking().expect("signalled");
                let woke = Instant::now();
                total += record(&mut wakes, woke - event.signaled_at());
            }
            total
        })
    });
    report("slice_only_wake/anywait_1ms_slice", wakes);
    g.finish();
}

fn cancel_latency(c: &mut Criterion) {
    let mut g = c.benchmark_group("cancel_latency");

    let pool = Waiters::builder().slice(LONG).build();
    let mut wakes = Vec::new();
    g.bench_function("interrupt_hook", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let event = Arc::new(Event::default());
                let (exit_tx, exit) = mpsc::channel();
                let report = ExitReport(exit_tx);
                let foreign = Arc::clone(&event);
                let poke = Arc::clone(&event);
                let wait = pool
                    .wait_on(move |slice| {
                        let _report = &report;
                        foreign.wait_past(0, slice)
                    })
                    .with_interrupt(move || poke.poke());
                assert!(event.wait_armed(), "the helper blocks in the foreign wait");
                let dropped = Instant::now();
                drop(wait);
                total += record(&mut wakes, exit.recv().unwrap() - dropped);
            }
            total
        })
    });
    report("cancel_latency/interrupt_hook", wakes);

    let pool = Waiters::builder().slice(SLICE_ONLY).build();
    let mut wakes = Vec::new();
    g.bench_function("slice_only_1ms", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let event = Arc::new(Event::default());
                let (exit_tx, exit) = mpsc::channel();
                let report = ExitReport(exit_tx);
                let foreign = Arc::clone(&event);
                let wait = pool.wait_on(move |slice| {
                    let _report = &report;
                    foreign.poll_past(0, slice)
                });
                assert!(event.wait_armed(), "the helper sleeps in its slice");
                let dropped = Instant::now();
                drop(wait);
                total += record(&mut wakes, exit.recv().unwrap() - dropped);
            }
            total
        })
    });
    report("cancel_latency/slice_only_1ms", wakes);

    g.finish();
}

fn run_blocking(c: &mut Criterion) {
    let mut g = c.benchmark_group("run_blocking");
    let pool = Waiters::global();

    g.bench_function("anywait_block_on", |b| {
        b.iter(|| {
            let task = pool.run_blocking(|_| black_box(7u64));
            futures::executor::block_on(task).unwrap()
        })
    });

    g.bench_function("anywait_wait_blocking", |b| {
        b.iter(|| {
            pool.run_blocking(|_| black_box(7u64))
                .wait_blocking()
                .unwrap()
        })
    });

    g.bench_function("blocking_unblock", |b| {
        b.iter(|| futures::executor::block_on(blocking::unblock(|| black_box(7u64))))
    });

    g.bench_function("thread_spawn_mpsc", |b| {
        b.iter(|| {
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || tx.send(black_box(7u64)).unwrap());
            rx.recv().unwrap()
        })
    });

    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = wake_latency, slice_only_wake, cancel_latency, run_blocking
}
criterion_main!(benches);
