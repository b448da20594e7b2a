/*
 * testsdk.c - implementation of the misbehaving test SDK (see testsdk.h).
 *
 * Structure: the SDK keeps a singly linked list of ops under `mu`. An op that
 * needs a thread gets one (TSDK_CONCURRENT: n threads) at start; the op stays in
 * the list until it is finished AND all its threads have exited, then the next
 * start call unlinks it ("reaping") and joins/frees it outside the lock.
 * tsdk_shutdown delivers the pending shutdown callbacks and joins/frees the rest.
 * One condition variable `cv` is broadcast on every state change (cancel,
 * window update, end of a chunk, shutdown); waiters re-check their condition.
 *
 * Lock order: cb_lock (recursive, "global callback lock") before mu. No
 * callback is ever invoked while holding mu.
 */
#define _XOPEN_SOURCE 700 /* pthread barriers, PTHREAD_MUTEX_RECURSIVE */

#include "testsdk.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op_kind { KIND_DONE, KIND_PAYLOAD, KIND_STREAM };

typedef struct tsdk_op tsdk_op;

/* One SDK thread working for an op. */
struct worker {
  tsdk_op *op;
  unsigned index;
  pthread_t thread;
};

struct tsdk_op {
  tsdk_op *next;
  tsdk *sdk;
  uint64_t id;
  enum op_kind kind;
  enum tsdk_mode mode;
  int result_code;
  void *user_data;
  tsdk_done_fn done_cb;       /* KIND_DONE */
  tsdk_payload_fn payload_cb; /* KIND_PAYLOAD */
  tsdk_chunk_fn chunk_cb;     /* KIND_STREAM */
  tsdk_final_fn final_cb;     /* KIND_STREAM */
  uint8_t *payload;           /* KIND_PAYLOAD: the SDK's own copy */
  size_t len;
  size_t n_chunks, chunk_len; /* KIND_STREAM */
  size_t open;                /* open window bytes (flow control only) */
  int flow;                   /* window > 0 was given */
  int in_chunk;               /* the stream thread is inside on_chunk */
  int canceled;               /* tsdk_cancel was called while live */
  int finished;               /* the final callback has been claimed */
  unsigned arrived;           /* TSDK_CONCURRENT: threads that reached the barrier */
  unsigned n_workers, workers_done;
  struct worker *workers;
  pthread_barrier_t barrier; /* TSDK_CONCURRENT only */
};

struct tsdk {
  pthread_mutex_t mu;      /* protects everything below */
  pthread_cond_t cv;       /* broadcast on every state change */
  pthread_mutex_t cb_lock; /* recursive global callback lock (paho-style) */
  tsdk_op *ops;
  uint64_t next_id;
  unsigned concurrency;
  int shut_down;
  uint64_t cancels, callbacks, outstanding;
};

/* ---- small helpers ------------------------------------------------------ */

static void die(const char *what) {
  fprintf(stderr, "testsdk: %s\n", what);
  abort();
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) die("out of memory");
  return p;
}

static void lock(pthread_mutex_t *m) {
  if (pthread_mutex_lock(m)) die("pthread_mutex_lock failed");
}

static void unlock(pthread_mutex_t *m) {
  if (pthread_mutex_unlock(m)) die("pthread_mutex_unlock failed");
}

/* A scratch copy of `len` bytes handed to one callback (NULL for len == 0). */
static uint8_t *scratch_copy(const uint8_t *src, size_t len) {
  if (len == 0) return NULL;
  uint8_t *buf = xmalloc(len);
  memcpy(buf, src, len);
  return buf;
}

/* Poisons a callback buffer once the callback returned, then frees it. */
static void scrub_free(uint8_t *buf, size_t len) {
  if (buf) memset(buf, 0xDD, len);
  free(buf);
}

/* With mu held: marks op finished (once). Returns 1 if the caller now owns the final callback. */
static int claim_final(tsdk_op *op) {
  if (op->finished) return 0;
  op->finished = 1;
  op->sdk->outstanding--;
  op->sdk->callbacks++;
  return 1;
}

