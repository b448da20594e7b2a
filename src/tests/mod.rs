mod oneshot;
