//! `ffi_mt`: the FFI handle registries (`Completions`, `Feeders`, `Setters`) used from 2 to
//! 4 real threads at once, the way a misbehaving C SDK would: duplicate, late, concurrent
//! and forged callbacks, releases racing completions, `abandon_all` racing everything,
//! while the binding's side polls, waits on and drops the futures.
//!
//! The registries hold: completions (1 to 4 issued before the threads start, more issued
//! by the threads, at most [`MAX_COMPLETIONS`]), one or two stream feeders (each of its own
//! `Unbounded` stream, whose consumer the main thread drains after the join) and two
//! setters of one `AsyncEvent`. Handles are `Copy`, so every thread can use every handle.
//! Every registry call is stamped by the global clock ([`common::Clock`]).
//!
//! Input: byte 0 thread count, byte 1 setup (bits 0-1: completions issued up front, less
//! one; bit 2: two feeders instead of one), then `[op byte, arg byte]*` (see [`Op`]).
//!
//! Checked after the join and a final `abandon_all` of every registry:
//! - each handle's value was taken out (completed, finished, abandoned, released) at most
//!   once, and per registry `taken + everything abandon_all returned == inserted`;
//!   `outstanding()` is 0 at the end;
//! - a genuine handle is refused as `Duplicate` only once a completion or `finish` had
//!   begun, as `Released` only once a `release` (or an `abandon_all` meeting a borrow) had
//!   begun, as `Abandoned` only once an `abandon` or `abandon_all` had begun, as `Stale`
//!   only once something freed it, as `Canceled` only by `complete` for a dropped future;
//!   never `InUse` (a take waits for concurrent borrows: `is_canceled`, `push`, `set`),
//!   `Unknown` or `Full`; a forged handle is always refused; a use that began after the
//!   handle was definitely taken out or abandoned is refused;
//! - the futures: one result, matching the one successful `complete` (value or error
//!   code), else `Abandoned`; `Canceled` only for a dropped future, whose cancel hooks
//!   then all ran; hooks ran all or none, never after a result was seen;
//!   `is_canceled` true only for a dropped future; a future's last `Pending` poll is woken;
//! - the streams deliver, in each thread's order, exactly the items whose push returned
//!   `Ok`, then `None` if a `finish` succeeded, else `Abandoned`;
//! - the event is set iff a `set` succeeded;
//! - every value (completion results, pushed items, forged completions' values) is dropped
//!   exactly once; no waker is kept.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use anywait::ffi::{
    CallbackError, CompletionHandle, Completions, FeedError, Feeders, HandleError, Setters,
};
use anywait::{
    callback_stream, AsyncEvent, CallbackStream, EventSetter, StreamError, StreamPolicy,
    TryWaitableFuture,
};
use futures_core::FusedFuture;

use crate::common::{self, lock, Clock, Hooks, Ledger, Span, Val, WakeProbe};

/// Most completions one execution issues.
pub const MAX_COMPLETIONS: usize = 12;

/// One operation; `e` picks a completion (modulo how many were issued), `k` a feeder or
/// setter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `Completions::issue`.
    Issue,
    /// `Completions::complete` with a fresh value (`ok`) or an error code.
    Complete {
        /// The completion.
        e: u8,
        /// `Ok(value)` rather than `Err(Failed(code))`.
        ok: bool,
    },
    /// `Completions::abandon`.
    Abandon(u8),
    /// `Registry::release` of a completion.
    Release(u8),
    /// `Completions::is_canceled` (a borrower: `with`).
    IsCanceled(u8),
    /// `abandon_all` of registry `r % 3` (completions, feeders, setters).
    AbandonAll(u8),
    /// `complete` with a forged handle derived from completion `e`'s.
    Forged(u8),
    /// Poll completion `e`'s future with a fresh counting waker.
    Poll(u8),
    /// `try_take`.
    TryTake(u8),
    /// `wait_timeout`, zero or tiny.
    Wait(u8, u8),
    /// Drop the future (cancel).
    DropFuture(u8),
    /// Add an `on_cancel` hook.
    OnCancel(u8),
    /// `outstanding()` of every registry.
    Outstanding,
    /// `Feeders::push` (a borrower).
    Push(u8),
    /// `Feeders::finish`.
    Finish(u8),
    /// `Registry::release` of a feeder.
    ReleaseFeeder(u8),
    /// `Setters::set` (a borrower).
    Set(u8),
    /// `Registry::release` of a setter.
    ReleaseSetter(u8),
}

