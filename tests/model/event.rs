//! A plain-Rust reference model of [`AsyncEvent`] semantics, and a runner that applies the
//! same operations to a real `Arc<AsyncEvent>` (and its wait futures) and to the model,
//! step by step, asserting identical observable behaviour after every step.
//!
//! Shared by `tests/model_event.rs` (seeded random sequences) and the cargo-fuzz target
//! `fuzz/fuzz_targets/event.rs` (sequences decoded from fuzzer bytes by
//! [`ops_from_bytes`]). It depends only on `std`, `anywait` and `futures_core`, so both can
//! include it with `#[path]`.
//!
//! The rules the model encodes (see `src/event.rs`):
//! - `set()` on an unset event starts a new generation, latches the event and wakes every
//!   queued waiter once, in registration order. `set()` on a set event does nothing.
//! - `clear()` unlatches the event; the generation stays.
//! - A wait remembers the generation it was created in. A poll completes it if it already
//!   completed, if the event is set, or if the generation moved on (some `set()` found the
//!   event unset after the wait was created — even if `clear()` followed). Otherwise the
//!   wait queues with the poll's waker: at the tail if it was not queued, else in place
//!   with the new waker (the old one released unwoken).
//! - Dropping a wait unqueues it; it wakes nobody.
//! - A blocking wait (`wait_timeout(ZERO)`, `wait_deadline(past)`) on the current thread
//!   returns whether the event is set, and leaves the queue as it was.
//!
//! What is compared after every step:
//! - the operation's return value (poll results, `is_set`, blocking wait results, ...);
//! - the *ordered* list of wakers woken (the queue's order);
//! - for every counting waker still of interest: how often it was woken, and how many
//!   clones of it anywait holds (`Arc::strong_count`), which catches lost, duplicated and
//!   leaked wakers (a waker used by several waits is held once per queued wait);
//! - `is_set`, `is_terminated` of every live wait, which slots hold a wait, and the
//!   event's `Arc` count (one per live owned wait and nothing else).
//!
//! At the end every wait is dropped and every waker and event reference must be released.

// Not every item is used by every includer (the fuzz target uses only `run` and
// `ops_from_bytes`).
#![allow(dead_code)]

use std::ffi::c_void;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use anywait::{AsyncEvent, EventSetter, EventWait, OwnedEventWait};
use futures_core::FusedFuture;

/// How many addressable wait slots a sequence drives.
pub const WAITS: usize = 6;

/// How many waits one [`Op::Crowd`] adds (two crowds exceed the queue's wake batch of 32).
pub const CROWD: usize = 17;

/// At most this many crowd waits are alive at once.
pub const CROWD_MAX: usize = 4 * CROWD;

/// Longest sequence [`ops_from_bytes`] decodes (keeps fuzz iterations fast).
pub const MAX_OPS: usize = 2048;

/// The counting waker every [`WakerChoice::Task`] poll uses: "one task polling several
/// waits".
const TASK_WAKER: usize = 0;

/// Which waker a poll passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakerChoice {
    /// A new counting waker.
    Fresh,
    /// The waker this wait was last polled with (a new one if none): `will_wake` holds,
    /// so anywait keeps the one it has.
    Same,
    /// The one task waker shared by all waits of the sequence.
    Task,
}

