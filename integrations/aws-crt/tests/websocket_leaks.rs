//! A websocket under the CRT's tracing allocator: once it and the stack have shut down, the
//! tracer reports 0 bytes outstanding. In its own binary: joining the CRT's managed threads
//! is process-wide.

mod support;

use anywait_aws_crt::{join_all_managed_threads, TracingAllocator, WebSocket, WebSocketOptions};
use futures_lite::StreamExt;
use support::ws::{EchoServer, Seen};
use support::{bounded, Stack, LIMIT};

#[test]
fn a_closed_websocket_leaves_zero_tracer_bytes() {
    let tracer = TracingAllocator::new();
    let server = EchoServer::start();
    let stack = Stack::new(tracer.allocator(), 1);
    smol::block_on(async {
        let options = WebSocketOptions::new("127.0.0.1", server.port, "/echo");
        let mut ws = bounded(WebSocket::connect(&stack.bootstrap, &options))
            .await
            .expect("handshake");
        assert_eq!(server.next(), Seen::Path("/echo".into()));
        for i in 0..4 {
            bounded(ws.send_text(&format!("message {i}")))
                .await
                .unwrap();
            let frame = bounded(ws.frames.next()).await.unwrap().unwrap();
            assert_eq!(frame.payload, format!("message {i}").as_bytes());
        }
        // One frame in flight when the websocket is dropped (not closed first).
        let last = ws.send_binary(vec![7; 100_000]);
        let closed = ws.closed();
        drop(ws);
        bounded(closed.wait_owned()).await;
        // Sent before the close, or failed by it: either way its future resolves.
        let _ = bounded(last).await;
    });
    let live = tracer.bytes();
    assert!(live > 0, "the tracer saw nothing");
    smol::block_on(stack.shutdown());
    assert!(
        join_all_managed_threads(LIMIT),
        "CRT threads did not finish"
    );
    let left = tracer.bytes();
    eprintln!("tracer bytes: {live} with the stack alive, {left} after shutdown");
    assert_eq!(left, 0, "{} allocations outstanding", tracer.count());
}
