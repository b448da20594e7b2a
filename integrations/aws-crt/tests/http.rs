//! Step 4: HTTP/1.1 through anywait: connection setup as a future, the response head as a
//! future, the body as a `CallbackStream` under the CRT's read window.

mod support;

use std::time::Instant;

use anywait_aws_crt::{Allocator, ConnectOptions, CrtError, HttpConnection, Response};
use futures_lite::StreamExt;
use support::{bounded, check_pattern, wait_event, ServerEvent, Stack, TestServer, SMALL_BODY};

fn options(server: &TestServer, window: usize) -> ConnectOptions {
    ConnectOptions {
        initial_window_size: window,
        ..ConnectOptions::new("127.0.0.1", server.port)
    }
}

async fn read_body(response: &mut Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(chunk) = bounded(response.body.next()).await {
        body.extend(chunk.expect("a body chunk"));
    }
    body
}

/// Two GETs on one keep-alive connection, awaited on the given executor.
async fn small_gets(stack: &Stack, server: &TestServer) {
    let connection = bounded(HttpConnection::connect(
        &stack.bootstrap,
        &options(server, 64 * 1024),
    ))
    .await
    .expect("connected");
    assert!(connection.is_open());
    for _ in 0..2 {
        let mut response = bounded(connection.get("/small")).await.expect("a response");
        assert_eq!(response.status, 200);
        assert!(response
            .headers
            .iter()
            .any(|(name, value)| name.eq_ignore_ascii_case("x-test") && value == "anywait"));
        assert_eq!(read_body(&mut response).await, SMALL_BODY);
        assert_eq!(server.next_event(), ServerEvent::Served("/small".into()));
    }
    let not_found = bounded(connection.get("/status/404")).await.unwrap();
    assert_eq!(not_found.status, 404);
    drop(not_found); // an unread body of a finished stream: nothing to cancel
    let closed = connection.closed();
    drop(connection);
    bounded(closed.wait_owned()).await;
}

#[test]
fn small_get_under_tokio_multi_thread() {
    let server = TestServer::start();
    support::on_tokio(|stack| async move { small_gets(&stack, &server).await });
}

#[test]
fn small_get_under_smol() {
    let server = TestServer::start();
    support::on_smol(|stack| async move { small_gets(&stack, &server).await });
}

#[test]
fn small_get_blockingly() {
    let server = TestServer::start();
    let stack = Stack::new(Allocator::default_allocator(), 1);
    let mut connect = HttpConnection::connect(&stack.bootstrap, &options(&server, 4096));
    let connection = connect.wait_timeout(support::LIMIT).unwrap();
    let mut head = connection.get("/small");
    let mut response = head.wait_timeout(support::LIMIT).unwrap();
    assert_eq!(response.status, 200);
    let mut body = Vec::new();
    while let Some(chunk) = response.body.next_timeout(support::LIMIT) {
        body.extend(chunk.unwrap());
    }
    assert_eq!(body, SMALL_BODY);
    let closed = connection.closed();
    drop(connection);
    wait_event(&closed, "the connection");
    stack.shutdown_blocking();
}

#[test]
fn connecting_to_a_closed_port_fails_with_the_crt_error() {
    // Bind then drop a listener: the port is (almost certainly) closed now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stack = Stack::new(Allocator::default_allocator(), 1);
    let error = pollster::block_on(bounded(HttpConnection::connect(
        &stack.bootstrap,
        &ConnectOptions::new("127.0.0.1", port),
    )))
    .unwrap_err();
    assert!(
        matches!(error, CrtError::Crt(code) if code != 0),
        "{error:?}"
    );
    stack.shutdown_blocking();
}

