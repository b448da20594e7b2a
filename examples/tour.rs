//! A tour of anywait: a small simulated callback SDK, running an event-loop thread of its
//! own, completes operations that are awaited under several executors and waited on
//! blockingly; one operation is canceled by its caller and one is abandoned by the SDK.
//! Then one result is shared by a task, a thread and a done-callback, a response body
//! arrives as a `Stream` through a credit window, and the SDK's shutdown is an
//! `AsyncEvent` set from its own thread.
//!
//! Run it with `cargo run --example tour`.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use anywait::{Completer, WaitError, WaitableFuture};

/// A stand-in for a C SDK: requests go to its event-loop thread, which answers each one
/// by calling the request's callback from that thread, like the AWS CRT's event loops do.
mod sdk {
    use super::*;

    pub type Callback = Box<dyn FnOnce(Result<String, i32>) + Send>;

    /// The SDK's body callback: offered each chunk; returns false to stop the transfer.
    pub type BodyCallback = Box<dyn FnMut(Vec<u8>) -> bool + Send>;

    enum Request {
        Get {
            id: u64,
            key: String,
            done: Callback,
        },
        Cancel {
            id: u64,
        },
        Download {
            chunks: usize,
            on_body: BodyCallback,
            on_done: Box<dyn FnOnce() + Send>,
        },
        Flush,
        Shutdown {
            on_shutdown: Box<dyn FnOnce() + Send>,
        },
    }

    /// The SDK handle. Cloning it shares the event loop.
    #[derive(Clone)]
    pub struct Client {
        requests: mpsc::Sender<Request>,
        next_id: Arc<Mutex<u64>>,
    }

    impl Client {
        /// Starts the event-loop thread.
        pub fn start() -> (Client, thread::JoinHandle<()>) {
            let (requests, inbox) = mpsc::channel();
            let event_loop = thread::Builder::new()
                .name("sdk-event-loop".into())
                .spawn(move || run(inbox))
                .expect("spawn the SDK event loop");
            let client = Client {
                requests,
                next_id: Arc::new(Mutex::new(0)),
            };
            (client, event_loop)
        }

        /// Starts a GET. Keys starting with `slow/` are held until `flush`; the key `lost`
        /// is dropped by the SDK without ever calling back (a bug real SDKs have).
        pub fn get(&self, key: &str, done: Callback) -> u64 {
            let id = {
                let mut next = self.next_id.lock().unwrap();
                *next += 1;
                *next
            };
            let key = key.to_string();
            let _ = self.requests.send(Request::Get { id, key, done });
            id
        }

        /// Asks the SDK to cancel an operation; it answers the callback with an error
        /// status if the operation was still pending.
        pub fn cancel(&self, id: u64) {
            let _ = self.requests.send(Request::Cancel { id });
        }

        /// Completes every held (`slow/`) operation.
        pub fn flush(&self) {
            let _ = self.requests.send(Request::Flush);
        }

        /// Streams `chunks` chunks of 16 KiB to `on_body`, then calls `on_done`, all from
        /// the event-loop thread.
        pub fn download(
            &self,
            chunks: usize,
            on_body: BodyCallback,
            on_done: impl FnOnce() + Send + 'static,
        ) {
            let on_done = Box::new(on_done);
            let _ = self.requests.send(Request::Download {
                chunks,
                on_body,
                on_done,
            });
        }

        /// Stops the event loop; `on_shutdown` runs on it as its last act.
        pub fn shutdown(&self, on_shutdown: impl FnOnce() + Send + 'static) {
            let on_shutdown = Box::new(on_shutdown);
            let _ = self.requests.send(Request::Shutdown { on_shutdown });
        }
    }

    fn run(inbox: mpsc::Receiver<Request>) {
        let mut held: HashMap<u64, (String, Callback)> = HashMap::new();
        for request in inbox {
            match request {
                Request::Get { key, done, .. } if key == "lost" => drop(done),
                Request::Get { id, key, done } if key.starts_with("slow/") => {
                    held.insert(id, (key, done));
                }
                Request::Get { key, done, .. } => done(Ok(format!("value of {key}"))),
                Request::Cancel { id } => {
                    if let Some((key, done)) = held.remove(&id) {
                        println!("  [sdk] operation {id} ({key}) canceled on request");
                        done(Err(-125)); // ECANCELED
                    }
                }
                Request::Flush => {
                    for (_, (key, done)) in held.drain() {
                        done(Ok(format!("value of {key}")));
                    }
                }
                Request::Download {
                    chunks,
                    mut on_body,
                    on_done,
                } => {
                    for i in 0..chunks {
                        if !on_body(vec![i as u8; 16 * 1024]) {
                            break;
                        }
                    }
                    drop(on_body);
                    on_done();
                }
                Request::Shutdown { on_shutdown } => {
                    on_shutdown();
                    break;
                }
            }
        }
    }
}

/// The binding: what a library author writes with anywait. One function per SDK call,
/// returning a plain future that works under any executor and for blocking callers.
fn get(client: &sdk::Client, key: &str) -> WaitableFuture<Result<String, i32>> {
    let (completer, future): (Completer<_>, _) = anywait::waitable();
    let id = client.get(
        key,
        Box::new(move |result| {
            // Runs on the SDK's thread. Never blocks; Err(result) if the caller gave up.
            if let Err(unwanted) = completer.complete(result) {
                println!("  [binding] result arrived after the caller left: {unwanted:?}");
            }
        }),
    );
    // If the caller drops the future first, tell the SDK to stop working on it.
    let canceler = client.clone();
    future.on_cancel(move || {
        println!("  [binding] future dropped before completion: canceling operation {id}");
        canceler.cancel(id);
    })
}

