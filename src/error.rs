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

/// An abandonment as an I/O error of kind [`Other`](std::io::ErrorKind::Other), for
/// bindings whose error type is `std::io::Error` (see
/// [`TryWaitableFuture`](crate::TryWaitableFuture)).
///
/// # Examples
///
/// ```
/// let error = std::io::Error::from(anywait::Abandoned);
/// assert_eq!(error.kind(), std::io::ErrorKind::Other);
/// ```
impl From<Abandoned> for std::io::Error {
    fn from(abandoned: Abandoned) -> Self {
        std::io::Error::other(abandoned)
    }
}

/// The deadline passed before the operation completed.
///
/// The crate's one word for a timeout: the async `timeout` futures
/// (feature `timer`) resolve to `Err(Elapsed)`, a timed blocking wait reports
/// [`WaitError::Timeout`] (`WaitError::from(Elapsed)`), and a binding whose error type
/// implements `From<Elapsed>` gets it directly from
/// [`TryWaitableFuture`](crate::TryWaitableFuture)'s timed waits.
///
/// # Examples
///
/// ```
/// use anywait::{Elapsed, WaitError};
///
/// assert_eq!(WaitError::from(Elapsed), WaitError::Timeout);
/// assert_eq!(Elapsed.to_string(), "the deadline passed before the operation completed");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the deadline passed before the operation completed")
    }
}

impl std::error::Error for Elapsed {}

/// A timeout as an I/O error of kind [`TimedOut`](std::io::ErrorKind::TimedOut), for
/// bindings whose error type is `std::io::Error`.
impl From<Elapsed> for std::io::Error {
    fn from(elapsed: Elapsed) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, elapsed)
    }
}

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
            WaitError::Timeout => fmt::Display::fmt(&Elapsed, f),
            WaitError::Abandoned => fmt::Display::fmt(&Abandoned, f),
        }
    }
}

impl std::error::Error for WaitError {}

/// A blocking wait was asked of a thread that runs inside an SDK callback scope
/// ([`ffi::callback_scope`](crate::ffi::callback_scope), `ffi::catch_callback`, the FFI
/// trampolines), where blocking would most likely wait for the very callback the thread is
/// running, or stall the SDK's event loop.
///
/// Every primitive's blocking wait has a checked form (`wait_blocking_checked`,
/// `next_blocking_checked`) that returns it. The unchecked forms, whose signatures have no
/// error for it, never block in a scope either: an untimed wait (`wait_blocking`,
/// `next_blocking`) unwinds with a `WouldDeadlock` payload, which the callback's panic
/// containment catches; a timed wait (`wait_timeout`, `wait_deadline`, `next_timeout`)
/// reports its timeout at once. A wait whose result is already there returns it, in a
/// scope or not.
///
/// # Examples
///
/// ```
/// use anywait::{ffi, WaitError};
/// use std::time::Duration;
///
/// let (_completer, mut future) = anywait::waitable::<u32>();
/// ffi::callback_scope(|| {
///     // On the SDK's thread: an error at once, not a hang.
///     assert_eq!(future.wait_blocking_checked(), Err(anywait::WouldDeadlock));
///     // The timed wait, whose error type has no room for it, times out at once.
///     assert_eq!(future.wait_timeout(Duration::from_secs(60)), Err(WaitError::Timeout));
/// });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WouldDeadlock;

impl fmt::Display for WouldDeadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a blocking wait inside an SDK callback would deadlock: await the future, or wait \
             from a thread of your own",
        )
    }
}

impl std::error::Error for WouldDeadlock {}

impl From<Abandoned> for WaitError {
    fn from(_: Abandoned) -> Self {
        WaitError::Abandoned
    }
}

impl From<Elapsed> for WaitError {
    fn from(_: Elapsed) -> Self {
        WaitError::Timeout
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
