//! WebSocket client (`aws/http/websocket.h`, which the sys crate does not bind: the few
//! structs and functions used are declared here by hand, their layouts asserted at compile
//! time against the values the C compiler gives for the vendored header on 64-bit Linux).
//!
//! The handshake is a future; incoming data frames are a [`CallbackStream`] under
//! [`StreamPolicy::Window`] whose credit re-opens the CRT's read window
//! (`aws_websocket_increment_read_window`); each outgoing frame is a future; closing is
//! awaitable through [`WebSocket::closed`].

use std::ffi::{c_int, c_void};
use std::sync::{Arc, Mutex};

use anywait::ffi::{catch_callback, CompletionHandle, PanicPolicy, Registry};
use anywait::{
    callback_stream, try_waitable, AsyncEvent, CallbackStream, Completer, StreamFeeder,
    StreamPolicy, TryWaitableFuture,
};

use crate::http::SocketOptions;
use crate::{cursor, cursor_bytes, sys, ClientBootstrap, CrtError, SendPtr};

/// `struct aws_websocket` (opaque).
#[repr(C)]
#[derive(Debug)]
struct RawWebSocket {
    _private: [u8; 0],
}

/// `struct aws_websocket_on_connection_setup_data`.
#[repr(C)]
struct SetupData {
    error_code: c_int,
    websocket: *mut RawWebSocket,
    handshake_response_status: *const c_int,
    handshake_response_header_array: *const sys::aws_http_header,
    num_handshake_response_headers: usize,
    handshake_response_body: *const sys::aws_byte_cursor,
}

/// `struct aws_websocket_incoming_frame`.
#[repr(C)]
struct IncomingFrame {
    payload_length: u64,
    opcode: u8,
    fin: bool,
}

type OnSetup = unsafe extern "C" fn(*const SetupData, *mut c_void);
type OnShutdown = unsafe extern "C" fn(*mut RawWebSocket, c_int, *mut c_void);
type OnFrameBegin =
    unsafe extern "C" fn(*mut RawWebSocket, *const IncomingFrame, *mut c_void) -> bool;
type OnFramePayload = unsafe extern "C" fn(
    *mut RawWebSocket,
    *const IncomingFrame,
    sys::aws_byte_cursor,
    *mut c_void,
) -> bool;
type OnFrameComplete =
    unsafe extern "C" fn(*mut RawWebSocket, *const IncomingFrame, c_int, *mut c_void) -> bool;
type StreamOutgoingPayload =
    unsafe extern "C" fn(*mut RawWebSocket, *mut sys::aws_byte_buf, *mut c_void) -> bool;
type OnOutgoingComplete = unsafe extern "C" fn(*mut RawWebSocket, c_int, *mut c_void);

/// `struct aws_websocket_client_connection_options`.
#[repr(C)]
struct ClientConnectionOptions {
    allocator: *mut sys::aws_allocator,
    bootstrap: *mut sys::aws_client_bootstrap,
    socket_options: *const SocketOptions,
    tls_options: *const c_void,
    proxy_options: *const c_void,
    host: sys::aws_byte_cursor,
    port: u32,
    handshake_request: *mut sys::aws_http_message,
    initial_window_size: usize,
    user_data: *mut c_void,
    on_connection_setup: Option<OnSetup>,
    on_connection_shutdown: Option<OnShutdown>,
    on_incoming_frame_begin: Option<OnFrameBegin>,
    on_incoming_frame_payload: Option<OnFramePayload>,
    on_incoming_frame_complete: Option<OnFrameComplete>,
    manual_window_management: bool,
    requested_event_loop: *mut c_void,
    host_resolution_config: *const c_void,
}

/// `struct aws_websocket_send_frame_options`.
#[repr(C)]
struct SendFrameOptions {
    payload_length: u64,
    user_data: *mut c_void,
    stream_outgoing_payload: Option<StreamOutgoingPayload>,
    on_complete: Option<OnOutgoingComplete>,
    opcode: u8,
    fin: bool,
}

