//! An `AsyncEvent` set from a C-style callback: a simulated SDK stores `user_data` as a
//! `usize`, fires `extern "C" fn(user_data)` from its own thread several times, and
//! finally calls its destroy callback, which releases the reference with `from_raw`.

mod support;

use std::ffi::c_void;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anywait::{AsyncEvent, EventSetter};

type Callback = extern "C" fn(user_data: *mut c_void);

static FIRED: AtomicUsize = AtomicUsize::new(0);
static DESTROYED: AtomicUsize = AtomicUsize::new(0);

/// The SDK's event callback: may run any number of times, on the SDK's thread.
extern "C" fn on_event(user_data: *mut c_void) {
    FIRED.fetch_add(1, Ordering::SeqCst);
    // SAFETY: `user_data` came from `EventSetter::into_raw`; the SDK calls `on_destroy`
    // only after its last `on_event`.
    unsafe { EventSetter::set_raw(user_data) };
}

/// The SDK's "user data destroy" callback: runs exactly once, after the last event.
extern "C" fn on_destroy(user_data: *mut c_void) {
    DESTROYED.fetch_add(1, Ordering::SeqCst);
    // SAFETY: from `into_raw`, released exactly once, never used again.
    drop(unsafe { EventSetter::from_raw(user_data) });
}

/// What a C SDK keeps: a plain integer for the user data and two function pointers.
struct FakeSdk {
    user_data: usize,
    on_event: Callback,
    on_destroy: Callback,
}

impl FakeSdk {
    /// Runs the SDK's event loop on its own thread: fires `on_event` once per command,
    /// then `on_destroy` when the command channel closes.
    fn start(self, commands: mpsc::Receiver<()>) -> thread::JoinHandle<()> {
        thread::spawn(move || {
            for () in commands {
                (self.on_event)(self.user_data as *mut c_void);
            }
            (self.on_destroy)(self.user_data as *mut c_void);
        })
    }
}

#[test]
fn c_callback_sets_event_and_destroy_releases_it() {
    // On a helper thread, so that a lost wake-up fails the test instead of hanging it. The
    // bound is a hang guard only, far above any legitimate run time.
    support::guarded(
        Duration::from_secs(120),
        "hung: a wake-up was lost",
        callback_round_trip,
    );
}

fn callback_round_trip() {
    let event = Arc::new(AsyncEvent::new());
    let sdk = FakeSdk {
        user_data: EventSetter::new(&event).into_raw() as usize,
        on_event,
        on_destroy,
    };
    assert_eq!(Arc::strong_count(&event), 2, "user_data owns one reference");
    let (fire, commands) = mpsc::channel();
    let sdk_thread = sdk.start(commands);

    let rounds = 4;
    for round in 0..rounds {
        // A future registered before the callback fires, and a blocked thread.
        let mut wait = pin!(event.wait());
        let waker = futures::task::noop_waker();
        let first = wait
            .as_mut()
            .poll(&mut std::task::Context::from_waker(&waker));
        assert!(
            first.is_pending(),
            "round {round}: released before the callback"
        );
        let (ready_tx, ready_rx) = mpsc::channel();
        let blocked = {
            let event = event.clone();
            thread::spawn(move || {
                ready_tx.send(()).unwrap();
                event.wait_timeout(Duration::from_secs(3600))
            })
        };
        ready_rx.recv().unwrap();
        fire.send(()).unwrap();
        futures::executor::block_on(wait);
        assert!(
            blocked.join().unwrap(),
            "round {round}: blocked thread timed out"
        );
        assert!(event.is_set());
        event.clear();
    }
    // Fire twice more with nobody waiting: setting an event whose waiters are gone is fine.
    fire.send(()).unwrap();
    fire.send(()).unwrap();
    drop(fire);
    sdk_thread.join().unwrap();

    assert_eq!(FIRED.load(Ordering::SeqCst), rounds + 2);
    assert_eq!(DESTROYED.load(Ordering::SeqCst), 1);
    assert!(event.is_set());
    assert_eq!(
        Arc::strong_count(&event),
        1,
        "the destroy callback did not release user_data's reference"
    );
}
