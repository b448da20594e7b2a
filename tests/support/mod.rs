//! Helpers shared by the integration tests: each test crate includes this module with
//! `mod support;` and uses what it needs.
//!
//! - the random operation sequences of the model tests and the stress test: [`XorShift`],
//!   [`seed`] (printed; `ANYWAIT_SEED` replays one), [`random_sequences`] and
//!   [`check_decoder`];
//! - counting wakers ([`CountingWaker`]) and a hang guard ([`guarded`]), from `common.rs`,
//!   which the unit tests share too; a waker that unparks a thread ([`thread_waker`]);
//! - the counting global allocator of the allocation tests ([`CountingAlloc`], [`allocs`]);
//! - the executors the runtime tests run on ([`Executor`]), [`SignalOnPending`], window
//!   credit for stream producers ([`Credit`]);
//! - under `cfg(anywait_loom)`, the loom models' helpers ([`loom_models`]).

#![allow(dead_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use anywait::{waitable, Completer, StreamFeeder, WaitableFuture};
use futures::task::SpawnExt;

// Each test crate uses a few of these.
#[allow(unused_imports)]
pub use common::{assert_no_waker_leak, counting_waker, guarded, CountingWaker, WakeCounter};

/// A failure guard: no correct run comes anywhere near it.
pub const GUARD: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// Random operation sequences.

/// xorshift64*: tiny, deterministic, good enough to draw operations.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A short busy spin of random length, to shift the relative timing of the threads.
    /// It orders nothing: every interleaving it produces is a legal one.
    pub fn jitter(&mut self) {
        for _ in 0..self.below(64) {
            std::hint::spin_loop();
        }
    }
}

/// The seed of a random test: `ANYWAIT_SEED` if set (to replay a run), else the clock.
/// Printed as `<test>: ANYWAIT_SEED=<seed>`.
pub fn seed(test: &str) -> u64 {
    let seed = match std::env::var("ANYWAIT_SEED") {
        Ok(s) => s.trim().parse().expect("ANYWAIT_SEED must be a u64"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x5EED, |d| d.as_nanos() as u64),
    };
    println!("{test}: ANYWAIT_SEED={seed}");
    seed
}

/// A decoded sequence of a model's operations: `Vec<Op>`, or `(Setup, Vec<Op>)` for a
/// model whose first byte picks its setup.
pub trait OpSequence {
    /// How many operations it holds.
    fn op_count(&self) -> usize;
    /// The sequence, for the report of a failing case.
    fn describe(&self) -> String;
}

impl<Op: Debug> OpSequence for Vec<Op> {
    fn op_count(&self) -> usize {
        self.len()
    }

    fn describe(&self) -> String {
        format!("ops: {self:?}")
    }
}

impl<Setup: Debug, Op: Debug> OpSequence for (Setup, Vec<Op>) {
    fn op_count(&self) -> usize {
        self.1.len()
    }

    fn describe(&self) -> String {
        format!("setup {:?}, ops: {:?}", self.0, self.1)
    }
}

/// Draws 4000 random byte strings (every tenth 400 bytes long, the others 8 to 67) from
/// the [`seed`] of `test`, decodes each with the model's `decode` (`ops_from_bytes`) and
/// runs it with `run` (`model::run`, which returns how many operations were not skipped).
/// A failing case is reported with the seed, its number and its operations, and its panic
/// resumed. Prints the totals and the time taken.
pub fn random_sequences<S: OpSequence>(
    test: &str,
    decode: fn(&[u8]) -> S,
    run: fn(&S) -> usize,
) -> RandomRun {
    let seed = seed(test);
    let start = Instant::now();
    let mut rng = XorShift::new(seed);
    let mut total_ops = 0;
    let mut executed = 0;
    for case in 0..4000 {
        // Short sequences find shallow differences fast; some long ones go deep.
        let len = if case % 10 == 0 {
            400
        } else {
            8 + (rng.next() % 60) as usize
        };
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let sequence = decode(&bytes);
        total_ops += sequence.op_count();
        // Unwind safety: the panic is resumed below, nothing looks at the sequence after it.
        match panic::catch_unwind(AssertUnwindSafe(|| run(&sequence))) {
            Ok(n) => executed += n,
            Err(panic) => {
                eprintln!("ANYWAIT_SEED={seed}, case {case}, {}", sequence.describe());
                panic::resume_unwind(panic);
            }
        }
    }
    println!(
        "{total_ops} operations ({executed} not skipped) in {:?}",
        start.elapsed()
    );
    RandomRun {
        total_ops,
        executed,
    }
}

