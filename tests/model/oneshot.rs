//! A plain-Rust reference model of anywait's one-shot semantics, and a runner that applies
//! the same operations to real `waitable()` pairs and to the model, step by step, asserting
//! identical observable behaviour after every step.
//!
//! Shared by `tests/model_oneshot.rs` (seeded random sequences) and the cargo-fuzz target
//! `fuzz/fuzz_targets/oneshot.rs` (sequences decoded from fuzzer bytes). It depends only on
//! `std`, `anywait` and `futures_core`, so both can include it with `#[path]`.
//!
//! What is compared after every step:
//! - the operation's return value (poll result, `complete`'s `Err(v)`, wait results, ...);
//! - the side effects it caused, as a multiset of events: values dropped (every value is
//!   a drop-counting [`Val`]), cancel hooks run or discarded, done-callbacks run (with what)
//!   or discarded; plus the order in which cancel hooks ran;
//! - for every counting waker: how often it was woken, and whether anywait still holds a
//!   clone of it (`Arc::strong_count`), which catches both lost and leaked wakers;
//! - which handles are still alive.
//!
//! At the end every remaining handle is dropped and every value, hook, callback and waker
//! must have been released exactly once.

// Not every item is used by every includer (the fuzz target uses only `run` and
// `ops_from_bytes`).
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use anywait::{waitable, Abandoned, Completer, TryTakeError, WaitError, WaitableFuture};
use futures_core::FusedFuture;

/// How many independent pairs a sequence drives.
pub const PAIRS: usize = 4;

/// Longest sequence [`ops_from_bytes`] decodes (keeps fuzz iterations fast).
pub const MAX_OPS: usize = 2048;

/// One step. `pair` is an index into the [`PAIRS`] pairs (taken modulo [`PAIRS`]). An
/// operation whose handle is gone is skipped on both sides (and the model must agree that
/// it is gone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `Completer::complete` with a fresh drop-counting value.
    Complete(u8),
    /// Drop the completer without completing (abandonment).
    DropCompleter(u8),
    /// Drop the future (a cancellation if nothing arrived yet).
    DropFuture(u8),
    /// Poll the future once; `fresh`: with a new counting waker, else with the pair's
    /// previous one (exercises the "same waker, no clone" path).
    Poll { pair: u8, fresh: bool },
    /// `WaitableFuture::try_take`.
    TryTake(u8),
    /// `wait_timeout(Duration::ZERO)`.
    WaitTimeoutZero(u8),
    /// `wait_deadline` with a deadline already in the past.
    WaitDeadlinePast(u8),
    /// `wait_blocking`, only when the model says the result is already there (else
    /// skipped: it would block forever).
    WaitBlocking(u8),
    /// Add an `on_cancel` hook.
    OnCancel(u8),
    /// Consume the future with `on_complete`.
    OnComplete(u8),
    /// `WaitableFuture::is_complete`.
    IsComplete(u8),
    /// `Completer::is_canceled`.
    IsCanceled(u8),
    /// `FusedFuture::is_terminated`.
    IsTerminated(u8),
    /// `Completer::poll_canceled` with a fresh or the previous counting waker.
    PollCanceled { pair: u8, fresh: bool },
    /// Create `Completer::canceled()`, poll it once with a fresh waker, drop it.
    CanceledOnce(u8),
    /// `Completer::from_raw(Completer::into_raw(c))`.
    RawRoundTrip(u8),
    /// Drop what is left of the pair (`how & 1`: future first, else completer first) and
    /// start a new one: `(how >> 1) & 3` = 0 `waitable()`, 1 `from_callback` completing
    /// synchronously, 2 `from_callback` dropping the completer, 3 `from_callback` keeping
    /// the completer.
    Reset { pair: u8, how: u8 },
}

impl Op {
    fn pair(self) -> usize {
        let p = match self {
            Op::Complete(p)
            | Op::DropCompleter(p)
            | Op::DropFuture(p)
            | Op::TryTake(p)
            | Op::WaitTimeoutZero(p)
            | Op::WaitDeadlinePast(p)
            | Op::WaitBlocking(p)
            | Op::OnCancel(p)
            | Op::OnComplete(p)
            | Op::IsComplete(p)
            | Op::IsCanceled(p)
            | Op::IsTerminated(p)
            | Op::CanceledOnce(p)
            | Op::RawRoundTrip(p) => p,
            Op::Poll { pair, .. } | Op::PollCanceled { pair, .. } | Op::Reset { pair, .. } => pair,
        };
        usize::from(p) % PAIRS
    }
}