/// One step. A `u8` wait index `i` names the `i`-th live wait among the [`WAITS`]
/// addressable slots (modulo their number, so few operations are skipped). An operation
/// that finds no live wait (or no free slot) is skipped on both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `set()`: `how % 4` = 0 `AsyncEvent::set`, 1 through a new `EventSetter`, 2 through
    /// `EventSetter::into_raw` / `set_raw` / `from_raw`, 3 through a clone of a setter.
    Set(u8),
    /// `clear()`.
    Clear,
    /// `is_set()`.
    IsSet,
    /// Create a wait in the first free slot, not polled: `wait_owned()` (boxed, pinned) if
    /// `owned`, else the borrowing `wait()`.
    NewWait { owned: bool },
    /// Create a wait in the first free slot and poll it at once with a fresh or the task
    /// waker.
    NewWaitPolled { owned: bool, task: bool },
    /// Poll wait `wait` once.
    Poll { wait: u8, waker: WakerChoice },
    /// Drop wait `wait`.
    DropWait(u8),
    /// `FusedFuture::is_terminated` of wait `wait`.
    IsTerminated(u8),
    /// `wait_timeout(Duration::ZERO)` on the current thread.
    WaitTimeoutZero,
    /// `wait_deadline` with a deadline in the past, on the current thread.
    WaitDeadlinePast,
    /// `wait_blocking`, only when the model says the event is set (else skipped: it would
    /// block forever).
    WaitBlocking,
    /// Add [`CROWD`] unaddressable waits (owned or borrowed, alternating if `mixed`), each
    /// polled once with a fresh waker. Skipped when [`CROWD_MAX`] are alive.
    Crowd { mixed: bool },
    /// Poll every crowd wait again with its own waker.
    PollCrowd,
    /// Drop every crowd wait, last first if `reverse`.
    DropCrowd { reverse: bool },
    /// Drop every wait (addressable and crowd), last first if `reverse`.
    DropAll { reverse: bool },
}

/// Decodes one operation per byte: the low three bits are the operation's argument (wait
/// index, flags), the high five pick the operation (common ones appear several times in
/// the table so they are drawn more often).
pub fn ops_from_bytes(data: &[u8]) -> Vec<Op> {
    data.iter()
        .take(MAX_OPS)
        .map(|&b| {
            let arg = b & 7;
            match b >> 3 {
                0..=3 => Op::Set(arg),
                4 | 5 => Op::Clear,
                6 => Op::IsSet,
                7..=10 => Op::NewWait {
                    owned: arg & 1 == 1,
                },
                11 | 12 => Op::NewWaitPolled {
                    owned: arg & 1 == 1,
                    task: arg & 2 == 2,
                },
                13..=15 | 29 => Op::Poll {
                    wait: arg,
                    waker: WakerChoice::Fresh,
                },
                16 | 17 | 30 => Op::Poll {
                    wait: arg,
                    waker: WakerChoice::Same,
                },
                18 | 19 | 31 => Op::Poll {
                    wait: arg,
                    waker: WakerChoice::Task,
                },
                20..=22 => Op::DropWait(arg),
                23 => Op::IsTerminated(arg),
                24 => Op::WaitTimeoutZero,
                25 => Op::WaitDeadlinePast,
                26 => Op::WaitBlocking,
                27 => match arg {
                    0..=3 => Op::Crowd {
                        mixed: arg & 1 == 1,
                    },
                    4 | 5 => Op::PollCrowd,
                    _ => Op::DropCrowd {
                        reverse: arg & 1 == 1,
                    },
                },
                28 => match arg {
                    0..=3 => Op::Crowd {
                        mixed: arg & 1 == 1,
                    },
                    4 | 5 => Op::DropCrowd {
                        reverse: arg & 1 == 1,
                    },
                    _ => Op::DropAll {
                        reverse: arg & 1 == 1,
                    },
                },
                _ => unreachable!("b >> 3 < 32"),
            }
        })
        .collect()
}

/// The slot of the `i`-th live addressable wait (modulo their number), `None` if none is.
fn resolve(live: impl Iterator<Item = bool>, i: u8) -> Option<usize> {
    let live: Vec<usize> = live
        .take(WAITS)
        .enumerate()
        .filter_map(|(slot, alive)| alive.then_some(slot))
        .collect();
    (!live.is_empty()).then(|| live[usize::from(i) % live.len()])
}

// ---------------------------------------------------------------------------------------
// Observable side effects.

/// A side effect, in the order it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Counting waker `w` was woken.
    Woken(usize),
}

