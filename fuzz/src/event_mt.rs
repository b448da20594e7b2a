//! `event_mt`: one `AsyncEvent` set, cleared and waited on from 2 to 4 real threads.
//!
//! Every thread keeps up to four waits of its own (owned `wait_owned()` futures and
//! borrowed `wait()` ones, pinned on the heap) and polls them with fresh counting wakers;
//! any thread sets and clears. Every `set`, `clear`, `is_set`, wait creation, poll and
//! `wait_timeout` is bracketed by stamps of one global SeqCst clock
//! ([`common::Clock`]), so after the join the operations of different threads can be
//! ordered wherever their spans do not overlap. The checks only use those definite
//! orders (a check never relies on how overlapping operations were interleaved):
//!
//! - a poll, `wait_timeout` or `is_set` while the event was *definitely* set (a `set`
//!   ended before the operation began, and no `clear` can have come between) reports it;
//! - a poll of a wait after a `set` that definitely found the event unset and came after
//!   the wait's creation resolves (the generation moved on);
//! - a wait never resolves, `wait_timeout` never returns true and `is_set` never returns
//!   true while the event was definitely unset and no `set` overlapped the time since the
//!   wait was created;
//! - a wait that resolved stays resolved (`is_terminated` agrees);
//! - after the join: a wait whose last poll was `Pending` and that resolves now had that
//!   poll's waker woken; if the event is set, every wait resolves; once every wait is
//!   dropped anywait holds no waker.
//!
//! Input: byte 0 thread count, byte 1 setup (bit 0: set the event before the threads
//! start), then `[op byte, arg byte]*` (see [`Op`]).

use std::pin::Pin;
use std::sync::{Arc, Barrier};
use std::task::Poll;
use std::time::Duration;

use anywait::{AsyncEvent, EventWait, OwnedEventWait};
use futures_core::FusedFuture;

use crate::common::{self, Clock, Span, WakeProbe};

/// One operation; `w` picks one of the thread's waits (modulo how many it has).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `AsyncEvent::set`.
    Set,
    /// `AsyncEvent::clear`.
    Clear,
    /// `AsyncEvent::is_set`.
    IsSet,
    /// A new wait (`wait_owned` if `owned`, else `wait`); the thread's oldest is dropped
    /// when it already has four.
    NewWait {
        /// `wait_owned` rather than `wait`.
        owned: bool,
    },
    /// Poll wait `w` with a fresh counting waker.
    Poll(u8),
    /// Drop wait `w`.
    DropWait(u8),
    /// `wait_timeout`, zero or tiny.
    WaitTimeout(u8),
    /// `is_terminated` of wait `w`, against what its polls returned.
    Inspect(u8),
    /// `set` then `wait_blocking` (only decoded when the input has no `Clear`: the event
    /// then stays set, so the blocking wait returns at once by construction).
    SetThenWaitBlocking,
}

const KINDS: u8 = 9;
const MAX_WAITS: usize = 4;

/// Decodes an input.
pub fn decode(data: &[u8]) -> common::Script<Op> {
    let mut script = common::decode(data, |code, input| {
        let arg = input.arg();
        Some(match code % KINDS {
            0 => Op::Set,
            1 => Op::Clear,
            2 => Op::IsSet,
            3 => Op::NewWait {
                owned: arg & 1 == 0,
            },
            4 => Op::Poll(arg),
            5 => Op::DropWait(arg),
            6 => Op::WaitTimeout(arg),
            7 => Op::Inspect(arg),
            _ => Op::SetThenWaitBlocking,
        })
    });
    let clears = script.threads.iter().flatten().any(|op| *op == Op::Clear);
    if clears {
        for ops in &mut script.threads {
            for op in ops.iter_mut() {
                if *op == Op::SetThenWaitBlocking {
                    *op = Op::Set;
                }
            }
        }
    }
    script
}

enum Handle<'a> {
    Owned(Pin<Box<OwnedEventWait>>),
    Borrowed(Pin<Box<EventWait<'a>>>),
}

impl Handle<'_> {
    fn poll_fresh(&mut self) -> (Poll<()>, Arc<WakeProbe>) {
        match self {
            Handle::Owned(f) => common::poll_fresh(f.as_mut()),
            Handle::Borrowed(f) => common::poll_fresh(f.as_mut()),
        }
    }

    fn is_terminated(&self) -> bool {
        match self {
            Handle::Owned(f) => f.is_terminated(),
            Handle::Borrowed(f) => f.is_terminated(),
        }
    }
}

