//! Runtime-agnostic timeouts: [`timeout`] and [`WaitableFuture::with_timeout`].
//!
//! Available with the `timer` cargo feature. The timer is `async-io`'s, which works under
//! every executor: when no `async-io` reactor is running in the process, the first timer
//! starts `async-io`'s driver thread (named `async-io`), which then serves every timer.
//! Without the feature anywait pulls in no timer machinery.
//!
//! ```
//! use std::time::Duration;
//!
//! let (completer, future) = anywait::waitable::<u32>();
//! let result = pollster::block_on(anywait::timeout(Duration::from_millis(10), future));
//! assert_eq!(result, Err(anywait::time::Elapsed));
//! // The timed-out future was dropped, so the operation was canceled:
//! assert!(completer.is_canceled());
//! ```
//!
//! # States
//!
//! ```text
//!   ┌─────────┐  inner future ready   ┌────────────────┐
//!   │ Running │ ────────────────────► │ Ok(output)     │
//!   └─────────┘                       └────────────────┘
//!        │ deadline passes: the inner future is dropped at once (so its
//!        ▼ on_cancel hook runs and the SDK is told to cancel)
//!   ┌────────────────┐
//!   │ Err(Elapsed)   │
//!   └────────────────┘
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_io::Timer;
use futures_core::FusedFuture;
use pin_project_lite::pin_project;

use crate::error::Abandoned;
use crate::try_waitable::TryWaitableFuture;
use crate::waitable::WaitableFuture;

/// The deadline passed first; the one timeout error of the crate, defined in its error
/// module beside [`WaitError`](crate::WaitError) and re-exported here.
pub use crate::error::Elapsed;

pin_project! {
    /// A future with a deadline, from [`timeout`], [`timeout_at`] or
    /// [`WaitableFuture::with_timeout`].
    ///
    /// Resolves to `Ok(output)` if the inner future completes first, else to
    /// `Err(Elapsed)`; in that case the inner future is dropped as soon as the deadline is
    /// seen, so cancellation hooks run then, not when the `Timeout` itself is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let ready = async { 5 };
    /// let result = futures::executor::block_on(anywait::timeout(Duration::from_secs(5), ready));
    /// assert_eq!(result, Ok(5));
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct Timeout<F> {
        #[pin]
        future: Option<F>,
        timer: Timer,
    }
}

/// Runs `future` with a time limit of `duration`, under any executor.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let (completer, future) = anywait::waitable();
/// std::thread::spawn(move || completer.complete(1));
/// let result = smol::block_on(anywait::timeout(Duration::from_secs(10), future));
/// assert_eq!(result, Ok(Ok(1)));
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future: Some(future),
        timer: Timer::after(duration),
    }
}

/// Runs `future` until `deadline` at the latest, under any executor.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let deadline = Instant::now() + Duration::from_millis(5);
/// let result = pollster::block_on(anywait::time::timeout_at(deadline, std::future::pending::<()>()));
/// assert!(result.is_err());
/// assert!(Instant::now() >= deadline);
/// ```
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future: Some(future),
        timer: Timer::at(deadline),
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    /// Polls the inner future first, then the timer. After `Ready`, polling again returns
    /// `Err(Elapsed)`.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            return Poll::Ready(Err(Elapsed));
        };
        if let Poll::Ready(output) = future.poll(cx) {
            this.future.set(None);
            return Poll::Ready(Ok(output));
        }
        match Pin::new(this.timer).poll(cx) {
            Poll::Ready(_) => {
                // Drop the inner future now: this is the cancellation the caller asked for.
                this.future.set(None);
                Poll::Ready(Err(Elapsed))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F: Future> FusedFuture for Timeout<F> {
    fn is_terminated(&self) -> bool {
        self.future.is_none()
    }
}

impl<T> WaitableFuture<T> {
    /// This future with a time limit, under any executor: sugar for
    /// [`timeout(duration, self)`](timeout). On timeout the future is dropped, so its
    /// `on_cancel` hook runs and the SDK is told to cancel.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let canceled = Arc::new(AtomicBool::new(false));
    /// let flag = canceled.clone();
    /// let (_completer, future) = anywait::waitable::<()>();
    /// let future = future.on_cancel(move || flag.store(true, Ordering::SeqCst));
    /// let result = futures::executor::block_on(future.with_timeout(Duration::from_millis(5)));
    /// assert_eq!(result, Err(anywait::time::Elapsed));
    /// assert!(canceled.load(Ordering::SeqCst));
    /// ```
    pub fn with_timeout(self, duration: Duration) -> Timeout<Self> {
        timeout(duration, self)
    }
}

pin_project! {
    /// A [`TryWaitableFuture`] with a deadline, from [`TryWaitableFuture::with_timeout`]:
    /// resolves to `Result<T, E>`, with a timeout as `E::from(Elapsed)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use anywait::WaitError;
    ///
    /// let (_completer, future) = anywait::try_waitable::<u8, WaitError>();
    /// let timed = future.with_timeout(Duration::from_millis(1));
    /// assert_eq!(pollster::block_on(timed), Err(WaitError::Timeout));
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct TryTimeout<F> {
        #[pin]
        inner: Timeout<F>,
    }
}

impl<F, T, E> Future for TryTimeout<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<Elapsed>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project()
            .inner
            .poll(cx)
            .map(|timed| timed.unwrap_or_else(|elapsed| Err(E::from(elapsed))))
    }
}

impl<F, T, E> FusedFuture for TryTimeout<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<Elapsed>,
{
    fn is_terminated(&self) -> bool {
        self.inner.is_terminated()
    }
}

impl<T, E: From<Abandoned> + From<Elapsed>> TryWaitableFuture<T, E> {
    /// Gives the future a deadline `duration` from now; see
    /// [`WaitableFuture::with_timeout`]. A timeout resolves to `Err(E::from(Elapsed))`,
    /// and the operation is canceled (its `on_cancel` hook runs).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use anywait::WaitError;
    ///
    /// let (completer, future) = anywait::try_waitable::<u8, WaitError>();
    /// std::thread::spawn(move || completer.complete(Ok(3)));
    /// let timed = future.with_timeout(Duration::from_secs(60));
    /// assert_eq!(pollster::block_on(timed), Ok(3));
    /// ```
    pub fn with_timeout(self, duration: Duration) -> TryTimeout<Self> {
        TryTimeout {
            inner: timeout(duration, self),
        }
    }
}
