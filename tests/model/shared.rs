//! A plain-Rust reference model of [`SharedWaitable`] semantics, and a runner that applies
//! the same operations to a real `waitable().shared()` and to the model, step by step,
//! asserting identical observable behaviour after every step.
//!
//! Shared by `tests/model_shared.rs` (seeded random sequences) and, later, a cargo-fuzz
//! target (sequences decoded from fuzzer bytes by [`ops_from_bytes`]). It depends only on
//! `std`, `anywait` and `futures_core`, so both can include it with `#[path]`.
//!
//! One operation at a time is alive: up to [`HANDLES`] handles (slots) to it, its
//! completer, one `on_cancel` hook, and the done-callbacks registered on it. `Reset`
//! drops all of it and starts a new one.
//!
//! What is compared after every step:
//! - the operation's return value (poll result, `complete`'s `Err(v)`, `try_get`, ...);
//! - the *ordered* list of side effects it caused: wakers woken (in the wait queue's
//!   order), done-callbacks run (with which result, in which order), the `on_cancel` hook
//!   run (so "exactly once iff canceled" is checked at every step);
//! - for every counting waker: how often it was woken, and whether anywait still holds a
//!   clone of it (`Arc::strong_count`), which catches lost and leaked wakers alike;
//! - how many values are alive (every value is a clone-counting [`Val`]): the shared
//!   state holds one while any handle or pending callback keeps it alive, and none after;
//! - how many hook and callback closures are alive (pending callbacks keep theirs, the
//!   hook lives until the operation completes or is canceled);
//! - which handles and whether the completer are alive.

#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use anywait::{waitable, Abandoned, Completer, SharedWaitable, WaitError, WaitableFuture};
use futures_core::FusedFuture;

/// How many handle slots a sequence drives.
pub const HANDLES: usize = 4;

/// Longest sequence [`ops_from_bytes`] decodes (keeps fuzz iterations fast).
pub const MAX_OPS: usize = 2048;

/// One step. A `u8` handle `h` names the `h`-th live handle (modulo their number; see
/// [`resolve`]). An operation that finds no live handle (or no completer) is skipped on
/// both sides, and the model must agree that it is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Clone handle `i` into the first free slot (skipped if all [`HANDLES`] are taken).
    Clone(u8),
    /// Drop handle `i` (the last handle, with no pending callback, cancels).
    Drop(u8),
    /// `Completer::complete` with a value whose id is `v`.
    Complete(u8),
    /// Drop the completer without completing (abandonment).
    DropCompleter,
    /// `on_complete` on handle `i` with a recording callback.
    OnComplete(u8),
    /// `on_complete` on handle `i` with a callback that records, then panics.
    OnCompletePanic(u8),
    /// `try_get` on handle `i`.
    TryGet(u8),
    /// Poll handle `i` once with a fresh counting waker.
    Poll(u8),
    /// `wait_timeout(Duration::ZERO)` on handle `i`.
    WaitTimeoutZero(u8),
    /// `is_complete` on handle `i`.
    IsComplete(u8),
    /// `FusedFuture::is_terminated` on handle `i`.
    IsTerminated(u8),
    /// `Completer::is_canceled`.
    IsCanceled,
    /// `take_callback_panics` on handle `i`.
    TakePanics(u8),
    /// Drop everything (handles in slot order, then the completer) and start a new
    /// operation in slot 0: `how & 3` = 0 or 1 pending `waitable()`, 2 `from_callback`
    /// completing synchronously, 3 `from_callback` dropping the completer.
    Reset(u8),
}

/// Decodes one operation per byte: the low two bits pick the handle, the rest the
/// operation (common ones appear several times in the table so they are drawn more often).
pub fn ops_from_bytes(data: &[u8]) -> Vec<Op> {
    data.iter()
        .take(MAX_OPS)
        .map(|&b| {
            let h = b & 3;
            match (b >> 2) % 32 {
                0..=3 => Op::Clone(h),
                4 => Op::Drop(h),
                6 | 7 => Op::Complete(b >> 2),
                8 => Op::DropCompleter,
                9..=11 => Op::OnComplete(h),
                12 => Op::OnCompletePanic(h),
                13 | 14 => Op::TryGet(h),
                15..=19 | 28..=31 => Op::Poll(h),
                20 | 21 => Op::WaitTimeoutZero(h),
                22 => Op::IsComplete(h),
                23 => Op::IsTerminated(h),
                24 => Op::IsCanceled,
                25 => Op::TakePanics(h),
                5 | 26 | 27 => Op::Reset(h),
                _ => unreachable!("(b >> 2) % 32 < 32"),
            }
        })
        .collect()
}

