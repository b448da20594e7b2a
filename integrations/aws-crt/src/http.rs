//! HTTP/1.1 client: connection setup as a future, responses as a head future plus a body
//! stream under the CRT's read window.

use std::ffi::{c_int, c_void};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use anywait::ffi::{catch_callback, CompletionHandle, PanicPolicy, Registry};
use anywait::{
    callback_stream, try_waitable, AsyncEvent, CallbackStream, Completer, RejectReason,
    StreamFeeder, StreamPolicy, TryWaitableFuture,
};

use crate::event_loop::{forget_shutdown, shutdown_event};
use crate::{cursor, cursor_bytes, sys, Allocator, CrtError, EventLoopGroup, HostResolver};

const AWS_OP_SUCCESS: c_int = 0;
const AWS_OP_ERR: c_int = -1;

/// An `aws_client_bootstrap`: how connections find their event loop and resolver.
#[derive(Debug)]
pub struct ClientBootstrap {
    ptr: NonNull<sys::aws_client_bootstrap>,
    allocator: Allocator,
    shut_down: Arc<AsyncEvent>,
}

// SAFETY: a client bootstrap is reference counted atomically and only read by the CRT
// after creation; connecting through it is documented for any thread.
unsafe impl Send for ClientBootstrap {}
// SAFETY: as above.
unsafe impl Sync for ClientBootstrap {}