/* With mu held: finds a listed op by id. */
static tsdk_op *find_op(tsdk *sdk, uint64_t id) {
  for (tsdk_op *op = sdk->ops; op; op = op->next)
    if (op->id == id) return op;
  return NULL;
}

/*
 * Invokes a one-shot op's callback with `code` (mu NOT held). `with_payload`:
 * payload ops get a scratch copy of the payload, else (NULL, 0).
 */
static void deliver(const tsdk_op *op, int code, int with_payload) {
  if (op->kind == KIND_DONE) {
    op->done_cb(op->user_data, code);
    return;
  }
  size_t len = with_payload ? op->len : 0;
  uint8_t *buf = scratch_copy(op->payload, len);
  op->payload_cb(op->user_data, code, buf, len);
  scrub_free(buf, len);
}

/* Joins an op's threads and frees it (mu NOT held; op no longer listed). */
static void free_op(tsdk_op *op) {
  for (unsigned i = 0; i < op->n_workers; i++) {
    if (pthread_equal(op->workers[i].thread, pthread_self()))
      die("tsdk_shutdown/tsdk_free called from inside an SDK callback");
    if (pthread_join(op->workers[i].thread, NULL)) die("pthread_join failed");
  }
  if (op->mode == TSDK_CONCURRENT) pthread_barrier_destroy(&op->barrier);
  free(op->workers);
  free(op->payload);
  free(op);
}

static void free_ops(tsdk_op *list) {
  while (list) {
    tsdk_op *next = list->next;
    free_op(list);
    list = next;
  }
}

/* With mu held: unlinks ops that are finished and whose threads all exited. */
static tsdk_op *unlink_reapable(tsdk *sdk) {
  tsdk_op *reaped = NULL;
  for (tsdk_op **link = &sdk->ops; *link;) {
    tsdk_op *op = *link;
    if (op->finished && op->workers_done == op->n_workers) {
      *link = op->next;
      op->next = reaped;
      reaped = op;
    } else {
      link = &op->next;
    }
  }
  return reaped;
}

/* Last thing every worker does: lets the op be reaped once all its threads are done. */
static void worker_exit(tsdk_op *op) {
  lock(&op->sdk->mu);
  op->workers_done++;
  unlock(&op->sdk->mu);
}

/* ---- threads -------------------------------------------------------------- */

/* The single thread of a TSDK_ASYNC / TSDK_ASYNC_UNDER_LOCK / TSDK_TWICE / TSDK_LATE_AFTER_CANCEL op. */
static void *op_thread(void *arg) {
  tsdk_op *op = ((struct worker *)arg)->op;
  tsdk *sdk = op->sdk;
  switch (op->mode) {
  case TSDK_ASYNC_UNDER_LOCK:
    lock(&sdk->cb_lock); /* held across the callback, like paho's global mutex */
    lock(&sdk->mu);
    claim_final(op);
    unlock(&sdk->mu);
    deliver(op, op->result_code, 1);
    unlock(&sdk->cb_lock);
    break;
  case TSDK_TWICE:
    lock(&sdk->mu);
    sdk->callbacks++;
    unlock(&sdk->mu);
    deliver(op, op->result_code, 1);
    lock(&sdk->mu);
    claim_final(op);
    unlock(&sdk->mu);
    deliver(op, TSDK_ERR_DUPLICATE, 1);
    break;
  case TSDK_LATE_AFTER_CANCEL: {
    lock(&sdk->mu);
    while (!op->canceled && !op->finished) /* finished: shutdown took over */
      pthread_cond_wait(&sdk->cv, &sdk->mu);
    int mine = claim_final(op);
    unlock(&sdk->mu);
    if (mine) deliver(op, TSDK_ERR_CANCELED, 0);
    break;
  }
  default: /* TSDK_ASYNC */
    lock(&sdk->mu);
    claim_final(op);
    unlock(&sdk->mu);
    deliver(op, op->result_code, 1);
    break;
  }
  worker_exit(op);
  return NULL;
}

