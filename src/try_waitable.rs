//! One-level results for SDKs that report success or an error code:
//! [`TryWaitableFuture`] and [`TrySharedWaitable`].
//!
//! A binding whose SDK calls back with "done" or "failed with code N" completes a
//! `Completer<Result<T, E>>`. Handing out the plain `WaitableFuture<Result<T, E>>` would
//! give its users `Result<Result<T, E>, Abandoned>`. A [`TryWaitableFuture<T, E>`] is the
//! same future with one level: it resolves to `Result<T, E>`, and turns [`Abandoned`] (and,
//! for timed waits, [`Elapsed`]) into the binding's own `E` through `From`.
//!
//! ```
//! use anywait::{Abandoned, TryWaitableFuture};
//!
//! #[derive(Debug, PartialEq)]
//! enum SdkError {
//!     Code(i32),
//!     NoAnswer, // the SDK dropped the operation without calling back
//! }
//!
//! impl From<Abandoned> for SdkError {
//!     fn from(_: Abandoned) -> Self {
//!         SdkError::NoAnswer
//!     }
//! }
//!
//! fn get(code: i32) -> TryWaitableFuture<String, SdkError> {
//!     TryWaitableFuture::from_callback(|completer| {
//!         std::thread::spawn(move || {
//!             let result = if code == 0 { Ok("body".to_string()) } else { Err(SdkError::Code(code)) };
//!             let _ = completer.complete(result);
//!         });
//!     })
//! }
//!
//! assert_eq!(futures::executor::block_on(get(0)), Ok("body".to_string()));
//! assert_eq!(get(404).wait_blocking(), Err(SdkError::Code(404)));
//! ```
//!
//! It is a wrapper around the [`WaitableFuture`] with no state of its own: the same size,
//! no extra allocation, the same guarantees and the same [states](mod@crate::waitable#states).
//! Everything a `WaitableFuture` offers is here too: awaiting, blocking waits with and
//! without a timeout, `try_take`, `on_cancel`, `on_complete`, [`shared`](TryWaitableFuture::shared)
//! and (feature `timer`) `with_timeout`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::FusedFuture;

use crate::error::{Abandoned, Elapsed, TryTakeError, WaitError, WouldDeadlock};
use crate::shared::SharedWaitable;
use crate::waitable::{waitable, Completer, WaitableFuture};

/// Creates a connected [`Completer`] and [`TryWaitableFuture`], with one allocation: the
/// completer takes a `Result<T, E>`, the future resolves to it with one level.
///
/// # Examples
///
/// ```
/// let (completer, future) = anywait::try_waitable::<u32, std::io::Error>();
/// std::thread::spawn(move || completer.complete(Ok(7)));
/// assert_eq!(future.wait_blocking().unwrap(), 7);
/// ```
pub fn try_waitable<T, E>() -> (Completer<Result<T, E>>, TryWaitableFuture<T, E>) {
    let (completer, inner) = waitable();
    (completer, TryWaitableFuture { inner })
}

/// Flattens a result that arrived into the binding's error type.
fn flatten<T, E: From<Abandoned>>(result: Result<Result<T, E>, Abandoned>) -> Result<T, E> {
    result.unwrap_or_else(|abandoned| Err(E::from(abandoned)))
}

/// Flattens a timed wait's outcome into the binding's error type.
fn flatten_timed<T, E>(result: Result<Result<T, E>, WaitError>) -> Result<T, E>
where
    E: From<Abandoned> + From<Elapsed>,
{
    match result {
        Ok(result) => result,
        Err(WaitError::Abandoned) => Err(E::from(Abandoned)),
        Err(WaitError::Timeout) => Err(E::from(Elapsed)),
    }
}

/// A [`WaitableFuture`] for an operation that succeeds with `T` or fails with the binding's
/// `E`: resolves to `Result<T, E>`, one level. See the [module docs](self).
///
/// `E: From<Abandoned>` turns a completer dropped without a value into the binding's
/// error; the timed waits also need `E: From<Elapsed>`.
///
/// # Examples
///
/// ```
/// use anywait::Abandoned;
///
/// #[derive(Debug, PartialEq)]
/// struct Gone;
/// impl From<Abandoned> for Gone {
///     fn from(_: Abandoned) -> Self { Gone }
/// }
///
/// let (completer, future) = anywait::try_waitable::<u8, Gone>();
/// drop(completer); // the SDK never called back
/// assert_eq!(future.wait_blocking(), Err(Gone));
/// ```
#[must_use = "dropping a TryWaitableFuture cancels the operation"]
pub struct TryWaitableFuture<T, E> {
    inner: WaitableFuture<Result<T, E>>,
}

