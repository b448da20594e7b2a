//! The intrusive wait queue: any number of waiters, no allocation per wait, and a wake-all
//! whose wakers all run outside the lock.
//!
//! Waiter nodes live in the waiting future (pinned) or on a blocked thread's stack. The
//! queue is a doubly linked list of them under a `Mutex`; the primitive on top keeps an
//! atomic "someone is queued" bit next to its own state (crossbeam-channel's `SyncWaker`
//! idea) so that its hot paths skip the lock entirely when nobody waits.
//!
//! # Node states
//!
//! ```text
//!              register (lock held, admit() said "wait")
//!   UNLINKED ─────────────────────────────────────────────► LINKED
//!      ▲                                                      │  │
//!      │ remove (drop / timeout, lock held)                   │  │ notify (lock held:
//!      └──────────────────────────────────────────────────────┘  │ unlinked, waiter taken,
//!                                                                ▼ then status stored)
//!                                                             NOTIFIED
//! ```
//!
//! `status` is atomic so the owner sees `NOTIFIED` without the lock; everything else in a
//! node (links, epoch, waiter) is touched only with the lock held. Storing `NOTIFIED` is
//! the notifier's last access to the node, so an owner that reads `NOTIFIED` (Acquire)
//! may drop the node at once: nobody ever waits for anybody in a drop.
//!
//! Nodes are appended at the tail with the primitive's current *epoch*. A notification
//! for epoch `e` wakes, from the head, every node registered before `e`: always a prefix
//! of the list, so waiters that arrive while a wake-all is in progress (e.g. after a
//! `clear()`) are not woken by it. Epochs may wrap round: "before" is the wrapping order
//! of [`epoch_before`], so live epochs must stay within `usize::MAX / 2` of each other.
//! Waking happens in batches of [`WAKE_BATCH`](super::waiter::WAKE_BATCH) wakers taken out under the lock and invoked
//! after releasing it.

use std::marker::PhantomPinned;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::Poll;

use super::waiter::{block_until, Deadline, NewWaiter, Waiter, WakeList};
use crate::sync::{const_fn_unless_loom, AtomicUsize, Mutex, MutexGuard, Ordering, UnsafeCell};

const UNLINKED: usize = 0;
const LINKED: usize = 1;
const NOTIFIED: usize = 2;

/// A waiter node. Lives in a pinned future or on a blocked thread's stack.
#[derive(Debug)]
pub(crate) struct WaitNode {
    status: AtomicUsize,
    /// Guarded by the queue's mutex.
    inner: UnsafeCell<NodeInner>,
    _pinned: PhantomPinned,
}

#[derive(Debug)]
struct NodeInner {
    prev: Option<NonNull<WaitNode>>,
    next: Option<NonNull<WaitNode>>,
    epoch: usize,
    waiter: Option<Waiter>,
}

// SAFETY: a node's non-atomic fields are only touched with its queue's mutex held (or by
// its owner while it is UNLINKED/NOTIFIED, when no queue refers to it); the waiter inside
// is `Send`.
unsafe impl Send for WaitNode {}
// SAFETY: as above: shared access goes through the mutex or the atomic status.
unsafe impl Sync for WaitNode {}

impl WaitNode {
    /// A node that is in no queue.
    pub(crate) fn new() -> Self {
        WaitNode {
            status: AtomicUsize::new(UNLINKED),
            inner: UnsafeCell::new(NodeInner {
                prev: None,
                next: None,
                epoch: 0,
                waiter: None,
            }),
            _pinned: PhantomPinned,
        }
    }

    /// Whether a notification reached this node.
    #[inline]
    pub(crate) fn is_notified(&self) -> bool {
        // ORDERING: Acquire pairs with the notifier's Release store, its last access.
        self.status.load(Ordering::Acquire) == NOTIFIED
    }
}

#[derive(Debug)]
struct List {
    head: Option<NonNull<WaitNode>>,
    tail: Option<NonNull<WaitNode>>,
}

// SAFETY: the list only holds pointers to nodes, which are `Send`; it is only used
// behind the queue's mutex.
unsafe impl Send for List {}

/// An intrusive queue of waiters; see the module documentation.
#[derive(Debug)]
pub(crate) struct WaitQueue {
    list: Mutex<List>,
}

