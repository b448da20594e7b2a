#![cfg(anywait_loom)]
//! loom models of the FFI kit's handle registry (`anywait::ffi::{Registry, Completions,
//! Feeders, Setters}`), through the public API only; underneath is the lock-free handle
//! table of `src/core/handles.rs` (one state word per slot, a tagged Treiber free stack,
//! segments published by compare-exchange).
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg anywait_loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test --release --test loom_ffi
//! ```
//!
//! Every model has at least two threads that genuinely race on one handle (or on the free
//! stack, or on a segment's publication) and asserts something a wrong table would break:
//! a value delivered twice or to the wrong future, a value dropped twice or never, a value
//! dropped while a borrower still uses it, a stale handle that reaches a reused slot, two
//! inserts that get the same slot, or an error that names the wrong cause. Values count
//! their drops with a loom atomic held in a `loom::sync::Arc`, so a value dropped twice or
//! never fails an assertion, and a leaked one (or a leaked losing segment) loom's own leak
//! check.
//!
//! `Registry::new` is a plain `fn` under loom (loom's atomics have no const constructors),
//! so every model creates its registry inside the model, behind a `loom::sync::Arc`.
//!
//! Cost: the execution count and time of each model are printed with `--nocapture`; the
//! notable ones are in the models' comments. The two-thread models on one slot are
//! explored exhaustively (a few dozen executions each, see [`exhaustive`]); the others
//! are bounded by `LOOM_MAX_PREEMPTIONS` (2 in CI). The whole file explores in under ten
//! seconds in `--release` on two shared cores.

mod support;

use std::sync::Arc as StdArc;

use anywait::ffi::{
    CallbackError, Completions, FeedError, Feeders, HandleError, Registry, Setters,
};
use anywait::{callback_stream, AsyncEvent, EventSetter, StreamError, StreamFeeder, StreamPolicy};
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use support::loom_models::{counter, explore, load, Val};

/// Runs a model with `LOOM_MAX_PREEMPTIONS` if set, else with at most `bound` preemptions,
/// and prints how many executions loom explored (`--nocapture` shows it).
fn model_bounded(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(bound);
    }
    explore(builder, f);
}

/// [`model_bounded`] with the CI bound (2 preemptions) unless the environment says else.
fn model(f: impl Fn() + Sync + Send + 'static) {
    model_bounded(2, f);
}

/// Runs a model exhaustively: no preemption bound, whatever `LOOM_MAX_PREEMPTIONS` says.
/// For the two-thread models on one slot, which explore in a few dozen executions.
fn exhaustive(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = None;
    explore(builder, f);
}

/// The id a completed future received.
fn received(result: Result<Val, CallbackError>) -> Result<u32, CallbackError> {
    result.map(|val| val.id)
}

// ---------------------------------------------------------------------------------------
// 1. duplicate completion
// ---------------------------------------------------------------------------------------

/// Two SDK threads complete the same handle (a duplicate callback) while the caller waits
/// on the future (loom park / unpark). The two `take`s race on one compare-exchange of the
/// slot's state word (`OCCUPIED` straight to the next generation, `FREED_TAKEN`): exactly
/// one is `Ok`; the other finds the value taken and is refused with
/// `Err(HandleError::Duplicate)` — never `Stale` (nothing reuses the slot here), never
/// `InUse`. The future gets the winner's value exactly once; the loser's value is dropped
/// by the refused `complete` (the registry drops what it refuses); nothing leaks; the
/// refusal is counted once.
///
/// Would break: a take that is not one atomic step (both win: the value cell read twice,
/// a double drop), a loser that reports another cause, a refused value that leaks.
#[test]
fn duplicate_completion() {
    model(|| {
        let drops = counter();
        let ops = Arc::new(Completions::<Val>::new());
        let (handle, future) = ops.issue();
        let sdk = |id: u32| {
            let ops = ops.clone();
            let val = Val::counted_by(id, &drops);
            thread::spawn(move || ops.complete(handle, Ok(val)))
        };
        let first = sdk(1);
        let second = sdk(2);
        let got = received(future.wait_blocking());
        let outcomes = [first.join().unwrap(), second.join().unwrap()];
        let winner = match outcomes {
            [Ok(()), Err(HandleError::Duplicate)] => 1,
            [Err(HandleError::Duplicate), Ok(())] => 2,
            other => panic!("expected one Ok and one Duplicate, got {other:?}"),
        };
        assert_eq!(got, Ok(winner), "the future gets the winner's value");
        assert_eq!(load(&drops), 2, "both values dropped exactly once");
        assert_eq!(ops.refused(), 1);
        assert_eq!(ops.outstanding(), 0);
        // Late: the slot is freed now, the duplicate still reads as a duplicate.
        assert_eq!(
            ops.complete(handle, Ok(Val::counted_by(3, &drops))),
            Err(HandleError::Duplicate)
        );
        assert_eq!(load(&drops), 3);
    });
}