impl<T, E> TryWaitableFuture<T, E> {
    /// Creates a pair and hands the completer to `register` at once; see
    /// [`WaitableFuture::from_callback`].
    ///
    /// # Examples
    ///
    /// ```
    /// use anywait::{Abandoned, TryWaitableFuture};
    ///
    /// let future = TryWaitableFuture::<u8, Abandoned>::from_callback(|completer| {
    ///     completer.complete(Ok(1)).unwrap();
    /// });
    /// assert_eq!(future.wait_blocking(), Ok(1));
    /// ```
    pub fn from_callback(register: impl FnOnce(Completer<Result<T, E>>)) -> Self {
        let (completer, future) = try_waitable();
        register(completer);
        future
    }

    /// The two-level [`WaitableFuture`] inside.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::try_waitable::<u8, anywait::Abandoned>();
    /// completer.complete(Ok(3)).unwrap();
    /// assert_eq!(future.into_inner().wait_blocking(), Ok(Ok(3)));
    /// ```
    pub fn into_inner(self) -> WaitableFuture<Result<T, E>> {
        self.inner
    }

    /// Whether a result or an abandonment has arrived; see
    /// [`WaitableFuture::is_complete`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::try_waitable::<u8, anywait::Abandoned>();
    /// assert!(!future.is_complete());
    /// completer.complete(Ok(1)).unwrap();
    /// assert!(future.is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.inner.is_complete()
    }

    /// Registers a hook to run if this future is dropped before a result arrived; see
    /// [`WaitableFuture::on_cancel`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let canceled = Arc::new(AtomicBool::new(false));
    /// let flag = canceled.clone();
    /// let (completer, future) = anywait::try_waitable::<u8, anywait::Abandoned>();
    /// drop(future.on_cancel(move || flag.store(true, Ordering::SeqCst)));
    /// assert!(canceled.load(Ordering::SeqCst));
    /// assert!(completer.is_canceled());
    /// ```
    pub fn on_cancel(self, hook: impl FnOnce() + Send + 'static) -> Self {
        TryWaitableFuture {
            inner: self.inner.on_cancel(hook),
        }
    }
}

impl<T, E: From<Abandoned>> TryWaitableFuture<T, E> {
    /// Blocks the calling thread until the result arrives; an abandonment becomes
    /// `E::from(Abandoned)`. See [`WaitableFuture::wait_blocking`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::try_waitable::<u8, anywait::Abandoned>();
    /// std::thread::spawn(move || completer.complete(Ok(5)));
    /// assert_eq!(future.wait_blocking(), Ok(5));
    /// ```
    pub fn wait_blocking(self) -> Result<T, E> {
        flatten(self.inner.wait_blocking())
    }

    /// [`wait_blocking`](Self::wait_blocking) that returns [`WouldDeadlock`] instead of
    /// blocking inside an SDK callback scope; the future is then intact.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, mut future) = anywait::try_waitable::<u8, anywait::Abandoned>();
    /// anywait::ffi::callback_scope(|| assert!(future.wait_blocking_checked().is_err()));
    /// completer.complete(Ok(1)).unwrap();
    /// assert_eq!(future.wait_blocking_checked(), Ok(Ok(1)));
    /// ```
    pub fn wait_blocking_checked(&mut self) -> Result<Result<T, E>, WouldDeadlock> {
        self.inner.wait_blocking_checked().map(flatten)
    }

    /// Takes the result if it has arrived, without waiting: `None` while pending.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, mut future) = anywait::try_waitable::<u8, anywait::Abandoned>();
    /// assert_eq!(future.try_take(), None);
    /// completer.complete(Ok(2)).unwrap();
    /// assert_eq!(future.try_take(), Some(Ok(2)));
    /// ```
    pub fn try_take(&mut self) -> Option<Result<T, E>> {
        match self.inner.try_take() {
            Ok(result) => Some(result),
            Err(TryTakeError::Pending) => None,
            Err(TryTakeError::Abandoned) => Some(Err(E::from(Abandoned))),
        }
    }

    /// Consumes the future and calls `f` with the result, on the completing thread (or at
    /// once); see [`WaitableFuture::on_complete`]. A panic in `f` is contained.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::try_waitable::<u8, anywait::Abandoned>();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// future.on_complete(move |result| tx.send(result).unwrap());
    /// drop(completer);
    /// assert_eq!(rx.recv().unwrap(), Err(anywait::Abandoned));
    /// ```
    pub fn on_complete(self, f: impl FnOnce(Result<T, E>) + Send + 'static) {
        self.inner.on_complete(move |result| f(flatten(result)));
    }
}

