//! The shared waiting machinery: who waits ([`waiter`]), the lock-free waiter hand-off
//! ([`slot`]) and the one-shot block built on them ([`oneshot`]). Most of the crate's
//! `unsafe` lives here; the public primitives are thin, safe layers on top.

pub(crate) mod oneshot;
pub(crate) mod slot;
pub(crate) mod waiter;