/// Decodes one operation per byte: the low two bits pick the pair, the rest the operation
/// (the common ones appear several times in the table so that they are drawn more often).
pub fn ops_from_bytes(data: &[u8]) -> Vec<Op> {
    data.iter()
        .take(MAX_OPS)
        .map(|&b| {
            let pair = b & 3;
            match (b >> 2) % 32 {
                0 | 1 => Op::Complete(pair),
                2 => Op::DropCompleter(pair),
                3 | 4 => Op::DropFuture(pair),
                5 | 6 => Op::Poll { pair, fresh: true },
                7 => Op::Poll { pair, fresh: false },
                8 => Op::TryTake(pair),
                9 => Op::WaitTimeoutZero(pair),
                10 => Op::WaitDeadlinePast(pair),
                11 => Op::WaitBlocking(pair),
                12 | 13 => Op::OnCancel(pair),
                14 => Op::OnComplete(pair),
                15 => Op::IsComplete(pair),
                16 => Op::IsCanceled(pair),
                17 => Op::IsTerminated(pair),
                18 => Op::PollCanceled { pair, fresh: true },
                19 => Op::PollCanceled { pair, fresh: false },
                20 => Op::CanceledOnce(pair),
                21 => Op::RawRoundTrip(pair),
                k => Op::Reset { pair, how: k - 22 },
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Observable side effects.

/// A side effect, recorded by the real side through drop guards and closures, and predicted
/// by the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// A [`Val`] with this id was dropped.
    ValueDropped(u32),
    /// A cancel hook ran.
    HookRan(u32),
    /// A cancel hook's closure was dropped (after running, or discarded unrun).
    HookDropped(u32),
    /// A done-callback ran with the value id, or `None` for `Err(Abandoned)`.
    CallbackRan(u32, Option<u32>),
    /// A done-callback's closure was dropped.
    CallbackDropped(u32),
}

type Log = Arc<Mutex<Vec<Event>>>;

fn record(log: &Log, e: Event) {
    log.lock().unwrap_or_else(|p| p.into_inner()).push(e);
}

/// The drop-counting value type sent through the pairs.
#[derive(Debug)]
pub struct Val {
    id: u32,
    log: Log,
}

impl Drop for Val {
    fn drop(&mut self) {
        record(&self.log, Event::ValueDropped(self.id));
    }
}

/// Records `drop_event` when dropped; captured by hooks and callbacks.
struct Guard {
    log: Log,
    drop_event: Event,
}

impl Drop for Guard {
    fn drop(&mut self) {
        record(&self.log, self.drop_event);
    }
}

/// A waker that counts wake-ups.
#[derive(Debug, Default)]
pub struct CountingWaker {
    wakes: AtomicUsize,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// What an operation returned, with values replaced by their ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Obs {
    /// The handle the operation needs is gone (or a blocking wait would block forever).
    Skipped,
    /// The operation returns nothing.
    Unit,
    /// A boolean query.
    Bool(bool),
    /// `complete`.
    Complete(Result<(), u32>),
    /// `poll`.
    Poll(Poll<Result<u32, Abandoned>>),
    /// `poll_canceled` / `canceled()`.
    Canceled(Poll<()>),
    /// `try_take`.
    TryTake(Result<u32, TryTakeError>),
    /// `wait_timeout` / `wait_deadline`.
    Wait(Result<u32, WaitError>),
    /// `wait_blocking`.
    Blocking(Result<u32, Abandoned>),
}

// ---------------------------------------------------------------------------------------
// The model.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FutState {
    Alive,
    Gone,
    /// Consumed by `on_complete`; the callback (this id) waits for the completer.
    Callback(u32),
}

#[derive(Clone, Debug)]
struct ModelPair {
    completer: bool,
    future: FutState,
    /// The completer finished: completed or abandoned.
    tx_closed: bool,
    /// The future was dropped before the completer finished.
    canceled: bool,
    /// A value delivered but not taken yet.
    cell: Option<u32>,
    /// `Ready` was returned.
    terminated: bool,
    /// Cancel hooks, in the order they were added.
    hooks: Vec<u32>,
    /// The waker the future's last pending poll registered (index into the wakers).
    armed: Option<usize>,
    /// The waker `poll_canceled` registered.
    cancel_armed: Option<usize>,
}

impl ModelPair {
    fn new() -> Self {
        ModelPair {
            completer: true,
            future: FutState::Alive,
            tx_closed: false,
            canceled: false,
            cell: None,
            terminated: false,
            hooks: Vec::new(),
            armed: None,
            cancel_armed: None,
        }
    }
}

/// The reference model: plain bookkeeping, no concurrency.
#[derive(Debug)]
struct Model {
    pairs: Vec<ModelPair>,
    /// Expected wake count of every counting waker.
    wakes: Vec<usize>,
    /// Events expected from the current step.
    events: Vec<Event>,
}

impl Model {
    fn wake(&mut self, w: Option<usize>) {
        if let Some(w) = w {
            self.wakes[w] += 1;
        }
    }

    fn held(&self, w: usize) -> bool {
        self.pairs
            .iter()
            .any(|p| p.armed == Some(w) || p.cancel_armed == Some(w))
    }

    /// The receiver takes the result: the value if one is there, else `Abandoned`.
    fn take(&mut self, i: usize) -> Result<u32, Abandoned> {
        let p = &mut self.pairs[i];
        debug_assert!(p.tx_closed);
        p.terminated = true;
        p.cell.take().ok_or(Abandoned)
    }

    /// The completer finishes with `value` (`None`: dropped).
    fn close(&mut self, i: usize, value: Option<u32>) -> Result<(), u32> {
        let p = &mut self.pairs[i];
        debug_assert!(p.completer && !p.tx_closed);
        p.completer = false;
        // Completion drops the completer's own `canceled()` waker without waking it.
        p.cancel_armed = None;
        match p.future {
            FutState::Gone => {
                debug_assert!(p.canceled);
                value.map_or(Ok(()), Err)
            }
            FutState::Callback(cb) => {
                p.tx_closed = true;
                p.future = FutState::Gone;
                self.events.push(Event::CallbackRan(cb, value));
                self.events.extend(value.map(Event::ValueDropped));
                self.events.push(Event::CallbackDropped(cb));
                Ok(())
            }
            FutState::Alive => {
                p.tx_closed = true;
                p.cell = value;
                let armed = p.armed.take();
                self.wake(armed);
                Ok(())
            }
        }
    }

    /// The future goes away (dropped, or consumed by a blocking wait).
    fn drop_future(&mut self, i: usize) {
        let p = &mut self.pairs[i];
        debug_assert_eq!(p.future, FutState::Alive);
        p.future = FutState::Gone;
        p.armed = None;
        let hooks = std::mem::take(&mut p.hooks);
        if p.tx_closed {
            // Not a cancellation: an untaken value is dropped with the block, hooks are
            // discarded unrun.
            let cell = p.cell.take();
            self.events.extend(cell.map(Event::ValueDropped));
            self.events
                .extend(hooks.into_iter().map(Event::HookDropped));
        } else {
            p.canceled = true;
            let w = p.cancel_armed.take();
            self.wake(w);
            for h in hooks {
                self.events.push(Event::HookRan(h));
                self.events.push(Event::HookDropped(h));
            }
        }
    }

    fn apply(&mut self, op: Op, d: &Decisions) -> Obs {
        let i = op.pair();
        let future_alive = self.pairs[i].future == FutState::Alive;
        let completer_alive = self.pairs[i].completer;
        match op {
            Op::Complete(_) if completer_alive => {
                let r = self.close(i, Some(d.value));
                if let Err(v) = r {
                    // The runner drops a value handed back.
                    self.events.push(Event::ValueDropped(v));
                }
                Obs::Complete(r)
            }
            Op::DropCompleter(_) | Op::RawRoundTrip(_) if completer_alive => {
                if let Op::DropCompleter(_) = op {
                    let _ = self.close(i, None);
                }
                Obs::Unit
            }
            Op::DropFuture(_) if future_alive => {
                self.drop_future(i);
                Obs::Unit
            }
            Op::Poll { .. } if future_alive => {
                let p = &mut self.pairs[i];
                if p.terminated {
                    Obs::Poll(Poll::Ready(Err(Abandoned)))
                } else if p.tx_closed {
                    let r = self.take(i);
                    self.events.extend(r.ok().map(Event::ValueDropped));
                    Obs::Poll(Poll::Ready(r))
                } else {
                    // The previous waker (if another one) is dropped unwoken.
                    p.armed = Some(d.waker);
                    Obs::Poll(Poll::Pending)
                }
            }
            Op::TryTake(_) if future_alive => {
                let p = &self.pairs[i];
                if p.terminated {
                    Obs::TryTake(Err(TryTakeError::Abandoned))
                } else if p.tx_closed {
                    let r = self.take(i);
                    self.events.extend(r.ok().map(Event::ValueDropped));
                    Obs::TryTake(r.map_err(TryTakeError::from))
                } else {
                    Obs::TryTake(Err(TryTakeError::Pending))
                }
            }
            Op::WaitTimeoutZero(_) | Op::WaitDeadlinePast(_) if future_alive => {
                let p = &mut self.pairs[i];
                if p.terminated {
                    Obs::Wait(Err(WaitError::Abandoned))
                } else if p.tx_closed {
                    let r = self.take(i);
                    self.events.extend(r.ok().map(Event::ValueDropped));
                    Obs::Wait(r.map_err(WaitError::from))
                } else {
                    // A timed wait that times out leaves the task waker of an earlier
                    // `poll` registered (`armed` unchanged): that task is still woken by
                    // the completion.
                    Obs::Wait(Err(WaitError::Timeout))
                }
            }
            Op::WaitBlocking(_) if future_alive => {
                let p = &self.pairs[i];
                if p.terminated {
                    self.drop_future(i);
                    Obs::Blocking(Err(Abandoned))
                } else if p.tx_closed {
                    let r = self.take(i);
                    self.events.extend(r.ok().map(Event::ValueDropped));
                    self.drop_future(i);
                    Obs::Blocking(r)
                } else {
                    Obs::Skipped
                }
            }
            Op::OnCancel(_) if future_alive => {
                self.pairs[i].hooks.push(d.hook);
                Obs::Unit
            }
            Op::OnComplete(_) if future_alive => {
                let cb = d.callback;
                let p = &mut self.pairs[i];
                let hooks = std::mem::take(&mut p.hooks);
                self.events
                    .extend(hooks.into_iter().map(Event::HookDropped));
                if p.tx_closed {
                    let r = if p.terminated {
                        Err(Abandoned)
                    } else {
                        self.take(i)
                    };
                    let p = &mut self.pairs[i];
                    p.future = FutState::Gone;
                    p.armed = None;
                    self.events.push(Event::CallbackRan(cb, r.ok()));
                    self.events.extend(r.ok().map(Event::ValueDropped));
                    self.events.push(Event::CallbackDropped(cb));
                } else {
                    // Any waker an earlier poll left is dropped unwoken: the future is gone.
                    p.armed = None;
                    p.future = FutState::Callback(cb);
                }
                Obs::Unit
            }
            Op::IsComplete(_) if future_alive => Obs::Bool(self.pairs[i].tx_closed),
            Op::IsTerminated(_) if future_alive => Obs::Bool(self.pairs[i].terminated),
            Op::IsCanceled(_) if completer_alive => Obs::Bool(self.pairs[i].canceled),
            Op::PollCanceled { .. } if completer_alive => {
                let p = &mut self.pairs[i];
                if p.canceled {
                    Obs::Canceled(Poll::Ready(()))
                } else {
                    p.cancel_armed = Some(d.waker);
                    Obs::Canceled(Poll::Pending)
                }
            }
            Op::CanceledOnce(_) if completer_alive => {
                let p = &mut self.pairs[i];
                if p.canceled {
                    Obs::Canceled(Poll::Ready(()))
                } else {
                    // Registered, then withdrawn when the `Canceled` future is dropped.
                    p.cancel_armed = None;
                    Obs::Canceled(Poll::Pending)
                }
            }
            Op::Reset { how, .. } => {
                self.finish(i, how & 1 == 1);
                self.pairs[i] = ModelPair::new();
                match (how >> 1) & 3 {
                    1 => {
                        let _ = self.close(i, Some(d.value));
                    }
                    2 => {
                        let _ = self.close(i, None);
                    }
                    _ => {}
                }
                Obs::Unit
            }
            _ => Obs::Skipped,
        }
    }

    /// Drops whatever is left of pair `i`.
    fn finish(&mut self, i: usize, future_first: bool) {
        let drop_future = |m: &mut Model| {
            if m.pairs[i].future == FutState::Alive {
                m.drop_future(i);
            }
        };
        if future_first {
            drop_future(self);
        }
        if self.pairs[i].completer {
            let _ = self.close(i, None);
        }
        drop_future(self);
    }
}

// ---------------------------------------------------------------------------------------
// The real side.

struct RealPair {
    completer: Option<Completer<Val>>,
    future: Option<WaitableFuture<Val>>,
}

impl RealPair {
    fn new() -> Self {
        let (c, f) = waitable();
        RealPair {
            completer: Some(c),
            future: Some(f),
        }
    }
}

struct Real {
    pairs: Vec<RealPair>,
    log: Log,
    wakers: Vec<Arc<CountingWaker>>,
}

/// Ids chosen by the runner for one step, shared by both sides.
struct Decisions {
    value: u32,
    hook: u32,
    callback: u32,
    waker: usize,
}

fn id_of(r: Result<Val, Abandoned>) -> Result<u32, Abandoned> {
    r.map(|v| v.id)
}

impl Real {
    fn val(&self, id: u32) -> Val {
        Val {
            id,
            log: self.log.clone(),
        }
    }

    fn waker(&self, w: usize) -> Waker {
        Waker::from(self.wakers[w].clone())
    }

    fn apply(&mut self, op: Op, d: &Decisions) -> Obs {
        let i = op.pair();
        let log = self.log.clone();
        match op {
            Op::Complete(_) => match self.pairs[i].completer.take() {
                Some(c) => {
                    let v = self.val(d.value);
                    Obs::Complete(c.complete(v).map_err(|v| {
                        assert_eq!(v.id, d.value, "complete handed back another value");
                        v.id
                    }))
                }
                None => Obs::Skipped,
            },
            Op::DropCompleter(_) => match self.pairs[i].completer.take() {
                Some(c) => {
                    drop(c);
                    Obs::Unit
                }
                None => Obs::Skipped,
            },
            Op::RawRoundTrip(_) => match self.pairs[i].completer.take() {
                Some(c) => {
                    let raw = c.into_raw();
                    // SAFETY: `raw` came from `into_raw` with the same `T`, used once.
                    self.pairs[i].completer = Some(unsafe { Completer::<Val>::from_raw(raw) });
                    Obs::Unit
                }
                None => Obs::Skipped,
            },
            Op::DropFuture(_) => match self.pairs[i].future.take() {
                Some(f) => {
                    drop(f);
                    Obs::Unit
                }
                None => Obs::Skipped,
            },
            Op::Poll { .. } => {
                let waker = self.waker(d.waker);
                match self.pairs[i].future.as_mut() {
                    Some(f) => {
                        let mut cx = Context::from_waker(&waker);
                        Obs::Poll(match Pin::new(f).poll(&mut cx) {
                            Poll::Ready(r) => Poll::Ready(id_of(r)),
                            Poll::Pending => Poll::Pending,
                        })
                    }
                    None => Obs::Skipped,
                }
            }
            Op::TryTake(_) => match self.pairs[i].future.as_mut() {
                Some(f) => Obs::TryTake(f.try_take().map(|v| v.id)),
                None => Obs::Skipped,
            },
            Op::WaitTimeoutZero(_) => match self.pairs[i].future.as_mut() {
                Some(f) => Obs::Wait(f.wait_timeout(Duration::ZERO).map(|v| v.id)),
                None => Obs::Skipped,
            },
            Op::WaitDeadlinePast(_) => match self.pairs[i].future.as_mut() {
                Some(f) => {
                    let past = Instant::now()
                        .checked_sub(Duration::from_millis(1))
                        .unwrap_or_else(Instant::now);
                    Obs::Wait(f.wait_deadline(past).map(|v| v.id))
                }
                None => Obs::Skipped,
            },
            Op::WaitBlocking(_) => match self.pairs[i].future.take() {
                // Only when the result is there: otherwise this would block forever.
                Some(f) if f.is_complete() => Obs::Blocking(id_of(f.wait_blocking())),
                other => {
                    self.pairs[i].future = other;
                    Obs::Skipped
                }
            },
            Op::OnCancel(_) => match self.pairs[i].future.take() {
                Some(f) => {
                    let guard = Guard {
                        log: log.clone(),
                        drop_event: Event::HookDropped(d.hook),
                    };
                    let hook = d.hook;
                    self.pairs[i].future = Some(f.on_cancel(move || {
                        record(&guard.log, Event::HookRan(hook));
                    }));
                    Obs::Unit
                }
                None => Obs::Skipped,
            },
            Op::OnComplete(_) => match self.pairs[i].future.take() {
                Some(f) => {
                    let guard = Guard {
                        log: log.clone(),
                        drop_event: Event::CallbackDropped(d.callback),
                    };
                    let cb = d.callback;
                    f.on_complete(move |r| {
                        let id = r.as_ref().ok().map(|v| v.id);
                        record(&guard.log, Event::CallbackRan(cb, id));
                        drop(r);
                    });
                    Obs::Unit
                }
                None => Obs::Skipped,
            },
            Op::IsComplete(_) => match self.pairs[i].future.as_ref() {
                Some(f) => Obs::Bool(f.is_complete()),
                None => Obs::Skipped,
            },
            Op::IsTerminated(_) => match self.pairs[i].future.as_ref() {
                Some(f) => Obs::Bool(f.is_terminated()),
                None => Obs::Skipped,
            },
            Op::IsCanceled(_) => match self.pairs[i].completer.as_ref() {
                Some(c) => Obs::Bool(c.is_canceled()),
                None => Obs::Skipped,
            },
            Op::PollCanceled { .. } => {
                let waker = self.waker(d.waker);
                match self.pairs[i].completer.as_mut() {
                    Some(c) => Obs::Canceled(c.poll_canceled(&mut Context::from_waker(&waker))),
                    None => Obs::Skipped,
                }
            }
            Op::CanceledOnce(_) => {
                let waker = self.waker(d.waker);
                match self.pairs[i].completer.as_mut() {
                    Some(c) => {
                        let mut fut = c.canceled();
                        let r = Pin::new(&mut fut).poll(&mut Context::from_waker(&waker));
                        drop(fut);
                        Obs::Canceled(r)
                    }
                    None => Obs::Skipped,
                }
            }
            Op::Reset { how, .. } => {
                self.finish(i, how & 1 == 1);
                let mut kept = None;
                let future = match (how >> 1) & 3 {
                    0 => {
                        let (c, f) = waitable();
                        kept = Some(c);
                        f
                    }
                    1 => {
                        let value = self.val(d.value);
                        WaitableFuture::from_callback(|c| {
                            assert!(c.complete(value).is_ok(), "synchronous completion failed");
                        })
                    }
                    2 => WaitableFuture::from_callback(drop),
                    _ => WaitableFuture::from_callback(|c| kept = Some(c)),
                };
                self.pairs[i] = RealPair {
                    completer: kept,
                    future: Some(future),
                };
                Obs::Unit
            }
        }
    }

    fn finish(&mut self, i: usize, future_first: bool) {
        if future_first {
            drop(self.pairs[i].future.take());
        }
        drop(self.pairs[i].completer.take());
        drop(self.pairs[i].future.take());
    }
}

// ---------------------------------------------------------------------------------------
// The runner.

/// Applies `ops` to real pairs and to the model, asserting identical observable behaviour
/// after every step, then drops everything and checks that every value, hook, callback and
/// waker was released exactly once. Panics (with the step and the operation) on the first
/// difference. Returns how many operations were not skipped.
pub fn run(ops: &[Op]) -> usize {
    let log: Log = Arc::default();
    let mut real = Real {
        pairs: (0..PAIRS).map(|_| RealPair::new()).collect(),
        log: log.clone(),
        wakers: Vec::new(),
    };
    let mut model = Model {
        pairs: vec![ModelPair::new(); PAIRS],
        wakes: Vec::new(),
        events: Vec::new(),
    };
    let mut next_value = 0u32;
    let mut next_hook = 0u32;
    let mut next_callback = 0u32;
    // The waker the pair's last `Poll` / `PollCanceled` used, for `fresh: false`.
    let mut last_waker: Vec<Option<usize>> = vec![None; PAIRS];
    let mut last_cancel_waker: Vec<Option<usize>> = vec![None; PAIRS];
    let mut executed = 0;

    let mut step = |n: usize, op: Op, real: &mut Real, model: &mut Model| {
        let i = op.pair();
        let mut new_waker = || {
            real.wakers.push(Arc::default());
            model.wakes.push(0);
            real.wakers.len() - 1
        };
        let waker = match op {
            Op::Poll { fresh: false, .. } if last_waker[i].is_some() => last_waker[i].unwrap(),
            Op::PollCanceled { fresh: false, .. } if last_cancel_waker[i].is_some() => {
                last_cancel_waker[i].unwrap()
            }
            Op::Poll { .. } | Op::PollCanceled { .. } | Op::CanceledOnce(_) => new_waker(),
            _ => usize::MAX,
        };
        match op {
            Op::Poll { .. } => last_waker[i] = Some(waker),
            Op::PollCanceled { .. } => last_cancel_waker[i] = Some(waker),
            Op::Reset { .. } => {
                last_waker[i] = None;
                last_cancel_waker[i] = None;
            }
            _ => {}
        }
        let d = Decisions {
            value: next_value,
            hook: next_hook,
            callback: next_callback,
            waker,
        };
        next_value += 1;
        next_hook += 1;
        next_callback += 1;

        let got = real.apply(op, &d);
        let want = model.apply(op, &d);
        if want != Obs::Skipped {
            executed += 1;
        }
        check(n, op, got, want, real, model);
    };

    for (n, &op) in ops.iter().enumerate() {
        step(n, op, &mut real, &mut model);
    }
    // Drop everything that is left, alternating the order.
    for i in 0..PAIRS {
        let op = Op::Reset {
            pair: i as u8,
            how: (i as u8) & 1,
        };
        step(ops.len() + i, op, &mut real, &mut model);
    }
    for i in 0..PAIRS {
        real.finish(i, i % 2 == 0);
        model.finish(i, i % 2 == 0);
    }
    let mut rest: Vec<Event> = std::mem::take(&mut *log.lock().unwrap());
    let mut want = std::mem::take(&mut model.events);
    rest.sort();
    want.sort();
    assert_eq!(rest, want, "events when dropping everything at the end");

    // Every waker released.
    for (w, arc) in real.wakers.iter().enumerate() {
        assert_eq!(
            Arc::strong_count(arc),
            1,
            "waker {w} still held by anywait after every handle was dropped"
        );
    }
    executed
}

fn check(n: usize, op: Op, got: Obs, want: Obs, real: &Real, model: &mut Model) {
    let i = op.pair();
    assert_eq!(
        got, want,
        "step {n}: {op:?}: return value differs from the model"
    );

    let raw: Vec<Event> = std::mem::take(&mut *real.log.lock().unwrap());
    // Cancel hooks run in the order they were added (ids grow with every step).
    let ran: Vec<u32> = raw
        .iter()
        .filter_map(|e| match e {
            Event::HookRan(h) => Some(*h),
            _ => None,
        })
        .collect();
    assert!(
        ran.windows(2).all(|w| w[0] < w[1]),
        "step {n}: {op:?}: hooks ran out of order: {ran:?}"
    );
    let mut got_events = raw;
    let mut want_events = std::mem::take(&mut model.events);
    got_events.sort();
    want_events.sort();
    assert_eq!(
        got_events, want_events,
        "step {n}: {op:?}: side effects differ from the model (values dropped, hooks, callbacks)"
    );

    for (w, arc) in real.wakers.iter().enumerate() {
        assert_eq!(
            arc.wakes.load(Ordering::SeqCst),
            model.wakes[w],
            "step {n}: {op:?}: waker {w} woken a different number of times than the model says"
        );
        let held = usize::from(model.held(w));
        assert_eq!(
            Arc::strong_count(arc),
            1 + held,
            "step {n}: {op:?}: waker {w}: anywait should hold {held} clone(s) of it"
        );
    }

    let rp = &real.pairs[i];
    let mp = &model.pairs[i];
    assert_eq!(
        rp.completer.is_some(),
        mp.completer,
        "step {n}: {op:?}: completer liveness"
    );
    assert_eq!(
        rp.future.is_some(),
        mp.future == FutState::Alive,
        "step {n}: {op:?}: future liveness"
    );
}
