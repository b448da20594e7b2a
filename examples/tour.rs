//! A tour of anywait: a simulated C SDK — C-shaped functions that take `extern "C"`
//! callbacks and a `void *user_data`, answered from an event-loop thread of its own — is
//! wrapped into plain futures, awaited under six executors and waited on blockingly. Then:
//! a done-callback, a cancellation the SDK sees, an SDK that calls back twice or never, a
//! result shared by a real task and a real thread, a response body larger than its read
//! window streamed with flow control, and the SDK's shutdown as an `AsyncEvent`.
//!
//! Run it with `cargo run --example tour`. Its output is the same on every run.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use anywait::ffi::{CallbackError, Completions, Feeders, Setters};
use anywait::{callback_stream, AsyncEvent, EventSetter, StreamPolicy, TryWaitableFuture};

/// A stand-in for a C SDK, with C's calling conventions: every entry point takes an
/// `extern "C"` callback and a `void *user_data`, and the SDK calls back from its own
/// event-loop thread (as the AWS CRT's event loops do). Payload buffers are valid only
/// during the callback: the SDK scribbles over them and frees them right after.
mod sdk {
    use super::*;
    use std::collections::HashMap;

    pub type GetCallback =
        extern "C" fn(user_data: *mut c_void, error_code: c_int, payload: *const u8, len: usize);
    pub type ChunkCallback = extern "C" fn(user_data: *mut c_void, chunk: *const u8, len: usize);
    pub type FinalCallback = extern "C" fn(user_data: *mut c_void, error_code: c_int);
    pub type ShutdownCallback = extern "C" fn(user_data: *mut c_void);

    pub const ECANCELED: c_int = 125;
    pub const CHUNK: usize = 16 * 1024;

    /// `user_data` as C keeps it: an address, sendable to the event loop.
    #[derive(Clone, Copy)]
    struct UserData(usize);

    impl UserData {
        fn ptr(self) -> *mut c_void {
            std::ptr::null_mut::<u8>().wrapping_add(self.0).cast()
        }
    }

    enum Request {
        Get {
            op: u64,
            key: String,
            cb: GetCallback,
            user_data: UserData,
        },
        Cancel {
            op: u64,
        },
        Flush,
        Download {
            op: u64,
            chunks: usize,
            window: usize,
            on_chunk: ChunkCallback,
            on_final: FinalCallback,
            user_data: UserData,
        },
        UpdateWindow {
            op: u64,
            bytes: usize,
        },
        Shutdown {
            cb: ShutdownCallback,
            user_data: UserData,
        },
    }

    struct Download {
        remaining: usize,
        open: usize,
        on_chunk: ChunkCallback,
        on_final: FinalCallback,
        user_data: UserData,
    }

    static REQUESTS: Mutex<Option<mpsc::Sender<Request>>> = Mutex::new(None);
    static NEXT_OP: AtomicUsize = AtomicUsize::new(1);
    pub static WINDOW_UPDATES: AtomicUsize = AtomicUsize::new(0);
    pub static CANCELS: AtomicUsize = AtomicUsize::new(0);

    fn send(request: Request) {
        if let Some(requests) = REQUESTS.lock().unwrap().as_ref() {
            let _ = requests.send(request);
        }
    }

    /// `sdk_init()`: starts the event loop.
    pub fn init() -> thread::JoinHandle<()> {
        let (requests, inbox) = mpsc::channel();
        *REQUESTS.lock().unwrap() = Some(requests);
        thread::Builder::new()
            .name("sdk-event-loop".into())
            .spawn(move || run(inbox))
            .expect("spawn the SDK event loop")
    }

    /// `int sdk_get(const char *key, sdk_get_cb cb, void *user_data, uint64_t *op)`.
    /// Returns non-zero (and never calls back) for an empty key. Keys starting with
    /// `slow/` are held until `sdk_flush`; `twice` is answered twice (a bug); `lost` is
    /// never answered (another).
    pub fn get(key: &str, cb: GetCallback, user_data: *mut c_void, op: &mut u64) -> c_int {
        if key.is_empty() {
            return 22; // EINVAL
        }
        *op = NEXT_OP.fetch_add(1, Ordering::Relaxed) as u64;
        let user_data = UserData(user_data as usize);
        send(Request::Get {
            op: *op,
            key: key.to_string(),
            cb,
            user_data,
        });
        0
    }

    /// `void sdk_cancel(uint64_t op)`: a held operation is answered with ECANCELED.
    pub fn cancel(op: u64) {
        CANCELS.fetch_add(1, Ordering::Relaxed);
        send(Request::Cancel { op });
    }