// ---------------------------------------------------------------------------------------
// 2. complete vs abandon_all
// ---------------------------------------------------------------------------------------

/// An SDK thread completes a handle while the binding's shutdown calls `abandon_all`.
/// Both race on the slot's state word: exactly one moves it out of `OCCUPIED`. Either the
/// completion won (`Ok`, the future gets the value, `abandon_all` counts 0), or the
/// abandonment won (`abandon_all` counts 1, the future resolves
/// `Err(CallbackError::Abandoned)`, and the late completion is refused with
/// `HandleError::Abandoned`, its value dropped). The value is dropped exactly once.
///
/// Would break: both winning (a double drop, a count of 1 next to a delivered value), a
/// completion lost without an error, or a late completion that names the wrong cause (a
/// late callback after shutdown reported as a *duplicate* callback).
#[test]
fn complete_vs_abandon_all() {
    exhaustive(|| {
        let drops = counter();
        let ops = Arc::new(Completions::<Val>::new());
        let (handle, future) = ops.issue();
        let sdk = {
            let ops = ops.clone();
            let val = Val::counted_by(1, &drops);
            thread::spawn(move || ops.complete(handle, Ok(val)))
        };
        let abandoned = ops.abandon_all();
        let completed = sdk.join().unwrap();
        let got = received(future.wait_blocking());
        match (abandoned, completed) {
            (0, Ok(())) => assert_eq!(got, Ok(1)),
            (1, Err(error)) => {
                assert_eq!(got, Err(CallbackError::Abandoned));
                assert_eq!(
                    error,
                    HandleError::Abandoned,
                    "a completion that lost to abandon_all must be refused as Abandoned"
                );
            }
            other => panic!("exactly one wins, got {other:?}"),
        }
        assert_eq!(load(&drops), 1, "the value is dropped exactly once");
        assert_eq!(ops.outstanding(), 0);
        assert_eq!(ops.abandon_all(), 0);
    });
}

// ---------------------------------------------------------------------------------------
// 3. with (push) vs release
// ---------------------------------------------------------------------------------------