// Values printed by the C compiler for the vendored aws/http/websocket.h (x86_64 and
// aarch64 Linux: LP64), checked in every build; build.rs also checks every field against
// the C compiler at build time (below) when it finds the CRT's installed headers.
#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<SetupData>() == 48 && align_of::<SetupData>() == 8);
    assert!(offset_of!(SetupData, websocket) == 8);
    assert!(offset_of!(SetupData, handshake_response_status) == 16);
    assert!(offset_of!(SetupData, num_handshake_response_headers) == 32);
    assert!(offset_of!(SetupData, handshake_response_body) == 40);
    assert!(size_of::<IncomingFrame>() == 16);
    assert!(offset_of!(IncomingFrame, opcode) == 8 && offset_of!(IncomingFrame, fin) == 9);
    assert!(size_of::<ClientConnectionOptions>() == 152);
    assert!(offset_of!(ClientConnectionOptions, host) == 40);
    assert!(offset_of!(ClientConnectionOptions, port) == 56);
    assert!(offset_of!(ClientConnectionOptions, handshake_request) == 64);
    assert!(offset_of!(ClientConnectionOptions, initial_window_size) == 72);
    assert!(offset_of!(ClientConnectionOptions, user_data) == 80);
    assert!(offset_of!(ClientConnectionOptions, on_connection_setup) == 88);
    assert!(offset_of!(ClientConnectionOptions, on_incoming_frame_complete) == 120);
    assert!(offset_of!(ClientConnectionOptions, manual_window_management) == 128);
    assert!(offset_of!(ClientConnectionOptions, requested_event_loop) == 136);
    assert!(offset_of!(ClientConnectionOptions, host_resolution_config) == 144);
    assert!(size_of::<SendFrameOptions>() == 40);
    assert!(offset_of!(SendFrameOptions, user_data) == 8);
    assert!(offset_of!(SendFrameOptions, stream_outgoing_payload) == 16);
    assert!(offset_of!(SendFrameOptions, on_complete) == 24);
    assert!(offset_of!(SendFrameOptions, opcode) == 32 && offset_of!(SendFrameOptions, fin) == 33);
};

/// The layouts the C compiler gives for the installed header (see build.rs).
#[cfg(ws_layout_checked)]
#[allow(dead_code, non_upper_case_globals)]
mod c_layout {
    include!(concat!(env!("OUT_DIR"), "/ws_layout.rs"));
}

#[cfg(ws_layout_checked)]
const _: () = {
    use c_layout::*;
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<SetupData>() == SETUP_SIZE && align_of::<SetupData>() == SETUP_ALIGN);
    assert!(offset_of!(SetupData, error_code) == SETUP_error_code);
    assert!(offset_of!(SetupData, websocket) == SETUP_websocket);
    assert!(offset_of!(SetupData, handshake_response_status) == SETUP_handshake_response_status);
    assert!(
        offset_of!(SetupData, handshake_response_header_array)
            == SETUP_handshake_response_header_array
    );
    assert!(
        offset_of!(SetupData, num_handshake_response_headers)
            == SETUP_num_handshake_response_headers
    );
    assert!(offset_of!(SetupData, handshake_response_body) == SETUP_handshake_response_body);

    assert!(size_of::<IncomingFrame>() == FRAME_SIZE && align_of::<IncomingFrame>() == FRAME_ALIGN);
    assert!(offset_of!(IncomingFrame, payload_length) == FRAME_payload_length);
    assert!(offset_of!(IncomingFrame, opcode) == FRAME_opcode);
    assert!(offset_of!(IncomingFrame, fin) == FRAME_fin);

    type C = ClientConnectionOptions;
    assert!(size_of::<C>() == CONNECT_SIZE && align_of::<C>() == CONNECT_ALIGN);
    assert!(offset_of!(C, allocator) == CONNECT_allocator);
    assert!(offset_of!(C, bootstrap) == CONNECT_bootstrap);
    assert!(offset_of!(C, socket_options) == CONNECT_socket_options);
    assert!(offset_of!(C, tls_options) == CONNECT_tls_options);
    assert!(offset_of!(C, proxy_options) == CONNECT_proxy_options);
    assert!(offset_of!(C, host) == CONNECT_host);
    assert!(offset_of!(C, port) == CONNECT_port);
    assert!(offset_of!(C, handshake_request) == CONNECT_handshake_request);
    assert!(offset_of!(C, initial_window_size) == CONNECT_initial_window_size);
    assert!(offset_of!(C, user_data) == CONNECT_user_data);
    assert!(offset_of!(C, on_connection_setup) == CONNECT_on_connection_setup);
    assert!(offset_of!(C, on_connection_shutdown) == CONNECT_on_connection_shutdown);
    assert!(offset_of!(C, on_incoming_frame_begin) == CONNECT_on_incoming_frame_begin);
    assert!(offset_of!(C, on_incoming_frame_payload) == CONNECT_on_incoming_frame_payload);
    assert!(offset_of!(C, on_incoming_frame_complete) == CONNECT_on_incoming_frame_complete);
    assert!(offset_of!(C, manual_window_management) == CONNECT_manual_window_management);
    assert!(offset_of!(C, requested_event_loop) == CONNECT_requested_event_loop);
    assert!(offset_of!(C, host_resolution_config) == CONNECT_host_resolution_config);

    type S = SendFrameOptions;
    assert!(size_of::<S>() == SEND_SIZE && align_of::<S>() == SEND_ALIGN);
    assert!(offset_of!(S, payload_length) == SEND_payload_length);
    assert!(offset_of!(S, user_data) == SEND_user_data);
    assert!(offset_of!(S, stream_outgoing_payload) == SEND_stream_outgoing_payload);
    assert!(offset_of!(S, on_complete) == SEND_on_complete);
    assert!(offset_of!(S, opcode) == SEND_opcode);
    assert!(offset_of!(S, fin) == SEND_fin);
};

