//! Promises at the SDK boundary: user hooks never unwind into the thread that runs them,
//! stream bounds and counters are exact under a racing consumer, one-level results, an
//! `Unpin` shared handle, and the API seams a binding author meets first.

mod support;

use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use anywait::panics::{self, HookKind};
use anywait::{
    callback_stream, try_waitable, waitable, Abandoned, Completer, Elapsed, EventSetter, Overflow,
    StreamPolicy, TryWaitableFuture, WaitError,
};
use support::{XorShift, GUARD};

/// Every contained panic of this test binary, as (hook, message). The handler is installed
/// once; tests look for their own unique messages.
fn reports() -> &'static Mutex<Vec<(HookKind, String)>> {
    static REPORTS: OnceLock<Mutex<Vec<(HookKind, String)>>> = OnceLock::new();
    REPORTS.get_or_init(|| {
        support::quiet_panics::<&str>();
        panics::set_panic_handler(|panic| {
            let message = panic.message().unwrap_or("<non-string>").to_string();
            reports().lock().unwrap().push((panic.hook(), message));
        });
        Mutex::new(Vec::new())
    })
}

fn reported(hook: HookKind, message: &str) -> usize {
    reports()
        .lock()
        .unwrap()
        .iter()
        .filter(|(h, m)| *h == hook && m == message)
        .count()
}

// ---------------------------------------------------------------------------------------
// 1. Done-callbacks and hooks never unwind into the SDK's thread.
// ---------------------------------------------------------------------------------------

/// The SDK's callback, as C calls it: an unwinding panic here would abort the process
/// (and with it this test binary), so the test passing is the proof.
extern "C" fn sdk_on_done(user_data: *mut c_void, status: i32) {
    // SAFETY: `user_data` came from `Completer::<i32>::into_raw`, used once.
    let completer = unsafe { Completer::<i32>::from_raw(user_data) };
    assert_eq!(
        completer.complete(status),
        Ok(()),
        "complete returns normally"
    );
}

#[test]
fn a_panicking_done_callback_never_unwinds_out_of_complete() {
    reports();
    let (completer, future) = waitable::<i32>();
    let (ran, ran_rx) = mpsc::channel();
    future.on_complete(move |result| {
        ran.send(result).unwrap();
        panic!("done-callback bug 1");
    });
    let user_data = completer.into_raw() as usize;
    std::thread::spawn(move || sdk_on_done(user_data as *mut c_void, 7))
        .join()
        .expect("the SDK thread did not see the panic");
    assert_eq!(ran_rx.recv_timeout(GUARD).unwrap(), Ok(7));
    assert_eq!(reported(HookKind::DoneCallback, "done-callback bug 1"), 1);
}

#[test]
fn a_panicking_done_callback_never_unwinds_out_of_an_abandoning_drop() {
    reports();
    let (completer, future) = waitable::<i32>();
    future.on_complete(|result| {
        assert_eq!(result, Err(Abandoned));
        panic!("done-callback bug 2");
    });
    std::thread::spawn(move || drop(completer))
        .join()
        .expect("the dropping thread did not see the panic");
    assert_eq!(reported(HookKind::DoneCallback, "done-callback bug 2"), 1);
}

#[test]
fn a_done_callback_that_runs_at_once_is_contained_too() {
    reports();
    let (completer, future) = waitable::<i32>();
    completer.complete(1).unwrap();
    future.on_complete(|_| panic!("done-callback bug 3"));
    assert_eq!(reported(HookKind::DoneCallback, "done-callback bug 3"), 1);
}

