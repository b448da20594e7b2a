//! The shared waiting machinery: who waits ([`waiter`]), the lock-free waiter hand-off
//! ([`slot`]), the one-shot block built on them ([`oneshot`]) and the intrusive wait queue
//! for any number of waiters ([`queue`]). Most of the crate's
//! `unsafe` lives here; the public primitives are thin, safe layers on top.

pub(crate) mod handles;
pub(crate) mod latch;
pub(crate) mod oneshot;
pub(crate) mod queue;
pub(crate) mod slot;
pub(crate) mod waiter;