extern "C" {
    fn aws_websocket_client_connect(options: *const ClientConnectionOptions) -> c_int;
    fn aws_websocket_release(websocket: *mut RawWebSocket);
    fn aws_websocket_close(websocket: *mut RawWebSocket, free_scarce_resources_immediately: bool);
    fn aws_websocket_send_frame(
        websocket: *mut RawWebSocket,
        options: *const SendFrameOptions,
    ) -> c_int;
    fn aws_websocket_increment_read_window(websocket: *mut RawWebSocket, size: usize);
    fn aws_http_message_new_websocket_handshake_request(
        allocator: *mut sys::aws_allocator,
        path: sys::aws_byte_cursor,
        host: sys::aws_byte_cursor,
    ) -> *mut sys::aws_http_message;
}

/// `enum aws_websocket_opcode`.
pub mod opcode {
    /// A continuation of a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// A text frame.
    pub const TEXT: u8 = 0x1;
    /// A binary frame.
    pub const BINARY: u8 = 0x2;
    /// A close frame.
    pub const CLOSE: u8 = 0x8;
    /// A ping frame.
    pub const PING: u8 = 0x9;
    /// A pong frame.
    pub const PONG: u8 = 0xA;
}

/// An incoming data frame (text, binary or continuation), with its whole payload.
/// Control frames (ping, pong, close) are answered by the CRT and not delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The frame's opcode (see [`opcode`]).
    pub opcode: u8,
    /// Whether this is the message's last frame.
    pub fin: bool,
    /// The payload.
    pub payload: Vec<u8>,
}

/// The incoming data frames, flow-controlled by the websocket's read window.
pub type Frames = CallbackStream<Frame, CrtError>;

/// Where [`WebSocket::connect`] connects, and its read window.
#[derive(Clone, Debug)]
pub struct WebSocketOptions {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The handshake request's path.
    pub path: String,
    /// Read window in payload bytes: the CRT delivers at most this much data-frame
    /// payload before the consumer takes frames; the frame stream holds at most this much.
    /// Every incoming data frame must fit in it (a larger one fails the connection).
    pub initial_window_size: usize,
    /// Connect timeout.
    pub connect_timeout_ms: u32,
}

impl WebSocketOptions {
    /// `ws://host:port/path`, with a 1 MiB window and a 5 s connect timeout.
    pub fn new(host: impl Into<String>, port: u16, path: impl Into<String>) -> Self {
        WebSocketOptions {
            host: host.into(),
            port,
            path: path.into(),
            initial_window_size: 1 << 20,
            connect_timeout_ms: 5_000,
        }
    }
}

/// The binding's reference on an `aws_websocket`, shared by the [`WebSocket`] and its
/// frame stream's hooks; released when the last holder goes.
#[derive(Debug, Default)]
struct WsRef {
    ptr: Mutex<Option<SendPtr<RawWebSocket>>>,
}

