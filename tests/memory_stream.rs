//! Memory stays bounded by the window: 1 GiB in 64 KiB chunks through a
//! `Window { initial: 1 MiB }` stream, measured with a counting global allocator.
//!
//! The producer thread behaves like an SDK with a read window: it keeps its own credit
//! counter (the window, minus what it pushed, plus what `on_credit` re-opened), pushes
//! only while it has credit, and otherwise waits on a `Condvar` that `on_credit`
//! signals: flow control, not sleeping. Every chunk is a fresh allocation (as an SDK hands
//! over its buffers); the consumer, a blocking thread, drops each chunk after checking it.
//!
//! The allocator tracks live bytes (alloc adds, dealloc subtracts) and their peak. The
//! bound checked on `peak - baseline` (baseline: live bytes just before the threads
//! start) is `window + one chunk + SLACK`:
//! - the stream holds less than the window when it accepts a chunk, and the producer
//!   allocates a chunk only when it has credit, i.e. when the stream holds at most
//!   `window - chunk` (credit comes in whole chunks here): stream + the producer's
//!   in-flight chunk <= window;
//! - plus the one chunk the consumer holds after taking it (its credit is given as it is
//!   taken, so the producer may refill the window meanwhile);
//! - plus [`SLACK`] for constant overhead: the stream's ring buffer of chunk handles, the
//!   two threads' bookkeeping, thread handles for blocking waits.
//!
//! This file holds a single test so that no other test allocates concurrently.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use anywait::{callback_stream, StreamPolicy};
use support::Credit;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Ordering::SeqCst) + bytes;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes, Ordering::SeqCst);
}

// SAFETY: forwards every call to `System` unchanged; only counts sizes on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on to `System`.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through us) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and `new_size` is valid per the caller's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const CHUNK: usize = 64 * KIB;
const WINDOW: usize = MIB;
const TOTAL: usize = 1024 * MIB;
const CHUNKS: usize = TOTAL / CHUNK;
/// Constant overhead allowed on top of `window + one chunk` (see the module docs).
const SLACK: usize = 16 * KIB;

/// The tests of this binary measure the whole process's live bytes: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn window_bounds_live_memory() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let start = Instant::now();
    let (feeder, mut stream) = callback_stream::<Vec<u8>, ()>(StreamPolicy::Window {
        initial: WINDOW,
        weigh: |chunk: &Vec<u8>| chunk.len(),
    });
    // The producer's credit counter; `on_credit` adds to it and signals the condvar.
    let credit = Credit::install(&feeder, WINDOW);
    // The consumer starts once the producer has used up the window, so the window is
    // really filled (and the measurement shown to see it).
    let (full_tx, full_rx) = mpsc::sync_channel::<()>(1);

    let baseline = LIVE.load(Ordering::SeqCst);
    PEAK.store(baseline, Ordering::SeqCst);

    let producer = thread::spawn(move || {
        let mut waits = 0usize;
        let mut full_tx = Some(full_tx);
        for seq in 0..CHUNKS {
            {
                let mut open = credit.open.lock().unwrap();
                while *open <= 0 {
                    if let Some(tx) = full_tx.take() {
                        tx.send(()).unwrap();
                    }
                    waits += 1;
                    open = credit.reopened.wait(open).unwrap();
                }
                *open -= CHUNK as isize;
            }
            // A fresh buffer per chunk, as an SDK hands them over.
            let mut chunk = vec![0u8; CHUNK];
            chunk[..8].copy_from_slice(&(seq as u64).to_le_bytes());
            feeder
                .push(chunk)
                .expect("a producer within its credit is never refused");
        }
        let stats = feeder.stats();
        assert!(feeder.finish());
        (waits, stats)
    });
    let consumer = thread::spawn(move || {
        full_rx.recv().unwrap();
        let mut received = 0usize;
        let mut bytes = 0usize;
        for item in stream.blocking_iter() {
            let chunk = item.expect("no error before the end");
            assert_eq!(chunk.len(), CHUNK);
            assert_eq!(chunk[..8], (received as u64).to_le_bytes(), "out of order");
            received += 1;
            bytes += chunk.len();
        }
        (received, bytes, stream.stats())
    });
    let (waits, producer_stats) = producer.join().unwrap();
    let (received, bytes, consumer_stats) = consumer.join().unwrap();
    let peak = PEAK.load(Ordering::SeqCst) - baseline;
    let bound = WINDOW + CHUNK + SLACK;
    println!(
        "pushed {received} chunks ({} MiB) in {:?}; the producer waited for credit {waits} \
         times; peak live bytes above baseline: {peak} ({:.3} MiB; bound {bound} = window \
         {WINDOW} + chunk {CHUNK} + slack {SLACK}); live after: {}",
        bytes / MIB,
        start.elapsed(),
        peak as f64 / MIB as f64,
        LIVE.load(Ordering::SeqCst) as isize - baseline as isize,
    );
    assert_eq!((received, bytes), (CHUNKS, TOTAL));
    assert_eq!(producer_stats.rejected, 0);
    assert_eq!(consumer_stats.buffered_weight, 0);
    assert_eq!(
        consumer_stats.overshoot, 0,
        "whole chunks fit the window exactly"
    );
    assert!(waits > 0, "the window never filled: flow control untested");
    assert!(
        peak >= WINDOW,
        "the window was filled once, yet the peak {peak} is below it: not measuring"
    );
    assert!(
        peak <= bound,
        "peak live bytes {peak} above window + one chunk + {SLACK}"
    );
}

/// Unbounded streams elsewhere keep a burst's buffer forever. After a burst of 1 M small
/// items is consumed (by a blocking consumer, then by an async one), the stream keeps at
/// most 64 KiB (`2 * RETAINED_BYTES`: the queue's and the batch's) of it.
#[test]
fn memory_shrinks_back_after_a_burst() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    const BURST: u64 = 1_000_000;
    const RETAINED: usize = 64 * KIB;
    for async_consumer in [false, true] {
        let (feeder, mut stream) = callback_stream::<u64, ()>(StreamPolicy::Unbounded);
        let baseline = LIVE.load(Ordering::SeqCst);
        PEAK.store(baseline, Ordering::SeqCst);
        // The whole burst lands before the consumer starts (it would otherwise keep up
        // in a slow build and the buffer would never grow): the SDK thread outran it.
        let producer = thread::spawn(move || {
            for i in 0..BURST {
                feeder.push(i).unwrap();
            }
            feeder
        });
        let feeder = producer.join().unwrap();
        let mut expected = 0u64;
        if async_consumer {
            futures::executor::block_on(async {
                use futures::StreamExt;
                while expected < BURST {
                    let item = stream.next().await.expect("not ended");
                    assert_eq!(item, Ok(expected));
                    expected += 1;
                }
            });
        } else {
            while expected < BURST {
                assert_eq!(stream.next_blocking(), Some(Ok(expected)));
                expected += 1;
            }
        }
        // One more look at the drained stream gives a grown queue back.
        assert_eq!(
            stream.next_timeout(std::time::Duration::ZERO),
            Some(Err(anywait::StreamError::Timeout))
        );
        let peak = PEAK.load(Ordering::SeqCst) - baseline;
        let kept = LIVE.load(Ordering::SeqCst).saturating_sub(baseline);
        println!(
            "burst of {BURST} u64 (async consumer: {async_consumer}): peak {peak} B, kept {kept} B"
        );
        assert!(
            peak > RETAINED,
            "the burst never grew the buffer: not measuring"
        );
        assert!(
            kept <= RETAINED,
            "the drained stream kept {kept} bytes (bound {RETAINED})"
        );
        drop((feeder, stream));
    }
}