    /// `void sdk_flush(void)`: answers every held operation.
    pub fn flush() {
        send(Request::Flush);
    }

    /// `uint64_t sdk_download(size_t chunks, size_t window, ...)`: streams `chunks`
    /// chunks of 16 KiB, never more than `window` bytes beyond what the reader re-opened
    /// with `sdk_update_window` (the AWS CRT's read window), then calls `on_final`.
    pub fn download(
        chunks: usize,
        window: usize,
        on_chunk: ChunkCallback,
        on_final: FinalCallback,
        user_data: *mut c_void,
    ) -> u64 {
        let op = NEXT_OP.fetch_add(1, Ordering::Relaxed) as u64;
        let user_data = UserData(user_data as usize);
        send(Request::Download {
            op,
            chunks,
            window,
            on_chunk,
            on_final,
            user_data,
        });
        op
    }

    /// `void sdk_update_window(uint64_t op, size_t bytes)`.
    pub fn update_window(op: u64, bytes: usize) {
        WINDOW_UPDATES.fetch_add(1, Ordering::Relaxed);
        send(Request::UpdateWindow { op, bytes });
    }

    /// `void sdk_shutdown(sdk_shutdown_cb cb, void *user_data)`: stops the event loop;
    /// `cb` is its last act. Operations still held are dropped without a callback.
    pub fn shutdown(cb: ShutdownCallback, user_data: *mut c_void) {
        let user_data = UserData(user_data as usize);
        send(Request::Shutdown { cb, user_data });
        REQUESTS.lock().unwrap().take();
    }

    /// Calls `cb` with a payload that is valid only during the call.
    fn answer(cb: GetCallback, user_data: UserData, code: c_int, value: Option<String>) {
        let mut buffer = value.map(String::into_bytes).unwrap_or_default();
        cb(user_data.ptr(), code, buffer.as_ptr(), buffer.len());
        buffer.fill(0xDD); // what C does with a buffer it owns, right after the call
    }

    fn run(inbox: mpsc::Receiver<Request>) {
        let mut held: HashMap<u64, (String, GetCallback, UserData)> = HashMap::new();
        let mut downloads: HashMap<u64, Download> = HashMap::new();
        for request in inbox {
            match request {
                Request::Get { key, .. } if key == "lost" => {}
                Request::Get {
                    op,
                    key,
                    cb,
                    user_data,
                } if key.starts_with("slow/") => {
                    held.insert(op, (key, cb, user_data));
                }
                Request::Get {
                    key, cb, user_data, ..
                } => {
                    answer(cb, user_data, 0, Some(format!("value of {key}")));
                    if key == "twice" {
                        answer(cb, user_data, 0, Some("a second answer".into()));
                    }
                }
                Request::Cancel { op } => {
                    if let Some((_, cb, user_data)) = held.remove(&op) {
                        answer(cb, user_data, ECANCELED, None);
                    }
                }
                Request::Flush => {
                    let mut ops: Vec<_> = held.drain().collect();
                    ops.sort_by_key(|(op, _)| *op);
                    for (_, (key, cb, user_data)) in ops {
                        answer(cb, user_data, 0, Some(format!("value of {key}")));
                    }
                }
                Request::Download {
                    op,
                    chunks,
                    window,
                    on_chunk,
                    on_final,
                    user_data,
                } => {
                    let download = Download {
                        remaining: chunks,
                        open: window,
                        on_chunk,
                        on_final,
                        user_data,
                    };
                    downloads.insert(op, download);
                    pump(&mut downloads, op);
                }
                Request::UpdateWindow { op, bytes } => {
                    if let Some(download) = downloads.get_mut(&op) {
                        download.open += bytes;
                        pump(&mut downloads, op);
                    }
                }
                Request::Shutdown { cb, user_data } => {
                    cb(user_data.ptr());
                    break;
                }
            }
        }
    }

    /// Sends chunks while the window is open; finishes the download after the last.
    fn pump(downloads: &mut HashMap<u64, Download>, op: u64) {
        let Some(d) = downloads.get_mut(&op) else {
            return;
        };
        while d.remaining > 0 && d.open >= CHUNK {
            let mut chunk = vec![(d.remaining % 251) as u8; CHUNK];
            (d.on_chunk)(d.user_data.ptr(), chunk.as_ptr(), chunk.len());
            chunk.fill(0xDD);
            d.open -= CHUNK;
            d.remaining -= 1;
        }
        if d.remaining == 0 {
            let d = downloads.remove(&op).expect("present");
            (d.on_final)(d.user_data.ptr(), 0);
        }
    }
}

