//! Window credit for stream producers ([`Credit`]): flow control as an SDK with a read
//! window does it.

// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::sync::{Arc, Condvar, Mutex};

use anywait::StreamFeeder;

/// A producer's own credit counter for a window stream, re-opened by `on_credit`. The
/// producer pushes only while it has credit (`> 0`) and otherwise waits on the condvar:
/// flow control, as an SDK with a read window does it.
pub struct Credit {
    pub open: Mutex<isize>,
    pub reopened: Condvar,
}

impl Credit {
    /// Starts at `initial` and installs the `on_credit` hook on `feeder`.
    pub fn install<T, E>(feeder: &StreamFeeder<T, E>, initial: usize) -> Arc<Credit> {
        let credit = Arc::new(Credit {
            open: Mutex::new(initial as isize),
            reopened: Condvar::new(),
        });
        let hook = credit.clone();
        feeder.on_credit(move |weight| {
            *hook.open.lock().unwrap() += weight as isize;
            hook.reopened.notify_one();
        });
        credit
    }

    /// Waits until there is credit, then takes `weight` of it.
    pub fn take(&self, weight: usize) {
        let mut open = self.open.lock().unwrap();
        while *open <= 0 {
            open = self.reopened.wait(open).unwrap();
        }
        *open -= weight as isize;
    }
}