impl<T, E: From<Abandoned> + From<Elapsed>> TryWaitableFuture<T, E> {
    /// Blocks for at most `timeout`. A timeout is `E::from(Elapsed)`, and the future is
    /// intact: wait or await it again.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use anywait::WaitError; // implements From<Abandoned> and From<Elapsed>
    ///
    /// let (completer, mut future) = anywait::try_waitable::<u8, WaitError>();
    /// assert_eq!(future.wait_timeout(Duration::ZERO), Err(WaitError::Timeout));
    /// completer.complete(Ok(1)).unwrap();
    /// assert_eq!(future.wait_timeout(Duration::from_secs(1)), Ok(1));
    /// ```
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<T, E> {
        flatten_timed(self.inner.wait_timeout(timeout))
    }

    /// Blocks until `deadline` at the latest; as [`wait_timeout`](Self::wait_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// use anywait::WaitError;
    ///
    /// let (_completer, mut future) = anywait::try_waitable::<u8, WaitError>();
    /// assert_eq!(future.wait_deadline(Instant::now()), Err(WaitError::Timeout));
    /// ```
    pub fn wait_deadline(&mut self, deadline: Instant) -> Result<T, E> {
        flatten_timed(self.inner.wait_deadline(deadline))
    }
}

impl<T, E> TryWaitableFuture<T, E>
where
    T: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// Turns the future into a [`TrySharedWaitable`]: cloneable, any number of waiters,
    /// one-level results. See [`WaitableFuture::shared`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::try_waitable::<u8, anywait::Abandoned>();
    /// let shared = future.shared();
    /// let other = shared.clone();
    /// completer.complete(Ok(4)).unwrap();
    /// assert_eq!(shared.wait_blocking(), Ok(4));
    /// assert_eq!(pollster::block_on(other), Ok(4));
    /// ```
    pub fn shared(self) -> TrySharedWaitable<T, E> {
        TrySharedWaitable {
            inner: self.inner.shared(),
        }
    }
}

impl<T, E> From<WaitableFuture<Result<T, E>>> for TryWaitableFuture<T, E> {
    fn from(inner: WaitableFuture<Result<T, E>>) -> Self {
        TryWaitableFuture { inner }
    }
}

impl<T, E> WaitableFuture<Result<T, E>> {
    /// The same future with one-level results: a [`TryWaitableFuture`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::waitable::<Result<u8, anywait::Abandoned>>();
    /// completer.complete(Ok(1)).unwrap();
    /// assert_eq!(future.into_try().wait_blocking(), Ok(1));
    /// ```
    pub fn into_try(self) -> TryWaitableFuture<T, E> {
        TryWaitableFuture { inner: self }
    }
}

impl<T, E: From<Abandoned>> Future for TryWaitableFuture<T, E> {
    type Output = Result<T, E>;

    /// Resolves with the result, or `E::from(Abandoned)`. Polling again after `Ready`
    /// gives `E::from(Abandoned)`, as the inner future does.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().inner).poll(cx).map(flatten)
    }
}

impl<T, E: From<Abandoned>> FusedFuture for TryWaitableFuture<T, E> {
    fn is_terminated(&self) -> bool {
        self.inner.is_terminated()
    }
}

impl<T, E> fmt::Debug for TryWaitableFuture<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TryWaitableFuture")
            .field(&self.inner)
            .finish()
    }
}

/// A [`SharedWaitable`] with one-level results; from [`TryWaitableFuture::shared`].
///
/// Resolves to `Result<T, E>`; an abandonment becomes `E::from(Abandoned)`. `Unpin`,
/// cloneable, waitable from any number of tasks and threads.
///
/// # Examples
///
/// ```
/// let (completer, future) = anywait::try_waitable::<u8, anywait::Abandoned>();
/// let shared = future.shared();
/// shared.on_complete(|result| assert_eq!(result, Ok(9)));
/// completer.complete(Ok(9)).unwrap();
/// assert_eq!(shared.try_get(), Some(Ok(9)));
/// ```
#[must_use = "dropping the last handle cancels the operation"]
pub struct TrySharedWaitable<T, E> {
    inner: SharedWaitable<Result<T, E>>,
}

