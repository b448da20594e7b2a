//! Event-loop groups, and the shutdown callbacks every CRT object here shares.

use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::Arc;

use anywait::ffi::{catch_callback, CompletionHandle, PanicPolicy, Setters};
use anywait::{AsyncEvent, EventSetter};

use crate::{sys, Allocator, CrtError};

/// "Fully shut down" events of every CRT object of this crate, reached from
/// [`on_shutdown_complete`] through an integer handle in `user_data`.
static SHUTDOWNS: Setters = Setters::new();

/// An `aws_simple_completion_callback` (and `aws_client_bootstrap_shutdown_complete_fn`):
/// the object is gone; set its event and release the handle (the CRT calls it once; a
/// second call is refused by the registry, not undefined).
pub(crate) extern "C" fn on_shutdown_complete(user_data: *mut c_void) {
    let _ = catch_callback(PanicPolicy::LogAndDrop, || {
        let handle = CompletionHandle::from_user_data(user_data);
        let _ = SHUTDOWNS.set(handle);
        let _ = SHUTDOWNS.release(handle);
    });
}

/// A new shutdown event, and the handle to pass as the shutdown callback's `user_data`.
pub(crate) fn shutdown_event() -> Result<(Arc<AsyncEvent>, CompletionHandle), CrtError> {
    let event = Arc::new(AsyncEvent::new());
    let handle = SHUTDOWNS
        .insert(EventSetter::new(&event))
        .map_err(|_| CrtError::Crt(sys::aws_common_error::AWS_ERROR_OOM as i32))?;
    Ok((event, handle))
}

/// Releases a shutdown handle whose object failed to be created (the CRT may or may not
/// have called back already: a second release is refused, harmlessly).
pub(crate) fn forget_shutdown(handle: CompletionHandle) {
    let _ = SHUTDOWNS.release(handle);
}

/// Shutdown options for a CRT object: `on_shutdown_complete` with `handle`.
pub(crate) fn shutdown_options(handle: CompletionHandle) -> sys::aws_shutdown_callback_options {
    sys::aws_shutdown_callback_options {
        shutdown_callback_fn: Some(on_shutdown_complete),
        shutdown_callback_user_data: handle.into_user_data(),
    }
}

/// An `aws_event_loop_group`: the CRT's I/O threads.
///
/// Dropping it (or [`shutdown`](Self::shutdown)) releases the binding's reference; the
/// group shuts down once every object using it has released it too, and then sets the
/// event [`shutdown`](Self::shutdown) returns.
#[derive(Debug)]
pub struct EventLoopGroup {
    ptr: NonNull<sys::aws_event_loop_group>,
    shut_down: Arc<AsyncEvent>,
}

// SAFETY: an event-loop group is thread-safe: acquire/release are atomic reference counts,
// and the other calls made through it (get_next_loop, use by other CRT objects) are
// documented for any thread.
unsafe impl Send for EventLoopGroup {}
// SAFETY: as above.
unsafe impl Sync for EventLoopGroup {}

impl EventLoopGroup {
    /// A group of `threads` event loops (0: one per core), with a shutdown callback that
    /// sets [`shutdown`](Self::shutdown)'s event.
    pub fn new(allocator: Allocator, threads: u16) -> Result<EventLoopGroup, CrtError> {
        crate::init();
        let (shut_down, handle) = shutdown_event()?;
        let shutdown = shutdown_options(handle);
        let options = sys::aws_event_loop_group_options {
            loop_count: threads,
            shutdown_options: &shutdown,
            ..Default::default()
        };
        // SAFETY: `options` and `shutdown` are valid for the call (the CRT copies them);
        // the allocator outlives the group (see `Allocator`); the callback is an
        // `extern "C" fn(*mut c_void)` as the CRT expects.
        let ptr = unsafe { sys::aws_event_loop_group_new(allocator.as_ptr(), &options) };
        match NonNull::new(ptr) {
            Some(ptr) => Ok(EventLoopGroup { ptr, shut_down }),
            None => {
                let error = CrtError::last();
                forget_shutdown(handle);
                Err(error)
            }
        }
    }

    /// The raw pointer, for CRT calls (the group stays alive while `self` does).
    pub fn as_ptr(&self) -> *mut sys::aws_event_loop_group {
        self.ptr.as_ptr()
    }

    /// How many event loops the group runs.
    pub fn loop_count(&self) -> usize {
        // SAFETY: the group is alive while `self` is.
        unsafe { sys::aws_event_loop_group_get_loop_count(self.ptr.as_ptr()) }
    }

    /// The event set once the CRT has destroyed the group.
    pub fn shutdown_event(&self) -> Arc<AsyncEvent> {
        Arc::clone(&self.shut_down)
    }

    /// Releases the binding's reference and returns the event the CRT sets once the group
    /// is destroyed (after every resolver, bootstrap and connection using it let go).
    /// Await it with `.wait()`, or `wait_blocking()` / `wait_timeout()` from sync code.
    pub fn shutdown(self) -> Arc<AsyncEvent> {
        self.shutdown_event()
        // Drop releases.
    }
}

impl Drop for EventLoopGroup {
    fn drop(&mut self) {
        // SAFETY: the binding holds one reference, released exactly once here.
        unsafe { sys::aws_event_loop_group_release(self.ptr.as_ptr()) };
    }
}
