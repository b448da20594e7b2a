//! The FFI kit: one operation's whole life through a C-style `void *user_data`, in
//! anywait's raw mode, anywait's handle mode, and the table bindings hand-roll today.
//!
//! Run with `cargo bench -p anywait-benches --bench ffi`. All groups run in one criterion
//! run so that the ratios between the contenders are comparable.
//!
//! # Contenders
//!
//! One function per contender in each group; all three complete with a `u64` payload and
//! go through exactly the same harness code (the [`Contender`] trait, inlined):
//!
//! - `raw`: `let (completer, future) = anywait::waitable::<u64>()`; the user data is
//!   `completer.into_raw()` (the pointer to the shared block); the callback side does
//!   `unsafe { Completer::<u64>::from_raw(user_data) }.complete(value)`. The future
//!   resolves to `Result<u64, Abandoned>`. Trusts the SDK to call back exactly once.
//! - `raw_same_payload`: raw mode with handle mode's payload, `Result<u64, CallbackError>`
//!   (`anywait::try_waitable`): the same one-shot block as `handle`, so `handle` ÷
//!   `raw_same_payload` is the registry's own cost.
//! - `handle`: `let (handle, future) = OPS.issue()` on a `static OPS: Completions<u64>`;
//!   the user data is `handle.into_user_data()`; the callback side does
//!   `OPS.complete(CompletionHandle::from_user_data(user_data), Ok(value))` (checked:
//!   `Ok(())` expected). The future is a `TryWaitableFuture<u64, CallbackError>`, so its
//!   shared block carries a `Result<u64, CallbackError>` (larger than raw's `u64`).
//! - `hand_rolled`: what bindings write by hand: a `static` table of
//!   `LazyLock<std::sync::Mutex<HashMap<u64, futures::channel::oneshot::Sender<u64>>>>`
//!   (std `HashMap`, default hasher) and a `static AtomicU64` id counter. Issue: take the
//!   next id (`fetch_add(1, Relaxed)`), create a `futures::channel::oneshot` pair, insert
//!   the sender under the lock; the id travels through `user_data` as an integer
//!   (`id as usize as *mut c_void`). Callback side: `remove(&id)` under the lock, release
//!   the lock, then `sender.send(value)` (the best case: sending outside the lock). The
//!   future is the `oneshot::Receiver<u64>`.
//!
//! Each group uses its own statics (a registry, a hand-rolled table), so no group sees a
//! table another group grew.
//!
//! # Groups
//!
//! - `single_thread`: everything on the bench thread. One iteration: issue one operation
//!   (`black_box` the user data: it went to "C"), complete it from the callback side with
//!   `black_box(7)`, poll the future once with a no-op waker (`Ready(7)` asserted), drop
//!   everything. The "SDK called back synchronously" path, and the per-operation
//!   bookkeeping of each approach with nothing else in the way.
//! - `steady_state_1000_in_flight`: one iteration issues 1 000 operations (user data and
//!   futures pushed into `Vec`s whose capacity was reserved before timing), then completes
//!   them in issue order from the callback side (operation `i` with value `i`), then polls
//!   each future once with a no-op waker (`Ready(i)` asserted) and drops it. The lookups
//!   hit a populated table (1 000 live entries at the first completion, then fewer).
//!   Throughput is `Elements(1000)`: time per operation = median / 1 000.
//! - `two_threads`: a long-lived helper thread plays the SDK. One iteration: the bench
//!   thread issues 256 operations, puts their user data into a batch `Vec` (allocated
//!   once, before timing, and handed back and forth) and sends it to the helper in one
//!   `std::sync::mpsc` message; the helper completes every operation in the batch in order
//!   (operation `i` with value `i`) and sends the emptied batch back on a second channel;
//!   meanwhile the bench thread blocks on each future in order (anywait:
//!   `wait_blocking()`; `oneshot::Receiver`, which has no blocking wait of its own:
//!   `futures::executor::block_on`), asserting `i`, and finally takes the batch back.
//!   Includes at least one thread wake-up each way per iteration. Throughput is
//!   `Elements(256)`.

