//! Safe handle mode: [`Registry`], [`CompletionHandle`] and what they report.

use std::ffi::c_void;
use std::fmt;

use crate::core::handles::{Miss, Table};
use crate::error::{Abandoned, Elapsed};
use crate::event::EventSetter;
use crate::panics::CallbackPanic;
use crate::stream::{Rejected, StreamFeeder};
use crate::sync::{AtomicUsize, Ordering};
use crate::try_waitable::{try_waitable, TryWaitableFuture};
use crate::waitable::Completer;

/// An integer token for a value held by a [`Registry`], small enough for a C callback's
/// `void *user_data`.
///
/// It is a generation-tagged slot index: a reused slot never matches an old handle, and
/// handing the registry a stale, duplicate, forged or late handle is a [`HandleError`],
/// never undefined behaviour. It is never 0 (C's "no user data"). `Copy`: the C side may
/// hold it as many times as it likes.
///
/// # Examples
///
/// ```
/// use anywait::ffi::{CompletionHandle, Completions};
///
/// static OPS: Completions<u32> = Completions::new();
/// let (handle, future) = OPS.issue();
/// let user_data = handle.into_user_data(); // what the SDK stores and passes back
/// assert!(!user_data.is_null());
/// OPS.complete(CompletionHandle::from_user_data(user_data), Ok(5)).unwrap();
/// assert_eq!(future.wait_blocking(), Ok(5));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompletionHandle(usize);

impl CompletionHandle {
    /// The handle as a C `void *` (an integer in pointer clothing: never dereferenced).
    ///
    /// # Examples
    ///
    /// ```
    /// # use anywait::ffi::Completions;
    /// # static OPS: Completions<()> = Completions::new();
    /// let (handle, _future) = OPS.issue();
    /// assert_eq!(anywait::ffi::CompletionHandle::from_user_data(handle.into_user_data()), handle);
    /// ```
    pub fn into_user_data(self) -> *mut c_void {
        // An address without provenance: C stores it and hands it back, nobody reads
        // through it.
        std::ptr::null_mut::<u8>().wrapping_add(self.0).cast()
    }

    /// The handle back from a C callback's `void *user_data`. Any pointer is accepted:
    /// one that is not a live handle of the registry it is used with is reported there.
    ///
    /// # Examples
    ///
    /// ```
    /// use anywait::ffi::{CompletionHandle, Completions, HandleError};
    ///
    /// static OPS: Completions<()> = Completions::new();
    /// let bogus = CompletionHandle::from_user_data(std::ptr::null_mut());
    /// assert_eq!(OPS.complete(bogus, Ok(())), Err(HandleError::Unknown));
    /// ```
    pub fn from_user_data(user_data: *mut c_void) -> Self {
        CompletionHandle(user_data as usize)
    }

    /// The handle as a plain integer (for SDKs whose user data is an integer).
    ///
    /// # Examples
    ///
    /// ```
    /// # use anywait::ffi::{CompletionHandle, Completions};
    /// # static OPS: Completions<()> = Completions::new();
    /// let (handle, _future) = OPS.issue();
    /// assert_eq!(CompletionHandle::from_raw(handle.into_raw()), handle);
    /// ```
    pub fn into_raw(self) -> usize {
        self.0
    }

    /// The handle back from [`into_raw`](Self::into_raw).
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = anywait::ffi::CompletionHandle::from_raw(12);
    /// assert_eq!(handle.into_raw(), 12);
    /// ```
    pub fn from_raw(raw: usize) -> Self {
        CompletionHandle(raw)
    }
}

impl fmt::Debug for CompletionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CompletionHandle({:#x})", self.0)
    }
}