/* One of the n threads of a TSDK_CONCURRENT op. */
static void *concurrent_thread(void *arg) {
  struct worker *w = arg;
  tsdk_op *op = w->op;
  tsdk *sdk = op->sdk;
  /* Count this callback before anyone calls back; the last to arrive finishes the op. */
  lock(&sdk->mu);
  sdk->callbacks++;
  if (++op->arrived == op->n_workers) {
    op->finished = 1;
    sdk->outstanding--;
  }
  unlock(&sdk->mu);
  pthread_barrier_wait(&op->barrier); /* all n call back at the same moment */
  deliver(op, w->index == 0 ? op->result_code : TSDK_ERR_DUPLICATE, 1);
  worker_exit(op);
  return NULL;
}

/* The thread of a stream: chunks under flow control, then on_final. */
static void *stream_thread(void *arg) {
  tsdk_op *op = ((struct worker *)arg)->op;
  tsdk *sdk = op->sdk;
  int under_lock = op->mode == TSDK_ASYNC_UNDER_LOCK;
  int code;
  for (size_t i = 0;; i++) {
    lock(&sdk->mu);
    for (;;) {
      if (op->finished) { /* tsdk_shutdown owns on_final */
        unlock(&sdk->mu);
        goto out;
      }
      if (op->canceled || i == op->n_chunks) {
        code = op->canceled ? TSDK_ERR_CANCELED : 0;
        claim_final(op);
        unlock(&sdk->mu);
        goto final;
      }
      if (!op->flow || op->open >= op->chunk_len) break;
      pthread_cond_wait(&sdk->cv, &sdk->mu); /* wait for the window to open */
    }
    if (op->flow) op->open -= op->chunk_len;
    op->in_chunk = 1;
    sdk->callbacks++;
    unlock(&sdk->mu);

    uint8_t *buf = xmalloc(op->chunk_len);
    memset(buf, (int)(i & 0xff), op->chunk_len);
    if (under_lock) lock(&sdk->cb_lock);
    op->chunk_cb(op->user_data, op->chunk_len ? buf : NULL, op->chunk_len);
    if (under_lock) unlock(&sdk->cb_lock);
    scrub_free(buf, op->chunk_len);

    lock(&sdk->mu);
    op->in_chunk = 0;
    pthread_cond_broadcast(&sdk->cv); /* tsdk_shutdown may wait for this */
    unlock(&sdk->mu);
  }
final:
  if (under_lock) lock(&sdk->cb_lock);
  op->final_cb(op->user_data, code);
  if (under_lock) unlock(&sdk->cb_lock);
out:
  worker_exit(op);
  return NULL;
}

/* ---- starting ops ------------------------------------------------------- */

/*
 * Common start path. `req` describes the op (its payload points at the
 * caller's buffer). Allocates, lists and launches the op.
 */
static int start(tsdk *sdk, const tsdk_op *req, uint64_t *op_out) {
  if (op_out) *op_out = 0;
  if (req->mode == TSDK_FAIL_START) return TSDK_ERR_START;

  lock(&sdk->mu);
  if (sdk->shut_down) {
    unlock(&sdk->mu);
    return TSDK_ERR_SHUTDOWN;
  }
  tsdk_op *reaped = unlink_reapable(sdk);
  uint64_t id = ++sdk->next_id;
  if (op_out) *op_out = id;

  if (req->mode == TSDK_SYNC) { /* call back right here, before returning */
    sdk->callbacks++;
    unlock(&sdk->mu);
    deliver(req, req->result_code, 1);
    free_ops(reaped);
    return TSDK_OK;
  }

  tsdk_op *op = xmalloc(sizeof *op);
  *op = *req;
  op->sdk = sdk;
  op->id = id;
  op->payload = req->kind == KIND_PAYLOAD ? scratch_copy(req->payload, req->len) : NULL;
  op->next = sdk->ops;
  sdk->ops = op;
  sdk->outstanding++;

  void *(*fn)(void *) = op_thread;
  if (op->kind == KIND_STREAM) {
    fn = stream_thread;
    op->n_workers = 1;
  } else if (op->mode == TSDK_NEVER || op->mode == TSDK_NEVER_EVEN_AT_SHUTDOWN) {
    op->n_workers = 0; /* nobody will call back (except tsdk_shutdown for TSDK_NEVER) */
  } else if (op->mode == TSDK_CONCURRENT) {
    fn = concurrent_thread;
    op->n_workers = sdk->concurrency;
    if (pthread_barrier_init(&op->barrier, NULL, op->n_workers)) die("pthread_barrier_init failed");
  } else {
    op->n_workers = 1; /* ASYNC, ASYNC_UNDER_LOCK, TWICE, LATE_AFTER_CANCEL (unknown modes act as ASYNC) */
  }
  op->workers = op->n_workers ? xmalloc(op->n_workers * sizeof *op->workers) : NULL;
  /* Threads start while we hold mu: they block on it before calling back, so *op_out is set first. */
  for (unsigned i = 0; i < op->n_workers; i++) {
    op->workers[i].op = op;
    op->workers[i].index = i;
    if (pthread_create(&op->workers[i].thread, NULL, fn, &op->workers[i])) die("pthread_create failed");
  }
  unlock(&sdk->mu);
  free_ops(reaped);
  return TSDK_OK;
}

