//! The binding's error type.

use std::ffi::CStr;
use std::fmt;

use anywait::panics::CallbackPanic;
use anywait::{Abandoned, Elapsed};

use crate::sys;

/// Why a CRT operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrtError {
    /// The CRT reported this error code (`aws_last_error()` or a callback's `error_code`).
    Crt(i32),
    /// The CRT never called back (the operation was dropped by the CRT, or the binding
    /// abandoned it at shutdown).
    Abandoned,
    /// A callback of this binding panicked (contained; never unwound into the CRT).
    Panicked(Option<String>),
    /// A timed wait ran out first.
    Elapsed,
}

impl CrtError {
    /// The CRT's last error on this thread.
    pub fn last() -> CrtError {
        // SAFETY: aws_last_error reads a thread-local; always safe after init.
        CrtError::Crt(unsafe { sys::aws_last_error() })
    }

    /// The CRT's name for the code (`AWS_IO_DNS_INVALID_NAME`, ...), if this is a CRT code.
    pub fn name(&self) -> Option<String> {
        match self {
            CrtError::Crt(code) => {
                crate::init();
                // SAFETY: aws_error_name returns a static NUL-terminated string for any code
                // (an "unknown" one for codes it does not know).
                let name = unsafe { sys::aws_error_name(*code) };
                if name.is_null() {
                    return None;
                }
                // SAFETY: non-null, static and NUL-terminated (above).
                Some(
                    unsafe { CStr::from_ptr(name) }
                        .to_string_lossy()
                        .into_owned(),
                )
            }
            _ => None,
        }
    }

    /// A `CrtError` from a callback's `error_code`: `Ok(())` for 0.
    pub fn check(code: i32) -> Result<(), CrtError> {
        if code == 0 {
            Ok(())
        } else {
            Err(CrtError::Crt(code))
        }
    }
}

impl fmt::Display for CrtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrtError::Crt(code) => match self.name() {
                Some(name) => write!(f, "CRT error {code} ({name})"),
                None => write!(f, "CRT error {code}"),
            },
            CrtError::Abandoned => f.write_str("the CRT never called back"),
            CrtError::Panicked(Some(message)) => write!(f, "a callback panicked: {message}"),
            CrtError::Panicked(None) => f.write_str("a callback panicked"),
            CrtError::Elapsed => f.write_str("timed out"),
        }
    }
}

impl std::error::Error for CrtError {}

impl From<Abandoned> for CrtError {
    fn from(_: Abandoned) -> Self {
        CrtError::Abandoned
    }
}

impl From<Elapsed> for CrtError {
    fn from(_: Elapsed) -> Self {
        CrtError::Elapsed
    }
}

impl From<CallbackPanic> for CrtError {
    fn from(panic: CallbackPanic) -> Self {
        CrtError::Panicked(panic.message().map(str::to_string))
    }
}