/// Why a [`Registry`] refused a handle. Nothing happened to the registry's values (the
/// value handed in, if any, is dropped) — except for [`HandleError::Canceled`], which
/// spent the handle: the operation's completer was taken and completed, only nobody was
/// waiting for the result any more.
///
/// # Examples
///
/// ```
/// use anywait::ffi::{Completions, HandleError};
///
/// static OPS: Completions<u8> = Completions::new();
/// let (handle, _future) = OPS.issue();
/// OPS.complete(handle, Ok(1)).unwrap();
/// // The SDK calls back a second time with the same user data:
/// assert_eq!(OPS.complete(handle, Ok(2)), Err(HandleError::Duplicate));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandleError {
    /// The handle was never issued by this registry (a forged or foreign pointer).
    Unknown,
    /// Its value was already taken: the SDK completed (or finished) it before — a
    /// duplicate callback.
    Duplicate,
    /// Its value was released (a final callback came before, or the binding released it).
    Released,
    /// The registry abandoned it ([`Registry::abandon_all`], e.g. at the SDK's shutdown):
    /// a late callback.
    Abandoned,
    /// An old handle whose slot has been reused since.
    Stale,
    /// A take (a completion, a final callback) from inside a [`Registry::with`] call while
    /// the value is borrowed; from any other thread a take waits for borrowers instead.
    InUse,
    /// The completion was delivered to nobody: the caller had dropped its future (the
    /// operation was canceled). The value was dropped.
    Canceled,
    /// Every index a handle can carry is in use (2^32 - 1 live values on 64-bit targets,
    /// 2^16 - 1 on 32-bit ones).
    Full,
}

impl From<Miss> for HandleError {
    fn from(miss: Miss) -> Self {
        match miss {
            Miss::Unknown => HandleError::Unknown,
            Miss::Taken => HandleError::Duplicate,
            Miss::Released => HandleError::Released,
            Miss::Abandoned => HandleError::Abandoned,
            Miss::Stale => HandleError::Stale,
            Miss::InUse => HandleError::InUse,
        }
    }
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandleError::Unknown => "the handle was never issued by this registry",
            HandleError::Duplicate => "the handle was already completed (a duplicate callback)",
            HandleError::Released => "the handle was already released",
            HandleError::Abandoned => "the handle was abandoned by its registry (a late callback)",
            HandleError::Stale => "the handle is stale: its slot was reused",
            HandleError::InUse => "the handle's value is in use by another callback",
            HandleError::Canceled => "the operation was canceled: nobody awaits the result",
            HandleError::Full => "the registry has no free handle left",
        })
    }
}

impl std::error::Error for HandleError {}

/// A table of values — completers, stream feeders, event setters — that C code reaches
/// through [`CompletionHandle`]s.
///
/// Lookup, completion and release are O(1) and lock-free. A handle used after its value
/// was taken or released, a forged one, or one that outlived an [`abandon_all`](Self::abandon_all)
/// is reported as a [`HandleError`]. Dropping the registry drops every value still held
/// (each outstanding future resolves as abandoned).
///
/// `Registry::new` is `const`: bindings usually keep one `static` registry per callback
/// shape, so that an `extern "C"` callback finds it without a second pointer. See the
/// aliases [`Completions`], [`Feeders`] and [`Setters`] for the usual contents.
///
/// # Examples
///
/// ```
/// use anywait::ffi::{HandleError, Registry};
///
/// let registry = Registry::new();
/// let handle = registry.insert(String::from("state")).unwrap();
/// assert_eq!(registry.with(handle, |s| s.len()), Ok(5));
/// assert_eq!(registry.outstanding(), 1);
/// assert_eq!(registry.take(handle), Ok(String::from("state")));
/// assert_eq!(registry.take(handle), Err(HandleError::Duplicate));
/// ```
pub struct Registry<V> {
    table: Table<V>,
    refused: AtomicUsize,
}

impl<V> Registry<V> {
    crate::sync::const_fn_unless_loom! {
        /// An empty registry; allocates nothing until the first insert.
        ///
        /// # Examples
        ///
        /// ```
        /// static SETTERS: anywait::ffi::Setters = anywait::ffi::Setters::new();
        /// assert_eq!(SETTERS.outstanding(), 0);
        /// ```
        pub fn new() -> Registry<V> {
            Registry {
                table: Table::new(),
                refused: AtomicUsize::new(0),
            }
        }
    }

    /// Stores `value` and returns its handle.
    ///
    /// # Errors
    ///
    /// [`HandleError::Full`] (with the value dropped) when every index a handle can carry
    /// is in use; use [`try_insert`](Self::try_insert) to get the value back.
    ///
    /// # Examples
    ///
    /// ```
    /// let registry = anywait::ffi::Registry::new();
    /// let handle = registry.insert(7u8).unwrap();
    /// assert_eq!(registry.take(handle), Ok(7));
    /// ```
    pub fn insert(&self, value: V) -> Result<CompletionHandle, HandleError> {
        self.try_insert(value).map_err(|_| HandleError::Full)
    }

