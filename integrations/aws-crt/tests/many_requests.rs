//! Load: 1 000 GETs, 64 in flight at any time, spread over several keep-alive
//! connections, as tasks on a multi-thread tokio runtime. Every request must complete with
//! the right body, and the whole run is bounded in time.
//!
//! On one HTTP/1.1 connection the CRT queues the requests and reads their responses in
//! order; each response's body still goes through its own window-bounded body stream.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anywait_aws_crt::{Allocator, ConnectOptions, HttpConnection};
use futures_lite::StreamExt;
use support::{bounded, check_pattern, ServerEvent, Stack, TestServer, SMALL_BODY};

const REQUESTS: usize = 1_000;

/// The whole run (connect, 1 000 requests, shutdown) must finish within this.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Request `i`: every fourth one `/small`, the others `/bytes/N` with N from 0 to about
/// 100 KB (larger than the 32 KiB window, so many bodies need several window updates).
fn path_of(i: usize) -> (String, Option<u64>) {
    if i % 4 == 0 {
        ("/small".to_string(), None)
    } else {
        let len = (i as u64 * 7_919) % 100_000;
        (format!("/bytes/{len}"), Some(len))
    }
}

/// Runs [`REQUESTS`] GETs over `connections` connections with `per_connection` requests
/// in flight on each, as `connections * per_connection` worker tasks that take request
/// numbers from a shared counter until none are left.
fn load(connections: usize, per_connection: usize) {
    let server = Arc::new(TestServer::start());
    let stack = Arc::new(Stack::new(Allocator::default_allocator(), 2));
    let runtime = support::tokio_runtime();
    let started = Instant::now();
    let options = ConnectOptions {
        initial_window_size: 32 * 1024,
        ..ConnectOptions::new("127.0.0.1", server.port)
    };
    let (completed, max_in_flight) = runtime.block_on(async {
        let run =
            async {
                let mut opened = Vec::new();
                for _ in 0..connections {
                    let connection = bounded(HttpConnection::connect(&stack.bootstrap, &options))
                        .await
                        .expect("connected");
                    opened.push(Arc::new(connection));
                }
                let next = Arc::new(AtomicUsize::new(0));
                let in_flight = Arc::new(AtomicUsize::new(0));
                let max_in_flight = Arc::new(AtomicUsize::new(0));
                let mut workers = Vec::new();
                for connection in &opened {
                    for _ in 0..per_connection {
                        let connection = Arc::clone(connection);
                        let next = Arc::clone(&next);
                        let in_flight = Arc::clone(&in_flight);
                        let max_in_flight = Arc::clone(&max_in_flight);
                        workers.push(tokio::spawn(async move {
                            let mut done = 0usize;
                            loop {
                                let i = next.fetch_add(1, Ordering::Relaxed);
                                if i >= REQUESTS {
                                    return done;
                                }
                                let (path, len) = path_of(i);
                                let now = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                                max_in_flight.fetch_max(now, Ordering::Relaxed);
                                let mut response = bounded(connection.get(&path))
                                    .await
                                    .unwrap_or_else(|e| panic!("request {i} ({path}): {e}"));
                                assert_eq!(response.status, 200, "request {i} ({path})");
                                let mut body = Vec::new();
                                while let Some(chunk) = bounded(response.body.next()).await {
                                    body.extend(chunk.unwrap_or_else(|e| {
                                        panic!("request {i} ({path}) body: {e}")
                                    }));
                                }
                                let stats = response.body.stats();
                                assert_eq!(stats.rejected, 0, "the CRT overran the window");
                                match len {
                                    None => assert_eq!(body, SMALL_BODY, "request {i}"),
                                    Some(len) => {
                                        assert_eq!(body.len() as u64, len, "request {i}");
                                        check_pattern(0, &body);
                                    }
                                }
                                in_flight.fetch_sub(1, Ordering::Relaxed);
                                done += 1;
                            }
                        }));
                    }
                }
                let mut completed = 0;
                for worker in workers {
                    completed += worker.await.expect("a worker panicked");
                }
                // At most one request per worker by construction; most of the time all of them.
                let max_in_flight = max_in_flight.load(Ordering::Relaxed);
                assert!(max_in_flight <= connections * per_connection);
                assert!(
                    max_in_flight > connections * per_connection / 2,
                    "at most {max_in_flight} requests were ever in flight at once"
                );
                for connection in opened {
                    assert!(connection.is_open(), "a keep-alive connection closed");
                    let closed = connection.closed();
                    drop(connection);
                    bounded(closed.wait_owned()).await;
                }
                (completed, max_in_flight)
            };
        anywait::timeout(RUN_LIMIT, run)
            .await
            .expect("1 000 requests did not complete in time")
    });
    let elapsed = started.elapsed();
    assert_eq!(completed, REQUESTS);
    let mut served = 0;
    while served < REQUESTS {
        match server.next_event() {
            ServerEvent::Served(_) => served += 1,
            other => panic!("the server saw {other:?}"),
        }
    }
    eprintln!(
        "{REQUESTS} requests over {connections} connections x {per_connection} in flight: \
         {:.2} s, {:.0} requests/s, at most {max_in_flight} in flight at once",
        elapsed.as_secs_f64(),
        REQUESTS as f64 / elapsed.as_secs_f64()
    );
    let stack = Arc::into_inner(stack).unwrap();
    stack.shutdown_blocking();
}

#[test]
fn a_thousand_requests_8_connections_x_8_in_flight_under_tokio_multi_thread() {
    load(8, 8);
}

#[test]
fn a_thousand_requests_64_connections_x_1_in_flight_under_tokio_multi_thread() {
    load(64, 1);
}
