//! Helpers shared by the unit-test modules. They are the integration tests' own, from
//! `tests/support/{wakers,guard,values}.rs` (included by `#[path]`), so each helper has one
//! definition for both.

// `values.rs` names the crate under test `anywait`, as the integration tests do.
use crate as anywait;

#[path = "../../tests/support/guard.rs"]
mod guard;
#[path = "../../tests/support/values.rs"]
mod values;
#[path = "../../tests/support/wakers.rs"]
mod wakers;

pub(super) use guard::{guarded, LONG};
pub(super) use values::{count, counter, runs, with_hook, SendPtr, Val};
pub(super) use wakers::{counting_waker, poll_once, poll_pinned, CountingWaker};