    /// Stores `value` and returns its handle, or gives the value back when the registry is
    /// full.
    ///
    /// # Examples
    ///
    /// ```
    /// let registry = anywait::ffi::Registry::new();
    /// assert!(registry.try_insert(1u8).is_ok());
    /// ```
    pub fn try_insert(&self, value: V) -> Result<CompletionHandle, V> {
        self.table.insert(value).map(CompletionHandle)
    }

    /// Takes the value out: the handle's final use. A concurrent [`with`](Self::with) on
    /// the same handle only delays it by the length of that call, so a final callback is
    /// never lost to an overlapping one ([`HandleError::InUse`] only when this thread is
    /// itself inside a `with`).
    ///
    /// # Examples
    ///
    /// ```
    /// use anywait::ffi::{HandleError, Registry};
    ///
    /// let registry = Registry::new();
    /// let handle = registry.insert('x').unwrap();
    /// assert_eq!(registry.take(handle), Ok('x'));
    /// assert_eq!(registry.take(handle), Err(HandleError::Duplicate));
    /// ```
    pub fn take(&self, handle: CompletionHandle) -> Result<V, HandleError> {
        self.table.take(handle.0).map_err(|miss| self.refuse(miss))
    }

    /// Lends the value to `f`, from any number of threads at once (a callback that fires
    /// repeatedly). A release meanwhile waits for no one: the value is dropped when the
    /// last borrower returns.
    ///
    /// # Examples
    ///
    /// ```
    /// let registry = anywait::ffi::Registry::new();
    /// let handle = registry.insert(vec![1, 2, 3]).unwrap();
    /// assert_eq!(registry.with(handle, |v| v.iter().sum::<i32>()), Ok(6));
    /// ```
    pub fn with<R>(
        &self,
        handle: CompletionHandle,
        f: impl FnOnce(&V) -> R,
    ) -> Result<R, HandleError> {
        self.table
            .with(handle.0, f)
            .map_err(|miss| self.refuse(miss))
    }

    /// Drops the value (once its current borrowers are done): the final callback's act.
    /// Later uses of the handle report [`HandleError::Released`].
    ///
    /// # Examples
    ///
    /// ```
    /// use anywait::ffi::{HandleError, Registry};
    ///
    /// let registry = Registry::new();
    /// let handle = registry.insert(()).unwrap();
    /// registry.release(handle).unwrap();
    /// assert_eq!(registry.with(handle, |_| ()), Err(HandleError::Released));
    /// assert_eq!(registry.outstanding(), 0);
    /// ```
    pub fn release(&self, handle: CompletionHandle) -> Result<(), HandleError> {
        self.table
            .release(handle.0)
            .map_err(|miss| self.refuse(miss))
    }

    /// Drops every value still held — for completions: every outstanding future
    /// resolves as abandoned — and returns how many there were. For an SDK's shutdown
    /// callback, or a shutdown that will never call back. Later uses of those handles
    /// report [`HandleError::Abandoned`].
    ///
    /// # Examples
    ///
    /// ```
    /// use anywait::ffi::{CallbackError, Completions};
    ///
    /// static OPS: Completions<u8> = Completions::new();
    /// let (_, first) = OPS.issue();
    /// let (_, second) = OPS.issue();
    /// assert_eq!(OPS.abandon_all(), 2);
    /// assert_eq!(first.wait_blocking(), Err(CallbackError::Abandoned));
    /// assert_eq!(second.wait_blocking(), Err(CallbackError::Abandoned));
    /// ```
    pub fn abandon_all(&self) -> usize {
        self.table.abandon_all()
    }

    /// How many values the registry holds now (handles issued and not yet taken,
    /// released or abandoned).
    ///
    /// # Examples
    ///
    /// ```
    /// let registry = anywait::ffi::Registry::new();
    /// let handle = registry.insert(1).unwrap();
    /// assert_eq!(registry.outstanding(), 1);
    /// registry.take(handle).unwrap();
    /// assert_eq!(registry.outstanding(), 0);
    /// ```
    pub fn outstanding(&self) -> usize {
        self.table.live()
    }