/// The binding: what a library author writes with anywait.
mod binding {
    use super::*;

    static GETS: Completions<Vec<u8>> = Completions::new();
    static BODIES: Feeders<Vec<u8>, CallbackError> = Feeders::new();
    static SHUTDOWN: Setters = Setters::new();

    anywait::trampoline! {
        /// The SDK's get callback: copies the payload before returning, completes the
        /// operation (a duplicate or late call is refused and counted), contains panics.
        extern "C" fn on_get(user_data, error_code, payload, len) completes GETS;
    }
    anywait::trampoline! {
        /// Per body chunk: copied and pushed, never blocking the event loop.
        extern "C" fn on_chunk(user_data, payload, len) feeds BODIES;
    }
    anywait::trampoline! {
        /// The body's final callback: finishes the stream and releases its handle.
        extern "C" fn on_final(user_data, error_code) ends BODIES;
    }

    extern "C" fn on_shutdown(user_data: *mut c_void) {
        let handle = anywait::ffi::CompletionHandle::from_user_data(user_data);
        let _ = anywait::ffi::catch_callback(anywait::ffi::PanicPolicy::Abort, || {
            let _ = SHUTDOWN.set(handle);
            let _ = SHUTDOWN.release(handle);
        });
    }

    /// `get(key)`: a future of the value, under any executor, or waited on blockingly.
    /// Dropping it before the SDK answers cancels the operation in the SDK.
    pub fn get(key: &str) -> TryWaitableFuture<Vec<u8>, CallbackError> {
        let (handle, future) = GETS.issue();
        let mut op = 0;
        if sdk::get(key, on_get, handle.into_user_data(), &mut op) != 0 {
            // A failed start never calls back: reclaim the handle, resolve at once.
            let _ = GETS.abandon(handle);
            return future;
        }
        future.on_cancel(move || sdk::cancel(op))
    }

    /// Late, duplicate and unknown callbacks refused so far.
    pub fn refused_callbacks() -> usize {
        GETS.refused()
    }

    /// Downloads `chunks` chunks through a read window of `window` bytes.
    pub fn download(
        chunks: usize,
        window: usize,
    ) -> anywait::CallbackStream<Vec<u8>, CallbackError> {
        let (feeder, body) = callback_stream(StreamPolicy::Window {
            initial: window,
            weigh: |chunk: &Vec<u8>| chunk.len(),
        });
        let user_data = BODIES
            .insert(feeder)
            .expect("a free handle")
            .into_user_data();
        let op = sdk::download(chunks, window, on_chunk, on_final, user_data);
        // The SDK's stream exists now: re-open its window as the consumer takes chunks.
        body.on_credit(move |bytes| sdk::update_window(op, bytes));
        body
    }

    /// Shuts the SDK down; the returned event is set by its shutdown callback. Every
    /// operation it still held is abandoned: its future resolves with an error.
    pub fn shutdown() -> (Arc<AsyncEvent>, usize) {
        let done = Arc::new(AsyncEvent::new());
        let handle = SHUTDOWN
            .insert(EventSetter::new(&done))
            .expect("a free handle");
        sdk::shutdown(on_shutdown, handle.into_user_data());
        done.wait_blocking();
        (done, GETS.abandon_all())
    }
}

/// The value as text, or the error: one level, as a binding's users see it.
fn show(result: Result<Vec<u8>, CallbackError>) -> String {
    match result {
        Ok(bytes) => format!("{:?}", String::from_utf8_lossy(&bytes)),
        Err(error) => format!("error: {error}"),
    }
}