#[test]
fn a_panicking_cancel_hook_is_contained_and_later_hooks_still_run() {
    reports();
    let later = Arc::new(AtomicUsize::new(0));
    let (completer, future) = waitable::<u8>();
    let counter = later.clone();
    let future = future
        .on_cancel(|| panic!("cancel hook bug"))
        .on_cancel(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
    // Dropped on a thread standing in for the SDK's: it must not see the panic.
    std::thread::spawn(move || drop(future)).join().unwrap();
    assert_eq!(
        later.load(Ordering::SeqCst),
        1,
        "the hook after the panic ran"
    );
    assert_eq!(reported(HookKind::CancelHook, "cancel hook bug"), 1);
    assert!(completer.is_canceled());
}

#[test]
fn panicking_close_hooks_are_contained_on_both_sides() {
    reports();
    let ran = Arc::new(AtomicUsize::new(0));
    let (feeder, stream) = callback_stream::<u8, ()>(StreamPolicy::Unbounded);
    feeder.on_close(|| panic!("feeder close hook bug"));
    let counter = ran.clone();
    stream.on_close(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    stream.on_close(|| panic!("stream close hook bug"));
    std::thread::spawn(move || drop(stream)).join().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(reported(HookKind::CloseHook, "feeder close hook bug"), 1);
    assert_eq!(reported(HookKind::CloseHook, "stream close hook bug"), 1);
    // Registered after the close: runs at once, on the SDK's thread, contained.
    let late = std::thread::spawn(move || feeder.on_close(|| panic!("late close hook bug")));
    late.join().unwrap();
    assert_eq!(reported(HookKind::CloseHook, "late close hook bug"), 1);
}

#[test]
fn a_panicking_interrupt_hook_is_contained() {
    reports();
    let (poke, poked) = mpsc::channel::<()>();
    let poked = Mutex::new(poked);
    let wait = anywait::wait_on(move |slice| {
        let _ = poked.lock().unwrap().recv_timeout(slice);
        false
    })
    .with_interrupt(move || {
        let _ = poke.send(());
        panic!("interrupt hook bug");
    });
    std::thread::spawn(move || drop(wait)).join().unwrap();
    assert_eq!(reported(HookKind::InterruptHook, "interrupt hook bug"), 1);
}

// ---------------------------------------------------------------------------------------
// 2. A panicking credit hook loses no item.
// ---------------------------------------------------------------------------------------

#[test]
fn a_panicking_credit_hook_loses_no_item() {
    reports();
    for policy in [
        StreamPolicy::Window {
            initial: 1 << 20,
            weigh: |chunk: &Vec<u8>| chunk.len(),
        },
        StreamPolicy::Bounded {
            capacity: 16,
            overflow: Overflow::DropOldest,
        },
        StreamPolicy::Unbounded,
    ] {
        let (feeder, mut stream) = callback_stream::<Vec<u8>, ()>(policy);
        let credited = Arc::new(AtomicUsize::new(0));
        let counter = credited.clone();
        feeder.on_credit(move |bytes| {
            counter.fetch_add(bytes, Ordering::SeqCst);
            panic!("credit hook bug");
        });
        for i in 0..5u8 {
            feeder.push(vec![i; 10]).unwrap();
        }
        feeder.finish();
        let items: Vec<Vec<u8>> = stream.blocking_iter().map(Result::unwrap).collect();
        assert_eq!(items.len(), 5, "every item handed out");
        assert!(items
            .iter()
            .enumerate()
            .all(|(i, c)| c == &vec![i as u8; 10]));
        assert!(credited.load(Ordering::SeqCst) > 0, "the hook ran");
    }
    assert!(reported(HookKind::CreditHook, "credit hook bug") >= 15);
}

// ---------------------------------------------------------------------------------------
// 3. DropOldest keeps its bound and its counters exact under a racing consumer.
// ---------------------------------------------------------------------------------------

/// One bounded run by default; under `ANYWAIT_STRESS_SECS`, rounds with a random capacity
/// (1 to 8), push count and random pauses on both sides until the time is up.
#[test]
fn drop_oldest_capacity_is_a_bound_and_counters_add_up_exactly() {
    let rounds = if cfg!(debug_assertions) { 40 } else { 100 };
    let mut stress = support::Stress::new("drop_oldest_capacity_is_a_bound");
    while let Some(round) = stress.next_round() {
        if round.long {
            let mut rng = XorShift::new(round.seed);
            let capacity = rng.between(1, 8) as usize;
            let pushes = rng.between(100, 20_000);
            drop_oldest_round(capacity, pushes, round.seed);
        } else {
            for capacity in [1usize, 3] {
                for _ in 0..rounds {
                    drop_oldest_round(capacity, 20_000, round.seed);
                }
            }
        }
    }
}

/// `pushes` items pushed into a `DropOldest` stream of `capacity` while the test thread
/// consumes: the bound holds and the counters add up exactly. `seed` draws the pauses of
/// long stress (none by default).
fn drop_oldest_round(capacity: usize, pushes: u64, seed: u64) {
    let (feeder, mut stream) = callback_stream::<u64, ()>(StreamPolicy::Bounded {
        capacity,
        overflow: Overflow::DropOldest,
    });
    let producer = std::thread::spawn(move || {
        let mut rng = XorShift::new(seed ^ 0x6000);
        let mut over = 0;
        for i in 0..pushes {
            feeder.push(i).unwrap();
            if feeder.stats().buffered > capacity {
                over += 1;
            }
            rng.pause();
        }
        feeder.finish();
        over
    });
    let mut rng = XorShift::new(seed ^ 0x7000);
    let mut received = 0u64;
    let mut last = None;
    while let Some(item) = stream.next_blocking() {
        let i = item.unwrap();
        assert!(last.map_or(true, |l| i > l), "order kept");
        last = Some(i);
        received += 1;
        rng.pause();
    }
    assert_eq!(producer.join().unwrap(), 0, "held more than capacity");
    let stats = stream.stats();
    assert_eq!(stats.pushed, pushes);
    assert_eq!(stats.buffered, 0);
    assert_eq!(
        received + stats.dropped_oldest,
        pushes,
        "delivered + dropped == pushed, exactly"
    );
    assert_eq!(last, Some(pushes - 1), "the newest item is never evicted");
}

/// One run over each policy by default; under `ANYWAIT_STRESS_SECS`, rounds with random
/// capacities, windows and push counts and random pauses until the time is up.
#[test]
fn every_policy_accounts_for_every_push() {
    let mut stress = support::Stress::new("every_policy_accounts_for_every_push");
    while let Some(round) = stress.next_round() {
        let mut rng = XorShift::new(round.seed);
        let (capacity, initial, pushes) = if round.long {
            (
                rng.between(1, 8) as usize,
                rng.between(1, 8) as usize,
                rng.between(100, 20_000),
            )
        } else {
            (2, 3, 20_000)
        };
        let policies: Vec<StreamPolicy<u64>> = vec![
            StreamPolicy::Bounded {
                capacity,
                overflow: Overflow::DropNewest,
            },
            StreamPolicy::Bounded {
                capacity,
                overflow: Overflow::Reject,
            },
            StreamPolicy::Window {
                initial,
                weigh: |_| 1,
            },
            StreamPolicy::Unbounded,
        ];
        for policy in policies {
            let (feeder, mut stream) = callback_stream::<u64, ()>(policy);
            let seed = rng.next();
            let producer = std::thread::spawn(move || {
                let mut rng = XorShift::new(seed);
                for i in 0..pushes {
                    let _ = feeder.push(i);
                    rng.pause();
                }
                feeder.finish();
            });
            let mut received = 0;
            while let Some(_item) = stream.next_blocking() {
                received += 1;
                rng.pause();
            }
            producer.join().unwrap();
            let s = stream.stats();
            assert_eq!(
                received + s.buffered as u64 + s.dropped_oldest + s.dropped_newest + s.rejected,
                s.pushed
            );
            assert_eq!(s.pushed, pushes);
        }
    }
}

// ---------------------------------------------------------------------------------------
// 4. One-level results.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum SdkError {
    Code(i32),
    NoAnswer,
    TimedOut,
}

impl From<Abandoned> for SdkError {
    fn from(_: Abandoned) -> Self {
        SdkError::NoAnswer
    }
}

impl From<Elapsed> for SdkError {
    fn from(_: Elapsed) -> Self {
        SdkError::TimedOut
    }
}

fn sdk_op(code: i32) -> TryWaitableFuture<u32, SdkError> {
    TryWaitableFuture::from_callback(|completer| {
        std::thread::spawn(move || {
            let result = if code == 0 {
                Ok(200)
            } else {
                Err(SdkError::Code(code))
            };
            let _ = completer.complete(result);
        });
    })
}

#[test]
fn one_level_results_under_every_kind_of_caller() {
    assert_eq!(futures::executor::block_on(sdk_op(0)), Ok(200));
    assert_eq!(pollster::block_on(sdk_op(5)), Err(SdkError::Code(5)));
    assert_eq!(smol::block_on(sdk_op(0)), Ok(200));
    let rt = support::tokio_current_thread();
    assert_eq!(rt.block_on(sdk_op(0)), Ok(200));
    assert_eq!(sdk_op(3).wait_blocking(), Err(SdkError::Code(3)));
    let mut pending = try_waitable::<u32, SdkError>();
    assert_eq!(
        pending.1.wait_timeout(Duration::ZERO),
        Err(SdkError::TimedOut)
    );
    drop(pending.0);
    assert_eq!(
        pending.1.wait_timeout(Duration::ZERO),
        Err(SdkError::NoAnswer)
    );
}

#[test]
fn one_level_results_keep_cancel_complete_shared_and_timeout() {
    // on_cancel
    let canceled = Arc::new(AtomicUsize::new(0));
    let counter = canceled.clone();
    let (completer, future) = try_waitable::<u32, SdkError>();
    drop(future.on_cancel(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    assert_eq!(canceled.load(Ordering::SeqCst), 1);
    assert!(completer.is_canceled());

    // on_complete
    let (completer, future) = try_waitable::<u32, SdkError>();
    let (tx, rx) = mpsc::channel();
    future.on_complete(move |result| tx.send(result).unwrap());
    completer.complete(Err(SdkError::Code(9))).unwrap();
    assert_eq!(rx.recv().unwrap(), Err(SdkError::Code(9)));

    // shared
    let (completer, future) = try_waitable::<u32, SdkError>();
    let shared = future.shared();
    let other = shared.clone();
    drop(completer);
    assert_eq!(shared.wait_blocking(), Err(SdkError::NoAnswer));
    assert_eq!(pollster::block_on(other), Err(SdkError::NoAnswer));

    // with_timeout: the timeout is the binding's error, and the operation is canceled.
    let (completer, future) = try_waitable::<u32, SdkError>();
    let timed = future.with_timeout(Duration::from_millis(5));
    assert_eq!(pollster::block_on(timed), Err(SdkError::TimedOut));
    assert!(completer.is_canceled());

    // The standard error types plug in too.
    let (completer, future) = try_waitable::<u32, std::io::Error>();
    drop(completer);
    assert_eq!(
        future.wait_blocking().unwrap_err().kind(),
        std::io::ErrorKind::Other
    );
    let (_completer, mut future) = try_waitable::<u32, WaitError>();
    assert_eq!(future.wait_timeout(Duration::ZERO), Err(WaitError::Timeout));
}

#[test]
fn a_one_level_future_is_the_same_size_as_the_plain_one() {
    assert_eq!(
        std::mem::size_of::<TryWaitableFuture<u64, SdkError>>(),
        std::mem::size_of::<anywait::WaitableFuture<Result<u64, SdkError>>>()
    );
    assert_eq!(
        std::mem::size_of::<TryWaitableFuture<u64, SdkError>>(),
        std::mem::size_of::<usize>()
    );
}

// ---------------------------------------------------------------------------------------
// 5. SharedWaitable is Unpin.
// ---------------------------------------------------------------------------------------

#[test]
fn shared_handles_are_unpin_and_poll_through_mut_references() {
    fn assert_unpin<T: Unpin>() {}
    assert_unpin::<anywait::SharedWaitable<u32>>();
    assert_unpin::<anywait::TrySharedWaitable<u32, SdkError>>();

    let (completer, future) = waitable::<u32>();
    let mut shared = future.shared();
    let mut clone = shared.clone();
    std::thread::spawn(move || completer.complete(4));
    // `block_on(&mut shared)` without `pin!`:
    assert_eq!(futures::executor::block_on(&mut shared), Ok(4));
    // `select!` over a clone, without `pin!`:
    let got = futures::executor::block_on(async {
        let mut never = futures::future::pending::<()>();
        futures::select! {
            r = clone => r,
            _ = never => unreachable!(),
        }
    });
    assert_eq!(got, Ok(4));
}

// ---------------------------------------------------------------------------------------
// 6. API seams.
// ---------------------------------------------------------------------------------------

#[test]
fn raw_pointers_are_mut_c_void_everywhere() {
    let event = Arc::new(anywait::AsyncEvent::new());
    let setter: *mut c_void = EventSetter::new(&event).into_raw();
    let completer: *mut c_void = waitable::<u8>().0.into_raw();
    // SAFETY: both pointers came from `into_raw` and are released once here.
    unsafe {
        EventSetter::set_raw(setter);
        drop(EventSetter::from_raw(setter));
        drop(Completer::<u8>::from_raw(completer));
    }
    assert!(event.is_set());
}

#[test]
fn blocking_tasks_have_timed_waits() {
    let (go, wait_for_go) = mpsc::channel::<()>();
    let mut task = anywait::run_blocking(move |_| wait_for_go.recv().map(|()| 5));
    assert_eq!(task.wait_timeout(Duration::ZERO).unwrap_err(), Elapsed);
    assert_eq!(
        task.wait_deadline(std::time::Instant::now()).unwrap_err(),
        Elapsed
    );
    go.send(()).unwrap();
    assert_eq!(task.wait_timeout(GUARD).unwrap().unwrap(), Ok(5));
}

#[test]
fn a_panicked_foreign_wait_does_not_resolve_as_signalled() {
    support::quiet_panics::<&str>();
    let wait = anywait::wait_on(|_| panic!("foreign wait broke"));
    let failed = pollster::block_on(wait).unwrap_err();
    assert_eq!(failed.message(), Some("foreign wait broke"));
    let ok = anywait::wait_on(|_| true);
    assert!(pollster::block_on(ok).is_ok());
}
