//! CRT allocators: the default one, and the CRT's tracing allocator for leak checks.

use std::ptr::NonNull;

use crate::sys;

/// A CRT allocator (`struct aws_allocator *`) that lives as long as the objects created
/// with it: the process-wide default, or a [`TracingAllocator`] (which leaks itself rather
/// than free memory still in use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocator(NonNull<sys::aws_allocator>);

// SAFETY: CRT allocators are thread-safe (the default one wraps malloc; the tracer takes
// its own lock), and this handle is only a pointer to one.
unsafe impl Send for Allocator {}
// SAFETY: as above.
unsafe impl Sync for Allocator {}

impl Allocator {
    /// The CRT's default allocator (malloc).
    pub fn default_allocator() -> Allocator {
        crate::init();
        // SAFETY: returns a pointer to a static allocator, never null.
        let ptr = unsafe { sys::aws_default_allocator() };
        Allocator(NonNull::new(ptr).expect("aws_default_allocator is never null"))
    }

    /// The raw pointer, for CRT calls.
    pub fn as_ptr(self) -> *mut sys::aws_allocator {
        self.0.as_ptr()
    }
}

/// The CRT's tracing allocator (`aws_mem_tracer_new` over the default allocator): counts
/// the bytes that objects created with [`allocator`](Self::allocator) still hold.
///
/// Dropping it destroys the tracer only when nothing is outstanding; otherwise the tracer
/// is leaked, so that late frees by CRT objects stay valid.
#[derive(Debug)]
pub struct TracingAllocator {
    tracer: Allocator,
}

impl TracingAllocator {
    /// A new tracer at `AWS_MEMTRACE_BYTES` level.
    pub fn new() -> TracingAllocator {
        crate::init();
        // SAFETY: the default allocator is static; level BYTES needs no stack frames.
        let ptr = unsafe {
            sys::aws_mem_tracer_new(
                sys::aws_default_allocator(),
                std::ptr::null_mut(),
                sys::aws_mem_trace_level::AWS_MEMTRACE_BYTES,
                0,
            )
        };
        TracingAllocator {
            tracer: Allocator(NonNull::new(ptr).expect("aws_mem_tracer_new failed")),
        }
    }

    /// The allocator to create CRT objects with.
    pub fn allocator(&self) -> Allocator {
        self.tracer
    }

    /// Bytes allocated through the tracer and not yet freed.
    pub fn bytes(&self) -> usize {
        // SAFETY: the tracer is live (destroyed only in Drop).
        unsafe { sys::aws_mem_tracer_bytes(self.tracer.as_ptr()) }
    }

    /// Allocations made through the tracer and not yet freed.
    pub fn count(&self) -> usize {
        // SAFETY: the tracer is live (destroyed only in Drop).
        unsafe { sys::aws_mem_tracer_count(self.tracer.as_ptr()) }
    }
}

impl Default for TracingAllocator {
    fn default() -> Self {
        TracingAllocator::new()
    }
}

impl Drop for TracingAllocator {
    fn drop(&mut self) {
        if self.count() == 0 {
            // SAFETY: nothing allocated through the tracer is outstanding, so no CRT object
            // will free through it again; destroyed once (Drop).
            unsafe { sys::aws_mem_tracer_destroy(self.tracer.as_ptr()) };
        }
        // Otherwise leak it: some CRT object still holds memory it will free through it.
    }
}

extern "C" {
    // aws/common/thread.h (aws-c-common, linked by mountpoint-s3-crt-sys; not in its
    // bindings): blocks until every "managed" CRT thread has finished and been joined.
    fn aws_thread_join_all_managed() -> std::ffi::c_int;
    fn aws_thread_set_managed_join_timeout_ns(timeout_in_ns: u64);
}

/// Joins the CRT's finished "managed" threads (an event-loop group's cleanup thread, host
/// resolver threads), freeing their bookkeeping, waiting at most `timeout` for running ones.
/// Returns whether every managed thread was joined.
///
/// The CRT joins such threads lazily, so their few bytes stay allocated after the shutdown
/// callbacks fired until this runs. Process-wide: it waits for *every* live managed thread,
/// so call it when no other CRT objects are alive (a leak-check test in its own binary).
pub fn join_all_managed_threads(timeout: std::time::Duration) -> bool {
    let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX).max(1);
    // SAFETY: plain CRT calls on its global managed-thread list, after init.
    unsafe {
        aws_thread_set_managed_join_timeout_ns(nanos);
        aws_thread_join_all_managed() == 0
    }
}
