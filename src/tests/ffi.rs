//! Unit tests of the FFI kit ([`Registry`], [`Completions`], [`Feeders`], [`Setters`],
//! [`CompletionHandle`], the trampolines, [`catch_callback`], [`callback_scope`]).
//!
//! - A matrix: every misbehaviour of an SDK (complete, fail, abandon, duplicate, late
//!   after `abandon_all`, forged, stale, null `user_data`) against every caller (awaits
//!   the future, drops it, waits blocking). Each checks the result the caller gets, what
//!   each SDK call returns, the exact `refused()` and `outstanding()` counts, and that
//!   every value is dropped exactly once.
//! - The table: `with` / `release` / `take` semantics (a borrow outlives a release, the
//!   value dropped exactly once by the last borrower, also when it unwinds), exact
//!   counters, `try_insert`, a dropped registry abandons its futures, many handles across
//!   segment boundaries, generations of a slot reused many times.
//! - The trampolines (`crate::trampoline!`, as `anywait::trampoline!` downstream) for all
//!   four shapes, with the payload's source buffer overwritten and freed right after the
//!   call.
//! - `catch_callback` (`Deliver`, `LogAndDrop`; `Abort` aborts the process and is not
//!   tested here) and `callback_scope` (checked waits report `WouldDeadlock`, unchecked
//!   ones unwind with it).
//!
//! Nothing is ordered with sleeps: only joins, channels and the primitives themselves.
//! Miri-clean with `-Zmiri-strict-provenance`
//! (`cargo +nightly miri test --lib ffi`); loops shrink under `cfg!(miri)`.

use std::collections::HashSet;
use std::ffi::c_void;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

use super::support::{count, counter, Val};
use crate::ffi::{
    callback_scope, catch_callback, complete_code, complete_payload, end_stream, in_callback_scope,
    push_payload, CallbackError, CompletionHandle, Completions, FeedError, Feeders, HandleError,
    PanicPolicy, Registry, Setters,
};
use crate::panics::HookKind;
use crate::{callback_stream, AsyncEvent, EventSetter, StreamError, StreamPolicy, WouldDeadlock};

/// Half the bits of a handle: the slot index (plus one) below, the generation above.
const HALF: u32 = usize::BITS / 2;
const LOW: usize = (1 << HALF) - 1;

/// Scales a loop count down under miri.
const fn scaled(native: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        native
    }
}

/// How many times the stale tests reuse one slot.
const REUSES: usize = scaled(1000, 20);

fn index_of(handle: CompletionHandle) -> usize {
    (handle.into_raw() & LOW) - 1
}

fn generation_of(handle: CompletionHandle) -> usize {
    handle.into_raw() >> HALF
}

/// Drop-counted values, and how many were made: at the end of a test every value made
/// must have been dropped exactly once.
#[derive(Clone)]
struct Values {
    drops: Arc<AtomicUsize>,
    made: Arc<AtomicUsize>,
}

impl Values {
    fn new() -> Self {
        Values {
            drops: counter(),
            made: counter(),
        }
    }

    fn make(&self, id: u32) -> Val {
        self.made.fetch_add(1, Ordering::SeqCst);
        Val::counted_by(id, &self.drops)
    }

    fn dropped(&self) -> usize {
        count(&self.drops)
    }

    fn assert_all_dropped_once(&self) {
        assert_eq!(
            count(&self.drops),
            count(&self.made),
            "every value made is dropped exactly once"
        );
    }
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    const fn copy<T: Copy + Send + Sync>() {}
    send_sync::<Completions<Vec<u8>>>();
    send_sync::<Feeders<Vec<u8>, CallbackError>>();
    send_sync::<Setters>();
    copy::<CompletionHandle>();
};

// ---------------------------------------------------------------------------------------
// SDK action x caller action
// ---------------------------------------------------------------------------------------

/// What the SDK does with the handle it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sdk {
    /// Completes once with `Ok`.
    Complete,
    /// Completes once with an error code.
    Fail,
    /// Refuses to start: the binding abandons the handle.
    Abandon,
    /// Completes twice.
    Duplicate,
    /// The binding calls `abandon_all` (shutdown), then the SDK completes late.
    LateAfterAbandonAll,
    /// Calls back with handles this registry never issued, then completes for real.
    Forged,
    /// Calls back with every old handle of a slot reused [`REUSES`] times (the caller's
    /// operation now lives in it), then completes for real.
    Stale,
    /// Calls back with a null `user_data`, then completes for real.
    NullUserData,
}

/// What the caller does with the operation's future.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    /// Awaits it on an executor while the SDK runs on its thread.
    Awaited,
    /// Drops it before the SDK calls back (cancels the operation).
    Dropped,
    /// Waits for it blocking while the SDK runs on its thread.
    Waited,
}

/// Runs the SDK's side: returns what each call returned, in order.
fn run_sdk(
    sdk: Sdk,
    ops: &Completions<Val>,
    handle: CompletionHandle,
    old: &[CompletionHandle],
    values: &Values,
) -> Vec<Result<(), HandleError>> {
    let real = |calls: &mut Vec<_>| calls.push(ops.complete(handle, Ok(values.make(1))));
    let mut calls = Vec::new();
    match sdk {
        Sdk::Complete => real(&mut calls),
        Sdk::Fail => calls.push(ops.complete(handle, Err(CallbackError::Failed(-5)))),
        Sdk::Abandon => calls.push(ops.abandon(handle)),
        Sdk::Duplicate => {
            real(&mut calls);
            calls.push(ops.complete(handle, Ok(values.make(2))));
        }
        Sdk::LateAfterAbandonAll => {
            assert_eq!(ops.abandon_all(), 1, "the completer is held, future or not");
            calls.push(ops.complete(handle, Ok(values.make(2))));
        }
        Sdk::Forged => {
            for raw in forged(handle) {
                let forged = CompletionHandle::from_raw(raw);
                calls.push(ops.complete(forged, Ok(values.make(9))));
            }
            real(&mut calls);
        }
        Sdk::Stale => {
            for &old in old {
                calls.push(ops.complete(old, Ok(values.make(9))));
            }
            real(&mut calls);
        }
        Sdk::NullUserData => {
            let null = CompletionHandle::from_user_data(std::ptr::null_mut());
            calls.push(ops.complete(null, Ok(values.make(9))));
            real(&mut calls);
        }
    }
    calls
}