    /// How many calls this registry refused with a [`HandleError`] so far: duplicate,
    /// late, stale and forged callbacks, and completions of canceled operations, counted
    /// so that none goes unnoticed.
    ///
    /// # Examples
    ///
    /// ```
    /// let registry = anywait::ffi::Registry::new();
    /// let handle = registry.insert(1).unwrap();
    /// registry.take(handle).unwrap();
    /// let _ = registry.take(handle);
    /// assert_eq!(registry.refused(), 1);
    /// ```
    pub fn refused(&self) -> usize {
        // ORDERING: a counter for reporting.
        self.refused.load(Ordering::Relaxed)
    }

    fn refuse(&self, miss: Miss) -> HandleError {
        self.count_refused();
        HandleError::from(miss)
    }

    fn count_refused(&self) {
        // ORDERING: a counter for reporting.
        self.refused.fetch_add(1, Ordering::Relaxed);
    }
}

impl<V> Default for Registry<V> {
    fn default() -> Self {
        Registry::new()
    }
}

impl<V> fmt::Debug for Registry<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("outstanding", &self.outstanding())
            .field("refused", &self.refused())
            .finish()
    }
}

/// Why an operation completed through the FFI kit failed.
///
/// # Examples
///
/// ```
/// use anywait::ffi::{CallbackError, Completions};
///
/// static OPS: Completions<()> = Completions::new();
/// let (handle, future) = OPS.issue();
/// OPS.complete(handle, Err(CallbackError::Failed(-5))).unwrap();
/// assert_eq!(future.wait_blocking(), Err(CallbackError::Failed(-5)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallbackError {
    /// The SDK reported this error code.
    Failed(i32),
    /// The SDK never called back: its handle was abandoned (a failed start, a shutdown)
    /// or the completer was dropped.
    Abandoned,
    /// The callback code panicked; the message, when it had one.
    Panicked(Option<String>),
    /// A timed wait or `with_timeout` ran out first.
    TimedOut,
}

impl From<Abandoned> for CallbackError {
    fn from(_: Abandoned) -> Self {
        CallbackError::Abandoned
    }
}

impl From<Elapsed> for CallbackError {
    fn from(_: Elapsed) -> Self {
        CallbackError::TimedOut
    }
}

impl From<CallbackPanic> for CallbackError {
    fn from(panic: CallbackPanic) -> Self {
        CallbackError::Panicked(panic.message().map(str::to_string))
    }
}

impl fmt::Display for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallbackError::Failed(code) => write!(f, "the SDK reported error code {code}"),
            CallbackError::Abandoned => fmt::Display::fmt(&Abandoned, f),
            CallbackError::Panicked(Some(message)) => {
                write!(f, "the SDK callback panicked: {message}")
            }
            CallbackError::Panicked(None) => f.write_str("the SDK callback panicked"),
            CallbackError::TimedOut => fmt::Display::fmt(&Elapsed, f),
        }
    }
}

impl std::error::Error for CallbackError {}

/// A registry of one-shot completions whose futures resolve to `Result<T, CallbackError>`.
pub type Completions<T> = Registry<Completer<Result<T, CallbackError>>>;

impl<T> Registry<Completer<Result<T, CallbackError>>> {
    /// Starts an operation: a handle for the SDK's `user_data` and the future for the
    /// caller. If the SDK refuses to start, [`abandon`](Self::abandon) the handle.
    ///
    /// # Panics
    ///
    /// Only when every index a handle can carry is in use (2^32 - 1 operations in flight
    /// on 64-bit targets); [`try_issue`](Self::try_issue) reports it instead.
    ///
    /// # Examples
    ///
    /// ```
    /// static OPS: anywait::ffi::Completions<&'static str> = anywait::ffi::Completions::new();
    /// let (handle, future) = OPS.issue();
    /// std::thread::spawn(move || OPS.complete(handle, Ok("done")));
    /// assert_eq!(future.wait_blocking(), Ok("done"));
    /// ```
    pub fn issue(&self) -> (CompletionHandle, TryWaitableFuture<T, CallbackError>) {
        self.try_issue()
            .expect("the registry has no free handle left")
    }