use std::collections::HashMap;
use std::ffi::c_void;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, LazyLock, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use anywait::ffi::{CallbackError, CompletionHandle, Completions};
use anywait::{Abandoned, Completer, TryWaitableFuture, WaitableFuture};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use futures::channel::oneshot;

mod support;
use support::noop_cx;

/// Operations in flight in `steady_state_1000_in_flight`.
const IN_FLIGHT: usize = 1_000;
/// Operations per batch in `two_threads`.
const BATCH: usize = 256;

/// Polls an `Unpin` future once.
#[inline(always)]
fn poll_once<F: Future + Unpin>(f: &mut F, cx: &mut Context<'_>) -> Poll<F::Output> {
    Pin::new(f).poll(cx)
}

// ---------------------------------------------------------------------------------------
// The contenders.

/// One way of carrying an operation through a C `void *user_data`.
trait Contender: Copy + Send + 'static {
    type Future: Future + Unpin;

    /// Starts an operation: the user data handed to "C", and the caller's future.
    fn issue(self) -> (*mut c_void, Self::Future);

    /// The SDK's callback: completes the operation behind `user_data` with `value`.
    ///
    /// # Safety
    /// - `user_data` came from `issue` on this contender and is completed at most once
    ///   (raw mode relies on it; the others would report a misuse).
    unsafe fn complete(self, user_data: *mut c_void, value: u64);

    /// The value a successful operation resolved to; panics on a failure.
    fn value(output: <Self::Future as Future>::Output) -> u64;

    /// Blocks the calling thread until the operation resolves.
    fn wait(future: Self::Future) -> u64;
}

/// anywait raw mode: the completer's pointer is the user data.
#[derive(Clone, Copy)]
struct Raw;

impl Contender for Raw {
    type Future = WaitableFuture<u64>;

    #[inline(always)]
    fn issue(self) -> (*mut c_void, Self::Future) {
        let (completer, future) = anywait::waitable::<u64>();
        (completer.into_raw(), future)
    }

    #[inline(always)]
    unsafe fn complete(self, user_data: *mut c_void, value: u64) {
        // SAFETY: `user_data` came from `Completer::<u64>::into_raw` in `issue` and is
        // used once (this function's contract).
        let completer = unsafe { Completer::<u64>::from_raw(user_data) };
        assert!(completer.complete(value).is_ok());
    }

    #[inline(always)]
    fn value(output: Result<u64, Abandoned>) -> u64 {
        output.expect("completed")
    }

    #[inline(always)]
    fn wait(future: Self::Future) -> u64 {
        future.wait_blocking().expect("completed")
    }
}

/// anywait raw mode with the same payload as handle mode (`Result<u64, CallbackError>`),
/// so that the ratio isolates the registry's cost.
#[derive(Clone, Copy)]
struct RawSamePayload;

impl Contender for RawSamePayload {
    type Future = TryWaitableFuture<u64, CallbackError>;

    #[inline(always)]
    fn issue(self) -> (*mut c_void, Self::Future) {
        let (completer, future) = anywait::try_waitable::<u64, CallbackError>();
        (completer.into_raw(), future)
    }

    #[inline(always)]
    unsafe fn complete(self, user_data: *mut c_void, value: u64) {
        // SAFETY: `user_data` came from `Completer::into_raw` in `issue` (same payload
        // type) and is used once (this function's contract).
        let completer = unsafe { Completer::<Result<u64, CallbackError>>::from_raw(user_data) };
        assert!(completer.complete(Ok(value)).is_ok());
    }

    #[inline(always)]
    fn value(output: Result<u64, CallbackError>) -> u64 {
        output.expect("completed")
    }

    #[inline(always)]
    fn wait(future: Self::Future) -> u64 {
        future.wait_blocking().expect("completed")
    }
}

