//! A plain-Rust reference model of anywait's callback-stream semantics, and a runner that
//! applies the same operations to a real `callback_stream()` pair and to the model, step
//! by step, asserting identical observable behaviour after every step.
//!
//! Shared by `tests/model_stream.rs` (seeded random sequences) and a cargo-fuzz target
//! (sequences decoded from fuzzer bytes). It depends only on `std`, `anywait` and
//! `futures_core`, so both can include it with `#[path]`.
//!
//! What is compared after every step:
//! - the operation's return value (`push`'s `Ok` / `Rejected` reason and the handed-back
//!   item, `finish`/`fail`'s `bool`, poll results, blocking receive results, stats,
//!   `size_hint`, `is_closed`, `is_terminated`);
//! - the side effects it caused, as a multiset of events: items dropped (every item is a
//!   drop-logging [`Item`]), close hooks run and released, credits given; plus the order
//!   of the hooks run and of the credits;
//! - for both counting wakers: how often each was woken and whether the stream still
//!   holds a clone of it (`Arc::strong_count`), which catches lost and leaked wakers;
//! - the stream's counters ([`anywait::StreamStats`]), read from whichever handle is alive.
//!
//! At the end every remaining handle is dropped, and every item and hook must have been
//! released exactly once.

#![allow(dead_code)]

use std::collections::{BTreeSet, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use anywait::{
    callback_stream, CallbackStream, Overflow, RejectReason, StreamError, StreamFeeder,
    StreamPolicy, StreamStats,
};
use futures_core::{FusedStream, Stream};

/// How many feeder slots a sequence drives (clones go into free slots).
pub const FEEDERS: usize = 4;

/// Longest sequence [`ops_from_bytes`] decodes (keeps fuzz iterations fast).
pub const MAX_OPS: usize = 2048;

/// The policy of a stream, as the model sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyChoice {
    /// `StreamPolicy::Window { initial, weigh: |item| item.weight }`.
    Window { initial: usize },
    /// `StreamPolicy::Bounded` (capacity 0 included: the stream makes it 1).
    Bounded { capacity: usize, overflow: Overflow },
    /// `StreamPolicy::Unbounded`.
    Unbounded,
}

/// How a stream is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    pub policy: PolicyChoice,
    /// Whether an `on_credit` callback is registered right after creation.
    pub credit_hook: bool,
}

impl Setup {
    /// Decodes a setup from one byte.
    pub fn from_byte(b: u8) -> Setup {
        let arg = usize::from(b >> 2);
        let policy = match b & 3 {
            0 => PolicyChoice::Window {
                initial: [0, 1, 2, 3, 5, 8, 13, 32][arg % 8],
            },
            1 | 2 => PolicyChoice::Bounded {
                capacity: [0, 1, 2, 3, 4, 8][arg % 6],
                overflow: [Overflow::Reject, Overflow::DropOldest, Overflow::DropNewest]
                    [(arg / 6) % 3],
            },
            _ => PolicyChoice::Unbounded,
        };
        Setup {
            policy,
            credit_hook: b & 0x80 == 0 || b & 0x40 == 0,
        }
    }
}

/// One step. A feeder index `i` means the `(i mod n)`-th of the `n` live feeders (in slot
/// order). An operation whose handle is gone is skipped on both sides (and the model
/// must agree that it is gone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `feeder.push(item)`; the item weighs `value % 7` under `Window`.
    Push { feeder: u8, value: u8 },
    /// Clone feeder `i` into the first free slot (skipped if none is free).
    CloneFeeder(u8),
    /// Drop feeder `i`.
    DropFeeder(u8),
    /// `feeder.finish()` (consumes the feeder).
    Finish(u8),
    /// `feeder.fail(e)` (consumes the feeder).
    Fail(u8),
    /// Poll the stream once with the counting waker `waker & 1` (0 is "the task", 1
    /// stands in for a no-op waker; both are tracked).
    TryNext { waker: u8 },
    /// `next_timeout(Duration::ZERO)`.
    NextTimeoutZero,
    /// `next_deadline` with a deadline in the past.
    NextDeadlinePast,
    /// A blocking receive without a real deadline (`next_timeout` of a minute), only when
    /// the model says something is there (else skipped: it would block).
    NextBlocking,
    /// Drop the stream.
    DropStream,
    /// Read the stats (and `size_hint`) from every live handle.
    Stats,
    /// `feeder.on_close(hook)`.
    OnCloseFeeder(u8),
    /// `stream.on_close(hook)`.
    OnCloseStream,
    /// `feeder.is_closed()`.
    IsClosed(u8),
    /// `FusedStream::is_terminated`.
    IsTerminated,
    /// Drop what is left (stream first if `how & 0x80`, else feeders first) and start a
    /// new stream with `Setup::from_byte(how)`.
    Reset(u8),
}

