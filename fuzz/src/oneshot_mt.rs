//! `oneshot_mt`: one-shot pairs (`waitable()`) driven from 2 to 4 real threads at once.
//!
//! Each pair's completer and future sit in their own mutex-guarded slot, so any thread
//! can act on either side; an operation that consumes a side (complete, abandon, drop,
//! `on_complete`) takes it out of its slot and runs outside the lock, so the completer's
//! and the future's operations race for real (the future's `&mut self` operations are
//! serialised by its slot, as they are for any owner).
//!
//! Input: byte 0 thread count, byte 1 setup (`% 3 + 1` pairs; bit `2 + p`: what the
//! final clean-up does with a completer still there, 1 complete, 0 drop), then
//! `[op byte, arg byte]*` (see [`Op`]).
//!
//! After the join every pair must have one of the allowed outcomes:
//! - `complete` returned `Ok`: the future's first result (if it took one) is that value,
//!   every later one `Abandoned`; no cancel hook ran; `is_canceled` never said true;
//! - `complete` returned `Err(v)` (v is the value given): the future had been dropped
//!   before taking anything, every cancel hook ran exactly once;
//! - the completer was dropped: every result seen is `Abandoned`; the cancel hooks ran all
//!   or none (all when `is_canceled` was seen true, none when a result was seen or the
//!   future was not dropped).
//!
//! And: every value is dropped exactly once; every hook closure is dropped exactly once;
//! `on_complete` callbacks ran exactly once; a future whose last poll was `Pending` and
//! that is still alive when its completer goes had that poll's waker woken; a pending
//! `poll_canceled` waker is woken by the cancellation; no waker is kept after both sides
//! are gone.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use anywait::{waitable, Abandoned, Completer, TryTakeError, WaitError, WaitableFuture};
use futures_core::FusedFuture;

use crate::common::{self, lock, Hooks, Ledger, Val, WakeProbe};

/// One operation; `pair` is taken modulo the pair count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `Completer::complete` with a fresh value.
    Complete(u8),
    /// Drop the completer (abandon).
    Abandon(u8),
    /// `Completer::is_canceled`.
    IsCanceled(u8),
    /// `Completer::poll_canceled` with a fresh counting waker.
    PollCanceled(u8),
    /// `Completer::canceled()` polled once with a fresh waker, then dropped.
    CanceledOnce(u8),
    /// Poll the future with a fresh counting waker.
    Poll(u8),
    /// `WaitableFuture::try_take`.
    TryTake(u8),
    /// `wait_timeout`, zero or tiny (`arg`).
    Wait(u8, u8),
    /// Add an `on_cancel` hook.
    OnCancel(u8),
    /// Consume the future with `on_complete`.
    OnComplete(u8),
    /// Drop the future (a cancellation if nothing arrived).
    DropFuture(u8),
    /// `is_complete` / `is_terminated`, checked against what this future saw.
    Inspect(u8),
}

const KINDS: u8 = 12;

/// Decodes an input.
pub fn decode(data: &[u8]) -> common::Script<Op> {
    common::decode(data, |code, input| {
        let arg = input.arg();
        let p = arg & 0x3;
        Some(match code % KINDS {
            0 => Op::Complete(p),
            1 => Op::Abandon(p),
            2 => Op::IsCanceled(p),
            3 => Op::PollCanceled(p),
            4 => Op::CanceledOnce(p),
            5 => Op::Poll(p),
            6 => Op::TryTake(p),
            7 => Op::Wait(p, arg >> 2),
            8 => Op::OnCancel(p),
            9 => Op::OnComplete(p),
            10 => Op::DropFuture(p),
            _ => Op::Inspect(p),
        })
    })
}

/// What the future side saw: a value (its id) or `Abandoned`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Obs {
    Value(u32),
    Abandoned,
}