/// 16 MiB through a 1 MiB window: the stream never holds more than the window plus one
/// chunk, and the CRT never overruns it.
#[test]
fn large_body_through_a_one_mebibyte_window() {
    const LEN: u64 = 16 << 20;
    const WINDOW: usize = 1 << 20;
    let server = TestServer::start();
    let stack = Stack::new(Allocator::default_allocator(), 1);
    smol::block_on(async {
        let connection = bounded(HttpConnection::connect(
            &stack.bootstrap,
            &options(&server, WINDOW),
        ))
        .await
        .unwrap();
        let mut response = bounded(connection.get(&format!("/bytes/{LEN}")))
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        let started = Instant::now();
        let mut received = 0u64;
        let mut max_buffered = 0;
        while let Some(chunk) = bounded(response.body.next()).await {
            let chunk = chunk.unwrap();
            check_pattern(received, &chunk);
            received += chunk.len() as u64;
            max_buffered = max_buffered.max(response.body.stats().buffered_weight);
        }
        let elapsed = started.elapsed();
        assert_eq!(received, LEN);
        let stats = response.body.stats();
        assert_eq!(stats.rejected, 0, "the CRT overran the window: {stats:?}");
        assert!(max_buffered <= WINDOW, "held {max_buffered} bytes");
        eprintln!(
            "16 MiB through a 1 MiB window: {:.1} MiB/s, max buffered {max_buffered} bytes, {stats:?}",
            LEN as f64 / (1 << 20) as f64 / elapsed.as_secs_f64()
        );
        assert_eq!(
            server.next_event(),
            ServerEvent::Served(format!("/bytes/{LEN}"))
        );
        let closed = connection.closed();
        drop(connection);
        bounded(closed.wait_owned()).await;
    });
    stack.shutdown_blocking();
}

/// Dropping the body mid-transfer cancels the CRT stream: the connection closes (the
/// server's write fails) and its shutdown event fires.
#[test]
fn dropping_the_body_mid_transfer_closes_the_connection() {
    const LEN: u64 = 64 << 20;
    let server = TestServer::start();
    let stack = Stack::new(Allocator::default_allocator(), 1);
    let runtime = support::tokio_runtime();
    runtime.block_on(async {
        let connection = bounded(HttpConnection::connect(
            &stack.bootstrap,
            &options(&server, 256 * 1024),
        ))
        .await
        .unwrap();
        let mut response = bounded(connection.get(&format!("/bytes/{LEN}")))
            .await
            .unwrap();
        let first = bounded(response.body.next()).await.unwrap().unwrap();
        check_pattern(0, &first);
        drop(response); // mid-transfer: 64 MiB cannot fit in a 256 KiB window
        bounded(connection.closed().wait_owned()).await;
        assert!(!connection.is_open());
    });
    match server.next_event() {
        ServerEvent::ClientClosed { sent, .. } => assert!(sent < LEN, "sent {sent}"),
        other => panic!("the server saw {other:?}"),
    }
    stack.shutdown_blocking();
}

/// Dropping the response future before the head arrives cancels the CRT stream too.
#[test]
fn dropping_the_response_future_closes_the_connection() {
    let server = TestServer::start();
    let stack = Stack::new(Allocator::default_allocator(), 1);
    smol::block_on(async {
        let connection = bounded(HttpConnection::connect(
            &stack.bootstrap,
            &options(&server, 4096),
        ))
        .await
        .unwrap();
        let head = connection.get("/hang");
        assert_eq!(server.next_event(), ServerEvent::Hanging); // the request is out
        drop(head);
        bounded(connection.closed().wait_owned()).await;
    });
    assert_eq!(
        server.next_event(),
        ServerEvent::ClientClosed {
            path: "/hang".into(),
            sent: 0
        }
    );
    stack.shutdown_blocking();
}

/// A window smaller than the CRT's reads (1000 bytes): the CRT splits its deliveries to fit,
/// and every re-opened byte of window comes back as body.
#[test]
fn a_tiny_window_still_delivers_every_byte() {
    const LEN: u64 = 1 << 20;
    const WINDOW: usize = 1000;
    let server = TestServer::start();
    let stack = Stack::new(Allocator::default_allocator(), 1);
    let runtime = support::tokio_runtime();
    runtime.block_on(async {
        let connection = bounded(HttpConnection::connect(
            &stack.bootstrap,
            &options(&server, WINDOW),
        ))
        .await
        .unwrap();
        let mut response = bounded(connection.get(&format!("/bytes/{LEN}")))
            .await
            .unwrap();
        let mut received = 0u64;
        while let Some(chunk) = bounded(response.body.next()).await {
            let chunk = chunk.unwrap();
            assert!(chunk.len() <= WINDOW, "a {} byte chunk", chunk.len());
            check_pattern(received, &chunk);
            received += chunk.len() as u64;
        }
        assert_eq!(received, LEN);
        assert_eq!(response.body.stats().rejected, 0);
    });
    assert_eq!(
        server.next_event(),
        ServerEvent::Served(format!("/bytes/{LEN}"))
    );
    stack.shutdown_blocking();
}

