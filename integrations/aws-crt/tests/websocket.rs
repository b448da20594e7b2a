//! WebSockets through anywait: the handshake as a future, incoming data frames as a
//! `CallbackStream` under the websocket's read window, each outgoing frame as a future,
//! the close awaitable. Against a tungstenite echo server on 127.0.0.1.

mod support;

use std::net::TcpListener;

use anywait_aws_crt::{opcode, Allocator, Frame, WebSocket, WebSocketOptions};
use futures_lite::StreamExt;
use support::ws::{EchoServer, Seen};
use support::{bounded, Stack, LIMIT};

async fn next_frame(ws: &mut WebSocket) -> Frame {
    bounded(ws.frames.next())
        .await
        .expect("the frame stream ended")
        .expect("a frame")
}

/// Handshake, text and binary echoes, close: awaited on the given executor.
async fn echo(stack: &Stack, server: &EchoServer) {
    let options = WebSocketOptions::new("127.0.0.1", server.port, "/echo");
    let mut ws = bounded(WebSocket::connect(&stack.bootstrap, &options))
        .await
        .expect("handshake");
    assert_eq!(server.next(), Seen::Path("/echo".into()));
    bounded(ws.send_text("hello, websocket"))
        .await
        .expect("sent");
    let frame = next_frame(&mut ws).await;
    assert_eq!(frame.opcode, opcode::TEXT);
    assert!(frame.fin);
    assert_eq!(frame.payload, b"hello, websocket");
    // Several frames in flight at once, each its own future.
    let sends: Vec<_> = (0..10u8)
        .map(|i| ws.send_binary(vec![i; 1000 * usize::from(i)]))
        .collect();
    for send in sends {
        bounded(send).await.expect("sent");
    }
    for i in 0..10u8 {
        let frame = next_frame(&mut ws).await;
        assert_eq!(frame.opcode, opcode::BINARY);
        assert_eq!(frame.payload, vec![i; 1000 * usize::from(i)]);
    }
    let closed = ws.close();
    bounded(closed.wait_owned()).await;
    // The stream ends once the websocket is shut down.
    assert!(bounded(ws.frames.next())
        .await
        .is_none_or(|end| end.is_err()));
    assert_eq!(server.next(), Seen::Closed);
}

#[test]
fn echo_under_tokio_multi_thread() {
    let server = EchoServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let stack = Stack::new(Allocator::default_allocator(), 2);
        let stack = tokio::spawn(async move {
            echo(&stack, &server).await;
            stack
        })
        .await
        .unwrap();
        stack.shutdown().await;
    });
}

#[test]
fn echo_under_smol() {
    let server = EchoServer::start();
    smol::block_on(async {
        let stack = Stack::new(Allocator::default_allocator(), 1);
        echo(&stack, &server).await;
        stack.shutdown().await;
    });
}

/// Messages many times the window: every byte arrives, and the frame stream never holds
/// more than the window (the CRT waits for the consumer's credit).
#[test]
fn many_frames_through_a_small_window_blockingly() {
    const WINDOW: usize = 64 * 1024;
    let server = EchoServer::start();
    let stack = Stack::new(Allocator::default_allocator(), 1);
    let options = WebSocketOptions {
        initial_window_size: WINDOW,
        ..WebSocketOptions::new("127.0.0.1", server.port, "/echo")
    };
    let mut ws = WebSocket::connect(&stack.bootstrap, &options)
        .wait_timeout(LIMIT)
        .expect("handshake");
    assert_eq!(server.next(), Seen::Path("/echo".into()));
    const MESSAGES: usize = 200;
    const SIZE: usize = 40 * 1024;
    let sends: Vec<_> = (0..MESSAGES)
        .map(|i| ws.send_binary(vec![(i % 256) as u8; SIZE]))
        .collect();
    let mut max_buffered = 0;
    for i in 0..MESSAGES {
        let frame = ws
            .frames
            .next_timeout(LIMIT)
            .expect("a frame")
            .expect("a frame");
        assert_eq!(frame.payload.len(), SIZE);
        assert!(frame.payload.iter().all(|b| *b == (i % 256) as u8));
        max_buffered = max_buffered.max(ws.frames.stats().buffered_weight);
    }
    for mut send in sends {
        send.wait_timeout(LIMIT).expect("sent");
    }
    let stats = ws.frames.stats();
    assert_eq!(stats.rejected, 0, "the CRT overran the window");
    assert!(max_buffered <= WINDOW, "held {max_buffered} bytes");
    let closed = ws.close();
    assert!(closed.wait_timeout(LIMIT));
    drop(ws);
    stack.shutdown_blocking();
}

/// A data frame larger than the window fails the connection instead of stalling it.
#[test]
fn a_frame_larger_than_the_window_fails_the_frame_stream() {
    let server = EchoServer::start();
    let stack = Stack::new(Allocator::default_allocator(), 1);
    let options = WebSocketOptions {
        initial_window_size: 1024,
        ..WebSocketOptions::new("127.0.0.1", server.port, "/big/4096")
    };
    let mut ws = WebSocket::connect(&stack.bootstrap, &options)
        .wait_timeout(LIMIT)
        .expect("handshake");
    match ws.frames.next_timeout(LIMIT) {
        Some(Err(_)) | None => {}
        Some(Ok(frame)) => panic!("got a {}-byte frame", frame.payload.len()),
    }
    assert!(ws.closed().wait_timeout(LIMIT));
    drop(ws);
    stack.shutdown_blocking();
}

/// Connecting to a port nobody listens on fails the handshake future.
#[test]
fn connecting_to_a_closed_port_fails_the_handshake() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let stack = Stack::new(Allocator::default_allocator(), 1);
    let options = WebSocketOptions::new("127.0.0.1", port, "/");
    let error = WebSocket::connect(&stack.bootstrap, &options)
        .wait_timeout(LIMIT)
        .expect_err("nobody listens");
    assert!(error.name().is_some(), "{error}");
    stack.shutdown_blocking();
}