fn main() {
    let (client, event_loop) = sdk::Client::start();
    println!("anywait tour: a callback SDK with its own event-loop thread\n");

    println!("1. the same binding awaited under several executors:");
    let answer = pollster::block_on(get(&client, "pollster"));
    println!("  pollster:                 {answer:?}");
    let answer = futures::executor::block_on(get(&client, "futures"));
    println!("  futures::executor:        {answer:?}");
    let answer = smol::block_on(get(&client, "smol"));
    println!("  smol:                     {answer:?}");
    let answer = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(get(&client, "tokio-current-thread"));
    println!("  tokio (current thread):   {answer:?}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let spawned = runtime.spawn(get(&client, "tokio-multi-thread"));
    let answer = runtime.block_on(spawned).unwrap();
    println!("  tokio (multi thread):     {answer:?}");
    let executor = async_executor::Executor::new();
    let task = executor.spawn(get(&client, "async-executor"));
    let answer = futures::executor::block_on(executor.run(task));
    println!("  async-executor:           {answer:?}");

    println!("\n2. blocking waits for sync callers, with a timeout:");
    let answer = get(&client, "blocking").wait_blocking();
    println!("  wait_blocking:            {answer:?}");
    let mut slow = get(&client, "slow/report");
    let first = slow.wait_timeout(Duration::from_millis(20));
    assert_eq!(first, Err(WaitError::Timeout));
    println!("  wait_timeout(20 ms):      {first:?} (the future is still usable)");
    client.flush();
    let answer = slow.wait_timeout(Duration::from_secs(5));
    println!("  after flush:              {answer:?}");

    println!("\n3. many operations in flight at once, joined on one executor:");
    let futures: Vec<_> = (0..5)
        .map(|i| get(&client, &format!("batch/{i}")))
        .collect();
    let answers = futures::executor::block_on(futures::future::join_all(futures));
    println!("  {} answers: {:?}", answers.len(), answers.last().unwrap());

    println!("\n4. a done-callback instead of a future (no executor at all):");
    let (tx, rx) = mpsc::channel();
    get(&client, "callback").on_complete(move |result| {
        println!(
            "  on_complete ran on thread {:?}",
            thread::current().name().unwrap_or("?")
        );
        tx.send(result).unwrap();
    });
    println!("  received:                 {:?}", rx.recv().unwrap());

    println!("\n5. cancellation: the caller gives up before the SDK answers:");
    let slow = get(&client, "slow/abandoned-by-caller");
    let raced = futures::executor::block_on(async {
        futures::select_biased! {
            _ = futures::FutureExt::fuse(slow) => "the slow operation",
            _ = futures::FutureExt::fuse(get(&client, "fast")) => "the fast operation",
        }
    });
    println!("  select! finished with {raced}; the slow future was dropped");
    // The SDK answers the canceled operation on its own thread; complete() hands the
    // value back to the binding instead of blocking or panicking. (The SDK works in
    // order, so one more round trip shows that has happened.)
    let _ = get(&client, "barrier").wait_blocking();

    println!("\n6. abandonment: the SDK drops the callback without calling it:");
    let answer = get(&client, "lost").wait_timeout(Duration::from_secs(5));
    println!("  wait_timeout:             {answer:?} (an error, not a hang)");
    assert_eq!(answer, Err(WaitError::Abandoned));

    println!("\n7. one result, many waiters (SharedWaitable):");
    let shared = get(&client, "config").shared();
    let thread_waiter = {
        let shared = shared.clone();
        thread::spawn(move || shared.wait_blocking())
    };
    shared.on_complete(|result| println!("  done-callback saw:        {result:?}"));
    let from_task = futures::executor::block_on(shared.clone());
    println!("  a task got:               {from_task:?}");
    println!(
        "  a thread got:             {:?}",
        thread_waiter.join().unwrap()
    );

    println!("\n8. a response body as a Stream with a credit window:");
    let (feeder, body) =
        anywait::callback_stream::<Vec<u8>, String>(anywait::StreamPolicy::Window {
            initial: 256 * 1024,
            weigh: |chunk: &Vec<u8>| chunk.len(),
        });
    let reopened = Arc::new(Mutex::new(0usize));
    let credit = reopened.clone();
    feeder.on_credit(move |bytes| *credit.lock().unwrap() += bytes);
    // The SDK's body callback pushes on its own thread and never blocks; a real binding
    // pauses the transfer when the window is used up and resumes it from on_credit.
    let body_feeder = feeder.clone();
    client.download(
        8,
        Box::new(move |chunk| match body_feeder.push(chunk) {
            Ok(()) => true,
            Err(rejected) => {
                println!("  [binding] chunk refused: {rejected}");
                false
            }
        }),
        move || {
            feeder.finish();
        },
    );
    let bytes = smol::block_on(futures::StreamExt::fold(
        body,
        0,
        |total, chunk| async move { total + chunk.map_or(0, |c| c.len()) },
    ));
    println!(
        "  received {bytes} bytes; the consumer re-opened {} bytes of window",
        *reopened.lock().unwrap()
    );

    println!("\n9. the SDK's shutdown as an AsyncEvent (set from its own thread):");
    let shut_down = Arc::new(anywait::AsyncEvent::new());
    let setter = anywait::EventSetter::new(&shut_down);
    let waiting_task = shut_down.clone().wait_owned();
    client.shutdown(move || setter.set());
    futures::executor::block_on(waiting_task);
    assert!(shut_down.wait_timeout(Duration::from_secs(5)));
    println!("  a task and a thread both saw the event set");
    event_loop.join().unwrap();
    println!("\ndone: every operation was answered, canceled or reported abandoned.");
}
