//! Shared test fixtures: a CRT client stack, a loopback HTTP/1.1 server, bounded waits.
#![allow(dead_code)]

pub mod ws;

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anywait::AsyncEvent;
use anywait_aws_crt::{Allocator, ClientBootstrap, EventLoopGroup, HostResolver};

/// A tokio multi-thread runtime with two workers.
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a tokio runtime")
}

/// Runs `test` as a task on a two-worker tokio runtime (so its futures move between
/// threads) against a fresh two-thread [`Stack`], then shuts the stack down (awaited).
pub fn on_tokio<F, Fut>(test: F)
where
    F: FnOnce(Arc<Stack>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio_runtime().block_on(async {
        let stack = Arc::new(Stack::new(Allocator::default_allocator(), 2));
        tokio::spawn(test(Arc::clone(&stack))).await.unwrap();
        Arc::into_inner(stack)
            .expect("the test kept the stack")
            .shutdown()
            .await;
    });
}

/// Runs `test` under `smol::block_on` against a fresh one-thread [`Stack`], then shuts the
/// stack down (awaited).
pub fn on_smol<F, Fut>(test: F)
where
    F: FnOnce(Arc<Stack>) -> Fut,
    Fut: Future<Output = ()>,
{
    smol::block_on(async {
        let stack = Arc::new(Stack::new(Allocator::default_allocator(), 1));
        test(Arc::clone(&stack)).await;
        Arc::into_inner(stack)
            .expect("the test kept the stack")
            .shutdown()
            .await;
    });
}

/// Every wait in these tests is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Awaits `future`, failing the test after [`LIMIT`] (works under every executor).
pub async fn bounded<F: Future>(future: F) -> F::Output {
    anywait::timeout(LIMIT, future)
        .await
        .expect("a CRT callback did not come in time")
}

/// Waits for a shutdown event from sync code, failing the test after [`LIMIT`].
pub fn wait_event(event: &AsyncEvent, what: &str) {
    assert!(
        event.wait_timeout(LIMIT),
        "{what} did not shut down in time"
    );
}

/// An event-loop group, a resolver and a bootstrap.
pub struct Stack {
    pub group: EventLoopGroup,
    pub resolver: HostResolver,
    pub bootstrap: ClientBootstrap,
}

impl Stack {
    pub fn new(allocator: Allocator, threads: u16) -> Stack {
        let group = EventLoopGroup::new(allocator, threads).expect("event loop group");
        let resolver = HostResolver::new(allocator, &group, 16).expect("resolver");
        let bootstrap = ClientBootstrap::new(allocator, &group, &resolver).expect("bootstrap");
        Stack {
            group,
            resolver,
            bootstrap,
        }
    }

    /// Releases everything in dependency order and waits (from sync code) until the CRT
    /// reports each object destroyed.
    pub fn shutdown_blocking(self) {
        let Stack {
            group,
            resolver,
            bootstrap,
        } = self;
        let bootstrap = bootstrap.shutdown();
        wait_event(&bootstrap, "the bootstrap");
        let resolver = resolver.shutdown();
        wait_event(&resolver, "the resolver");
        let group = group.shutdown();
        wait_event(&group, "the event loop group");
    }

    /// [`shutdown_blocking`](Self::shutdown_blocking), awaited.
    pub async fn shutdown(self) {
        let Stack {
            group,
            resolver,
            bootstrap,
        } = self;
        bounded(bootstrap.shutdown().wait_owned()).await;
        bounded(resolver.shutdown().wait_owned()).await;
        bounded(group.shutdown().wait_owned()).await;
    }
}

/// The byte at `offset` of a `/bytes/N` body.
pub fn pattern(offset: u64) -> u8 {
    (offset % 251) as u8
}

/// What the test server saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    /// A response was written in full.
    Served(String),
    /// A request for `/hang` arrived (it will never be answered).
    Hanging,
    /// The client closed the connection while `path` was being served, after `sent` body
    /// bytes were written.
    ClientClosed { path: String, sent: u64 },
}