type Log = Arc<Mutex<Vec<Event>>>;

fn record(log: &Log, e: Event) {
    log.lock().unwrap_or_else(|p| p.into_inner()).push(e);
}

/// A waker that counts its wake-ups and records them in the event log.
struct CountingWaker {
    index: usize,
    wakes: AtomicUsize,
    log: Log,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        record(&self.log, Event::Woken(self.index));
    }
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Obs {
    /// No live wait, no free slot, or a blocking wait that would block forever.
    Skipped,
    /// The operation returns nothing.
    Unit,
    /// A boolean query or a blocking wait's result.
    Bool(bool),
    /// `NewWait` put the wait into this slot.
    Created(usize),
    /// `NewWaitPolled`: the slot, and the first poll's result.
    CreatedPolled(usize, Poll<()>),
    /// A poll.
    Poll(Poll<()>),
    /// The crowd waits' poll results, in slot order.
    Polls(Vec<Poll<()>>),
}

// ---------------------------------------------------------------------------------------
// The model.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ModelWait {
    owned: bool,
    /// The generation the wait was created in.
    created: u64,
    /// A poll returned `Ready`.
    done: bool,
}

/// The reference model: plain bookkeeping, no concurrency.
#[derive(Debug)]
struct Model {
    set: bool,
    /// How many `set()`s found the event unset.
    generation: u64,
    /// Slots `0..WAITS` are addressable, the rest is the crowd.
    waits: Vec<Option<ModelWait>>,
    /// The wait queue: (slot, waker), in registration order.
    queue: Vec<(usize, usize)>,
    /// Expected wake count of every counting waker.
    wakes: Vec<usize>,
    /// Side effects expected from the current step, in order.
    events: Vec<Event>,
}

impl Model {
    fn new() -> Self {
        Model {
            set: false,
            generation: 0,
            waits: vec![None; WAITS],
            queue: Vec::new(),
            wakes: Vec::new(),
            events: Vec::new(),
        }
    }

    /// How many clones of waker `w` anywait should hold.
    fn held(&self, w: usize) -> usize {
        self.queue.iter().filter(|&&(_, held)| held == w).count()
    }

    fn owned_waits(&self) -> usize {
        self.waits.iter().flatten().filter(|w| w.owned).count()
    }

    fn set(&mut self) {
        if self.set {
            return;
        }
        self.set = true;
        self.generation += 1;
        for (_, w) in std::mem::take(&mut self.queue) {
            self.wakes[w] += 1;
            self.events.push(Event::Woken(w));
        }
    }

    fn create(&mut self, slot: usize, owned: bool) {
        debug_assert!(self.waits[slot].is_none());
        self.waits[slot] = Some(ModelWait {
            owned,
            created: self.generation,
            done: false,
        });
    }

    fn poll(&mut self, slot: usize, waker: usize) -> Poll<()> {
        let (set, generation) = (self.set, self.generation);
        let wait = self.waits[slot].as_mut().expect("polling a live wait");
        if wait.done || set || generation != wait.created {
            wait.done = true;
            debug_assert!(self.queue.iter().all(|&(s, _)| s != slot));
            return Poll::Ready(());
        }
        match self.queue.iter_mut().find(|(s, _)| *s == slot) {
            Some(entry) => entry.1 = waker,
            None => self.queue.push((slot, waker)),
        }
        Poll::Pending
    }

    fn drop_wait(&mut self, slot: usize) {
        debug_assert!(self.waits[slot].is_some());
        self.waits[slot] = None;
        self.queue.retain(|&(s, _)| s != slot);
    }

    /// Drops the waits in `slots` in this order, then shrinks the crowd away if it is gone.
    fn drop_waits(&mut self, slots: impl Iterator<Item = usize>) {
        for slot in slots {
            if self.waits[slot].is_some() {
                self.drop_wait(slot);
            }
        }
        if self.waits[WAITS..].iter().all(Option::is_none) {
            self.waits.truncate(WAITS);
        }
    }