int tsdk_start_op(tsdk *sdk, enum tsdk_mode mode, int result_code, tsdk_done_fn cb, void *user_data,
                  uint64_t *op_out) {
  if (op_out) *op_out = 0;
  if (!sdk || !cb) return TSDK_ERR_START;
  tsdk_op req = {0};
  req.kind = KIND_DONE;
  req.mode = mode;
  req.result_code = result_code;
  req.done_cb = cb;
  req.user_data = user_data;
  return start(sdk, &req, op_out);
}

int tsdk_start_payload_op(tsdk *sdk, enum tsdk_mode mode, int result_code, const uint8_t *payload, size_t len,
                          tsdk_payload_fn cb, void *user_data, uint64_t *op_out) {
  if (op_out) *op_out = 0;
  if (!sdk || !cb || (!payload && len)) return TSDK_ERR_START;
  tsdk_op req = {0};
  req.kind = KIND_PAYLOAD;
  req.mode = mode;
  req.result_code = result_code;
  req.payload_cb = cb;
  req.user_data = user_data;
  req.payload = (uint8_t *)payload; /* only read: copied by start() / deliver() */
  req.len = len;
  return start(sdk, &req, op_out);
}

int tsdk_start_stream(tsdk *sdk, enum tsdk_mode mode, size_t n_chunks, size_t chunk_len, size_t window,
                      tsdk_chunk_fn on_chunk, tsdk_final_fn on_final, void *user_data, uint64_t *op_out) {
  if (op_out) *op_out = 0;
  if (!sdk || !on_chunk || !on_final) return TSDK_ERR_START;
  tsdk_op req = {0};
  req.kind = KIND_STREAM;
  /* Streams only know FAIL_START, ASYNC_UNDER_LOCK and ASYNC. */
  req.mode = (mode == TSDK_FAIL_START || mode == TSDK_ASYNC_UNDER_LOCK) ? mode : TSDK_ASYNC;
  req.chunk_cb = on_chunk;
  req.final_cb = on_final;
  req.user_data = user_data;
  req.n_chunks = n_chunks;
  req.chunk_len = chunk_len;
  req.open = window;
  req.flow = window > 0;
  return start(sdk, &req, op_out);
}

/* ---- control and counters ----------------------------------------------- */

tsdk *tsdk_new(void) {
  tsdk *sdk = xmalloc(sizeof *sdk);
  memset(sdk, 0, sizeof *sdk);
  pthread_mutexattr_t attr;
  if (pthread_mutexattr_init(&attr) || pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE) ||
      pthread_mutex_init(&sdk->cb_lock, &attr) || pthread_mutex_init(&sdk->mu, NULL) ||
      pthread_cond_init(&sdk->cv, NULL))
    die("pthread init failed");
  pthread_mutexattr_destroy(&attr);
  sdk->concurrency = 4;
  return sdk;
}

