//! `stream_mt`: one callback stream fed by 2 to 4 real threads through their own feeder
//! clones, while any thread may also act as the consumer (the `CallbackStream` sits in a
//! mutex with the log of what it received).
//!
//! Input: byte 0 thread count, byte 1 setup, then `[op byte, arg byte]*` (see [`Op`]).
//! Setup bits 0-1: policy (0 `Unbounded`, 1 and 3 `Bounded`, 2 `Window` weighing each
//! item 1 to 4); bits 2-3: capacity `1 + b` or window `1 + 3b`; bits 4-5: overflow (0
//! `DropOldest`, 1 `DropNewest`, else `Reject`); bit 6: the main thread keeps a feeder
//! until after the join (so the stream cannot be abandoned meanwhile); bit 7: the credit
//! hook is installed on the consumer (else on a feeder).
//!
//! Pushes, ends, `is_closed` and the consumer's drop are stamped by the global clock
//! ([`common::Clock`]). Checked while running and after the join:
//! - the consumer's own `stats()`: `received + buffered + dropped_oldest + dropped_newest
//!   + rejected == pushed` exactly; `Bounded`: `buffered <= capacity` (from either side);
//!   `Window`: buffered weight below window + one item;
//! - items of each thread arrive in the order it pushed them, each at most once, only
//!   items whose push returned `Ok`; after the end, every accepted item not evicted or
//!   dropped by the overflow rule was received (counts match the stats);
//! - exactly one terminal event, after every item, then `None` forever; it matches the
//!   one `finish`/`fail` that returned true, or is `Abandoned` if none did;
//! - a push refused as `Closed` overlaps or follows the consumer's drop, one refused as
//!   `Ended` a successful end; a push that began after the consumer's drop ended is
//!   refused `Closed`; `Full`/`WindowFull` only under their policies;
//! - the credit hooks got exactly the weight of the items received;
//! - `on_close` hooks: none runs unless the consumer was dropped before an end; all run
//!   when the consumer was dropped while a kept feeder prevented abandonment and no end
//!   succeeded; each hook closure is dropped once;
//! - the consumer's last `Pending` poll's waker is woken by the end; every value and
//!   waker is released once everything is dropped.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use anywait::{
    callback_stream, CallbackStream, Overflow, RejectReason, StreamError, StreamFeeder,
    StreamPolicy, StreamStats,
};

use crate::common::{self, lock, Clock, Hooks, Ledger, Span, Val, WakeProbe};

/// One operation; `f` picks one of the thread's feeders (modulo how many it has).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `push` an item weighing `1 + w % 4`.
    Push {
        /// The feeder.
        f: u8,
        /// The weight, less one.
        w: u8,
    },
    /// Clone feeder `f` (at most four per thread).
    CloneFeeder(u8),
    /// Drop feeder `f`.
    DropFeeder(u8),
    /// `finish` through feeder `f`.
    Finish(u8),
    /// `fail` through feeder `f`, with a unique code.
    Fail(u8),
    /// Replace the credit hook through feeder `f` (same counter).
    SetCredit(u8),
    /// Add an `on_close` hook through feeder `f`.
    OnCloseFeeder(u8),
    /// `is_closed` and `stats` through feeder `f`.
    FeederInspect(u8),
    /// Poll the consumer with a fresh counting waker.
    Recv,
    /// `next_timeout`, zero or tiny.
    RecvTimeout(u8),
    /// The consumer's `stats()`, checked.
    Stats,
    /// Drop the consumer.
    DropConsumer,
    /// Add an `on_close` hook through the consumer.
    OnCloseConsumer,
}

const KINDS: u8 = 16;
const MAX_FEEDERS: usize = 4;
const MAX_WEIGHT: usize = 4;

/// Decodes an input.
pub fn decode(data: &[u8]) -> common::Script<Op> {
    common::decode(data, |code, input| {
        let arg = input.arg();
        let f = arg & 0x3;
        Some(match code % KINDS {
            0..=2 => Op::Push { f, w: arg >> 2 },
            3 => Op::CloneFeeder(f),
            4 => Op::DropFeeder(f),
            5 => Op::Finish(f),
            6 => Op::Fail(f),
            7 => Op::SetCredit(f),
            8 => Op::OnCloseFeeder(f),
            9 => Op::FeederInspect(f),
            10 | 11 => Op::Recv,
            12 => Op::RecvTimeout(arg),
            13 => Op::Stats,
            14 => {
                if arg & 1 == 0 {
                    Op::DropConsumer
                } else {
                    Op::Recv
                }
            }
            _ => Op::OnCloseConsumer,
        })
    })
}