/// Handles a registry holding only `live` (one slot, index 0) never issued: index 0
/// encoded as 0 ("no user data"), a generation with no index, indices past the slots
/// handed out (inside and outside the first segment), the largest index.
fn forged(live: CompletionHandle) -> Vec<usize> {
    assert_eq!(index_of(live), 0);
    vec![0, 1 << HALF, 2, 3, 4, 100, LOW, usize::MAX]
}

/// Reuses one slot `REUSES` times and returns its old handles (all completed); checks
/// each reuse is the same slot under the next generation.
fn reuse_one_slot(ops: &Completions<Val>, values: &Values) -> Vec<CompletionHandle> {
    let mut old = Vec::with_capacity(REUSES);
    for round in 0..REUSES {
        let (handle, future) = ops.issue();
        assert_eq!(index_of(handle), 0, "the freed slot is reused");
        assert_eq!(
            generation_of(handle),
            round,
            "each reuse is the next generation"
        );
        ops.complete(handle, Ok(values.make(0))).unwrap();
        assert_eq!(future.wait_blocking().map(|v| v.id), Ok(0));
        old.push(handle);
    }
    old
}

fn scenario(sdk: Sdk, caller: Caller) {
    let values = Values::new();
    let ops = Arc::new(Completions::<Val>::new());
    let old = if sdk == Sdk::Stale {
        reuse_one_slot(&ops, &values)
    } else {
        Vec::new()
    };
    let (handle, future) = ops.issue();
    assert_eq!(index_of(handle), 0);
    assert_eq!(generation_of(handle), old.len());
    assert_eq!(ops.outstanding(), 1);
    let future = match caller {
        Caller::Dropped => {
            drop(future);
            assert_eq!(ops.is_canceled(handle), Ok(true));
            None
        }
        Caller::Awaited | Caller::Waited => {
            assert_eq!(ops.is_canceled(handle), Ok(false));
            Some(future)
        }
    };

    let sdk_thread = {
        let ops = ops.clone();
        let old = old.clone();
        let values = values.clone();
        thread::spawn(move || run_sdk(sdk, &ops, handle, &old, &values))
    };
    let got = future.map(|future| match caller {
        Caller::Awaited => futures::executor::block_on(future),
        _ => future.wait_blocking(),
    });
    let calls = sdk_thread.join().unwrap();
    let got = got.map(|result| result.map(|val| val.id));

    // What the one real delivery returns: refused as Canceled when nobody waits.
    let delivered = match caller {
        Caller::Dropped => Err(HandleError::Canceled),
        Caller::Awaited | Caller::Waited => Ok(()),
    };
    let then_real = |refusal: HandleError, n: usize| {
        let mut calls = vec![Err(refusal); n];
        calls.push(delivered);
        calls
    };
    let (expected_calls, expected_result) = match sdk {
        Sdk::Complete => (vec![delivered], Ok(1)),
        Sdk::Fail => (vec![delivered], Err(CallbackError::Failed(-5))),
        // Abandoning drops the completer: no one is told whether a future listened.
        Sdk::Abandon => (vec![Ok(())], Err(CallbackError::Abandoned)),
        Sdk::Duplicate => (vec![delivered, Err(HandleError::Duplicate)], Ok(1)),
        Sdk::LateAfterAbandonAll => (
            vec![Err(HandleError::Abandoned)],
            Err(CallbackError::Abandoned),
        ),
        Sdk::Forged => (then_real(HandleError::Unknown, forged(handle).len()), Ok(1)),
        // Every old generation differs from the live one: Stale (the one just before it
        // too, since its slot is occupied again).
        Sdk::Stale => (then_real(HandleError::Stale, REUSES), Ok(1)),
        Sdk::NullUserData => (then_real(HandleError::Unknown, 1), Ok(1)),
    };
    assert_eq!(
        calls, expected_calls,
        "{sdk:?} x {caller:?}: the SDK's calls"
    );
    match caller {
        Caller::Dropped => assert_eq!(got, None),
        _ => assert_eq!(
            got,
            Some(expected_result),
            "{sdk:?} x {caller:?}: the caller"
        ),
    }
    // Every refusal counts, a completion of a canceled operation included.
    let refusals = calls.iter().filter(|call| call.is_err()).count();
    assert_eq!(ops.refused(), refusals, "{sdk:?} x {caller:?}: refused()");
    assert_eq!(ops.outstanding(), 0);

    // Whatever happened, the handle is spent: a later callback is refused, and says why.
    let late = ops.complete(handle, Ok(values.make(3)));
    // (`abandon` and `abandon_all` mark their handles `Abandoned`: a callback after them
    // is late, not a duplicate.)
    let why = match sdk {
        Sdk::LateAfterAbandonAll | Sdk::Abandon => HandleError::Abandoned,
        _ => HandleError::Duplicate,
    };
    assert_eq!(late, Err(why));
    assert_eq!(ops.is_canceled(handle), Err(why));
    assert_eq!(ops.refused(), refusals + 2);
    values.assert_all_dropped_once();
}

macro_rules! matrix {
    ($($name:ident: $sdk:ident x $caller:ident;)*) => {
        $(
            #[test]
            fn $name() {
                scenario(Sdk::$sdk, Caller::$caller);
            }
        )*
    };
}