impl WsRef {
    fn get(&self) -> Option<SendPtr<RawWebSocket>> {
        *self.ptr.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn increment_window(&self, bytes: usize) {
        if let Some(ws) = self.get() {
            // SAFETY: our reference is held while `self` lives; the call is thread-safe.
            unsafe { aws_websocket_increment_read_window(ws.0, bytes) };
        }
    }

    fn close(&self) {
        if let Some(ws) = self.get() {
            // SAFETY: as above; close is thread-safe and idempotent.
            unsafe { aws_websocket_close(ws.0, false) };
        }
    }
}

impl Drop for WsRef {
    fn drop(&mut self) {
        if let Some(ws) = self.ptr.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            // SAFETY: the reference the setup callback handed us, released once; the CRT
            // closes the websocket if it is still open.
            unsafe { aws_websocket_release(ws.0) };
        }
    }
}

/// A connected client websocket. Dropping it closes and releases it.
///
/// [`split`](Self::split) it to send from one task or thread while another reads.
#[derive(Debug)]
pub struct WebSocket {
    /// Incoming data frames; the stream ends when the websocket shuts down (with the
    /// CRT's error if it was not a clean close). Dropping it closes the websocket.
    pub frames: Frames,
    sender: WebSocketSender,
}

/// The sending half of a [`WebSocket`]: cheap to clone, usable from any thread or task.
/// The websocket stays alive while a sender or the frame stream does; dropping the frame
/// stream closes it, after which sends fail.
#[derive(Debug, Clone)]
pub struct WebSocketSender {
    ws: Arc<WsRef>,
    closed: Arc<AsyncEvent>,
}

struct ConnectSlot {
    setup: Mutex<Option<Completer<Result<WebSocket, CrtError>>>>,
    state: Mutex<FrameState>,
    ws: Arc<WsRef>,
    closed: Arc<AsyncEvent>,
    window: usize,
}

struct FrameState {
    frames: Option<Frames>,
    feeder: Option<StreamFeeder<Frame, CrtError>>,
    partial: Vec<u8>,
}

/// Websockets being set up or open, reached from their callbacks through `user_data`.
static SOCKETS: Registry<ConnectSlot> = Registry::new();

/// Outgoing frames in flight.
static SENDS: Registry<SendSlot> = Registry::new();

struct SendSlot {
    payload: Mutex<(Vec<u8>, usize)>,
    done: Mutex<Option<Completer<Result<(), CrtError>>>>,
}

fn oom() -> CrtError {
    CrtError::Crt(sys::aws_common_error::AWS_ERROR_OOM as i32)
}

impl WebSocket {
    /// Connects and performs the HTTP/1.1 upgrade handshake; the future resolves when the
    /// CRT's setup callback fires (with the websocket, or the CRT's error).
    pub fn connect(
        bootstrap: &ClientBootstrap,
        options: &WebSocketOptions,
    ) -> TryWaitableFuture<WebSocket, CrtError> {
        crate::init();
        let (completer, future) = try_waitable();
        let ws = Arc::new(WsRef::default());
        let (feeder, frames) = callback_stream(StreamPolicy::Window {
            initial: options.initial_window_size,
            weigh: |frame: &Frame| frame.payload.len(),
        });
        let credit = Arc::clone(&ws);
        frames.on_credit(move |bytes| credit.increment_window(bytes));
        let close = Arc::clone(&ws);
        frames.on_close(move || close.close());
        let slot = ConnectSlot {
            setup: Mutex::new(Some(completer)),
            state: Mutex::new(FrameState {
                frames: Some(frames),
                feeder: Some(feeder),
                partial: Vec::new(),
            }),
            ws,
            closed: Arc::new(AsyncEvent::new()),
            window: options.initial_window_size,
        };
        let handle = match SOCKETS.try_insert(slot) {
            Ok(handle) => handle,
            Err(slot) => {
                slot.fail(oom());
                return future;
            }
        };
        let allocator = bootstrap.allocator();
        // SAFETY: a new message with one reference, ours; the cursors are valid for the
        // call (copied).
        let request = unsafe {
            aws_http_message_new_websocket_handshake_request(
                allocator.as_ptr(),
                cursor(options.path.as_bytes()),
                cursor(options.host.as_bytes()),
            )
        };
        if request.is_null() {
            if let Ok(slot) = SOCKETS.take(handle) {
                slot.fail(CrtError::last());
            }
            return future;
        }
        let socket_options = SocketOptions::with_connect_timeout(options.connect_timeout_ms);
        let connect = ClientConnectionOptions {
            allocator: allocator.as_ptr(),
            bootstrap: bootstrap.as_ptr(),
            socket_options: &socket_options,
            tls_options: std::ptr::null(),
            proxy_options: std::ptr::null(),
            host: cursor(options.host.as_bytes()),
            port: u32::from(options.port),
            handshake_request: request,
            initial_window_size: options.initial_window_size,
            user_data: handle.into_user_data(),
            on_connection_setup: Some(on_setup),
            on_connection_shutdown: Some(on_shutdown),
            on_incoming_frame_begin: Some(on_frame_begin),
            on_incoming_frame_payload: Some(on_frame_payload),
            on_incoming_frame_complete: Some(on_frame_complete),
            manual_window_management: true,
            requested_event_loop: std::ptr::null_mut(),
            host_resolution_config: std::ptr::null(),
        };
        // SAFETY: the options (layout asserted above) and everything they point to are
        // valid for the call; the CRT takes its own reference on the request; the
        // callbacks have the CRT's types; the handle is an integer.
        let rc = unsafe { aws_websocket_client_connect(&connect) };
        let error = (rc != 0).then(CrtError::last);
        // SAFETY: our reference on the request, released once.
        unsafe { sys::aws_http_message_release(request) };
        if let Some(error) = error {
            if let Ok(slot) = SOCKETS.take(handle) {
                slot.fail(error);
            }
        }
        future
    }

