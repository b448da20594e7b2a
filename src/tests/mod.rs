mod event;
mod oneshot;
mod shared;
mod stream;
mod support;
