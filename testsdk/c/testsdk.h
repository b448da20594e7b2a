/*
 * testsdk.h - a small callback SDK that misbehaves on purpose.
 *
 * Used only by anywait's tests: every operation calls back in one of the
 * awkward ways real C SDKs do (on a foreign thread, synchronously, twice, never,
 * late after a cancel, from several threads at once, while holding a global
 * lock, ...), so the Rust wrappers can be exercised against each of them.
 *
 * Threading rules:
 *  - Everything is thread-safe. The SDK object has one internal mutex; no
 *    callback is ever invoked while it is held.
 *  - TSDK_ASYNC_UNDER_LOCK callbacks (and all callbacks of a stream started in
 *    that mode) run while holding the SDK's recursive "global callback lock",
 *    like paho.mqtt.c's global mutex. tsdk_cancel takes that lock too, so a
 *    tsdk_cancel from another thread blocks until such a callback returns.
 *    Because the lock is recursive and the internal mutex is never held during
 *    a callback, every tsdk_* function except tsdk_shutdown and tsdk_free may
 *    be called from inside any callback, including under-lock ones.
 *  - tsdk_shutdown / tsdk_free must not be called from inside a callback
 *    (the SDK aborts the process if it detects it would join its own thread).
 *
 * Counters (tsdk_callbacks_made, tsdk_ops_outstanding) are updated just BEFORE
 * the callback they describe is invoked: an op counts as finished as soon as its
 * final callback (or, for TSDK_TWICE / TSDK_CONCURRENT, its last batch of
 * callbacks) is about to run. So a test that learns of a callback through a
 * channel sees counters that already include it.
 *
 * Resource failures (malloc, pthread_create) abort the process: this is a test
 * SDK and a half-started operation would only confuse the tests.
 */
#ifndef TESTSDK_H
#define TESTSDK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsdk tsdk;

/* One-shot completion. */
typedef void (*tsdk_done_fn)(void *user_data, int error_code);
/* One-shot completion with a payload valid only during the call (may be NULL, len 0). */
typedef void (*tsdk_payload_fn)(void *user_data, int error_code, const uint8_t *payload, size_t len);
/* One stream chunk, valid only during the call. */
typedef void (*tsdk_chunk_fn)(void *user_data, const uint8_t *chunk, size_t len);
/* End of a stream: exactly once per started stream (tsdk_shutdown delivers it if nothing else has). */
typedef void (*tsdk_final_fn)(void *user_data, int error_code);

/* How an operation calls back. */
enum tsdk_mode {
  TSDK_ASYNC = 0,                  /* once, from a thread of the SDK's own */
  TSDK_SYNC = 1,                   /* once, synchronously inside the start call, before it returns */
  TSDK_TWICE = 2,                  /* twice from its own thread, same user_data; the second with TSDK_ERR_DUPLICATE */
  TSDK_NEVER = 3,                  /* not until tsdk_shutdown, which calls back with TSDK_ERR_SHUTDOWN */
  TSDK_NEVER_EVEN_AT_SHUTDOWN = 4, /* never at all (the op stays outstanding forever) */
  TSDK_LATE_AFTER_CANCEL = 5,      /* waits for tsdk_cancel(op), then calls back with TSDK_ERR_CANCELED from its
                                      own thread; at shutdown (if not canceled first) TSDK_ERR_SHUTDOWN from the
                                      thread calling tsdk_shutdown */
  TSDK_CONCURRENT = 6,             /* from n threads (tsdk_set_concurrency, default 4) released together by a
                                      barrier; thread 0 passes result_code, the others TSDK_ERR_DUPLICATE */
  TSDK_FAIL_START = 7,             /* the start call returns TSDK_ERR_START and never calls back */
  TSDK_ASYNC_UNDER_LOCK = 8        /* like TSDK_ASYNC, but the callback runs holding the global callback lock */
};

#define TSDK_OK 0
#define TSDK_ERR_START 1     /* start failed (TSDK_FAIL_START, or invalid arguments); no callback will come */
#define TSDK_ERR_DUPLICATE 2 /* a second (third, ...) callback of the same op */
#define TSDK_ERR_SHUTDOWN 3  /* delivered by tsdk_shutdown; also returned by start calls after shutdown */
#define TSDK_ERR_CANCELED 4  /* the op was canceled */

/* Creates an SDK object. Never returns NULL (aborts on allocation failure). */
tsdk *tsdk_new(void);

