//! The state both sides of a callback stream meet in, and the helpers they share.

use std::collections::VecDeque;

use super::{Overflow, StreamPolicy, StreamStats};
use crate::core::waiter::Waiter;
use crate::panics::{contain, HookKind};
use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering, SpinGuard, SpinLock, SPIN_ROUNDS};

pub(super) type Hook = Box<dyn FnOnce() + Send>;
pub(super) type CreditHook = Arc<dyn Fn(usize) + Send + Sync>;

pub(super) enum End<E> {
    Open,
    Finished,
    Failed(E),
    Abandoned,
    /// The terminal item was delivered (or there was none): the stream is fused.
    Delivered,
}

/// `repr(C)`, hottest first: with the lock's flag before it (see `SpinLock`), a push
/// finds what it reads and writes on the lock's own cache line.
#[repr(C)]
pub(super) struct State<T, E> {
    /// Items pushed and not yet moved to the consumer's batch.
    pub(super) queue: VecDeque<T>,
    /// Items that entered the stream and were not evicted (accepted pushes minus
    /// `DropOldest` evictions): `entered - Taken::items` are held.
    pub(super) entered: usize,
    /// The pushes' last look at [`Taken`]: a push re-reads the consumer's counters only
    /// when this view would refuse the item or count an overshoot, so the hot path never
    /// touches the consumer's cache line. Taken counts only grow, so a stale view only
    /// overstates what is held.
    pub(super) taken_seen: usize,
    /// Every push so far (`StreamStats::pushed`).
    pub(super) pushed: u64,
    pub(super) consumer: Option<Waiter>,
    pub(super) end: End<E>,
    pub(super) consumer_gone: bool,
    /// Their weight, kept for `Window` only (see [`Shared::weighs`]).
    pub(super) entered_weight: usize,
    pub(super) taken_weight_seen: usize,
    pub(super) feeders: usize,
    pub(super) on_close: Option<Hook>,
    pub(super) on_credit: Option<CreditHook>,
    /// The other counters (`pushed` is kept above, on the lock's line).
    pub(super) stats: StreamStats,
}

/// What the consumer has taken out of the stream, written by the consumer alone (a plain
/// store of its own count, no read-modify-write) and on a cache line of its own.
pub(super) struct Taken {
    pub(super) items: AtomicUsize,
    /// Kept for `Window` only.
    pub(super) weight: AtomicUsize,
}

impl Taken {
    /// Publishes the consumer's running totals (its only writer: plain stores). `weight`
    /// only where the stream weighs its items.
    #[inline]
    pub(super) fn publish(&self, items: usize, weight: Option<usize>) {
        // ORDERING: Release pairs with the pushes' Acquire look (`Shared::held`).
        self.items.store(items, Ordering::Release);
        if let Some(weight) = weight {
            // ORDERING: as above.
            self.weight.store(weight, Ordering::Release);
        }
    }
}