const KINDS: u8 = 18;

/// Decodes an input.
pub fn decode(data: &[u8]) -> common::Script<Op> {
    common::decode(data, |code, input| {
        let arg = input.arg();
        Some(match code % KINDS {
            0 => Op::Issue,
            1 => Op::Complete {
                e: arg >> 1,
                ok: arg & 1 == 0,
            },
            2 => Op::Abandon(arg),
            3 => Op::Release(arg),
            4 => Op::IsCanceled(arg),
            5 => Op::AbandonAll(arg),
            6 => Op::Forged(arg),
            7 => Op::Poll(arg),
            8 => Op::TryTake(arg),
            9 => Op::Wait(arg & 0xf, arg >> 4),
            10 => Op::DropFuture(arg),
            11 => Op::OnCancel(arg),
            12 => Op::Outstanding,
            13 => Op::Push(arg),
            14 => Op::Finish(arg),
            15 => Op::ReleaseFeeder(arg),
            16 => Op::Set(arg),
            _ => Op::ReleaseSetter(arg),
        })
    })
}

/// Which registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reg {
    Completions,
    Feeders,
    Setters,
}

/// What a registry call was to its handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `take`-based: complete, finish (later uses report `Duplicate`).
    Take,
    /// `Completions::abandon` (later uses report `Abandoned`).
    AbandonOne,
    /// `release`.
    Release,
    /// `with`-based: is_canceled, push, set.
    With,
}

/// One registry call on a genuine handle.
#[derive(Clone, Copy, Debug)]
struct Call {
    span: Span,
    reg: Reg,
    slot: usize,
    kind: Kind,
    /// `Ok(())`, or the refusal.
    result: Result<(), HandleError>,
}