fn main() {
    let event_loop = sdk::init();
    println!("anywait tour: a C-style SDK with its own event-loop thread\n");

    println!("1. one binding, awaited under six executors:");
    println!(
        "  pollster:               {}",
        show(pollster::block_on(binding::get("pollster")))
    );
    println!(
        "  futures::executor:      {}",
        show(futures::executor::block_on(binding::get("futures")))
    );
    println!(
        "  smol:                   {}",
        show(smol::block_on(binding::get("smol")))
    );
    let current = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    println!(
        "  tokio (current thread): {}",
        show(current.block_on(binding::get("tokio")))
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let task = runtime.spawn(binding::get("tokio-task")); // a real task on a worker thread
    println!(
        "  tokio (spawned task):   {}",
        show(runtime.block_on(task).unwrap())
    );
    let executor = async_executor::Executor::new();
    let task = executor.spawn(binding::get("async-executor"));
    println!(
        "  async-executor:         {}",
        show(futures::executor::block_on(executor.run(task)))
    );

    println!("\n2. blocking waits for sync callers:");
    println!(
        "  wait_blocking:          {}",
        show(binding::get("blocking").wait_blocking())
    );
    let mut slow = binding::get("slow/report");
    let first = slow.wait_timeout(Duration::from_millis(20));
    println!(
        "  wait_timeout(20 ms):    {} (the future is still usable)",
        show(first)
    );
    sdk::flush();
    println!(
        "  after the SDK answers:  {}",
        show(slow.wait_timeout(Duration::from_secs(10)))
    );

    println!("\n3. a done-callback instead of a future (no executor at all):");
    let (tx, rx) = mpsc::channel();
    let report = move |result| {
        let thread = thread::current().name().unwrap_or("?").to_string();
        tx.send((thread, show(result))).unwrap();
    };
    binding::get("slow/callback").on_complete(report.clone());
    sdk::flush(); // the SDK answers after the callback was registered...
    let (thread, value) = rx.recv().unwrap();
    println!("  registered first: ran on thread {thread:?} with {value}");
    let ready = binding::get("ready");
    // The event loop answers in order: once "barrier" is answered, so is "ready".
    binding::get("barrier").wait_blocking().unwrap();
    ready.on_complete(report); // ...or before: then it runs at once, on this thread
    let (thread, value) = rx.recv().unwrap();
    println!("  registered after: ran on thread {thread:?} with {value}");

    println!("\n4. cancellation: the caller gives up, the SDK is told:");
    let slow = binding::get("slow/given-up");
    let fast = binding::get("fast");
    let winner = futures::executor::block_on(async {
        futures::select_biased! {
            _ = futures::FutureExt::fuse(slow) => "the slow operation",
            _ = futures::FutureExt::fuse(fast) => "the fast operation",
        }
    });
    println!("  select! finished with {winner}; dropping the slow future canceled it in the SDK");
    // The SDK answers the canceled operation with ECANCELED; nobody reads it. One more
    // round trip through the (in-order) event loop shows that has happened.
    binding::get("barrier").wait_blocking().unwrap();
    println!(
        "  the SDK received {} cancel; its late answer was handed to nobody",
        sdk::CANCELS.load(Ordering::Relaxed)
    );

    println!("\n5. an SDK that misbehaves:");
    let before = binding::refused_callbacks();
    println!(
        "  calls back twice:       {}",
        show(binding::get("twice").wait_blocking())
    );
    binding::get("barrier").wait_blocking().unwrap();
    println!(
        "    the second callback was refused ({} refused)",
        binding::refused_callbacks() - before
    );
    println!(
        "  refuses to start:       {}",
        show(binding::get("").wait_blocking())
    );
    let lost = binding::get("lost"); // never answered: resolved at shutdown (step 8)

    println!("\n6. one result, many waiters: a real task and a real thread:");
    let shared = binding::get("slow/config").shared();
    let thread_waiter = {
        let shared = shared.clone();
        thread::spawn(move || shared.wait_blocking())
    };
    let task = runtime.spawn(shared.clone());
    sdk::flush();
    println!(
        "  the thread got:         {}",
        show(thread_waiter.join().unwrap())
    );
    println!(
        "  the task got:           {}",
        show(runtime.block_on(task).unwrap())
    );

    println!("\n7. a body larger than its read window, as a Stream:");
    const WINDOW: usize = 64 * 1024;
    let chunks = 64; // 1 MiB: sixteen windows' worth
    let mut body = binding::download(chunks, WINDOW);
    let (mut bytes, mut peak) = (0, 0);
    while let Some(chunk) = body.next_blocking() {
        bytes += chunk.expect("the body arrives whole").len();
        peak = peak.max(body.stats().buffered_weight);
    }
    println!(
        "  received {} KiB through a {} KiB window; the consumer re-opened it {} times",
        bytes / 1024,
        WINDOW / 1024,
        sdk::WINDOW_UPDATES.load(Ordering::Relaxed)
    );
    println!(
        "  the stream never held more than the window: {}",
        peak <= WINDOW
    );

    println!("\n8. shutdown: an AsyncEvent set from the SDK's thread, nothing left hanging:");
    let (shut_down, abandoned) = binding::shutdown();
    println!("  shutdown complete:      {}", shut_down.is_set());
    println!("  operations abandoned:   {abandoned}");
    println!("  the lost operation:     {}", show(lost.wait_blocking()));
    event_loop.join().unwrap();
    println!("\ndone: every operation was answered, canceled, refused or reported abandoned.");
}
