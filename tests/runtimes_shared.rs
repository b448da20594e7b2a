//! One `SharedWaitable` completion, fired from a foreign `std::thread`, releases waiters on
//! every executor and blocked threads at once: tokio multi-thread (spawned clones), tokio
//! current-thread, smol, async-executor, the futures `ThreadPool`, pollster (on its own
//! thread), threads blocked in `wait_blocking` / `wait_timeout` / `wait_deadline`, and
//! done-callbacks. All get the same value.
//!
//! Every waiter is registered before the completion fires: futures are wrapped in
//! [`SignalOnPending`], which reports their first `Pending` (by then the waker is
//! registered); blocked threads report right before they block. The completing thread
//! waits for every report. No sleeps; the only timeouts are failsafes that turn a hang
//! into a failure.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use anywait::{waitable, Abandoned, SharedWaitable, WaitError};
use support::{tokio_current_thread, tokio_multi_thread, SignalOnPending, LONG};

/// How long the completing thread waits for the registrations before failing the test.
const FAILSAFE: Duration = Duration::from_secs(120);

type Value = Arc<String>;
type Outcome = Result<Value, Abandoned>;

/// Hands out registered waiters and counts them.
struct Waiters {
    shared: SharedWaitable<Value>,
    signal: mpsc::Sender<&'static str>,
    count: usize,
}

impl Waiters {
    /// A clone of the shared handle that reports its first `Pending`.
    fn future(
        &mut self,
        who: &'static str,
    ) -> SignalOnPending<SharedWaitable<Value>, &'static str> {
        self.count += 1;
        SignalOnPending::new(self.shared.clone(), self.signal.clone(), who)
    }

    /// A clone of the shared handle and a sender for a blocked thread's own report.
    fn blocking(&mut self) -> (SharedWaitable<Value>, mpsc::Sender<&'static str>) {
        self.count += 1;
        (self.shared.clone(), self.signal.clone())
    }
}

/// Starts every kind of waiter on `shared`, then returns a closure that collects their
/// outcomes (labelled), plus how many registrations the completer must wait for.
#[allow(clippy::type_complexity)]
fn start_waiters(
    shared: &SharedWaitable<Value>,
    signal: mpsc::Sender<&'static str>,
) -> (usize, Box<dyn FnOnce() -> Vec<(&'static str, Outcome)>>) {
    let mut w = Waiters {
        shared: shared.clone(),
        signal,
        count: 0,
    };
    let mut joins: Vec<Box<dyn FnOnce() -> Vec<(&'static str, Outcome)>>> = Vec::new();

    // tokio multi-thread: many spawned clones (more than one wake-up batch of the queue).
    let mt = tokio_multi_thread(2);
    let mt_tasks: Vec<_> = (0..40).map(|_| mt.spawn(w.future("tokio-mt"))).collect();
    joins.push(Box::new(move || {
        let out = mt_tasks
            .into_iter()
            .map(|t| ("tokio-mt", mt.block_on(t).unwrap()))
            .collect();
        drop(mt);
        out
    }));

    // tokio current-thread on its own thread: block_on plus spawned tasks.
    let (a, b, c) = (
        w.future("tokio-ct"),
        w.future("tokio-ct"),
        w.future("tokio-ct"),
    );
    let ct = thread::spawn(move || {
        let rt = tokio_current_thread();
        rt.block_on(async move {
            let ta = tokio::spawn(a);
            let tb = tokio::spawn(b);
            let rc = c.await;
            vec![ta.await.unwrap(), tb.await.unwrap(), rc]
        })
    });
    joins.push(Box::new(move || {
        ct.join()
            .unwrap()
            .into_iter()
            .map(|r| ("tokio-ct", r))
            .collect()
    }));

    // smol: block_on on its own thread, plus a task on smol's global executor.
    let (a, b) = (w.future("smol"), w.future("smol"));
    let sm = thread::spawn(move || {
        let task = smol::spawn(a);
        smol::block_on(async move { vec![b.await, task.await] })
    });
    joins.push(Box::new(move || {
        sm.join()
            .unwrap()
            .into_iter()
            .map(|r| ("smol", r))
            .collect()
    }));

    // async-executor: tasks on an Executor driven by its own thread.
    let ex = Arc::new(async_executor::Executor::new());
    let ex_tasks: Vec<_> = (0..3)
        .map(|_| ex.spawn(w.future("async-executor")))
        .collect();
    let ex_thread = {
        let ex = ex.clone();
        thread::spawn(move || {
            smol::block_on(ex.run(async move {
                let mut out = Vec::new();
                for t in ex_tasks {
                    out.push(t.await);
                }
                out
            }))
        })
    };
    joins.push(Box::new(move || {
        let out = ex_thread.join().unwrap();
        drop(ex);
        out.into_iter().map(|r| ("async-executor", r)).collect()
    }));

    // The futures ThreadPool. `spawn_with_handle` hands the output to the handle from
    // inside the task's poll, before the pool drops the spawned future; awaiting the
    // waiter inside an `async` block drops its handle clone first, so that once every
    // outcome is collected no clone of the value is left in a pool thread.
    {
        use futures::task::SpawnExt;
        let pool = support::futures_thread_pool(1);
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let waiter = w.future("futures-pool");
                #[allow(clippy::redundant_async_block)] // not redundant: it orders the drop
                pool.spawn_with_handle(async move { waiter.await }).unwrap()
            })
            .collect();
        joins.push(Box::new(move || {
            let out = handles
                .into_iter()
                .map(|h| ("futures-pool", futures::executor::block_on(h)))
                .collect();
            drop(pool);
            out
        }));
    }

    // pollster on its own thread.
    let f = w.future("pollster");
    let pl = thread::spawn(move || pollster::block_on(f));
    joins.push(Box::new(move || vec![("pollster", pl.join().unwrap())]));

    // Blocked threads: they report right before blocking.
    for kind in [
        "wait_blocking",
        "wait_blocking",
        "wait_timeout",
        "wait_deadline",
    ] {
        let (handle, signal) = w.blocking();
        let t = thread::spawn(move || {
            signal.send(kind).unwrap();
            match kind {
                "wait_blocking" => handle.wait_blocking(),
                "wait_timeout" => handle.wait_timeout(LONG).map_err(|e| {
                    assert_eq!(e, WaitError::Abandoned, "timed out");
                    Abandoned
                }),
                _ => handle.wait_deadline(Instant::now() + LONG).map_err(|e| {
                    assert_eq!(e, WaitError::Abandoned, "timed out");
                    Abandoned
                }),
            }
        });
        joins.push(Box::new(move || vec![(kind, t.join().unwrap())]));
    }

    // Done-callbacks, registered on the handle: they run on the completing thread.
    let (cb_tx, cb_rx) = mpsc::channel();
    for _ in 0..2 {
        let cb_tx = cb_tx.clone();
        w.shared.on_complete(move |r| cb_tx.send(r).unwrap());
    }
    joins.push(Box::new(move || {
        (0..2)
            .map(|_| ("on_complete", cb_rx.recv_timeout(FAILSAFE).unwrap()))
            .collect()
    }));

    let count = w.count;
    let collect = Box::new(move || joins.into_iter().flat_map(|j| j()).collect());
    (count, collect)
}

