//! A callback stream's steady state allocates nothing per item beyond the buffer's own:
//! once its queue and the consumer's batch have grown to the size a burst needs, pushing
//! and taking items — blockingly or by polling, with the consumer registered and woken
//! in between — makes no allocation, under every policy. A counting global allocator
//! counts only the current thread's allocations (see `support::allocs`); the pushes and
//! takes run on this thread.

mod support;

use std::pin::Pin;
use std::task::{Context, Poll};

use anywait::{callback_stream, CallbackStream, Overflow, StreamFeeder, StreamPolicy};
use futures::Stream;
use support::{allocs, counting_waker};

#[global_allocator]
static GLOBAL: support::CountingAlloc = support::CountingAlloc;

/// Items per burst; both buffers grow to hold one burst during the warm-up.
const BURST: u64 = 256;

fn policies() -> Vec<(&'static str, StreamPolicy<u64>)> {
    vec![
        ("Unbounded", StreamPolicy::Unbounded),
        (
            "Bounded/Reject",
            StreamPolicy::Bounded {
                capacity: BURST as usize,
                overflow: Overflow::Reject,
            },
        ),
        (
            "Bounded/DropNewest",
            StreamPolicy::Bounded {
                capacity: BURST as usize,
                overflow: Overflow::DropNewest,
            },
        ),
        (
            "Bounded/DropOldest",
            StreamPolicy::Bounded {
                capacity: BURST as usize,
                overflow: Overflow::DropOldest,
            },
        ),
        (
            "Window",
            StreamPolicy::Window {
                initial: 8 * BURST as usize,
                weigh: |_: &u64| 8,
            },
        ),
    ]
}

/// One burst: `BURST` pushes, then as many takes, alternating blocking takes and polls.
fn burst(
    feeder: &StreamFeeder<u64, ()>,
    stream: &mut CallbackStream<u64, ()>,
    cx: &mut Context<'_>,
) {
    for i in 0..BURST {
        feeder.push(i).expect("room for a whole burst");
    }
    for i in 0..BURST {
        let got = if i % 2 == 0 {
            stream.next_blocking()
        } else {
            match Pin::new(&mut *stream).poll_next(cx) {
                Poll::Ready(item) => item,
                Poll::Pending => panic!("item {i} pending"),
            }
        };
        assert_eq!(got, Some(Ok(i)));
    }
}

#[test]
fn counting_allocator_counts() {
    let (_, n) = allocs(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(n, 1);
}

#[test]
fn steady_pushes_and_takes_allocate_nothing() {
    let (inner, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    for (name, policy) in policies() {
        let (feeder, mut stream) = callback_stream::<u64, ()>(policy);
        // Warm-up: the queue and the batch grow to one burst each (they swap places).
        for _ in 0..3 {
            burst(&feeder, &mut stream, &mut cx);
        }
        let ((), n) = allocs(|| {
            for _ in 0..50 {
                burst(&feeder, &mut stream, &mut cx);
            }
        });
        assert_eq!(n, 0, "{name}: {n} allocation(s) in 50 steady bursts");
        // Registered (a Pending poll stores the waker: a clone, no allocation), then woken
        // by a push, then taken.
        let ((), n) = allocs(|| {
            for i in 0..100 {
                assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
                feeder.push(i).unwrap();
                assert_eq!(
                    Pin::new(&mut stream).poll_next(&mut cx),
                    Poll::Ready(Some(Ok(i)))
                );
            }
        });
        assert_eq!(n, 0, "{name}: {n} allocation(s) registering and waking");
        let stats = stream.stats();
        assert_eq!((stats.buffered, stats.rejected), (0, 0), "{name}");
    }
    assert!(inner.wakes() >= 100, "every push woke the registered task");
}

#[test]
fn drop_oldest_evicting_at_capacity_allocates_nothing() {
    let (feeder, mut stream) = callback_stream::<u64, ()>(StreamPolicy::Bounded {
        capacity: 8,
        overflow: Overflow::DropOldest,
    });
    for i in 0..64 {
        feeder.push(i).unwrap();
    }
    let ((), n) = allocs(|| {
        for i in 0..1000 {
            feeder.push(i).unwrap();
        }
    });
    assert_eq!(n, 0, "{n} allocation(s) while evicting");
    assert_eq!(stream.stats().buffered, 8);
    assert_eq!(stream.next_blocking(), Some(Ok(992)));
}