    /// Sends one frame; see [`WebSocketSender::send`].
    pub fn send(&self, opcode: u8, fin: bool, payload: Vec<u8>) -> TryWaitableFuture<(), CrtError> {
        self.sender.send(opcode, fin, payload)
    }

    /// Sends a whole text message.
    pub fn send_text(&self, text: &str) -> TryWaitableFuture<(), CrtError> {
        self.sender.send_text(text)
    }

    /// Sends a whole binary message.
    pub fn send_binary(&self, data: Vec<u8>) -> TryWaitableFuture<(), CrtError> {
        self.sender.send_binary(data)
    }

    /// Starts closing the websocket (the CRT sends a CLOSE frame) and returns the event
    /// set once it is shut down.
    pub fn close(&self) -> Arc<AsyncEvent> {
        self.sender.close()
    }

    /// The event set once the websocket is shut down.
    pub fn closed(&self) -> Arc<AsyncEvent> {
        self.sender.closed()
    }

    /// A sender for this websocket, to send from another task or thread.
    pub fn sender(&self) -> WebSocketSender {
        self.sender.clone()
    }

    /// The sender and the frame stream, to be driven apart (for example a writer task and
    /// a reader task, or a writer thread and a blocking reader).
    pub fn split(self) -> (WebSocketSender, Frames) {
        (self.sender, self.frames)
    }
}

impl WebSocketSender {
    /// Sends one frame; the future resolves once the CRT has written it (or failed to).
    pub fn send(&self, opcode: u8, fin: bool, payload: Vec<u8>) -> TryWaitableFuture<(), CrtError> {
        let (completer, future) = try_waitable();
        let Some(ws) = self.ws.get() else {
            let _ = completer.complete(Err(CrtError::Abandoned));
            return future;
        };
        let length = payload.len() as u64;
        let slot = SendSlot {
            payload: Mutex::new((payload, 0)),
            done: Mutex::new(Some(completer)),
        };
        let handle = match SENDS.try_insert(slot) {
            Ok(handle) => handle,
            Err(slot) => {
                slot.complete(Err(oom()));
                return future;
            }
        };
        let options = SendFrameOptions {
            payload_length: length,
            user_data: handle.into_user_data(),
            stream_outgoing_payload: Some(on_outgoing_payload),
            on_complete: Some(on_outgoing_complete),
            opcode,
            fin,
        };
        // SAFETY: the websocket is alive (our reference); the options are valid for the
        // call; callbacks have the CRT's types; the handle is an integer.
        if unsafe { aws_websocket_send_frame(ws.0, &options) } != 0 {
            let error = CrtError::last();
            if let Ok(slot) = SENDS.take(handle) {
                slot.complete(Err(error));
            }
        }
        future
    }

    /// Sends a whole text message.
    pub fn send_text(&self, text: &str) -> TryWaitableFuture<(), CrtError> {
        self.send(opcode::TEXT, true, text.as_bytes().to_vec())
    }

