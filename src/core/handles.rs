//! The handle table behind `ffi::Registry`: values reached through integer handles that
//! fit in a C `void *`, where a stale, duplicate or forged handle is an error and never
//! undefined behaviour. Lock-free: a slot's whole state is one atomic word, free slots
//! form a tagged Treiber stack, and storage grows by segments that never move.
//!
//! # Handles
//!
//! A handle is `(generation << HALF) | (index + 1)` in a `usize` (`HALF` = half its bits),
//! so it is never 0 (C's "no user data") and a reused slot — whose generation moved on —
//! never matches an old handle.
//!
//! # Slot states
//!
//! The state word is `[generation | users | RELEASING | kind]`. Each transition is one
//! compare-exchange by the side named:
//!
//! ```text
//!            insert (the popper owns the free slot)
//!   FREE_* ─────────────────────────────────────────► OCCUPIED(gen, users = 0)
//!     ▲                                                  │   │ ▲
//!     │ free: generation + 1, kind says why              │   │ │ with(): users ± 1
//!     │                                                  │   └─┘
//!     │  take: straight to FREED_TAKEN(gen + 1)          │ release while users > 0:
//!     ├──────── (the taker reads the value, then ◄───────┤ RELEASING (no new users;
//!     │          pushes the slot on the free stack)      │ the last user out frees)
//!     │  release / abandon_all with no user: DROPPING_*,  │
//!     └──────── freed once the value is dropped ◄────────┘
//! ```
//!
//! Only the side that moved a slot out of `OCCUPIED` (or the last user out of a
//! `RELEASING` slot) touches the value cell, until it pushes the slot on the free stack;
//! only the side that popped a free slot writes it. Nobody waits for anybody: no spinning,
//! no lock.

use std::mem::MaybeUninit;
use std::ptr;

use crate::sync::{AtomicPtr, AtomicUsize, Ordering, UnsafeCell};

/// Half the bits of a `usize`: the index (plus one) below, the generation above.
const HALF: u32 = usize::BITS / 2;
const LOW: usize = (1 << HALF) - 1;
/// The largest index a handle can carry (`index + 1` must fit in the low half).
const MAX_INDEX: usize = LOW - 1;

const KIND: usize = 0b111;
/// A fresh slot, never used.
const FREE_NEW: usize = 0;
/// Holds a value.
const OCCUPIED: usize = 1;
/// Its value is being dropped by `release`, which owns the value cell.
const DROPPING_RELEASED: usize = 2;
/// Free again; the previous value was taken (a completion, say).
const FREED_TAKEN: usize = 3;
/// Free again; the previous value was released.
const FREED_RELEASED: usize = 4;
/// Free again; the previous value was abandoned (`abandon`, `abandon_all`).
const FREED_ABANDONED: usize = 5;
/// Its value is being dropped by `abandon_all`, which owns the value cell.
const DROPPING_ABANDONED: usize = 6;
/// Set on an `OCCUPIED` slot with users: no new user; the last one out frees the value.
const RELEASING: usize = 1 << 3;
const USER_SHIFT: u32 = 4;
const USER: usize = 1 << USER_SHIFT;
const USERS: usize = LOW & !((1 << USER_SHIFT) - 1);

/// Slots in the first segment; each further segment doubles.
const FIRST_SEGMENT_BITS: u32 = 2;
const FIRST_SEGMENT: usize = 1 << FIRST_SEGMENT_BITS;
/// Enough segments for every index a handle can carry: segments `0..SEGMENTS` hold
/// `FIRST_SEGMENT * (2^SEGMENTS - 1) >= MAX_INDEX + 1` slots.
const SEGMENTS: usize = (HALF - FIRST_SEGMENT_BITS + 1) as usize;

// The layout's invariants, checked when the crate compiles: the low half of a handle
// carries every `index + 1` up to its largest value and nothing more, and the segments
// hold every index a handle can carry with none to spare.
const _: () = {
    assert!(MAX_INDEX + 1 == LOW);
    assert!(FIRST_SEGMENT * ((1 << SEGMENTS) - 1) > MAX_INDEX);
    assert!(FIRST_SEGMENT * ((1 << (SEGMENTS - 1)) - 1) <= MAX_INDEX);
};