fn weigh(v: &Val) -> usize {
    usize::from(v.weight)
}

#[derive(Clone, Copy, Debug)]
struct Setup {
    policy: u8,
    param: usize,
    overflow: Overflow,
    anchor: bool,
    credit_on_consumer: bool,
}

impl Setup {
    fn from(b: u8) -> Setup {
        Setup {
            policy: b & 3,
            param: usize::from((b >> 2) & 3),
            overflow: match (b >> 4) & 3 {
                0 => Overflow::DropOldest,
                1 => Overflow::DropNewest,
                _ => Overflow::Reject,
            },
            anchor: b & 0x40 != 0,
            credit_on_consumer: b & 0x80 != 0,
        }
    }

    fn policy(&self) -> StreamPolicy<Val> {
        match self.policy {
            0 => StreamPolicy::Unbounded,
            2 => StreamPolicy::Window {
                initial: self.window(),
                weigh,
            },
            _ => StreamPolicy::Bounded {
                capacity: self.capacity(),
                overflow: self.overflow,
            },
        }
    }

    fn is_window(&self) -> bool {
        self.policy == 2
    }

    fn is_bounded(&self) -> bool {
        self.policy & 1 == 1
    }

    fn capacity(&self) -> usize {
        1 + self.param
    }

    fn window(&self) -> usize {
        1 + 3 * self.param
    }

