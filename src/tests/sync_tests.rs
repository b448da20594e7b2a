//! Unit tests of the sync shim's spin lock (`crate::sync::SpinLock`, the lock behind a
//! callback stream's state). loom cannot model a spin lock under a preemption bound, so
//! these std tests are its check: under Miri (`cargo +nightly miri test --lib`) its
//! data-race detector sees every access to the guarded value.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use crate::sync::SpinLock;

/// Threads that each add to a plain counter under the lock, released together: the sum
/// is exact (a lost update would show), and no two guards are ever alive at once.
#[test]
fn spin_lock_excludes_and_publishes() {
    const THREADS: usize = 4;
    const ADDS: usize = if cfg!(miri) { 50 } else { 20_000 };
    let lock = Arc::new(SpinLock::new(0usize));
    let inside = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (lock, inside, start) = (lock.clone(), inside.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for _ in 0..ADDS {
                    let mut count = lock.lock();
                    assert!(!inside.swap(true, Ordering::SeqCst), "two guards at once");
                    *count += 1;
                    inside.store(false, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(*lock.lock(), THREADS * ADDS);
}

/// A failed `try_lock` leaves the holder's lock held (a guard made for nothing and
/// dropped would release it), and the lock is free again once the guard goes.
#[test]
fn spin_lock_try_lock_fails_while_held_and_leaves_it_held() {
    let lock = SpinLock::new(1u8);
    let guard = lock.lock();
    assert!(lock.try_lock().is_none());
    assert!(
        lock.try_lock().is_none(),
        "a failed try_lock released the lock"
    );
    drop(guard);
    let mut guard = lock.try_lock().expect("free once the guard is dropped");
    *guard += 1;
    drop(guard);
    assert_eq!(*lock.lock(), 2);
}

/// A thread waiting in `lock` gets the lock once its holder lets go, and sees the
/// holder's write.
#[test]
fn spin_lock_waiter_gets_the_lock_after_the_holder() {
    let lock = Arc::new(SpinLock::new(Vec::new()));
    let mut guard = lock.lock();
    let waiter = {
        let lock = lock.clone();
        thread::spawn(move || lock.lock().push("waiter"))
    };
    guard.push("holder");
    drop(guard);
    waiter.join().unwrap();
    assert_eq!(*lock.lock(), vec!["holder", "waiter"]);
}