/// Keeps its contents on cache lines of their own (two lines: adjacent-line prefetch).
#[repr(align(128))]
pub(super) struct CachePadded<T>(pub(super) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

pub(super) struct Shared<T, E> {
    // Read-mostly: the consumer reads these for every item.
    pub(super) policy: StreamPolicy<T>,
    /// Bumped (under the lock) whenever `on_credit` changes, so the consumer refreshes
    /// the hook it caches.
    pub(super) credit_epoch: AtomicUsize,
    /// Whether the consumer may move the whole queue into its batch with one lock.
    /// `DropOldest` may not: its pushes evict the oldest held item, which must still be in
    /// `queue`.
    pub(super) batching: bool,
    /// The pushes' cache lines: the lock and what it guards.
    pub(super) state: CachePadded<SpinLock<State<T, E>>>,
    /// A hint, written under the lock when it changes: the consumer would find an item or
    /// the end. Lets a blocking consumer spin briefly without taking the lock, on a line of
    /// its own so that the spinning does not keep taking the lock's line from the pushes.
    pub(super) ready: CachePadded<AtomicBool>,
    /// The consumer's cache lines.
    pub(super) taken: CachePadded<Taken>,
}

impl<T, E> Shared<T, E> {
    /// The shared state of a new stream, with one feeder.
    pub(super) fn new(policy: StreamPolicy<T>) -> Self {
        let policy = match policy {
            StreamPolicy::Bounded { capacity, overflow } => StreamPolicy::Bounded {
                capacity: capacity.max(1),
                overflow,
            },
            other => other,
        };
        let batching = !matches!(
            policy,
            StreamPolicy::Bounded {
                overflow: Overflow::DropOldest,
                ..
            }
        );
        Shared {
            policy,
            batching,
            credit_epoch: AtomicUsize::new(0),
            state: CachePadded(SpinLock::new(State {
                queue: VecDeque::new(),
                pushed: 0,
                end: End::Open,
                consumer_gone: false,
                feeders: 1,
                consumer: None,
                on_close: None,
                on_credit: None,
                stats: StreamStats::default(),
                entered: 0,
                entered_weight: 0,
                taken_seen: 0,
                taken_weight_seen: 0,
            })),
            ready: CachePadded(AtomicBool::new(false)),
            taken: CachePadded(Taken {
                items: AtomicUsize::new(0),
                weight: AtomicUsize::new(0),
            }),
        }
    }

    /// Whether the stream keeps weights apart from counts (`Window`); under the other
    /// policies every item weighs 1 and the weight counters are not kept.
    #[inline]
    pub(super) fn weighs(&self) -> bool {
        matches!(self.policy, StreamPolicy::Window { .. })
    }

    /// After a change that may make the consumer ready: refreshes the `ready` hint, takes
    /// the registered consumer, releases the lock, then wakes it — the waker runs (and is
    /// dropped) outside the lock.
    pub(super) fn publish_and_wake(&self, mut state: SpinGuard<'_, State<T, E>>) {
        self.publish_ready(&state);
        // Read before taking: most pushes find no consumer registered and write nothing.
        let consumer = if state.consumer.is_some() {
            state.consumer.take()
        } else {
            None
        };
        drop(state);
        if let Some(consumer) = consumer {
            consumer.notify();
        }
    }

    #[inline]
    pub(super) fn lock(&self) -> SpinGuard<'_, State<T, E>> {
        self.state.lock()
    }

    /// The lock if nobody holds it. A blocking consumer's first look and its spin rounds
    /// (`CallbackStream::next_until`) use it: finding a push holding the lock, it spins on
    /// instead of queueing behind it, so that push need not wake it from the lock's own
    /// wait. (The consumer still waits for the lock where it must: to register before it
    /// parks, and to pick up a new credit hook.)
    #[inline]
    pub(super) fn try_lock(&self) -> Option<SpinGuard<'_, State<T, E>>> {
        self.state.try_lock()
    }

    /// Refreshes the `ready` hint; called with the lock held after a change. Stores only
    /// a change, so a burst of pushes does not keep taking the line from a spinning
    /// consumer.
    pub(super) fn publish_ready(&self, state: &State<T, E>) {
        let ready = !state.queue.is_empty() || !matches!(state.end, End::Open);
        // ORDERING: a hint only; the lock orders the real state.
        if self.ready.load(Ordering::Relaxed) != ready {
            self.ready.store(ready, Ordering::Relaxed);
        }
    }

    /// Under the lock: the items and weight held, as of the pushes' last look at what the
    /// consumer took (`fresh`: look again first). Never less than what is really held.
    pub(super) fn held(&self, state: &mut State<T, E>, fresh: bool) -> (usize, usize) {
        if fresh {
            // ORDERING: Acquire pairs with the consumer's Release stores in `Taken`; the
            // counts only say how many items left, the items themselves moved under the
            // lock.
            state.taken_seen = self.taken.items.load(Ordering::Acquire);
            if self.weighs() {
                // ORDERING: as above.
                state.taken_weight_seen = self.taken.weight.load(Ordering::Acquire);
            }
        }
        let items = state.entered.wrapping_sub(state.taken_seen);
        let weight = if self.weighs() {
            state.entered_weight.wrapping_sub(state.taken_weight_seen)
        } else {
            items
        };
        (items, weight)
    }
}

/// Rounds of spinning (then yielding) a blocking consumer tries before it parks: an SDK
/// thread that pushes a burst usually refills the stream within microseconds (none under
/// loom, see the sync shim).
pub(super) fn spin_rounds() -> u32 {
    SPIN_ROUNDS
}

pub(super) fn stats<T, E>(shared: &Shared<T, E>) -> StreamStats {
    let mut state = shared.lock();
    // Read under the lock so pushes are not half counted. Where every item weighs 1 the
    // weight is the count, so the two never disagree in a snapshot.
    let (buffered, buffered_weight) = shared.held(&mut state, true);
    StreamStats {
        buffered,
        buffered_weight,
        pushed: state.pushed,
        ..state.stats
    }
}

/// Sets (replaces) the credit hook; the consumer picks it up at its next item.
pub(super) fn set_credit_hook<T, E>(shared: &Shared<T, E>, hook: CreditHook) {
    let mut state = shared.lock();
    let old = state.on_credit.replace(hook);
    // ORDERING: Release, under the lock: a consumer that sees the new epoch re-reads the
    // hook under the lock.
    shared.credit_epoch.fetch_add(1, Ordering::Release);
    drop(state);
    drop(old); // outside the lock: a hook's captures may run arbitrary drops
}

pub(super) fn add_close_hook<T, E>(shared: &Shared<T, E>, hook: Hook) {
    let mut state = shared.lock();
    if state.consumer_gone {
        let ended = !matches!(state.end, End::Open);
        drop(state);
        if !ended {
            contain(HookKind::CloseHook, hook);
        }
        return;
    }
    state.on_close = Some(match state.on_close.take() {
        None => hook,
        // Each hook is contained on its own: a panicking one does not stop later ones.
        Some(earlier) => Box::new(move || {
            contain(HookKind::CloseHook, earlier);
            hook();
        }),
    });
}
