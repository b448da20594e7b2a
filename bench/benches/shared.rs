//! Shared completions: anywait's `SharedWaitable` against `futures::future::Shared` and
//! `tokio::sync::watch`.
//!
//! Run with `cargo bench --bench shared`. All groups run in one criterion run so that the
//! ratios between crates are comparable; `BENCHMARKS.shared.md` records the results.
//!
//! Groups (one function per crate in each):
//!
//! - `fan_out/N` (N = 1, 100, 10 000): one timed iteration is the whole life of one
//!   shared completion with N waiting handles: create the source, clone N handles into
//!   slots allocated once before timing (so the harness allocates nothing), poll each once
//!   with a no-op waker (`Pending`: registered), complete with a `u64`, poll each to
//!   `Ready` (checking the value) and drop it, drop the original handle. Throughput is
//!   `Elements(N)`: time per waiter = median / N (the per-completion fixed cost — the
//!   source's allocations, the completion itself — is amortised over N).
//!   - anywait: `anywait::waitable::<u64>()`, `future.shared()`, `shared.clone()`,
//!     `completer.complete(7)`; output `Result<u64, Abandoned>`.
//!   - futures_shared: `futures::channel::oneshot::channel::<u64>()`, `rx.shared()`,
//!     `shared.clone()`, `tx.send(7)`; output `Result<u64, Canceled>`.
//!   - tokio_watch: `tokio::sync::watch::channel(0u64)`, `rx.clone()`, each waiter is
//!     an `async fn` that owns its receiver (`rx.changed().await`, then
//!     `*rx.borrow_and_update()`); `tx.send(7)`; output `u64`.
//! - `clone`: clone one handle and drop the clone (criterion drops each output inside the
//!   timed loop): anywait `SharedWaitable::clone`, `futures::future::Shared::clone`,
//!   `watch::Receiver::clone`.

use std::future::Future;
use std::hint::black_box;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::FutureExt;

mod support;
use support::{noop_cx, slots, Slot};

/// The timed body of `fan_out` once the source exists: put a waiter in every slot (made
/// by `make`) and poll it once, `complete`, poll each waiter to `Ready` and drop it.
#[inline(always)]
fn fan_out_round<F: Future>(
    slots: &mut [Slot<F>],
    cx: &mut Context<'_>,
    mut make: impl FnMut() -> F,
    complete: impl FnOnce(),
    check: impl Fn(F::Output) -> bool,
) {
    for slot in slots.iter_mut() {
        slot.as_mut().set(Some(make()));
        let wait = slot.as_mut().as_pin_mut().expect("just set");
        assert!(wait.poll(cx).is_pending());
    }
    complete();
    for slot in slots.iter_mut() {
        let wait = slot.as_mut().as_pin_mut().expect("set above");
        match wait.poll(cx) {
            Poll::Ready(out) => assert!(check(black_box(out))),
            Poll::Pending => panic!("not woken"),
        }
        slot.as_mut().set(None);
    }
}

/// A `'static` watch waiter that owns its receiver.
async fn watch_changed(mut rx: tokio::sync::watch::Receiver<u64>) -> u64 {
    rx.changed().await.expect("sender alive");
    *rx.borrow_and_update()
}

/// Scenario 1: one completion fanned out to N waiting handles.
fn fan_out(c: &mut Criterion) {
    let mut g = c.benchmark_group("fan_out");

    for n in [1usize, 100, 10_000] {
        g.throughput(Throughput::Elements(n as u64));

        g.bench_with_input(BenchmarkId::new("anywait", n), &n, |b, &n| {
            let mut slots = slots(n);
            let mut cx = noop_cx();
            b.iter(|| {
                let (completer, future) = anywait::waitable::<u64>();
                let shared = future.shared();
                fan_out_round(
                    &mut slots,
                    &mut cx,
                    || shared.clone(),
                    || assert!(completer.complete(black_box(7)).is_ok()),
                    |out| out == Ok(7),
                );
                drop(shared);
            });
        });

        g.bench_with_input(BenchmarkId::new("futures_shared", n), &n, |b, &n| {
            let mut slots = slots(n);
            let mut cx = noop_cx();
            b.iter(|| {
                let (tx, rx) = futures::channel::oneshot::channel::<u64>();
                let shared = rx.shared();
                fan_out_round(
                    &mut slots,
                    &mut cx,
                    || shared.clone(),
                    || assert!(tx.send(black_box(7)).is_ok()),
                    |out| out == Ok(7),
                );
                drop(shared);
            });
        });

        g.bench_with_input(BenchmarkId::new("tokio_watch", n), &n, |b, &n| {
            let mut slots = slots(n);
            let mut cx = noop_cx();
            b.iter(|| {
                let (tx, rx) = tokio::sync::watch::channel(0u64);
                fan_out_round(
                    &mut slots,
                    &mut cx,
                    || watch_changed(rx.clone()),
                    || assert!(tx.send(black_box(7)).is_ok()),
                    |out| out == 7,
                );
                drop(rx);
            });
        });
    }

    g.finish();
}

/// Scenario 2: the cost of one more handle (clone + drop).
fn clone(c: &mut Criterion) {
    let mut g = c.benchmark_group("clone");

    g.bench_function("anywait", |b| {
        let (_completer, future) = anywait::waitable::<u64>();
        let shared = future.shared();
        b.iter(|| black_box(&shared).clone());
    });

    g.bench_function("futures_shared", |b| {
        let (_tx, rx) = futures::channel::oneshot::channel::<u64>();
        let shared = rx.shared();
        b.iter(|| black_box(&shared).clone());
    });

    g.bench_function("tokio_watch", |b| {
        let (_tx, rx) = tokio::sync::watch::channel(0u64);
        b.iter(|| black_box(&rx).clone());
    });

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
    targets = fan_out, clone
}
criterion_main!(benches);