impl ClientBootstrap {
    /// A bootstrap over `group` and `resolver` (the CRT takes references on both).
    pub fn new(
        allocator: Allocator,
        group: &EventLoopGroup,
        resolver: &HostResolver,
    ) -> Result<ClientBootstrap, CrtError> {
        crate::init();
        let (shut_down, handle) = shutdown_event()?;
        let options = sys::aws_client_bootstrap_options {
            event_loop_group: group.as_ptr(),
            host_resolver: resolver.as_ptr(),
            host_resolution_config: std::ptr::null(),
            on_shutdown_complete: Some(crate::event_loop::on_shutdown_complete),
            user_data: handle.into_user_data(),
        };
        // SAFETY: the options are valid for the call; group and resolver are alive (the
        // bootstrap acquires them); the callback has the CRT's type.
        let ptr = unsafe { sys::aws_client_bootstrap_new(allocator.as_ptr(), &options) };
        match NonNull::new(ptr) {
            Some(ptr) => Ok(ClientBootstrap {
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

    /// The allocator it was made with.
    pub(crate) fn allocator(&self) -> Allocator {
        self.allocator
    }

    /// The raw pointer, for CRT calls (alive while `self` is).
    pub fn as_ptr(&self) -> *mut sys::aws_client_bootstrap {
        self.ptr.as_ptr()
    }

    /// The event set once the CRT has destroyed the bootstrap.
    pub fn shutdown_event(&self) -> Arc<AsyncEvent> {
        Arc::clone(&self.shut_down)
    }

    /// Releases the binding's reference; returns the event the CRT sets once the bootstrap
    /// is gone (after every connection made through it is).
    pub fn shutdown(self) -> Arc<AsyncEvent> {
        self.shutdown_event()
    }
}

impl Drop for ClientBootstrap {
    fn drop(&mut self) {
        // SAFETY: the binding's one reference, released once.
        unsafe { sys::aws_client_bootstrap_release(self.ptr.as_ptr()) };
    }
}

/// What [`HttpConnection::connect`] connects to, and its flow control.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Host name or address (resolved by the bootstrap's resolver).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Each response body's read window, in bytes: the CRT delivers at most this much
    /// body data before the consumer takes some (`manual_window_management = true`), and
    /// the body stream ([`StreamPolicy::Window`]) holds at most this much.
    pub initial_window_size: usize,
    /// Connect timeout.
    pub connect_timeout_ms: u32,
}

impl ConnectOptions {
    /// Plain HTTP to `host:port`, with a 1 MiB window and a 5 s connect timeout.
    pub fn new(host: impl Into<String>, port: u16) -> ConnectOptions {
        ConnectOptions {
            host: host.into(),
            port,
            initial_window_size: 1 << 20,
            connect_timeout_ms: 5_000,
        }
    }
}

/// `struct aws_socket_options` (aws/io/socket.h), which the sys crate's bindings leave
/// opaque. Layout checked below against the C compiler's (size 44, align 4, offsets
/// 0/4/8/12/16/18/20/22/24/28 on Linux x86_64 and aarch64).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct SocketOptions {
    /// `enum aws_socket_type`: 0 = AWS_SOCKET_STREAM.
    socket_type: i32,
    /// `enum aws_socket_domain`: 0 = AWS_SOCKET_IPV4.
    domain: i32,
    /// `enum aws_socket_impl_type`: 0 = platform default.
    impl_type: i32,
    connect_timeout_ms: u32,
    keep_alive_interval_sec: u16,
    keep_alive_timeout_sec: u16,
    keep_alive_max_failed_probes: u16,
    keepalive: bool,
    /// `enum aws_socket_tcp_nodelay`: 1 = AWS_SOCKET_TCP_NODELAY_ON.
    tcp_nodelay: i32,
    network_interface_name: [std::ffi::c_char; 16],
}

const _: () = {
    assert!(std::mem::size_of::<SocketOptions>() == 44);
    assert!(std::mem::align_of::<SocketOptions>() == 4);
    assert!(std::mem::offset_of!(SocketOptions, connect_timeout_ms) == 12);
    assert!(std::mem::offset_of!(SocketOptions, keepalive) == 22);
    assert!(std::mem::offset_of!(SocketOptions, tcp_nodelay) == 24);
    assert!(std::mem::offset_of!(SocketOptions, network_interface_name) == 28);
};

impl SocketOptions {
    /// The defaults below with this connect timeout.
    pub(crate) fn with_connect_timeout(connect_timeout_ms: u32) -> SocketOptions {
        SocketOptions {
            connect_timeout_ms,
            ..SocketOptions::default()
        }
    }
}

impl Default for SocketOptions {
    /// TCP over IPv4, the platform's socket implementation, TCP_NODELAY on.
    fn default() -> Self {
        SocketOptions {
            socket_type: 0,
            domain: 0,
            impl_type: 0,
            connect_timeout_ms: 5_000,
            keep_alive_interval_sec: 0,
            keep_alive_timeout_sec: 0,
            keep_alive_max_failed_probes: 0,
            keepalive: false,
            tcp_nodelay: 1,
            network_interface_name: [0; 16],
        }
    }
}

/// Connection setups in flight and live connections' shutdown events, reached from
/// [`on_setup`] and [`on_shutdown`] through `user_data`.
static CONNECTIONS: Registry<ConnectSlot> = Registry::new();

struct ConnectSlot {
    setup: Mutex<Option<Completer<Result<HttpConnection, CrtError>>>>,
    closed: Arc<AsyncEvent>,
    allocator: Allocator,
    host: String,
    window: usize,
}

/// An HTTP/1.1 client connection (`aws_http_connection`). Dropping it releases it (and
/// closes it, if it was open).
#[derive(Debug)]
pub struct HttpConnection {
    inner: Arc<ConnectionInner>,
}

#[derive(Debug)]
struct ConnectionInner {
    ptr: crate::SendPtr<sys::aws_http_connection>,
    allocator: Allocator,
    host: String,
    window: usize,
    closed: Arc<AsyncEvent>,
}

impl Drop for ConnectionInner {
    fn drop(&mut self) {
        // SAFETY: the reference the setup callback handed us, released once. The CRT's
        // release is thread-safe and shuts the connection down if it is still open.
        unsafe { sys::aws_http_connection_release(self.ptr.0) };
    }
}

impl HttpConnection {
    /// Connects (plain TCP, HTTP/1.1) with manual window management. The future resolves
    /// when the CRT's `on_setup` callback fires; if the caller dropped it by then, the new
    /// connection is released at once.
    pub fn connect(
        bootstrap: &ClientBootstrap,
        options: &ConnectOptions,
    ) -> TryWaitableFuture<HttpConnection, CrtError> {
        let (completer, future) = try_waitable();
        let slot = ConnectSlot {
            setup: Mutex::new(Some(completer)),
            closed: Arc::new(AsyncEvent::new()),
            allocator: bootstrap.allocator,
            host: options.host.clone(),
            window: options.initial_window_size,
        };
        let handle = match CONNECTIONS.try_insert(slot) {
            Ok(handle) => handle,
            Err(slot) => {
                let completer = slot.setup.lock().unwrap().take();
                if let Some(completer) = completer {
                    let _ = completer.complete(Err(CrtError::Crt(
                        sys::aws_common_error::AWS_ERROR_OOM as i32,
                    )));
                }
                return future;
            }
        };
        let socket_options = SocketOptions {
            connect_timeout_ms: options.connect_timeout_ms,
            ..SocketOptions::default()
        };
        let host = options.host.as_bytes();
        let connect = sys::aws_http_client_connection_options {
            self_size: std::mem::size_of::<sys::aws_http_client_connection_options>(),
            allocator: bootstrap.allocator.as_ptr(),
            bootstrap: bootstrap.as_ptr(),
            host_name: cursor(host),
            port: u32::from(options.port),
            socket_options: (&socket_options as *const SocketOptions).cast(),
            manual_window_management: true,
            initial_window_size: options.initial_window_size,
            user_data: handle.into_user_data(),
            on_setup: Some(on_setup),
            on_shutdown: Some(on_shutdown),
            ..Default::default()
        };
        // SAFETY: every pointer in `connect` is valid for the call (the CRT copies the
        // options and the host name); the callbacks have the CRT's types; the handle is an
        // integer, never dereferenced.
        let rc = unsafe { sys::aws_http_client_connect(&connect) };
        if rc != AWS_OP_SUCCESS {
            // The CRT will not call back.
            let error = CrtError::last();
            if let Ok(slot) = CONNECTIONS.take(handle) {
                let completer = slot.setup.lock().unwrap().take();
                if let Some(completer) = completer {
                    let _ = completer.complete(Err(error));
                }
            }
        }
        future
    }

    /// The raw pointer, for CRT calls (alive while `self` is).
    pub fn as_ptr(&self) -> *mut sys::aws_http_connection {
        self.inner.ptr.0
    }

    /// Whether the connection is open.
    pub fn is_open(&self) -> bool {
        // SAFETY: alive while `self` is; the call is thread-safe.
        unsafe { sys::aws_http_connection_is_open(self.inner.ptr.0) }
    }

    /// Starts closing the connection (streams in flight complete with an error).
    pub fn close(&self) {
        // SAFETY: alive while `self` is; the call is thread-safe.
        unsafe { sys::aws_http_connection_close(self.inner.ptr.0) };
    }

    /// The event set when the connection has shut down (the CRT's `on_shutdown`): after
    /// [`close`](Self::close), a canceled stream, the peer closing, or the last release.
    pub fn closed(&self) -> Arc<AsyncEvent> {
        Arc::clone(&self.inner.closed)
    }

    /// `GET path`: the future resolves with the response head once the CRT has read it;
    /// [`Response::body`] then streams the body under the connection's read window.
    ///
    /// Dropping the future before the head arrives, or the body before it ends, cancels
    /// the CRT stream (for HTTP/1.1 that closes the connection).
    pub fn get(&self, path: &str) -> TryWaitableFuture<Response, CrtError> {
        self.request("GET", path)
    }

    /// A request with `method` and `path`, a `Host` header and no body; see
    /// [`get`](Self::get).
    pub fn request(&self, method: &str, path: &str) -> TryWaitableFuture<Response, CrtError> {
        let (completer, future) = try_waitable();
        let (feeder, body) = callback_stream(StreamPolicy::Window {
            initial: self.inner.window,
            weigh: |chunk: &Vec<u8>| chunk.len(),
        });
        // The CRT stream, once made: the hooks re-open its window or cancel it; the stream's
        // on_complete releases it (then the hooks do nothing).
        let stream = Arc::new(StreamRef::default());
        let credit = Arc::clone(&stream);
        body.on_credit(move |bytes| credit.update_window(bytes));
        let close = Arc::clone(&stream);
        body.on_close(move || close.cancel());
        let cancel = Arc::clone(&stream);
        let future = future.on_cancel(move || cancel.cancel());

        let message = match self.new_request(method, path) {
            Ok(message) => message,
            Err(error) => {
                let _ = completer.complete(Err(error));
                return future;
            }
        };
        let slot = RequestSlot {
            state: Mutex::new(RequestState {
                head: Some(completer),
                headers: Vec::new(),
                body: Some(body),
                feeder: Some(feeder),
            }),
            stream: Arc::clone(&stream),
        };
        let handle = match REQUESTS.try_insert(slot) {
            Ok(handle) => handle,
            Err(slot) => {
                // SAFETY: our reference on the message, released once.
                unsafe { sys::aws_http_message_release(message) };
                slot.fail(CrtError::Crt(sys::aws_common_error::AWS_ERROR_OOM as i32));
                return future;
            }
        };
        let options = sys::aws_http_make_request_options {
            self_size: std::mem::size_of::<sys::aws_http_make_request_options>(),
            request: message,
            user_data: handle.into_user_data(),
            on_response_headers: Some(on_headers),
            on_response_header_block_done: Some(on_header_block_done),
            on_response_body: Some(on_body),
            on_complete: Some(on_complete),
            on_destroy: Some(on_destroy),
            ..Default::default()
        };
        // SAFETY: the connection is alive; the options and message are valid for the
        // call (the stream keeps its own reference on the message); the callbacks have the
        // CRT's types; the handle is an integer.
        let raw = unsafe { sys::aws_http_connection_make_request(self.inner.ptr.0, &options) };
        let made = (!raw.is_null()).then_some(raw).ok_or_else(CrtError::last);
        // SAFETY: our reference on the message, released once (the stream holds its own).
        unsafe { sys::aws_http_message_release(message) };
        let raw = match made {
            Ok(raw) => raw,
            Err(error) => {
                if let Ok(slot) = REQUESTS.take(handle) {
                    slot.fail(error);
                }
                return future;
            }
        };
        stream.attach(raw, Arc::clone(&self.inner));
        // SAFETY: a client stream just made on this connection, activated once.
        if unsafe { sys::aws_http_stream_activate(raw) } != AWS_OP_SUCCESS {
            // Never activated: no callback but on_destroy will come.
            let error = CrtError::last();
            if let Ok(slot) = REQUESTS.take(handle) {
                slot.fail(error);
            }
            stream.release();
        }
        future
    }

    fn new_request(
        &self,
        method: &str,
        path: &str,
    ) -> Result<*mut sys::aws_http_message, CrtError> {
        // SAFETY: a new message with one reference, ours.
        let message = unsafe { sys::aws_http_message_new_request(self.inner.allocator.as_ptr()) };
        if message.is_null() {
            return Err(CrtError::last());
        }
        let host_header = sys::aws_http_header {
            name: cursor(b"Host"),
            value: cursor(self.inner.host.as_bytes()),
            ..Default::default()
        };
        // SAFETY: the message is ours; the cursors are valid for each call (the message
        // copies them).
        let rc = unsafe {
            sys::aws_http_message_set_request_method(message, cursor(method.as_bytes()))
                | sys::aws_http_message_set_request_path(message, cursor(path.as_bytes()))
                | sys::aws_http_message_add_header(message, host_header)
        };
        if rc != AWS_OP_SUCCESS {
            let error = CrtError::last();
            // SAFETY: ours, released once.
            unsafe { sys::aws_http_message_release(message) };
            return Err(error);
        }
        Ok(message)
    }
}

/// `aws_http_on_client_connection_setup_fn`.
extern "C" fn on_setup(
    connection: *mut sys::aws_http_connection,
    error_code: c_int,
    user_data: *mut c_void,
) {
    let handle = CompletionHandle::from_user_data(user_data);
    let _ = catch_callback(PanicPolicy::LogAndDrop, || {
        let setup = CONNECTIONS.with(handle, |slot| {
            let completer = slot.setup.lock().unwrap().take();
            let connection = NonNull::new(connection)
                .filter(|_| error_code == 0)
                .map(|ptr| HttpConnection {
                    inner: Arc::new(ConnectionInner {
                        ptr: crate::SendPtr(ptr.as_ptr()),
                        allocator: slot.allocator,
                        host: slot.host.clone(),
                        window: slot.window,
                        closed: Arc::clone(&slot.closed),
                    }),
                });
            (completer, connection)
        });
        let Ok((completer, connection)) = setup else {
            return;
        };
        let result = match connection {
            Some(connection) => Ok(connection),
            None => {
                // A failed setup never gets on_shutdown: release the slot now.
                let _ = CONNECTIONS.release(handle);
                Err(CrtError::Crt(if error_code == 0 { -1 } else { error_code }))
            }
        };
        if let Some(completer) = completer {
            // Err(connection) if the caller gave up: dropping it releases the connection.
            let _ = completer.complete(result);
        }
    });
}

/// `aws_http_on_client_connection_shutdown_fn`: the connection is closed.
extern "C" fn on_shutdown(
    _connection: *mut sys::aws_http_connection,
    _error_code: c_int,
    user_data: *mut c_void,
) {
    let handle = CompletionHandle::from_user_data(user_data);
    let _ = catch_callback(PanicPolicy::LogAndDrop, || {
        let _ = CONNECTIONS.with(handle, |slot| slot.closed.set());
        let _ = CONNECTIONS.release(handle);
    });
}

/// A response head, with its body to stream.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: i32,
    /// The headers of the main header block, in order.
    pub headers: Vec<(String, String)>,
    /// The body: a [`CallbackStream`] of chunks, flow-controlled by the connection's read
    /// window. Dropping it before it ends cancels the CRT stream.
    pub body: ResponseBody,
}

/// A response body: chunks as the CRT delivered them (copied out of its buffers).
pub type ResponseBody = CallbackStream<Vec<u8>, CrtError>;

/// The binding's reference on an `aws_http_stream` (and on its connection), shared by the
/// body's credit and close hooks, the head future's cancel hook and the request's slot.
/// Released when the stream completes (or when the last holder goes, if it never did): a
/// finished body keeps neither the CRT stream nor the connection alive.
#[derive(Debug, Default)]
struct StreamRef {
    stream: Mutex<Option<(crate::SendPtr<sys::aws_http_stream>, Arc<ConnectionInner>)>>,
}

impl StreamRef {
    fn attach(&self, stream: *mut sys::aws_http_stream, connection: Arc<ConnectionInner>) {
        *self.lock() = Some((crate::SendPtr(stream), connection));
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        Option<(crate::SendPtr<sys::aws_http_stream>, Arc<ConnectionInner>)>,
    > {
        self.stream.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update_window(&self, bytes: usize) {
        if let Some((stream, _)) = &*self.lock() {
            // SAFETY: not yet released (we hold the lock that `release` takes);
            // update_window is thread-safe (it schedules a task on the connection's loop).
            unsafe { sys::aws_http_stream_update_window(stream.0, bytes) };
        }
    }

    fn cancel(&self) {
        if let Some((stream, _)) = &*self.lock() {
            // SAFETY: not yet released (as above); cancel is thread-safe and a no-op on a
            // stream that already completed.
            unsafe { sys::aws_http_stream_cancel_default_error(stream.0) };
        }
    }

    fn release(&self) {
        let released = self.lock().take();
        if let Some((stream, connection)) = released {
            // SAFETY: the reference make_request gave us, released once (taken out of the
            // mutex); the CRT allows it in on_complete and from any thread.
            unsafe { sys::aws_http_stream_release(stream.0) };
            drop(connection);
        }
    }
}

impl Drop for StreamRef {
    fn drop(&mut self) {
        self.release();
    }
}

/// Requests in flight, reached from the stream callbacks through `user_data`. Each slot is
/// released by the stream's `on_destroy`.
static REQUESTS: Registry<RequestSlot> = Registry::new();

struct RequestSlot {
    state: Mutex<RequestState>,
    stream: Arc<StreamRef>,
}

struct RequestState {
    head: Option<Completer<Result<Response, CrtError>>>,
    headers: Vec<(String, String)>,
    /// The consumer's half, until the head is delivered with it.
    body: Option<ResponseBody>,
    /// The CRT's half, until the stream completes.
    feeder: Option<StreamFeeder<Vec<u8>, CrtError>>,
}

impl RequestSlot {
    /// Ends the request with `error` (no CRT callback will do it).
    fn fail(self, error: CrtError) {
        let mut state = self.state.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some(feeder) = state.feeder.take() {
            feeder.fail(error.clone());
        }
        if let Some(head) = state.head.take() {
            let _ = head.complete(Err(error));
        }
    }
}

fn header_text(cursor: &sys::aws_byte_cursor) -> String {
    // SAFETY: the CRT's header cursors are valid for the duration of the callback.
    String::from_utf8_lossy(&unsafe { cursor_bytes(cursor) }).into_owned()
}

/// `aws_http_on_incoming_headers_fn`: collects the main block's headers.
extern "C" fn on_headers(
    _stream: *mut sys::aws_http_stream,
    header_block: sys::aws_http_header_block,
    header_array: *const sys::aws_http_header,
    num_headers: usize,
    user_data: *mut c_void,
) -> c_int {
    if header_block != sys::aws_http_header_block::AWS_HTTP_HEADER_BLOCK_MAIN
        || header_array.is_null()
    {
        return AWS_OP_SUCCESS;
    }
    let handle = CompletionHandle::from_user_data(user_data);
    let outcome = catch_callback(PanicPolicy::LogAndDrop, || {
        // SAFETY: the CRT passes `num_headers` headers valid for the callback.
        let headers = unsafe { std::slice::from_raw_parts(header_array, num_headers) };
        let copied: Vec<_> = headers
            .iter()
            .map(|h| (header_text(&h.name), header_text(&h.value)))
            .collect();
        let _ = REQUESTS.with(handle, |slot| {
            slot.state.lock().unwrap().headers.extend(copied);
        });
    });
    if outcome.is_ok() {
        AWS_OP_SUCCESS
    } else {
        AWS_OP_ERR
    }
}

/// `aws_http_on_incoming_header_block_done_fn`: the head is complete; deliver it.
extern "C" fn on_header_block_done(
    stream: *mut sys::aws_http_stream,
    header_block: sys::aws_http_header_block,
    user_data: *mut c_void,
) -> c_int {
    if header_block != sys::aws_http_header_block::AWS_HTTP_HEADER_BLOCK_MAIN {
        return AWS_OP_SUCCESS;
    }
    let handle = CompletionHandle::from_user_data(user_data);
    let outcome = catch_callback(PanicPolicy::LogAndDrop, || {
        let mut status = 0;
        // SAFETY: the stream is alive during its callback; the status is known once a
        // header block arrived.
        let rc = unsafe { sys::aws_http_stream_get_incoming_response_status(stream, &mut status) };
        let taken = REQUESTS.with(handle, |slot| {
            let mut state = slot.state.lock().unwrap();
            let headers = std::mem::take(&mut state.headers);
            (state.head.take(), state.body.take(), headers)
        });
        let Ok((Some(head), Some(body), headers)) = taken else {
            return;
        };
        let result = if rc == AWS_OP_SUCCESS {
            Ok(Response {
                status,
                headers,
                body,
            })
        } else {
            Err(CrtError::last())
        };
        // Err(response) if the caller dropped the future: its cancel hook already ran;
        // dropping the body here is harmless.
        let _ = head.complete(result);
    });
    if outcome.is_ok() {
        AWS_OP_SUCCESS
    } else {
        AWS_OP_ERR
    }
}

/// `aws_http_on_incoming_body_fn`: pushes a copy of the chunk into the body stream. The
/// CRT never sends more than the window the consumer opened, so the push fits.
extern "C" fn on_body(
    _stream: *mut sys::aws_http_stream,
    data: *const sys::aws_byte_cursor,
    user_data: *mut c_void,
) -> c_int {
    let handle = CompletionHandle::from_user_data(user_data);
    let outcome = catch_callback(PanicPolicy::LogAndDrop, || {
        // SAFETY: the CRT passes a cursor valid for the callback.
        let chunk = unsafe {
            data.as_ref()
                .map(|data| cursor_bytes(data))
                .unwrap_or_default()
        };
        REQUESTS
            .with(handle, |slot| {
                let state = slot.state.lock().unwrap();
                match state.feeder.as_ref().map(|feeder| feeder.push(chunk)) {
                    Some(Err(rejected)) if rejected.reason() == RejectReason::WindowFull => {
                        // The CRT overran the window: fail the stream rather than lose data.
                        AWS_OP_ERR
                    }
                    // Accepted, or the consumer is gone (its close hook canceled the stream).
                    _ => AWS_OP_SUCCESS,
                }
            })
            .unwrap_or(AWS_OP_SUCCESS)
    });
    outcome.unwrap_or(AWS_OP_ERR)
}

/// `aws_http_on_stream_complete_fn`: ends the body (or fails the head, if it never came).
extern "C" fn on_complete(
    _stream: *mut sys::aws_http_stream,
    error_code: c_int,
    user_data: *mut c_void,
) {
    let handle = CompletionHandle::from_user_data(user_data);
    let _ = catch_callback(PanicPolicy::LogAndDrop, || {
        let taken = REQUESTS.with(handle, |slot| {
            let mut state = slot.state.lock().unwrap();
            let stream = Arc::clone(&slot.stream);
            (
                state.head.take(),
                state.feeder.take(),
                state.body.take(),
                stream,
            )
        });
        let Ok((head, feeder, body, stream)) = taken else {
            return;
        };
        // Done with the CRT stream: release it (and its hold on the connection) now, not
        // when the consumer drops the body.
        stream.release();
        let error = CrtError::check(error_code).err();
        // End the body first: then dropping an undelivered body runs no close hook.
        if let Some(feeder) = feeder {
            match &error {
                None => feeder.finish(),
                Some(error) => feeder.fail(error.clone()),
            };
        }
        if let Some(head) = head {
            let _ = head.complete(Err(error.unwrap_or(CrtError::Abandoned)));
        }
        drop(body);
    });
}

/// `aws_http_on_stream_destroy_fn`: the CRT is done with the stream; release its slot.
extern "C" fn on_destroy(user_data: *mut c_void) {
    let handle = CompletionHandle::from_user_data(user_data);
    let _ = catch_callback(PanicPolicy::LogAndDrop, || {
        let _ = REQUESTS.release(handle);
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn options_default_to_a_one_mebibyte_window() {
        let options = super::ConnectOptions::new("localhost", 80);
        assert_eq!(options.initial_window_size, 1 << 20);
    }
}
