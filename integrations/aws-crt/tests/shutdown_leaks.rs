//! Steps 1-4 under the CRT's tracing allocator: once everything has shut down, the tracer
//! reports 0 bytes outstanding.
//!
//! One test in its own binary on purpose: joining the CRT's managed threads is
//! process-wide, so no other CRT objects may be alive meanwhile.

mod support;

use anywait_aws_crt::crt_future::{bridge, Owned};
use anywait_aws_crt::{
    join_all_managed_threads, sys, ConnectOptions, EventLoopGroup, HttpConnection, TracingAllocator,
};
use futures_lite::StreamExt;
use support::{bounded, ServerEvent, Stack, TestServer, LIMIT, SMALL_BODY};

fn settle(tracer: &TracingAllocator) -> usize {
    // The CRT frees its managed threads' bookkeeping when it joins them.
    assert!(
        join_all_managed_threads(LIMIT),
        "CRT threads did not finish"
    );
    tracer.bytes()
}

#[test]
fn everything_shut_down_leaves_zero_tracer_bytes() {
    // 1. An event-loop group alone.
    let tracer = TracingAllocator::new();
    let group = EventLoopGroup::new(tracer.allocator(), 2).unwrap();
    let live = tracer.bytes();
    assert!(live > 0, "the tracer saw nothing");
    smol::block_on(bounded(group.shutdown().wait_owned()));
    assert_eq!(
        settle(&tracer),
        0,
        "event loop group: {live} bytes while alive"
    );
    drop(tracer);

    // 2-4. A resolver, a CRT future, an HTTP connection and two GETs (one dropped
    // mid-body), then everything shut down.
    let tracer = TracingAllocator::new();
    let server = TestServer::start();
    let stack = Stack::new(tracer.allocator(), 2);
    smol::block_on(async {
        let addresses = bounded(stack.resolver.resolve("localhost")).await.unwrap();
        assert!(!addresses.is_empty());

        // SAFETY: a new future, one reference handed to the bridge, one to the producer.
        let future = unsafe { sys::aws_future_void_new(tracer.allocator().as_ptr()) };
        // SAFETY: the future is alive (our reference).
        let producer = unsafe { Owned::acquire(future) };
        // SAFETY: as above.
        let bridged = unsafe { bridge(future) };
        std::thread::spawn(move || {
            // SAFETY: the producer's reference keeps the future alive.
            producer.with(|f| unsafe { sys::aws_future_void_set_result(f) })
        });
        bounded(bridged).await.unwrap();

        let options = ConnectOptions {
            initial_window_size: 64 * 1024,
            ..ConnectOptions::new("localhost", server.port)
        };
        let connection = bounded(HttpConnection::connect(&stack.bootstrap, &options))
            .await
            .unwrap();
        let mut response = bounded(connection.get("/small")).await.unwrap();
        let mut body = Vec::new();
        while let Some(chunk) = bounded(response.body.next()).await {
            body.extend(chunk.unwrap());
        }
        assert_eq!(body, SMALL_BODY);
        assert_eq!(server.next_event(), ServerEvent::Served("/small".into()));

        let mut large = bounded(connection.get("/bytes/8388608")).await.unwrap();
        bounded(large.body.next()).await.unwrap().unwrap();
        drop(large); // cancels the stream, closing the connection
        bounded(connection.closed().wait_owned()).await;
        drop(connection);
    });
    let live = tracer.bytes();
    assert!(live > 0);
    smol::block_on(stack.shutdown());
    let left = settle(&tracer);
    eprintln!("tracer bytes: {live} with the stack alive, {left} after shutdown");
    assert_eq!(left, 0, "{} allocations outstanding", tracer.count());
}