/// A loopback HTTP/1.1 server (std threads, keep-alive):
/// - `/small`: 200, a short text body;
/// - `/status/N`: status N, a short body;
/// - `/bytes/N`: 200, N bytes of [`pattern`], written in 64 KiB pieces;
/// - `/hang`: no answer; waits until the client closes.
pub struct TestServer {
    pub port: u16,
    events: Mutex<Receiver<ServerEvent>>,
}

pub const SMALL_BODY: &[u8] = b"hello from the loopback server";

impl TestServer {
    pub fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let (events, received) = channel();
        std::thread::Builder::new()
            .name("test-http-server".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let events = events.clone();
                    std::thread::spawn(move || serve(stream, events));
                }
            })
            .unwrap();
        TestServer {
            port,
            events: Mutex::new(received),
        }
    }

    /// The next thing the server saw, waiting at most [`LIMIT`].
    pub fn next_event(&self) -> ServerEvent {
        self.events
            .lock()
            .unwrap()
            .recv_timeout(LIMIT)
            .expect("the test server saw nothing in time")
    }
}

fn serve(stream: TcpStream, events: Sender<ServerEvent>) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        // Skip headers up to the blank line.
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" || line == "\n" => break,
                Ok(_) => {}
            }
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_string();
        let outcome = if path == "/hang" {
            // Never answer: wait until the client goes away.
            let _ = events.send(ServerEvent::Hanging);
            let mut sink = [0u8; 1024];
            while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
            let _ = events.send(ServerEvent::ClientClosed { path, sent: 0 });
            return;
        } else if let Some(code) = path.strip_prefix("/status/") {
            respond(&mut writer, code.parse().unwrap_or(500), b"status body")
        } else if let Some(n) = path.strip_prefix("/bytes/") {
            stream_bytes(&mut writer, n.parse().unwrap_or(0))
        } else {
            respond(&mut writer, 200, SMALL_BODY)
        };
        match outcome {
            Ok(()) => {
                let _ = events.send(ServerEvent::Served(path));
            }
            Err(sent) => {
                let _ = events.send(ServerEvent::ClientClosed { path, sent });
                return;
            }
        }
    }
}

fn respond(writer: &mut TcpStream, status: u16, body: &[u8]) -> Result<(), u64> {
    let head = format!(
        "HTTP/1.1 {status} Test\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nX-Test: anywait\r\n\r\n",
        body.len()
    );
    writer
        .write_all(head.as_bytes())
        .and_then(|()| writer.write_all(body))
        .map_err(|_| 0)
}

fn stream_bytes(writer: &mut TcpStream, len: u64) -> Result<(), u64> {
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
    writer.write_all(head.as_bytes()).map_err(|_| 0u64)?;
    const PIECE: usize = 64 * 1024;
    // 251 divides no power of two, so build each piece from its own offset.
    let mut sent = 0u64;
    let mut piece = vec![0u8; PIECE];
    while sent < len {
        let n = PIECE.min((len - sent) as usize);
        for (i, byte) in piece[..n].iter_mut().enumerate() {
            *byte = pattern(sent + i as u64);
        }
        writer.write_all(&piece[..n]).map_err(|_| sent)?;
        sent += n as u64;
    }
    Ok(())
}

/// Checks that `chunk` is the `/bytes/N` pattern starting at `offset`.
pub fn check_pattern(offset: u64, chunk: &[u8]) {
    for (i, byte) in chunk.iter().enumerate() {
        let at = offset + i as u64;
        assert_eq!(*byte, pattern(at), "body byte {at}");
    }
}

/// Peak resident set size of this process, from /proc (Linux), in bytes.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Current resident set size, in bytes.
pub fn rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

pub type Shared<T> = Arc<Mutex<T>>;