/// A repeated SDK callback pushes through a `Feeders` registry (a borrow: `with`) while
/// another SDK thread releases the handle (the final callback of an SDK that ends the
/// stream by destroying its user data), and the consumer reads the stream concurrently
/// (three threads).
///
/// The pusher first borrows the feeder with `Registry::with`, raising a loom flag for the
/// length of the borrow, then pushes once more with `Feeders::push`. The release either
/// drops the feeder at once (no borrower) or marks the slot `RELEASING`, and the last
/// borrower out drops it. Checks: every borrow and push is `Ok` or refused with
/// `Released` (never `Duplicate`); a push after the release returned is `Released`; the
/// consumer sees every accepted item, in order, then the end `Abandoned` (the feeder was
/// dropped without `finish`) exactly once, and never while a borrow is in progress (the
/// feeder dropped under a borrower would end the stream with the flag up); every item is
/// dropped exactly once; the registry is empty at the end.
///
/// Cost: three threads and the stream's own lock; ~3,300 executions with 2 preemptions
/// (under a second in release), ~39,000 with 3 (10 s).
#[test]
fn with_vs_release() {
    model(|| {
        let drops = counter();
        let feeders = Arc::new(Feeders::<Val, ()>::new());
        let (feeder, mut stream) = callback_stream::<Val, ()>(StreamPolicy::Unbounded);
        let handle = feeders.insert(feeder).unwrap();
        let borrowing = Arc::new(AtomicBool::new(false));

        let pusher = {
            let feeders = feeders.clone();
            let borrowing = borrowing.clone();
            let first = Val::counted_by(1, &drops);
            let second = Val::counted_by(2, &drops);
            thread::spawn(move || {
                let mut accepted = Vec::new();
                let borrowed = feeders.with(handle, |feeder: &StreamFeeder<Val, ()>| {
                    borrowing.store(true, Ordering::SeqCst);
                    let pushed = feeder.push(first);
                    borrowing.store(false, Ordering::SeqCst);
                    pushed
                });
                match borrowed {
                    Ok(pushed) => {
                        pushed.expect("a live feeder with a live stream accepts");
                        accepted.push(1);
                    }
                    Err(error) => assert_eq!(error, HandleError::Released),
                }
                match feeders.push(handle, second) {
                    Ok(()) => accepted.push(2),
                    Err(FeedError::Handle(error)) => assert_eq!(error, HandleError::Released),
                    Err(FeedError::Rejected(rejected)) => panic!("rejected {rejected:?}"),
                }
                accepted
            })
        };
        let releaser = {
            let feeders = feeders.clone();
            thread::spawn(move || feeders.release(handle))
        };

        let mut items = Vec::new();
        loop {
            match stream.next_blocking() {
                Some(Ok(val)) => items.push(val.id),
                Some(Err(end)) => {
                    assert_eq!(end, StreamError::Abandoned);
                    assert!(
                        !borrowing.load(Ordering::SeqCst),
                        "the feeder was dropped while borrowed"
                    );
                    break;
                }
                None => panic!("the stream ended without its terminal item"),
            }
        }
        assert!(stream.next_blocking().is_none(), "one terminal item");
        let accepted = pusher.join().unwrap();
        assert_eq!(releaser.join().unwrap(), Ok(()));
        assert_eq!(
            items, accepted,
            "every accepted item, in order, before the end"
        );

        // After the release returned: refused as Released, the item dropped.
        assert!(matches!(
            feeders.push(handle, Val::counted_by(3, &drops)),
            Err(FeedError::Handle(HandleError::Released))
        ));
        assert_eq!(feeders.release(handle), Err(HandleError::Released));
        assert_eq!(feeders.outstanding(), 0);
        drop(stream);
        assert_eq!(load(&drops), 3, "every item dropped exactly once");
    });
}

// ---------------------------------------------------------------------------------------
// 4. free-list reuse / ABA
// ---------------------------------------------------------------------------------------

/// Slot reuse under a stale handle. Handle `h1` is live; SDK thread A completes it (which
/// frees its slot and pushes it on the free stack) while thread B issues a new operation
/// (popping the free stack, so it may reuse `h1`'s slot under the next generation, or
/// take a fresh slot if it popped before A pushed) and the main thread delivers `h1` a
/// second time (a duplicate callback, arriving before or after the reuse).
///
/// Exactly one of the two completions of `h1` is `Ok`, the other is refused as
/// `Duplicate` (slot freed, not yet reused) or `Stale` (slot already reused by B); `f1` gets
/// the winner's value. B's handle differs from `h1`, and the stale completion never
/// reaches B's operation: its future is still pending after everything joined, and then
/// completes with its own value.
///
/// Would break: an untagged generation (the stale handle completes B's operation), a
/// slot pushed on the free stack before its state says it is free (B's value overwritten
/// or read by the stale completion), an insert that writes the cell before the taker read
/// it out.
#[test]
fn stale_completion_vs_slot_reuse() {
    model(|| {
        let drops = counter();
        let ops = Arc::new(Completions::<Val>::new());
        let (h1, f1) = ops.issue();
        let a = {
            let ops = ops.clone();
            let val = Val::counted_by(1, &drops);
            thread::spawn(move || ops.complete(h1, Ok(val)))
        };
        let b = {
            let ops = ops.clone();
            thread::spawn(move || ops.issue())
        };
        let again = ops.complete(h1, Ok(Val::counted_by(3, &drops)));
        let first = a.join().unwrap();
        let (h2, mut f2) = b.join().unwrap();

        assert_ne!(h2, h1);
        let winner = match (first, again) {
            (Ok(()), Err(HandleError::Duplicate | HandleError::Stale)) => 1,
            (Err(HandleError::Duplicate | HandleError::Stale), Ok(())) => 3,
            other => panic!("expected one Ok and one Duplicate/Stale, got {other:?}"),
        };
        assert_eq!(received(f1.wait_blocking()), Ok(winner));
        assert!(
            f2.try_take().is_none(),
            "a completion of the stale handle reached the new operation"
        );
        ops.complete(h2, Ok(Val::counted_by(2, &drops))).unwrap();
        assert_eq!(received(f2.wait_blocking()), Ok(2));
        assert_eq!(load(&drops), 3);
        assert_eq!(ops.outstanding(), 0);
    });
}

