mod event;
mod oneshot;
