//! Who is waiting: a task (a [`Waker`]) or a blocked OS thread, and the blocking wait loop.

use std::task::Waker;
use std::time::Instant;

use crate::sync::thread::{self, Thread};

/// Someone to notify when a wait ends: an async task or a parked thread.
///
/// Notifying consumes the waiter, so a notification is always done after the waiter was
/// taken out of whatever cell held it, outside any critical section.
#[derive(Debug)]
pub(crate) enum Waiter {
    /// An async task, woken through its waker.
    Task(Waker),
    /// A thread blocked in one of the `wait_*` methods, woken with `unpark`.
    Thread(Thread),
}

impl Waiter {
    /// The calling thread, for a blocking wait. Clones a reference count; never allocates.
    pub(crate) fn current_thread() -> Self {
        Waiter::Thread(thread::current())
    }

    /// Wakes the task or unparks the thread.
    pub(crate) fn notify(self) {
        match self {
            Waiter::Task(waker) => waker.wake(),
            Waiter::Thread(thread) => thread.unpark(),
        }
    }

    /// Whether notifying `self` would notify the task behind `waker` (so re-registering
    /// can keep the stored waker and skip a clone).
    pub(crate) fn will_wake(&self, waker: &Waker) -> bool {
        matches!(self, Waiter::Task(stored) if stored.will_wake(waker))
    }
}

/// The kind of waiter a registration stores.
#[derive(Clone, Copy)]
pub(crate) enum NewWaiter<'a> {
    /// The current task.
    Task(&'a Waker),
    /// The current thread.
    Thread,
}

impl NewWaiter<'_> {
    /// Whether notifying `stored` already reaches this task or thread (no new clone).
    pub(crate) fn keeps(self, stored: &Waiter) -> bool {
        match (self, stored) {
            (NewWaiter::Task(waker), stored) => stored.will_wake(waker),
            (NewWaiter::Thread, Waiter::Thread(t)) => t.id() == thread::current().id(),
            (NewWaiter::Thread, Waiter::Task(_)) => false,
        }
    }

    /// The waiter to store for this task or thread.
    pub(crate) fn make(self) -> Waiter {
        match self {
            NewWaiter::Task(waker) => Waiter::Task(waker.clone()),
            NewWaiter::Thread => Waiter::current_thread(),
        }
    }
}

/// How long a blocking wait may last.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Deadline {
    /// Until the event happens.
    Never,
    /// Until this instant at the latest.
    At(Instant),
}

impl Deadline {
    /// A deadline `timeout` from now; a timeout too large for `Instant` means no deadline.
    pub(crate) fn after(timeout: std::time::Duration) -> Self {
        Instant::now()
            .checked_add(timeout)
            .map_or(Deadline::Never, Deadline::At)
    }

    /// Parks the calling thread until it is unparked, the deadline passes, or a spurious
    /// wake-up. Returns `false` (without parking) when the deadline has already passed.
    pub(crate) fn park(self) -> bool {
        // Inside an SDK callback scope a thread never parks: the wait would likely be for
        // the very callback this thread is running (see `ffi::callback_scope`).
        if in_callback_scope() {
            return false;
        }
        match self {
            Deadline::Never => {
                thread::park();
                true
            }
            Deadline::At(at) => {
                let now = Instant::now();
                if now >= at {
                    return false;
                }
                thread::park_timeout(at - now);
                true
            }
        }
    }
}

/// The blocking wait loop shared by every primitive.
///
/// `poll_done` checks for the event (it is called first, and again after each wake-up);
/// `park` (i.e. [`Deadline::park`]) blocks. The caller has registered the current thread
/// as a [`Waiter::Thread`] before calling, so a notification between the check and the park
/// leaves the thread's unpark token set and the park returns at once: no lost wake-up.
/// Returns `Some` with the result, or `None` once the deadline passed first.
pub(crate) fn block_until<R>(
    deadline: Deadline,
    mut poll_done: impl FnMut() -> Option<R>,
) -> Option<R> {
    loop {
        if let Some(done) = poll_done() {
            return Some(done);
        }
        if !deadline.park() {
            return None;
        }
    }
}

/// How many waiters a [`WakeList`] holds: a wake-all takes this many out under its lock,
/// releases the lock, wakes them, and comes back for more.
pub(crate) const WAKE_BATCH: usize = 32;

/// A fixed batch of waiters to notify after a lock is released; no allocation, and only
/// the slots in use are ever written or read (tokio's `WakeList` idea).
pub(crate) struct WakeList {
    /// Slots `next..len` hold initialised waiters; the rest are uninitialised.
    slots: [std::mem::MaybeUninit<Waiter>; WAKE_BATCH],
    next: usize,
    len: usize,
}

impl WakeList {
    pub(crate) fn new() -> Self {
        WakeList {
            slots: [const { std::mem::MaybeUninit::uninit() }; WAKE_BATCH],
            next: 0,
            len: 0,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == WAKE_BATCH
    }

    /// Adds a waiter. The list must not be full.
    pub(crate) fn push(&mut self, waiter: Waiter) {
        assert!(!self.is_full(), "a WakeList holds {WAKE_BATCH} waiters");
        self.slots[self.len].write(waiter);
        self.len += 1;
    }

    /// Notifies every waiter, in the order they were added.
    pub(crate) fn notify_all(&mut self) {
        while self.next < self.len {
            let index = self.next;
            // Advance first: if a wake panics, `Drop` must not read this slot again.
            self.next += 1;
            // SAFETY: `index` was in `next..len`, so the slot is initialised, and `next`
            // has moved past it, so it is read exactly once.
            let waiter = unsafe { self.slots[index].assume_init_read() };
            waiter.notify();
        }
    }
}

impl Drop for WakeList {
    fn drop(&mut self) {
        for index in self.next..self.len {
            // SAFETY: slots `next..len` are initialised and read nowhere else.
            unsafe { self.slots[index].assume_init_drop() };
        }
    }
}

std::thread_local! {
    /// How many SDK callback scopes this thread is inside.
    static CALLBACK_SCOPES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Whether this thread runs inside an SDK callback scope.
pub(crate) fn in_callback_scope() -> bool {
    CALLBACK_SCOPES.with(|depth| depth.get() > 0)
}

/// Marks this thread as inside an SDK callback scope until the guard is dropped (also
/// when the scope unwinds).
pub(crate) struct CallbackScope(());

impl CallbackScope {
    pub(crate) fn enter() -> Self {
        CALLBACK_SCOPES.with(|depth| depth.set(depth.get() + 1));
        CallbackScope(())
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        CALLBACK_SCOPES.with(|depth| depth.set(depth.get() - 1));
    }
}

/// What an untimed blocking wait does when it would block inside an SDK callback scope:
/// unwind with a [`WouldDeadlock`](crate::WouldDeadlock) payload (which the callback's
/// trampoline or `catch_callback` contains) rather than hang the SDK's thread.
pub(crate) fn would_deadlock() -> ! {
    std::panic::panic_any(crate::WouldDeadlock)
}