/// A wait and what happened to it.
struct Wait<'a> {
    handle: Handle<'a>,
    created: Span,
    /// The span of the first poll that returned `Ready`.
    ready_at: Option<Span>,
    /// The waker of the last `Pending` poll.
    probe: Option<Arc<WakeProbe>>,
    id: usize,
}

/// What one thread reports after the join.
#[derive(Default)]
struct Log {
    sets: Vec<Span>,
    clears: Vec<Span>,
    /// (span, result) of `is_set` calls.
    is_set: Vec<(Span, bool)>,
    /// (span, result) of `wait_timeout` calls.
    timed: Vec<(Span, bool)>,
    /// (wait id, created, poll span, ready) of every poll.
    polls: Vec<(usize, Span, Span, bool)>,
    probes: Vec<Arc<WakeProbe>>,
}

/// The sets and clears of all threads, and what can be concluded from their spans.
struct History {
    sets: Vec<Span>,
    clears: Vec<Span>,
    set_first: bool,
}

impl History {
    /// The event was set at every point of `[b, e]`: a set ended before `b` (or the event
    /// started set) and no clear can be ordered after that set and before `e`.
    fn set_throughout(&self, b: u64, e: u64) -> bool {
        let no_clear_between =
            |after: u64| !self.clears.iter().any(|c| c.end > after && c.begin < e);
        (self.set_first && no_clear_between(0))
            || self
                .sets
                .iter()
                .any(|s| s.end < b && no_clear_between(s.begin))
    }

    /// The event was unset at every point of `[b, e]`: no set can be ordered before `e`
    /// (and it started unset), or a clear ended before `b` after which no set began
    /// before `e`.
    fn unset_throughout(&self, b: u64, e: u64) -> bool {
        let no_set_between = |after: u64| !self.sets.iter().any(|s| s.end > after && s.begin < e);
        (!self.set_first && no_set_between(0))
            || self
                .clears
                .iter()
                .any(|c| c.end < b && no_set_between(c.begin))
    }

    /// No set overlaps `[b, e]`.
    fn no_set_within(&self, b: u64, e: u64) -> bool {
        !self.sets.iter().any(|s| s.end > b && s.begin < e)
    }

