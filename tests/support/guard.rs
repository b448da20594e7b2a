//! Guards that turn a hang into a failure, and a quiet panic hook for expected panics:
//! [`GUARD`], [`LONG`], [`guarded`], [`quiet_panics`]. Needs nothing but `std`, so the
//! unit tests in `src/tests/` include it too (by `#[path]`, from `src/tests/support.rs`).

// Each test binary, and the unit tests, use a subset of these helpers.
#![allow(dead_code)]

use std::panic;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// A failure guard: no correct run comes anywhere near it.
pub const GUARD: Duration = Duration::from_secs(60);

/// A timeout that never expires in a test.
pub const LONG: Duration = Duration::from_secs(3600);

/// Runs `f` on a thread of its own and returns its result (a panic in `f` is resumed
/// here); fails the test with `hung` if `f` does not finish within `guard`. A hang guard
/// only, far above any legitimate run time: it turns a lost wake-up or a deadlock into a
/// failure.
pub fn guarded<R: Send + 'static>(
    guard: Duration,
    hung: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(guard) {
        Ok(r) => {
            worker.join().unwrap();
            r
        }
        // `f` panicked (the sender was dropped): propagate its panic.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic::resume_unwind(worker.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{hung}"),
    }
}

/// Keeps expected panics (caught on purpose; their payload is a `P`) out of the output:
/// every other panic is reported as usual. Installed once per test binary, for one `P`.
pub fn quiet_panics<P: 'static>() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<P>().is_none() {
                default(info);
            }
        }));
    });
}