/// anywait handle mode: a generation-tagged index into a `static` registry.
#[derive(Clone, Copy)]
struct Handle(&'static Completions<u64>);

impl Contender for Handle {
    type Future = TryWaitableFuture<u64, CallbackError>;

    #[inline(always)]
    fn issue(self) -> (*mut c_void, Self::Future) {
        let (handle, future) = self.0.issue();
        (handle.into_user_data(), future)
    }

    #[inline(always)]
    unsafe fn complete(self, user_data: *mut c_void, value: u64) {
        let handle = CompletionHandle::from_user_data(user_data);
        assert_eq!(self.0.complete(handle, Ok(value)), Ok(()));
    }

    #[inline(always)]
    fn value(output: Result<u64, CallbackError>) -> u64 {
        output.expect("completed")
    }

    #[inline(always)]
    fn wait(future: Self::Future) -> u64 {
        future.wait_blocking().expect("completed")
    }
}

type PendingMap = Mutex<HashMap<u64, oneshot::Sender<u64>>>;

fn pending_map() -> PendingMap {
    Mutex::new(HashMap::new())
}

/// The hand-rolled table: what a binding keeps in two `static`s today.
struct HandRolledTable {
    next_id: AtomicU64,
    pending: LazyLock<PendingMap>,
}

impl HandRolledTable {
    const fn new() -> Self {
        HandRolledTable {
            next_id: AtomicU64::new(1),
            pending: LazyLock::new(pending_map),
        }
    }
}

/// A hand-rolled binding: an id in `user_data`, a `Mutex<HashMap>` from ids to
/// `futures::channel::oneshot` senders.
#[derive(Clone, Copy)]
struct HandRolled(&'static HandRolledTable);

impl Contender for HandRolled {
    type Future = oneshot::Receiver<u64>;

    #[inline(always)]
    fn issue(self) -> (*mut c_void, Self::Future) {
        // ORDERING: a unique id is all that is needed; the map's lock orders the rest.
        let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        self.0
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, sender);
        (id as usize as *mut c_void, receiver)
    }

    #[inline(always)]
    unsafe fn complete(self, user_data: *mut c_void, value: u64) {
        let id = user_data as usize as u64;
        let sender = self
            .0
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        // The lock is released: send outside it.
        let sender = sender.expect("a pending id");
        assert!(sender.send(value).is_ok());
    }

    #[inline(always)]
    fn value(output: Result<u64, oneshot::Canceled>) -> u64 {
        output.expect("completed")
    }

    #[inline(always)]
    fn wait(future: Self::Future) -> u64 {
        futures::executor::block_on(future).expect("completed")
    }
}

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

// ---------------------------------------------------------------------------------------
// Scenario 1: one operation, everything on the bench thread.

fn single_thread_one<C: Contender>(g: &mut Group<'_>, name: &str, contender: C) {
    g.bench_function(name, |b| {
        let mut cx = noop_cx();
        b.iter(|| {
            let (user_data, mut future) = contender.issue();
            // SAFETY: `user_data` was just issued and is completed once.
            unsafe { contender.complete(black_box(user_data), black_box(7)) };
            let Poll::Ready(out) = poll_once(&mut future, &mut cx) else {
                panic!("completed before the poll");
            };
            assert_eq!(C::value(out), 7);
        })
    });
}

static SINGLE_OPS: Completions<u64> = Completions::new();
static SINGLE_TABLE: HandRolledTable = HandRolledTable::new();

fn single_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("single_thread");
    single_thread_one(&mut g, "raw", Raw);
    single_thread_one(&mut g, "raw_same_payload", RawSamePayload);
    single_thread_one(&mut g, "handle", Handle(&SINGLE_OPS));
    single_thread_one(&mut g, "hand_rolled", HandRolled(&SINGLE_TABLE));
    g.finish();
}

// ---------------------------------------------------------------------------------------
// Scenario 2: 1 000 operations in flight, completed in order, then polled.

fn steady_state_one<C: Contender>(g: &mut Group<'_>, name: &str, contender: C) {
    g.bench_function(name, |b| {
        let mut cx = noop_cx();
        let mut user_data: Vec<*mut c_void> = Vec::with_capacity(IN_FLIGHT);
        let mut futures: Vec<C::Future> = Vec::with_capacity(IN_FLIGHT);
        b.iter(|| {
            for _ in 0..IN_FLIGHT {
                let (data, future) = contender.issue();
                user_data.push(black_box(data));
                futures.push(future);
            }
            for (i, data) in user_data.drain(..).enumerate() {
                // SAFETY: every entry was issued above and is completed once.
                unsafe { contender.complete(data, i as u64) };
            }
            for (i, mut future) in futures.drain(..).enumerate() {
                let Poll::Ready(out) = poll_once(&mut future, &mut cx) else {
                    panic!("completed before the poll");
                };
                assert_eq!(C::value(out), i as u64);
            }
        })
    });
}