/// Spawns the foreign completing thread: it waits for `count` registrations, then runs
/// `finish` (complete or abandon) and reports the thread it ran on.
fn completing_thread(
    count: usize,
    registrations: mpsc::Receiver<&'static str>,
    finish: impl FnOnce() + Send + 'static,
) -> thread::JoinHandle<Vec<&'static str>> {
    thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..count {
            match registrations.recv_timeout(FAILSAFE) {
                Ok(who) => seen.push(who),
                Err(e) => panic!("only {} of {count} waiters registered: {e}", seen.len()),
            }
        }
        finish();
        seen
    })
}

#[test]
fn one_completion_releases_every_runtime_and_thread() {
    let (completer, future) = waitable::<Value>();
    let hook = Arc::new(AtomicUsize::new(0));
    let counter = hook.clone();
    let shared = future
        .on_cancel(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .shared();
    let (signal, registrations) = mpsc::channel();
    let (count, collect) = start_waiters(&shared, signal);
    let value: Value = Arc::new("the one result".to_string());
    let sent = value.clone();
    let completing = completing_thread(count, registrations, move || {
        completer.complete(sent).unwrap();
    });
    let seen = completing.join().unwrap();
    assert_eq!(seen.len(), count);

    let outcomes = collect();
    assert_eq!(
        outcomes.len(),
        count + 2,
        "every waiter and callback reported"
    );
    for (who, outcome) in &outcomes {
        let got = outcome.as_ref().unwrap_or_else(|e| panic!("{who}: {e}"));
        assert!(Arc::ptr_eq(got, &value), "{who} got another value");
    }
    for kind in [
        "tokio-mt",
        "tokio-ct",
        "smol",
        "async-executor",
        "futures-pool",
        "pollster",
        "wait_blocking",
        "wait_timeout",
        "wait_deadline",
        "on_complete",
    ] {
        assert!(
            outcomes.iter().any(|(who, _)| *who == kind),
            "no {kind} waiter"
        );
    }
    assert_eq!(shared.try_get().map(|r| r.is_ok()), Some(true));
    drop(shared);
    drop(outcomes);
    assert_eq!(hook.load(Ordering::SeqCst), 0, "completed: never canceled");
    assert_eq!(
        Arc::strong_count(&value),
        1,
        "every clone of the value was released with the handles"
    );
}

#[test]
fn one_abandonment_releases_every_runtime_and_thread() {
    let (completer, future) = waitable::<Value>();
    let shared = future.shared();
    let (signal, registrations) = mpsc::channel();
    let (count, collect) = start_waiters(&shared, signal);
    let completing = completing_thread(count, registrations, move || drop(completer));
    completing.join().unwrap();
    let outcomes = collect();
    assert_eq!(outcomes.len(), count + 2);
    for (who, outcome) in outcomes {
        assert_eq!(outcome, Err(Abandoned), "{who}");
    }
}