/// The slot a handle operation acts on: handle `h` counts among the *live* handles (in
/// slot order, modulo their number), so that few operations are skipped. `None` when no
/// handle is alive.
fn resolve(live: impl Iterator<Item = bool>, h: u8) -> Option<usize> {
    let live: Vec<usize> = live
        .enumerate()
        .filter_map(|(i, alive)| alive.then_some(i))
        .collect();
    (!live.is_empty()).then(|| live[usize::from(h) % live.len()])
}

// ---------------------------------------------------------------------------------------
// Observable side effects.

/// A side effect, in the order it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Counting waker `w` was woken.
    Woken(usize),
    /// Done-callback `id` ran with the value id, or `None` for `Err(Abandoned)`.
    CallbackRan(u32, Option<u32>),
    /// The `on_cancel` hook of operation `id` ran.
    HookRan(u32),
}

type Log = Arc<Mutex<Vec<Event>>>;

fn record(log: &Log, e: Event) {
    log.lock().unwrap_or_else(|p| p.into_inner()).push(e);
}

/// The payload a panicking done-callback panics with (so a test can keep these expected
/// panics out of its output).
#[derive(Debug)]
pub struct CallbackPanic(pub u32);

/// The clone-counting value type: `live` counts the instances in existence.
#[derive(Debug)]
pub struct Val {
    id: u32,
    live: Arc<AtomicUsize>,
}

