//! `shared_mt`: one `SharedWaitable` (`waitable().shared()`) whose handles are cloned,
//! polled, waited on, sent between and dropped by 2 to 4 real threads, while any thread
//! may complete or abandon the completer.
//!
//! Every thread starts with a handle of its own (and the main thread may keep one until
//! after the join: setup bit 0); handles move between threads through a shared pool.
//! Done-callbacks record what they got; some panic on purpose (with
//! [`common::ExpectedPanic`], which anywait must catch and keep for
//! `take_callback_panics`). The inner future carries one `on_cancel` hook.
//!
//! Input: byte 0 thread count, byte 1 setup (bit 0: a handle kept by the main thread;
//! bit 1: the final clean-up completes a completer still there, else drops it), then
//! `[op byte, arg byte]*` (see [`Op`]).
//!
//! Checked after the join (and the final clean-up):
//! - every result seen by any handle (poll, `try_get`, `wait_timeout`) or done-callback is
//!   the same: the completed value, or `Abandoned` when the completer was dropped; none
//!   at all when `complete` handed the value back (the operation was canceled);
//! - `complete` hands the value back only if no handle and no pending done-callback was
//!   left, and then the cancel hook ran exactly once; it never ran while a result was seen
//!   or a handle or callback remained; `is_canceled` agrees at the end;
//! - every done-callback ran exactly once; every panicking one's payload was kept;
//! - a handle whose last poll was `Pending` had that waker woken by the completion;
//! - every value clone, hook and waker is released once everything is dropped.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use anywait::{waitable, Abandoned, Completer, SharedWaitable, WaitError};
use futures_core::FusedFuture;

use crate::common::{self, lock, ExpectedPanic, Hooks, Ledger, Val, WakeProbe};

/// One operation; `h` picks one of the thread's handles (modulo how many it has).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Clone handle `h` (at most six per thread).
    Clone(u8),
    /// Drop handle `h`.
    Drop(u8),
    /// Move handle `h` to the shared pool.
    Send(u8),
    /// Take a handle from the shared pool.
    Recv,
    /// Poll handle `h` with a fresh counting waker.
    Poll(u8),
    /// `try_get`.
    TryGet(u8),
    /// `wait_timeout`, zero or tiny (`arg`).
    Wait(u8, u8),
    /// Register a done-callback (one that panics if `panics`).
    OnComplete {
        /// The handle.
        h: u8,
        /// The callback panics after recording its result.
        panics: bool,
    },
    /// `take_callback_panics`.
    TakePanics(u8),
    /// `is_complete` / `is_terminated`, against what this handle saw.
    Inspect(u8),
    /// `Completer::complete` with a fresh value.
    Complete,
    /// Drop the completer.
    Abandon,
}

const KINDS: u8 = 12;
const MAX_LOCAL: usize = 6;

