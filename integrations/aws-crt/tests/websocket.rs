//! WebSockets through anywait: the handshake as a future, incoming data frames as a
//! `CallbackStream` under the websocket's read window, each outgoing frame as a future,
//! the close awaitable. Against a tungstenite echo server on 127.0.0.1.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use anywait::StreamError;
use anywait_aws_crt::{
    opcode, Allocator, CrtError, Frame, Frames, WebSocket, WebSocketOptions, WebSocketSender,
};
use futures_lite::future::zip;
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
    support::on_tokio(|stack| async move { echo(&stack, &server).await });
}

#[test]
fn echo_under_smol() {
    let server = EchoServer::start();
    support::on_smol(|stack| async move { echo(&stack, &server).await });
}

/// How many messages the echo tests send.
const MESSAGES: usize = 10_000;

/// Message `i`: text when `i` is even, binary when odd, 9 to 72 bytes naming `i`.
fn message(i: usize) -> (u8, Vec<u8>) {
    let opcode = if i % 2 == 0 {
        opcode::TEXT
    } else {
        opcode::BINARY
    };
    (opcode, format!("{i:08}:").repeat(1 + i % 8).into_bytes())
}

/// Queues every message at once (each send its own future), then awaits them all.
async fn send_all(sender: WebSocketSender) {
    let sends: Vec<_> = (0..MESSAGES)
        .map(|i| {
            let (opcode, payload) = message(i);
            sender.send(opcode, true, payload)
        })
        .collect();
    for send in sends {
        bounded(send).await.expect("sent");
    }
}

/// Takes the echoes and checks each one is the next message, in order.
async fn receive_all(frames: &mut Frames) {
    for i in 0..MESSAGES {
        let frame = bounded(frames.next())
            .await
            .expect("the frame stream ended")
            .expect("a frame");
        assert_eq!((frame.opcode, frame.payload), message(i), "message {i}");
    }
}

fn report(how: &str, elapsed: Duration) {
    eprintln!(
        "websocket echo ({how}): {MESSAGES} messages in {:.1} ms, {:.0} messages/s",
        elapsed.as_secs_f64() * 1e3,
        MESSAGES as f64 / elapsed.as_secs_f64()
    );
}

async fn connect(stack: &Stack, server: &EchoServer) -> WebSocket {
    let options = WebSocketOptions::new("127.0.0.1", server.port, "/echo");
    let ws = bounded(WebSocket::connect(&stack.bootstrap, &options))
        .await
        .expect("handshake");
    assert_eq!(server.next(), Seen::Path("/echo".into()));
    ws
}

/// Closes from the sending half and checks the frame stream ends and the server saw it.
async fn close(sender: WebSocketSender, mut frames: Frames, server: &EchoServer) {
    bounded(sender.close().wait_owned()).await;
    assert!(bounded(frames.next()).await.is_none_or(|end| end.is_err()));
    assert_eq!(server.next(), Seen::Closed);
}

#[test]
fn ten_thousand_messages_echo_in_order_under_tokio() {
    let server = EchoServer::start();
    support::on_tokio(|stack| async move {
        let (sender, mut frames) = connect(&stack, &server).await.split();
        let started = Instant::now();
        // The writer is its own task, so sends and receives run on different workers.
        let writer = tokio::spawn(send_all(sender.clone()));
        receive_all(&mut frames).await;
        report("tokio multi-thread", started.elapsed());
        writer.await.unwrap();
        close(sender, frames, &server).await;
    });
}

#[test]
fn ten_thousand_messages_echo_in_order_under_smol() {
    let server = EchoServer::start();
    support::on_smol(|stack| async move {
        let (sender, mut frames) = connect(&stack, &server).await.split();
        let started = Instant::now();
        zip(send_all(sender.clone()), receive_all(&mut frames)).await;
        report("smol", started.elapsed());
        close(sender, frames, &server).await;
    });
}

#[test]
fn ten_thousand_messages_echo_in_order_blockingly() {
    let server = EchoServer::start();
    let stack = Stack::new(Allocator::default_allocator(), 1);
    let options = WebSocketOptions::new("127.0.0.1", server.port, "/echo");
    let ws = WebSocket::connect(&stack.bootstrap, &options)
        .wait_timeout(LIMIT)
        .expect("handshake");
    assert_eq!(server.next(), Seen::Path("/echo".into()));
    let (sender, mut frames) = ws.split();
    let started = Instant::now();
    std::thread::scope(|scope| {
        // A plain thread sends, waiting for each frame to be written before the next.
        let writer = scope.spawn(|| {
            for i in 0..MESSAGES {
                let (opcode, payload) = message(i);
                sender
                    .send(opcode, true, payload)
                    .wait_timeout(LIMIT)
                    .expect("sent");
            }
        });
        for i in 0..MESSAGES {
            let frame = frames
                .next_timeout(LIMIT)
                .expect("the frame stream ended")
                .expect("a frame");
            assert_eq!((frame.opcode, frame.payload), message(i), "message {i}");
        }
        writer.join().unwrap();
    });
    report("blocking threads", started.elapsed());
    assert!(sender.close().wait_timeout(LIMIT));
    assert!(frames.next_timeout(LIMIT).is_none_or(|end| end.is_err()));
    assert_eq!(server.next(), Seen::Closed);
    drop((sender, frames));
    stack.shutdown_blocking();
}