impl Clone for Val {
    fn clone(&self) -> Self {
        self.live.fetch_add(1, Ordering::SeqCst);
        Val {
            id: self.id,
            live: self.live.clone(),
        }
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts the closures alive (captured by every hook and callback).
struct Guard(Arc<AtomicUsize>);

impl Guard {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Guard(count.clone())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A waker that counts its wake-ups and records them in the event log.
struct CountingWaker {
    index: usize,
    wakes: AtomicUsize,
    log: Log,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        record(&self.log, Event::Woken(self.index));
    }
}

/// What an operation returned, with values replaced by their ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Obs {
    /// The handle (or completer) the operation needs is gone, or no slot is free.
    Skipped,
    /// The operation returns nothing.
    Unit,
    /// A boolean query.
    Bool(bool),
    /// `Clone` put the new handle into this slot.
    Cloned(usize),
    /// `complete`.
    Complete(Result<(), u32>),
    /// `try_get`.
    Get(Option<Result<u32, Abandoned>>),
    /// `poll`.
    Poll(Poll<Result<u32, Abandoned>>),
    /// `wait_timeout`.
    Wait(Result<u32, WaitError>),
    /// `take_callback_panics`, as callback ids.
    Panics(Vec<u32>),
}

// ---------------------------------------------------------------------------------------
// The model.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Pending,
    Done(Result<u32, Abandoned>),
    Canceled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ModelHandle {
    terminated: bool,
}

/// The reference model: plain bookkeeping, no concurrency.
#[derive(Debug)]
struct Model {
    completer: bool,
    state: State,
    /// Id of the current operation's hook.
    hook: u32,
    hook_alive: bool,
    handles: [Option<ModelHandle>; HANDLES],
    /// The wait queue: (slot, waker), in registration order.
    queue: Vec<(usize, usize)>,
    /// Pending callbacks: (id, panics), in registration order.
    callbacks: Vec<(u32, bool)>,
    /// Ids of callbacks that panicked, not yet taken.
    panics: Vec<u32>,
    /// Expected wake count of every counting waker.
    wakes: Vec<usize>,
    /// Side effects expected from the current step, in order.
    events: Vec<Event>,
}

impl Model {
    fn new() -> Self {
        Model {
            completer: true,
            state: State::Pending,
            hook: 0,
            hook_alive: true,
            handles: [Some(ModelHandle { terminated: false }), None, None, None],
            queue: Vec::new(),
            callbacks: Vec::new(),
            panics: Vec::new(),
            wakes: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Whether anything keeps the shared state alive.
    fn alive(&self) -> bool {
        self.handles.iter().any(Option::is_some) || !self.callbacks.is_empty()
    }

    fn held(&self, w: usize) -> bool {
        self.queue.iter().any(|&(_, held)| held == w)
    }

    fn live_values(&self) -> usize {
        usize::from(matches!(self.state, State::Done(Ok(_))) && self.alive())
    }

    fn live_closures(&self) -> usize {
        self.callbacks.len() + usize::from(self.hook_alive)
    }

    fn run_callback(&mut self, id: u32, panics: bool, result: Result<u32, Abandoned>) {
        self.events.push(Event::CallbackRan(id, result.ok()));
        if panics {
            self.panics.push(id);
        }
    }

    /// The completer finishes with `value` (`None`: dropped).
    fn close(&mut self, value: Option<u32>) -> Result<(), u32> {
        debug_assert!(self.completer);
        self.completer = false;
        match self.state {
            State::Canceled => value.map_or(Ok(()), Err),
            State::Done(_) => unreachable!("a live completer means nothing arrived yet"),
            State::Pending => {
                let result = value.ok_or(Abandoned);
                self.state = State::Done(result);
                // Store, wake every waiter (in no promised order: `check` compares each run
                // of wake-ups as a set), then the callbacks in order.
                for (_, w) in std::mem::take(&mut self.queue) {
                    self.wakes[w] += 1;
                    self.events.push(Event::Woken(w));
                }
                for (id, panics) in std::mem::take(&mut self.callbacks) {
                    self.run_callback(id, panics, result);
                }
                // The inner future is dropped after the fan-out: the hook with it, unrun.
                self.hook_alive = false;
                Ok(())
            }
        }
    }

    /// Something that kept the operation alive went away: the last one cancels.
    fn released(&mut self) {
        if self.state == State::Pending && !self.alive() {
            self.state = State::Canceled;
            self.events.push(Event::HookRan(self.hook));
            self.hook_alive = false;
        }
    }

    fn drop_handle(&mut self, i: usize) {
        debug_assert!(self.handles[i].is_some());
        self.handles[i] = None;
        self.queue.retain(|&(s, _)| s != i);
        self.released();
    }

    /// Drops everything, handles in slot order, then the completer.
    fn finish(&mut self) {
        for i in 0..HANDLES {
            if self.handles[i].is_some() {
                self.drop_handle(i);
            }
        }
        if self.completer {
            let _ = self.close(None);
        }
        debug_assert!(!self.alive());
        self.panics.clear();
    }

    fn apply(&mut self, op: Op, d: &Decisions) -> Obs {
        let handle = match op {
            Op::Clone(h)
            | Op::Drop(h)
            | Op::OnComplete(h)
            | Op::OnCompletePanic(h)
            | Op::TryGet(h)
            | Op::Poll(h)
            | Op::WaitTimeoutZero(h)
            | Op::IsComplete(h)
            | Op::IsTerminated(h)
            | Op::TakePanics(h) => match resolve(self.handles.iter().map(Option::is_some), h) {
                Some(i) => Some(i),
                None => return Obs::Skipped,
            },
            _ => None,
        };
        let i = handle.unwrap_or(0);
        let done = match self.state {
            State::Done(r) => Some(r),
            _ => None,
        };
        match op {
            Op::Clone(_) => match self.handles.iter().position(Option::is_none) {
                Some(j) => {
                    self.handles[j] = Some(ModelHandle { terminated: false });
                    Obs::Cloned(j)
                }
                None => Obs::Skipped,
            },
            Op::Drop(_) => {
                self.drop_handle(i);
                Obs::Unit
            }
            Op::Complete(v) if self.completer => Obs::Complete(self.close(Some(u32::from(v)))),
            Op::DropCompleter if self.completer => {
                let _ = self.close(None);
                Obs::Unit
            }
            Op::OnComplete(_) | Op::OnCompletePanic(_) => {
                let panics = matches!(op, Op::OnCompletePanic(_));
                match done {
                    Some(r) => self.run_callback(d.callback, panics, r),
                    None => self.callbacks.push((d.callback, panics)),
                }
                Obs::Unit
            }
            Op::TryGet(_) => Obs::Get(done),
            Op::Poll(_) => match done {
                Some(r) => {
                    self.handles[i] = Some(ModelHandle { terminated: true });
                    Obs::Poll(Poll::Ready(r))
                }
                None => {
                    // A queued handle gets its waker replaced (the old one released
                    // unwoken) and keeps its place; a new one is appended.
                    match self.queue.iter_mut().find(|(s, _)| *s == i) {
                        Some(entry) => entry.1 = d.waker,
                        None => self.queue.push((i, d.waker)),
                    }
                    Obs::Poll(Poll::Pending)
                }
            },
            Op::WaitTimeoutZero(_) => Obs::Wait(match done {
                Some(r) => r.map_err(WaitError::from),
                None => Err(WaitError::Timeout),
            }),
            Op::IsComplete(_) => Obs::Bool(done.is_some()),
            Op::IsTerminated(_) => Obs::Bool(self.handles[i].is_some_and(|h| h.terminated)),
            Op::IsCanceled if self.completer => Obs::Bool(self.state == State::Canceled),
            Op::TakePanics(_) => Obs::Panics(std::mem::take(&mut self.panics)),
            Op::Reset(how) => {
                self.finish();
                let wakes = std::mem::take(&mut self.wakes);
                let events = std::mem::take(&mut self.events);
                *self = Model::new();
                self.wakes = wakes;
                self.events = events;
                self.hook = d.hook;
                match how & 3 {
                    2 => {
                        let _ = self.close(Some(d.value));
                    }
                    3 => {
                        let _ = self.close(None);
                    }
                    _ => {}
                }
                Obs::Unit
            }
            _ => Obs::Skipped,
        }
    }
}

/// Ids and indices the runner picks for a step, shared by both sides.
struct Decisions {
    /// Id of the callback an `OnComplete` registers.
    callback: u32,
    /// Id of the hook (and value) a `Reset` creates.
    hook: u32,
    value: u32,
    /// Index of the fresh waker a `Poll` uses.
    waker: usize,
}

// ---------------------------------------------------------------------------------------
// The real side.

struct Real {
    completer: Option<Completer<Val>>,
    handles: Vec<Option<Pin<Box<SharedWaitable<Val>>>>>,
    wakers: Vec<Arc<CountingWaker>>,
    log: Log,
    live_values: Arc<AtomicUsize>,
    live_closures: Arc<AtomicUsize>,
}

fn id_of(r: &Result<Val, Abandoned>) -> Result<u32, Abandoned> {
    r.as_ref().map(|v| v.id).map_err(|&e| e)
}

impl Real {
    fn val(&self, id: u32) -> Val {
        self.live_values.fetch_add(1, Ordering::SeqCst);
        Val {
            id,
            live: self.live_values.clone(),
        }
    }

    /// A new operation in slot 0 (the caller has dropped the previous one).
    fn start(&mut self, how: u8, hook_id: u32, value: u32) {
        let log = self.log.clone();
        let guard = Guard::new(&self.live_closures);
        let hook = move || {
            record(&log, Event::HookRan(hook_id));
            drop(guard);
        };
        let future = match how & 3 {
            2 => {
                let value = self.val(value);
                WaitableFuture::from_callback(|c| {
                    assert!(c.complete(value).is_ok(), "synchronous completion failed");
                })
            }
            3 => WaitableFuture::from_callback(drop),
            _ => {
                let (c, f) = waitable();
                self.completer = Some(c);
                f
            }
        };
        self.handles[0] = Some(Box::pin(future.on_cancel(hook).shared()));
    }

    fn finish(&mut self) {
        for h in &mut self.handles {
            drop(h.take());
        }
        drop(self.completer.take());
    }

    fn apply(&mut self, op: Op, d: &Decisions) -> Obs {
        let i = match op {
            Op::Clone(h)
            | Op::Drop(h)
            | Op::OnComplete(h)
            | Op::OnCompletePanic(h)
            | Op::TryGet(h)
            | Op::Poll(h)
            | Op::WaitTimeoutZero(h)
            | Op::IsComplete(h)
            | Op::IsTerminated(h)
            | Op::TakePanics(h) => match resolve(self.handles.iter().map(Option::is_some), h) {
                Some(i) => i,
                None => return Obs::Skipped,
            },
            _ => 0,
        };
        match op {
            Op::Clone(_) => {
                let Some(h) = self.handles[i].as_ref() else {
                    return Obs::Skipped;
                };
                let clone = SharedWaitable::clone(h);
                match self.handles.iter().position(Option::is_none) {
                    Some(j) => {
                        self.handles[j] = Some(Box::pin(clone));
                        Obs::Cloned(j)
                    }
                    None => Obs::Skipped,
                }
            }
            Op::Drop(_) => match self.handles[i].take() {
                Some(h) => {
                    drop(h);
                    Obs::Unit
                }
                None => Obs::Skipped,
            },
            Op::Complete(v) => match self.completer.take() {
                Some(c) => {
                    let value = self.val(u32::from(v));
                    Obs::Complete(c.complete(value).map_err(|v| v.id))
                }
                None => Obs::Skipped,
            },
            Op::DropCompleter => match self.completer.take() {
                Some(c) => {
                    drop(c);
                    Obs::Unit
                }
                None => Obs::Skipped,
            },
            Op::OnComplete(_) | Op::OnCompletePanic(_) => {
                let Some(h) = self.handles[i].as_ref() else {
                    return Obs::Skipped;
                };
                let panics = matches!(op, Op::OnCompletePanic(_));
                let (log, id) = (self.log.clone(), d.callback);
                let guard = Guard::new(&self.live_closures);
                h.on_complete(move |r| {
                    let _guard = guard;
                    record(&log, Event::CallbackRan(id, r.as_ref().ok().map(|v| v.id)));
                    drop(r);
                    if panics {
                        std::panic::panic_any(CallbackPanic(id));
                    }
                });
                Obs::Unit
            }
            Op::TryGet(_) => match self.handles[i].as_ref() {
                Some(h) => Obs::Get(h.try_get().as_ref().map(id_of)),
                None => Obs::Skipped,
            },
            Op::Poll(_) => {
                let waker = Waker::from(self.wakers[d.waker].clone());
                match self.handles[i].as_mut() {
                    Some(h) => {
                        let p = h.as_mut().poll(&mut Context::from_waker(&waker));
                        Obs::Poll(p.map(|r| id_of(&r)))
                    }
                    None => Obs::Skipped,
                }
            }
            Op::WaitTimeoutZero(_) => match self.handles[i].as_ref() {
                Some(h) => Obs::Wait(h.wait_timeout(Duration::ZERO).map(|v| v.id)),
                None => Obs::Skipped,
            },
            Op::IsComplete(_) => match self.handles[i].as_ref() {
                Some(h) => Obs::Bool(h.is_complete()),
                None => Obs::Skipped,
            },
            Op::IsTerminated(_) => match self.handles[i].as_ref() {
                Some(h) => Obs::Bool(h.is_terminated()),
                None => Obs::Skipped,
            },
            Op::IsCanceled => match self.completer.as_ref() {
                Some(c) => Obs::Bool(c.is_canceled()),
                None => Obs::Skipped,
            },
            Op::TakePanics(_) => match self.handles[i].as_ref() {
                Some(h) => Obs::Panics(
                    h.take_callback_panics()
                        .into_iter()
                        .map(|p| match p.downcast::<CallbackPanic>() {
                            Ok(p) => p.0,
                            Err(_) => panic!("a panic payload that no callback produced"),
                        })
                        .collect(),
                ),
                None => Obs::Skipped,
            },
            Op::Reset(how) => {
                self.finish();
                self.start(how, d.hook, d.value);
                Obs::Unit
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The runner.

/// Applies `ops` to a real `SharedWaitable` and to the model, asserting identical
/// observable behaviour after every step, then drops everything and checks that every
/// value, hook, callback and waker was released. Panics (with the step and the operation)
/// on the first difference. Returns how many operations were not skipped.
pub fn run(ops: &[Op]) -> usize {
    let log: Log = Arc::default();
    let mut real = Real {
        completer: None,
        handles: (0..HANDLES).map(|_| None).collect(),
        wakers: Vec::new(),
        log: log.clone(),
        live_values: Arc::default(),
        live_closures: Arc::default(),
    };
    real.start(0, 0, 0);
    let mut model = Model::new();
    let mut executed = 0;

    let all = ops
        .iter()
        .copied()
        .chain([Op::Reset(0), Op::IsCanceled, Op::Drop(0)]);
    for (n, op) in all.enumerate() {
        let id = u32::try_from(n + 1).expect("sequences are short");
        let waker = match op {
            Op::Poll(_) => {
                real.wakers.push(Arc::new(CountingWaker {
                    index: real.wakers.len(),
                    wakes: AtomicUsize::new(0),
                    log: log.clone(),
                }));
                model.wakes.push(0);
                real.wakers.len() - 1
            }
            _ => usize::MAX,
        };
        let d = Decisions {
            callback: id,
            hook: id,
            value: 1000 + id,
            waker,
        };
        let got = real.apply(op, &d);
        let want = model.apply(op, &d);
        if want != Obs::Skipped {
            executed += 1;
        }
        check(n, op, &got, &want, &real, &mut model);
    }
    // Drop the rest (the final Reset left a pending operation): the completer last.
    real.finish();
    model.finish();
    let events = std::mem::take(&mut *log.lock().unwrap());
    assert_eq!(
        events, model.events,
        "events when dropping everything at the end"
    );
    assert_eq!(
        real.live_values.load(Ordering::SeqCst),
        0,
        "a value outlived every handle"
    );
    assert_eq!(
        real.live_closures.load(Ordering::SeqCst),
        0,
        "a hook or callback outlived every handle"
    );
    for (w, arc) in real.wakers.iter().enumerate() {
        assert_eq!(
            Arc::strong_count(arc),
            1,
            "waker {w} still held after every handle was dropped"
        );
    }
    executed
}

/// Sorts each run of consecutive wake-ups: the fan-out wakes every waiting task, in no
/// promised order, before it runs the callbacks.
fn wakes_unordered(mut events: Vec<Event>) -> Vec<Event> {
    let mut start = 0;
    while start < events.len() {
        let len = events[start..]
            .iter()
            .take_while(|e| matches!(e, Event::Woken(_)))
            .count();
        events[start..start + len].sort_by_key(|e| match e {
            Event::Woken(w) => *w,
            _ => unreachable!(),
        });
        start += len.max(1);
    }
    events
}

fn check(n: usize, op: Op, got: &Obs, want: &Obs, real: &Real, model: &mut Model) {
    assert_eq!(
        got, want,
        "step {n}: {op:?}: return value differs from the model"
    );
    let events = wakes_unordered(std::mem::take(&mut *real.log.lock().unwrap()));
    let expected = wakes_unordered(std::mem::take(&mut model.events));
    assert_eq!(
        events, expected,
        "step {n}: {op:?}: side effects (wakes, callbacks, hook) differ from the model"
    );
    for (w, arc) in real.wakers.iter().enumerate() {
        assert_eq!(
            arc.wakes.load(Ordering::SeqCst),
            model.wakes[w],
            "step {n}: {op:?}: waker {w} woken a different number of times"
        );
        let held = usize::from(model.held(w));
        assert_eq!(
            Arc::strong_count(arc),
            1 + held,
            "step {n}: {op:?}: waker {w}: anywait should hold {held} clone(s) of it"
        );
    }
    assert_eq!(
        real.live_values.load(Ordering::SeqCst),
        model.live_values(),
        "step {n}: {op:?}: values alive"
    );
    assert_eq!(
        real.live_closures.load(Ordering::SeqCst),
        model.live_closures(),
        "step {n}: {op:?}: hook and callback closures alive"
    );
    assert_eq!(
        real.completer.is_some(),
        model.completer,
        "step {n}: {op:?}: completer liveness"
    );
    for (i, (r, m)) in real.handles.iter().zip(&model.handles).enumerate() {
        assert_eq!(
            r.is_some(),
            m.is_some(),
            "step {n}: {op:?}: liveness of handle {i}"
        );
    }
}