matrix! {
    complete_x_awaited: Complete x Awaited;
    complete_x_dropped: Complete x Dropped;
    complete_x_waited: Complete x Waited;
    fail_x_awaited: Fail x Awaited;
    fail_x_dropped: Fail x Dropped;
    fail_x_waited: Fail x Waited;
    abandon_x_awaited: Abandon x Awaited;
    abandon_x_dropped: Abandon x Dropped;
    abandon_x_waited: Abandon x Waited;
    duplicate_x_awaited: Duplicate x Awaited;
    duplicate_x_dropped: Duplicate x Dropped;
    duplicate_x_waited: Duplicate x Waited;
    late_after_abandon_all_x_awaited: LateAfterAbandonAll x Awaited;
    late_after_abandon_all_x_dropped: LateAfterAbandonAll x Dropped;
    late_after_abandon_all_x_waited: LateAfterAbandonAll x Waited;
    forged_x_awaited: Forged x Awaited;
    forged_x_dropped: Forged x Dropped;
    forged_x_waited: Forged x Waited;
    stale_x_awaited: Stale x Awaited;
    stale_x_dropped: Stale x Dropped;
    stale_x_waited: Stale x Waited;
    null_user_data_x_awaited: NullUserData x Awaited;
    null_user_data_x_dropped: NullUserData x Dropped;
    null_user_data_x_waited: NullUserData x Waited;
}

// ---------------------------------------------------------------------------------------
// Handles and generations
// ---------------------------------------------------------------------------------------

#[test]
fn handle_errors_say_what_went_wrong() {
    let errors = [
        (HandleError::Unknown, "never issued"),
        (HandleError::Duplicate, "duplicate"),
        (HandleError::Released, "released"),
        (HandleError::Abandoned, "abandoned"),
        (HandleError::Stale, "stale"),
        (HandleError::InUse, "in use"),
        (HandleError::Canceled, "canceled"),
        (HandleError::Full, "no free handle"),
    ];
    let shown: HashSet<String> = errors
        .iter()
        .map(|(error, says)| {
            let shown = error.to_string();
            assert!(shown.contains(says), "{error:?}: {shown}");
            shown
        })
        .collect();
    assert_eq!(shown.len(), errors.len(), "two errors read alike");
    let feed = FeedError::<u8>::Handle(HandleError::Stale);
    assert_eq!(feed.to_string(), HandleError::Stale.to_string());
    assert_eq!(format!("{feed:?}"), "Handle(Stale)");
    let (feeder, stream) = callback_stream::<u8, ()>(StreamPolicy::Unbounded);
    drop(stream);
    let rejected = FeedError::Rejected(feeder.push(7).unwrap_err());
    assert!(rejected.to_string().contains("rejected"), "{rejected}");
    assert!(
        format!("{rejected:?}").starts_with("Rejected("),
        "{rejected:?}"
    );
    for (error, says) in [
        (CallbackError::Failed(-3), "error code -3"),
        (CallbackError::Abandoned, "abandoned"),
        (
            CallbackError::Panicked(Some("boom".into())),
            "panicked: boom",
        ),
        (CallbackError::Panicked(None), "panicked"),
        (CallbackError::TimedOut, "deadline passed"),
    ] {
        assert!(error.to_string().contains(says), "{error:?}: {error}");
    }
}

#[test]
fn handles_are_never_null_and_round_trip() {
    let registry = Registry::new();
    let handle = registry.insert(1u8).unwrap();
    assert_ne!(handle.into_raw(), 0);
    let user_data: *mut c_void = handle.into_user_data();
    assert!(!user_data.is_null());
    assert_eq!(CompletionHandle::from_user_data(user_data), handle);
    assert_eq!(CompletionHandle::from_raw(handle.into_raw()), handle);
    assert_eq!(
        format!("{handle:?}"),
        format!("CompletionHandle({:#x})", handle.into_raw())
    );
}

/// One slot reused many times: each reuse is the same index under the next generation,
/// and every old handle — whatever it asks — is refused without touching the live value:
/// the one just before the live generation as `Stale` while the slot is occupied, as
/// `Duplicate` (its value was taken) while it is free; older ones always as `Stale`.
#[test]
fn stale_handles_never_reach_a_reused_slot() {
    let values = Values::new();
    let registry = Registry::<Val>::new();
    let mut old: Vec<CompletionHandle> = Vec::new();
    for round in 0..REUSES {
        let handle = registry.insert(values.make(round as u32)).unwrap();
        assert_eq!(index_of(handle), 0);
        assert_eq!(generation_of(handle), round);
        if let Some(&previous) = old.last() {
            assert_eq!(registry.with(previous, |v| v.id), Err(HandleError::Stale));
            assert_eq!(
                registry.take(previous).map(|v| v.id),
                Err(HandleError::Stale)
            );
            assert_eq!(registry.release(previous), Err(HandleError::Stale));
        }
        // A sample of older ones (all of them would be quadratic).
        for &older in old.iter().rev().skip(1).step_by(97) {
            assert_eq!(registry.take(older).map(|v| v.id), Err(HandleError::Stale));
        }
        assert_eq!(registry.with(handle, |v| v.id), Ok(round as u32));
        assert_eq!(registry.take(handle).map(|v| v.id), Ok(round as u32));
        // Freed, not yet reused: the handle just taken reads as a duplicate.
        assert_eq!(
            registry.take(handle).map(|v| v.id),
            Err(HandleError::Duplicate)
        );
        old.push(handle);
    }
    assert_eq!(registry.outstanding(), 0);
    values.assert_all_dropped_once();
}

/// A handle whose generation is ahead of its slot's (forged, or from another registry)
/// is refused (as `Stale`: a generation mismatch), never reaches the live value.
#[test]
fn a_handle_from_the_future_is_refused() {
    let registry = Registry::new();
    let handle = registry.insert(5u8).unwrap();
    for ahead in [1, 2, 7] {
        let forged = CompletionHandle::from_raw(handle.into_raw() + (ahead << HALF));
        assert_eq!(registry.take(forged), Err(HandleError::Stale));
        assert_eq!(registry.with(forged, |_| ()), Err(HandleError::Stale));
    }
    assert_eq!(registry.take(handle), Ok(5));
}

// ---------------------------------------------------------------------------------------
// with / release / take
// ---------------------------------------------------------------------------------------