/// The free stack's ABA case. The stack holds slot 0 then slot 1 (both operations
/// completed before the threads start). Thread B issues an operation and completes it at
/// once (pops slot 0, pushes it back), thread D issues (pops), thread C issues (pops).
/// The ABA interleaving: C reads `head = slot 0, next = slot 1` and is preempted; B pops
/// slot 0, D pops slot 1, B completes and pushes slot 0 back; C resumes. An untagged head
/// would still read "slot 0", C's compare-exchange would succeed and install `next =
/// slot 1` — a slot D holds — as the head, and the next insert would hand out D's slot a
/// second time. The tag (bumped by every push and pop) makes C's compare-exchange fail
/// and retry. Two preemptions reach it, so the CI bound covers it. One operation issued and
/// completed before the threads start (a pop and a push of slot 0) makes the pops' part of
/// the tag count too: with pops that reset it, the race would bring back the tag C read.
///
/// Checks: C's and D's handles are distinct from each other and from every earlier one;
/// both operations are pending and each completes with its own value; a further insert
/// (the one that would reuse a doubly-handed slot) gets a handle of its own; nothing
/// leaks (a completer overwritten in a doubly-handed slot would trip loom's leak check,
/// two inserts writing one cell its causality check).
///
/// Cost: four threads; ~4,600 executions with 2 preemptions (~1 s in release on two
/// shared cores): the file's most expensive model.
#[test]
fn aba_on_the_free_stack() {
    model(|| {
        let drops = counter();
        let ops = Arc::new(Completions::<Val>::new());
        let (h0, f0) = ops.issue();
        let (h1, f1) = ops.issue();
        ops.complete(h1, Ok(Val::counted_by(1, &drops))).unwrap();
        ops.complete(h0, Ok(Val::counted_by(0, &drops))).unwrap();
        assert_eq!(received(f1.wait_blocking()), Ok(1));
        assert_eq!(received(f0.wait_blocking()), Ok(0));
        // One pop and one push of slot 0 before the race: the head's tag has moved
        // through a pop too, so a pop that did not advance the tag (or reset it) would let
        // the race below bring back the very tag C read.
        let (hp, fp) = ops.issue();
        ops.complete(hp, Ok(Val::counted_by(6, &drops))).unwrap();
        assert_eq!(received(fp.wait_blocking()), Ok(6));

        let b = {
            let ops = ops.clone();
            let val = Val::counted_by(2, &drops);
            thread::spawn(move || {
                let (hb, fb) = ops.issue();
                ops.complete(hb, Ok(val)).unwrap();
                assert_eq!(received(fb.wait_blocking()), Ok(2));
                hb
            })
        };
        let issuer = || {
            let ops = ops.clone();
            thread::spawn(move || ops.issue())
        };
        let c = issuer();
        let d = issuer();
        let hb = b.join().unwrap();
        let (hc, mut fc) = c.join().unwrap();
        let (hd, mut fd) = d.join().unwrap();
        assert_eq!(ops.outstanding(), 2);

        let (he, mut fe) = ops.issue();
        let handles = [h0, h1, hp, hb, hc, hd, he];
        for (i, x) in handles.iter().enumerate() {
            for y in &handles[i + 1..] {
                assert_ne!(x, y, "two operations share a handle: {handles:?}");
            }
        }
        assert!(fc.try_take().is_none() && fd.try_take().is_none() && fe.try_take().is_none());
        for (id, h) in [(3, hc), (4, hd), (5, he)] {
            ops.complete(h, Ok(Val::counted_by(id, &drops))).unwrap();
        }
        assert_eq!(received(fc.wait_blocking()), Ok(3));
        assert_eq!(received(fd.wait_blocking()), Ok(4));
        assert_eq!(received(fe.wait_blocking()), Ok(5));
        for old in [h0, h1, hp, hb] {
            let refused = ops.complete(old, Ok(Val::counted_by(9, &drops)));
            assert!(
                matches!(refused, Err(HandleError::Duplicate | HandleError::Stale)),
                "{refused:?}"
            );
        }
        assert_eq!(load(&drops), 11);
        assert_eq!(ops.outstanding(), 0);
    });
}

