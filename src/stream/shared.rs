//! The state both sides of a callback stream meet in, and the helpers they share.

use std::collections::VecDeque;

use super::{Overflow, StreamPolicy, StreamStats};
use crate::core::waiter::Waiter;
use crate::panics::{contain, HookKind};
use crate::sync::{Arc, AtomicBool, AtomicUsize, Mutex, MutexGuard, Ordering, SPIN_ROUNDS};

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

pub(super) struct State<T, E> {
    /// Items pushed and not yet moved to the consumer's batch.
    pub(super) queue: VecDeque<T>,
    pub(super) end: End<E>,
    pub(super) consumer_gone: bool,
    pub(super) feeders: usize,
    pub(super) consumer: Option<Waiter>,
    pub(super) on_close: Option<Hook>,
    pub(super) on_credit: Option<CreditHook>,
    pub(super) stats: StreamStats,
}

pub(super) struct Shared<T, E> {
    pub(super) policy: StreamPolicy<T>,
    pub(super) state: Mutex<State<T, E>>,
    /// A hint, written under the lock: the consumer would find an item or the end. Lets a
    /// blocking consumer spin briefly without taking the lock.
    pub(super) ready: AtomicBool,
    /// Items held: in `queue` plus in the consumer's batch. Raised by pushes (under the
    /// lock), lowered by the consumer as it hands items out (without it).
    pub(super) held: AtomicUsize,
    /// Their weight (`weigh` for `Window`, 1 an item otherwise); kept like `held`.
    pub(super) held_weight: AtomicUsize,
    /// Bumped (under the lock) whenever `on_credit` changes, so the consumer refreshes
    /// the hook it caches.
    pub(super) credit_epoch: AtomicUsize,
    /// Whether the consumer may move the whole queue into its batch with one lock.
    /// `DropOldest` may not: its pushes evict the oldest held item, which must still be in
    /// `queue`.
    pub(super) batching: bool,
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
            state: Mutex::new(State {
                queue: VecDeque::new(),
                end: End::Open,
                consumer_gone: false,
                feeders: 1,
                consumer: None,
                on_close: None,
                on_credit: None,
                stats: StreamStats::default(),
            }),
            ready: AtomicBool::new(false),
            held: AtomicUsize::new(0),
            held_weight: AtomicUsize::new(0),
            credit_epoch: AtomicUsize::new(0),
        }
    }

    /// After a change that may make the consumer ready: refreshes the `ready` hint, takes
    /// the registered consumer, releases the lock, then wakes it — the waker runs (and is
    /// dropped) outside the lock.
    pub(super) fn publish_and_wake(&self, mut state: MutexGuard<'_, State<T, E>>) {
        self.publish_ready(&state);
        let consumer = state.consumer.take();
        drop(state);
        if let Some(consumer) = consumer {
            consumer.notify();
        }
    }

    /// Counts an item taken out of the stream (delivered to the consumer or evicted).
    pub(super) fn release(&self, weight: usize) {
        // ORDERING: counters only; the items themselves move under the lock.
        self.held.fetch_sub(1, Ordering::Relaxed);
        self.held_weight.fetch_sub(weight, Ordering::Relaxed);
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State<T, E>> {
        crate::sync::lock(&self.state)
    }

    /// Refreshes the `ready` hint; called with the lock held after a change.
    pub(super) fn publish_ready(&self, state: &State<T, E>) {
        let ready = !state.queue.is_empty() || !matches!(state.end, End::Open);
        // ORDERING: a hint only; the lock orders the real state.
        self.ready.store(ready, Ordering::Relaxed);
    }
}

/// Rounds of spinning (then yielding) a blocking consumer tries before it parks: an SDK
/// thread that pushes a burst usually refills the stream within microseconds (none under
/// loom, see the sync shim).
pub(super) fn spin_rounds() -> u32 {
    SPIN_ROUNDS
}

pub(super) fn stats<T, E>(shared: &Shared<T, E>) -> StreamStats {
    let state = shared.lock();
    // ORDERING: counters; read under the lock so pushes are not half counted.
    let buffered = shared.held.load(Ordering::Relaxed);
    // The consumer lowers `held` and `held_weight` one after the other, without the lock:
    // where every item weighs 1, derive the weight from the count so the two never
    // disagree in a snapshot taken between the two steps.
    let buffered_weight = match shared.policy {
        // ORDERING: as above.
        StreamPolicy::Window { .. } => shared.held_weight.load(Ordering::Relaxed),
        _ => buffered,
    };
    StreamStats {
        buffered,
        buffered_weight,
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
