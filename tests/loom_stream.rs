#![cfg(anywait_loom)]
//! loom models of callback streams (`callback_stream`, `StreamFeeder`, `CallbackStream`).
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg anywait_loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test --release --test loom_stream
//! ```
//!
//! Every model has at least two threads that genuinely race, and asserts something a
//! wrong stream would break: items delivered exactly once and before the end, no lost
//! wake-up (a `Pending` poll is followed by a wake; `loom::future::block_on` and the
//! blocking receive report a deadlock when a wake-up is lost), pushes into a dropped
//! stream handed back, close hooks run exactly once, and credits that add up. Items count
//! their drops with a loom atomic, so a leaked item also trips loom's leak check.
//! Counting wakers are `std::task::Wake` on a `std::sync::Arc` whose strong count must be
//! back at 1 at the end: no waker leaked or over-released.

mod support;

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use anywait::{callback_stream, CallbackStream, Overflow, RejectReason, StreamError, StreamPolicy};
use futures::{Stream, StreamExt};
use loom::sync::atomic::Ordering;
use loom::thread;
use support::assert_no_waker_leak;
use support::loom_models::{counter, counting_waker, explore, load, Val};

type Item<T, E> = Option<Result<T, StreamError<E>>>;

fn poll_with<T, E>(stream: &mut CallbackStream<T, E>, waker: &Waker) -> Poll<Item<T, E>> {
    Pin::new(stream).poll_next(&mut Context::from_waker(waker))
}

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

// ---------------------------------------------------------------------------------------
// push vs poll
// ---------------------------------------------------------------------------------------

/// push (then finish) vs a consumer that polls by hand with a counting waker: the item is
/// delivered exactly once, before the end, and every `Pending` is followed by a wake-up.
#[test]
fn push_vs_poll() {
    model(|| {
        let drops = counter();
        let (feeder, mut stream) = callback_stream::<Val, ()>(StreamPolicy::Unbounded);
        let val = Val::counted_by(1, &drops);
        let producer = thread::spawn(move || {
            feeder.push(val).unwrap();
            assert!(feeder.finish());
        });
        let (inner, waker) = counting_waker();
        let mut got = Vec::new();
        let mut producer = Some(producer);
        loop {
            let woken_before = inner.wakes();
            match poll_with(&mut stream, &waker) {
                Poll::Ready(Some(item)) => got.push(item.unwrap().id),
                Poll::Ready(None) => break,
                Poll::Pending => {
                    // Nothing else can happen but the producer's events: once it is done,
                    // the Pending must have been followed by a wake-up.
                    producer
                        .take()
                        .expect("Pending after the producer finished")
                        .join()
                        .unwrap();
                    assert!(inner.wakes() > woken_before, "lost wake-up");
                }
            }
        }
        if let Some(producer) = producer {
            producer.join().unwrap();
        }
        assert_eq!(got, vec![1]);
        assert_eq!(load(&drops), 1);
        assert!(matches!(poll_with(&mut stream, &waker), Poll::Ready(None)));
        assert_no_waker_leak(&inner, waker);
    });
}

/// Two pushes and a fail vs an executor (`loom::future::block_on`, which reports a
/// deadlock when a wake-up is lost): everything arrives in order, then the error.
#[test]
fn push_vs_block_on() {
    model(|| {
        let (feeder, stream) = callback_stream::<u32, &str>(StreamPolicy::Bounded {
            capacity: 2,
            overflow: Overflow::Reject,
        });
        let producer = thread::spawn(move || {
            feeder.push(1).unwrap();
            feeder.push(2).unwrap();
            assert!(feeder.fail("e"));
        });
        let items: Vec<_> = loom::future::block_on(stream.collect());
        producer.join().unwrap();
        assert_eq!(items, vec![Ok(1), Ok(2), Err(StreamError::Failed("e"))]);
    });
}

/// push (then abandonment) vs the blocking receive (loom park/unpark).
#[test]
fn push_vs_next_blocking() {
    model(|| {
        let (feeder, mut stream) = callback_stream::<u32, ()>(StreamPolicy::Unbounded);
        let producer = thread::spawn(move || {
            feeder.push(1).unwrap();
            drop(feeder);
        });
        assert_eq!(stream.next_blocking(), Some(Ok(1)));
        assert_eq!(stream.next_blocking(), Some(Err(StreamError::Abandoned)));
        assert_eq!(stream.next_blocking(), None);
        producer.join().unwrap();
    });
}