/// Decodes a setup (first byte) and one operation per byte (two for `Push` and `Reset`):
/// the low five bits pick the operation, the high three its feeder. Common operations
/// appear several times in the table so that they are drawn more often.
pub fn ops_from_bytes(data: &[u8]) -> (Setup, Vec<Op>) {
    let setup = Setup::from_byte(data.first().copied().unwrap_or(0));
    let mut ops = Vec::new();
    let mut bytes = data.iter().skip(1).copied();
    while ops.len() < MAX_OPS {
        let Some(b) = bytes.next() else { break };
        let arg = b >> 5;
        let op = match b & 31 {
            0..=9 | 31 => Op::Push {
                feeder: arg & 3,
                value: bytes.next().unwrap_or(arg),
            },
            10 | 11 => Op::CloneFeeder(arg),
            12 => Op::DropFeeder(arg),
            13 => Op::Finish(arg),
            14 => Op::Fail(arg),
            15..=18 => Op::TryNext { waker: 0 },
            19 | 20 => Op::TryNext { waker: 1 },
            21 => Op::NextTimeoutZero,
            22 => Op::NextDeadlinePast,
            23 => Op::NextBlocking,
            24 => Op::DropStream,
            25 => Op::Stats,
            26 => Op::OnCloseFeeder(arg),
            27 => Op::OnCloseStream,
            28 => Op::IsClosed(arg),
            29 => Op::IsTerminated,
            _ => Op::Reset(bytes.next().unwrap_or(b)),
        };
        ops.push(op);
    }
    (setup, ops)
}

// ---------------------------------------------------------------------------------------
// Observable side effects.

/// A side effect, recorded by the real side through drop guards and closures, and
/// predicted by the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// An [`Item`] with this id was dropped.
    ItemDropped(u32),
    /// A close hook ran.
    HookRan(u32),
    /// A close hook was released (after running, or discarded).
    HookReleased(u32),
    /// The credit callback was called with this weight.
    Credit(usize),
}

type Log = Arc<Mutex<Vec<Event>>>;

fn log(log: &Log, event: Event) {
    log.lock().unwrap_or_else(|e| e.into_inner()).push(event);
}

/// The stream's item: logs its drop.
#[derive(Debug)]
pub struct Item {
    id: u32,
    weight: usize,
    log: Log,
}

impl Drop for Item {
    fn drop(&mut self) {
        log(&self.log, Event::ItemDropped(self.id));
    }
}

/// Captured by a close hook: logs the hook's release.
struct HookGuard {
    id: u32,
    log: Log,
}

impl Drop for HookGuard {
    fn drop(&mut self) {
        log(&self.log, Event::HookReleased(self.id));
    }
}

fn close_hook(id: u32, events: &Log) -> impl FnOnce() + Send + 'static {
    let guard = HookGuard {
        id,
        log: events.clone(),
    };
    move || {
        log(&guard.log, Event::HookRan(guard.id));
        drop(guard);
    }
}