fn generation(state: usize) -> usize {
    state >> HALF
}

fn next_generation(state: usize) -> usize {
    generation(state).wrapping_add(1) & LOW
}

fn users(state: usize) -> usize {
    (state & USERS) >> USER_SHIFT
}

/// Why a handle did not reach a live value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Miss {
    /// Never issued by this table (or forged).
    Unknown,
    /// Its value was already taken: a duplicate completion.
    Taken,
    /// Its value was released.
    Released,
    /// Its value was abandoned by `abandon_all`.
    Abandoned,
    /// Its slot was reused since: an old handle.
    Stale,
    /// `take` while other users borrow the value.
    InUse,
}

struct Slot<V> {
    state: AtomicUsize,
    /// The next free index + 1 (0: none), while the slot is on the free stack.
    next_free: AtomicUsize,
    value: UnsafeCell<MaybeUninit<V>>,
}

impl<V> Slot<V> {
    fn new() -> Self {
        Slot {
            state: AtomicUsize::new(FREE_NEW),
            next_free: AtomicUsize::new(0),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Moves the value out.
    ///
    /// # Safety
    /// - The caller owns the value cell (moved the slot out of `OCCUPIED` and has not
    ///   pushed it on the free stack, or is the last user of a `RELEASING` slot) and it
    ///   holds a value.
    unsafe fn read(&self) -> V {
        // SAFETY: forwarded from this function's contract.
        self.value
            .with(|cell| unsafe { (*cell).assume_init_read() })
    }
}

/// Segment `k` holds `FIRST_SEGMENT << k` slots.
fn segment_len(k: usize) -> usize {
    FIRST_SEGMENT << k
}

/// The segment and offset of `index`.
fn locate(index: usize) -> (usize, usize) {
    let i = index + FIRST_SEGMENT;
    let k = (usize::BITS - 1 - i.leading_zeros() - FIRST_SEGMENT_BITS) as usize;
    (k, i - segment_len(k))
}

std::thread_local! {
    /// How many values this thread borrows (`with` calls under way), in any table.
    static BORROWS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The table. Values live in segments allocated on demand and freed with the table.
pub(crate) struct Table<V> {
    segments: [AtomicPtr<Slot<V>>; SEGMENTS],
    /// Fresh indices handed out so far (slots below it exist once their segment is set).
    allocated: AtomicUsize,
    /// The free stack: `(tag << HALF) | (index + 1)`, 0 when empty. The tag, bumped by
    /// every push and pop, defeats ABA. On a cache line of its own: every insert and free
    /// writes it, and it should not drag `allocated` or the segment table along.
    free_head: CachePadded<AtomicUsize>,
}

/// Keeps a hot atomic on a cache line of its own.
#[repr(align(64))]
struct CachePadded<T>(T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

// SAFETY: values move between threads through the table (`V: Send`) and `with` lends
// `&V` to any thread (`V: Sync`); all shared state is atomic, and the value cells are
// reached only by the owner the state word names.
unsafe impl<V: Send + Sync> Sync for Table<V> {}
// SAFETY: as above; sending the table sends its values.
unsafe impl<V: Send> Send for Table<V> {}

impl<V> Table<V> {
    crate::sync::const_fn_unless_loom! {
        /// An empty table; allocates nothing until the first insert.
        pub(crate) fn new() -> Table<V> {
            Table {
                segments: crate::sync::null_ptr_array(),
                allocated: AtomicUsize::new(0),
                free_head: CachePadded(AtomicUsize::new(0)),
            }
        }
    }

    /// Values held now: a scan of the slots handed out (no counter on the hot path), exact
    /// when nothing changes meanwhile.
    pub(crate) fn live(&self) -> usize {
        // ORDERING: Acquire: see every slot handed out so far.
        let allocated = self.allocated.load(Ordering::Acquire);
        (0..allocated)
            .filter_map(|index| self.slot(index))
            // ORDERING: a snapshot for reporting; no data is reached through it.
            .filter(|slot| slot.state.load(Ordering::Relaxed) & KIND == OCCUPIED)
            .count()
    }

    fn slot(&self, index: usize) -> Option<&Slot<V>> {
        let (k, offset) = locate(index);
        // ORDERING: Acquire pairs with the Release that published the segment.
        let segment = self.segments.get(k)?.load(Ordering::Acquire);
        if segment.is_null() {
            return None;
        }
        // SAFETY: a published segment of `segment_len(k)` slots lives as long as the
        // table, and `offset < segment_len(k)` by `locate`.
        Some(unsafe { &*segment.add(offset) })
    }

    /// Decodes a handle into its slot and generation.
    fn lookup(&self, handle: usize) -> Result<(usize, &Slot<V>, usize), Miss> {
        let index = (handle & LOW).checked_sub(1).ok_or(Miss::Unknown)?;
        // An index whose segment is not published is unknown; one in a published segment
        // but never handed out holds a FREE_NEW slot, which no generation matches as live.
        let slot = self.slot(index).ok_or(Miss::Unknown)?;
        Ok((index, slot, handle >> HALF))
    }

    /// Stores `value` and returns its handle; gives the value back when every index a
    /// handle can carry is in use.
    pub(crate) fn insert(&self, value: V) -> Result<usize, V> {
        let index = match self.pop_free() {
            Some(index) => index,
            None => match self.fresh() {
                Some(index) => index,
                None => return Err(value),
            },
        };
        let slot = self.slot(index).expect("a popped or fresh slot exists");
        // ORDERING: Relaxed: the pop (Acquire on the free stack) or the segment's
        // publication ordered the last free before this load.
        let state = slot.state.load(Ordering::Relaxed);
        debug_assert!(matches!(
            state & KIND,
            FREE_NEW | FREED_TAKEN | FREED_RELEASED | FREED_ABANDONED
        ));
        let generation = generation(state);
        // SAFETY: a free slot popped from the stack (or fresh) is ours alone: every other
        // transition starts from OCCUPIED.
        slot.value.with_mut(|cell| unsafe { (*cell).write(value) });
        // ORDERING: Release publishes the value to whoever takes or borrows it.
        slot.state
            .store((generation << HALF) | OCCUPIED, Ordering::Release);
        Ok((generation << HALF) | (index + 1))
    }

    /// Takes the value out for good (a completion): later uses report `Taken`.
    pub(crate) fn take(&self, handle: usize) -> Result<V, Miss> {
        self.take_after_borrows(handle, FREED_TAKEN)
    }

    /// Takes the value out to abandon it: later uses report `Abandoned`.
    pub(crate) fn take_abandoned(&self, handle: usize) -> Result<V, Miss> {
        self.take_after_borrows(handle, FREED_ABANDONED)
    }

    /// A take that a concurrent borrow only delays (by the length of its call), so that a
    /// final callback is never lost to an overlapping one. A thread that itself holds a
    /// borrow gets `InUse` instead of waiting (it could be waiting for itself).
    fn take_after_borrows(&self, handle: usize, why: usize) -> Result<V, Miss> {
        loop {
            match self.take_as(handle, why) {
                Err(Miss::InUse) if BORROWS.with(|n| n.get()) == 0 => {
                    crate::sync::thread::yield_now();
                }
                taken => return taken,
            }
        }
    }

    /// Takes the value out, leaving the slot freed with `why`.
    fn take_as(&self, handle: usize, why: usize) -> Result<V, Miss> {
        let (index, slot, generation) = self.lookup(handle)?;
        // ORDERING: Acquire pairs with the insert's Release (the value) and with a free's
        // Release (a later generation).
        let mut s = slot.state.load(Ordering::Acquire);
        loop {
            live_as(s, generation)?;
            if users(s) != 0 {
                return Err(Miss::InUse);
            }
            // Straight to the next generation, freed: nobody else touches a freed slot's
            // cell until it is popped from the free stack, which only happens after we
            // push it below, after reading the value. One compare-exchange on the hot path.
            // ORDERING: Acquire: we read the value next.
            match slot.state.compare_exchange_weak(
                s,
                (next_generation(s) << HALF) | why,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        // SAFETY: we moved the slot from OCCUPIED to freed and have not pushed it yet: the
        // value cell is ours and full.
        let value = unsafe { slot.read() };
        self.push_free(index, slot);
        Ok(value)
    }

    /// Lends the value to `f` without taking it; any number of threads at once.
    pub(crate) fn with<R>(&self, handle: usize, f: impl FnOnce(&V) -> R) -> Result<R, Miss> {
        let (index, slot, generation) = self.lookup(handle)?;
        // ORDERING: as in `take`.
        let mut s = slot.state.load(Ordering::Acquire);
        loop {
            live_as(s, generation)?;
            if users(s) == users(USERS) {
                return Err(Miss::InUse);
            }
            // ORDERING: Acquire: we read the value next.
            match slot.state.compare_exchange_weak(
                s,
                s + USER,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        /// Leaves the slot even if `f` unwinds.
        struct Leave<'a, V> {
            table: &'a Table<V>,
            index: usize,
            slot: &'a Slot<V>,
        }
        impl<V> Drop for Leave<'_, V> {
            fn drop(&mut self) {
                BORROWS.with(|n| n.set(n.get() - 1));
                // ORDERING: AcqRel: release our reads of the value to the side that frees
                // it; acquire the other users' if that is us.
                let before = self.slot.state.fetch_sub(USER, Ordering::AcqRel);
                if users(before) == 1 && before & RELEASING != 0 {
                    // The last user out of a released slot: nobody can enter any more.
                    // SAFETY: RELEASING bars new users and we were the last: the value is
                    // ours to drop.
                    drop(unsafe { self.slot.read() });
                    self.table
                        .free(self.index, self.slot, before, FREED_RELEASED);
                }
            }
        }
        let leave = Leave {
            table: self,
            index,
            slot,
        };
        BORROWS.with(|n| n.set(n.get() + 1));
        let result = slot.value.with(|cell| {
            // SAFETY: while we count as a user the value is neither taken nor dropped, and
            // only shared references to it exist.
            let value = unsafe { (*cell).assume_init_ref() };
            f(value)
        });
        drop(leave);
        Ok(result)
    }

    /// Drops the value once its current users are done; later uses report `Released`.
    pub(crate) fn release(&self, handle: usize) -> Result<(), Miss> {
        let (index, slot, generation) = self.lookup(handle)?;
        // ORDERING: as in `take`.
        let mut s = slot.state.load(Ordering::Acquire);
        loop {
            live_as(s, generation)?;
            let (new, now) = if users(s) == 0 {
                ((s & !KIND) | DROPPING_RELEASED, true)
            } else {
                (s | RELEASING, false)
            };
            // ORDERING: AcqRel: acquire to read the value (now), release our earlier
            // accesses to the last user (later).
            match slot
                .state
                .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if now => {
                    // SAFETY: we moved the slot to a dropping state: the value is ours.
                    drop(unsafe { slot.read() });
                    self.free(index, slot, s, FREED_RELEASED);
                    return Ok(());
                }
                Ok(_) => return Ok(()),
                Err(actual) => s = actual,
            }
        }
    }

    /// Drops every value held (values in use are dropped by their last user); returns how
    /// many there were. Later uses of their handles report `Abandoned` (or `Released`).
    pub(crate) fn abandon_all(&self) -> usize {
        let mut abandoned = 0;
        // ORDERING: Acquire: see every slot handed out so far.
        let allocated = self.allocated.load(Ordering::Acquire);
        for index in 0..allocated {
            let Some(slot) = self.slot(index) else {
                continue;
            };
            // ORDERING: as in `take`.
            let mut s = slot.state.load(Ordering::Acquire);
            loop {
                if s & KIND != OCCUPIED || s & RELEASING != 0 {
                    break;
                }
                let (new, now) = if users(s) == 0 {
                    ((s & !KIND) | DROPPING_ABANDONED, true)
                } else {
                    (s | RELEASING, false)
                };
                // ORDERING: as in `release`.
                match slot
                    .state
                    .compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => {
                        abandoned += 1;
                        if now {
                            // SAFETY: we moved the slot to a dropping state: the value is ours.
                            drop(unsafe { slot.read() });
                            self.free(index, slot, s, FREED_ABANDONED);
                        }
                        break;
                    }
                    Err(actual) => s = actual,
                }
            }
        }
        abandoned
    }

    /// Frees a slot we own (its value already moved out): the next generation, with
    /// `why` for later lookups of old handles, back on the free stack.
    fn free(&self, index: usize, slot: &Slot<V>, state: usize, why: usize) {
        // ORDERING: Release: a later insert (which pops after this) sees the cell empty,
        // and a late lookup of the old handle sees why it is gone.
        slot.state
            .store((next_generation(state) << HALF) | why, Ordering::Release);
        self.push_free(index, slot);
    }

    fn push_free(&self, index: usize, slot: &Slot<V>) {
        // ORDERING: Relaxed load; the compare-exchange publishes.
        let mut head = self.free_head.load(Ordering::Relaxed);
        loop {
            // ORDERING: published by the Release below.
            slot.next_free.store(head & LOW, Ordering::Relaxed);
            let new = (((head >> HALF).wrapping_add(1) & LOW) << HALF) | (index + 1);
            // ORDERING: Release: the slot's state and link reach the popper.
            match self.free_head.compare_exchange_weak(
                head,
                new,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }

    fn pop_free(&self) -> Option<usize> {
        // ORDERING: Acquire pairs with the push's Release.
        let mut head = self.free_head.load(Ordering::Acquire);
        loop {
            let index = (head & LOW).checked_sub(1)?;
            let slot = self.slot(index).expect("a pushed slot exists");
            // ORDERING: ordered by the Acquire of `head`; a stale value fails the tagged
            // compare-exchange below.
            let next = slot.next_free.load(Ordering::Relaxed);
            let new = (((head >> HALF).wrapping_add(1) & LOW) << HALF) | next;
            // ORDERING: Acquire: the slot's last free happens-before our insert.
            match self.free_head.compare_exchange_weak(
                head,
                new,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(index),
                Err(actual) => head = actual,
            }
        }
    }

    /// A never-used index, its segment allocated.
    fn fresh(&self) -> Option<usize> {
        // ORDERING: a counter; the segment's publication orders the slots.
        let index = self.allocated.fetch_add(1, Ordering::AcqRel);
        if index > MAX_INDEX {
            self.allocated.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let (k, _) = locate(index);
        // ORDERING: Acquire pairs with the publishing compare-exchange.
        if self.segments[k].load(Ordering::Acquire).is_null() {
            let len = segment_len(k);
            let segment: Box<[Slot<V>]> = (0..len).map(|_| Slot::new()).collect();
            let new = Box::into_raw(segment).cast::<Slot<V>>();
            // ORDERING: Release publishes the initialised slots.
            if self.segments[k]
                .compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // Another insert published this segment first.
                // SAFETY: `new` came from `Box::into_raw` of a `len`-slot slice just above
                // and was never shared.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(new, len)) });
            }
        }
        Some(index)
    }
}

/// Checks that state `s` holds the live value of generation `generation`, else says why
/// not.
fn live_as(s: usize, generation_wanted: usize) -> Result<(), Miss> {
    let kind = s & KIND;
    if generation(s) == generation_wanted {
        return match kind {
            OCCUPIED if s & RELEASING != 0 => Err(Miss::Released),
            OCCUPIED => Ok(()),
            // Being dropped: the value is as good as gone, for the reason it is going.
            DROPPING_RELEASED => Err(Miss::Released),
            DROPPING_ABANDONED => Err(Miss::Abandoned),
            _ => Err(Miss::Unknown),
        };
    }
    if generation(s) == (generation_wanted.wrapping_add(1) & LOW) {
        return Err(match kind {
            FREED_TAKEN => Miss::Taken,
            FREED_RELEASED => Miss::Released,
            FREED_ABANDONED => Miss::Abandoned,
            _ => Miss::Stale,
        });
    }
    Err(Miss::Stale)
}

impl<V> Drop for Table<V> {
    fn drop(&mut self) {
        for (k, segment) in self.segments.iter().enumerate() {
            // ORDERING: `&mut self`: nobody else is left.
            let segment = segment.load(Ordering::Acquire);
            if segment.is_null() {
                continue;
            }
            let len = segment_len(k);
            // SAFETY: published segments came from `Box::into_raw` of `len` slots, and
            // `&mut self` means no handle operation is running.
            let slots = unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(segment, len)) };
            for slot in slots.iter() {
                // ORDERING: as above.
                if slot.state.load(Ordering::Acquire) & KIND == OCCUPIED {
                    // SAFETY: an OCCUPIED slot holds a value, and nobody else is left.
                    drop(unsafe { slot.read() });
                }
            }
        }
    }
}