impl Call {
    /// The call took the value out (or found the caller gone, which takes it too).
    fn consumed(&self) -> bool {
        matches!(self.kind, Kind::Take | Kind::AbandonOne | Kind::Release)
            && matches!(self.result, Ok(()) | Err(HandleError::Canceled))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Obs {
    Value(u32),
    Failed(i32),
    Abandoned,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Alive,
    Dropped,
}

struct Fut {
    f: Option<TryWaitableFuture<Val, CallbackError>>,
    fate: Fate,
    obs: Vec<Obs>,
    probe: Option<Arc<WakeProbe>>,
    probes: Vec<Arc<WakeProbe>>,
    canceled_seen: bool,
}

impl Fut {
    fn observe(&mut self, r: Result<Val, CallbackError>, what: &str) {
        let o = match r {
            Ok(v) => Obs::Value(v.id),
            Err(CallbackError::Failed(code)) => Obs::Failed(code),
            Err(CallbackError::Abandoned) => Obs::Abandoned,
            Err(other) => panic!("ffi_mt: {what}: unexpected {other:?}"),
        };
        if !self.obs.is_empty() {
            assert_eq!(
                o,
                Obs::Abandoned,
                "ffi_mt: {what}: a second result after {:?}",
                self.obs
            );
        }
        self.obs.push(o);
    }
}

struct Completion {
    handle: CompletionHandle,
    issued: Span,
    fut: Mutex<Fut>,
    hooks: Arc<Hooks>,
    /// What the one successful `complete` delivered.
    completed: Mutex<Option<Obs>>,
}

struct FeedSlot {
    handle: CompletionHandle,
    stream: Mutex<Option<CallbackStream<Val, u32>>>,
}

struct State {
    clock: Clock,
    ledger: Arc<Ledger>,
    comps: Completions<Val>,
    feeders: Feeders<Val, u32>,
    setters: Setters,
    event: Arc<AsyncEvent>,
    completions: Mutex<Vec<Arc<Completion>>>,
    feed: Vec<FeedSlot>,
    set_handles: Vec<CompletionHandle>,
    /// (span, registry, count) of every `abandon_all`.
    abandon_alls: Mutex<Vec<(Span, Reg, usize)>>,
    codes: AtomicUsize,
}

impl State {
    fn issue(&self) -> Option<Arc<Completion>> {
        let mut list = lock(&self.completions);
        if list.len() >= MAX_COMPLETIONS {
            return None;
        }
        let (issued, (handle, f)) = Span::time(&self.clock, || self.comps.issue());
        let c = Arc::new(Completion {
            handle,
            issued,
            fut: Mutex::new(Fut {
                f: Some(f),
                fate: Fate::Alive,
                obs: Vec::new(),
                probe: None,
                probes: Vec::new(),
                canceled_seen: false,
            }),
            hooks: Arc::new(Hooks::default()),
            completed: Mutex::new(None),
        });
        list.push(Arc::clone(&c));
        Some(c)
    }

    fn completion(&self, e: u8) -> (usize, Arc<Completion>) {
        let list = lock(&self.completions);
        let i = e as usize % list.len();
        (i, Arc::clone(&list[i]))
    }
}

/// What one thread reports after the join: its registry calls and pushes.
#[derive(Default)]
struct Log {
    calls: Vec<Call>,
    /// (feeder, thread, seq, id, accepted) of every push.
    pushes: Vec<(usize, u8, u32, u32, bool)>,
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let script = decode(data);
    let ledger = Ledger::new();
    let event = Arc::new(AsyncEvent::new());
    let feeders: Feeders<Val, u32> = Feeders::new();
    let n_feeders = 1 + usize::from(script.setup >> 2 & 1);
    let feed: Vec<FeedSlot> = (0..n_feeders)
        .map(|_| {
            let (feeder, stream) = callback_stream::<Val, u32>(StreamPolicy::Unbounded);
            FeedSlot {
                handle: feeders.insert(feeder).expect("insert a feeder"),
                stream: Mutex::new(Some(stream)),
            }
        })
        .collect();
    let setters = Setters::new();
    let set_handles = (0..2)
        .map(|_| {
            setters
                .insert(EventSetter::new(&event))
                .expect("insert a setter")
        })
        .collect();
    let state = State {
        clock: Clock::default(),
        ledger: Arc::clone(&ledger),
        comps: Completions::new(),
        feeders,
        setters,
        event,
        completions: Mutex::new(Vec::new()),
        feed,
        set_handles,
        abandon_alls: Mutex::new(Vec::new()),
        codes: AtomicUsize::new(0),
    };
    for _ in 0..=(script.setup & 3) {
        state.issue();
    }

    let logs = common::run_threads(&script.threads, |i, ops| {
        let mut log = Log::default();
        let mut seq = 0u32;
        let mut budget = common::MAX_TIMED_WAITS;
        for &op in ops {
            step(&state, i as u8, op, &mut log, &mut seq, &mut budget);
        }
        log
    });
    let calls: Vec<Call> = logs.iter().flat_map(|l| l.calls.iter().copied()).collect();
    let pushes: Vec<_> = logs.iter().flat_map(|l| l.pushes.iter().copied()).collect();
    check(&state, &calls, &pushes);
}

fn record(
    log: &mut Log,
    span: Span,
    reg: Reg,
    slot: usize,
    kind: Kind,
    result: Result<(), HandleError>,
) {
    log.calls.push(Call {
        span,
        reg,
        slot,
        kind,
        result,
    });
}

fn step(state: &State, thread: u8, op: Op, log: &mut Log, seq: &mut u32, budget: &mut usize) {
    let clock = &state.clock;
    match op {
        Op::Issue => {
            state.issue();
        }
        Op::Complete { e, ok } => {
            let (i, c) = state.completion(e);
            let (value, obs) = if ok {
                let v = state.ledger.make();
                let id = v.id;
                (Ok(v), Obs::Value(id))
            } else {
                let code = state.codes.fetch_add(1, Ordering::Relaxed) as i32 + 1;
                (Err(CallbackError::Failed(code)), Obs::Failed(code))
            };
            let (span, r) = Span::time(clock, || state.comps.complete(c.handle, value));
            if r.is_ok() {
                let mut completed = lock(&c.completed);
                assert!(
                    completed.is_none(),
                    "ffi_mt: completion {i} completed twice"
                );
                *completed = Some(obs);
            }
            record(log, span, Reg::Completions, i, Kind::Take, r);
        }
        Op::Abandon(e) => {
            let (i, c) = state.completion(e);
            let (span, r) = Span::time(clock, || state.comps.abandon(c.handle));
            record(log, span, Reg::Completions, i, Kind::AbandonOne, r);
        }
        Op::Release(e) => {
            let (i, c) = state.completion(e);
            let (span, r) = Span::time(clock, || state.comps.release(c.handle));
            record(log, span, Reg::Completions, i, Kind::Release, r);
        }
        Op::IsCanceled(e) => {
            let (i, c) = state.completion(e);
            let (span, r) = Span::time(clock, || state.comps.is_canceled(c.handle));
            if r == Ok(true) {
                lock(&c.fut).canceled_seen = true;
            }
            record(log, span, Reg::Completions, i, Kind::With, r.map(drop));
        }
        Op::AbandonAll(r) => {
            let reg = [Reg::Completions, Reg::Feeders, Reg::Setters][r as usize % 3];
            let (span, n) = Span::time(clock, || match reg {
                Reg::Completions => state.comps.abandon_all(),
                Reg::Feeders => state.feeders.abandon_all(),
                Reg::Setters => state.setters.abandon_all(),
            });
            lock(&state.abandon_alls).push((span, reg, n));
        }
        Op::Forged(e) => {
            let (_, c) = state.completion(e);
            let raw = c.handle.into_raw();
            // A generation no slot reaches in one execution, or an index never handed out.
            let forged = if e & 1 == 0 {
                raw.wrapping_add(0x100 << (usize::BITS / 2))
            } else {
                raw | ((1 << (usize::BITS / 2)) - 2)
            };
            let v = state.ledger.make();
            let r = state
                .comps
                .complete(CompletionHandle::from_raw(forged), Ok(v));
            assert!(
                matches!(r, Err(HandleError::Stale | HandleError::Unknown)),
                "ffi_mt: a forged handle was not refused: {r:?}"
            );
        }
        Op::Poll(e) => {
            let (_, c) = state.completion(e);
            let mut fut = lock(&c.fut);
            let Some(f) = &mut fut.f else { return };
            let (r, probe) = common::poll_fresh(Pin::new(f));
            fut.probes.push(Arc::clone(&probe));
            match r {
                Poll::Ready(r) => {
                    fut.observe(r, "poll");
                    fut.probe = None; // superseded by this poll's waker
                }
                Poll::Pending => {
                    assert!(fut.obs.is_empty(), "ffi_mt: Pending after a result");
                    fut.probe = Some(probe);
                }
            }
        }
        Op::TryTake(e) => {
            let (_, c) = state.completion(e);
            let mut fut = lock(&c.fut);
            let Some(f) = &mut fut.f else { return };
            match f.try_take() {
                Some(r) => fut.observe(r, "try_take"),
                None => assert!(fut.obs.is_empty(), "ffi_mt: try_take None after a result"),
            }
            if let Some(f) = &fut.f {
                assert_eq!(
                    f.is_terminated(),
                    !fut.obs.is_empty(),
                    "ffi_mt: is_terminated"
                );
            }
        }
        Op::Wait(e, arg) => {
            let timeout = common::timeout(arg, budget);
            let (_, c) = state.completion(e);
            let mut fut = lock(&c.fut);
            let Some(f) = &mut fut.f else { return };
            match f.wait_timeout(timeout) {
                Err(CallbackError::TimedOut) => {
                    assert!(fut.obs.is_empty(), "ffi_mt: timed out after a result")
                }
                r => {
                    fut.observe(r, "wait_timeout");
                    fut.probe = None;
                }
            }
        }
        Op::DropFuture(e) => {
            let (_, c) = state.completion(e);
            let f = {
                let mut fut = lock(&c.fut);
                let Some(f) = fut.f.take() else { return };
                fut.fate = Fate::Dropped;
                fut.probe = None;
                f
            };
            drop(f);
        }
        Op::OnCancel(e) => {
            let (_, c) = state.completion(e);
            let mut fut = lock(&c.fut);
            if let Some(f) = fut.f.take() {
                fut.f = Some(f.on_cancel(c.hooks.hook()));
            }
        }
        Op::Outstanding => {
            // Under the list's lock: no issue runs meanwhile.
            let list = lock(&state.completions);
            let outstanding = state.comps.outstanding();
            assert!(
                outstanding <= list.len(),
                "ffi_mt: {outstanding} outstanding, {} issued",
                list.len()
            );
            drop(list);
            assert!(state.feeders.outstanding() <= state.feed.len());
            assert!(state.setters.outstanding() <= state.set_handles.len());
        }
        Op::Push(k) => {
            let slot = k as usize % state.feed.len();
            let mut v = state.ledger.make();
            v.tag = (thread, *seq);
            *seq += 1;
            let id = v.id;
            let (span, r) = Span::time(clock, || state.feeders.push(state.feed[slot].handle, v));
            let (result, accepted) = match r {
                Ok(()) => (Ok(()), true),
                Err(FeedError::Rejected(rejected)) => {
                    // The feeder was reached; the stream refused (it ended or closed).
                    assert_eq!(rejected.into_inner().id, id);
                    (Ok(()), false)
                }
                Err(FeedError::Handle(e)) => (Err(e), false),
            };
            log.pushes.push((slot, thread, *seq - 1, id, accepted));
            record(log, span, Reg::Feeders, slot, Kind::With, result);
        }
        Op::Finish(k) => {
            let slot = k as usize % state.feed.len();
            let (span, r) = Span::time(clock, || state.feeders.finish(state.feed[slot].handle));
            record(log, span, Reg::Feeders, slot, Kind::Take, r.map(drop));
        }
        Op::ReleaseFeeder(k) => {
            let slot = k as usize % state.feed.len();
            let (span, r) = Span::time(clock, || state.feeders.release(state.feed[slot].handle));
            record(log, span, Reg::Feeders, slot, Kind::Release, r);
        }
        Op::Set(k) => {
            let slot = k as usize % state.set_handles.len();
            let (span, r) = Span::time(clock, || state.setters.set(state.set_handles[slot]));
            record(log, span, Reg::Setters, slot, Kind::With, r);
        }
        Op::ReleaseSetter(k) => {
            let slot = k as usize % state.set_handles.len();
            let (span, r) = Span::time(clock, || state.setters.release(state.set_handles[slot]));
            record(log, span, Reg::Setters, slot, Kind::Release, r);
        }
    }
}

fn check(state: &State, calls: &[Call], pushes: &[(usize, u8, u32, u32, bool)]) {
    let abandon_alls = lock(&state.abandon_alls).clone();
    let completions = lock(&state.completions).clone();

    // Handle-level rules, per registry call on a genuine handle.
    for call in calls {
        let same = |c: &&Call| c.reg == call.reg && c.slot == call.slot;
        let issued_at = match call.reg {
            Reg::Completions => completions[call.slot].issued.end,
            _ => 0,
        };
        // Something that explains a refusal began before `t`: a call of one of `kinds`
        // that took the value out, or (if `by_abandon_all`) an abandon_all.
        let began_before = |t: u64, kinds: &[Kind], by_abandon_all: bool| {
            calls
                .iter()
                .filter(same)
                .any(|c| c.consumed() && kinds.contains(&c.kind) && c.span.begin < t)
                || (by_abandon_all
                    && abandon_alls
                        .iter()
                        .any(|(s, r, _)| *r == call.reg && s.begin < t))
        };
        // Definitely gone before `t`: a call that took it out ended before `t`, or an
        // abandon_all ran entirely after its insertion and before `t`, with nothing
        // having taken it out before that abandon_all ended (it was live for the scan).
        let gone_before = |t: u64| {
            calls
                .iter()
                .filter(same)
                .any(|c| c.consumed() && c.span.end < t)
                || abandon_alls
                    .iter()
                    .any(|(s, r, _)| *r == call.reg && s.begin > issued_at && s.end < t)
        };
        match call.result {
            Ok(()) => {
                assert!(
                    !gone_before(call.span.begin),
                    "ffi_mt: {call:?} succeeded on a handle already taken out or abandoned"
                );
            }
            // Each refusal names what happened to the handle before.
            Err(HandleError::Duplicate) => assert!(
                began_before(call.span.end, &[Kind::Take], false),
                "ffi_mt: {call:?}: Duplicate, but no completion or finish had begun"
            ),
            Err(HandleError::Released) => assert!(
                // abandon_all releases a value that is being borrowed.
                began_before(call.span.end, &[Kind::Release], true),
                "ffi_mt: {call:?}: Released, but no release had begun"
            ),
            Err(HandleError::Abandoned) => assert!(
                began_before(call.span.end, &[Kind::AbandonOne], true),
                "ffi_mt: {call:?}: Abandoned, but no abandon had begun"
            ),
            Err(HandleError::Stale) => assert!(
                began_before(
                    call.span.end,
                    &[Kind::Take, Kind::AbandonOne, Kind::Release],
                    true
                ),
                "ffi_mt: {call:?}: Stale, but nothing had freed the slot"
            ),
            // A take waits for concurrent borrows; InUse is only for a take inside a
            // borrow on the same thread, which this target never does.
            Err(HandleError::InUse) => panic!("ffi_mt: {call:?}: InUse outside a borrow"),
            Err(HandleError::Canceled) => {
                assert!(call.reg == Reg::Completions && call.kind == Kind::Take);
                let fut = lock(&completions[call.slot].fut);
                assert_eq!(
                    fut.fate,
                    Fate::Dropped,
                    "ffi_mt: Canceled for a live future"
                );
            }
            Err(other) => panic!("ffi_mt: {call:?}: a genuine handle refused as {other:?}"),
        }
    }

    // The final abandon_all, then the accounting per registry.
    let finals = [
        (
            Reg::Completions,
            state.comps.abandon_all(),
            completions.len(),
        ),
        (Reg::Feeders, state.feeders.abandon_all(), state.feed.len()),
        (
            Reg::Setters,
            state.setters.abandon_all(),
            state.set_handles.len(),
        ),
    ];
    for (reg, last, inserted) in finals {
        let mut per_slot = vec![0usize; inserted];
        for c in calls.iter().filter(|c| c.reg == reg && c.consumed()) {
            per_slot[c.slot] += 1;
        }
        for (slot, n) in per_slot.iter().enumerate() {
            assert!(*n <= 1, "ffi_mt: {reg:?} handle {slot} taken out {n} times");
        }
        let taken: usize = per_slot.iter().sum();
        let abandoned: usize = abandon_alls
            .iter()
            .filter(|a| a.1 == reg)
            .map(|a| a.2)
            .sum::<usize>()
            + last;
        assert_eq!(
            taken + abandoned,
            inserted,
            "ffi_mt: {reg:?}: {taken} taken + {abandoned} abandoned != {inserted} inserted"
        );
    }
    assert_eq!(
        state.comps.outstanding(),
        0,
        "ffi_mt: completions outstanding after abandon_all"
    );
    assert_eq!(
        state.feeders.outstanding(),
        0,
        "ffi_mt: feeders outstanding after abandon_all"
    );
    assert_eq!(
        state.setters.outstanding(),
        0,
        "ffi_mt: setters outstanding after abandon_all"
    );

    // The futures.
    for (i, c) in completions.iter().enumerate() {
        let what = format!("ffi_mt: completion {i}");
        let mut fut = lock(&c.fut);
        if let Some(mut f) = fut.f.take() {
            match f.try_take() {
                Some(r) => fut.observe(r, "final try_take"),
                None => panic!("{what}: still pending after abandon_all"),
            }
            if let Some(p) = &fut.probe {
                assert!(
                    p.wakes() >= 1,
                    "{what}: the last Pending poll's waker was never woken"
                );
            }
            drop(f);
        }
        fut.probe = None;
        let completed = *lock(&c.completed);
        let canceled = calls.iter().any(|k| {
            k.reg == Reg::Completions && k.slot == i && k.result == Err(HandleError::Canceled)
        });
        let (registered, ran, _) = c.hooks.counts();
        c.hooks.assert_all_dropped(&what);
        if let Some(o) = completed {
            if let Some(first) = fut.obs.first() {
                assert_eq!(
                    *first, o,
                    "{what}: completed with {o:?}, the future saw {:?}",
                    fut.obs
                );
            }
            assert_eq!(
                ran, 0,
                "{what}: a cancel hook ran, yet complete() delivered"
            );
            assert!(!canceled && !fut.canceled_seen);
        } else if canceled {
            assert!(
                fut.obs.is_empty(),
                "{what}: Canceled after the future saw {:?}",
                fut.obs
            );
            assert_eq!(
                ran, registered,
                "{what}: canceled: {ran} of {registered} hooks ran"
            );
        } else {
            assert!(
                fut.obs.iter().all(|o| *o == Obs::Abandoned),
                "{what}: never completed, the future saw {:?}",
                fut.obs
            );
            if fut.fate == Fate::Alive || !fut.obs.is_empty() {
                assert_eq!(ran, 0, "{what}: a cancel hook ran without a cancellation");
            } else if fut.canceled_seen {
                assert_eq!(
                    ran, registered,
                    "{what}: is_canceled was true, {ran} of {registered} hooks ran"
                );
            } else {
                assert!(
                    ran == 0 || ran == registered,
                    "{what}: {ran} of {registered} hooks ran"
                );
            }
        }
        if fut.canceled_seen {
            assert_eq!(
                fut.fate,
                Fate::Dropped,
                "{what}: is_canceled true for a live future"
            );
        }
        common::assert_released(&what, &fut.probes);
    }

    // The streams: every feeder is gone now, so next_blocking returns.
    for (slot, feed) in state.feed.iter().enumerate() {
        let mut stream = lock(&feed.stream).take().expect("the consumer");
        let finished = calls.iter().any(|c| {
            c.reg == Reg::Feeders && c.slot == slot && c.kind == Kind::Take && c.result.is_ok()
        });
        let mut got: Vec<(u8, u32, u32)> = Vec::new();
        let terminal = loop {
            match stream.next_blocking() {
                Some(Ok(v)) => got.push((v.tag.0, v.tag.1, v.id)),
                Some(Err(e)) => break Some(e),
                None => break None,
            }
        };
        assert!(
            stream.next_blocking().is_none(),
            "ffi_mt: a stream is not fused"
        );
        if finished {
            assert_eq!(
                terminal, None,
                "ffi_mt: feeder {slot} finished, the stream ended with {terminal:?}"
            );
        } else {
            assert_eq!(
                terminal,
                Some(StreamError::Abandoned),
                "ffi_mt: feeder {slot}'s stream"
            );
        }
        let mut accepted: Vec<(u8, u32, u32)> = pushes
            .iter()
            .filter(|p| p.0 == slot && p.4)
            .map(|p| (p.1, p.2, p.3))
            .collect();
        // Per thread, the stream's order is the push order.
        for thread in 0..4u8 {
            let sent: Vec<_> = accepted.iter().filter(|p| p.0 == thread).collect();
            let recv: Vec<_> = got.iter().filter(|p| p.0 == thread).collect();
            assert_eq!(
                sent, recv,
                "ffi_mt: feeder {slot}, thread {thread}: items lost, added or reordered"
            );
        }
        accepted.sort_unstable();
        got.sort_unstable();
        assert_eq!(accepted, got);
    }

    // The event.
    let set_ok = calls
        .iter()
        .any(|c| c.reg == Reg::Setters && c.kind == Kind::With && c.result.is_ok());
    assert_eq!(
        state.event.is_set(),
        set_ok,
        "ffi_mt: the event is set iff a set succeeded"
    );

    drop(completions);
    lock(&state.completions).clear();
    state.ledger.assert_all_dropped("ffi_mt");
}
