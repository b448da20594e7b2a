//! What every concurrent target shares: the input decoder, a global clock that orders the
//! threads' operations after the fact, counting wakers, drop-tracked values and hook
//! counters.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, Once};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Most operations a thread runs (keeps one execution short).
pub const MAX_OPS_PER_THREAD: usize = 40;

/// Most timed waits with a non-zero timeout one thread makes (the rest wait zero).
pub const MAX_TIMED_WAITS: usize = 4;

/// A decoded input: how many threads, the setup byte and each thread's operations.
#[derive(Debug)]
pub struct Script<Op> {
    /// The target-specific setup byte (second input byte, 0 if absent).
    pub setup: u8,
    /// One list per thread (2 to 4 lists).
    pub threads: Vec<Vec<Op>>,
}

/// The bytes after the header, read one at a time; missing bytes read as 0.
pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    /// The next byte, or `None` at the end.
    pub fn byte(&mut self) -> Option<u8> {
        let b = self.data.get(self.pos).copied();
        self.pos += 1;
        b
    }

    /// An argument byte (0 when the input ended).
    pub fn arg(&mut self) -> u8 {
        self.byte().unwrap_or(0)
    }
}

/// Decodes `data`: byte 0 picks the thread count (`2 + b % 3`), byte 1 is the setup byte,
/// then every operation starts with one byte whose top two bits pick the thread (modulo
/// the count) and whose low six bits are the operation code handed to `op`, which may
/// read argument bytes from the input. `op` returns `None` for a code it does not use.
pub fn decode<Op>(data: &[u8], mut op: impl FnMut(u8, &mut Input<'_>) -> Option<Op>) -> Script<Op> {
    let n = 2 + data.first().map_or(0, |b| b % 3) as usize;
    let setup = data.get(1).copied().unwrap_or(0);
    let mut input = Input {
        data: data.get(2..).unwrap_or(&[]),
        pos: 0,
    };
    let mut threads: Vec<Vec<Op>> = (0..n).map(|_| Vec::new()).collect();
    while let Some(b) = input.byte() {
        let thread = (b >> 6) as usize % n;
        let decoded = op(b & 0x3f, &mut input);
        if let Some(decoded) = decoded {
            if threads[thread].len() < MAX_OPS_PER_THREAD {
                threads[thread].push(decoded);
            }
        }
        if threads.iter().all(|t| t.len() >= MAX_OPS_PER_THREAD) {
            break;
        }
    }
    Script { setup, threads }
}

/// Runs `body(thread_index)` on one real thread per op list, all released together by a
/// barrier, and returns what each returned (in thread order). A panic in any thread
/// (a failed check) propagates.
pub fn run_threads<Op: Sync, R: Send>(
    threads: &[Vec<Op>],
    body: impl Fn(usize, &[Op]) -> R + Sync,
) -> Vec<R> {
    let barrier = Barrier::new(threads.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = threads
            .iter()
            .enumerate()
            .map(|(i, ops)| {
                let barrier = &barrier;
                let body = &body;
                std::thread::Builder::new()
                    .name(format!("mt-{i}"))
                    .spawn_scoped(scope, move || {
                        barrier.wait();
                        body(i, ops)
                    })
                    .expect("spawn a fuzz thread")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r,
                Err(payload) => std::panic::resume_unwind(payload),
            })
            .collect()
    })
}

/// A global clock: every call is one SeqCst read-modify-write of one word, so two stamps
/// taken on different threads are ordered, and a stamp taken after an operation returned
/// happens-after it. Bracketing an operation with `now()` before and after gives an
/// interval that contains its linearisation point.
#[derive(Debug, Default)]
pub struct Clock(AtomicU64);

impl Clock {
    /// The next tick.
    pub fn now(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

/// An operation's span on the [`Clock`]: `begin` before the call, `end` after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Stamped before the call.
    pub begin: u64,
    /// Stamped after it returned.
    pub end: u64,
}

impl Span {
    /// Runs `f` between two stamps.
    pub fn time<R>(clock: &Clock, f: impl FnOnce() -> R) -> (Span, R) {
        let begin = clock.now();
        let r = f();
        let end = clock.now();
        (Span { begin, end }, r)
    }
}

/// A waker that counts its wake-ups; `Arc::strong_count` tells whether anywait still holds
/// a clone of it.
#[derive(Debug, Default)]
pub struct WakeProbe {
    wakes: AtomicUsize,
}

impl WakeProbe {
    /// How often it was woken.
    pub fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

impl Wake for WakeProbe {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `future` once with a fresh counting waker; returns the result and the probe.
pub fn poll_fresh<F: Future + ?Sized>(future: Pin<&mut F>) -> (Poll<F::Output>, Arc<WakeProbe>) {
    let probe = Arc::new(WakeProbe::default());
    let waker = Waker::from(Arc::clone(&probe));
    let mut cx = Context::from_waker(&waker);
    let r = future.poll(&mut cx);
    drop(waker);
    (r, probe)
}

/// Polls a stream once with a fresh counting waker.
pub fn poll_next_fresh<S: futures_core::Stream + Unpin>(
    stream: &mut S,
) -> (Poll<Option<S::Item>>, Arc<WakeProbe>) {
    let probe = Arc::new(WakeProbe::default());
    let waker = Waker::from(Arc::clone(&probe));
    let mut cx = Context::from_waker(&waker);
    let r = Pin::new(stream).poll_next(&mut cx);
    drop(waker);
    (r, probe)
}

/// Asserts that anywait holds no clone of any of these wakers any more.
pub fn assert_released(what: &str, probes: &[Arc<WakeProbe>]) {
    for (i, p) in probes.iter().enumerate() {
        assert_eq!(
            Arc::strong_count(p),
            1,
            "{what}: waker #{i} is still held by anywait after everything was dropped (leak)"
        );
    }
}

/// The timeout of a timed wait: zero, or a tiny one (at most 250 µs) while the thread's
/// budget of non-zero waits lasts.
pub fn timeout(arg: u8, budget: &mut usize) -> Duration {
    if arg & 1 == 0 || *budget == 0 {
        Duration::ZERO
    } else {
        *budget -= 1;
        Duration::from_micros((10 + u64::from(arg >> 1) * 2).min(250))
    }
}

/// Counts every instance of [`Val`]: created, cloned, dropped.
#[derive(Debug)]
pub struct Ledger {
    live: Vec<AtomicI32>,
    next: AtomicU32,
    double_drops: AtomicU32,
}

/// Most values one execution creates.
pub const MAX_VALUES: usize = 1024;

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Arc<Ledger> {
        Arc::new(Ledger {
            live: (0..MAX_VALUES).map(|_| AtomicI32::new(0)).collect(),
            next: AtomicU32::new(0),
            double_drops: AtomicU32::new(0),
        })
    }

