//! Stress: many pairs completed (or abandoned) from producer threads while consumer
//! threads drop their futures, re-poll them with fresh wakers, wait with random timeouts,
//! block, or hand them to `on_complete`, all chosen at random.
//!
//! Every pair's two outcomes are recorded once each and checked against each other at the
//! end: each value is received, handed back by `complete`, or dropped with the block,
//! exactly once (values count their drops); every completer and every future is accounted
//! for; an `on_cancel` hook runs exactly when `complete` handed the value back (or, for an
//! abandoning producer, only when the future was dropped without a result); no waker is
//! leaked.
//!
//! The seed is printed; `ANYWAIT_SEED` replays one. Iteration counts are sized for well
//! under 30 s in a debug build on 2 cores; elapsed time is printed.
//!
//! Long stress: `ANYWAIT_STRESS_SECS=<n>` runs each test for `n` seconds instead, in
//! rounds whose thread counts, sizes and orders are drawn from each round's seed, with
//! wider random pauses (yields, long spins) between steps; see `support::Stress`.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use anywait::{waitable, Abandoned, Completer, TryTakeError, WaitError, WaitableFuture};
use futures::future::FusedFuture;
use support::{XorShift, GUARD};

// Outcomes, recorded once per pair and side.
const P_COMPLETED: u8 = 1;
const P_HANDED_BACK: u8 = 2;
const P_ABANDONED: u8 = 3;

const C_VALUE: u8 = 1;
const C_ABANDONED: u8 = 2;
const C_DROPPED: u8 = 3;
const C_CALLBACK_VALUE: u8 = 4;
const C_CALLBACK_ABANDONED: u8 = 5;

#[derive(Default)]
struct Record {
    producer: AtomicU8,
    consumer: AtomicU8,
    hooks: AtomicU8,
    value_drops: AtomicU8,
}

struct Records(Vec<Record>);

impl Records {
    fn new(n: usize) -> Arc<Self> {
        Arc::new(Records((0..n).map(|_| Record::default()).collect()))
    }

    fn set(&self, pair: usize, side: fn(&Record) -> &AtomicU8, outcome: u8) {
        let old = side(&self.0[pair]).swap(outcome, Ordering::SeqCst);
        assert_eq!(
            old, 0,
            "pair {pair}: outcome recorded twice ({old} then {outcome})"
        );
    }

    fn producer(&self, pair: usize, outcome: u8) {
        self.set(pair, |r| &r.producer, outcome);
    }

    fn consumer(&self, pair: usize, outcome: u8) {
        self.set(pair, |r| &r.consumer, outcome);
    }

    /// Checks every pair's outcomes against each other; returns counts per kind.
    fn check(&self) -> [usize; 6] {
        let mut counts = [0; 6];
        for (i, r) in self.0.iter().enumerate() {
            let p = r.producer.load(Ordering::SeqCst);
            let c = r.consumer.load(Ordering::SeqCst);
            let hooks = r.hooks.load(Ordering::SeqCst);
            let drops = r.value_drops.load(Ordering::SeqCst);
            let ctx = format!("pair {i}: producer {p}, consumer {c}, hooks {hooks}, drops {drops}");
            assert!(p != 0, "{ctx}: completer not accounted for");
            assert!(c != 0, "{ctx}: future not accounted for");
            counts[usize::from(c)] += 1;
            match p {
                P_COMPLETED => {
                    assert!(matches!(c, C_VALUE | C_DROPPED | C_CALLBACK_VALUE), "{ctx}");
                    assert_eq!(hooks, 0, "{ctx}: hook ran although the value was delivered");
                    assert_eq!(drops, 1, "{ctx}: value not dropped exactly once");
                }
                P_HANDED_BACK => {
                    assert_eq!(c, C_DROPPED, "{ctx}: value handed back to a live future");
                    assert_eq!(hooks, 1, "{ctx}: cancellation without exactly one hook run");
                    assert_eq!(drops, 1, "{ctx}: value not dropped exactly once");
                }
                P_ABANDONED => {
                    assert!(
                        matches!(c, C_ABANDONED | C_DROPPED | C_CALLBACK_ABANDONED),
                        "{ctx}"
                    );
                    assert!(hooks <= 1, "{ctx}");
                    assert_eq!(drops, 0, "{ctx}: no value was ever made");
                }
                _ => panic!("{ctx}: bad producer outcome"),
            }
            if hooks == 1 {
                assert_eq!(
                    c, C_DROPPED,
                    "{ctx}: hook ran for a future that got a result"
                );
            }
        }
        counts
    }
}

