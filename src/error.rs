//! Error types shared by the primitives.

use std::fmt;

/// The completing side went away without delivering a value.
///
/// A [`Completer`](crate::Completer) was dropped (or a C callback's handle was released)
/// without calling [`complete`](crate::Completer::complete). Also returned when a future
/// that already delivered its value is polled again: nothing more will ever arrive.
///
/// # Examples
///
/// ```
/// use anywait::{waitable, Abandoned};
///
/// let (completer, future) = waitable::<u32>();
/// drop(completer);
/// assert_eq!(future.wait_blocking(), Err(Abandoned));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Abandoned;

impl fmt::Display for Abandoned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the operation was abandoned: its completer was dropped without a value")
    }
}

impl std::error::Error for Abandoned {}

/// Why a timed blocking wait returned without a value.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use anywait::{waitable, WaitError};
///
/// let (completer, mut future) = waitable::<u32>();
/// assert_eq!(future.wait_timeout(Duration::from_millis(1)), Err(WaitError::Timeout));
/// drop(completer);
/// assert_eq!(future.wait_timeout(Duration::from_millis(1)), Err(WaitError::Abandoned));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitError {
    /// The deadline passed first. The wait can be retried, or the future awaited.
    Timeout,
    /// The completer went away without a value; see [`Abandoned`].
    Abandoned,
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::Timeout => f.write_str("the wait timed out before the operation completed"),
            WaitError::Abandoned => fmt::Display::fmt(&Abandoned, f),
        }
    }
}

impl std::error::Error for WaitError {}

impl From<Abandoned> for WaitError {
    fn from(_: Abandoned) -> Self {
        WaitError::Abandoned
    }
}

/// Why [`try_take`](crate::WaitableFuture::try_take) returned no value.
///
/// # Examples
///
/// ```
/// use anywait::{waitable, TryTakeError};
///
/// let (completer, mut future) = waitable::<u32>();
/// assert_eq!(future.try_take(), Err(TryTakeError::Pending));
/// completer.complete(7).unwrap();
/// assert_eq!(future.try_take(), Ok(7));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TryTakeError {
    /// Nothing has arrived yet.
    Pending,
    /// The completer went away without a value; see [`Abandoned`].
    Abandoned,
}

impl fmt::Display for TryTakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryTakeError::Pending => f.write_str("the operation has not completed yet"),
            TryTakeError::Abandoned => fmt::Display::fmt(&Abandoned, f),
        }
    }
}

impl std::error::Error for TryTakeError {}

impl From<Abandoned> for TryTakeError {
    fn from(_: Abandoned) -> Self {
        TryTakeError::Abandoned
    }
}