    /// [`issue`](Self::issue) that reports a full registry instead of panicking.
    ///
    /// # Examples
    ///
    /// ```
    /// static OPS: anywait::ffi::Completions<u8> = anywait::ffi::Completions::new();
    /// let (handle, future) = OPS.try_issue().unwrap();
    /// OPS.complete(handle, Ok(1)).unwrap();
    /// assert_eq!(future.wait_blocking(), Ok(1));
    /// ```
    pub fn try_issue(
        &self,
    ) -> Result<(CompletionHandle, TryWaitableFuture<T, CallbackError>), HandleError> {
        let (completer, future) = try_waitable();
        let handle = self.insert(completer)?;
        Ok((handle, future))
    }

    /// Completes the operation. Never blocks, never panics (done-callbacks' panics are
    /// contained). A duplicate, late, stale or unknown handle is an error and changes
    /// nothing; [`HandleError::Canceled`] says the caller had dropped its future. A
    /// concurrent [`is_canceled`](Self::is_canceled) (or [`with`](Registry::with)) on the
    /// same handle only delays it by the length of that call: the completion is never
    /// lost to it.
    ///
    /// # Examples
    ///
    /// ```
    /// use anywait::ffi::{Completions, HandleError};
    ///
    /// static OPS: Completions<u8> = Completions::new();
    /// let (handle, future) = OPS.issue();
    /// drop(future); // the caller gave up
    /// assert_eq!(OPS.complete(handle, Ok(1)), Err(HandleError::Canceled));
    /// ```
    pub fn complete(
        &self,
        handle: CompletionHandle,
        result: Result<T, CallbackError>,
    ) -> Result<(), HandleError> {
        let completer = self.take(handle)?;
        completer.complete(result).map_err(|_unwanted| {
            // Delivered to nobody: counted like any other late callback.
            self.count_refused();
            HandleError::Canceled
        })
    }

    /// Ends the operation as abandoned (`Err(CallbackError::Abandoned)` for the caller):
    /// the SDK refused to start it, or will never call back.
    ///
    /// # Examples
    ///
    /// ```
    /// use anywait::ffi::{CallbackError, Completions};
    ///
    /// static OPS: Completions<u8> = Completions::new();
    /// let (handle, future) = OPS.issue();
    /// OPS.abandon(handle).unwrap(); // sdk_start() returned an error
    /// assert_eq!(future.wait_blocking(), Err(CallbackError::Abandoned));
    /// ```
    pub fn abandon(&self, handle: CompletionHandle) -> Result<(), HandleError> {
        // Dropping the completer resolves the future; a late callback for this handle now
        // reports `HandleError::Abandoned`.
        let completer = self
            .table
            .take_abandoned(handle.0)
            .map_err(|miss| self.refuse(miss))?;
        drop(completer);
        Ok(())
    }

    /// Whether the caller dropped the operation's future (so the SDK can skip the work).
    ///
    /// # Examples
    ///
    /// ```
    /// static OPS: anywait::ffi::Completions<u8> = anywait::ffi::Completions::new();
    /// let (handle, future) = OPS.issue();
    /// assert_eq!(OPS.is_canceled(handle), Ok(false));
    /// drop(future);
    /// assert_eq!(OPS.is_canceled(handle), Ok(true));
    /// ```
    pub fn is_canceled(&self, handle: CompletionHandle) -> Result<bool, HandleError> {
        self.with(handle, Completer::is_canceled)
    }
}

/// A registry of stream feeders, for SDK callbacks that fire once per chunk and end with a
/// final callback.
pub type Feeders<T, E> = Registry<StreamFeeder<T, E>>;

/// Why a push through [`Feeders::push`] did not reach the stream.
///
/// # Examples
///
/// ```
/// use anywait::ffi::{FeedError, Feeders, HandleError};
///
/// static BODIES: Feeders<Vec<u8>, ()> = Feeders::new();
/// let (feeder, _stream) = anywait::callback_stream(anywait::StreamPolicy::Unbounded);
/// let handle = BODIES.insert(feeder).unwrap();
/// BODIES.release(handle).unwrap();
/// assert!(matches!(BODIES.push(handle, vec![1]), Err(FeedError::Handle(HandleError::Released))));
/// ```
pub enum FeedError<T> {
    /// The handle reached no feeder (the item was dropped).
    Handle(HandleError),
    /// The stream refused the item; see [`Rejected`].
    Rejected(Rejected<T>),
}