/* Number of threads used by later TSDK_CONCURRENT ops (0 is treated as 1). */
void tsdk_set_concurrency(tsdk *sdk, unsigned n_threads);

/*
 * Starts a one-shot op that reports `result_code` through `cb(user_data, code)`.
 * Returns 0, TSDK_ERR_START (TSDK_FAIL_START, NULL sdk or cb) or TSDK_ERR_SHUTDOWN
 * (after tsdk_shutdown); on error cb is never called and *op_out is 0.
 * *op_out (if op_out is not NULL) gets the op id (>= 1) BEFORE any callback can run.
 */
int tsdk_start_op(tsdk *sdk, enum tsdk_mode mode, int result_code, tsdk_done_fn cb, void *user_data,
                  uint64_t *op_out);

/*
 * Like tsdk_start_op, but the callback also gets a payload: a fresh heap copy of
 * `payload` (`len` bytes, copied at start) that is valid ONLY during the callback;
 * right after it returns the SDK overwrites it with 0xDD bytes and frees it.
 * Callbacks carrying result_code or TSDK_ERR_DUPLICATE get the payload; callbacks
 * carrying TSDK_ERR_SHUTDOWN or TSDK_ERR_CANCELED get (NULL, 0).
 */
int tsdk_start_payload_op(tsdk *sdk, enum tsdk_mode mode, int result_code, const uint8_t *payload, size_t len,
                          tsdk_payload_fn cb, void *user_data, uint64_t *op_out);

/*
 * Starts a stream. From its own thread it calls on_chunk n_chunks times with
 * chunk_len-byte chunks (chunk i filled with (i & 0xff); valid only during the
 * call, overwritten with 0xDD and freed after), then on_final(user_data, 0) once.
 * If canceled it stops before the next chunk and calls on_final(TSDK_ERR_CANCELED);
 * at shutdown tsdk_shutdown calls on_final(TSDK_ERR_SHUTDOWN) itself, after any
 * on_chunk in progress has returned. on_final is called exactly once, and never
 * concurrently with on_chunk.
 * Flow control (like the AWS CRT read window): if window > 0 the SDK keeps
 * open = window, waits (condvar) before each chunk until open >= chunk_len (or
 * cancel/shutdown) and subtracts chunk_len when sending; tsdk_stream_update_window
 * adds to open. window == 0: no flow control.
 * Modes: TSDK_FAIL_START fails, TSDK_ASYNC_UNDER_LOCK runs every callback under
 * the global callback lock, any other mode behaves as TSDK_ASYNC.
 */
int tsdk_start_stream(tsdk *sdk, enum tsdk_mode mode, size_t n_chunks, size_t chunk_len, size_t window,
                      tsdk_chunk_fn on_chunk, tsdk_final_fn on_final, void *user_data, uint64_t *op_out);

/* Opens a stream's window by `bytes` (saturating). Unknown/finished ops are ignored. */
void tsdk_stream_update_window(tsdk *sdk, uint64_t op, size_t bytes);

/*
 * Asks the SDK to cancel op; every call is counted (tsdk_cancels_received).
 * Returns 1 if the op was still live (its final callback not yet begun), 0 if
 * unknown or finished. Only TSDK_LATE_AFTER_CANCEL ops and streams react; other
 * ops ignore the request. Takes the global callback lock. Safe inside any callback.
 */
int tsdk_cancel(tsdk *sdk, uint64_t op);

/* Number of tsdk_cancel calls so far (for any op id). */
uint64_t tsdk_cancels_received(tsdk *sdk);

/* Number of callbacks invoked so far (all kinds, including on_chunk). */
uint64_t tsdk_callbacks_made(tsdk *sdk);

/* Ops started and not yet finished with their final callback (TSDK_NEVER_EVEN_AT_SHUTDOWN ops stay counted). */
uint64_t tsdk_ops_outstanding(tsdk *sdk);

/*
 * Calls back every pending TSDK_NEVER / TSDK_LATE_AFTER_CANCEL op and every
 * unfinished stream (on_final) with TSDK_ERR_SHUTDOWN from the calling thread,
 * then joins every SDK thread. Later start calls return TSDK_ERR_SHUTDOWN.
 * Idempotent (a second call returns at once). Must not be called from inside
 * a callback, nor concurrently with tsdk_free.
 */
void tsdk_shutdown(tsdk *sdk);

/* tsdk_shutdown, then frees everything. NULL is ignored. */
void tsdk_free(tsdk *sdk);

#ifdef __cplusplus
}
#endif

#endif /* TESTSDK_H */