impl<T: Clone, E: Clone + From<Abandoned>> TrySharedWaitable<T, E> {
    /// The result if it has arrived, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::try_waitable::<u8, anywait::Abandoned>();
    /// let shared = future.shared();
    /// assert_eq!(shared.try_get(), None);
    /// drop(completer);
    /// assert_eq!(shared.try_get(), Some(Err(anywait::Abandoned)));
    /// ```
    pub fn try_get(&self) -> Option<Result<T, E>> {
        self.inner.try_get().map(flatten)
    }

    /// Whether the result has arrived.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::try_waitable::<u8, anywait::Abandoned>();
    /// let shared = future.shared();
    /// completer.complete(Ok(1)).unwrap();
    /// assert!(shared.is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.inner.is_complete()
    }

    /// Blocks the calling thread until the result arrives.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::try_waitable::<u8, anywait::Abandoned>();
    /// let shared = future.shared();
    /// std::thread::spawn(move || completer.complete(Ok(3)));
    /// assert_eq!(shared.wait_blocking(), Ok(3));
    /// ```
    pub fn wait_blocking(&self) -> Result<T, E> {
        flatten(self.inner.wait_blocking())
    }

    /// Registers a done-callback; see [`SharedWaitable::on_complete`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::try_waitable::<u8, anywait::Abandoned>();
    /// let shared = future.shared();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// shared.on_complete(move |result| tx.send(result).unwrap());
    /// completer.complete(Ok(2)).unwrap();
    /// assert_eq!(rx.recv().unwrap(), Ok(2));
    /// ```
    pub fn on_complete(&self, f: impl FnOnce(Result<T, E>) + Send + 'static) {
        self.inner.on_complete(move |result| f(flatten(result)));
    }

    /// The payloads of done-callbacks that panicked; see
    /// [`SharedWaitable::take_callback_panics`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::try_waitable::<u8, anywait::Abandoned>();
    /// let shared = future.shared();
    /// shared.on_complete(|_| panic!("bug"));
    /// completer.complete(Ok(1)).unwrap();
    /// assert_eq!(shared.take_callback_panics().len(), 1);
    /// ```
    pub fn take_callback_panics(&self) -> Vec<Box<dyn std::any::Any + Send>> {
        self.inner.take_callback_panics()
    }

    /// The two-level [`SharedWaitable`] inside.
    ///
    /// # Examples
    ///
    /// ```
    /// let (completer, future) = anywait::try_waitable::<u8, anywait::Abandoned>();
    /// let shared = future.shared().into_inner();
    /// completer.complete(Ok(1)).unwrap();
    /// assert_eq!(shared.wait_blocking(), Ok(Ok(1)));
    /// ```
    pub fn into_inner(self) -> SharedWaitable<Result<T, E>> {
        self.inner
    }
}

impl<T: Clone, E: Clone + From<Abandoned> + From<Elapsed>> TrySharedWaitable<T, E> {
    /// Blocks for at most `timeout`; a timeout is `E::from(Elapsed)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use anywait::WaitError;
    ///
    /// let (_completer, future) = anywait::try_waitable::<u8, WaitError>();
    /// let shared = future.shared();
    /// assert_eq!(shared.wait_timeout(Duration::ZERO), Err(WaitError::Timeout));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<T, E> {
        flatten_timed(self.inner.wait_timeout(timeout))
    }

    /// Blocks until `deadline` at the latest; a timeout is `E::from(Elapsed)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// use anywait::WaitError;
    ///
    /// let (completer, future) = anywait::try_waitable::<u8, WaitError>();
    /// let shared = future.shared();
    /// completer.complete(Ok(8)).unwrap();
    /// assert_eq!(shared.wait_deadline(Instant::now()), Ok(8));
    /// ```
    pub fn wait_deadline(&self, deadline: Instant) -> Result<T, E> {
        flatten_timed(self.inner.wait_deadline(deadline))
    }
}

impl<T, E> Clone for TrySharedWaitable<T, E> {
    fn clone(&self) -> Self {
        TrySharedWaitable {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Clone, E: Clone + From<Abandoned>> Future for TrySharedWaitable<T, E> {
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().inner).poll(cx).map(flatten)
    }
}

impl<T: Clone, E: Clone + From<Abandoned>> FusedFuture for TrySharedWaitable<T, E> {
    fn is_terminated(&self) -> bool {
        self.inner.is_terminated()
    }
}

impl<T, E> fmt::Debug for TrySharedWaitable<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TrySharedWaitable")
            .field(&self.inner)
            .finish()
    }
}