impl<T> fmt::Display for FeedError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedError::Handle(error) => fmt::Display::fmt(error, f),
            FeedError::Rejected(rejected) => fmt::Display::fmt(rejected, f),
        }
    }
}

impl<T> fmt::Debug for FeedError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedError::Handle(error) => f.debug_tuple("Handle").field(error).finish(),
            FeedError::Rejected(rejected) => f.debug_tuple("Rejected").field(rejected).finish(),
        }
    }
}

impl<T> std::error::Error for FeedError<T> {}

impl<T, E> Registry<StreamFeeder<T, E>> {
    /// Pushes an item through the feeder behind `handle`; never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// static BODIES: anywait::ffi::Feeders<Vec<u8>, ()> = anywait::ffi::Feeders::new();
    /// let (feeder, mut stream) = anywait::callback_stream(anywait::StreamPolicy::Unbounded);
    /// let handle = BODIES.insert(feeder).unwrap();
    /// BODIES.push(handle, b"chunk".to_vec()).unwrap();
    /// BODIES.finish(handle).unwrap();
    /// assert_eq!(stream.next_blocking(), Some(Ok(b"chunk".to_vec())));
    /// assert_eq!(stream.next_blocking(), None);
    /// ```
    pub fn push(&self, handle: CompletionHandle, item: T) -> Result<(), FeedError<T>> {
        match self.with(handle, |feeder| feeder.push(item)) {
            Ok(pushed) => pushed.map_err(FeedError::Rejected),
            Err(error) => Err(FeedError::Handle(error)),
        }
    }

    /// Ends the stream (every item pushed so far, then the end) and releases the handle:
    /// the SDK's final "complete" callback. `Ok(false)` if the stream had already ended or
    /// its consumer was gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use anywait::ffi::{Feeders, HandleError};
    ///
    /// static BODIES: Feeders<u8, ()> = Feeders::new();
    /// let (feeder, _stream) = anywait::callback_stream(anywait::StreamPolicy::Unbounded);
    /// let handle = BODIES.insert(feeder).unwrap();
    /// assert_eq!(BODIES.finish(handle), Ok(true));
    /// assert_eq!(BODIES.finish(handle), Err(HandleError::Duplicate)); // a second final callback
    /// ```
    pub fn finish(&self, handle: CompletionHandle) -> Result<bool, HandleError> {
        self.take(handle).map(StreamFeeder::finish)
    }

    /// Ends the stream with `error` and releases the handle; as [`finish`](Self::finish).
    ///
    /// # Examples
    ///
    /// ```
    /// static BODIES: anywait::ffi::Feeders<u8, i32> = anywait::ffi::Feeders::new();
    /// let (feeder, mut stream) = anywait::callback_stream(anywait::StreamPolicy::Unbounded);
    /// let handle = BODIES.insert(feeder).unwrap();
    /// BODIES.fail(handle, -104).unwrap();
    /// assert_eq!(stream.next_blocking(), Some(Err(anywait::StreamError::Failed(-104))));
    /// ```
    pub fn fail(&self, handle: CompletionHandle, error: E) -> Result<bool, HandleError> {
        self.take(handle).map(|feeder| feeder.fail(error))
    }
}

/// A registry of event setters, for SDK callbacks that signal an [`AsyncEvent`](crate::AsyncEvent)
/// any number of times.
pub type Setters = Registry<EventSetter>;

impl Registry<EventSetter> {
    /// Sets the event behind `handle`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// static SHUTDOWN: anywait::ffi::Setters = anywait::ffi::Setters::new();
    /// let event = Arc::new(anywait::AsyncEvent::new());
    /// let handle = SHUTDOWN.insert(anywait::EventSetter::new(&event)).unwrap();
    /// SHUTDOWN.set(handle).unwrap();
    /// SHUTDOWN.release(handle).unwrap();
    /// assert!(event.is_set());
    /// assert!(SHUTDOWN.set(handle).is_err()); // a use after release is reported
    /// ```
    pub fn set(&self, handle: CompletionHandle) -> Result<(), HandleError> {
        self.with(handle, EventSetter::set)
    }
}
