//! A waiter slot guarded by two bits of a state word: the lock-free hand-off of a waker
//! from the side that waits to the side that finishes.
//!
//! The slot belongs to its *waiting* side while `waiter_bit` is clear. Setting the bit
//! (with a compare-exchange that also checks `closed_bit` is still clear) freezes the
//! slot: nobody touches it. From a frozen slot either the waiting side takes it back by
//! clearing the bit (again only while `closed_bit` is clear), or the *finishing* side sets
//! `closed_bit` and thereby owns the slot: it takes the waiter out and notifies it.
//!
//! ```text
//!   waiter_bit  closed_bit   owner of the slot
//!   ----------  ----------   ------------------------------------------------
//!       0           any      the waiting side
//!       1            0       nobody (frozen): either side may claim it by CAS
//!       1            1       the finishing side, which saw the bit when closing
//! ```
//!
//! Because both claims are compare-exchanges on the same word, exactly one side wins,
//! and the waiting side never sets the bit once `closed_bit` is set, so "waiter bit and
//! closed bit both set" always means the closer saw the waiter.

use crate::sync::{AtomicUsize, Ordering, UnsafeCell};

/// The two bits of a state word that guard one waiter slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SlotBits {
    /// Set while the slot holds a waiter that the closing side must notify.
    pub(crate) waiter: usize,
    /// Set by the other side when it finishes: the event the waiter is waiting for.
    pub(crate) closed: usize,
}

impl SlotBits {
    /// Takes the slot back from frozen: clears the waiter bit while the closed bit is clear.
    ///
    /// Returns `Ok(())` when the waiting side owns the slot, or `Err(state)` once the
    /// closed bit is set, in which case the slot is the closer's if the waiter bit is set
    /// in `state`, or the waiting side's if it is clear.
    pub(crate) fn reclaim(self, state: &AtomicUsize) -> Result<(), usize> {
        // ORDERING: Acquire pairs with the closer's AcqRel compare-exchange so that a
        // failure which observes `closed` also observes everything written before it.
        let mut s = state.load(Ordering::Acquire);
        loop {
            if s & self.closed != 0 {
                return Err(s);
            }
            if s & self.waiter == 0 {
                return Ok(());
            }
            match state.compare_exchange_weak(
                s,
                s & !self.waiter,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => s = actual,
            }
        }
    }

    /// Freezes a slot the waiting side owns and has just filled: sets the waiter bit
    /// while the closed bit is clear. `extra` bits are set in the same step.
    ///
    /// Returns `Err(state)` if the closed bit was set first; the slot then still belongs to
    /// the waiting side, which must empty it itself.
    pub(crate) fn publish(self, state: &AtomicUsize, extra: usize) -> Result<(), usize> {
        // ORDERING: Acquire so that an early return (closed bit set) sees the closer's
        // writes (the value); the compare-exchange below is the real check. (An Acquire
        // load rather than a Relaxed one plus a fence: the same code on x86, and visible to
        // ThreadSanitizer, which does not model standalone fences.)
        let mut s = state.load(Ordering::Acquire);
        loop {
            if s & self.closed != 0 {
                return Err(s);
            }
            // ORDERING: Release publishes the slot's contents to the closer, whose AcqRel
            // compare-exchange reads the bit; Acquire on failure as in `reclaim`.
            match state.compare_exchange_weak(
                s,
                s | self.waiter | extra,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => s = actual,
            }
        }
    }
}

/// Registers a waiter in `cell` under `bits`: reclaims the slot if frozen, keeps the stored
/// waiter when `keep` approves of it (no clone on a re-poll with the same waker), otherwise
/// stores `make()`, then freezes the slot again.
///
/// Returns `Err(state)` when the closed bit is set; the slot is then empty or owned by the
/// closer, and the waiter the caller would have stored was never published.
///
/// # Safety
/// - `cell` is the slot guarded by `bits` in `state`, and the caller is its waiting side.
pub(crate) unsafe fn register<W>(
    state: &AtomicUsize,
    cell: &UnsafeCell<Option<W>>,
    bits: SlotBits,
    keep: impl FnOnce(&W) -> bool,
    make: impl FnOnce() -> W,
) -> Result<(), usize> {
    bits.reclaim(state)?;
    // SAFETY: `reclaim` returned Ok: the waiter bit is clear, so the waiting side (the
    // caller, by this function's contract) owns the slot exclusively.
    let replaced = cell.with_mut(|slot| unsafe {
        match &*slot {
            Some(w) if keep(w) => None,
            _ => (*slot).replace(make()),
        }
    });
    // Drop any replaced waiter before publishing, outside every critical section.
    drop(replaced);
    bits.publish(state, 0).inspect_err(|_| {
        // SAFETY: `publish` failed, so the waiter bit was never set: still ours.
        drop(unsafe { take(cell) });
    })
}

/// Takes the waiter out of `cell`.
///
/// # Safety
/// - The caller owns the slot under the table in this module's documentation.
pub(crate) unsafe fn take<W>(cell: &UnsafeCell<Option<W>>) -> Option<W> {
    // SAFETY: the caller owns the slot (this function's contract): no other access.
    cell.with_mut(|slot| unsafe { (*slot).take() })
}