#[test]
fn with_then_release_then_released() {
    let values = Values::new();
    let registry = Registry::new();
    let handle = registry.insert(values.make(7)).unwrap();
    assert_eq!(registry.with(handle, |v| v.id), Ok(7));
    assert_eq!(registry.with(handle, |v| v.id * 2), Ok(14));
    assert_eq!(values.dropped(), 0);
    assert_eq!(registry.release(handle), Ok(()));
    assert_eq!(
        values.dropped(),
        1,
        "release drops the value at once when unborrowed"
    );
    assert_eq!(registry.outstanding(), 0);
    assert_eq!(registry.with(handle, |v| v.id), Err(HandleError::Released));
    assert_eq!(
        registry.take(handle).map(|v| v.id),
        Err(HandleError::Released)
    );
    assert_eq!(registry.release(handle), Err(HandleError::Released));
    assert_eq!(registry.refused(), 3);
    assert_eq!(values.dropped(), 1);
    values.assert_all_dropped_once();
}

/// A release from inside a borrow (a final callback that fires while a repeated one is
/// still running) waits for no one and drops nothing: the value is dropped when the last
/// borrower leaves, exactly once. Meanwhile no new borrower gets in.
#[test]
fn release_inside_a_borrow_drops_when_the_borrow_ends() {
    let values = Values::new();
    let registry = Registry::new();
    let handle = registry.insert(values.make(1)).unwrap();
    let id = registry.with(handle, |outer| {
        let inner = registry.with(handle, |inner| {
            assert_eq!(registry.take(handle).map(|v| v.id), Err(HandleError::InUse));
            assert_eq!(registry.release(handle), Ok(()));
            assert_eq!(registry.release(handle), Err(HandleError::Released));
            assert_eq!(registry.with(handle, |_| ()), Err(HandleError::Released));
            inner.id
        });
        assert_eq!(inner, Ok(1));
        assert_eq!(values.dropped(), 0, "dropped under a borrower");
        assert_eq!(registry.outstanding(), 1);
        outer.id
    });
    assert_eq!(id, Ok(1));
    assert_eq!(values.dropped(), 1, "the last borrower out drops it");
    assert_eq!(registry.outstanding(), 0);
    assert_eq!(registry.with(handle, |_| ()), Err(HandleError::Released));
    assert_eq!(registry.refused(), 4);
    values.assert_all_dropped_once();
}

/// The last borrower drops the value even when its closure unwinds.
#[test]
fn a_borrow_that_unwinds_still_drops_a_released_value() {
    let values = Values::new();
    let registry = Registry::new();
    let handle = registry.insert(values.make(1)).unwrap();
    let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
        registry.with(handle, |_| {
            registry.release(handle).unwrap();
            panic!("callback bug");
        })
    }));
    assert!(unwound.is_err());
    assert_eq!(values.dropped(), 1);
    assert_eq!(registry.outstanding(), 0);
    // And a borrow that unwinds without a release leaves the value usable.
    let handle = registry.insert(values.make(2)).unwrap();
    let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
        registry.with(handle, |_| panic!("callback bug"))
    }));
    assert!(unwound.is_err());
    assert_eq!(registry.take(handle).map(|v| v.id), Ok(2));
    values.assert_all_dropped_once();
}

/// A borrow on another thread outlives a release from this one: the value is dropped by
/// the borrower when it returns, exactly once; after the release no one borrows.
#[test]
fn release_from_another_thread_waits_for_the_borrower() {
    for _ in 0..scaled(50, 3) {
        let values = Values::new();
        let registry = Arc::new(Registry::new());
        let handle = registry.insert(values.make(1)).unwrap();
        let (entered, borrowing) = mpsc::channel();
        let (leave, may_leave) = mpsc::channel::<()>();
        let borrower = {
            let registry = registry.clone();
            let values = values.clone();
            thread::spawn(move || {
                registry.with(handle, |v| {
                    entered.send(()).unwrap();
                    may_leave.recv().unwrap();
                    assert_eq!(values.dropped(), 0, "dropped under a borrower");
                    v.id
                })
            })
        };
        borrowing.recv().unwrap();
        assert_eq!(registry.release(handle), Ok(()));
        assert_eq!(registry.with(handle, |_| ()), Err(HandleError::Released));
        assert_eq!(values.dropped(), 0);
        leave.send(()).unwrap();
        assert_eq!(borrower.join().unwrap(), Ok(1));
        assert_eq!(values.dropped(), 1);
        assert_eq!(registry.outstanding(), 0);
        values.assert_all_dropped_once();
    }
}

/// `abandon_all` while a value is borrowed counts it and leaves its drop to the borrower;
/// the handle then reads as released.
#[test]
fn abandon_all_while_borrowed() {
    let values = Values::new();
    let registry = Registry::new();
    let borrowed = registry.insert(values.make(1)).unwrap();
    let idle = registry.insert(values.make(2)).unwrap();
    registry
        .with(borrowed, |_| {
            assert_eq!(registry.abandon_all(), 2);
            assert_eq!(
                values.dropped(),
                1,
                "only the idle value is dropped at once"
            );
            assert_eq!(registry.abandon_all(), 0);
        })
        .unwrap();
    assert_eq!(values.dropped(), 2);
    assert_eq!(registry.with(idle, |_| ()), Err(HandleError::Abandoned));
    assert_eq!(registry.with(borrowed, |_| ()), Err(HandleError::Released));
    assert_eq!(registry.outstanding(), 0);
    values.assert_all_dropped_once();
}

/// A use of a handle *while* `abandon_all` drops its value — here from the operation's
/// done-callback, which the completer's drop runs on the abandoning thread — must read as
/// `Abandoned`, as it does a moment later. (The table marks the slot `TAKEN` while it drops
/// the value and frees it only afterwards, and a lookup of a `TAKEN` slot of the same
/// generation reports `Duplicate`: a late callback after shutdown is reported as a
/// duplicate callback. The loom models `complete_vs_abandon_all` and `set_vs_abandon_all`
/// in `tests/loom_ffi.rs` hit the same window from another thread.)
#[test]