// ---------------------------------------------------------------------------------------
// 5. segment growth
// ---------------------------------------------------------------------------------------

/// Two inserts race to grow the table. The first segment holds 4 slots; with 4 live
/// entries (no free slot), both inserts take fresh indices 4 and 5 in segment 1, both may
/// find it unpublished and allocate it, and race to publish it with a compare-exchange:
/// the loser frees its copy (loom's leak check catches a leaked one) and uses the
/// winner's. Meanwhile the main thread completes one of the first four operations (a
/// lookup in segment 0, and a free that one insert may pop instead of growing).
///
/// Checks: all handles pairwise distinct; every operation completes with its own value;
/// the registry is empty at the end.
///
/// Would break: an insert that writes into its own unpublished segment (its handle then
/// reaches a slot of the winner's segment that holds nothing), a loser segment not freed,
/// an index handed out twice.
#[test]
fn two_inserts_grow_a_segment() {
    model(|| {
        let ops = Arc::new(Completions::<u32>::new());
        let mut first: Vec<_> = (0..4).map(|_| ops.issue()).collect();
        let issuer = || {
            let ops = ops.clone();
            thread::spawn(move || ops.issue())
        };
        let a = issuer();
        let b = issuer();
        let (h0, f0) = first.remove(0);
        ops.complete(h0, Ok(100)).unwrap();
        let (ha, fa) = a.join().unwrap();
        let (hb, fb) = b.join().unwrap();

        let mut handles: Vec<_> = first.iter().map(|(h, _)| *h).collect();
        handles.extend([h0, ha, hb]);
        for (i, x) in handles.iter().enumerate() {
            for y in &handles[i + 1..] {
                assert_ne!(x, y, "two operations share a handle: {handles:?}");
            }
        }
        assert_eq!(f0.wait_blocking(), Ok(100));
        ops.complete(ha, Ok(5)).unwrap();
        ops.complete(hb, Ok(6)).unwrap();
        assert_eq!(fa.wait_blocking(), Ok(5));
        assert_eq!(fb.wait_blocking(), Ok(6));
        for (n, (h, f)) in (0..).zip(first) {
            ops.complete(h, Ok(n)).unwrap();
            assert_eq!(f.wait_blocking(), Ok(n));
        }
        assert_eq!(ops.outstanding(), 0);
    });
}

/// The pure growth race: no completion, so both inserts must take fresh slots of
/// segment 1 (indices 4 and 5) and both may allocate it. Checks as above.
#[test]
fn two_fresh_inserts_publish_one_segment() {
    exhaustive(|| {
        let drops = counter();
        let registry = Arc::new(Registry::<Val>::new());
        let first: Vec<_> = (0..4)
            .map(|id| registry.insert(Val::counted_by(id, &drops)).unwrap())
            .collect();
        let inserter = |id: u32| {
            let registry = registry.clone();
            let val = Val::counted_by(id, &drops);
            thread::spawn(move || registry.insert(val).unwrap())
        };
        let a = inserter(4);
        let b = inserter(5);
        let ha = a.join().unwrap();
        let hb = b.join().unwrap();
        assert_ne!(ha, hb);
        assert!(!first.contains(&ha) && !first.contains(&hb));
        assert_eq!(registry.outstanding(), 6);
        assert_eq!(registry.take(ha).map(|v| v.id), Ok(4));
        assert_eq!(registry.take(hb).map(|v| v.id), Ok(5));
        for (id, h) in (0..).zip(first) {
            assert_eq!(registry.with(h, |v| v.id), Ok(id));
        }
        assert_eq!(load(&drops), 2);
        // Dropping the registry drops the four values still held.
        drop(registry);
        assert_eq!(load(&drops), 6);
    });
}

// ---------------------------------------------------------------------------------------
// 6. Setters::set vs release
// ---------------------------------------------------------------------------------------