/// A waker that counts its wake-ups; the stream's clones show in `Arc::strong_count`.
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The comparable part of [`StreamStats`] (which is `#[non_exhaustive]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub buffered: usize,
    pub buffered_weight: usize,
    pub dropped_oldest: u64,
    pub dropped_newest: u64,
    pub rejected: u64,
    pub overshoot: u64,
}

impl From<StreamStats> for Stats {
    fn from(s: StreamStats) -> Stats {
        Stats {
            buffered: s.buffered,
            buffered_weight: s.buffered_weight,
            dropped_oldest: s.dropped_oldest,
            dropped_newest: s.dropped_newest,
            rejected: s.rejected,
            overshoot: s.overshoot,
        }
    }
}

type Next = Option<Result<u32, StreamError<u32>>>;

/// The result of one operation, as compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    Skipped,
    Done,
    Push(Result<(), (RejectReason, u32)>),
    Bool(bool),
    Poll(Poll<Next>),
    Next(Next),
    Stats(Vec<Stats>, Option<(usize, Option<usize>)>),
}

// ---------------------------------------------------------------------------------------
// The model.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Open,
    Finished,
    Failed(u32),
    Abandoned,
    Delivered,
}

struct Model {
    setup: Setup,
    /// (id, weight under the policy)
    queue: VecDeque<(u32, usize)>,
    end: End,
    consumer_gone: bool,
    stream_alive: bool,
    feeders: [bool; FEEDERS],
    /// Which counting waker the stream holds, if any.
    registered: Option<usize>,
    wakes: [usize; 2],
    hooks: Vec<u32>,
    stats: Stats,
    events: Vec<Event>,
}

impl Model {
    fn new(setup: Setup) -> Model {
        let mut feeders = [false; FEEDERS];
        feeders[0] = true;
        Model {
            setup,
            queue: VecDeque::new(),
            end: End::Open,
            consumer_gone: false,
            stream_alive: true,
            feeders,
            registered: None,
            wakes: [0; 2],
            hooks: Vec::new(),
            stats: Stats::default(),
            events: Vec::new(),
        }
    }

    /// The slot an operation's feeder index means: the `(i mod live)`-th live feeder, so
    /// that operations reach a live feeder whenever there is one (slot 0 if none: the
    /// operation is then skipped). The real side has the same live slots (checked after
    /// every step).
    fn pick(&self, i: u8) -> usize {
        let live: Vec<usize> = (0..FEEDERS).filter(|&s| self.feeders[s]).collect();
        if live.is_empty() {
            0
        } else {
            live[usize::from(i) % live.len()]
        }
    }

    fn live_feeders(&self) -> usize {
        self.feeders.iter().filter(|&&alive| alive).count()
    }

    fn weight(&self, value: u8) -> usize {
        match self.setup.policy {
            PolicyChoice::Window { .. } => usize::from(value % 7),
            _ => 1,
        }
    }

    fn held_weight(&self) -> usize {
        self.queue.iter().map(|&(_, w)| w).sum()
    }

    fn notify(&mut self) {
        if let Some(w) = self.registered.take() {
            self.wakes[w] += 1;
        }
    }

    fn stats(&self) -> Stats {
        Stats {
            buffered: self.queue.len(),
            buffered_weight: self.held_weight(),
            ..self.stats
        }
    }

    fn push(&mut self, id: u32, value: u8) -> Out {
        let weight = self.weight(value);
        let reject = |model: &mut Model, reason| {
            model.stats.rejected += 1;
            // The runner drops the handed-back item.
            model.events.push(Event::ItemDropped(id));
            Out::Push(Err((reason, id)))
        };
        if self.consumer_gone {
            return reject(self, RejectReason::Closed);
        }
        if self.end != End::Open {
            return reject(self, RejectReason::Ended);
        }
        match self.setup.policy {
            PolicyChoice::Window { initial } => {
                let held = self.held_weight();
                if held >= initial {
                    return reject(self, RejectReason::WindowFull);
                }
                if held + weight > initial {
                    self.stats.overshoot += 1;
                }
            }
            PolicyChoice::Bounded { capacity, overflow } if self.queue.len() >= capacity.max(1) => {
                match overflow {
                    Overflow::Reject => return reject(self, RejectReason::Full),
                    Overflow::DropNewest => {
                        self.stats.dropped_newest += 1;
                        self.events.push(Event::ItemDropped(id));
                        return Out::Push(Ok(()));
                    }
                    Overflow::DropOldest => {
                        let (old, _) = self.queue.pop_front().unwrap();
                        self.stats.dropped_oldest += 1;
                        self.events.push(Event::ItemDropped(old));
                    }
                }
            }
            _ => {}
        }
        self.queue.push_back((id, weight));
        self.notify();
        Out::Push(Ok(()))
    }

    fn drop_feeder(&mut self, i: usize) {
        self.feeders[i] = false;
        if self.live_feeders() == 0 && self.end == End::Open {
            self.end = End::Abandoned;
            self.notify();
        }
    }

    /// `finish` / `fail`: ends the stream if it is open and has a consumer.
    fn end_with(&mut self, i: usize, end: End) -> Out {
        let ok = !self.consumer_gone && self.end == End::Open;
        if ok {
            self.end = end;
            self.notify();
        }
        self.drop_feeder(i);
        Out::Bool(ok)
    }

    /// Takes the next item or end; `None`: nothing there (the stream is open).
    fn take(&mut self) -> Option<Next> {
        if let Some((id, weight)) = self.queue.pop_front() {
            if self.setup.credit_hook {
                self.events.push(Event::Credit(weight));
            }
            // The runner drops the delivered item.
            self.events.push(Event::ItemDropped(id));
            return Some(Some(Ok(id)));
        }
        let next = match self.end {
            End::Open => return None,
            End::Finished | End::Delivered => None,
            End::Failed(e) => Some(Err(StreamError::Failed(e))),
            End::Abandoned => Some(Err(StreamError::Abandoned)),
        };
        self.end = End::Delivered;
        Some(next)
    }

    fn ready(&self) -> bool {
        !self.queue.is_empty() || self.end != End::Open
    }

    fn drop_stream(&mut self) {
        self.stream_alive = false;
        self.consumer_gone = true;
        let ended = self.end != End::Open;
        for (id, _) in std::mem::take(&mut self.queue) {
            self.events.push(Event::ItemDropped(id));
        }
        // The stream's waker is released, not woken.
        self.registered = None;
        for id in std::mem::take(&mut self.hooks) {
            self.hook_finished(id, !ended);
        }
    }

    fn hook_finished(&mut self, id: u32, ran: bool) {
        if ran {
            self.events.push(Event::HookRan(id));
        }
        self.events.push(Event::HookReleased(id));
    }

    fn add_hook(&mut self, id: u32) {
        if self.consumer_gone {
            let run = self.end == End::Open;
            self.hook_finished(id, run);
        } else {
            self.hooks.push(id);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The real side.

type Feeder = StreamFeeder<Item, u32>;
type Consumer = CallbackStream<Item, u32>;

struct Real {
    feeders: [Option<Feeder>; FEEDERS],
    stream: Option<Consumer>,
}

fn new_real(setup: Setup, events: &Log) -> Real {
    let policy = match setup.policy {
        PolicyChoice::Window { initial } => StreamPolicy::Window {
            initial,
            weigh: |item: &Item| item.weight,
        },
        PolicyChoice::Bounded { capacity, overflow } => {
            StreamPolicy::Bounded { capacity, overflow }
        }
        PolicyChoice::Unbounded => StreamPolicy::Unbounded,
    };
    let (feeder, stream) = callback_stream::<Item, u32>(policy);
    if setup.credit_hook {
        let events = events.clone();
        feeder.on_credit(move |weight| log(&events, Event::Credit(weight)));
    }
    Real {
        feeders: [Some(feeder), None, None, None],
        stream: Some(stream),
    }
}

fn to_id(next: Option<Result<Item, StreamError<u32>>>) -> Next {
    next.map(|result| result.map(|item| item.id))
}

/// Everything one run drives.
struct Harness {
    model: Model,
    real: Real,
    events: Log,
    wakers: [Arc<CountingWaker>; 2],
    next_id: u32,
    /// Items made; every one must be dropped exactly once.
    created: usize,
    /// Close hooks made; every one must be released exactly once.
    hooks: usize,
    dropped: BTreeSet<u32>,
    released: BTreeSet<u32>,
    executed: usize,
}

impl Harness {
    fn new(setup: Setup) -> Harness {
        let events: Log = Arc::default();
        Harness {
            model: Model::new(setup),
            real: new_real(setup, &events),
            events,
            wakers: [
                Arc::new(CountingWaker(AtomicUsize::new(0))),
                Arc::new(CountingWaker(AtomicUsize::new(0))),
            ],
            next_id: 0,
            created: 0,
            hooks: 0,
            dropped: BTreeSet::new(),
            released: BTreeSet::new(),
            executed: 0,
        }
    }

    /// Applies `op` (not `Reset`) to both sides and returns (real, model) results. Both
    /// sides must agree on whether the handle exists.
    fn apply(&mut self, op: Op) -> (Out, Out) {
        let Harness {
            model: m,
            real: r,
            events,
            wakers,
            next_id,
            created,
            hooks,
            ..
        } = self;
        let mut fresh_id = || {
            *next_id += 1;
            *next_id
        };
        match op {
            Op::Push { feeder, value } => {
                let i = m.pick(feeder);
                let Some(f) = &r.feeders[i] else {
                    return (Out::Skipped, skipped(m.feeders[i]));
                };
                let id = fresh_id();
                *created += 1;
                let item = Item {
                    id,
                    weight: usize::from(value % 7),
                    log: events.clone(),
                };
                let real = match f.push(item) {
                    Ok(()) => Ok(()),
                    Err(rejected) => Err((rejected.reason(), rejected.into_inner().id)),
                };
                (Out::Push(real), m.push(id, value))
            }
            Op::CloneFeeder(i) => {
                let i = m.pick(i);
                let Some(f) = &r.feeders[i] else {
                    return (Out::Skipped, skipped(m.feeders[i]));
                };
                assert!(m.feeders[i], "the real side has a feeder the model lost");
                let Some(free) = r.feeders.iter().position(Option::is_none) else {
                    return (Out::Skipped, Out::Skipped);
                };
                r.feeders[free] = Some(f.clone());
                m.feeders[free] = true;
                (Out::Done, Out::Done)
            }
            Op::DropFeeder(i) => {
                let i = m.pick(i);
                match r.feeders[i].take() {
                    None => (Out::Skipped, skipped(m.feeders[i])),
                    Some(f) => {
                        drop(f);
                        m.drop_feeder(i);
                        (Out::Done, Out::Done)
                    }
                }
            }
            Op::Finish(i) | Op::Fail(i) => {
                let i = m.pick(i);
                let Some(f) = r.feeders[i].take() else {
                    return (Out::Skipped, skipped(m.feeders[i]));
                };
                if let Op::Finish(_) = op {
                    (Out::Bool(f.finish()), m.end_with(i, End::Finished))
                } else {
                    let e = fresh_id();
                    (Out::Bool(f.fail(e)), m.end_with(i, End::Failed(e)))
                }
            }
            Op::TryNext { waker } => {
                let w = usize::from(waker & 1);
                let Some(stream) = &mut r.stream else {
                    return (Out::Skipped, skipped(m.stream_alive));
                };
                let waker = Waker::from(wakers[w].clone());
                let real = match Pin::new(stream).poll_next(&mut Context::from_waker(&waker)) {
                    Poll::Ready(next) => Poll::Ready(to_id(next)),
                    Poll::Pending => Poll::Pending,
                };
                let model = match m.take() {
                    Some(next) => Poll::Ready(next),
                    None => {
                        m.registered = Some(w);
                        Poll::Pending
                    }
                };
                (Out::Poll(real), Out::Poll(model))
            }
            Op::NextTimeoutZero | Op::NextDeadlinePast => {
                let Some(stream) = &mut r.stream else {
                    return (Out::Skipped, skipped(m.stream_alive));
                };
                let real = if op == Op::NextTimeoutZero {
                    stream.next_timeout(Duration::ZERO)
                } else {
                    let past = Instant::now()
                        .checked_sub(Duration::from_millis(1))
                        .unwrap_or_else(Instant::now);
                    stream.next_deadline(past)
                };
                // A timed-out blocking receive sets the task's waker (if any) aside while
                // its thread is registered, then puts it back: the task still gets woken.
                let model = m.take().unwrap_or(Some(Err(StreamError::Timeout)));
                (Out::Next(to_id(real)), Out::Next(model))
            }
            Op::NextBlocking => {
                if !m.ready() || !m.stream_alive {
                    return (Out::Skipped, Out::Skipped);
                }
                let stream = r.stream.as_mut().expect("model: the stream is alive");
                // `next_blocking` would return at once; a stream that wrongly blocks
                // fails the comparison (with `Timeout`) after a minute instead of hanging.
                let real = to_id(stream.next_timeout(Duration::from_secs(60)));
                (Out::Next(real), Out::Next(m.take().unwrap()))
            }
            Op::DropStream => match r.stream.take() {
                None => (Out::Skipped, skipped(m.stream_alive)),
                Some(stream) => {
                    drop(stream);
                    m.drop_stream();
                    (Out::Done, Out::Done)
                }
            },
            Op::Stats => {
                let real_stats: Vec<Stats> = r
                    .stream
                    .iter()
                    .map(|s| s.stats().into())
                    .chain(r.feeders.iter().flatten().map(|f| f.stats().into()))
                    .collect();
                let hint = r.stream.as_ref().map(|s| s.size_hint());
                let handles = usize::from(m.stream_alive) + m.live_feeders();
                let model_stats = vec![m.stats(); handles];
                let model_hint = m.stream_alive.then_some((m.queue.len(), None));
                (
                    Out::Stats(real_stats, hint),
                    Out::Stats(model_stats, model_hint),
                )
            }
            Op::OnCloseFeeder(i) => {
                let i = m.pick(i);
                let Some(f) = &r.feeders[i] else {
                    return (Out::Skipped, skipped(m.feeders[i]));
                };
                let id = fresh_id();
                *hooks += 1;
                f.on_close(close_hook(id, events));
                m.add_hook(id);
                (Out::Done, Out::Done)
            }
            Op::OnCloseStream => {
                let Some(stream) = &r.stream else {
                    return (Out::Skipped, skipped(m.stream_alive));
                };
                let id = fresh_id();
                *hooks += 1;
                stream.on_close(close_hook(id, events));
                m.add_hook(id);
                (Out::Done, Out::Done)
            }
            Op::IsClosed(i) => {
                let i = m.pick(i);
                match &r.feeders[i] {
                    None => (Out::Skipped, skipped(m.feeders[i])),
                    Some(f) => (Out::Bool(f.is_closed()), Out::Bool(m.consumer_gone)),
                }
            }
            Op::IsTerminated => match &r.stream {
                None => (Out::Skipped, skipped(m.stream_alive)),
                Some(stream) => (
                    Out::Bool(stream.is_terminated()),
                    Out::Bool(m.queue.is_empty() && m.end == End::Delivered),
                ),
            },
            Op::Reset(_) => unreachable!("handled by step"),
        }
    }

    /// Drops what is left of the stream, each drop a checked step, checks that nothing
    /// of it was left behind, and starts a fresh one.
    fn reset(&mut self, how: u8) {
        let stream_first = how & 0x80 != 0;
        if stream_first {
            self.step(Op::DropStream);
        }
        for i in 0..FEEDERS {
            self.step(Op::DropFeeder(i as u8));
        }
        if !stream_first {
            self.step(Op::DropStream);
        }
        self.finish_stream();
        let setup = Setup::from_byte(how);
        let wakes = self.model.wakes;
        self.model = Model::new(setup);
        // The counting wakers live on across streams.
        self.model.wakes = wakes;
        self.real = new_real(setup, &self.events);
    }

    /// After every handle of a stream is gone: nothing of it may be left behind.
    fn finish_stream(&mut self) {
        assert!(self.real.stream.is_none() && self.real.feeders.iter().all(Option::is_none));
        for (w, waker) in self.wakers.iter().enumerate() {
            assert_eq!(
                Arc::strong_count(waker),
                1,
                "waker {w} still held after every handle was dropped"
            );
        }
        assert_eq!(self.model.registered, None);
    }

    /// Applies one operation and compares everything observable.
    fn step(&mut self, op: Op) {
        if let Op::Reset(how) = op {
            self.executed += 1;
            self.reset(how);
            return;
        }
        let (real, model) = self.apply(op);
        assert_eq!(real, model, "{op:?}: results differ (real, model)");
        if real != Out::Skipped {
            self.executed += 1;
        }
        // Side effects of this step.
        let mut real_events = std::mem::take(&mut *self.events.lock().unwrap());
        let mut model_events = std::mem::take(&mut self.model.events);
        let order = |events: &[Event]| -> (Vec<Event>, Vec<Event>) {
            (
                events
                    .iter()
                    .copied()
                    .filter(|e| matches!(e, Event::HookRan(_)))
                    .collect(),
                events
                    .iter()
                    .copied()
                    .filter(|e| matches!(e, Event::Credit(_)))
                    .collect(),
            )
        };
        assert_eq!(
            order(&real_events),
            order(&model_events),
            "{op:?}: hook / credit order differs (real, model)"
        );
        for event in &real_events {
            let fresh = match *event {
                Event::ItemDropped(id) => self.dropped.insert(id),
                Event::HookReleased(id) => self.released.insert(id),
                _ => true,
            };
            assert!(fresh, "{op:?}: {event:?} happened twice");
        }
        real_events.sort();
        model_events.sort();
        assert_eq!(
            real_events, model_events,
            "{op:?}: side effects differ (real, model)"
        );
        // Wakers: woken as often, held by the stream as the model says.
        for w in 0..2 {
            let wakes = self.wakers[w].0.load(Ordering::SeqCst);
            let held = Arc::strong_count(&self.wakers[w]) - 1;
            assert_eq!(
                (wakes, held),
                (
                    self.model.wakes[w],
                    usize::from(self.model.registered == Some(w))
                ),
                "{op:?}: waker {w} (wakes, held by the stream) differ (real, model)"
            );
        }
        // Handles and stats.
        let real_feeders: Vec<bool> = self.real.feeders.iter().map(Option::is_some).collect();
        assert_eq!(real_feeders, self.model.feeders.to_vec(), "{op:?}: feeders");
        assert_eq!(self.real.stream.is_some(), self.model.stream_alive);
        let real_stats = self
            .real
            .stream
            .as_ref()
            .map(|s| s.stats())
            .or_else(|| self.real.feeders.iter().flatten().next().map(|f| f.stats()));
        if let Some(stats) = real_stats {
            assert_eq!(
                Stats::from(stats),
                self.model.stats(),
                "{op:?}: stats differ (real, model)"
            );
        }
    }
}

fn skipped(model_alive: bool) -> Out {
    assert!(!model_alive, "the model has a handle the real side lost");
    Out::Skipped
}

/// Runs `ops` on a stream created with `setup`, comparing the real stream and the model
/// after every step; then drops everything and checks that every item and hook was
/// released exactly once. Returns how many operations were not skipped.
pub fn run(setup: Setup, ops: &[Op]) -> usize {
    let mut h = Harness::new(setup);
    let mut history = Vec::new();
    for &op in ops {
        history.push(op);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.step(op)));
        if let Err(panic) = result {
            eprintln!(
                "model mismatch after {} steps; setup {setup:?}",
                history.len()
            );
            eprintln!("ops so far: {history:?}");
            std::panic::resume_unwind(panic);
        }
    }
    h.reset(0);
    // Every item released exactly once over the whole run (duplicates were caught as
    // they happened).
    assert_eq!(h.dropped.len(), h.created, "items never dropped");
    assert_eq!(h.released.len(), h.hooks, "close hooks never released");
    h.executed
}