    /// Some set that definitely found the event unset lies entirely after `after` and
    /// before `before`: the generation moved on in between.
    fn generation_moved(&self, after: u64, before: u64) -> bool {
        self.sets
            .iter()
            .any(|s| s.begin > after && s.end < before && self.unset_throughout(s.begin, s.begin))
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let script = decode(data);
    let set_first = script.setup & 1 == 1;
    let event = Arc::new(AsyncEvent::new());
    if set_first {
        event.set();
    }
    let clock = Clock::default();
    let next_id = std::sync::atomic::AtomicUsize::new(0);

    // Released once every thread ran its operations: from then on nobody sets or clears,
    // and each thread checks its own waits against the final state.
    let all_done = Barrier::new(script.threads.len());

    let logs = common::run_threads(&script.threads, |_, ops| {
        let mut log = Log::default();
        let mut waits: Vec<Wait<'_>> = Vec::new();
        let mut budget = common::MAX_TIMED_WAITS;
        for &op in ops {
            step(
                &event,
                &clock,
                &next_id,
                op,
                &mut waits,
                &mut log,
                &mut budget,
            );
        }
        all_done.wait();
        let now_set = event.is_set();
        for mut wait in waits {
            let (r, probe) = wait.handle.poll_fresh();
            log.probes.push(probe);
            if now_set {
                assert!(
                    r.is_ready(),
                    "event_mt: the event is set, but wait {} is pending",
                    wait.id
                );
            }
            if r.is_ready() && wait.ready_at.is_none() {
                if let Some(p) = &wait.probe {
                    assert!(
                        p.wakes() >= 1,
                        "event_mt: wait {} resolved after its last Pending poll, whose waker was never woken",
                        wait.id
                    );
                }
            }
        }
        log
    });

    let mut history = History {
        sets: Vec::new(),
        clears: Vec::new(),
        set_first,
    };
    for log in &logs {
        history.sets.extend(&log.sets);
        history.clears.extend(&log.clears);
    }
    let mut probes = Vec::new();
    for log in logs {
        check_log(&history, &log);
        probes.extend(log.probes);
    }
    common::assert_released("event_mt", &probes);
}

#[allow(clippy::too_many_arguments)]
fn step<'a>(
    event: &'a Arc<AsyncEvent>,
    clock: &Clock,
    next_id: &std::sync::atomic::AtomicUsize,
    op: Op,
    waits: &mut Vec<Wait<'a>>,
    log: &mut Log,
    budget: &mut usize,
) {
    let pick = |waits: &Vec<Wait<'a>>, w: u8| (!waits.is_empty()).then(|| w as usize % waits.len());
    match op {
        Op::Set => log.sets.push(Span::time(clock, || event.set()).0),
        Op::Clear => log.clears.push(Span::time(clock, || event.clear()).0),
        Op::IsSet => log.is_set.push(Span::time(clock, || event.is_set())),
        Op::NewWait { owned } => {
            if waits.len() >= MAX_WAITS {
                waits.remove(0);
            }
            let (created, handle) = Span::time(clock, || {
                if owned {
                    Handle::Owned(Box::pin(event.wait_owned()))
                } else {
                    Handle::Borrowed(Box::pin(event.wait()))
                }
            });
            let id = next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            waits.push(Wait {
                handle,
                created,
                ready_at: None,
                probe: None,
                id,
            });
        }
        Op::Poll(w) => {
            let Some(i) = pick(waits, w) else { return };
            let wait = &mut waits[i];
            let (span, (r, probe)) = Span::time(clock, || wait.handle.poll_fresh());
            log.probes.push(Arc::clone(&probe));
            let ready = r.is_ready();
            if wait.ready_at.is_some() {
                assert!(ready, "event_mt: wait {} was Ready, then Pending", wait.id);
            } else {
                log.polls.push((wait.id, wait.created, span, ready));
                if ready {
                    wait.ready_at = Some(span);
                }
            }
            wait.probe = if ready { None } else { Some(probe) };
        }
        Op::DropWait(w) => {
            let Some(i) = pick(waits, w) else { return };
            drop(waits.remove(i));
        }
        Op::WaitTimeout(arg) => {
            let timeout = common::timeout(arg, budget);
            log.timed
                .push(Span::time(clock, || event.wait_timeout(timeout)));
        }
        Op::Inspect(w) => {
            let Some(i) = pick(waits, w) else { return };
            let wait = &waits[i];
            assert_eq!(
                wait.handle.is_terminated(),
                wait.ready_at.is_some(),
                "event_mt: is_terminated disagrees with wait {}'s polls",
                wait.id
            );
        }
        Op::SetThenWaitBlocking => {
            log.sets.push(Span::time(clock, || event.set()).0);
            // No clear anywhere in this input: the event stays set, this returns at once.
            event.wait_blocking();
            assert!(event.wait_timeout(Duration::ZERO));
        }
    }
}

fn check_log(h: &History, log: &Log) {
    for &(span, r) in &log.is_set {
        if h.set_throughout(span.begin, span.end) {
            assert!(
                r,
                "event_mt: is_set() false while the event was definitely set ({span:?})"
            );
        }
        if h.unset_throughout(span.begin, span.end) {
            assert!(
                !r,
                "event_mt: is_set() true while the event was definitely unset ({span:?})"
            );
        }
    }
    for &(span, r) in &log.timed {
        if h.set_throughout(span.begin, span.end) {
            assert!(
                r,
                "event_mt: wait_timeout false while the event was definitely set ({span:?})"
            );
        }
        if h.no_set_within(span.begin, span.end) && h.unset_throughout(span.begin, span.end) {
            assert!(!r, "event_mt: wait_timeout true with the event unset and no set since it began ({span:?})");
        }
    }
    for &(id, created, span, ready) in &log.polls {
        if h.set_throughout(span.begin, span.end) {
            assert!(
                ready,
                "event_mt: wait {id} Pending while the event was definitely set ({span:?})"
            );
        }
        if h.generation_moved(created.end, span.begin) {
            assert!(ready, "event_mt: wait {id} Pending after a set that came after its creation ({created:?}, {span:?})");
        }
        if h.no_set_within(created.begin, span.end) && h.unset_throughout(span.begin, span.end) {
            assert!(!ready, "event_mt: wait {id} resolved with the event unset and no set since its creation ({created:?}, {span:?})");
        }
    }
}