/// Eight connections at once, each streaming 2 MiB, as tasks on a multi-thread tokio
/// runtime: every future and stream moves freely between workers.
#[test]
fn concurrent_connections_under_tokio_multi_thread() {
    const LEN: u64 = 2 << 20;
    let server = std::sync::Arc::new(TestServer::start());
    let stack = std::sync::Arc::new(Stack::new(Allocator::default_allocator(), 2));
    let runtime = support::tokio_runtime();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (stack, server) = (stack.clone(), server.clone());
                tokio::spawn(async move {
                    let connection = bounded(HttpConnection::connect(
                        &stack.bootstrap,
                        &options(&server, 128 * 1024),
                    ))
                    .await
                    .unwrap();
                    let mut response = bounded(connection.get(&format!("/bytes/{LEN}")))
                        .await
                        .unwrap();
                    let mut received = 0u64;
                    while let Some(chunk) = bounded(response.body.next()).await {
                        let chunk = chunk.unwrap();
                        check_pattern(received, &chunk);
                        received += chunk.len() as u64;
                    }
                    received
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(bounded(task).await.unwrap(), LEN);
        }
    });
    for _ in 0..8 {
        assert_eq!(
            server.next_event(),
            ServerEvent::Served(format!("/bytes/{LEN}"))
        );
    }
    let stack = std::sync::Arc::into_inner(stack).unwrap();
    stack.shutdown_blocking();
}

/// Closing the connection mid-body ends the body stream with the CRT's error, after every
/// chunk that arrived before it.
#[test]
fn closing_the_connection_mid_body_fails_the_body_stream() {
    const LEN: u64 = 64 << 20;
    let server = TestServer::start();
    let stack = Stack::new(Allocator::default_allocator(), 1);
    smol::block_on(async {
        let connection = bounded(HttpConnection::connect(
            &stack.bootstrap,
            &options(&server, 256 * 1024),
        ))
        .await
        .unwrap();
        let mut response = bounded(connection.get(&format!("/bytes/{LEN}")))
            .await
            .unwrap();
        let mut received = bounded(response.body.next()).await.unwrap().unwrap().len() as u64;
        connection.close();
        let error = loop {
            match bounded(response.body.next()).await {
                Some(Ok(chunk)) => {
                    check_pattern(received, &chunk);
                    received += chunk.len() as u64;
                }
                Some(Err(error)) => break error,
                None => panic!("the body ended without an error after {received} bytes"),
            }
        };
        assert!(
            matches!(error, anywait::StreamError::Failed(CrtError::Crt(code)) if code != 0),
            "{error:?}"
        );
        assert!(received < LEN);
        assert!(bounded(response.body.next()).await.is_none());
        bounded(connection.closed().wait_owned()).await;
    });
    assert!(matches!(
        server.next_event(),
        ServerEvent::ClientClosed { .. }
    ));
    stack.shutdown_blocking();
}

/// A connect future dropped before `on_setup`: the connection the CRT makes anyway is
/// released at once (the peer sees it close), never leaked.
#[test]
fn dropping_the_connect_future_releases_the_new_connection() {
    use std::io::Read;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stack = Stack::new(Allocator::default_allocator(), 1);
    drop(HttpConnection::connect(
        &stack.bootstrap,
        &ConnectOptions::new("127.0.0.1", port),
    ));
    let (mut socket, _) = listener.accept().unwrap();
    socket.set_read_timeout(Some(support::LIMIT)).unwrap();
    let mut buffer = [0u8; 64];
    // EOF (or a reset): the client side closed without sending a request.
    let read = socket.read(&mut buffer);
    assert!(
        matches!(read, Ok(0))
            || matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{read:?}"
    );
    stack.shutdown_blocking();
}