/// Decodes an input.
pub fn decode(data: &[u8]) -> common::Script<Op> {
    common::decode(data, |code, input| {
        let arg = input.arg();
        let h = arg & 0x7;
        Some(match code % KINDS {
            0 => Op::Clone(h),
            1 => Op::Drop(h),
            2 => Op::Send(h),
            3 => Op::Recv,
            4 => Op::Poll(h),
            5 => Op::TryGet(h),
            6 => Op::Wait(h, arg >> 3),
            7 => Op::OnComplete {
                h,
                panics: arg & 0x8 != 0,
            },
            8 => Op::TakePanics(h),
            9 => Op::Inspect(h),
            10 => Op::Complete,
            _ => Op::Abandon,
        })
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Obs {
    Value(u32),
    Abandoned,
}

fn obs(r: &Result<Val, Abandoned>) -> Obs {
    match r {
        Ok(v) => Obs::Value(v.id),
        Err(Abandoned) => Obs::Abandoned,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxOutcome {
    Completed(u32),
    Refused(u32),
    Abandoned,
}

/// A handle and what it saw.
struct Local {
    sw: SharedWaitable<Val>,
    /// The waker of the last `Pending` poll (cleared once a poll is `Ready`).
    probe: Option<Arc<WakeProbe>>,
    /// A poll returned `Ready`.
    ready: bool,
}

impl Local {
    fn new(sw: SharedWaitable<Val>) -> Self {
        Local {
            sw,
            probe: None,
            ready: false,
        }
    }
}

#[derive(Default)]
struct Callbacks {
    registered: AtomicUsize,
    ran: AtomicUsize,
    panicking_ran: AtomicUsize,
    panics_taken: AtomicUsize,
}

struct State {
    tx: Mutex<(Option<Completer<Val>>, Option<TxOutcome>)>,
    pool: Mutex<Vec<Local>>,
    seen: Arc<Mutex<Vec<Obs>>>,
    callbacks: Arc<Callbacks>,
    probes: Mutex<Vec<Arc<WakeProbe>>>,
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let script = decode(data);
    let ledger = Ledger::new();
    let hooks = Arc::new(Hooks::default());
    let (c, f) = waitable::<Val>();
    let root = f.on_cancel(hooks.hook()).shared();
    let anchor = (script.setup & 1 == 1).then(|| Local::new(root.clone()));
    let mut starting: Vec<Mutex<Option<SharedWaitable<Val>>>> = (0..script.threads.len())
        .map(|_| Mutex::new(Some(root.clone())))
        .collect();
    drop(root);
    let state = State {
        tx: Mutex::new((Some(c), None)),
        pool: Mutex::new(Vec::new()),
        seen: Arc::new(Mutex::new(Vec::new())),
        callbacks: Arc::new(Callbacks::default()),
        probes: Mutex::new(Vec::new()),
    };

    let locals = common::run_threads(&script.threads, |i, ops| {
        let first = lock(&starting[i]).take().expect("a starting handle");
        let mut locals = vec![Local::new(first)];
        let mut budget = common::MAX_TIMED_WAITS;
        for &op in ops {
            step(&state, &ledger, op, &mut locals, &mut budget);
        }
        locals
    });
    starting.clear();

    let mut all: Vec<Local> = locals.into_iter().flatten().collect();
    all.append(&mut lock(&state.pool));
    all.extend(anchor);
    let callbacks = &state.callbacks;
    let registered = callbacks.registered.load(Ordering::SeqCst);

    // The completer, if no thread used it up.
    let (c, outcome) = {
        let mut tx = lock(&state.tx);
        (tx.0.take(), tx.1)
    };
    let outcome = match c {
        Some(c) => {
            assert!(outcome.is_none());
            let interest = !all.is_empty() || registered > 0;
            assert_eq!(
                c.is_canceled(),
                !interest,
                "shared_mt: is_canceled() with {} handles and {registered} callbacks left",
                all.len()
            );
            if script.setup & 2 != 0 {
                let v = ledger.make();
                let id = v.id;
                match c.complete(v) {
                    Ok(()) => TxOutcome::Completed(id),
                    Err(back) => {
                        assert_eq!(back.id, id);
                        TxOutcome::Refused(id)
                    }
                }
            } else {
                drop(c);
                TxOutcome::Abandoned
            }
        }
        None => outcome.expect("the completer's outcome"),
    };

    // Every handle left sees the result now.
    let mut final_probes = Vec::new();
    for local in &mut all {
        let r = local.sw.try_get();
        let Some(r) = r else {
            panic!("shared_mt: a handle sees no result after the completer went ({outcome:?})")
        };
        lock(&state.seen).push(obs(&r));
        drop(r);
        if !local.ready {
            if let Some(p) = &local.probe {
                assert!(
                    p.wakes() >= 1,
                    "shared_mt: a handle's last Pending poll was never woken ({outcome:?})"
                );
            }
        }
        let (r, probe) = common::poll_fresh(Pin::new(&mut local.sw));
        final_probes.push(probe);
        assert!(
            r.is_ready(),
            "shared_mt: poll Pending after the result arrived"
        );
        local.probe = None;
    }

    let seen = lock(&state.seen).clone();
    let ran = callbacks.ran.load(Ordering::SeqCst);
    let (_, hooks_ran, _) = hooks.counts();
    match outcome {
        TxOutcome::Completed(id) => {
            assert!(
                seen.iter().all(|o| *o == Obs::Value(id)),
                "shared_mt: completed with {id}, handles saw {seen:?}"
            );
            assert_eq!(
                hooks_ran, 0,
                "shared_mt: the cancel hook ran, yet complete() succeeded"
            );
        }
        TxOutcome::Refused(_) => {
            assert!(
                seen.is_empty(),
                "shared_mt: complete() refused after results were seen: {seen:?}"
            );
            assert!(
                all.is_empty(),
                "shared_mt: complete() refused while handles remained"
            );
            assert_eq!(
                registered, 0,
                "shared_mt: complete() refused while callbacks were registered"
            );
            assert_eq!(
                hooks_ran, 1,
                "shared_mt: canceled, but the cancel hook ran {hooks_ran} times"
            );
        }
        TxOutcome::Abandoned => {
            assert!(
                seen.iter().all(|o| *o == Obs::Abandoned),
                "shared_mt: abandoned, handles saw {seen:?}"
            );
            if !seen.is_empty() || !all.is_empty() || registered > 0 {
                assert_eq!(
                    hooks_ran, 0,
                    "shared_mt: the cancel hook ran although the result was still wanted"
                );
            } else {
                assert!(
                    hooks_ran <= 1,
                    "shared_mt: the cancel hook ran {hooks_ran} times"
                );
            }
        }
    }
    assert_eq!(
        ran, registered,
        "shared_mt: {registered} done-callbacks registered, {ran} ran"
    );
    let panicking = callbacks.panicking_ran.load(Ordering::SeqCst);
    let mut taken = callbacks.panics_taken.load(Ordering::SeqCst);
    if let Some(local) = all.first() {
        let rest = local.sw.take_callback_panics();
        assert!(rest
            .iter()
            .all(|p| p.downcast_ref::<ExpectedPanic>().is_some()));
        taken += rest.len();
        assert_eq!(
            taken, panicking,
            "shared_mt: {panicking} callbacks panicked, {taken} payloads kept"
        );
    } else {
        assert!(
            taken <= panicking,
            "shared_mt: more panic payloads than panicking callbacks"
        );
    }

    drop(all);
    hooks.assert_all_dropped("shared_mt cancel hook");
    ledger.assert_all_dropped("shared_mt");
    let mut probes = std::mem::take(&mut *lock(&state.probes));
    probes.extend(final_probes);
    common::assert_released("shared_mt", &probes);
}

fn step(state: &State, ledger: &Arc<Ledger>, op: Op, locals: &mut Vec<Local>, budget: &mut usize) {
    let pick = |locals: &Vec<Local>, h: u8| (!locals.is_empty()).then(|| h as usize % locals.len());
    let see = |r: &Result<Val, Abandoned>| lock(&state.seen).push(obs(r));
    match op {
        Op::Clone(h) => {
            let Some(i) = pick(locals, h) else { return };
            if locals.len() < MAX_LOCAL {
                let sw = locals[i].sw.clone();
                locals.push(Local::new(sw));
            }
        }
        Op::Drop(h) => {
            let Some(i) = pick(locals, h) else { return };
            drop(locals.remove(i));
        }
        Op::Send(h) => {
            let Some(i) = pick(locals, h) else { return };
            let local = locals.remove(i);
            lock(&state.pool).push(local);
        }
        Op::Recv => {
            if locals.len() < MAX_LOCAL {
                let local = lock(&state.pool).pop();
                locals.extend(local);
            }
        }
        Op::Poll(h) => {
            let Some(i) = pick(locals, h) else { return };
            let local = &mut locals[i];
            let (r, probe) = common::poll_fresh(Pin::new(&mut local.sw));
            lock(&state.probes).push(Arc::clone(&probe));
            match r {
                Poll::Ready(r) => {
                    see(&r);
                    local.ready = true;
                    local.probe = None;
                }
                Poll::Pending => {
                    assert!(!local.ready, "shared_mt: poll Pending after Ready");
                    local.probe = Some(probe);
                }
            }
        }
        Op::TryGet(h) => {
            let Some(i) = pick(locals, h) else { return };
            if let Some(r) = locals[i].sw.try_get() {
                see(&r);
            }
        }
        Op::Wait(h, arg) => {
            let Some(i) = pick(locals, h) else { return };
            let timeout = common::timeout(arg, budget);
            match locals[i].sw.wait_timeout(timeout) {
                Ok(v) => see(&Ok(v)),
                Err(WaitError::Abandoned) => see(&Err(Abandoned)),
                Err(WaitError::Timeout) => {}
            }
        }
        Op::OnComplete { h, panics } => {
            let Some(i) = pick(locals, h) else { return };
            let callbacks = Arc::clone(&state.callbacks);
            let seen = Arc::clone(&state.seen);
            callbacks.registered.fetch_add(1, Ordering::SeqCst);
            locals[i].sw.on_complete(move |r| {
                lock(&seen).push(obs(&r));
                drop(r);
                callbacks.ran.fetch_add(1, Ordering::SeqCst);
                if panics {
                    callbacks.panicking_ran.fetch_add(1, Ordering::SeqCst);
                    std::panic::panic_any(ExpectedPanic);
                }
            });
        }
        Op::TakePanics(h) => {
            let Some(i) = pick(locals, h) else { return };
            let taken = locals[i].sw.take_callback_panics();
            assert!(
                taken
                    .iter()
                    .all(|p| p.downcast_ref::<ExpectedPanic>().is_some()),
                "shared_mt: a kept panic payload is not ours"
            );
            state
                .callbacks
                .panics_taken
                .fetch_add(taken.len(), Ordering::SeqCst);
        }
        Op::Inspect(h) => {
            let Some(i) = pick(locals, h) else { return };
            let local = &locals[i];
            assert_eq!(
                local.sw.is_terminated(),
                local.ready,
                "shared_mt: is_terminated disagrees with the handle's polls"
            );
            if local.sw.is_complete() {
                assert!(
                    local.sw.try_get().is_some(),
                    "shared_mt: is_complete, but try_get is None"
                );
            }
        }
        Op::Complete => {
            let Some(c) = lock(&state.tx).0.take() else {
                return;
            };
            let v = ledger.make();
            let id = v.id;
            let outcome = match c.complete(v) {
                Ok(()) => TxOutcome::Completed(id),
                Err(back) => {
                    assert_eq!(back.id, id, "shared_mt: complete handed back another value");
                    TxOutcome::Refused(id)
                }
            };
            lock(&state.tx).1 = Some(outcome);
        }
        Op::Abandon => {
            let Some(c) = lock(&state.tx).0.take() else {
                return;
            };
            drop(c);
            lock(&state.tx).1 = Some(TxOutcome::Abandoned);
        }
    }
}