/// A consumer that reads nothing: the CRT fills the window and stops there, though the
/// server has echoed 16 windows' worth; then everything arrives as the consumer reads.
#[test]
fn a_slow_consumer_holds_at_most_the_window() {
    const WINDOW: usize = 16 * 1024;
    const SIZE: usize = 1024;
    const COUNT: usize = 256;
    let server = EchoServer::start();
    let stack = Stack::new(Allocator::default_allocator(), 1);
    let path = format!("/report-after/{COUNT}");
    let options = WebSocketOptions {
        initial_window_size: WINDOW,
        ..WebSocketOptions::new("127.0.0.1", server.port, path.clone())
    };
    let mut ws = WebSocket::connect(&stack.bootstrap, &options)
        .wait_timeout(LIMIT)
        .expect("handshake");
    assert_eq!(server.next(), Seen::Path(path));
    let sends: Vec<_> = (0..COUNT)
        .map(|i| ws.send_binary(vec![i as u8; SIZE]))
        .collect();
    for mut send in sends {
        send.wait_timeout(LIMIT).expect("sent");
    }
    // The server has written every echo to the socket ...
    assert_eq!(server.next(), Seen::Echoed(COUNT));
    // ... and the CRT fills the window (within two frames: frame headers may count too).
    let deadline = Instant::now() + LIMIT;
    while ws.frames.stats().buffered_weight + 2 * SIZE <= WINDOW {
        assert!(Instant::now() < deadline, "the CRT did not fill the window");
        std::thread::yield_now();
    }
    let held = ws.frames.stats();
    assert!(held.buffered_weight <= WINDOW, "held {held:?}");
    assert!(held.buffered < COUNT / 4, "held {held:?}");
    let mut max_buffered = held.buffered_weight;
    for i in 0..COUNT {
        let frame = ws
            .frames
            .next_timeout(LIMIT)
            .expect("a frame")
            .expect("a frame");
        assert_eq!(frame.payload, vec![i as u8; SIZE], "message {i}");
        max_buffered = max_buffered.max(ws.frames.stats().buffered_weight);
    }
    assert!(max_buffered <= WINDOW, "held {max_buffered} bytes");
    assert_eq!(ws.frames.stats().rejected, 0, "the CRT overran the window");
    assert!(ws.close().wait_timeout(LIMIT));
    drop(ws);
    stack.shutdown_blocking();
}

/// The server drops the TCP connection mid-stream (no closing handshake): every echo it
/// sent arrives, then the frame stream ends with an error instead of hanging, and later
/// sends fail.
#[test]
fn the_server_dropping_the_connection_mid_stream_fails_the_frame_stream() {
    const ECHOED: usize = 100;
    let server = EchoServer::start();
    let stack = Stack::new(Allocator::default_allocator(), 1);
    let path = format!("/drop-after/{ECHOED}");
    let options = WebSocketOptions::new("127.0.0.1", server.port, path.clone());
    let mut ws = WebSocket::connect(&stack.bootstrap, &options)
        .wait_timeout(LIMIT)
        .expect("handshake");
    assert_eq!(server.next(), Seen::Path(path));
    let sends: Vec<_> = (0..ECHOED)
        .map(|i| ws.send_text(&format!("message {i}")))
        .collect();
    for i in 0..ECHOED {
        let frame = ws
            .frames
            .next_timeout(LIMIT)
            .expect("a frame")
            .expect("a frame");
        assert_eq!(frame.payload, format!("message {i}").as_bytes());
    }
    assert_eq!(server.next(), Seen::Dropped);
    match ws.frames.next_timeout(LIMIT) {
        Some(Err(StreamError::Failed(error))) => assert!(error.name().is_some(), "{error}"),
        other => panic!("expected the CRT's error, got {other:?}"),
    }
    assert!(ws.closed().wait_timeout(LIMIT));
    for mut send in sends {
        send.wait_timeout(LIMIT).expect("sent before the drop");
    }
    match ws.send_text("late").wait_timeout(LIMIT) {
        Err(CrtError::Crt(_) | CrtError::Abandoned) => {}
        other => panic!("a send after the drop gave {other:?}"),
    }
    drop(ws);
    stack.shutdown_blocking();
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

/// Dropping the websocket closes it (the server sees the client go), and so does dropping
/// only the frame stream of a split one while its sender lives on; sends then fail.
#[test]
fn dropping_the_websocket_or_its_frame_stream_closes_it() {
    let server = EchoServer::start();
    let stack = Stack::new(Allocator::default_allocator(), 1);
    let options = WebSocketOptions::new("127.0.0.1", server.port, "/echo");
    let ws = WebSocket::connect(&stack.bootstrap, &options)
        .wait_timeout(LIMIT)
        .expect("handshake");
    assert_eq!(server.next(), Seen::Path("/echo".into()));
    let closed = ws.closed();
    drop(ws);
    assert!(closed.wait_timeout(LIMIT));
    assert_eq!(server.next(), Seen::Closed);

    let (sender, frames) = WebSocket::connect(&stack.bootstrap, &options)
        .wait_timeout(LIMIT)
        .expect("handshake")
        .split();
    assert_eq!(server.next(), Seen::Path("/echo".into()));
    drop(frames);
    assert!(sender.closed().wait_timeout(LIMIT));
    assert_eq!(server.next(), Seen::Closed);
    match sender.send_text("after the close").wait_timeout(LIMIT) {
        Err(CrtError::Crt(_) | CrtError::Abandoned) => {}
        other => panic!("a send after the close gave {other:?}"),
    }
    drop(sender);
    stack.shutdown_blocking();
}
