//! Panic containment for user code that anywait runs on threads that are not the user's
//! own: done-callbacks, cancel hooks, credit and close hooks, interrupt hooks.
//!
//! Such code often runs on an SDK's own thread, inside an `extern "C"` callback, where an
//! unwinding panic aborts the process. anywait therefore never lets a panic out of a hook:
//! it catches it, and hands it to the process-wide **panic handler** as a
//! [`CallbackPanic`] that names the hook and keeps the payload. The default handler writes
//! one line to standard error (the std panic hook has already printed the panic message
//! and location as usual); [`set_panic_handler`] installs your own, e.g. to log it or to
//! count it in a metric.
//!
//! ```
//! use std::sync::mpsc;
//! use anywait::panics::{self, HookKind};
//!
//! let (report, reports) = mpsc::channel();
//! let report = std::sync::Mutex::new(report);
//! panics::set_panic_handler(move |panic| {
//!     let _ = report.lock().unwrap().send((panic.hook(), panic.message().map(String::from)));
//! });
//!
//! let (completer, future) = anywait::waitable::<u32>();
//! future.on_complete(|_| panic!("a bug in a done-callback"));
//! // The SDK's thread completes: the panic stops here, `complete` returns normally.
//! std::thread::spawn(move || completer.complete(1).unwrap()).join().unwrap();
//!
//! let (hook, message) = reports.recv().unwrap();
//! assert_eq!(hook, HookKind::DoneCallback);
//! assert_eq!(message.as_deref(), Some("a bug in a done-callback"));
//! # panics::reset_panic_handler();
//! ```
//!
//! A panic in the handler itself is caught and ignored: nothing reaches the SDK's thread.
//!
//! `SharedWaitable`'s done-callbacks keep their payloads on the shared result instead
//! ([`SharedWaitable::take_callback_panics`](crate::SharedWaitable::take_callback_panics));
//! they are counted in [`contained_panics`] all the same.

use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::error::panic_message;

/// Which kind of hook a contained panic came from.
///
/// # Examples
///
/// ```
/// use anywait::panics::HookKind;
///
/// assert_eq!(HookKind::CreditHook.to_string(), "an on_credit hook");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HookKind {
    /// A [`WaitableFuture::on_complete`](crate::WaitableFuture::on_complete) done-callback.
    DoneCallback,
    /// An [`on_cancel`](crate::WaitableFuture::on_cancel) hook.
    CancelHook,
    /// A [`StreamFeeder::on_credit`](crate::StreamFeeder::on_credit) hook.
    CreditHook,
    /// An `on_close` hook of a callback stream.
    CloseHook,
    /// A [`ForeignWait::with_interrupt`](crate::ForeignWait::with_interrupt) hook.
    InterruptHook,
    /// SDK callback code run under the FFI kit's log-and-drop panic policy.
    FfiCallback,
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HookKind::DoneCallback => "a done-callback",
            HookKind::CancelHook => "an on_cancel hook",
            HookKind::CreditHook => "an on_credit hook",
            HookKind::CloseHook => "an on_close hook",
            HookKind::InterruptHook => "an interrupt hook",
            HookKind::FfiCallback => "an SDK callback",
        })
    }
}

/// A panic that anywait caught in a hook, as handed to the panic handler.
///
/// # Examples
///
/// ```
/// use anywait::panics::{CallbackPanic, HookKind};
///
/// let caught = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
/// let panic = CallbackPanic::new(HookKind::CloseHook, caught);
/// assert_eq!(panic.hook(), HookKind::CloseHook);
/// assert_eq!(panic.message(), Some("boom"));
/// ```
pub struct CallbackPanic {
    hook: HookKind,
    payload: Box<dyn Any + Send>,
}

impl CallbackPanic {
    /// Wraps a caught panic payload (e.g. for a handler test, or to route panics caught by
    /// your own code the same way).
    ///
    /// # Examples
    ///
    /// ```
    /// use anywait::panics::{CallbackPanic, HookKind};
    ///
    /// let panic = CallbackPanic::new(HookKind::FfiCallback, Box::new(7u8));
    /// assert_eq!(panic.message(), None);
    /// ```
    pub fn new(hook: HookKind, payload: Box<dyn Any + Send>) -> Self {
        CallbackPanic { hook, payload }
    }

    /// The kind of hook that panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use anywait::panics::{CallbackPanic, HookKind};
    ///
    /// assert_eq!(CallbackPanic::new(HookKind::CancelHook, Box::new(())).hook(), HookKind::CancelHook);
    /// ```
    pub fn hook(&self) -> HookKind {
        self.hook
    }

