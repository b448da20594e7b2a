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

/// A closure run on a waiter thread panicked (or, rarely, could not be run at all).
///
/// The panic was caught on the pool thread, which survives it; the payload is kept so the
/// caller can inspect it or re-raise it with [`std::panic::resume_unwind`].
///
/// # Examples
///
/// ```
/// let task = anywait::run_blocking(|_token| -> u32 { panic!("boom") });
/// let err = task.wait_blocking().unwrap_err();
/// assert_eq!(err.message(), Some("boom"));
/// ```
pub struct Panicked {
    payload: Box<dyn std::any::Any + Send>,
}

impl Panicked {
    pub(crate) fn from_payload(payload: Box<dyn std::any::Any + Send>) -> Self {
        Panicked { payload }
    }

    /// The panic message, when the payload is a string (as with `panic!("...")`).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = anywait::run_blocking(|_| -> () { panic!("code {}", 7) })
    ///     .wait_blocking()
    ///     .unwrap_err();
    /// assert_eq!(err.message(), Some("code 7"));
    /// ```
    pub fn message(&self) -> Option<&str> {
        panic_message(&*self.payload)
    }

    /// The panic payload, e.g. to re-raise it with [`std::panic::resume_unwind`].
    ///
    /// # Examples
    ///
    /// ```
    /// let err = anywait::run_blocking(|_| -> () { std::panic::panic_any(42u8) })
    ///     .wait_blocking()
    ///     .unwrap_err();
    /// assert_eq!(err.into_payload().downcast_ref::<u8>(), Some(&42));
    /// ```
    pub fn into_payload(self) -> Box<dyn std::any::Any + Send> {
        self.payload
    }
}

/// The message of a panic payload that is a `&str` or a `String`.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

impl fmt::Debug for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panicked")
            .field("message", &self.message())
            .finish()
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message() {
            Some(message) => write!(f, "the blocking closure panicked: {message}"),
            None => f.write_str("the blocking closure panicked"),
        }
    }
}

impl std::error::Error for Panicked {}