/// What [`random_sequences`] ran.
pub struct RandomRun {
    pub total_ops: usize,
    /// The operations that were not skipped.
    pub executed: usize,
}

impl RandomRun {
    /// Asserts that more than `num / den` of the operations found `what` (were not
    /// skipped): otherwise the sequences test little.
    pub fn assert_executed_over(&self, num: usize, den: usize, what: &str) {
        let RandomRun {
            total_ops,
            executed,
        } = *self;
        assert!(
            executed * den > total_ops * num,
            "only {executed} of {total_ops} operations found {what}"
        );
    }
}

/// Checks a model's decoder (`ops_from_bytes`) on every byte value (`0..=255`): each byte
/// is one operation, the operations are of every kind in `kinds` (so the fuzzer and the
/// random test can reach all of them), and a long input is cut at `max_ops`. Returns the
/// operations, for further checks.
pub fn check_decoder<Op: Debug>(
    decode: fn(&[u8]) -> Vec<Op>,
    max_ops: usize,
    kinds: &[&str],
) -> Vec<Op> {
    let all: Vec<u8> = (0..=255).collect();
    let ops = decode(&all);
    assert_every_kind(&ops, kinds);
    assert_eq!(ops.len(), 256);
    assert_eq!(decode(&[0; 10_000]).len(), max_ops);
    ops
}

