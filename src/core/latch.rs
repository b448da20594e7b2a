//! The latch behind `AsyncEvent` (and every primitive that waits for "it happened"): a
//! state word that says whether it is set, and a wait queue for the tasks and threads that
//! wait for it; plus [`LatchWait`], the pinned waiting body of every such future.
//!
//! The state word holds SET (bit 0), QUEUED (bit 1: the wait queue may be non-empty, so
//! `set` must lock it) and the generation (the rest), which counts `set`s that found the
//! latch unset. Waiters register in [`WaitQueue`] with the generation as their epoch; `set`
//! moves the generation on, clears QUEUED and, if QUEUED was set, wakes every node of an
//! older epoch. A waiter's admission check and its QUEUED publication are one
//! compare-exchange under the queue lock, so a `set` either changes the word first (the
//! waiter sees it and does not queue) or sees QUEUED (and takes the lock, after the waiter
//! is linked). The generation wraps after 2^62 sets on 64-bit targets but after only 2^30 on
//! 32-bit ones, so it is kept in place (a multiple of GENERATION_ONE, wrapping with the
//! whole word) and the queue orders epochs with wrapping arithmetic.
//!
//! ```text
//!             set(): generation + 1, wake every waiter of an older generation
//!   ┌───────┐ ───────────────────────────────────────────────────► ┌─────┐
//!   │ Unset │                                                      │ Set │
//!   └───────┘ ◄─────────────────────────────────────────────────── └─────┘
//!       ▲ │ a waiter created now waits          clear()
//!       └─┘ (QUEUED once it is linked)
//! ```
//!
//! A wait created in generation `g` is released once the latch is set or its generation
//! is no longer `g`: a waiter released by a `set` stays released even if `clear` follows.

use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::queue::{WaitNode, WaitQueue};
use super::waiter::{Deadline, NewWaiter};
use crate::sync::{const_fn_unless_loom, AtomicUsize, Ordering};

const SET: usize = 1;
const QUEUED: usize = 2;
const GENERATION_ONE: usize = 4;

/// The generation bits of `state`, in place: they wrap together with `usize`, which the
/// queue's wrapping epoch order relies on.
fn generation(state: usize) -> usize {
    state & !(SET | QUEUED)
}

/// A latched flag with a queue of waiters.
pub(crate) struct Latch {
    state: AtomicUsize,
    queue: WaitQueue,
}

impl Latch {
    const_fn_unless_loom! {
        /// An unset latch with no waiter.
        pub(crate) fn new() -> Latch {
            Latch {
                state: AtomicUsize::new(0),
                queue: WaitQueue::new(),
            }
        }
    }

    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        // ORDERING: Acquire: whoever sees the latch set sees what the setter did before.
        self.state.load(Ordering::Acquire) & SET != 0
    }

    /// Sets the latch and wakes every waiter, outside the queue lock. One load when it is
    /// already set.
    #[inline]
    pub(crate) fn set(&self) {
        // ORDERING: Acquire for the early return (as `is_set`).
        let s = self.state.load(Ordering::Acquire);
        if s & SET == 0 {
            self.set_slow(s);
        }
    }

    #[cold]
    #[inline(never)]
    fn set_slow(&self, mut s: usize) {
        loop {
            if s & SET != 0 {
                return;
            }
            let new = (s.wrapping_add(GENERATION_ONE) | SET) & !QUEUED;
            // ORDERING: Release: waiters that see the new generation see the setter's
            // writes; Acquire: QUEUED comes with the waiters' registration.
            match self
                .state
                .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if s & QUEUED != 0 {
                        self.queue.notify_before(generation(new));
                    }
                    return;
                }
                Err(actual) => s = actual,
            }
        }
    }

    #[inline]
    pub(crate) fn clear(&self) {
        // ORDERING: Release/Acquire so clear() is ordered with set()s around it.
        self.state.fetch_and(!SET, Ordering::AcqRel);
    }

    /// Blocks the calling thread until the latch is set or `deadline` passes; `true` when
    /// released. Never blocks inside an SDK callback scope (returns `false` at once).
    pub(crate) fn wait_blocking(&self, deadline: Deadline) -> bool {
        self.wait_until(self.generation(), deadline)
    }

    #[inline]
    fn generation(&self) -> usize {
        // ORDERING: Acquire, as `is_set`.
        generation(self.state.load(Ordering::Acquire))
    }

    /// Whether a wait created in generation `created` is done: lock-free.
    #[inline]
    fn released(&self, created: usize) -> bool {
        // ORDERING: Acquire, as `is_set`.
        let s = self.state.load(Ordering::Acquire);
        s & SET != 0 || generation(s) != created
    }

    /// Under the queue lock: `None` if a wait created in `created` is done, else publishes
    /// QUEUED and returns the epoch to queue with.
    fn admit(&self, created: usize) -> Option<usize> {
        // ORDERING: Acquire, as `is_set`.
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & SET != 0 || generation(s) != created {
                return None;
            }
            if s & QUEUED != 0 {
                return Some(created);
            }
            // ORDERING: AcqRel pairs with set()'s compare-exchange on the same word.
            match self.state.compare_exchange_weak(
                s,
                s | QUEUED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(created),
                Err(actual) => s = actual,
            }
        }
    }

    fn wait_until(&self, created: usize, deadline: Deadline) -> bool {
        if self.released(created) {
            return true;
        }
        let node = std::pin::pin!(WaitNode::new());
        // After a timeout, look once more: a `set()` may have returned early while
        // another one was still walking the queue towards this node.
        self.queue
            .wait(node.as_ref(), deadline, || self.admit(created))
            || self.released(created)
    }
}