    fn apply(&mut self, op: Op, d: &Decisions) -> Obs {
        match op {
            Op::Set(_) => {
                self.set();
                Obs::Unit
            }
            Op::Clear => {
                self.set = false;
                Obs::Unit
            }
            Op::IsSet => Obs::Bool(self.set),
            Op::NewWait { owned } => match d.slot {
                Some(slot) => {
                    self.create(slot, owned);
                    Obs::Created(slot)
                }
                None => Obs::Skipped,
            },
            Op::NewWaitPolled { owned, .. } => match d.slot {
                Some(slot) => {
                    self.create(slot, owned);
                    Obs::CreatedPolled(slot, self.poll(slot, d.waker))
                }
                None => Obs::Skipped,
            },
            Op::Poll { .. } => match d.slot {
                Some(slot) => Obs::Poll(self.poll(slot, d.waker)),
                None => Obs::Skipped,
            },
            Op::DropWait(_) => match d.slot {
                Some(slot) => {
                    self.drop_wait(slot);
                    Obs::Unit
                }
                None => Obs::Skipped,
            },
            Op::IsTerminated(_) => match d.slot {
                Some(slot) => Obs::Bool(self.waits[slot].is_some_and(|w| w.done)),
                None => Obs::Skipped,
            },
            Op::WaitTimeoutZero | Op::WaitDeadlinePast => Obs::Bool(self.set),
            Op::WaitBlocking if self.set => Obs::Unit,
            Op::WaitBlocking => Obs::Skipped,
            Op::Crowd { mixed } => {
                if d.crowd_wakers.is_empty() {
                    return Obs::Skipped;
                }
                let polls = d
                    .crowd_wakers
                    .iter()
                    .enumerate()
                    .map(|(k, &w)| {
                        let slot = self.waits.len();
                        self.waits.push(None);
                        self.create(slot, !mixed || k % 2 == 0);
                        self.poll(slot, w)
                    })
                    .collect();
                Obs::Polls(polls)
            }
            Op::PollCrowd => {
                if self.waits.len() == WAITS {
                    return Obs::Skipped;
                }
                // Crowd waits are only ever dropped all together: every slot is live.
                let polls = (WAITS..self.waits.len())
                    .map(|slot| self.poll(slot, d.crowd_wakers[slot - WAITS]))
                    .collect();
                Obs::Polls(polls)
            }
            Op::DropCrowd { reverse } => {
                if self.waits.len() == WAITS {
                    return Obs::Skipped;
                }
                let slots: Vec<usize> = (WAITS..self.waits.len()).collect();
                self.drop_waits(ordered(slots, reverse));
                Obs::Unit
            }
            Op::DropAll { reverse } => {
                let slots: Vec<usize> = (0..self.waits.len()).collect();
                self.drop_waits(ordered(slots, reverse));
                Obs::Unit
            }
        }
    }
}

fn ordered(mut slots: Vec<usize>, reverse: bool) -> impl Iterator<Item = usize> {
    if reverse {
        slots.reverse();
    }
    slots.into_iter()
}

/// What the runner picked for a step, shared by both sides.
struct Decisions {
    /// The wait slot the operation acts on (`None`: skipped).
    slot: Option<usize>,
    /// The waker a poll passes.
    waker: usize,
    /// `Crowd`: the new waits' fresh wakers (empty: skipped); `PollCrowd`: every crowd
    /// slot's waker, indexed by `slot - WAITS`.
    crowd_wakers: Vec<usize>,
}

// ---------------------------------------------------------------------------------------
// The real side.

enum RealWait<'a> {
    Owned(Pin<Box<OwnedEventWait>>),
    Borrowed(Pin<Box<EventWait<'a>>>),
}