    /// Sends a whole binary message.
    pub fn send_binary(&self, data: Vec<u8>) -> TryWaitableFuture<(), CrtError> {
        self.send(opcode::BINARY, true, data)
    }

    /// Starts closing the websocket (the CRT sends a CLOSE frame) and returns the event
    /// set once it is shut down.
    pub fn close(&self) -> Arc<AsyncEvent> {
        self.ws.close();
        self.closed()
    }

    /// The event set once the websocket is shut down.
    pub fn closed(&self) -> Arc<AsyncEvent> {
        Arc::clone(&self.closed)
    }
}

impl ConnectSlot {
    /// Ends the setup with `error` (no CRT callback will).
    fn fail(self, error: CrtError) {
        let mut state = self.state.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some(feeder) = state.feeder.take() {
            feeder.fail(error.clone());
        }
        if let Some(setup) = self.setup.into_inner().unwrap_or_else(|e| e.into_inner()) {
            let _ = setup.complete(Err(error));
        }
    }
}

impl SendSlot {
    fn complete(self, result: Result<(), CrtError>) {
        if let Some(done) = self.done.into_inner().unwrap_or_else(|e| e.into_inner()) {
            let _ = done.complete(result);
        }
    }
}

/// `aws_websocket_on_connection_setup_fn`.
unsafe extern "C" fn on_setup(setup: *const SetupData, user_data: *mut c_void) {
    let handle = CompletionHandle::from_user_data(user_data);
    let _ = catch_callback(PanicPolicy::LogAndDrop, || {
        // SAFETY: the CRT passes setup data valid for the callback.
        let Some(setup) = (unsafe { setup.as_ref() }) else {
            return;
        };
        let connected = setup.error_code == 0 && !setup.websocket.is_null();
        if !connected {
            // No on_connection_shutdown follows a failed setup: end the slot now.
            if let Ok(slot) = SOCKETS.take(handle) {
                let code = if setup.error_code == 0 {
                    -1
                } else {
                    setup.error_code
                };
                slot.fail(CrtError::Crt(code));
            }
            return;
        }
        let taken = SOCKETS.with(handle, |slot| {
            *slot.ws.ptr.lock().unwrap() = Some(SendPtr(setup.websocket));
            let frames = slot.state.lock().unwrap().frames.take();
            let completer = slot.setup.lock().unwrap().take();
            (
                completer,
                frames,
                Arc::clone(&slot.ws),
                Arc::clone(&slot.closed),
            )
        });
        let Ok((Some(completer), Some(frames), ws, closed)) = taken else {
            return;
        };
        // Err(websocket) if the caller gave up: dropping it closes and releases it.
        let _ = completer.complete(Ok(WebSocket {
            frames,
            sender: WebSocketSender { ws, closed },
        }));
    });
}

/// `aws_websocket_on_connection_shutdown_fn`: ends the frame stream, sets `closed`.
unsafe extern "C" fn on_shutdown(
    _ws: *mut RawWebSocket,
    error_code: c_int,
    user_data: *mut c_void,
) {
    let handle = CompletionHandle::from_user_data(user_data);
    let _ = catch_callback(PanicPolicy::LogAndDrop, || {
        let Ok(slot) = SOCKETS.take(handle) else {
            return;
        };
        let feeder = slot.state.lock().unwrap().feeder.take();
        if let Some(feeder) = feeder {
            match CrtError::check(error_code) {
                Ok(()) => feeder.finish(),
                Err(error) => feeder.fail(error),
            };
        }
        slot.closed.set();
    });
}

fn is_data(opcode: u8) -> bool {
    matches!(opcode, opcode::CONTINUATION | opcode::TEXT | opcode::BINARY)
}

/// `aws_websocket_on_incoming_frame_begin_fn`: refuses data frames larger than the window
/// (they could never be delivered whole).
unsafe extern "C" fn on_frame_begin(
    _ws: *mut RawWebSocket,
    frame: *const IncomingFrame,
    user_data: *mut c_void,
) -> bool {
    let handle = CompletionHandle::from_user_data(user_data);
    catch_callback(PanicPolicy::LogAndDrop, || {
        // SAFETY: valid for the callback.
        let Some(frame) = (unsafe { frame.as_ref() }) else {
            return false;
        };
        if !is_data(frame.opcode) {
            return true;
        }
        SOCKETS
            .with(handle, |slot| {
                let fits = frame.payload_length <= slot.window as u64;
                if fits {
                    let mut state = slot.state.lock().unwrap();
                    state.partial = Vec::with_capacity(frame.payload_length as usize);
                }
                fits
            })
            .unwrap_or(false)
    })
    .unwrap_or(false)
}