fn a_use_while_abandon_all_drops_the_value_reads_as_abandoned() {
    let ops = Arc::new(Completions::<u8>::new());
    let (handle, future) = ops.issue();
    let (seen, sees) = mpsc::channel();
    let registry = ops.clone();
    future.on_complete(move |result| {
        assert_eq!(result, Err(CallbackError::Abandoned));
        // The SDK's late callback, arriving while the shutdown is in progress.
        seen.send(registry.complete(handle, Ok(1))).unwrap();
    });
    assert_eq!(ops.abandon_all(), 1);
    assert_eq!(sees.recv().unwrap(), Err(HandleError::Abandoned));
    assert_eq!(ops.complete(handle, Ok(2)), Err(HandleError::Abandoned));
}

/// The same window for `release`: a value whose drop looks its own handle up (a feeder
/// whose close reaches back into the registry, say) must find it `Released`, not
/// `Duplicate`.
#[test]

fn a_use_while_release_drops_the_value_reads_as_released() {
    type Hook = Box<dyn FnOnce() + Send + Sync>;
    /// Runs its hook when dropped.
    struct OnDrop(Option<Hook>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            if let Some(hook) = self.0.take() {
                hook();
            }
        }
    }
    let registry = Arc::new(Registry::<OnDrop>::new());
    let (handle_tx, handle_rx) = mpsc::channel::<CompletionHandle>();
    let (seen, sees) = mpsc::channel();
    let weak = Arc::downgrade(&registry);
    let handle_rx = std::sync::Mutex::new(handle_rx);
    let handle = registry
        .insert(OnDrop(Some(Box::new(move || {
            let handle = handle_rx.lock().unwrap().recv().unwrap();
            let registry = weak.upgrade().unwrap();
            seen.send(registry.with(handle, |_| ())).unwrap();
        }))))
        .unwrap();
    handle_tx.send(handle).unwrap();
    registry.release(handle).unwrap();
    assert_eq!(sees.recv().unwrap(), Err(HandleError::Released));
    assert_eq!(registry.with(handle, |_| ()), Err(HandleError::Released));
}

// ---------------------------------------------------------------------------------------
// Counters, try_insert, drop
// ---------------------------------------------------------------------------------------

#[test]
fn outstanding_and_refused_are_exact() {
    let ops = Completions::<u32>::new();
    assert_eq!((ops.outstanding(), ops.refused()), (0, 0));
    let (a, fa) = ops.issue();
    let (b, fb) = ops.issue();
    let (c, fc) = ops.issue();
    assert_eq!(ops.outstanding(), 3);
    ops.complete(a, Ok(1)).unwrap();
    assert_eq!((ops.outstanding(), ops.refused()), (2, 0));
    assert_eq!(ops.complete(a, Ok(1)), Err(HandleError::Duplicate));
    assert_eq!(ops.abandon(a), Err(HandleError::Duplicate));
    assert_eq!(ops.is_canceled(a), Err(HandleError::Duplicate));
    assert_eq!((ops.outstanding(), ops.refused()), (2, 3));
    drop(fb);
    // Delivered to nobody: the handle is spent, and the late completion is counted.
    assert_eq!(ops.complete(b, Ok(2)), Err(HandleError::Canceled));
    assert_eq!((ops.outstanding(), ops.refused()), (1, 4));
    let forged = CompletionHandle::from_raw(12345);
    assert_eq!(ops.complete(forged, Ok(0)), Err(HandleError::Unknown));
    assert_eq!((ops.outstanding(), ops.refused()), (1, 5));
    assert_eq!(ops.abandon_all(), 1);
    assert_eq!((ops.outstanding(), ops.refused()), (0, 5));
    assert_eq!(ops.complete(c, Ok(3)), Err(HandleError::Abandoned));
    assert_eq!((ops.outstanding(), ops.refused()), (0, 6));
    assert_eq!(fa.wait_blocking(), Ok(1));
    assert_eq!(fc.wait_blocking(), Err(CallbackError::Abandoned));
    assert_eq!(
        format!("{ops:?}"),
        "Registry { outstanding: 0, refused: 6 }"
    );
}

/// `try_insert` stores the value (and would give it back, not drop it, when every index
/// a handle can carry is taken: 2^32 - 1 live values on 64-bit, out of a test's reach).
#[test]
fn try_insert_stores_the_value() {
    let values = Values::new();
    let registry = Registry::default();
    let handle = registry
        .try_insert(values.make(4))
        .map_err(|v| v.id)
        .unwrap();
    assert_eq!(registry.outstanding(), 1);
    assert_eq!(values.dropped(), 0);
    let back = registry.take(handle).unwrap();
    assert_eq!(back.id, 4);
    assert_eq!(
        values.dropped(),
        0,
        "take moves the value out, does not drop it"
    );
    drop(back);
    let handle = registry.insert(values.make(5)).unwrap();
    assert_eq!(registry.take(handle).map(|v| v.id), Ok(5));
    values.assert_all_dropped_once();
}

/// Dropping a registry drops every value it holds (each outstanding future resolves as
/// abandoned) and nothing it no longer holds.
#[test]
fn dropping_the_registry_abandons_every_outstanding_future() {
    let values = Values::new();
    let ops = Completions::<Val>::new();
    let (done, done_future) = ops.issue();
    let (canceled, canceled_future) = ops.issue();
    let pending: Vec<_> = (0..scaled(10, 3)).map(|_| ops.issue().1).collect();
    ops.complete(done, Ok(values.make(1))).unwrap();
    drop(canceled_future);
    assert_eq!(ops.is_canceled(canceled), Ok(true));
    assert_eq!(ops.outstanding(), 1 + pending.len());
    drop(ops);
    assert_eq!(done_future.wait_blocking().map(|v| v.id), Ok(1));
    for future in pending {
        assert_eq!(
            future.wait_blocking().map(|v| v.id),
            Err(CallbackError::Abandoned)
        );
    }
    values.assert_all_dropped_once();

    // Plain values: each one held is dropped exactly once, taken ones not again.
    let values = Values::new();
    let registry = Registry::new();
    let handles: Vec<_> = (0..6)
        .map(|id| registry.insert(values.make(id)).unwrap())
        .collect();
    let taken = registry.take(handles[0]).unwrap();
    registry.release(handles[1]).unwrap();
    assert_eq!(values.dropped(), 1);
    drop(registry);
    assert_eq!(values.dropped(), 5);
    drop(taken);
    values.assert_all_dropped_once();
}