impl RealWait<'_> {
    fn poll(&mut self, waker: &Waker) -> Poll<()> {
        let mut cx = Context::from_waker(waker);
        match self {
            RealWait::Owned(f) => f.as_mut().poll(&mut cx),
            RealWait::Borrowed(f) => f.as_mut().poll(&mut cx),
        }
    }

    fn is_terminated(&self) -> bool {
        match self {
            RealWait::Owned(f) => f.is_terminated(),
            RealWait::Borrowed(f) => f.is_terminated(),
        }
    }
}

struct Real<'a> {
    event: &'a Arc<AsyncEvent>,
    /// Slots `0..WAITS` are addressable, the rest is the crowd.
    waits: Vec<Option<RealWait<'a>>>,
    wakers: Vec<Arc<CountingWaker>>,
    log: Log,
}

impl<'a> Real<'a> {
    fn waker(&self, w: usize) -> Waker {
        Waker::from(self.wakers[w].clone())
    }

    fn create(&mut self, slot: usize, owned: bool) {
        let event: &'a Arc<AsyncEvent> = self.event;
        self.waits[slot] = Some(if owned {
            RealWait::Owned(Box::pin(event.wait_owned()))
        } else {
            RealWait::Borrowed(Box::pin(event.wait()))
        });
    }

    fn poll(&mut self, slot: usize, w: usize) -> Poll<()> {
        let waker = self.waker(w);
        self.waits[slot]
            .as_mut()
            .expect("polling a live wait")
            .poll(&waker)
    }

    fn drop_waits(&mut self, slots: impl Iterator<Item = usize>) {
        for slot in slots {
            drop(self.waits[slot].take());
        }
        if self.waits[WAITS..].iter().all(Option::is_none) {
            self.waits.truncate(WAITS);
        }
    }

    fn set(&self, how: u8) {
        match how % 4 {
            0 => self.event.set(),
            1 => EventSetter::new(self.event).set(),
            2 => {
                let raw: *mut c_void = EventSetter::new(self.event).into_raw();
                // SAFETY: `raw` came from `into_raw` and is released just below.
                unsafe { EventSetter::set_raw(raw) };
                // SAFETY: from `into_raw`, released exactly once, not used after.
                drop(unsafe { EventSetter::from_raw(raw) });
            }
            _ => {
                let setter = EventSetter::new(self.event);
                let clone = setter.clone();
                drop(setter);
                clone.set();
            }
        }
    }

