//! Memory held by a stream or channel: idle (just created, both ends alive) and after a
//! burst of 1 M `u64`s was pushed and fully drained (what it keeps for the next burst).
//! A counting global allocator measures the live bytes. BENCHMARKS.md reports the output
//! of `cargo run --release -p anywait-benches --example footprint`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const BURST: u64 = 1_000_000;
const CAP: usize = 1024;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Creates a pair with `make`, reports its idle size, pushes `burst` items with `push`
/// (draining with `pull` whenever a bounded pipe refuses), drains it, and reports what
/// it still holds.
fn measure<S, R>(
    name: &str,
    burst: u64,
    make: impl FnOnce() -> (S, R),
    push: impl Fn(&mut S, u64) -> bool,
    pull: impl Fn(&mut R) -> Option<u64>,
) {
    let before = live();
    let (mut tx, mut rx) = make();
    let idle = live() - before;
    let mut sum = 0;
    for i in 0..burst {
        while !push(&mut tx, i) {
            sum += pull(&mut rx).expect("a full pipe has an item");
        }
    }
    while let Some(x) = pull(&mut rx) {
        sum += x;
    }
    assert_eq!(sum, burst * (burst - 1) / 2);
    let drained = live() - before;
    println!("| {name} | {idle} | {drained} |");
    drop((tx, rx));
}

fn main() {
    use futures::StreamExt;
    let poll = |f: &mut dyn FnMut(&mut std::task::Context<'_>) -> std::task::Poll<Option<u64>>| {
        let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
        match f(&mut cx) {
            std::task::Poll::Ready(x) => x,
            std::task::Poll::Pending => None,
        }
    };
    println!("Unbounded, burst of {BURST} u64s:\n");
    println!("| crate | idle (bytes) | after the burst, drained (bytes) |");
    println!("|---|---:|---:|");
    measure(
        "anywait",
        BURST,
        || anywait::callback_stream::<u64, ()>(anywait::StreamPolicy::Unbounded),
        |tx, i| tx.push(i).is_ok(),
        |rx| poll(&mut |cx| rx.poll_next_unpin(cx).map(|x| x.and_then(Result::ok))),
    );
    measure(
        "tokio mpsc",
        BURST,
        tokio::sync::mpsc::unbounded_channel::<u64>,
        |tx, i| tx.send(i).is_ok(),
        |rx| rx.try_recv().ok(),
    );
    measure(
        "async-channel",
        BURST,
        async_channel::unbounded::<u64>,
        |tx, i| tx.try_send(i).is_ok(),
        |rx| rx.try_recv().ok(),
    );
    measure(
        "flume",
        BURST,
        flume::unbounded::<u64>,
        |tx, i| tx.send(i).is_ok(),
        |rx| rx.try_recv().ok(),
    );
    measure(
        "futures mpsc",
        BURST,
        futures::channel::mpsc::unbounded::<u64>,
        |tx, i| tx.unbounded_send(i).is_ok(),
        |rx| poll(&mut |cx| rx.poll_next_unpin(cx)),
    );
    measure(
        "kanal",
        BURST,
        kanal::unbounded::<u64>,
        |tx, i| tx.send(i).is_ok(),
        |rx| rx.try_recv().ok().flatten(),
    );

    println!("\nBounded (capacity {CAP}), {BURST} u64s through it:\n");
    println!("| crate | idle (bytes) | after the burst, drained (bytes) |");
    println!("|---|---:|---:|");
    measure(
        "anywait",
        BURST,
        || {
            anywait::callback_stream::<u64, ()>(anywait::StreamPolicy::Bounded {
                capacity: CAP,
                overflow: anywait::Overflow::Reject,
            })
        },
        |tx, i| tx.push(i).is_ok(),
        |rx| poll(&mut |cx| rx.poll_next_unpin(cx).map(|x| x.and_then(Result::ok))),
    );
    measure(
        "tokio mpsc",
        BURST,
        || tokio::sync::mpsc::channel::<u64>(CAP),
        |tx, i| tx.try_send(i).is_ok(),
        |rx| rx.try_recv().ok(),
    );
    measure(
        "async-channel",
        BURST,
        || async_channel::bounded::<u64>(CAP),
        |tx, i| tx.try_send(i).is_ok(),
        |rx| rx.try_recv().ok(),
    );
    measure(
        "flume",
        BURST,
        || flume::bounded::<u64>(CAP),
        |tx, i| tx.try_send(i).is_ok(),
        |rx| rx.try_recv().ok(),
    );
    measure(
        "futures mpsc",
        BURST,
        || futures::channel::mpsc::channel::<u64>(CAP),
        |tx, i| tx.try_send(i).is_ok(),
        |rx| poll(&mut |cx| rx.poll_next_unpin(cx)),
    );
    measure(
        "kanal",
        BURST,
        || kanal::bounded::<u64>(CAP),
        |tx, i| tx.try_send(i).unwrap_or(false),
        |rx| rx.try_recv().ok().flatten(),
    );
    measure(
        "thingbuf",
        BURST,
        || thingbuf::mpsc::channel::<u64>(CAP),
        |tx, i| tx.try_send(i).is_ok(),
        |rx| rx.try_recv().ok(),
    );
}