// ---------------------------------------------------------------------------------------
// Many handles
// ---------------------------------------------------------------------------------------

/// Many live operations across segment boundaries (segments of 4, 8, 16, ... slots): all
/// handles distinct, all completable, each future gets its own value; a second round
/// reuses every freed slot (no growth) under the next generation.
#[test]
fn many_handles_across_segments() {
    let n = scaled(10_000, 130);
    let ops = Completions::<usize>::new();
    let issued: Vec<_> = (0..n).map(|_| ops.issue()).collect();
    let raws: HashSet<usize> = issued.iter().map(|(h, _)| h.into_raw()).collect();
    assert_eq!(raws.len(), n, "handles are distinct");
    let indices: HashSet<usize> = issued.iter().map(|(h, _)| index_of(*h)).collect();
    assert_eq!(
        indices,
        (0..n).collect::<HashSet<_>>(),
        "fresh slots are handed out densely"
    );
    assert_eq!(ops.outstanding(), n);
    // Complete in an order unlike the insertion order: odd ones first, then even ones
    // backwards.
    let order = (0..n)
        .filter(|i| i % 2 == 1)
        .chain((0..n).filter(|i| i % 2 == 0).rev());
    for i in order {
        ops.complete(issued[i].0, Ok(i)).unwrap();
    }
    assert_eq!(ops.outstanding(), 0);
    for (i, (_, future)) in issued.into_iter().enumerate() {
        assert_eq!(future.wait_blocking(), Ok(i));
    }

    let again: Vec<_> = (0..n).map(|_| ops.issue()).collect();
    for (handle, _) in &again {
        assert!(
            index_of(*handle) < n,
            "a freed slot is reused before the table grows"
        );
        assert_eq!(generation_of(*handle), 1);
        assert!(!raws.contains(&handle.into_raw()));
    }
    let indices: HashSet<usize> = again.iter().map(|(h, _)| index_of(*h)).collect();
    assert_eq!(indices.len(), n, "no slot handed out twice");
    for (i, (handle, future)) in again.into_iter().enumerate() {
        ops.complete(handle, Ok(i)).unwrap();
        assert_eq!(future.wait_blocking(), Ok(i));
    }
    assert_eq!(ops.refused(), 0);
}