/// `aws_websocket_on_incoming_frame_payload_fn`: collects a data frame's payload.
unsafe extern "C" fn on_frame_payload(
    _ws: *mut RawWebSocket,
    frame: *const IncomingFrame,
    data: sys::aws_byte_cursor,
    user_data: *mut c_void,
) -> bool {
    let handle = CompletionHandle::from_user_data(user_data);
    catch_callback(PanicPolicy::LogAndDrop, || {
        // SAFETY: valid for the callback.
        let data_frame = unsafe { frame.as_ref() }.is_some_and(|f| is_data(f.opcode));
        if !data_frame {
            return true;
        }
        // SAFETY: the cursor is valid for the callback.
        let bytes = unsafe { cursor_bytes(&data) };
        SOCKETS
            .with(handle, |slot| {
                slot.state.lock().unwrap().partial.extend(bytes);
                true
            })
            .unwrap_or(false)
    })
    .unwrap_or(false)
}

/// `aws_websocket_on_incoming_frame_complete_fn`: pushes the whole data frame.
unsafe extern "C" fn on_frame_complete(
    _ws: *mut RawWebSocket,
    frame: *const IncomingFrame,
    error_code: c_int,
    user_data: *mut c_void,
) -> bool {
    let handle = CompletionHandle::from_user_data(user_data);
    catch_callback(PanicPolicy::LogAndDrop, || {
        // SAFETY: valid for the callback.
        let Some(frame) = (unsafe { frame.as_ref() }) else {
            return true;
        };
        if error_code != 0 || !is_data(frame.opcode) {
            return true;
        }
        SOCKETS
            .with(handle, |slot| {
                let mut state = slot.state.lock().unwrap();
                let payload = std::mem::take(&mut state.partial);
                let frame = Frame {
                    opcode: frame.opcode,
                    fin: frame.fin,
                    payload,
                };
                match state.feeder.as_ref().map(|feeder| feeder.push(frame)) {
                    // The CRT overran the window: fail rather than lose data.
                    Some(Err(rejected)) => rejected.reason() != anywait::RejectReason::WindowFull,
                    _ => true,
                }
            })
            .unwrap_or(true)
    })
    .unwrap_or(false)
}

/// `aws_websocket_stream_outgoing_payload_fn`: copies as much of the payload as fits.
unsafe extern "C" fn on_outgoing_payload(
    _ws: *mut RawWebSocket,
    out: *mut sys::aws_byte_buf,
    user_data: *mut c_void,
) -> bool {
    let handle = CompletionHandle::from_user_data(user_data);
    catch_callback(PanicPolicy::LogAndDrop, || {
        SENDS
            .with(handle, |slot| {
                let mut payload = slot.payload.lock().unwrap();
                let (bytes, sent) = &mut *payload;
                // SAFETY: the CRT passes a valid buffer for the callback.
                let Some(buf) = (unsafe { out.as_mut() }) else {
                    return false;
                };
                let room = buf.capacity - buf.len;
                let n = room.min(bytes.len() - *sent);
                // SAFETY: `n` bytes fit in the buffer; the source is `n` valid bytes.
                let ok = unsafe { sys::aws_byte_buf_write(buf, bytes.as_ptr().add(*sent), n) };
                if ok {
                    *sent += n;
                }
                ok
            })
            .unwrap_or(false)
    })
    .unwrap_or(false)
}

/// `aws_websocket_outgoing_frame_complete_fn`: completes the send's future.
unsafe extern "C" fn on_outgoing_complete(
    _ws: *mut RawWebSocket,
    error_code: c_int,
    user_data: *mut c_void,
) {
    let handle = CompletionHandle::from_user_data(user_data);
    let _ = catch_callback(PanicPolicy::LogAndDrop, || {
        if let Ok(slot) = SENDS.take(handle) {
            slot.complete(CrtError::check(error_code));
        }
    });
}
