mod event;
mod ffi;
mod oneshot;
mod shared;
mod stream;
mod support;