/// Asserts that `ops` hold an operation of every kind in `kinds` (an operation's kind is
/// the variant name its `Debug` form starts with): the decoder can produce them all.
pub fn assert_every_kind(ops: impl IntoIterator<Item = impl Debug>, kinds: &[&str]) {
    let seen: BTreeSet<String> = ops
        .into_iter()
        .map(|op| {
            format!("{op:?}")
                .split(['(', ' '])
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    for kind in kinds {
        assert!(seen.contains(*kind), "decoder never produces {kind}");
    }
}

/// Keeps expected panics (caught on purpose; their payload is a `P`) out of the output:
/// every other panic is reported as usual. Installed once per test binary, for one `P`.
pub fn quiet_panics<P: 'static>() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<P>().is_none() {
                default(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------------------
// Wakers and futures.

/// A waker that unparks a thread.
struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A waker that unparks the calling thread.
pub fn thread_waker() -> Waker {
    Waker::from(Arc::new(Unparker(thread::current())))
}

pub fn poll_once<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

/// Forwards to the inner future and sends `message` once, the first time the inner future
/// returns `Pending`: by then it has registered its waker, so whoever waits for the
/// message may fire the completion without racing the registration.
pub struct SignalOnPending<F, M = ()> {
    inner: Pin<Box<F>>,
    signal: Option<(mpsc::Sender<M>, M)>,
}

impl<F: Future, M> SignalOnPending<F, M> {
    pub fn new(inner: F, signal: mpsc::Sender<M>, message: M) -> Self {
        SignalOnPending {
            inner: Box::pin(inner),
            signal: Some((signal, message)),
        }
    }
}

impl<F: Future, M: Unpin> Future for SignalOnPending<F, M> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let poll = self.inner.as_mut().poll(cx);
        if poll.is_pending() {
            if let Some((signal, message)) = self.signal.take() {
                let _ = signal.send(message);
            }
        }
        poll
    }
}

/// A pair whose future carries an `on_cancel` hook that counts its runs.
pub fn with_hook<T>() -> (Completer<T>, WaitableFuture<T>, Arc<AtomicUsize>) {
    let (completer, future) = waitable::<T>();
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let future = future.on_cancel(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    (completer, future, runs)
}

/// How often a [`with_hook`] hook ran.
pub fn runs(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

// ---------------------------------------------------------------------------------------
// Counting allocations.

/// A global allocator that forwards every call to `System` and counts the allocations
/// (`alloc`, `alloc_zeroed`, `realloc`) a thread makes while it counts ([`allocs`]), so
/// the test harness's threads and the tests' helper threads do not disturb the counts.
/// Each allocation test binary installs it itself:
/// `#[global_allocator] static GLOBAL: support::CountingAlloc = support::CountingAlloc;`.
pub struct CountingAlloc;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn note_alloc() {
    // `try_with`: the allocator may run while this thread's locals are being torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// bookkeeping touches only const-initialised thread-locals without destructors, which
// never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: forwarded from the caller, who upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        // SAFETY: as for `alloc`; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` and returns its result with the number of allocations this thread made in it
/// (counted by [`CountingAlloc`], which must be the global allocator).
pub fn allocs<R>(f: impl FnOnce() -> R) -> (R, usize) {
    ALLOCS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    let result = f();
    COUNTING.with(|on| on.set(false));
    (result, ALLOCS.with(Cell::get))
}

// ---------------------------------------------------------------------------------------
// Executors.

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
            // A panic in the task is resumed when the handle is awaited.
            Executor::FuturesThreadPool(pool) => {
                futures::executor::block_on(pool.spawn_with_handle(future).unwrap())
            }
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

// ---------------------------------------------------------------------------------------
// Streams.

/// A producer's own credit counter for a window stream, re-opened by `on_credit`. The
/// producer pushes only while it has credit (`> 0`) and otherwise waits on the condvar:
/// flow control, as an SDK with a read window does it.
pub struct Credit {
    pub open: Mutex<isize>,
    pub reopened: Condvar,
}

impl Credit {
    /// Starts at `initial` and installs the `on_credit` hook on `feeder`.
    pub fn install<T, E>(feeder: &StreamFeeder<T, E>, initial: usize) -> Arc<Credit> {
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
    pub fn take(&self, weight: usize) {
        let mut open = self.open.lock().unwrap();
        while *open <= 0 {
            open = self.reopened.wait(open).unwrap();
        }
        *open -= weight as isize;
    }
}

// ---------------------------------------------------------------------------------------
// loom.

/// The loom models' helpers: their counters are loom atomics, so that loom schedules
/// them (and its leak check sees the values).
#[cfg(anywait_loom)]
pub mod loom_models {
    use std::task::Waker;
    use std::time::Instant;

    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;

    use super::{CountingWaker, WakeCounter};

    impl WakeCounter for AtomicUsize {
        fn bump(&self) {
            self.fetch_add(1, Ordering::SeqCst);
        }

        fn get(&self) -> usize {
            self.load(Ordering::SeqCst)
        }
    }

    /// A counting waker whose count is a loom atomic; it lives on a `std::sync::Arc`, whose
    /// strong count shows leaked clones ([`super::assert_no_waker_leak`]).
    pub fn counting_waker() -> (std::sync::Arc<CountingWaker<AtomicUsize>>, Waker) {
        CountingWaker::pair()
    }

    /// A value that counts its drops with a loom atomic held in a `loom::sync::Arc`, so a
    /// value dropped twice or never fails an assertion, and a leaked value loom's own
    /// leak check.
    #[derive(Debug)]
    pub struct Val {
        pub id: u32,
        drops: Arc<AtomicUsize>,
    }

    impl Val {
        /// A value with a drop counter of its own.
        pub fn new(id: u32) -> (Val, Arc<AtomicUsize>) {
            let drops = counter();
            (Val::counted_by(id, &drops), drops)
        }

        /// A value that counts its drop in `drops`.
        pub fn counted_by(id: u32, drops: &Arc<AtomicUsize>) -> Val {
            Val {
                id,
                drops: drops.clone(),
            }
        }
    }

    impl Drop for Val {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }

    pub fn counter() -> Arc<AtomicUsize> {
        Arc::new(AtomicUsize::new(0))
    }

    pub fn load(counter: &Arc<AtomicUsize>) -> usize {
        counter.load(Ordering::SeqCst)
    }

    /// Runs `f` under loom with `builder`'s bounds and returns how many executions loom
    /// explored; prints that count and the time taken under the test's name (see them with
    /// `--nocapture`).
    pub fn explore(builder: loom::model::Builder, f: impl Fn() + Sync + Send + 'static) -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let name = std::thread::current().name().unwrap_or("model").to_string();
        let executions = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = executions.clone();
        let start = Instant::now();
        builder.check(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            f();
        });
        let executions = executions.load(Ordering::Relaxed);
        println!("{name}: {executions} executions in {:?}", start.elapsed());
        executions
    }
}
