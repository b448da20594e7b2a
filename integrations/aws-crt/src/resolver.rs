//! Host resolution: `aws_host_resolver_resolve_host` as a `TryWaitableFuture`.

use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::Arc;

use anywait::ffi::{catch_callback, CompletionHandle, PanicPolicy, Registry};
use anywait::{try_waitable, AsyncEvent, Completer, TryWaitableFuture};

use crate::event_loop::{forget_shutdown, shutdown_event, shutdown_options};
use crate::{sys, Allocator, CrtError, EventLoopGroup};

type Addresses = Result<Vec<String>, CrtError>;

/// Resolutions in flight, reached from [`on_resolved`] through `user_data`.
static RESOLVES: Registry<Completer<Addresses>> = Registry::new();

/// An `aws_host_resolver` (the CRT's default resolver, caching, with its own threads).
#[derive(Debug)]
pub struct HostResolver {
    ptr: NonNull<sys::aws_host_resolver>,
    allocator: Allocator,
    shut_down: Arc<AsyncEvent>,
}

// SAFETY: the default host resolver is thread-safe: resolve_host locks the resolver, and
// acquire/release are atomic.
unsafe impl Send for HostResolver {}
// SAFETY: as above.
unsafe impl Sync for HostResolver {}

impl HostResolver {
    /// A default resolver caching up to `max_entries` hosts, on `group`'s loops.
    pub fn new(
        allocator: Allocator,
        group: &EventLoopGroup,
        max_entries: usize,
    ) -> Result<HostResolver, CrtError> {
        crate::init();
        let (shut_down, handle) = shutdown_event()?;
        let shutdown = shutdown_options(handle);
        let options = sys::aws_host_resolver_default_options {
            max_entries,
            el_group: group.as_ptr(),
            shutdown_options: &shutdown,
            system_clock_override_fn: None,
        };
        // SAFETY: the options are valid for the call (copied by the CRT, which acquires
        // its own reference on the group); the allocator outlives the resolver.
        let ptr = unsafe { sys::aws_host_resolver_new_default(allocator.as_ptr(), &options) };
        match NonNull::new(ptr) {
            Some(ptr) => Ok(HostResolver {
                ptr,
                allocator,
                shut_down,
            }),
            None => {
                let error = CrtError::last();
                forget_shutdown(handle);
                Err(error)
            }
        }
    }

    /// The raw pointer, for CRT calls (alive while `self` is).
    pub fn as_ptr(&self) -> *mut sys::aws_host_resolver {
        self.ptr.as_ptr()
    }

    /// Resolves `host` to its addresses (IPv6 and IPv4, as text). The CRT calls back on one
    /// of its threads, or synchronously inside this call when the host is cached: either
    /// way the future resolves once. Dropping the future does not stop the resolution (the
    /// CRT has no cancel for it); its late answer is refused by the registry and dropped.
    pub fn resolve(&self, host: &str) -> TryWaitableFuture<Vec<String>, CrtError> {
        let (completer, future) = try_waitable();
        let handle = match RESOLVES.try_insert(completer) {
            Ok(handle) => handle,
            Err(completer) => {
                let _ = completer.complete(Err(CrtError::Crt(
                    sys::aws_common_error::AWS_ERROR_OOM as i32,
                )));
                return future;
            }
        };
        // SAFETY: copies `host` into a CRT string owned by this function.
        let host_name = unsafe {
            sys::aws_string_new_from_array(self.allocator.as_ptr(), host.as_ptr(), host.len())
        };
        if host_name.is_null() {
            fail(handle, CrtError::last());
            return future;
        }
        // SAFETY: returns a config by value.
        let config = unsafe { sys::aws_host_resolver_init_default_resolution_config() };
        // SAFETY: the resolver is alive; `host_name` and `config` are valid for the call
        // (the resolver copies what it keeps); `on_resolved` has the CRT's callback type;
        // the handle is an integer, never dereferenced.
        let rc = unsafe {
            sys::aws_host_resolver_resolve_host(
                self.ptr.as_ptr(),
                host_name,
                Some(on_resolved),
                &config,
                handle.into_user_data(),
            )
        };
        let error = (rc != 0).then(CrtError::last);
        // SAFETY: our string; the resolver copied it.
        unsafe { sys::aws_string_destroy(host_name) };
        if let Some(error) = error {
            // The CRT will not call back: complete the future with the error ourselves.
            fail(handle, error);
        }
        future
    }

    /// The event set once the CRT has destroyed the resolver.
    pub fn shutdown_event(&self) -> Arc<AsyncEvent> {
        Arc::clone(&self.shut_down)
    }

    /// Releases the binding's reference; returns the event the CRT sets once the resolver
    /// (and its resolution threads) are gone.
    pub fn shutdown(self) -> Arc<AsyncEvent> {
        self.shutdown_event()
    }
}

impl Drop for HostResolver {
    fn drop(&mut self) {
        // SAFETY: the binding's one reference, released once.
        unsafe { sys::aws_host_resolver_release(self.ptr.as_ptr()) };
    }
}

fn fail(handle: CompletionHandle, error: CrtError) {
    if let Ok(completer) = RESOLVES.take(handle) {
        let _ = completer.complete(Err(error));
    }
}

/// `aws_on_host_resolved_result_fn`: copies the addresses out (the list is valid only
/// during the call) and completes the resolution's future.
extern "C" fn on_resolved(
    _resolver: *mut sys::aws_host_resolver,
    _host_name: *const sys::aws_string,
    error_code: std::ffi::c_int,
    addresses: *const sys::aws_array_list,
    user_data: *mut c_void,
) {
    let handle = CompletionHandle::from_user_data(user_data);
    let outcome = catch_callback(PanicPolicy::Deliver, || {
        CrtError::check(error_code)?;
        // SAFETY: on success the CRT passes a list of `aws_host_address` valid for the
        // duration of this callback.
        Ok(unsafe { copy_addresses(addresses) })
    });
    let result = outcome.unwrap_or_else(|panic| Err(panic.into()));
    let _ = catch_callback(PanicPolicy::LogAndDrop, || {
        if let Ok(completer) = RESOLVES.take(handle) {
            // Err(value) when the caller dropped the future: nothing to do with it.
            let _ = completer.complete(result);
        }
    });
}

/// # Safety
/// `list` is null or a valid `aws_array_list` of `aws_host_address`, whose `address`
/// strings are valid, for the duration of the call.
unsafe fn copy_addresses(list: *const sys::aws_array_list) -> Vec<String> {
    if list.is_null() {
        return Vec::new();
    }
    // SAFETY: valid per the contract.
    let list = unsafe { &*list };
    assert_eq!(
        list.item_size,
        std::mem::size_of::<sys::aws_host_address>(),
        "aws_host_address layout"
    );
    let items = list.data.cast::<sys::aws_host_address>();
    (0..list.length)
        .map(|i| {
            // SAFETY: `i < length` items of `item_size` bytes at `data` (checked above).
            let address = unsafe { &*items.add(i) };
            // SAFETY: `address.address` is a valid aws_string for the call.
            unsafe { string_of(address.address) }
        })
        .collect()
}

/// # Safety
/// `string` is null or a valid `aws_string` for the duration of the call.
unsafe fn string_of(string: *const sys::aws_string) -> String {
    if string.is_null() {
        return String::new();
    }
    // SAFETY: an aws_string is its header followed by `len` bytes (aws_string_bytes).
    let bytes = unsafe { std::slice::from_raw_parts(sys::aws_string_bytes(string), (*string).len) };
    String::from_utf8_lossy(bytes).into_owned()
}
