//! A consumer-owned batch of items: filled by swapping in a whole shared queue under one
//! lock, then handed out one by one without it.

use std::collections::VecDeque;

/// The most buffer a drained queue or batch keeps for the next burst: a stream holds at
/// most twice this (queue and batch) once its consumer caught up.
pub(crate) const RETAINED_BYTES: usize = 32 * 1024;

/// A queue only its owner touches: items go in and out through `&mut self`; a shared
/// reference reads nothing but the length. That makes it `Sync` for any `T: Send`, like
/// the locked `VecDeque<T>` it is a private extension of.
#[derive(Debug, Default)]
pub(crate) struct Batch<T> {
    items: VecDeque<T>,
}

// SAFETY: `&Batch<T>` gives access to no `T` (only `len`/`is_empty`), so sharing a
// `Batch` between threads shares no `T`; moving one moves its items, hence `T: Send`.
unsafe impl<T: Send> Sync for Batch<T> {}

impl<T> Batch<T> {
    pub(crate) fn new() -> Self {
        Batch {
            items: VecDeque::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn pop_front(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    /// Exchanges the batch's contents with `queue` (no copying, no allocation).
    pub(crate) fn swap(&mut self, queue: &mut VecDeque<T>) {
        std::mem::swap(&mut self.items, queue);
    }

    /// Frees the buffer of an empty batch that a burst grew past [`RETAINED_BYTES`].
    pub(crate) fn trim(&mut self) {
        drop(Self::trimmed(&mut self.items));
    }

    /// Takes the buffer of an empty `queue` that a burst grew past [`RETAINED_BYTES`],
    /// leaving an unallocated one, for the caller to drop (outside any lock).
    pub(crate) fn trimmed(queue: &mut VecDeque<T>) -> Option<VecDeque<T>> {
        let bytes = queue.capacity().saturating_mul(std::mem::size_of::<T>());
        (queue.is_empty() && bytes > RETAINED_BYTES).then(|| std::mem::take(queue))
    }

    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }
}