    /// The panic message, when the payload is a string (as with `panic!("...")`).
    ///
    /// # Examples
    ///
    /// ```
    /// use anywait::panics::{CallbackPanic, HookKind};
    ///
    /// let panic = CallbackPanic::new(HookKind::CreditHook, Box::new("out of credit"));
    /// assert_eq!(panic.message(), Some("out of credit"));
    /// ```
    pub fn message(&self) -> Option<&str> {
        panic_message(&*self.payload)
    }

    /// The panic payload, e.g. to re-raise it on a thread of your own with
    /// [`std::panic::resume_unwind`].
    ///
    /// # Examples
    ///
    /// ```
    /// use anywait::panics::{CallbackPanic, HookKind};
    ///
    /// let payload = CallbackPanic::new(HookKind::CloseHook, Box::new(3u32)).into_payload();
    /// assert_eq!(payload.downcast_ref::<u32>(), Some(&3));
    /// ```
    pub fn into_payload(self) -> Box<dyn Any + Send> {
        self.payload
    }
}

impl fmt::Debug for CallbackPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackPanic")
            .field("hook", &self.hook)
            .field("message", &self.message())
            .finish()
    }
}

impl fmt::Display for CallbackPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message() {
            Some(message) => write!(f, "{} panicked: {message}", self.hook),
            None => write!(f, "{} panicked", self.hook),
        }
    }
}

impl std::error::Error for CallbackPanic {}

type Handler = Arc<dyn Fn(CallbackPanic) + Send + Sync>;

static HANDLER: RwLock<Option<Handler>> = RwLock::new(None);
static CONTAINED: AtomicU64 = AtomicU64::new(0);

/// Installs the process-wide handler for panics anywait contains, replacing the previous
/// one. It runs on the thread where the hook panicked (often an SDK thread): keep it
/// short and non-blocking.
///
/// # Examples
///
/// ```
/// anywait::panics::set_panic_handler(|panic| eprintln!("contained: {panic}"));
/// # anywait::panics::reset_panic_handler();
/// ```
pub fn set_panic_handler(handler: impl Fn(CallbackPanic) + Send + Sync + 'static) {
    let handler: Handler = Arc::new(handler);
    let old = write_handler().replace(handler);
    drop(old); // outside the lock: a handler's captures may run arbitrary drops
}

/// Puts the default handler (one line on standard error) back.
///
/// # Examples
///
/// ```
/// anywait::panics::set_panic_handler(|_| {});
/// anywait::panics::reset_panic_handler();
/// ```
pub fn reset_panic_handler() {
    let old = write_handler().take();
    drop(old);
}

/// How many panics anywait has contained in this process so far (all hooks, including
/// `SharedWaitable` done-callbacks).
///
/// # Examples
///
/// ```
/// let before = anywait::panics::contained_panics();
/// # anywait::panics::set_panic_handler(|_| {});
/// let (completer, future) = anywait::waitable::<()>();
/// let future = future.on_cancel(|| panic!("hook bug"));
/// drop(future); // the hook's panic is contained
/// assert!(anywait::panics::contained_panics() > before);
/// assert!(completer.is_canceled());
/// # anywait::panics::reset_panic_handler();
/// ```
pub fn contained_panics() -> u64 {
    CONTAINED.load(Ordering::Relaxed)
}

fn write_handler() -> std::sync::RwLockWriteGuard<'static, Option<Handler>> {
    HANDLER
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counts a contained panic whose payload is kept elsewhere.
pub(crate) fn count() {
    CONTAINED.fetch_add(1, Ordering::Relaxed);
}

/// Hands a caught panic to the handler. Never panics and never unwinds.
pub(crate) fn report(panic: CallbackPanic) {
    count();
    let handler = HANDLER
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    // The handler runs outside the lock, so it may install another handler.
    let _ = panic::catch_unwind(AssertUnwindSafe(move || match handler {
        Some(handler) => handler(panic),
        None => {
            let thread = std::thread::current();
            eprintln!(
                "anywait: contained a panic on thread {}: {panic}",
                thread.name().unwrap_or("<unnamed>")
            );
        }
    }));
}

/// Runs a hook, containing a panic: `None` if it panicked (then reported).
pub(crate) fn contain<R>(hook: HookKind, f: impl FnOnce() -> R) -> Option<R> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Some(value),
        Err(payload) => {
            report(CallbackPanic::new(hook, payload));
            None
        }
    }
}
