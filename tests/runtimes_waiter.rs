//! A `ForeignWait` and a `BlockingTask` awaited on every executor anywait claims to
//! support — tokio (current-thread and multi-thread), smol, async-executor, the futures
//! `ThreadPool` and `block_on`, pollster — and waited on blockingly by plain threads.
//!
//! The foreign event is a `Mutex<bool>` + `Condvar` that can only be waited on blockingly
//! with a timeout; every waiter holds a keyed wait on it (so one helper thread serves them
//! all) and a blocking task that blocks on a second such event (the gate). Each async
//! waiter polls both once (registering them; both must be `Pending`, as nothing is set
//! before every waiter reported), reports on a channel, then awaits both. Only then does a
//! foreign thread set the event and the gate. No sleeps order anything.
//!
//! A second test drops the waits from inside each runtime (a `select` that loses) and
//! checks that the foreign wait's helper left and the blocking task's token was canceled.

mod support;

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use anywait::{run_blocking, BlockingTask, CancelToken, ForeignWait, Waiters};
use futures::task::SpawnExt;
use support::{futures_thread_pool, tokio_current_thread, tokio_multi_thread, LONG};

/// Fails a hung test; never orders anything.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// A foreign event: set from any thread, waited on only blockingly with a timeout.
#[derive(Default)]
struct Flag {
    set: Mutex<bool>,
    changed: Condvar,
}

impl Flag {
    fn wait(&self, timeout: Duration) -> bool {
        let guard = self.set.lock().unwrap();
        *self
            .changed
            .wait_timeout_while(guard, timeout, |set| !*set)
            .unwrap()
            .0
    }

    fn set(&self) {
        *self.set.lock().unwrap() = true;
        self.changed.notify_all();
    }
}

/// What every waiter shares.
#[derive(Clone)]
struct Events {
    /// The key of every keyed wait: one helper waits on it for all waiters.
    foreign: Arc<Flag>,
    /// What the blocking tasks block on.
    gate: Arc<Flag>,
    /// How many helper closures actually ran a slice (must end at 1).
    helpers: Arc<AtomicUsize>,
}

impl Events {
    fn foreign_wait(&self) -> ForeignWait {
        let helpers = Arc::clone(&self.helpers);
        let mut first = true;
        Waiters::global().wait_on_keyed(&self.foreign, move |flag, slice| {
            if std::mem::take(&mut first) {
                helpers.fetch_add(1, Ordering::SeqCst);
            }
            flag.wait(slice)
        })
    }

    fn blocking_task(&self, value: u32) -> BlockingTask<u32> {
        let gate = Arc::clone(&self.gate);
        run_blocking(move |_| {
            assert!(gate.wait(LONG), "the gate opened");
            value
        })
    }
}

/// Registers both waits, reports, awaits both. Returns whether both first polls were
/// `Pending` and the task's value.
async fn registered_waits(events: Events, value: u32, ready: mpsc::Sender<()>) -> (bool, u32) {
    let mut wait = pin!(events.foreign_wait());
    let mut task = pin!(events.blocking_task(value));
    let first_pending = poll_fn(|cx| {
        let wait_pending = wait.as_mut().poll(cx).is_pending();
        let task_pending = task.as_mut().poll(cx).is_pending();
        Poll::Ready(wait_pending && task_pending)
    })
    .await;
    ready.send(()).unwrap();
    wait.as_mut().await.unwrap();
    assert!(wait.is_signaled());
    let value = task.await.expect("the task did not panic");
    (first_pending, value)
}