/// The payload: knows its pair and counts its drops there.
struct Payload {
    pair: usize,
    records: Arc<Records>,
}

impl Drop for Payload {
    fn drop(&mut self) {
        self.records.0[self.pair]
            .value_drops
            .fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker that counts wake-ups, remembers that it was woken, and unparks its thread.
struct TestWaker {
    thread: Thread,
    woken: AtomicBool,
    wakes: AtomicUsize,
}

impl Wake for TestWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

struct Consumer {
    rng: XorShift,
    records: Arc<Records>,
    wakers: Vec<Arc<TestWaker>>,
    /// Where completers go; `None` where the test hands them out itself.
    producers: Vec<mpsc::Sender<(usize, Completer<Payload>)>>,
    /// The current pair's completer, until it is passed on to a producer.
    completer: Option<(usize, Completer<Payload>)>,
}

impl Consumer {
    /// Passes the current completer on to a random producer (if not done yet). Called at a
    /// random point of each pair's handling, and always before any blocking wait, so that
    /// the completion may race any step of the consumer, or come after a registration.
    fn release(&mut self) {
        if let Some(job) = self.completer.take() {
            let k = self.rng.below(self.producers.len() as u64) as usize;
            self.producers[k].send(job).unwrap();
        }
    }

    /// Releases the completer with probability 1/2.
    fn maybe_release(&mut self) {
        if self.rng.below(2) == 0 {
            self.release();
        }
    }

    fn fresh_waker(&mut self) -> Arc<TestWaker> {
        let w = Arc::new(TestWaker {
            thread: thread::current(),
            woken: AtomicBool::new(false),
            wakes: AtomicUsize::new(0),
        });
        self.wakers.push(w.clone());
        w
    }

    fn poll(
        &mut self,
        f: &mut WaitableFuture<Payload>,
    ) -> (Poll<Result<Payload, Abandoned>>, Arc<TestWaker>) {
        let w = self.fresh_waker();
        let waker = Waker::from(w.clone());
        let r = Pin::new(f).poll(&mut Context::from_waker(&waker));
        (r, w)
    }

    fn got(&self, pair: usize, r: Result<Payload, Abandoned>, f: Option<&WaitableFuture<Payload>>) {
        if let Some(f) = f {
            assert!(
                f.is_terminated(),
                "pair {pair}: result returned but not terminated"
            );
            assert!(
                f.is_complete(),
                "pair {pair}: result returned but not complete"
            );
        }
        match r {
            Ok(v) => {
                assert_eq!(v.pair, pair, "value delivered to the wrong future");
                self.records.consumer(pair, C_VALUE);
            }
            Err(Abandoned) => self.records.consumer(pair, C_ABANDONED),
        }
    }

    fn dropped(&self, pair: usize, f: WaitableFuture<Payload>) {
        assert!(!f.is_terminated(), "pair {pair}");
        drop(f);
        self.records.consumer(pair, C_DROPPED);
    }

    /// Does something random with the future, and records what came of it.
    fn handle(&mut self, pair: usize, f: WaitableFuture<Payload>) {
        let records = self.records.clone();
        let mut f = {
            let hook_records = records.clone();
            f.on_cancel(move || {
                hook_records.0[pair].hooks.fetch_add(1, Ordering::SeqCst);
            })
        };
        self.maybe_release();
        self.rng.jitter();
        match self.rng.below(8) {
            // Give up at once.
            0 => self.dropped(pair, f),
            // Poll once, give up if not ready.
            1 => {
                let r = self.poll(&mut f).0;
                self.maybe_release();
                match r {
                    Poll::Ready(r) => self.got(pair, r, Some(&f)),
                    Poll::Pending => self.dropped(pair, f),
                }
            }
            // Poll with fresh wakers until ready; after the latest waker is woken, the
            // next poll must be ready.
            2 | 3 => {
                let deadline = Instant::now() + GUARD;
                loop {
                    self.rng.pause();
                    let (r, w) = self.poll(&mut f);
                    if let Poll::Ready(r) = r {
                        break self.got(pair, r, Some(&f));
                    }
                    if self.rng.below(3) == 0 {
                        self.maybe_release();
                        continue; // re-poll at once with another fresh waker
                    }
                    self.release();
                    while !w.woken.load(Ordering::SeqCst) {
                        assert!(Instant::now() < deadline, "pair {pair}: never woken");
                        thread::park_timeout(GUARD);
                    }
                    match self.poll(&mut f).0 {
                        Poll::Ready(r) => break self.got(pair, r, Some(&f)),
                        Poll::Pending => panic!("pair {pair}: woken, yet still pending"),
                    }
                }
            }
            // Random short timed waits; then block or give up.
            4 => {
                for _ in 0..self.rng.below(4) {
                    self.maybe_release();
                    self.rng.pause();
                    let timeout = [0, 1, 50, 500][self.rng.below(4) as usize];
                    match f.wait_timeout(Duration::from_micros(timeout)) {
                        Ok(v) => return self.got(pair, Ok(v), Some(&f)),
                        Err(WaitError::Abandoned) => {
                            return self.got(pair, Err(Abandoned), Some(&f))
                        }
                        Err(WaitError::Timeout) => assert!(!f.is_terminated()),
                    }
                }
                if self.rng.below(2) == 0 {
                    self.release();
                    self.got(pair, f.wait_blocking(), None);
                } else {
                    self.dropped(pair, f);
                }
            }
            5 => {
                self.release();
                self.got(pair, f.wait_blocking(), None)
            }
            // Hand it to a done-callback (runs here or on the producer's thread).
            6 => f.on_complete(move |r| match r {
                Ok(v) => {
                    assert_eq!(v.pair, pair, "value delivered to the wrong callback");
                    records.consumer(pair, C_CALLBACK_VALUE);
                }
                Err(Abandoned) => records.consumer(pair, C_CALLBACK_ABANDONED),
            }),
            // try_take a few times, then give up.
            _ => {
                for _ in 0..self.rng.below(4) {
                    self.maybe_release();
                    match f.try_take() {
                        Ok(v) => return self.got(pair, Ok(v), Some(&f)),
                        Err(TryTakeError::Abandoned) => {
                            return self.got(pair, Err(Abandoned), Some(&f))
                        }
                        Err(TryTakeError::Pending) => self.rng.jitter(),
                    }
                }
                self.dropped(pair, f);
            }
        }
    }
}

struct Producer {
    rng: XorShift,
    records: Arc<Records>,
}

impl Producer {
    fn complete(&self, pair: usize, c: Completer<Payload>) {
        let v = Payload {
            pair,
            records: self.records.clone(),
        };
        match c.complete(v) {
            Ok(()) => self.records.producer(pair, P_COMPLETED),
            Err(v) => {
                assert_eq!(v.pair, pair, "complete handed back another value");
                // Record first, then drop: the drop is counted in the record.
                self.records.producer(pair, P_HANDED_BACK);
                drop(v);
            }
        }
    }

    fn handle(&mut self, pair: usize, mut c: Completer<Payload>) {
        self.rng.jitter();
        match self.rng.below(10) {
            0 | 1 => {
                drop(c);
                self.records.producer(pair, P_ABANDONED);
            }
            // Skip the work if the caller already gave up.
            2 => {
                if c.is_canceled() {
                    drop(c);
                    self.records.producer(pair, P_ABANDONED);
                } else {
                    self.complete(pair, c);
                }
            }
            // Watch for cancellation once (a waker in the tx slot), then complete.
            3 => {
                let waker = futures::task::noop_waker();
                let _ = c.poll_canceled(&mut Context::from_waker(&waker));
                self.rng.jitter();
                self.complete(pair, c);
            }
            // Through a C-style `user_data` pointer.
            4 => {
                let raw = c.into_raw() as usize;
                // SAFETY: `raw` came from `into_raw` for the same `T`, used once.
                let c = unsafe { Completer::<Payload>::from_raw(raw as *mut std::ffi::c_void) };
                self.complete(pair, c);
            }
            _ => self.complete(pair, c),
        }
    }
}

/// Pairs are created on the test thread and streamed to two producer and two consumer
/// threads, which act on them at random. Under `ANYWAIT_STRESS_SECS`, rounds of 1 to 4
/// producers and 1 to 4 consumers, 2000 to 60000 pairs and a random share of completers
/// sent straight to a producer, until the time is up.
#[test]
fn producers_and_consumers_at_random() {
    let mut stress = support::Stress::new("producers_and_consumers_at_random");
    let mut totals = [0; 6];
    while let Some(round) = stress.next_round() {
        let mut rng = XorShift::new(round.seed);
        let (producers, consumers, pairs, direct_one_in) = if round.long {
            (
                rng.between(1, 4) as usize,
                rng.between(1, 4) as usize,
                rng.between(2000, 60_000) as usize,
                [1, 2, 4, 8, 16][rng.below(5) as usize],
            )
        } else {
            (2, 2, 200_000, 4)
        };
        let counts = pairs_round(
            round.seed,
            &mut rng,
            producers,
            consumers,
            pairs,
            direct_one_in,
        );
        for (total, n) in totals.iter_mut().zip(counts) {
            *total += n;
        }
    }
    // The random choices must have produced every kind of consumer outcome.
    assert!(
        totals[1..].iter().all(|&n| n > 0),
        "an outcome never occurred: {totals:?}"
    );
}

/// One round of [`producers_and_consumers_at_random`]: `pairs` pairs over `producers` and
/// `consumers` threads; one completer in `direct_one_in` goes straight to a producer.
/// Returns the consumer outcomes per kind.
fn pairs_round(
    seed: u64,
    rng: &mut XorShift,
    producers: usize,
    consumers: usize,
    pairs: usize,
    direct_one_in: u64,
) -> [usize; 6] {
    let start = Instant::now();
    let records = Records::new(pairs);

    let (producer_txs, producer_threads): (Vec<_>, Vec<_>) = (0..producers as u64)
        .map(|k| {
            let (tx, rx) = mpsc::channel::<(usize, Completer<Payload>)>();
            let mut p = Producer {
                rng: XorShift::new(seed ^ (0x1000 + k)),
                records: records.clone(),
            };
            let t = thread::spawn(move || {
                for (pair, c) in rx {
                    p.handle(pair, c);
                }
            });
            (tx, t)
        })
        .unzip();
    let (consumer_txs, consumer_threads): (Vec<_>, Vec<_>) = (0..consumers as u64)
        .map(|k| {
            let (tx, rx) =
                mpsc::channel::<(usize, WaitableFuture<Payload>, Option<Completer<Payload>>)>();
            let mut c = Consumer {
                rng: XorShift::new(seed ^ (0x2000 + k)),
                records: records.clone(),
                wakers: Vec::new(),
                producers: producer_txs.clone(),
                completer: None,
            };
            let t = thread::spawn(move || {
                for (pair, f, completer) in rx {
                    c.completer = completer.map(|completer| (pair, completer));
                    c.handle(pair, f);
                    c.release();
                }
                c.wakers
            });
            (tx, t)
        })
        .unzip();

    for pair in 0..pairs {
        let (c, f) = waitable::<Payload>();
        let to_consumer = rng.below(consumers as u64) as usize;
        if rng.below(direct_one_in) == 0 {
            // Straight to a producer: it may complete before the consumer even looks.
            let to_producer = rng.below(producers as u64) as usize;
            producer_txs[to_producer].send((pair, c)).unwrap();
            rng.pause();
            consumer_txs[to_consumer].send((pair, f, None)).unwrap();
        } else {
            // Through the consumer, which passes it on at a random point.
            consumer_txs[to_consumer].send((pair, f, Some(c))).unwrap();
        }
    }
    drop(producer_txs);
    drop(consumer_txs);
    for p in producer_threads {
        p.join().unwrap();
    }
    let mut wakers = Vec::new();
    for c in consumer_threads {
        wakers.extend(c.join().unwrap());
    }

    let counts = records.check();
    let mut woken = 0;
    for w in &wakers {
        assert_eq!(Arc::strong_count(w), 1, "a waker is still held by anywait");
        let wakes = w.wakes.load(Ordering::SeqCst);
        assert!(wakes <= 1, "a waker was woken {wakes} times");
        woken += wakes;
    }
    println!(
        "{pairs} pairs ({producers} producers, {consumers} consumers) in {:?}: value {}, \
         abandoned {}, dropped {}, callback value {}, callback abandoned {}; {} wakers, \
         {woken} woken",
        start.elapsed(),
        counts[1],
        counts[2],
        counts[3],
        counts[4],
        counts[5],
        wakers.len(),
    );
    counts
}

/// Two threads meet at a barrier for every pair, then race: one completes (or drops the
/// completer), the other drops the future (after polling it, or not) or consumes it with
/// `on_complete`. Tight races on the state word's close step. Under
/// `ANYWAIT_STRESS_SECS`, rounds of 1000 to 30000 races, with a random share of abandoning
/// producers and random pauses on both sides of the barrier, until the time is up.
#[test]
fn complete_races_drop_at_a_barrier() {
    let mut stress = support::Stress::new("complete_races_drop_at_a_barrier");
    let mut totals = [0; 6];
    while let Some(round) = stress.next_round() {
        let (races, abandon_one_in) = if round.long {
            let mut rng = XorShift::new(round.seed ^ 0x5000);
            (rng.between(1000, 30_000) as usize, rng.between(2, 10))
        } else {
            (100_000, 5)
        };
        let counts = barrier_round(round.seed, races, abandon_one_in);
        for (total, n) in totals.iter_mut().zip(counts) {
            *total += n;
        }
    }
    assert!(totals[3] > 0 && totals[4] + totals[5] > 0, "{totals:?}");
}

/// One round of [`complete_races_drop_at_a_barrier`]: `races` pairs; one producer in
/// `abandon_one_in` drops its completer. Returns the consumer outcomes per kind.
fn barrier_round(seed: u64, races: usize, abandon_one_in: u64) -> [usize; 6] {
    let start = Instant::now();
    let records = Records::new(races);
    let barrier = Arc::new(Barrier::new(2));

    let (ctx, crx) = mpsc::sync_channel::<(usize, Completer<Payload>)>(1);
    let (ftx, frx) = mpsc::sync_channel::<(usize, WaitableFuture<Payload>)>(1);

    let sdk = {
        let barrier = barrier.clone();
        let records = records.clone();
        let mut rng = XorShift::new(seed ^ 0x3000);
        thread::spawn(move || {
            let p = Producer {
                rng: XorShift::new(seed ^ 0x3001),
                records,
            };
            for (pair, c) in crx {
                barrier.wait();
                rng.jitter();
                if rng.below(abandon_one_in) == 0 {
                    drop(c);
                    p.records.producer(pair, P_ABANDONED);
                } else {
                    p.complete(pair, c);
                }
            }
        })
    };
    let caller = {
        let barrier = barrier.clone();
        let records = records.clone();
        let mut consumer = Consumer {
            rng: XorShift::new(seed ^ 0x4000),
            records,
            wakers: Vec::new(),
            producers: Vec::new(),
            completer: None,
        };
        thread::spawn(move || {
            for (pair, f) in frx {
                let hook_records = consumer.records.clone();
                let mut f = f.on_cancel(move || {
                    hook_records.0[pair].hooks.fetch_add(1, Ordering::SeqCst);
                });
                let mode = consumer.rng.below(3);
                let mut pending_waker = None;
                if mode == 1 {
                    match consumer.poll(&mut f) {
                        (Poll::Ready(r), _) => {
                            // Cannot be: the producer waits at the barrier.
                            panic!("pair {pair}: ready before completion: {:?}", r.is_ok())
                        }
                        (Poll::Pending, w) => pending_waker = Some(w),
                    }
                }
                barrier.wait();
                consumer.rng.jitter();
                if mode == 2 {
                    let records = consumer.records.clone();
                    f.on_complete(move |r| {
                        let outcome = match r {
                            Ok(v) => {
                                assert_eq!(v.pair, pair);
                                C_CALLBACK_VALUE
                            }
                            Err(Abandoned) => C_CALLBACK_ABANDONED,
                        };
                        records.consumer(pair, outcome);
                    });
                } else {
                    consumer.dropped(pair, f);
                }
                drop(pending_waker);
            }
            consumer.wakers
        })
    };

    for pair in 0..races {
        let (c, f) = waitable::<Payload>();
        ctx.send((pair, c)).unwrap();
        ftx.send((pair, f)).unwrap();
    }
    drop(ctx);
    drop(ftx);
    sdk.join().unwrap();
    let wakers = caller.join().unwrap();

    let counts = records.check();
    let handed_back = records
        .0
        .iter()
        .filter(|r| r.producer.load(Ordering::SeqCst) == P_HANDED_BACK)
        .count();
    for w in &wakers {
        assert_eq!(Arc::strong_count(w), 1, "a waker is still held by anywait");
        // The future was dropped, not polled again: its waker may have been woken by the
        // completion that raced the drop, at most once.
        assert!(w.wakes.load(Ordering::SeqCst) <= 1);
    }
    println!(
        "{races} races in {:?}: dropped {} (of which {handed_back} handed back), \
         callback value {}, callback abandoned {}",
        start.elapsed(),
        counts[3],
        counts[4],
        counts[5],
    );
    counts
}