#[cfg(all(test, not(anywait_loom)))]
impl Latch {
    /// A latch whose generation wraps after `sets` more sets (tests of the wrap).
    pub(crate) fn near_generation_wrap(sets: usize) -> Latch {
        let latch = Latch::new();
        latch.state.store(
            0usize.wrapping_sub(sets * GENERATION_ONE),
            Ordering::Relaxed,
        );
        // No public behaviour shows the generation, so the tests of the wrap could not tell
        // a latch that starts far from it: check here that it is `sets` set()s away.
        assert_eq!(
            latch
                .generation()
                .wrapping_add(sets.wrapping_mul(GENERATION_ONE)),
            0,
            "the generation wraps after {sets} set()s"
        );
        latch
    }

    /// How many set()s until the generation wraps.
    pub(crate) fn sets_before_generation_wrap(&self) -> usize {
        0usize.wrapping_sub(self.generation()) / GENERATION_ONE
    }
}

/// Whatever a [`LatchWait`] holds to reach its latch: a reference, or an owner of it.
pub(crate) trait LatchRef {
    fn latch(&self) -> &Latch;
}

pin_project! {
    /// The waiting body of every future that waits for a latch: created in the latch's
    /// current generation, it resolves once the latch is set or has moved on. Its node
    /// lives in the (pinned) future, so waiting allocates nothing.
    pub(crate) struct LatchWait<L: LatchRef> {
        source: L,
        created: usize,
        done: bool,
        #[pin]
        node: WaitNode,
    }

    impl<L: LatchRef> PinnedDrop for LatchWait<L> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.source.latch().queue.remove(this.node.as_ref());
        }
    }
}

impl<L: LatchRef> LatchWait<L> {
    #[inline]
    pub(crate) fn new(source: L) -> Self {
        let created = source.latch().generation();
        LatchWait {
            source,
            created,
            done: false,
            node: WaitNode::new(),
        }
    }

    /// What the wait was created from.
    #[inline]
    pub(crate) fn source(&self) -> &L {
        &self.source
    }

    /// Whether the wait returned `Ready`.
    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    #[inline]
    pub(crate) fn poll_wait(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(());
        }
        let latch = this.source.latch();
        let created = *this.created;
        let node = this.node.as_ref();
        // A lock-free check first, also for a queued node: a `set()` that returned
        // early because another `set()` is still walking the queue must already be seen
        // here (a poll after `set()` returned is `Ready`), so a released wait leaves the
        // queue itself rather than waiting for that walk to reach it.
        let ready = if latch.released(created) {
            // One atomic load when the node is not queued.
            latch.queue.remove(node);
            true
        } else {
            latch
                .queue
                .poll(node, NewWaiter::Task(cx.waker()), || latch.admit(created))
                .is_ready()
        };
        if ready {
            *this.done = true;
            return Poll::Ready(());
        }
        Poll::Pending
    }
}
