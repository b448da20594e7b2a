mod event;
mod oneshot;
mod shared;