    /// A fresh value with a unique id.
    pub fn make(self: &Arc<Self>) -> Val {
        self.make_weighted(1)
    }

    /// A fresh value with a unique id and a weight (for `Window` streams).
    pub fn make_weighted(self: &Arc<Self>, weight: u8) -> Val {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        assert!((id as usize) < MAX_VALUES, "too many values");
        self.live[id as usize].fetch_add(1, Ordering::SeqCst);
        Val {
            id,
            weight,
            tag: (0, 0),
            ledger: Arc::clone(self),
        }
    }

    /// Values created so far.
    pub fn created(&self) -> u32 {
        self.next.load(Ordering::SeqCst)
    }

    /// Live instances of value `id` (creations and clones minus drops).
    pub fn live(&self, id: u32) -> i32 {
        self.live[id as usize].load(Ordering::SeqCst)
    }

    /// Asserts that every value ever created was dropped exactly as often as it was
    /// created or cloned.
    pub fn assert_all_dropped(&self, what: &str) {
        assert_eq!(
            self.double_drops.load(Ordering::SeqCst),
            0,
            "{what}: a value was dropped more often than it existed (double drop)"
        );
        for id in 0..self.created() {
            assert_eq!(self.live(id), 0, "{what}: value {id} leaked (not dropped)");
        }
    }
}

/// A drop-counted value. `Clone` counts as a new instance.
#[derive(Debug)]
pub struct Val {
    /// Unique per creation (clones share it).
    pub id: u32,
    /// Its weight for `Window` streams.
    pub weight: u8,
    /// (thread, sequence number) for stream order checks.
    pub tag: (u8, u32),
    ledger: Arc<Ledger>,
}

impl Clone for Val {
    fn clone(&self) -> Self {
        self.ledger.live[self.id as usize].fetch_add(1, Ordering::SeqCst);
        Val {
            id: self.id,
            weight: self.weight,
            tag: self.tag,
            ledger: Arc::clone(&self.ledger),
        }
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        let before = self.ledger.live[self.id as usize].fetch_sub(1, Ordering::SeqCst);
        if before <= 0 {
            self.ledger.double_drops.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Counts the runs and drops of hook closures (`on_cancel`, `on_close`, ...).
#[derive(Debug, Default)]
pub struct Hooks {
    /// Hooks handed to anywait.
    pub registered: AtomicUsize,
    /// Hooks that ran.
    pub ran: AtomicUsize,
    /// Hook closures dropped (run or not).
    pub dropped: AtomicUsize,
}

struct HookGuard(Arc<Hooks>);

impl Drop for HookGuard {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

impl Hooks {
    /// A new hook closure, counted as registered.
    pub fn hook(self: &Arc<Self>) -> impl FnOnce() + Send + 'static {
        self.registered.fetch_add(1, Ordering::SeqCst);
        let guard = HookGuard(Arc::clone(self));
        move || {
            guard.0.ran.fetch_add(1, Ordering::SeqCst);
            drop(guard);
        }
    }

    /// (registered, ran, dropped).
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.registered.load(Ordering::SeqCst),
            self.ran.load(Ordering::SeqCst),
            self.dropped.load(Ordering::SeqCst),
        )
    }

    /// Asserts that every closure handed to anywait was dropped exactly once.
    pub fn assert_all_dropped(&self, what: &str) {
        let (registered, ran, dropped) = self.counts();
        assert_eq!(
            dropped, registered,
            "{what}: {registered} hooks registered, {dropped} dropped (ran {ran})"
        );
    }
}

/// The payload of a panic a target raises on purpose (in a done-callback); the panic hook
/// installed by [`quiet_expected_panics`] ignores it.
#[derive(Debug)]
pub struct ExpectedPanic;

/// Wraps the current panic hook so that panics with an [`ExpectedPanic`] payload (caught
/// by anywait on purpose) are neither printed nor, under libFuzzer, turned into an abort.
/// Call it after libfuzzer-sys installed its hook (at the first input).
pub fn quiet_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<ExpectedPanic>().is_none() {
                previous(info);
            }
        }));
    });
}

/// A boolean set once and read after the join.
#[derive(Debug, Default)]
pub struct Flag(AtomicBool);

impl Flag {
    /// Sets it.
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether it was set.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Locks a mutex, ignoring poisoning (a failed check in another thread already panics).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