/// An SDK thread sets an event through a `Setters` registry (a borrow) while another
/// thread releases the handle (the SDK's destroy callback). If `set` returned `Ok`, the
/// event is set (the setter was alive for the whole call); otherwise it was refused as
/// `Released` (never `Duplicate`) and nobody set the event. The setter (its reference to
/// the event) is dropped exactly once: the event's `Arc` is back to one owner.
#[test]
fn set_vs_release() {
    exhaustive(|| {
        let event = StdArc::new(AsyncEvent::new());
        let setters = Arc::new(Setters::new());
        let handle = setters.insert(EventSetter::new(&event)).unwrap();
        let sdk = {
            let setters = setters.clone();
            thread::spawn(move || setters.set(handle))
        };
        assert_eq!(setters.release(handle), Ok(()));
        match sdk.join().unwrap() {
            Ok(()) => assert!(event.is_set(), "set returned Ok but the event is clear"),
            Err(error) => {
                assert_eq!(error, HandleError::Released);
                assert!(!event.is_set());
            }
        }
        assert_eq!(setters.set(handle), Err(HandleError::Released));
        assert_eq!(setters.outstanding(), 0);
        assert_eq!(
            StdArc::strong_count(&event),
            1,
            "the setter was not dropped"
        );
    });
}

/// An SDK thread sets an event through a `Setters` registry while the binding's shutdown
/// calls `abandon_all`. The setter is held throughout, so `abandon_all` always counts it
/// (1): with no borrower it drops the setter at once; with the `set` in progress it marks
/// the slot `RELEASING` and the borrower, last out, drops it. `set` is `Ok` (and the event
/// is set) or refused as `Abandoned` (and nobody set it). Afterwards the handle is refused
/// as `Abandoned` (dropped by `abandon_all`) or `Released` (dropped by its last borrower,
/// as `abandon_all` documents); the setter is dropped exactly once.
#[test]
fn set_vs_abandon_all() {
    exhaustive(|| {
        let event = StdArc::new(AsyncEvent::new());
        let setters = Arc::new(Setters::new());
        let handle = setters.insert(EventSetter::new(&event)).unwrap();
        let sdk = {
            let setters = setters.clone();
            thread::spawn(move || setters.set(handle))
        };
        assert_eq!(setters.abandon_all(), 1, "the setter was held");
        match sdk.join().unwrap() {
            Ok(()) => assert!(event.is_set(), "set returned Ok but the event is clear"),
            Err(error) => {
                assert_eq!(error, HandleError::Abandoned);
                assert!(!event.is_set());
            }
        }
        let late = setters.set(handle);
        assert!(
            matches!(late, Err(HandleError::Abandoned | HandleError::Released)),
            "{late:?}"
        );
        assert_eq!(setters.outstanding(), 0);
        assert_eq!(
            StdArc::strong_count(&event),
            1,
            "the setter was not dropped"
        );
    });
}

// ---------------------------------------------------------------------------------------
// take vs with: a completion while the operation is borrowed
// ---------------------------------------------------------------------------------------

/// An SDK thread completes an operation while another SDK thread asks `is_canceled` (a
/// borrow: `with`). The completion is never lost to the borrow: a take that finds the slot
/// borrowed waits (yielding) for the borrower's short call to end. The borrow either saw
/// the live operation (`Ok(false)`: the future is alive) or came late (`Duplicate`); the
/// future gets the value exactly once and it is dropped exactly once. The completing
/// thread borrowed the operation once before (`is_canceled` too): a finished borrow must
/// not count as one under way, or its take would give up with `InUse` instead of waiting.
#[test]
fn complete_vs_is_canceled() {
    exhaustive(|| {
        let drops = counter();
        let ops = Arc::new(Completions::<Val>::new());
        let (handle, mut future) = ops.issue();
        let asker = {
            let ops = ops.clone();
            thread::spawn(move || ops.is_canceled(handle))
        };
        assert_eq!(ops.is_canceled(handle), Ok(false), "the future is alive");
        let completed = ops.complete(handle, Ok(Val::counted_by(1, &drops)));
        let asked = asker.join().unwrap();
        assert_eq!(completed, Ok(()), "a borrow never makes a completion fail");
        assert!(
            matches!(asked, Ok(false) | Err(HandleError::Duplicate)),
            "{asked:?}"
        );
        assert!(matches!(future.try_take(), Some(Ok(_))), "delivered once");
        assert_eq!(ops.outstanding(), 0);
        drop(future);
        assert_eq!(load(&drops), 1, "the value is dropped exactly once");
    });
}