void tsdk_set_concurrency(tsdk *sdk, unsigned n_threads) {
  lock(&sdk->mu);
  sdk->concurrency = n_threads ? n_threads : 1;
  unlock(&sdk->mu);
}

void tsdk_stream_update_window(tsdk *sdk, uint64_t op_id, size_t bytes) {
  lock(&sdk->mu);
  tsdk_op *op = find_op(sdk, op_id);
  if (op && op->kind == KIND_STREAM && !op->finished) {
    op->open = op->open > SIZE_MAX - bytes ? SIZE_MAX : op->open + bytes;
    pthread_cond_broadcast(&sdk->cv);
  }
  unlock(&sdk->mu);
}

int tsdk_cancel(tsdk *sdk, uint64_t op_id) {
  lock(&sdk->cb_lock); /* like paho: blocks while an under-lock callback runs elsewhere */
  lock(&sdk->mu);
  sdk->cancels++;
  tsdk_op *op = find_op(sdk, op_id);
  int live = op && !op->finished;
  if (live) {
    op->canceled = 1;
    pthread_cond_broadcast(&sdk->cv);
  }
  unlock(&sdk->mu);
  unlock(&sdk->cb_lock);
  return live;
}

/* Reads one counter under mu. */
static uint64_t read_counter(tsdk *sdk, const uint64_t *counter) {
  lock(&sdk->mu);
  uint64_t v = *counter;
  unlock(&sdk->mu);
  return v;
}

uint64_t tsdk_cancels_received(tsdk *sdk) { return read_counter(sdk, &sdk->cancels); }
uint64_t tsdk_callbacks_made(tsdk *sdk) { return read_counter(sdk, &sdk->callbacks); }
uint64_t tsdk_ops_outstanding(tsdk *sdk) { return read_counter(sdk, &sdk->outstanding); }

/* ---- shutdown ----------------------------------------------------------- */

/* With mu held: the next op that tsdk_shutdown must call back, or NULL. */
static tsdk_op *next_pending(tsdk *sdk) {
  for (tsdk_op *op = sdk->ops; op; op = op->next)
    if (!op->finished &&
        (op->kind == KIND_STREAM || op->mode == TSDK_NEVER || op->mode == TSDK_LATE_AFTER_CANCEL))
      return op;
  return NULL;
}

void tsdk_shutdown(tsdk *sdk) {
  lock(&sdk->mu);
  if (sdk->shut_down) {
    unlock(&sdk->mu);
    return;
  }
  sdk->shut_down = 1; /* no new ops, no reaping: listed ops stay valid while unlocked below */
  tsdk_op *op;
  while ((op = next_pending(sdk))) {
    claim_final(op);
    pthread_cond_broadcast(&sdk->cv); /* a waiting stream / LATE thread sees `finished` and exits */
    while (op->in_chunk) pthread_cond_wait(&sdk->cv, &sdk->mu); /* never overlap on_chunk */
    unlock(&sdk->mu);
    if (op->kind == KIND_STREAM) {
      int under_lock = op->mode == TSDK_ASYNC_UNDER_LOCK;
      if (under_lock) lock(&sdk->cb_lock);
      op->final_cb(op->user_data, TSDK_ERR_SHUTDOWN);
      if (under_lock) unlock(&sdk->cb_lock);
    } else {
      deliver(op, TSDK_ERR_SHUTDOWN, 0);
    }
    lock(&sdk->mu);
  }
  tsdk_op *all = sdk->ops; /* includes TSDK_NEVER_EVEN_AT_SHUTDOWN ops: dropped silently */
  sdk->ops = NULL;
  unlock(&sdk->mu);
  free_ops(all); /* joins every SDK thread */
}

void tsdk_free(tsdk *sdk) {
  if (!sdk) return;
  tsdk_shutdown(sdk);
  pthread_cond_destroy(&sdk->cv);
  pthread_mutex_destroy(&sdk->mu);
  pthread_mutex_destroy(&sdk->cb_lock);
  free(sdk);
}