impl WaitQueue {
    const_fn_unless_loom! {
        /// An empty queue. `const` (outside loom), so primitives can be `static`.
        pub(crate) fn new() -> WaitQueue {
            WaitQueue {
                list: Mutex::new(List {
                    head: None,
                    tail: None,
                }),
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, List> {
        crate::sync::lock(&self.list)
    }

    /// Polls `node` as a waiter.
    ///
    /// - A notified node is `Ready`.
    /// - A linked node gets its waiter refreshed (if `new` would not wake the same task).
    /// - An unlinked node is registered: `admit` runs under the lock and returns the epoch
    ///   to register with, or `None` if the awaited condition already holds (`Ready`).
    ///   `admit` must also publish "someone is queued" to the notifying side atomically
    ///   with its check, so that no notification can slip in between.
    pub(crate) fn poll(
        &self,
        node: Pin<&WaitNode>,
        new: NewWaiter<'_>,
        admit: impl FnOnce() -> Option<usize>,
    ) -> Poll<()> {
        // ORDERING: Acquire: see `WaitNode::is_notified`.
        match node.status.load(Ordering::Acquire) {
            NOTIFIED => Poll::Ready(()),
            LINKED => self.refresh(node, new),
            _ => {
                // Create the waiter before taking the lock: a waker clone runs foreign code.
                let waiter = new.make();
                let mut list = self.lock();
                let Some(epoch) = admit() else {
                    drop(list);
                    drop(waiter);
                    return Poll::Ready(());
                };
                // SAFETY: the lock is held and the node is UNLINKED, so no other party
                // refers to it; it is pinned, so its address stays valid until its owner
                // removes it (owners call `remove` before the node is dropped).
                unsafe { push_back(&mut list, node, epoch, waiter) };
                Poll::Pending
            }
        }
    }

    /// Replaces a linked node's waiter if it would not wake the same task or thread.
    fn refresh(&self, node: Pin<&WaitNode>, new: NewWaiter<'_>) -> Poll<()> {
        let list = self.lock();
        if node.is_notified() {
            return Poll::Ready(());
        }
        // SAFETY: LINKED and the lock is held: the node's inner fields are ours to read.
        let keep = node
            .inner
            .with(|inner| unsafe { (*inner).waiter.as_ref().is_some_and(|w| new.keeps(w)) });
        drop(list);
        if keep {
            return Poll::Pending;
        }
        let waiter = new.make();
        let list = self.lock();
        if node.is_notified() {
            drop(list);
            return Poll::Ready(());
        }
        let node_ptr = NonNull::from(&*node);
        // SAFETY: still LINKED (not notified, and only the owner, we, removes); lock held.
        let old = unsafe { with_inner(node_ptr, |inner| inner.waiter.replace(waiter)) };
        drop(list);
        drop(old);
        Poll::Pending
    }

    /// Takes `node` out of the queue if it is linked. Returns whether it was notified (so
    /// the owner can tell "woken" from "gave up"). O(1); wakes nobody.
    #[inline]
    pub(crate) fn remove(&self, node: Pin<&WaitNode>) -> bool {
        // ORDERING: Acquire: see `WaitNode::is_notified`. Only the owner links a node, so
        // UNLINKED cannot change under us.
        match node.status.load(Ordering::Acquire) {
            NOTIFIED => true,
            UNLINKED => false,
            _ => self.unlink_linked(node),
        }
    }

    /// `remove` for a node that was LINKED when looked at.
    #[cold]
    fn unlink_linked(&self, node: Pin<&WaitNode>) -> bool {
        let mut list = self.lock();
        if node.is_notified() {
            return true;
        }
        // SAFETY: LINKED with the lock held.
        let waiter = unsafe { unlink(&mut list, node) };
        node.status.store(UNLINKED, Ordering::Relaxed);
        drop(list);
        drop(waiter);
        false
    }

    /// Wakes every node registered with an epoch before `epoch`, in batches whose wakers
    /// run after the lock is released.
    pub(crate) fn notify_before(&self, epoch: usize) {
        loop {
            let mut batch = WakeList::new();
            let mut list = self.lock();
            while !batch.is_full() {
                let Some(head) = list.head else { break };
                // SAFETY: `head` is linked and the lock is held.
                let head_epoch = unsafe { with_inner(head, |inner| inner.epoch) };
                if !epoch_before(head_epoch, epoch) {
                    break;
                }
                // SAFETY: `head` is a pinned, linked node and the lock is held.
                let head = unsafe { Pin::new_unchecked(head.as_ref()) };
                // SAFETY: as above.
                if let Some(waiter) = unsafe { unlink(&mut list, head) } {
                    batch.push(waiter);
                }
                // ORDERING: Release: our last access to the node; its owner may free it
                // as soon as it reads NOTIFIED.
                head.status.store(NOTIFIED, Ordering::Release);
            }
            let more = batch.is_full() && list.head.is_some();
            drop(list);
            batch.notify_all();
            if !more {
                return;
            }
        }
    }

    /// Blocks the calling thread on `node` until it is notified or `deadline` passes.
    /// Returns true when notified (or when `admit` says the condition already holds).
    pub(crate) fn wait(
        &self,
        node: Pin<&WaitNode>,
        deadline: Deadline,
        admit: impl FnOnce() -> Option<usize>,
    ) -> bool {
        if self.poll(node, NewWaiter::Thread, admit).is_ready() {
            return true;
        }
        block_until(deadline, || node.is_notified().then_some(())).is_some() || self.remove(node)
    }
}

/// Whether epoch `a` comes before epoch `b` in the wrapping order: `a` is less than half
/// the `usize` range behind `b`.
fn epoch_before(a: usize, b: usize) -> bool {
    (a.wrapping_sub(b) as isize) < 0
}

/// Appends `node` at the tail.
///
/// # Safety
/// - The lock guarding `list` is held, `node` is UNLINKED and pinned, and its owner will
///   `remove` it (or observe NOTIFIED) before dropping it.
unsafe fn push_back(list: &mut List, node: Pin<&WaitNode>, epoch: usize, waiter: Waiter) {
    let ptr = NonNull::from(&*node);
    // SAFETY: UNLINKED: nobody else refers to the node's inner fields.
    node.inner.with_mut(|inner| unsafe {
        *inner = NodeInner {
            prev: list.tail,
            next: None,
            epoch,
            waiter: Some(waiter),
        };
    });
    match list.tail {
        // SAFETY: the tail is linked and the lock is held.
        Some(tail) => unsafe { with_inner(tail, |inner| inner.next = Some(ptr)) },
        None => list.head = Some(ptr),
    }
    list.tail = Some(ptr);
    node.status.store(LINKED, Ordering::Relaxed);
}

/// Unlinks a linked node and takes its waiter. The caller then stores the new status.
///
/// # Safety
/// - The lock guarding `list` is held and `node` is LINKED in `list`.
unsafe fn unlink(list: &mut List, node: Pin<&WaitNode>) -> Option<Waiter> {
    // SAFETY: linked, lock held (this function's contract).
    let (prev, next, waiter) = node.inner.with_mut(|inner| unsafe {
        let inner = &mut *inner;
        (inner.prev.take(), inner.next.take(), inner.waiter.take())
    });
    match prev {
        // SAFETY: neighbours of a linked node are linked; the lock is held.
        Some(prev) => unsafe { with_inner(prev, |inner| inner.next = next) },
        None => list.head = next,
    }
    match next {
        // SAFETY: as above.
        Some(next) => unsafe { with_inner(next, |inner| inner.prev = prev) },
        None => list.tail = prev,
    }
    waiter
}

/// Runs `f` on a node's guarded fields (links, epoch, waiter).
///
/// # Safety
/// - The queue's lock is held and `node` is linked in it, so the node is alive (linked
///   nodes are pinned and removed before they are dropped) and nobody else touches these
///   fields.
unsafe fn with_inner<R>(node: NonNull<WaitNode>, f: impl FnOnce(&mut NodeInner) -> R) -> R {
    // SAFETY: the node is alive (this function's contract).
    let node = unsafe { node.as_ref() };
    // SAFETY: the lock is held and the node linked: these fields are ours alone.
    node.inner.with_mut(|inner| f(unsafe { &mut *inner }))
}