/// Threads issue and complete concurrently: every handle live at one time is distinct and
/// every operation gets its own value.
#[test]
fn concurrent_issue_and_complete() {
    let per_thread = scaled(2_000, 20);
    let ops = Arc::new(Completions::<(usize, usize)>::new());
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let ops = ops.clone();
            thread::spawn(move || {
                let mut live = Vec::new();
                for i in 0..per_thread {
                    live.push(ops.issue());
                    if i % 3 == 2 {
                        for (j, (handle, future)) in live.drain(..).enumerate() {
                            ops.complete(handle, Ok((t, j))).unwrap();
                            assert_eq!(future.wait_blocking(), Ok((t, j)));
                        }
                    }
                }
                for (j, (handle, future)) in live.into_iter().enumerate() {
                    ops.complete(handle, Ok((t, j))).unwrap();
                    assert_eq!(future.wait_blocking(), Ok((t, j)));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(ops.outstanding(), 0);
    assert_eq!(ops.refused(), 0);
}

// ---------------------------------------------------------------------------------------
// Feeders and Setters
// ---------------------------------------------------------------------------------------

#[test]
fn feeders_push_finish_and_release() {
    let values = Values::new();
    let feeders = Feeders::<Val, ()>::new();
    let (feeder, mut stream) = callback_stream::<Val, ()>(StreamPolicy::Unbounded);
    let handle = feeders.insert(feeder).unwrap();
    feeders.push(handle, values.make(1)).unwrap();
    feeders.push(handle, values.make(2)).unwrap();
    assert_eq!(feeders.finish(handle), Ok(true));
    assert!(matches!(
        feeders.push(handle, values.make(3)),
        Err(FeedError::Handle(HandleError::Duplicate))
    ));
    assert_eq!(feeders.finish(handle), Err(HandleError::Duplicate));
    let ids: Vec<_> = stream
        .blocking_iter()
        .map(|item| item.unwrap().id)
        .collect();
    assert_eq!(ids, [1, 2]);

    // Released without a final callback: the stream ends as abandoned.
    let (feeder, mut stream) = callback_stream::<Val, ()>(StreamPolicy::Unbounded);
    let handle = feeders.insert(feeder).unwrap();
    feeders.push(handle, values.make(4)).unwrap();
    feeders.release(handle).unwrap();
    assert!(matches!(
        feeders.push(handle, values.make(5)),
        Err(FeedError::Handle(HandleError::Released))
    ));
    assert_eq!(
        stream.next_blocking().map(|item| item.map(|v| v.id)),
        Some(Ok(4))
    );
    assert!(matches!(
        stream.next_blocking(),
        Some(Err(StreamError::Abandoned))
    ));
    assert!(stream.next_blocking().is_none());
    assert_eq!(feeders.outstanding(), 0);
    assert_eq!(feeders.refused(), 3);
    drop(stream);
    values.assert_all_dropped_once();
}

#[test]
fn setters_set_until_released() {
    let event = Arc::new(AsyncEvent::new());
    let setters = Setters::new();
    let handle = setters.insert(EventSetter::new(&event)).unwrap();
    assert_eq!(Arc::strong_count(&event), 2);
    for _ in 0..3 {
        setters.set(handle).unwrap();
        assert!(event.is_set());
        event.clear();
    }
    setters.release(handle).unwrap();
    assert_eq!(
        Arc::strong_count(&event),
        1,
        "the setter is dropped at release"
    );
    assert_eq!(setters.set(handle), Err(HandleError::Released));
    assert!(!event.is_set());
}

// ---------------------------------------------------------------------------------------
// Trampolines
// ---------------------------------------------------------------------------------------

static DONE_OPS: Completions<()> = Completions::new();
crate::trampoline! {
    /// `(user_data, error_code)` completing a `Completions<()>` (the trampoline runs its
    /// body in `catch_callback`).
    extern "C" fn on_done(user_data, error_code) completes DONE_OPS;
}

#[test]
fn trampoline_code_shape() {
    let (ok, ok_future) = DONE_OPS.issue();
    let (failed, failed_future) = DONE_OPS.issue();
    let (canceled, canceled_future) = DONE_OPS.issue();
    on_done(ok.into_user_data(), 0);
    on_done(failed.into_user_data(), -2);
    drop(canceled_future);
    on_done(canceled.into_user_data(), 0);
    assert_eq!(ok_future.wait_blocking(), Ok(()));
    assert_eq!(
        failed_future.wait_blocking(),
        Err(CallbackError::Failed(-2))
    );
    // Misbehaving calls: duplicate, late, null, forged. Counted, otherwise ignored.
    on_done(ok.into_user_data(), 0);
    on_done(failed.into_user_data(), 0);
    on_done(std::ptr::null_mut(), 0);
    on_done(CompletionHandle::from_raw(usize::MAX).into_user_data(), 0);
    // The four, and the completion of the canceled operation before them.
    assert_eq!(DONE_OPS.refused(), 5);
    assert_eq!(DONE_OPS.outstanding(), 0);
    // The body, called directly, says what happened.
    let (handle, future) = DONE_OPS.issue();
    assert_eq!(complete_code(&DONE_OPS, handle.into_user_data(), 7), Ok(()));
    assert_eq!(
        complete_code(&DONE_OPS, handle.into_user_data(), 0),
        Err(HandleError::Duplicate)
    );
    assert_eq!(
        complete_code(&DONE_OPS, std::ptr::null_mut(), 0),
        Err(HandleError::Unknown)
    );
    assert_eq!(future.wait_blocking(), Err(CallbackError::Failed(7)));
}

static READS: Completions<Vec<u8>> = Completions::new();
crate::trampoline! {
    extern "C" fn on_read(user_data, error_code, payload, len) completes READS;
}

#[test]
fn trampoline_payload_shape_copies_the_payload() {
    let rounds = scaled(20, 3);
    for round in 0..rounds {
        let (handle, future) = READS.issue();
        let expected: Vec<u8> = (0..=round as u8).map(|b| b.wrapping_mul(31)).collect();
        let mut buffer = expected.clone();
        on_read(handle.into_user_data(), 0, buffer.as_ptr(), buffer.len());
        // The SDK reuses and frees its buffer right after the callback.
        buffer.fill(0xEE);
        drop(buffer);
        assert_eq!(future.wait_blocking(), Ok(expected));
    }
    // An error code ignores the payload; a null payload is an empty one.
    let (failed, failed_future) = READS.issue();
    let junk = [1u8, 2, 3];
    on_read(failed.into_user_data(), -9, junk.as_ptr(), junk.len());
    assert_eq!(
        failed_future.wait_blocking(),
        Err(CallbackError::Failed(-9))
    );
    let (empty, empty_future) = READS.issue();
    on_read(empty.into_user_data(), 0, std::ptr::null(), 42);
    assert_eq!(empty_future.wait_blocking(), Ok(Vec::new()));
    // A duplicate is refused; the body says so.
    let buffer = [4u8; 8];
    // SAFETY: `buffer` is valid for the call.
    let duplicate = unsafe {
        complete_payload(
            &READS,
            empty.into_user_data(),
            0,
            buffer.as_ptr(),
            buffer.len(),
        )
    };
    assert_eq!(duplicate, Err(HandleError::Duplicate));
    on_read(failed.into_user_data(), 0, buffer.as_ptr(), buffer.len());
    assert_eq!(READS.refused(), 2);
    assert_eq!(READS.outstanding(), 0);
}

static BODIES: Feeders<Vec<u8>, CallbackError> = Feeders::new();
crate::trampoline! {
    extern "C" fn on_chunk(user_data, payload, len) feeds BODIES;
}
crate::trampoline! {
    extern "C" fn on_body_done(user_data, error_code) ends BODIES;
}

#[test]
fn trampoline_stream_shapes() {
    // Chunks, copied, then a clean end.
    let (feeder, mut body) = callback_stream(StreamPolicy::Unbounded);
    let user_data = BODIES.insert(feeder).unwrap().into_user_data();
    let mut chunks = Vec::new();
    for round in 0..scaled(10, 3) {
        let mut buffer = vec![round as u8; round + 1];
        on_chunk(user_data, buffer.as_ptr(), buffer.len());
        chunks.push(buffer.clone());
        buffer.fill(0xEE);
        drop(buffer);
    }
    on_chunk(user_data, std::ptr::null(), 5); // an empty chunk
    chunks.push(Vec::new());
    on_body_done(user_data, 0);
    on_chunk(user_data, [9u8].as_ptr(), 1); // after the end: refused, not UB
    on_body_done(user_data, 0); // a second final callback: refused
    let got: Vec<Vec<u8>> = body.blocking_iter().map(Result::unwrap).collect();
    assert_eq!(got, chunks);

    // An error code fails the stream after the chunks pushed so far.
    let (feeder, mut body) = callback_stream(StreamPolicy::Unbounded);
    let user_data = BODIES.insert(feeder).unwrap().into_user_data();
    let chunk = *b"abc";
    // SAFETY: `chunk` is valid for the call.
    unsafe { push_payload(&BODIES, user_data, chunk.as_ptr(), chunk.len()) }.unwrap();
    assert_eq!(end_stream(&BODIES, user_data, 104), Ok(true));
    assert_eq!(
        end_stream(&BODIES, user_data, 0),
        Err(HandleError::Duplicate)
    );
    // SAFETY: as above.
    let late = unsafe { push_payload(&BODIES, user_data, chunk.as_ptr(), chunk.len()) };
    assert!(matches!(
        late,
        Err(FeedError::Handle(HandleError::Duplicate))
    ));
    assert_eq!(body.next_blocking(), Some(Ok(b"abc".to_vec())));
    assert_eq!(
        body.next_blocking(),
        Some(Err(StreamError::Failed(CallbackError::Failed(104))))
    );
    assert_eq!(body.next_blocking(), None);
    assert_eq!(BODIES.refused(), 4);
    assert_eq!(BODIES.outstanding(), 0);
}

// ---------------------------------------------------------------------------------------
// catch_callback
// ---------------------------------------------------------------------------------------

#[test]
fn catch_callback_returns_the_value_inside_a_scope() {
    assert!(!in_callback_scope());
    for policy in [PanicPolicy::Deliver, PanicPolicy::LogAndDrop] {
        let value = catch_callback(policy, || {
            assert!(in_callback_scope());
            42
        });
        assert_eq!(value.unwrap(), 42);
        assert!(!in_callback_scope());
    }
}

#[test]
fn catch_callback_deliver_returns_the_panic() {
    let caught = catch_callback(PanicPolicy::Deliver, || -> u8 { panic!("bug {}", 1) });
    let panic = caught.unwrap_err();
    assert_eq!(panic.hook(), HookKind::FfiCallback);
    assert_eq!(panic.message(), Some("bug 1"));
    assert_eq!(
        CallbackError::from(panic),
        CallbackError::Panicked(Some("bug 1".to_string()))
    );
    assert!(!in_callback_scope(), "the scope is left on unwind");
    // A payload that is not a string arrives intact.
    let caught = catch_callback(PanicPolicy::Deliver, || -> u8 { panic::panic_any(7u32) });
    let panic = caught.unwrap_err();
    assert_eq!(panic.message(), None);
    assert_eq!(panic.into_payload().downcast_ref::<u32>(), Some(&7));
    // Delivered to the caller as CallbackError::Panicked, as a binding does it.
    let ops = Completions::<u8>::new();
    let (handle, future) = ops.issue();
    let outcome = catch_callback(PanicPolicy::Deliver, || -> Result<u8, CallbackError> {
        panic!("in the SDK callback")
    });
    ops.complete(handle, outcome.unwrap_or_else(|panic| Err(panic.into())))
        .unwrap();
    assert_eq!(
        future.wait_blocking(),
        Err(CallbackError::Panicked(Some(
            "in the SDK callback".to_string()
        )))
    );
}

#[test]
fn catch_callback_log_and_drop_reports_and_returns_the_message() {
    let before = crate::panics::contained_panics();
    let caught = catch_callback(PanicPolicy::LogAndDrop, || -> u8 { panic!("dropped bug") });
    let panic = caught.unwrap_err();
    assert_eq!(panic.hook(), HookKind::FfiCallback);
    assert_eq!(panic.message(), Some("dropped bug"));
    assert!(
        crate::panics::contained_panics() > before,
        "the payload went to the panic handler"
    );
    assert!(!in_callback_scope());
}

// ---------------------------------------------------------------------------------------
// callback_scope
// ---------------------------------------------------------------------------------------

#[test]
fn checked_waits_report_would_deadlock_in_a_scope() {
    let ops = Completions::<u8>::new();
    let (handle, mut future) = ops.issue();
    let (feeder, mut stream) = callback_stream::<u8, ()>(StreamPolicy::Unbounded);
    let event = AsyncEvent::new();
    callback_scope(|| {
        assert!(in_callback_scope());
        assert_eq!(future.wait_blocking_checked(), Err(WouldDeadlock));
        assert_eq!(stream.next_blocking_checked(), Err(WouldDeadlock));
        assert_eq!(event.wait_blocking_checked(), Err(WouldDeadlock));
        callback_scope(|| assert_eq!(future.wait_blocking_checked(), Err(WouldDeadlock)));
        assert!(in_callback_scope(), "scopes nest");
    });
    assert!(!in_callback_scope());
    // The future and the stream are intact; a result already there is returned in a scope.
    ops.complete(handle, Ok(3)).unwrap();
    feeder.push(4).unwrap();
    event.set();
    callback_scope(|| {
        assert_eq!(future.wait_blocking_checked(), Ok(Ok(3)));
        assert_eq!(stream.next_blocking_checked(), Ok(Some(Ok(4))));
        assert_eq!(event.wait_blocking_checked(), Ok(()));
    });
}

#[test]
fn wait_blocking_in_a_scope_unwinds_with_would_deadlock() {
    let ops = Completions::<u8>::new();
    let (handle, future) = ops.issue();
    let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
        callback_scope(|| future.wait_blocking())
    }));
    let payload = unwound.unwrap_err();
    assert_eq!(
        payload.downcast::<WouldDeadlock>().ok().as_deref(),
        Some(&WouldDeadlock)
    );
    assert!(!in_callback_scope(), "the scope is left on unwind");
    // The future was consumed by the wait and dropped by the unwind: the operation is
    // canceled, not hung.
    assert_eq!(ops.is_canceled(handle), Ok(true));

    // next_blocking too.
    let (_feeder, mut stream) = callback_stream::<u8, ()>(StreamPolicy::Unbounded);
    let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
        callback_scope(|| stream.next_blocking())
    }));
    assert!(unwound
        .unwrap_err()
        .downcast_ref::<WouldDeadlock>()
        .is_some());

    // Inside catch_callback the unwind is contained and delivered.
    let (_handle, future) = ops.issue();
    let caught = catch_callback(PanicPolicy::Deliver, || future.wait_blocking());
    let payload = caught.unwrap_err().into_payload();
    assert!(payload.downcast_ref::<WouldDeadlock>().is_some());
}