/// push vs a blocking receive that times out at once (under loom a timed park returns
/// immediately): the register / withdraw of the thread races the push. The item is either
/// returned or stays buffered; never lost.
#[test]
fn push_vs_next_timeout() {
    model(|| {
        let drops = counter();
        let (feeder, mut stream) = callback_stream::<Val, ()>(StreamPolicy::Unbounded);
        let val = Val::counted_by(3, &drops);
        let producer = thread::spawn(move || {
            feeder.push(val).unwrap();
            feeder
        });
        let first = stream.next_timeout(Duration::ZERO);
        let feeder = producer.join().unwrap();
        let id = match first {
            Some(Ok(val)) => val.id,
            Some(Err(StreamError::Timeout)) => {
                assert_eq!(stream.stats().buffered, 1);
                stream.next_timeout(Duration::ZERO).unwrap().unwrap().id
            }
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(id, 3);
        assert_eq!(load(&drops), 1);
        drop(feeder);
        assert!(matches!(
            stream.next_blocking(),
            Some(Err(StreamError::Abandoned))
        ));
    });
}

/// A task polled (`Pending`, its waker registered), then a blocking receive on the same
/// stream races a push of item 1 from another thread and takes it. The task's waker must
/// not be lost: once item 2 is in the stream, the task has been woken. Item 2 comes from
/// the main thread after the receive (`second_from_producer == false`), or from the
/// producer right after item 1, so that it may be left in the consumer's batch or still in
/// the queue when the receive returns, with nothing pushed afterwards.
fn blocking_receive_vs_an_earlier_poll(second_from_producer: bool) {
    model(move || {
        let (feeder, mut stream) = callback_stream::<u32, ()>(StreamPolicy::Unbounded);
        let (inner, waker) = counting_waker();
        assert!(poll_with(&mut stream, &waker).is_pending());
        let producer = {
            let feeder = feeder.clone();
            thread::spawn(move || {
                feeder.push(1).unwrap();
                if second_from_producer {
                    feeder.push(2).unwrap();
                }
            })
        };
        assert_eq!(stream.next_blocking(), Some(Ok(1)));
        producer.join().unwrap();
        if !second_from_producer {
            feeder.push(2).unwrap();
        }
        assert!(
            inner.wakes() >= 1,
            "the task that polled Pending was never woken, though an item is ready"
        );
        assert!(matches!(
            poll_with(&mut stream, &waker),
            Poll::Ready(Some(Ok(2)))
        ));
        drop((feeder, stream));
        assert_no_waker_leak(&inner, waker);
    });
}

#[test]
fn blocking_receive_keeps_an_earlier_polls_waker() {
    blocking_receive_vs_an_earlier_poll(false);
}

#[test]
fn blocking_receive_wakes_the_earlier_poll_for_what_it_left() {
    blocking_receive_vs_an_earlier_poll(true);
}

// ---------------------------------------------------------------------------------------
// push vs drop of the stream
// ---------------------------------------------------------------------------------------

/// push vs drop of the stream: the push is `Ok` (and the item is dropped with the
/// stream's buffer) or handed back with `Closed`; never lost. The close hook runs once.
#[test]
fn push_vs_drop_stream() {
    model(|| {
        let drops = counter();
        let closes = counter();
        let (feeder, stream) = callback_stream::<Val, ()>(StreamPolicy::Unbounded);
        let closes2 = closes.clone();
        stream.on_close(move || {
            closes2.fetch_add(1, Ordering::SeqCst);
        });
        let val = Val::counted_by(4, &drops);
        let drops2 = drops.clone();
        let producer = thread::spawn(move || {
            let result = feeder.push(val);
            let accepted = match result {
                Ok(()) => true,
                Err(rejected) => {
                    assert_eq!(rejected.reason(), RejectReason::Closed);
                    let val = rejected.into_inner();
                    assert_eq!(val.id, 4);
                    assert_eq!(load(&drops2), 0, "a handed-back item is not dropped");
                    false
                }
            };
            (accepted, feeder)
        });
        drop(stream);
        let (accepted, feeder) = producer.join().unwrap();
        assert_eq!(load(&drops), 1, "accepted={accepted}: dropped exactly once");
        assert_eq!(load(&closes), 1, "the close hook runs exactly once");
        assert!(feeder.is_closed());
        assert_eq!(
            feeder
                .push(Val::counted_by(5, &drops))
                .unwrap_err()
                .reason(),
            RejectReason::Closed
        );
        assert_eq!(feeder.stats().buffered, 0);
        drop(feeder);
        assert_eq!(load(&closes), 1);
    });
}

/// push vs drop of a stream whose consumer is waiting (waker registered): the push may
/// take the waker while the stream drops it. Exactly one side releases it; the item is
/// dropped once.
#[test]
fn push_vs_drop_polled_stream() {
    model(|| {
        let drops = counter();
        let (feeder, mut stream) = callback_stream::<Val, ()>(StreamPolicy::Unbounded);
        let (inner, waker) = counting_waker();
        assert!(poll_with(&mut stream, &waker).is_pending());
        let val = Val::counted_by(6, &drops);
        let producer = thread::spawn(move || feeder.push(val).is_ok());
        drop(stream);
        let accepted = producer.join().unwrap();
        assert_eq!(load(&drops), 1);
        // Woken only by an accepted push that found the waker first.
        assert!(inner.wakes() <= usize::from(accepted));
        assert_no_waker_leak(&inner, waker);
    });
}

/// A feeder adds a close hook while the consumer drops the stream: the hook runs exactly
/// once, either at the drop or at once when added.
#[test]
fn on_close_vs_drop_stream() {
    model(|| {
        let closes = counter();
        let (feeder, stream) = callback_stream::<u32, ()>(StreamPolicy::Unbounded);
        let closes2 = closes.clone();
        let adder = thread::spawn(move || {
            feeder.on_close(move || {
                closes2.fetch_add(1, Ordering::SeqCst);
            });
            feeder
        });
        drop(stream);
        let feeder = adder.join().unwrap();
        assert_eq!(load(&closes), 1);
        drop(feeder);
        assert_eq!(load(&closes), 1);
    });
}

// ---------------------------------------------------------------------------------------
// terminal event from one clone vs push from another
// ---------------------------------------------------------------------------------------

/// Which terminal event [`end_vs_push`] races.
#[derive(Clone, Copy, Debug)]
enum EndBy {
    Finish,
    Fail,
    /// The other clone is dropped; the pushing clone is dropped after its push.
    Abandon,
}

/// One clone ends the stream while another pushes, and the consumer reads concurrently
/// (three threads). An accepted push is delivered before the end; a refused one is
/// refused with `Ended`. Exactly one terminal item.
fn end_vs_push(end_by: EndBy) {
    // Cost: three threads; each variant explores ~700-850 executions with 2 preemptions
    // and ~4000-5500 with 3 (a tenth of a second in release either way).
    model_bounded(2, move || {
        let drops = counter();
        let (ender, mut stream) = callback_stream::<Val, &str>(StreamPolicy::Unbounded);
        let pusher = ender.clone();
        let val = Val::counted_by(7, &drops);
        let end = thread::spawn(move || match end_by {
            EndBy::Finish => assert!(ender.finish()),
            EndBy::Fail => assert!(ender.fail("e")),
            EndBy::Abandon => drop(ender),
        });
        let push = thread::spawn(move || {
            let accepted = match pusher.push(val) {
                Ok(()) => true,
                Err(rejected) => {
                    assert_eq!(rejected.reason(), RejectReason::Ended);
                    false
                }
            };
            drop(pusher);
            accepted
        });
        // By reference: the stream stays alive (a push after its drop would be `Closed`).
        let items: Vec<_> = loom::future::block_on(stream.by_ref().collect::<Vec<_>>());
        end.join().unwrap();
        let accepted = push.join().unwrap();
        let mut items = items.into_iter();
        if accepted {
            assert_eq!(
                items.next().unwrap().unwrap().id,
                7,
                "accepted: before the end"
            );
        }
        let terminal = items.next().map(|item| item.map(|val| val.id));
        let expected = match end_by {
            EndBy::Finish => None,
            EndBy::Fail => Some(Err(StreamError::Failed("e"))),
            EndBy::Abandon => Some(Err(StreamError::Abandoned)),
        };
        assert_eq!(terminal, expected);
        assert!(items.next().is_none(), "one terminal event");
        if let EndBy::Abandon = end_by {
            // The pusher was alive until after its push: never refused.
            assert!(accepted);
        }
        assert_eq!(load(&drops), 1);
    });
}

#[test]
fn finish_vs_push() {
    end_vs_push(EndBy::Finish);
}

#[test]
fn fail_vs_push() {
    end_vs_push(EndBy::Fail);
}

#[test]
fn abandon_vs_push() {
    end_vs_push(EndBy::Abandon);
}

/// Two clones race to end the stream: exactly one wins, the consumer sees its end.
#[test]
fn finish_vs_fail() {
    model(|| {
        let (a, mut stream) = callback_stream::<u32, &str>(StreamPolicy::Unbounded);
        let b = a.clone();
        let finisher = thread::spawn(move || a.finish());
        let failed = b.fail("e");
        let finished = finisher.join().unwrap();
        assert!(finished ^ failed, "exactly one end wins");
        let terminal = stream.next_blocking();
        if finished {
            assert_eq!(terminal, None);
        } else {
            assert_eq!(terminal, Some(Err(StreamError::Failed("e"))));
            assert_eq!(stream.next_blocking(), None);
        }
    });
}

// ---------------------------------------------------------------------------------------
// credit callback vs push
// ---------------------------------------------------------------------------------------

/// A producer that respects the window (its own credit counter, fed by `on_credit`)
/// pushes while the consumer takes items and re-opens the window. Checks: a push made
/// while the producer's view said the window was open is never refused; the credits sum
/// to the weight consumed; the stream ends with nothing held; the counters agree.
#[test]
fn credit_vs_push() {
    // Cost: two threads, three pushes, each push and take a lock plus the credit atomic;
    // ~115 executions with 2 preemptions, ~630 with 3.
    model_bounded(2, || {
        const INITIAL: usize = 2;
        let credited = counter();
        let (feeder, mut stream) = callback_stream::<u32, ()>(StreamPolicy::Window {
            initial: INITIAL,
            weigh: |w: &u32| *w as usize,
        });
        let credited2 = credited.clone();
        feeder.on_credit(move |weight| {
            credited2.fetch_add(weight, Ordering::SeqCst);
        });
        let credited3 = credited.clone();
        let producer = thread::spawn(move || {
            let mut pushed = 0;
            let mut refused = 0;
            for weight in [1u32, 2, 1] {
                // What the producer knows is open: the window minus what it pushed, plus
                // what came back. The stream holds at most `pushed - credited` (a credit
                // is given after its item left the stream), so with `open > 0` it holds
                // less than the window and must accept.
                let open = (INITIAL + load(&credited3)) as isize - pushed as isize;
                match feeder.push(weight) {
                    Ok(()) => pushed += weight as usize,
                    Err(rejected) => {
                        assert_eq!(rejected.reason(), RejectReason::WindowFull);
                        assert!(open <= 0, "refused while the producer had credit {open}");
                        refused += 1;
                    }
                }
            }
            assert!(feeder.finish());
            (pushed, refused)
        });
        let mut consumed = 0;
        let mut taken = 0;
        while let Some(item) = stream.next_blocking() {
            consumed += item.unwrap() as usize;
            taken += 1;
            // Credit runs before the item is handed over.
            assert!(load(&credited) >= consumed);
        }
        let (pushed, refused) = producer.join().unwrap();
        assert_eq!(consumed, pushed);
        assert_eq!(
            load(&credited),
            consumed,
            "credits sum to the weight consumed"
        );
        let stats = stream.stats();
        assert_eq!((stats.buffered, stats.buffered_weight), (0, 0));
        assert_eq!(stats.rejected, refused);
        assert!(taken >= 1, "the first push always fits");
    });
}

/// Two feeders push into a window while the consumer takes: the held weight never exceeds
/// the window plus one item, and the credits add up.
#[test]
fn credit_vs_two_pushers() {
    model_bounded(2, || {
        const INITIAL: usize = 2;
        let credited = counter();
        let (a, mut stream) = callback_stream::<u32, ()>(StreamPolicy::Window {
            initial: INITIAL,
            weigh: |w: &u32| *w as usize,
        });
        let credited2 = credited.clone();
        a.on_credit(move |weight| {
            credited2.fetch_add(weight, Ordering::SeqCst);
        });
        let b = a.clone();
        let push = |feeder: anywait::StreamFeeder<u32, ()>, weight: u32| {
            thread::spawn(move || {
                let held_after = match feeder.push(weight) {
                    Ok(()) => Some(feeder.stats().buffered_weight),
                    Err(rejected) => {
                        assert_eq!(rejected.reason(), RejectReason::WindowFull);
                        None
                    }
                };
                drop(feeder);
                held_after
            })
        };
        let ta = push(a, 2);
        let tb = push(b, 1);
        let mut consumed = 0;
        while let Some(item) = stream.next_blocking() {
            match item {
                Ok(weight) => consumed += weight as usize,
                Err(end) => assert_eq!(end, StreamError::Abandoned),
            }
        }
        for held_after in [ta.join().unwrap(), tb.join().unwrap()]
            .into_iter()
            .flatten()
        {
            // Accepted only while holding less than the window, so at most the window
            // minus one plus the heaviest item (2).
            assert!(held_after < INITIAL + 2, "window plus one item at most");
        }
        assert_eq!(load(&credited), consumed);
        let stats = stream.stats();
        assert_eq!(stats.buffered_weight, 0);
        assert!(stats.overshoot <= 1);
    });
}

// ---------------------------------------------------------------------------------------
// DropOldest: the bound and the counters under a racing consumer
// ---------------------------------------------------------------------------------------

/// Two pushes into a `Bounded { capacity: 1, overflow: DropOldest }` stream race a
/// consumer taking items. A push that lands while the consumer holds an item it popped but
/// has not yet released must still find something to evict (never count a drop it did not
/// make, never hold capacity + 1). Checked: at no observation point does the stream hold
/// more than one item; `received + dropped_oldest + buffered == pushed` exactly; every
/// item is dropped exactly once.
#[test]
fn drop_oldest_push_vs_take_at_capacity_one() {
    model(|| {
        let drops = counter();
        let (feeder, mut stream) = callback_stream::<Val, ()>(StreamPolicy::Bounded {
            capacity: 1,
            overflow: Overflow::DropOldest,
        });
        feeder.push(Val::counted_by(0, &drops)).unwrap();
        let producer = {
            let drops = drops.clone();
            thread::spawn(move || {
                for id in 1..3 {
                    feeder.push(Val::counted_by(id, &drops)).unwrap();
                    assert!(feeder.stats().buffered <= 1, "capacity 1 exceeded");
                }
                feeder.finish();
            })
        };
        let mut received = 0u64;
        let mut last = None;
        while let Some(item) = stream.next_blocking() {
            let id = item.unwrap().id;
            assert!(last.map_or(true, |l| id > l), "order kept");
            last = Some(id);
            received += 1;
            assert!(stream.stats().buffered <= 1, "capacity 1 exceeded");
        }
        producer.join().unwrap();
        let stats = stream.stats();
        assert_eq!(stats.pushed, 3);
        assert_eq!(
            received + stats.dropped_oldest + stats.buffered as u64,
            stats.pushed,
            "a drop was counted that did not happen, or an item vanished"
        );
        assert_eq!(last, Some(2), "the newest item is never evicted");
        drop(stream);
        assert_eq!(load(&drops), 3, "every item dropped exactly once");
    });
}

/// A `Bounded { capacity: 1, overflow: Reject }` push made after the consumer took the
/// only held item (the consumer says so through an atomic) must be accepted: the pushes
/// keep a cached view of what the consumer took and must look again before refusing.
/// A push racing the take may be refused (`Full`) but never lost; the counters add up.
#[test]
fn bounded_push_after_take_is_accepted() {
    // Cost: two threads, two pushes, one lock and one counter store per take.
    model(|| {
        let (feeder, mut stream) = callback_stream::<u32, ()>(StreamPolicy::Bounded {
            capacity: 1,
            overflow: Overflow::Reject,
        });
        feeder.push(1).unwrap();
        let took = counter();
        let took2 = took.clone();
        let producer = thread::spawn(move || {
            // Races the take: accepted or refused with Full.
            let racing = match feeder.push(2) {
                Ok(()) => true,
                Err(rejected) => {
                    assert_eq!(rejected.reason(), RejectReason::Full);
                    false
                }
            };
            if !racing {
                while load(&took2) == 0 {
                    thread::yield_now();
                }
                feeder
                    .push(3)
                    .expect("refused although the consumer had taken the held item");
            }
            assert!(feeder.finish());
            racing
        });
        assert_eq!(stream.next_blocking(), Some(Ok(1)));
        took.fetch_add(1, Ordering::SeqCst);
        let second = stream.next_blocking();
        assert!(matches!(second, Some(Ok(2 | 3))), "{second:?}");
        assert_eq!(stream.next_blocking(), None);
        let racing = producer.join().unwrap();
        assert_eq!(second == Some(Ok(2)), racing);
        let stats = stream.stats();
        assert_eq!(stats.buffered, 0);
        assert_eq!(stats.pushed, 2 + u64::from(!racing));
        assert_eq!(stats.rejected, u64::from(!racing));
    });
}

/// What ends the stream in [`full_push_vs_close`].
#[derive(Clone, Copy, Debug)]
enum CloseBy {
    /// Another feeder clone finishes it.
    Finish,
    /// The consumer drops the stream.
    DropStream,
}

/// A push into a full `Bounded { capacity: 1, overflow: Reject }` stream races the
/// stream's end or the consumer's drop. The racing push is refused, with `Full` or with the
/// end's reason; once the end has happened before a push, that push is refused for the
/// end's reason, never as `Full` (a producer that retries on `Full` would retry forever). Counters add up and every item is dropped exactly once.
fn full_push_vs_close(by: CloseBy) {
    model(move || {
        let drops = counter();
        let (feeder, stream) = callback_stream::<Val, ()>(StreamPolicy::Bounded {
            capacity: 1,
            overflow: Overflow::Reject,
        });
        feeder.push(Val::counted_by(0, &drops)).unwrap();
        let ender = feeder.clone();
        let reason = match by {
            CloseBy::Finish => RejectReason::Ended,
            CloseBy::DropStream => RejectReason::Closed,
        };
        // The stream stays alive on this thread unless dropping it is the race.
        let mut kept = Some(stream);
        let dropped = match by {
            CloseBy::Finish => None,
            CloseBy::DropStream => kept.take(),
        };
        let closer = thread::spawn(move || {
            match by {
                CloseBy::Finish => assert!(ender.finish()),
                CloseBy::DropStream => drop(ender),
            }
            drop(dropped);
        });
        let racing = feeder.push(Val::counted_by(1, &drops)).unwrap_err();
        assert!(
            racing.reason() == RejectReason::Full || racing.reason() == reason,
            "{:?}",
            racing.reason()
        );
        drop(racing);
        closer.join().unwrap();
        let after = feeder.push(Val::counted_by(2, &drops)).unwrap_err();
        assert_eq!(after.reason(), reason, "refused as full after the end");
        drop(after);
        let stats = feeder.stats();
        assert_eq!(stats.pushed, 3);
        assert_eq!(stats.rejected, 2);
        drop(feeder);
        drop(kept);
        assert_eq!(load(&drops), 3, "every item dropped exactly once");
    });
}

#[test]
fn full_push_vs_finish() {
    full_push_vs_close(CloseBy::Finish);
}

#[test]
fn full_push_vs_drop_stream() {
    full_push_vs_close(CloseBy::DropStream);
}

/// A push into a full `Bounded { capacity: 1, overflow: DropNewest }` stream races the
/// consumer taking the held item: the pushed item is either delivered or dropped (and
/// counted in `dropped_newest`), exactly once; `pushed == received + buffered +
/// dropped_newest`; a push made after the take happened is delivered.
#[test]
fn drop_newest_full_push_vs_take() {
    model(|| {
        let drops = counter();
        let (feeder, mut stream) = callback_stream::<Val, ()>(StreamPolicy::Bounded {
            capacity: 1,
            overflow: Overflow::DropNewest,
        });
        feeder.push(Val::counted_by(0, &drops)).unwrap();
        let took = counter();
        let producer = {
            let (drops, took) = (drops.clone(), took.clone());
            thread::spawn(move || {
                feeder.push(Val::counted_by(1, &drops)).unwrap();
                while load(&took) == 0 {
                    thread::yield_now();
                }
                let dropped = feeder.stats().dropped_newest;
                // After the take: item 1 may hold the room; item 2 is delivered or, if
                // item 1 is still held, dropped.
                feeder.push(Val::counted_by(2, &drops)).unwrap();
                assert!(feeder.finish());
                dropped
            })
        };
        let mut ids = Vec::new();
        ids.push(stream.next_blocking().unwrap().unwrap().id);
        took.fetch_add(1, Ordering::SeqCst);
        while let Some(item) = stream.next_blocking() {
            ids.push(item.unwrap().id);
        }
        let dropped_before_take = producer.join().unwrap();
        let stats = stream.stats();
        assert_eq!(stats.pushed, 3);
        assert_eq!(
            ids.len() as u64 + stats.dropped_newest,
            3,
            "{ids:?} {stats:?}"
        );
        assert_eq!(ids[0], 0);
        if dropped_before_take == 1 {
            // Item 1 was dropped before the take, so item 2 found room.
            assert_eq!(ids, vec![0, 2]);
        } else {
            // Item 1 was accepted (the take made room); item 2 is dropped only if item 1
            // still held it.
            assert_eq!(ids[1], 1);
        }
        drop(stream);
        assert_eq!(load(&drops), 3, "every item dropped exactly once");
    });
}
