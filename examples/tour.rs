//! A tour of anywait: a small simulated callback SDK, running an event-loop thread of its
//! own, completes operations that are awaited under several executors and waited on
//! blockingly; one operation is canceled by its caller and one is abandoned by the SDK.
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

    enum Request {
        Get {
            id: u64,
            key: String,
            done: Callback,
        },
        Cancel {
            id: u64,
        },
        Flush,
        Shutdown,
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

        /// Stops the event loop.
        pub fn shutdown(&self) {
            let _ = self.requests.send(Request::Shutdown);
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
                Request::Shutdown => break,
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

    client.shutdown();
    event_loop.join().unwrap();
    println!("\ndone: every operation was answered, canceled or reported abandoned.");
}