    /// Checks stats read from either side.
    fn check_bounds(&self, s: &StreamStats, side: &str) {
        if self.is_bounded() {
            assert!(
                s.buffered <= self.capacity(),
                "stream_mt: {side} stats: {} buffered, capacity {}",
                s.buffered,
                self.capacity()
            );
        }
        if self.is_window() {
            assert!(
                s.buffered_weight < self.window() + MAX_WEIGHT,
                "stream_mt: {side} stats: buffered weight {} past window {} + one item",
                s.buffered_weight,
                self.window()
            );
        } else if side == "consumer" {
            // The consumer's own view: nothing lowers the counters meanwhile.
            assert_eq!(
                s.buffered_weight, s.buffered,
                "stream_mt: {side} stats: weight != count"
            );
        }
        // Read on another thread, `buffered` and `buffered_weight` may disagree: the
        // consumer lowers `held` and then `held_weight` with two atomics outside the lock,
        // and `stats()` loads them one after the other (a torn snapshot; see the notes).
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Terminal {
    Finished,
    Failed(u32),
    Abandoned,
}

struct Consumer {
    stream: Option<CallbackStream<Val, u32>>,
    /// (thread, seq, id, weight) of every item received, in order.
    received: Vec<(u8, u32, u32, usize)>,
    terminal: Option<Terminal>,
    /// The waker of the last `Pending` poll.
    probe: Option<Arc<WakeProbe>>,
    dropped: Option<Span>,
}

impl Consumer {
    fn receive(&mut self, r: Option<Result<Val, StreamError<u32>>>, window: bool, what: &str) {
        match r {
            Some(Ok(v)) => {
                assert!(
                    self.terminal.is_none(),
                    "stream_mt: {what}: item {:?} after the terminal {:?}",
                    v.tag,
                    self.terminal
                );
                let (thread, seq) = v.tag;
                if let Some(last) = self.received.iter().rev().find(|r| r.0 == thread) {
                    assert!(
                        last.1 < seq,
                        "stream_mt: {what}: thread {thread}'s item {seq} after its item {}",
                        last.1
                    );
                }
                // Only `Window` weighs items; the other policies count 1 an item.
                let weight = if window { weigh(&v) } else { 1 };
                self.received.push((thread, seq, v.id, weight));
            }
            Some(Err(StreamError::Timeout)) => {}
            Some(Err(e)) => {
                assert!(
                    self.terminal.is_none(),
                    "stream_mt: {what}: a second terminal {e:?} after {:?}",
                    self.terminal
                );
                self.terminal = Some(match e {
                    StreamError::Failed(code) => Terminal::Failed(code),
                    _ => Terminal::Abandoned,
                });
            }
            None => {
                if self.terminal.is_none() {
                    self.terminal = Some(Terminal::Finished);
                }
            }
        }
    }
}

/// What one thread reports after the join.
#[derive(Default)]
struct Log {
    /// (span, id, result) of every push (`None`: accepted).
    pushes: Vec<(Span, u32, Option<RejectReason>)>,
    /// (span, fail code or None for finish, returned).
    ends: Vec<(Span, Option<u32>, bool)>,
    /// Spans of `is_closed` calls that returned true.
    closed_seen: Vec<Span>,
}

struct State {
    setup: Setup,
    consumer: Mutex<Consumer>,
    clock: Clock,
    credit: Arc<AtomicUsize>,
    close_hooks: Arc<Hooks>,
    fail_codes: AtomicU32,
    probes: Mutex<Vec<Arc<WakeProbe>>>,
}

impl State {
    fn credit_hook(&self) -> impl Fn(usize) + Send + Sync + 'static {
        let credit = Arc::clone(&self.credit);
        move |w| {
            credit.fetch_add(w, Ordering::SeqCst);
        }
    }

    /// Under the consumer's lock: the credits match what it received.
    fn check_credit(&self, c: &Consumer) {
        let weight: usize = c.received.iter().map(|r| r.3).sum();
        assert_eq!(
            self.credit.load(Ordering::SeqCst),
            weight,
            "stream_mt: credit hooks got a weight other than that of the items received"
        );
    }

    fn check_stats(&self, c: &Consumer, s: &StreamStats) {
        self.setup.check_bounds(s, "consumer");
        let received = c.received.len() as u64;
        assert_eq!(
            received + s.buffered as u64 + s.dropped_oldest + s.dropped_newest + s.rejected,
            s.pushed,
            "stream_mt: received {received} + {s:?} do not add up to pushed"
        );
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let script = decode(data);
    let setup = Setup::from(script.setup);
    let ledger = Ledger::new();
    let (feeder, stream) = callback_stream::<Val, u32>(setup.policy());
    let state = State {
        setup,
        consumer: Mutex::new(Consumer {
            stream: None,
            received: Vec::new(),
            terminal: None,
            probe: None,
            dropped: None,
        }),
        clock: Clock::default(),
        credit: Arc::new(AtomicUsize::new(0)),
        close_hooks: Arc::new(Hooks::default()),
        fail_codes: AtomicU32::new(0),
        probes: Mutex::new(Vec::new()),
    };
    if setup.credit_on_consumer {
        stream.on_credit(state.credit_hook());
    } else {
        feeder.on_credit(state.credit_hook());
    }
    lock(&state.consumer).stream = Some(stream);
    let starting: Vec<Mutex<Option<StreamFeeder<Val, u32>>>> = (0..script.threads.len())
        .map(|_| Mutex::new(Some(feeder.clone())))
        .collect();
    let anchor = setup.anchor.then_some(feeder);

    let logs = common::run_threads(&script.threads, |i, ops| {
        let mut feeders: Vec<StreamFeeder<Val, u32>> =
            lock(&starting[i]).take().into_iter().collect();
        let mut log = Log::default();
        let mut seq = 0u32;
        let mut budget = common::MAX_TIMED_WAITS;
        for &op in ops {
            step(
                &state,
                &ledger,
                i as u8,
                op,
                &mut feeders,
                &mut seq,
                &mut log,
                &mut budget,
            );
        }
        log
    });
    let all_pushes: Vec<_> = logs.iter().flat_map(|l| l.pushes.iter().copied()).collect();
    let ends: Vec<_> = logs.iter().flat_map(|l| l.ends.iter().copied()).collect();
    let closed_seen: Vec<_> = logs
        .iter()
        .flat_map(|l| l.closed_seen.iter().copied())
        .collect();
    let successful_ends: Vec<_> = ends.iter().filter(|e| e.2).collect();
    assert!(
        successful_ends.len() <= 1,
        "stream_mt: two ends succeeded: {successful_ends:?}"
    );
    let end = successful_ends.first().map(|e| (e.0, e.1));

    // The final stats, from a kept feeder (before it goes).
    let feeder_stats = anchor.as_ref().map(|f| f.stats());
    let mut consumer = lock(&state.consumer);
    let dropped_during_run = consumer.dropped;
    if let Some(mut stream) = consumer.stream.take() {
        // Drain what is there, then end the stream (every feeder gone) and take the end.
        loop {
            if consumer.terminal.is_some() {
                break;
            }
            let (r, probe) = common::poll_next_fresh(&mut stream);
            lock(&state.probes).push(Arc::clone(&probe));
            match r {
                Poll::Ready(r) => consumer.receive(r, setup.is_window(), "final poll"),
                Poll::Pending => {
                    consumer.probe = Some(probe);
                    break;
                }
            }
        }
        drop(anchor);
        while consumer.terminal.is_none() {
            // Every feeder is gone: the stream has ended, so this returns.
            let r = stream.next_blocking();
            consumer.receive(r, setup.is_window(), "final next_blocking");
        }
        assert!(
            stream.next_blocking().is_none(),
            "stream_mt: not fused after the end"
        );
        if let Some(p) = consumer.probe.take() {
            assert!(
                p.wakes() >= 1,
                "stream_mt: the consumer's last Pending poll was never woken"
            );
        }
        state.check_credit(&consumer);
        let s = stream.stats();
        state.check_stats(&consumer, &s);
        assert_eq!(s.buffered, 0);
        assert_eq!(
            s.pushed,
            all_pushes.len() as u64,
            "stream_mt: pushed counts every push"
        );
        let rejected = all_pushes.iter().filter(|p| p.2.is_some()).count() as u64;
        assert_eq!(
            s.rejected, rejected,
            "stream_mt: rejected counts every refused push"
        );
        let accepted = all_pushes.len() as u64 - rejected;
        assert_eq!(
            accepted - consumer.received.len() as u64,
            s.dropped_oldest + s.dropped_newest,
            "stream_mt: accepted items neither received nor dropped by the overflow rule"
        );
        let expected = match end {
            Some((_, None)) => Terminal::Finished,
            Some((_, Some(code))) => Terminal::Failed(code),
            None => Terminal::Abandoned,
        };
        assert_eq!(
            consumer.terminal,
            Some(expected),
            "stream_mt: the terminal event"
        );
        drop(stream);
    } else {
        if let Some(s) = feeder_stats {
            setup.check_bounds(&s, "final feeder");
        }
        drop(anchor);
    }

    // Items: received only if accepted, each at most once.
    let mut received_ids: Vec<u32> = consumer.received.iter().map(|r| r.2).collect();
    received_ids.sort_unstable();
    let n = received_ids.len();
    received_ids.dedup();
    assert_eq!(
        n,
        received_ids.len(),
        "stream_mt: an item was received twice"
    );
    for id in &received_ids {
        assert!(
            all_pushes.iter().any(|p| p.1 == *id && p.2.is_none()),
            "stream_mt: received item {id} whose push was refused"
        );
    }

    // Push results against the timeline.
    for &(span, id, r) in &all_pushes {
        match r {
            Some(RejectReason::Closed) => assert!(
                dropped_during_run.is_some_and(|d| d.begin < span.end),
                "stream_mt: push {id} refused Closed before the consumer was dropped"
            ),
            Some(RejectReason::Ended) => assert!(
                end.is_some_and(|(e, _)| e.begin < span.end),
                "stream_mt: push {id} refused Ended before any end"
            ),
            Some(RejectReason::Full) => assert!(
                setup.is_bounded() && setup.overflow == Overflow::Reject,
                "stream_mt: push {id} refused Full under {:?}",
                setup.policy()
            ),
            Some(RejectReason::WindowFull) => {
                assert!(
                    setup.is_window(),
                    "stream_mt: push {id} refused WindowFull without a window"
                )
            }
            None => {
                assert!(
                    dropped_during_run.is_none_or(|d| d.end >= span.begin),
                    "stream_mt: push {id} accepted after the consumer's drop"
                );
                assert!(
                    end.is_none_or(|(e, _)| e.end >= span.begin),
                    "stream_mt: push {id} accepted after the end"
                );
            }
        }
    }
    for span in &closed_seen {
        assert!(
            dropped_during_run.is_some_and(|d| d.begin < span.end),
            "stream_mt: is_closed() true before the consumer was dropped"
        );
    }

    // on_close hooks.
    let (registered, ran, _) = state.close_hooks.counts();
    if dropped_during_run.is_none() || end.is_some() {
        assert_eq!(
            ran, 0,
            "stream_mt: an on_close hook ran without a close before the end"
        );
    } else if setup.anchor {
        assert_eq!(
            ran, registered,
            "stream_mt: closed while open: {ran} of {registered} on_close hooks ran"
        );
    } else {
        assert!(ran <= registered);
    }
    consumer.probe = None;
    drop(consumer);
    drop(state.consumer);
    state.close_hooks.assert_all_dropped("stream_mt on_close");
    ledger.assert_all_dropped("stream_mt");
    common::assert_released("stream_mt", &lock(&state.probes));
}

#[allow(clippy::too_many_arguments)]
fn step(
    state: &State,
    ledger: &Arc<Ledger>,
    thread: u8,
    op: Op,
    feeders: &mut Vec<StreamFeeder<Val, u32>>,
    seq: &mut u32,
    log: &mut Log,
    budget: &mut usize,
) {
    let pick = |feeders: &Vec<StreamFeeder<Val, u32>>, f: u8| {
        (!feeders.is_empty()).then(|| f as usize % feeders.len())
    };
    match op {
        Op::Push { f, w } => {
            let Some(i) = pick(feeders, f) else { return };
            let mut v = ledger.make_weighted(1 + w % MAX_WEIGHT as u8);
            v.tag = (thread, *seq);
            *seq += 1;
            let id = v.id;
            let (span, r) = Span::time(&state.clock, || feeders[i].push(v));
            let r = match r {
                Ok(()) => None,
                Err(rejected) => {
                    let reason = rejected.reason();
                    let back = rejected.into_inner();
                    assert_eq!(
                        back.id, id,
                        "stream_mt: a refused push handed back another item"
                    );
                    Some(reason)
                }
            };
            log.pushes.push((span, id, r));
        }
        Op::CloneFeeder(f) => {
            let Some(i) = pick(feeders, f) else { return };
            if feeders.len() < MAX_FEEDERS {
                let clone = feeders[i].clone();
                feeders.push(clone);
            }
        }
        Op::DropFeeder(f) => {
            let Some(i) = pick(feeders, f) else { return };
            drop(feeders.remove(i));
        }
        Op::Finish(f) => {
            let Some(i) = pick(feeders, f) else { return };
            let feeder = feeders.remove(i);
            let (span, ok) = Span::time(&state.clock, || feeder.finish());
            log.ends.push((span, None, ok));
        }
        Op::Fail(f) => {
            let Some(i) = pick(feeders, f) else { return };
            let feeder = feeders.remove(i);
            let code = state.fail_codes.fetch_add(1, Ordering::Relaxed);
            let (span, ok) = Span::time(&state.clock, || feeder.fail(code));
            log.ends.push((span, Some(code), ok));
        }
        Op::SetCredit(f) => {
            let Some(i) = pick(feeders, f) else { return };
            feeders[i].on_credit(state.credit_hook());
        }
        Op::OnCloseFeeder(f) => {
            let Some(i) = pick(feeders, f) else { return };
            feeders[i].on_close(state.close_hooks.hook());
        }
        Op::FeederInspect(f) => {
            let Some(i) = pick(feeders, f) else { return };
            let (span, closed) = Span::time(&state.clock, || feeders[i].is_closed());
            if closed {
                log.closed_seen.push(span);
            }
            state.setup.check_bounds(&feeders[i].stats(), "feeder");
        }
        Op::Recv => {
            let mut c = lock(&state.consumer);
            let Some(stream) = &mut c.stream else { return };
            let (r, probe) = common::poll_next_fresh(stream);
            lock(&state.probes).push(Arc::clone(&probe));
            match r {
                Poll::Ready(r) => c.receive(r, state.setup.is_window(), "poll_next"),
                Poll::Pending => {
                    assert!(c.terminal.is_none(), "stream_mt: Pending after the end");
                    c.probe = Some(probe);
                }
            }
            state.check_credit(&c);
        }
        Op::RecvTimeout(arg) => {
            let timeout = common::timeout(arg, budget);
            let mut c = lock(&state.consumer);
            let Some(stream) = &mut c.stream else { return };
            let r = stream.next_timeout(timeout);
            c.receive(r, state.setup.is_window(), "next_timeout");
            state.check_credit(&c);
        }
        Op::Stats => {
            let c = lock(&state.consumer);
            let Some(stream) = &c.stream else { return };
            let s = stream.stats();
            state.check_stats(&c, &s);
        }
        Op::DropConsumer => {
            let stream = {
                let mut c = lock(&state.consumer);
                let Some(stream) = c.stream.take() else {
                    return;
                };
                c.probe = None;
                stream
            };
            let (span, ()) = Span::time(&state.clock, || drop(stream));
            lock(&state.consumer).dropped = Some(span);
        }
        Op::OnCloseConsumer => {
            let c = lock(&state.consumer);
            let Some(stream) = &c.stream else { return };
            stream.on_close(state.close_hooks.hook());
        }
    }
}