fn obs(r: Result<Val, Abandoned>) -> Obs {
    match r {
        Ok(v) => Obs::Value(v.id),
        Err(Abandoned) => Obs::Abandoned,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxOutcome {
    /// `complete` returned `Ok`.
    Completed(u32),
    /// `complete` handed the value back.
    Refused(u32),
    /// The completer was dropped.
    Abandoned,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Alive,
    Dropped,
    OnComplete,
}

struct TxSlot {
    c: Option<Completer<Val>>,
    outcome: Option<TxOutcome>,
    /// The waker of the last `Pending` `poll_canceled`, while registered.
    cancel_probe: Option<Arc<WakeProbe>>,
    saw_canceled: bool,
    probes: Vec<Arc<WakeProbe>>,
}

struct RxSlot {
    f: Option<WaitableFuture<Val>>,
    fate: Fate,
    obs: Vec<Obs>,
    /// The waker of the last `Pending` poll, while it is the registered one.
    probe: Option<Arc<WakeProbe>>,
    probes: Vec<Arc<WakeProbe>>,
}

struct Pair {
    tx: Mutex<TxSlot>,
    rx: Mutex<RxSlot>,
    hooks: Arc<Hooks>,
    done: Arc<Mutex<Vec<Obs>>>,
}

impl RxSlot {
    fn observe(&mut self, what: &str, r: Result<Val, Abandoned>) {
        let o = obs(r);
        if !self.obs.is_empty() {
            assert_eq!(
                o,
                Obs::Abandoned,
                "{what}: a second result after {:?} must be Abandoned",
                self.obs
            );
        }
        self.obs.push(o);
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let script = decode(data);
    let ledger = Ledger::new();
    let n_pairs = 1 + (script.setup % 3) as usize;
    let pairs: Vec<Pair> = (0..n_pairs)
        .map(|_| {
            let (c, f) = waitable::<Val>();
            Pair {
                tx: Mutex::new(TxSlot {
                    c: Some(c),
                    outcome: None,
                    cancel_probe: None,
                    saw_canceled: false,
                    probes: Vec::new(),
                }),
                rx: Mutex::new(RxSlot {
                    f: Some(f),
                    fate: Fate::Alive,
                    obs: Vec::new(),
                    probe: None,
                    probes: Vec::new(),
                }),
                hooks: Arc::new(Hooks::default()),
                done: Arc::new(Mutex::new(Vec::new())),
            }
        })
        .collect();

    common::run_threads(&script.threads, |_, ops| {
        let mut budget = common::MAX_TIMED_WAITS;
        for &op in ops {
            step(&pairs, &ledger, op, &mut budget);
        }
    });

    for (i, pair) in pairs.iter().enumerate() {
        finish_pair(i, pair, &ledger, script.setup >> (2 + i) & 1 == 1);
    }
    drop(pairs);
    ledger.assert_all_dropped("oneshot_mt");
}

fn step(pairs: &[Pair], ledger: &Arc<Ledger>, op: Op, budget: &mut usize) {
    let pick = |p: u8| &pairs[p as usize % pairs.len()];
    match op {
        Op::Complete(p) => {
            let pair = pick(p);
            let Some(c) = lock(&pair.tx).c.take() else {
                return;
            };
            let v = ledger.make();
            let id = v.id;
            let outcome = match c.complete(v) {
                Ok(()) => TxOutcome::Completed(id),
                Err(back) => {
                    assert_eq!(back.id, id, "complete handed back another value");
                    TxOutcome::Refused(id)
                }
            };
            lock(&pair.tx).outcome = Some(outcome);
        }
        Op::Abandon(p) => {
            let pair = pick(p);
            let Some(c) = lock(&pair.tx).c.take() else {
                return;
            };
            drop(c);
            lock(&pair.tx).outcome = Some(TxOutcome::Abandoned);
        }
        Op::IsCanceled(p) => {
            let mut tx = lock(&pick(p).tx);
            if let Some(c) = &tx.c {
                if c.is_canceled() {
                    tx.saw_canceled = true;
                }
            }
        }
        Op::PollCanceled(p) => {
            let mut tx = lock(&pick(p).tx);
            let tx = &mut *tx;
            if let Some(c) = &mut tx.c {
                let probe = Arc::new(WakeProbe::default());
                let waker = std::task::Waker::from(Arc::clone(&probe));
                let r = c.poll_canceled(&mut std::task::Context::from_waker(&waker));
                drop(waker);
                tx.probes.push(Arc::clone(&probe));
                // This poll's waker replaces the one registered before (which anywait may
                // then drop unwoken): only the latest one must be woken.
                match r {
                    Poll::Ready(()) => {
                        tx.saw_canceled = true;
                        tx.cancel_probe = None;
                    }
                    Poll::Pending => tx.cancel_probe = Some(probe),
                }
            }
        }
        Op::CanceledOnce(p) => {
            let mut tx = lock(&pick(p).tx);
            let tx = &mut *tx;
            if let Some(c) = &mut tx.c {
                let mut canceled = c.canceled();
                let (r, probe) = common::poll_fresh(Pin::new(&mut canceled));
                drop(canceled); // withdraws its waker
                tx.probes.push(probe);
                tx.cancel_probe = None;
                if r.is_ready() {
                    tx.saw_canceled = true;
                }
            }
        }
        Op::Poll(p) => {
            let mut rx = lock(&pick(p).rx);
            let Some(f) = &mut rx.f else { return };
            let (r, probe) = common::poll_fresh(Pin::new(f));
            rx.probes.push(Arc::clone(&probe));
            // This poll's waker replaces the one registered before (which anywait may then
            // drop unwoken, e.g. when the result arrives during the swap): only the latest
            // Pending poll's waker must be woken.
            match r {
                Poll::Ready(r) => {
                    rx.observe("poll", r);
                    rx.probe = None;
                }
                Poll::Pending => {
                    assert!(rx.obs.is_empty(), "poll: Pending after a result");
                    rx.probe = Some(probe);
                }
            }
        }
        Op::TryTake(p) => {
            let mut rx = lock(&pick(p).rx);
            let Some(f) = &mut rx.f else { return };
            match f.try_take() {
                Ok(v) => rx.observe("try_take", Ok(v)),
                Err(TryTakeError::Abandoned) => rx.observe("try_take", Err(Abandoned)),
                Err(TryTakeError::Pending) => {
                    assert!(rx.obs.is_empty(), "try_take: Pending after a result")
                }
            }
        }
        Op::Wait(p, arg) => {
            let timeout = common::timeout(arg, budget);
            let mut rx = lock(&pick(p).rx);
            let Some(f) = &mut rx.f else { return };
            match f.wait_timeout(timeout) {
                Ok(v) => {
                    rx.observe("wait_timeout", Ok(v));
                    rx.probe = None; // a wait that took the value may drop the set-aside waker
                }
                Err(WaitError::Abandoned) => {
                    rx.observe("wait_timeout", Err(Abandoned));
                    rx.probe = None;
                }
                Err(WaitError::Timeout) => {
                    assert!(rx.obs.is_empty(), "wait_timeout: Timeout after a result")
                }
            }
        }
        Op::OnCancel(p) => {
            let pair = pick(p);
            let mut rx = lock(&pair.rx);
            if let Some(f) = rx.f.take() {
                rx.f = Some(f.on_cancel(pair.hooks.hook()));
            }
        }
        Op::OnComplete(p) => {
            let pair = pick(p);
            let f = {
                let mut rx = lock(&pair.rx);
                let Some(f) = rx.f.take() else { return };
                rx.fate = Fate::OnComplete;
                rx.probe = None;
                f
            };
            let done = Arc::clone(&pair.done);
            f.on_complete(move |r| lock(&done).push(obs(r)));
        }
        Op::DropFuture(p) => {
            let pair = pick(p);
            let f = {
                let mut rx = lock(&pair.rx);
                let Some(f) = rx.f.take() else { return };
                rx.fate = Fate::Dropped;
                rx.probe = None;
                f
            };
            drop(f);
        }
        Op::Inspect(p) => {
            let rx = lock(&pick(p).rx);
            let Some(f) = &rx.f else { return };
            assert_eq!(
                f.is_terminated(),
                !rx.obs.is_empty(),
                "is_terminated disagrees with the results taken ({:?})",
                rx.obs
            );
            if !rx.obs.is_empty() {
                assert!(f.is_complete(), "is_complete false after a result");
            }
        }
    }
}

fn finish_pair(i: usize, pair: &Pair, ledger: &Arc<Ledger>, complete_at_end: bool) {
    let what = format!("oneshot_mt pair {i}");
    // The completer, if no thread used it up.
    {
        let mut tx = lock(&pair.tx);
        if let Some(c) = tx.c.take() {
            let fate = lock(&pair.rx).fate;
            let canceled = c.is_canceled();
            assert_eq!(
                canceled,
                fate == Fate::Dropped,
                "{what}: is_canceled() = {canceled} with the future {fate:?}"
            );
            if canceled {
                if let Some(p) = &tx.cancel_probe {
                    assert!(
                        p.wakes() >= 1,
                        "{what}: the poll_canceled waker was not woken by the cancellation"
                    );
                }
                tx.saw_canceled = true;
            }
            if complete_at_end {
                let v = ledger.make();
                let id = v.id;
                tx.outcome = Some(match c.complete(v) {
                    Ok(()) => TxOutcome::Completed(id),
                    Err(back) => {
                        assert_eq!(back.id, id);
                        TxOutcome::Refused(id)
                    }
                });
            } else {
                drop(c);
                tx.outcome = Some(TxOutcome::Abandoned);
            }
        }
    }
    let mut tx = lock(&pair.tx);
    let mut rx = lock(&pair.rx);
    let outcome = tx.outcome.expect("the completer was used up");
    // The future, if still there: its result must be in now.
    if let Some(mut f) = rx.f.take() {
        match f.try_take() {
            Ok(v) => rx.observe("final try_take", Ok(v)),
            Err(TryTakeError::Abandoned) => rx.observe("final try_take", Err(Abandoned)),
            Err(TryTakeError::Pending) => panic!("{what}: still pending after the completer went"),
        }
        if let Some(p) = &rx.probe {
            assert!(
                p.wakes() >= 1,
                "{what}: the last Pending poll's waker was never woken although the result arrived ({outcome:?})"
            );
        }
        drop(f);
    }
    let done = lock(&pair.done).clone();
    let (registered, ran, _) = pair.hooks.counts();
    pair.hooks.assert_all_dropped(&what);
    let mut seen = rx.obs.clone();
    seen.extend(done.iter().copied());
    if rx.fate == Fate::OnComplete {
        assert_eq!(
            done.len(),
            1,
            "{what}: on_complete callback ran {} times",
            done.len()
        );
    } else {
        assert!(
            done.is_empty(),
            "{what}: a callback ran without on_complete"
        );
    }
    match outcome {
        TxOutcome::Completed(id) => {
            if let Some(first) = seen.first() {
                assert_eq!(
                    *first,
                    Obs::Value(id),
                    "{what}: completed with {id}, the future saw {seen:?}"
                );
            }
            assert!(
                seen.iter().skip(1).all(|o| *o == Obs::Abandoned),
                "{what}: the value was delivered twice: {seen:?}"
            );
            if rx.fate != Fate::Dropped {
                assert!(
                    !seen.is_empty(),
                    "{what}: completed but the live future saw nothing"
                );
            }
            assert_eq!(
                ran, 0,
                "{what}: a cancel hook ran although complete() succeeded"
            );
            assert!(
                !tx.saw_canceled,
                "{what}: is_canceled was true, yet complete() succeeded"
            );
        }
        TxOutcome::Refused(_) => {
            assert_eq!(
                rx.fate,
                Fate::Dropped,
                "{what}: complete() refused, but the future was not dropped"
            );
            assert!(
                seen.is_empty(),
                "{what}: complete() refused, but the future had seen {seen:?}"
            );
            assert_eq!(
                ran, registered,
                "{what}: canceled: {ran} of {registered} cancel hooks ran"
            );
        }
        TxOutcome::Abandoned => {
            assert!(
                seen.iter().all(|o| *o == Obs::Abandoned),
                "{what}: abandoned, but the future saw {seen:?}"
            );
            if rx.fate != Fate::Dropped || !seen.is_empty() {
                assert_eq!(ran, 0, "{what}: a cancel hook ran without a cancellation");
            } else if tx.saw_canceled {
                assert_eq!(
                    ran, registered,
                    "{what}: is_canceled was seen, but {ran} of {registered} hooks ran"
                );
            } else {
                assert!(
                    ran == 0 || ran == registered,
                    "{what}: {ran} of {registered} cancel hooks ran"
                );
            }
        }
    }
    rx.probe = None;
    tx.cancel_probe = None;
    common::assert_released(&what, &rx.probes);
    common::assert_released(&what, &tx.probes);
}