static STEADY_OPS: Completions<u64> = Completions::new();
static STEADY_TABLE: HandRolledTable = HandRolledTable::new();

fn steady_state_1000_in_flight(c: &mut Criterion) {
    let mut g = c.benchmark_group("steady_state_1000_in_flight");
    g.throughput(Throughput::Elements(IN_FLIGHT as u64));
    steady_state_one(&mut g, "raw", Raw);
    steady_state_one(&mut g, "raw_same_payload", RawSamePayload);
    steady_state_one(&mut g, "handle", Handle(&STEADY_OPS));
    steady_state_one(&mut g, "hand_rolled", HandRolled(&STEADY_TABLE));
    g.finish();
}

// ---------------------------------------------------------------------------------------
// Scenario 3: a helper thread plays the SDK.

/// A user data value on its way to the "SDK" thread.
struct UserData(*mut c_void);

// SAFETY: the pointer is never dereferenced by the bench; it is handed back to the
// contender's `complete` on the helper thread, which is what the contenders are built for
// (raw mode's completer and the registries are `Send`/`Sync` for a `Send` payload).
unsafe impl Send for UserData {}

/// The SDK thread: completes each batch it receives, in order, then hands it back empty.
struct Sdk {
    batches: mpsc::Sender<Vec<UserData>>,
    returned: mpsc::Receiver<Vec<UserData>>,
    thread: thread::JoinHandle<()>,
}

impl Sdk {
    fn spawn<C: Contender>(contender: C) -> Sdk {
        let (batches, incoming) = mpsc::channel::<Vec<UserData>>();
        let (give_back, returned) = mpsc::channel();
        let thread = thread::spawn(move || {
            while let Ok(mut batch) = incoming.recv() {
                for (i, UserData(data)) in batch.drain(..).enumerate() {
                    // SAFETY: each entry was issued by the bench thread for this batch and
                    // is completed once, here.
                    unsafe { contender.complete(data, i as u64) };
                }
                if give_back.send(batch).is_err() {
                    return;
                }
            }
        });
        Sdk {
            batches,
            returned,
            thread,
        }
    }

    fn stop(self) {
        drop(self.batches);
        self.thread.join().expect("SDK thread panicked");
    }
}

fn two_threads_one<C: Contender>(g: &mut Group<'_>, name: &str, contender: C) {
    let sdk = Sdk::spawn(contender);
    g.bench_function(name, |b| {
        let mut spare: Option<Vec<UserData>> = Some(Vec::with_capacity(BATCH));
        let mut futures: Vec<C::Future> = Vec::with_capacity(BATCH);
        b.iter(|| {
            let mut batch = spare.take().expect("the batch is back");
            for _ in 0..BATCH {
                let (data, future) = contender.issue();
                batch.push(UserData(data));
                futures.push(future);
            }
            sdk.batches.send(batch).expect("SDK thread is running");
            for (i, future) in futures.drain(..).enumerate() {
                assert_eq!(C::wait(future), i as u64);
            }
            spare = Some(sdk.returned.recv().expect("SDK thread is running"));
        })
    });
    sdk.stop();
}

static TWO_THREAD_OPS: Completions<u64> = Completions::new();
static TWO_THREAD_TABLE: HandRolledTable = HandRolledTable::new();

fn two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_threads");
    g.throughput(Throughput::Elements(BATCH as u64));
    two_threads_one(&mut g, "raw", Raw);
    two_threads_one(&mut g, "raw_same_payload", RawSamePayload);
    two_threads_one(&mut g, "handle", Handle(&TWO_THREAD_OPS));
    two_threads_one(&mut g, "hand_rolled", HandRolled(&TWO_THREAD_TABLE));
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
    targets = single_thread, steady_state_1000_in_flight, two_threads
}
criterion_main!(benches);