type Outcome = (&'static str, bool, u32);

#[test]
fn foreign_waits_and_blocking_tasks_on_every_runtime_and_thread() {
    let events = Events {
        foreign: Arc::new(Flag::default()),
        gate: Arc::new(Flag::default()),
        helpers: Arc::new(AtomicUsize::new(0)),
    };
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let mut expected: Vec<(&'static str, u32)> = Vec::new();
    let mut joins: Vec<Box<dyn FnOnce() -> Vec<Outcome> + Send>> = Vec::new();

    // tokio multi-thread: spawned tasks.
    let tokio_mt = tokio_multi_thread(2);
    let mt_tasks: Vec<_> = (0..2)
        .map(|i| tokio_mt.spawn(registered_waits(events.clone(), 10 + i, ready_tx.clone())))
        .collect();
    expected.extend([("tokio multi-thread", 10), ("tokio multi-thread", 11)]);
    joins.push(Box::new(move || {
        let results = tokio_mt.block_on(async {
            let mut results = Vec::new();
            for task in mt_tasks {
                let (pending, value) = task.await.unwrap();
                results.push(("tokio multi-thread", pending, value));
            }
            results
        });
        tokio_mt.shutdown_background();
        results
    }));

    // tokio current-thread, on its own thread: a spawned task and the block_on future.
    {
        let events = events.clone();
        let ready = ready_tx.clone();
        expected.extend([
            ("tokio current-thread block_on", 20),
            ("tokio current-thread spawn", 21),
        ]);
        let handle = thread::spawn(move || {
            let rt = tokio_current_thread();
            rt.block_on(async {
                let spawned = tokio::spawn(registered_waits(events.clone(), 21, ready.clone()));
                let (pending, value) = registered_waits(events, 20, ready).await;
                let (spawned_pending, spawned_value) = spawned.await.unwrap();
                vec![
                    ("tokio current-thread block_on", pending, value),
                    ("tokio current-thread spawn", spawned_pending, spawned_value),
                ]
            })
        });
        joins.push(Box::new(move || handle.join().unwrap()));
    }

    // smol: block_on with two joined waiters, and a task on smol's global executor.
    {
        let events = events.clone();
        let ready = ready_tx.clone();
        expected.extend([
            ("smol block_on", 30),
            ("smol block_on", 31),
            ("smol spawn", 32),
        ]);
        let handle = thread::spawn(move || {
            smol::block_on(async {
                let spawned = smol::spawn(registered_waits(events.clone(), 32, ready.clone()));
                let ((pa, a), (pb, b)) = futures::future::join(
                    registered_waits(events.clone(), 30, ready.clone()),
                    registered_waits(events, 31, ready),
                )
                .await;
                let (ps, s) = spawned.await;
                vec![
                    ("smol block_on", pa, a),
                    ("smol block_on", pb, b),
                    ("smol spawn", ps, s),
                ]
            })
        });
        joins.push(Box::new(move || handle.join().unwrap()));
    }

    // async-executor: a spawned task, the executor run on its own thread.
    {
        let events = events.clone();
        let ready = ready_tx.clone();
        expected.push(("async-executor", 40));
        let handle = thread::spawn(move || {
            let executor = async_executor::Executor::new();
            let task = executor.spawn(registered_waits(events, 40, ready));
            let (pending, value) = futures::executor::block_on(executor.run(task));
            vec![("async-executor", pending, value)]
        });
        joins.push(Box::new(move || handle.join().unwrap()));
    }

    // futures ThreadPool, and futures::executor::block_on on a thread.
    let pool = futures_thread_pool(2);
    let pool_task = pool
        .spawn_with_handle(registered_waits(events.clone(), 50, ready_tx.clone()))
        .unwrap();
    expected.push(("futures ThreadPool", 50));
    joins.push(Box::new(move || {
        let (pending, value) = futures::executor::block_on(pool_task);
        drop(pool);
        vec![("futures ThreadPool", pending, value)]
    }));
    {
        let events = events.clone();
        let ready = ready_tx.clone();
        expected.push(("futures block_on", 51));
        let handle = thread::spawn(move || {
            let (pending, value) = futures::executor::block_on(registered_waits(events, 51, ready));
            vec![("futures block_on", pending, value)]
        });
        joins.push(Box::new(move || handle.join().unwrap()));
    }

    // pollster, on its own thread.
    {
        let events = events.clone();
        let ready = ready_tx.clone();
        expected.push(("pollster", 60));
        let handle = thread::spawn(move || {
            let (pending, value) = pollster::block_on(registered_waits(events, 60, ready));
            vec![("pollster", pending, value)]
        });
        joins.push(Box::new(move || handle.join().unwrap()));
    }

    // Plain threads, blocked in every kind of blocking wait.
    for (kind, value) in [
        ("wait_blocking", 70),
        ("wait_timeout", 71),
        ("wait_deadline", 72),
    ] {
        let events = events.clone();
        let ready = ready_tx.clone();
        expected.push((kind, value));
        let handle = thread::spawn(move || {
            let wait = events.foreign_wait();
            let task = events.blocking_task(value);
            let unset = !wait.is_signaled() && !task.is_finished();
            ready.send(()).unwrap();
            let released = match kind {
                "wait_blocking" => {
                    wait.wait_blocking().unwrap();
                    true
                }
                "wait_timeout" => wait.wait_timeout(LONG),
                _ => wait.wait_deadline(Instant::now() + LONG),
            };
            let value = task.wait_blocking().expect("the task did not panic");
            vec![(kind, unset && released && wait.is_signaled(), value)]
        });
        joins.push(Box::new(move || handle.join().unwrap()));
    }
    drop(ready_tx);

    for _ in 0..expected.len() {
        ready_rx
            .recv_timeout(HANG_GUARD)
            .expect("every waiter registered");
    }
    assert_eq!(
        events.helpers.load(Ordering::SeqCst),
        1,
        "one helper for the key"
    );

    // The signal and the gate, from a foreign thread.
    {
        let events = events.clone();
        thread::spawn(move || {
            events.foreign.set();
            events.gate.set();
        })
        .join()
        .unwrap();
    }

    // Join on a helper thread so that a lost wake-up fails instead of hanging.
    let mut outcomes: Vec<Outcome> = support::guarded(
        HANG_GUARD,
        "a waiter was not released (lost wake-up?)",
        move || joins.into_iter().flat_map(|join| join()).collect(),
    );
    outcomes.sort_by_key(|&(_, _, value)| value);
    expected.sort_by_key(|&(_, value)| value);
    assert_eq!(outcomes.len(), expected.len());
    for ((name, ok, value), (expected_name, expected_value)) in outcomes.iter().zip(&expected) {
        assert_eq!((name, value), (expected_name, expected_value));
        assert!(
            ok,
            "{name}: first poll was not Pending, or not released by the signal"
        );
    }
    assert_eq!(events.helpers.load(Ordering::SeqCst), 1, "still one helper");
}

/// Reports when the closure that holds it is dropped: the helper left its foreign wait.
struct Left(mpsc::Sender<()>);

impl Drop for Left {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Registers a foreign wait that never fires and a blocking task that waits for its
/// cancellation, then drops both from inside the runtime (a `select` whose other branch
/// wins). Returns the task's token and a receiver that reports the helper left.
async fn dropped_waits() -> (CancelToken, mpsc::Receiver<()>) {
    let never = Arc::new(Flag::default());
    let (left_tx, left_rx) = mpsc::channel();
    let left = Left(left_tx);
    let wait = anywait::wait_on(move |slice| {
        let _left = &left;
        never.wait(slice)
    });
    let (token_tx, token_rx) = mpsc::channel();
    let task = run_blocking(move |token| {
        token_tx.send(token.clone()).unwrap();
        token.wait_canceled_timeout(LONG)
    });
    // The task is running (a short block of this executor thread; the pool runs it).
    let token = token_rx.recv_timeout(HANG_GUARD).expect("the task started");
    let mut wait = pin!(wait);
    let mut task = pin!(task);
    let won = poll_fn(|cx| {
        let wait_pending = wait.as_mut().poll(cx).is_pending();
        let task_pending = task.as_mut().poll(cx).is_pending();
        assert!(wait_pending && task_pending);
        Poll::Ready("the other branch")
    })
    .await;
    assert_eq!(won, "the other branch");
    assert!(!token.is_canceled());
    (token, left_rx)
    // `wait` and `task` are dropped here, inside the runtime's poll.
}

#[test]
fn dropping_from_inside_every_runtime_cancels() {
    let outcomes: Vec<(&str, (CancelToken, mpsc::Receiver<()>))> = vec![
        (
            "tokio current-thread",
            tokio_current_thread().block_on(dropped_waits()),
        ),
        (
            "tokio multi-thread",
            tokio_multi_thread(1).block_on(async { tokio::spawn(dropped_waits()).await.unwrap() }),
        ),
        ("smol", smol::block_on(dropped_waits())),
        ("async-executor", {
            let executor = async_executor::Executor::new();
            let task = executor.spawn(dropped_waits());
            futures::executor::block_on(executor.run(task))
        }),
        ("futures ThreadPool", {
            let pool = futures_thread_pool(1);
            futures::executor::block_on(pool.spawn_with_handle(dropped_waits()).unwrap())
        }),
        (
            "futures block_on",
            futures::executor::block_on(dropped_waits()),
        ),
        ("pollster", pollster::block_on(dropped_waits())),
    ];
    for (runtime, (token, left)) in outcomes {
        assert!(
            token.is_canceled(),
            "{runtime}: dropping the task cancels its token"
        );
        // The global pool's slice is 100 ms: the helper leaves after it at the latest.
        left.recv_timeout(HANG_GUARD)
            .unwrap_or_else(|_| panic!("{runtime}: the helper never left"));
    }
}