    fn apply(&mut self, op: Op, d: &Decisions) -> Obs {
        match op {
            Op::Set(how) => {
                self.set(how);
                Obs::Unit
            }
            Op::Clear => {
                self.event.clear();
                Obs::Unit
            }
            Op::IsSet => Obs::Bool(self.event.is_set()),
            Op::NewWait { owned } => match d.slot {
                Some(slot) => {
                    self.create(slot, owned);
                    Obs::Created(slot)
                }
                None => Obs::Skipped,
            },
            Op::NewWaitPolled { owned, .. } => match d.slot {
                Some(slot) => {
                    self.create(slot, owned);
                    Obs::CreatedPolled(slot, self.poll(slot, d.waker))
                }
                None => Obs::Skipped,
            },
            Op::Poll { .. } => match d.slot {
                Some(slot) => Obs::Poll(self.poll(slot, d.waker)),
                None => Obs::Skipped,
            },
            Op::DropWait(_) => match d.slot {
                Some(slot) => {
                    drop(self.waits[slot].take());
                    Obs::Unit
                }
                None => Obs::Skipped,
            },
            Op::IsTerminated(_) => match d.slot {
                Some(slot) => Obs::Bool(self.waits[slot].as_ref().unwrap().is_terminated()),
                None => Obs::Skipped,
            },
            Op::WaitTimeoutZero => Obs::Bool(self.event.wait_timeout(Duration::ZERO)),
            Op::WaitDeadlinePast => {
                let past = Instant::now()
                    .checked_sub(Duration::from_millis(1))
                    .unwrap_or_else(Instant::now);
                Obs::Bool(self.event.wait_deadline(past))
            }
            // Only when set: otherwise this would block forever.
            Op::WaitBlocking if self.event.is_set() => {
                self.event.wait_blocking();
                Obs::Unit
            }
            Op::WaitBlocking => Obs::Skipped,
            Op::Crowd { mixed } => {
                if d.crowd_wakers.is_empty() {
                    return Obs::Skipped;
                }
                let polls = d
                    .crowd_wakers
                    .iter()
                    .enumerate()
                    .map(|(k, &w)| {
                        let slot = self.waits.len();
                        self.waits.push(None);
                        self.create(slot, !mixed || k % 2 == 0);
                        self.poll(slot, w)
                    })
                    .collect();
                Obs::Polls(polls)
            }
            Op::PollCrowd => {
                if self.waits.len() == WAITS {
                    return Obs::Skipped;
                }
                // Crowd waits are only ever dropped all together: every slot is live.
                let polls = (WAITS..self.waits.len())
                    .map(|slot| self.poll(slot, d.crowd_wakers[slot - WAITS]))
                    .collect();
                Obs::Polls(polls)
            }
            Op::DropCrowd { reverse } => {
                if self.waits.len() == WAITS {
                    return Obs::Skipped;
                }
                let slots: Vec<usize> = (WAITS..self.waits.len()).collect();
                self.drop_waits(ordered(slots, reverse));
                Obs::Unit
            }
            Op::DropAll { reverse } => {
                let slots: Vec<usize> = (0..self.waits.len()).collect();
                self.drop_waits(ordered(slots, reverse));
                Obs::Unit
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The runner.

/// Applies `ops` to a real `Arc<AsyncEvent>` and to the model, asserting identical
/// observable behaviour after every step, then drops every wait and checks that every
/// waker and event reference was released. Panics (with the step and the operation) on
/// the first difference. Returns how many operations were not skipped.
pub fn run(ops: &[Op]) -> usize {
    let log: Log = Arc::default();
    let event = Arc::new(AsyncEvent::new());
    let mut real = Real {
        event: &event,
        waits: (0..WAITS).map(|_| None).collect(),
        wakers: Vec::new(),
        log: log.clone(),
    };
    let mut model = Model::new();
    // The waker each slot was last polled with (for `WakerChoice::Same` and the crowd).
    let mut last_waker: Vec<Option<usize>> = vec![None; WAITS];
    // Wakers whose count may still change: the others were released by anywait and are
    // referenced by nothing that could pass them to it again.
    let mut watched: Vec<usize> = Vec::new();
    let mut executed = 0;

    let new_waker = |real: &mut Real, model: &mut Model, watched: &mut Vec<usize>| {
        let index = real.wakers.len();
        real.wakers.push(Arc::new(CountingWaker {
            index,
            wakes: AtomicUsize::new(0),
            log: log.clone(),
        }));
        model.wakes.push(0);
        watched.push(index);
        index
    };
    let task = new_waker(&mut real, &mut model, &mut watched);
    debug_assert_eq!(task, TASK_WAKER);

    let all = ops.iter().copied().chain([Op::DropAll { reverse: false }]);
    for (n, op) in all.enumerate() {
        let live = model.waits.iter().map(Option::is_some);
        let slot = match op {
            Op::NewWait { .. } | Op::NewWaitPolled { .. } => {
                model.waits[..WAITS].iter().position(Option::is_none)
            }
            Op::Poll { wait: i, .. } | Op::DropWait(i) | Op::IsTerminated(i) => resolve(live, i),
            _ => None,
        };
        let mut waker = usize::MAX;
        let mut crowd_wakers = Vec::new();
        match (op, slot) {
            (Op::NewWaitPolled { task, .. }, Some(_)) => {
                waker = if task {
                    TASK_WAKER
                } else {
                    new_waker(&mut real, &mut model, &mut watched)
                };
            }
            (Op::Poll { waker: choice, .. }, Some(slot)) => {
                waker = match (choice, last_waker[slot]) {
                    (WakerChoice::Task, _) => TASK_WAKER,
                    (WakerChoice::Same, Some(w)) => w,
                    _ => new_waker(&mut real, &mut model, &mut watched),
                };
            }
            (Op::Crowd { .. }, _) if model.waits.len() - WAITS < CROWD_MAX => {
                for _ in 0..CROWD {
                    let w = new_waker(&mut real, &mut model, &mut watched);
                    crowd_wakers.push(w);
                }
                last_waker.extend(crowd_wakers.iter().map(|&w| Some(w)));
            }
            (Op::PollCrowd, _) => {
                crowd_wakers = last_waker[WAITS..]
                    .iter()
                    .map(|w| w.unwrap_or(usize::MAX))
                    .collect();
            }
            _ => {}
        }
        match op {
            Op::NewWait { .. } => {
                if let Some(slot) = slot {
                    last_waker[slot] = None;
                }
            }
            Op::NewWaitPolled { .. } | Op::Poll { .. } => {
                if let Some(slot) = slot {
                    last_waker[slot] = Some(waker);
                }
            }
            _ => {}
        }
        let d = Decisions {
            slot,
            waker,
            crowd_wakers,
        };

        let got = real.apply(op, &d);
        let want = model.apply(op, &d);
        if want != Obs::Skipped {
            executed += 1;
        }
        check(n, op, &got, &want, &real, &mut model, &watched);
        last_waker.truncate(model.waits.len());
        watched.retain(|&w| w == TASK_WAKER || model.held(w) > 0 || last_waker.contains(&Some(w)));
    }

    // The final `DropAll` dropped every wait.
    assert_eq!(
        Arc::strong_count(&event),
        1,
        "the event is still referenced after every wait was dropped"
    );
    for (w, arc) in real.wakers.iter().enumerate() {
        assert_eq!(
            arc.wakes.load(Ordering::SeqCst),
            model.wakes[w],
            "waker {w} woken a different number of times than the model says"
        );
        assert_eq!(
            Arc::strong_count(arc),
            1,
            "waker {w} still held after every wait was dropped"
        );
    }
    executed
}

fn check(
    n: usize,
    op: Op,
    got: &Obs,
    want: &Obs,
    real: &Real,
    model: &mut Model,
    watched: &[usize],
) {
    assert_eq!(
        got, want,
        "step {n}: {op:?}: return value differs from the model"
    );
    let events = std::mem::take(&mut *real.log.lock().unwrap());
    let expected = std::mem::take(&mut model.events);
    assert_eq!(
        events, expected,
        "step {n}: {op:?}: wakers woken (in order) differ from the model"
    );
    for &w in watched {
        let arc = &real.wakers[w];
        assert_eq!(
            arc.wakes.load(Ordering::SeqCst),
            model.wakes[w],
            "step {n}: {op:?}: waker {w} woken a different number of times than the model says"
        );
        let held = model.held(w);
        assert_eq!(
            Arc::strong_count(arc),
            1 + held,
            "step {n}: {op:?}: waker {w}: anywait should hold {held} clone(s) of it"
        );
    }
    assert_eq!(
        real.event.is_set(),
        model.set,
        "step {n}: {op:?}: is_set differs from the model"
    );
    assert_eq!(
        real.waits.len(),
        model.waits.len(),
        "step {n}: {op:?}: number of slots"
    );
    for (slot, (r, m)) in real.waits.iter().zip(&model.waits).enumerate() {
        assert_eq!(
            r.as_ref().map(RealWait::is_terminated),
            m.map(|m| m.done),
            "step {n}: {op:?}: wait {slot}: liveness or is_terminated differs from the model"
        );
    }
    assert_eq!(
        Arc::strong_count(real.event),
        1 + model.owned_waits(),
        "step {n}: {op:?}: references to the event (one per live owned wait)"
    );
}
