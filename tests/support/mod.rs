//! Helpers shared by the integration tests: each test crate includes this module with
//! `mod support;` and uses what it needs, through the re-exports below. One file per job:
//!
//! - `wakers.rs`: counting wakers ([`CountingWaker`]), a waker that unparks a thread
//!   ([`thread_waker`]), one-poll helpers ([`poll_once`], [`poll_pinned`]),
//!   [`SignalOnPending`];
//! - `guard.rs`: failure guards ([`GUARD`], [`LONG`], [`guarded`]) and [`quiet_panics`];
//! - `values.rs`: drop-counting values ([`Val`], [`counter`], [`count`]), `on_cancel`
//!   hook counts ([`with_hook`], [`runs`]), [`SendPtr`];
//! - `rng.rs`: the random operation sequences of the model and stress tests ([`XorShift`],
//!   [`seed`], [`random_sequences`], [`check_decoder`]) and long stress ([`Stress`],
//!   [`long_stress`]: `ANYWAIT_STRESS_SECS`);
//! - `alloc.rs`: the counting global allocator of the allocation tests ([`CountingAlloc`],
//!   [`allocs`]);
//! - `executors.rs`: the executors the runtime tests run on ([`Executor`], [`Runner`]);
//! - `credit.rs`: window credit for stream producers ([`Credit`]);
//! - `loom_models.rs`, under `cfg(anywait_loom)`: the loom models' helpers ([`loom_models`]).
//!
//! `wakers.rs`, `guard.rs` and `values.rs` are the unit tests' helpers too:
//! `src/tests/support.rs` includes them by `#[path]`, so each helper has one definition.

mod alloc;
mod credit;
mod executors;
mod guard;
#[cfg(anywait_loom)]
pub mod loom_models;
mod rng;
mod values;
mod wakers;

// `values.rs` names the crate under test through its parent (the unit tests' parent names
// it with `use crate as anywait`).
use ::anywait;

// Each test binary uses a subset of these.
#[allow(unused_imports)]
pub use self::{
    alloc::{allocs, CountingAlloc},
    credit::Credit,
    executors::{
        futures_thread_pool, park_block_on, tokio_current_thread, tokio_multi_thread, Executor,
        Runner, SmolThreads,
    },
    guard::{guarded, quiet_panics, GUARD, LONG},
    rng::{
        assert_every_kind, check_decoder, long_stress, random_sequences, seed, OpSequence,
        RandomRun, Round, Stress, XorShift,
    },
    values::{count, counter, runs, with_hook, Counter, SendPtr, Val},
    wakers::{
        assert_no_waker_leak, counting_waker, poll_once, poll_pinned, thread_waker, CountingWaker,
        SignalOnPending,
    },
};
