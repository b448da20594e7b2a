//! One `set()` from a foreign `std::thread` releases, at once, waiters on every executor
//! anywait claims to support and blocked plain threads: tokio (multi-thread and
//! current-thread), smol, async-executor, the futures `ThreadPool`, pollster, and threads
//! in `wait_blocking` / `wait_timeout` / `wait_deadline`.
//!
//! Every async waiter polls its wait once (registering it), reports on a channel, and then
//! awaits it; the first poll must be `Pending`, since the event is set only after every
//! waiter reported. Blocked threads report right before blocking (one that registers only
//! after the set still completes, which is also correct). No sleeps order anything.

mod support;

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::mpsc;
use std::sync::Arc;
use std::task::Poll;
use std::thread;
use std::time::{Duration, Instant};

use anywait::AsyncEvent;
use futures::task::SpawnExt;
use support::{futures_thread_pool, tokio_current_thread, tokio_multi_thread, LONG};

/// Fails a hung test; never orders anything.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// Registers a wait on `event`, reports it on `ready`, then awaits it. Returns whether
/// the first poll was `Pending` (it must be: the set comes after every report).
async fn registered_wait(event: Arc<AsyncEvent>, ready: mpsc::Sender<()>) -> bool {
    let mut wait = pin!(event.wait_owned());
    let first_pending = poll_fn(|cx| Poll::Ready(wait.as_mut().poll(cx).is_pending())).await;
    ready.send(()).unwrap();
    wait.await;
    first_pending
}

/// As [`registered_wait`], with the borrowing future.
async fn registered_borrowed_wait(event: &AsyncEvent, ready: mpsc::Sender<()>) -> bool {
    let mut wait = pin!(event.wait());
    let first_pending = poll_fn(|cx| Poll::Ready(wait.as_mut().poll(cx).is_pending())).await;
    ready.send(()).unwrap();
    wait.await;
    first_pending
}

type Outcome = (&'static str, bool);

#[test]
fn one_set_releases_every_runtime_and_thread() {
    let event = Arc::new(AsyncEvent::new());
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let mut expected_ready = 0;
    let mut joins: Vec<Box<dyn FnOnce() -> Vec<Outcome> + Send>> = Vec::new();

    // tokio multi-thread: spawned 'static tasks with wait_owned.
    let tokio_mt = tokio_multi_thread(2);
    let mt_tasks: Vec<_> = (0..4)
        .map(|_| tokio_mt.spawn(registered_wait(event.clone(), ready_tx.clone())))
        .collect();
    expected_ready += 4;
    joins.push(Box::new(move || {
        let results = tokio_mt.block_on(async {
            let mut results = Vec::new();
            for task in mt_tasks {
                results.push(("tokio multi-thread", task.await.unwrap()));
            }
            results
        });
        tokio_mt.shutdown_background();
        results
    }));

    // tokio current-thread, on its own thread: a spawned task and the block_on future.
    {
        let event = event.clone();
        let ready = ready_tx.clone();
        expected_ready += 2;
        let handle = thread::spawn(move || {
            let rt = tokio_current_thread();
            rt.block_on(async {
                let spawned = tokio::spawn(registered_wait(event.clone(), ready.clone()));
                let here = registered_borrowed_wait(&event, ready).await;
                vec![
                    ("tokio current-thread block_on", here),
                    ("tokio current-thread spawn", spawned.await.unwrap()),
                ]
            })
        });
        joins.push(Box::new(move || handle.join().unwrap()));
    }

    // smol::block_on, two waits joined on one thread.
    {
        let event = event.clone();
        let ready = ready_tx.clone();
        expected_ready += 2;
        let handle = thread::spawn(move || {
            let (a, b) = smol::block_on(futures::future::join(
                registered_wait(event.clone(), ready.clone()),
                registered_borrowed_wait(&event, ready),
            ));
            vec![("smol owned", a), ("smol borrowed", b)]
        });
        joins.push(Box::new(move || handle.join().unwrap()));
    }

    // async-executor: two spawned tasks, the executor run on its own thread.
    {
        let event = event.clone();
        let ready = ready_tx.clone();
        expected_ready += 2;
        let handle =
            thread::spawn(move || {
                let executor = async_executor::Executor::new();
                let a = executor.spawn(registered_wait(event.clone(), ready.clone()));
                let b = executor.spawn(registered_wait(event, ready));
                pollster::block_on(executor.run(async {
                    vec![("async-executor a", a.await), ("async-executor b", b.await)]
                }))
            });
        joins.push(Box::new(move || handle.join().unwrap()));
    }

    // futures ThreadPool.
    let pool = futures_thread_pool(2);
    let pool_tasks: Vec<_> = (0..2)
        .map(|_| {
            pool.spawn_with_handle(registered_wait(event.clone(), ready_tx.clone()))
                .unwrap()
        })
        .collect();
    expected_ready += 2;
    joins.push(Box::new(move || {
        let results = pool_tasks
            .into_iter()
            .map(|task| ("futures ThreadPool", futures::executor::block_on(task)))
            .collect();
        drop(pool);
        results
    }));

    // pollster, on its own thread.
    {
        let event = event.clone();
        let ready = ready_tx.clone();
        expected_ready += 1;
        let handle = thread::spawn(move || {
            vec![(
                "pollster",
                pollster::block_on(registered_borrowed_wait(&event, ready)),
            )]
        });
        joins.push(Box::new(move || handle.join().unwrap()));
    }

    // Blocked plain threads.
    for kind in ["wait_blocking", "wait_timeout", "wait_deadline"] {
        let event = event.clone();
        let ready = ready_tx.clone();
        expected_ready += 1;
        let handle = thread::spawn(move || {
            ready.send(()).unwrap();
            let released = match kind {
                "wait_blocking" => {
                    event.wait_blocking();
                    true
                }
                "wait_timeout" => event.wait_timeout(LONG),
                _ => event.wait_deadline(Instant::now() + LONG),
            };
            vec![(kind, released)]
        });
        joins.push(Box::new(move || handle.join().unwrap()));
    }
    drop(ready_tx);

    for _ in 0..expected_ready {
        ready_rx.recv().unwrap();
    }
    assert!(
        !event.is_set(),
        "nobody sets the event but the setter below"
    );

    // The one set(), from a foreign thread.
    let setter = {
        let event = event.clone();
        thread::spawn(move || event.set())
    };
    setter.join().unwrap();

    // Join everything on a helper thread so that a lost wake-up fails the test instead of
    // hanging it. The bound is a hang guard only, far above any legitimate run time.
    let outcomes: Vec<Outcome> = support::guarded(
        HANG_GUARD,
        "a waiter was not released (lost wake-up?)",
        move || joins.into_iter().flat_map(|join| join()).collect(),
    );
    assert_eq!(outcomes.len(), expected_ready);
    for (who, ok) in &outcomes {
        // For async waiters: registered (first poll Pending) before the set, then released.
        // For threads: released by the event (wait_timeout/deadline returned true).
        assert!(ok, "{who}: not released as expected");
    }
    assert!(event.is_set());
    assert_eq!(
        Arc::strong_count(&event),
        1,
        "a waiter kept the event alive"
    );
}
