//! Echo messages through a websocket and print the round-trip rate. One task sends every
//! message (each send a future that resolves once the CRT has written the frame) while
//! another takes the echoes from the frame stream, which holds at most the read window;
//! both run on `pollster`, a minimal executor, to show that nothing needs a runtime.
//!
//! ```text
//! cargo run -p anywait-aws-crt --release --example echo -- [ws://host[:port][/path]] [messages] [bytes]
//! ```
//!
//! With no URL it starts a local echo server (tungstenite on 127.0.0.1) and talks to that.
//! Only `ws://` (no TLS).

use std::process::ExitCode;
use std::time::Instant;

#[path = "common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../tests/support/ws.rs"]
mod ws;

use anywait_aws_crt::{opcode, ClientBootstrap, WebSocket, WebSocketOptions};
use common::{with_bootstrap, LIMIT};
use futures_lite::StreamExt;

const USAGE: &str = "usage: echo [ws://host[:port][/path]] [messages] [bytes]\n\
                     example: cargo run -p anywait-aws-crt --release --example echo -- ws://127.0.0.1:9001/ 10000 64";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (url, numbers) = match args.first() {
        Some(url) if url.contains("://") => (Some(url.clone()), &args[1..]),
        _ => (None, &args[..]),
    };
    let number = |at: usize, default: usize| match numbers.get(at) {
        None => Ok(default),
        Some(n) => n
            .parse::<usize>()
            .map_err(|_| format!("not a number: {n:?}")),
    };
    let (messages, size) = match (number(0, 10_000), number(1, 64)) {
        (Ok(m), Ok(s)) => (m, s),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let local; // keeps the local server's handle alive
    let (host, port, path) = match url {
        Some(url) => match common::url::parse(&url, "ws") {
            Ok(parts) => parts,
            Err(error) => {
                eprintln!("{error}\n{USAGE}");
                return ExitCode::from(2);
            }
        },
        None => {
            local = ws::EchoServer::start();
            println!("local echo server on 127.0.0.1:{}", local.port);
            ("127.0.0.1".to_string(), local.port, "/".to_string())
        }
    };
    match with_bootstrap(|bootstrap| echo(bootstrap, host, port, &path, messages, size)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn echo(
    bootstrap: &ClientBootstrap,
    host: String,
    port: u16,
    path: &str,
    messages: usize,
    size: usize,
) -> Result<(), String> {
    let options = WebSocketOptions::new(host.clone(), port, path);
    let ws = WebSocket::connect(bootstrap, &options)
        .wait_timeout(LIMIT)
        .map_err(|e| format!("connect to ws://{host}:{port}{path}: {e}"))?;
    let (sender, mut frames) = ws.split();
    // Message i: its index, then filler up to `size` bytes.
    let message = |i: usize| {
        let mut payload = (i as u64).to_le_bytes().to_vec();
        payload.resize(size.max(8), b'.');
        payload
    };
    let started = Instant::now();
    let send_all = async {
        let sends: Vec<_> = (0..messages)
            .map(|i| sender.send(opcode::BINARY, true, message(i)))
            .collect();
        for send in sends {
            send.await.map_err(|e| format!("send: {e}"))?;
        }
        Ok::<_, String>(())
    };
    let receive_all = async {
        for i in 0..messages {
            let frame = match frames.next().await {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => return Err(format!("after {i} echoes: {e}")),
                None => return Err(format!("the websocket closed after {i} echoes")),
            };
            if frame.payload != message(i) {
                return Err(format!("echo {i} is not message {i}"));
            }
        }
        Ok(())
    };
    let (sent, received) = pollster::block_on(anywait::timeout(
        LIMIT * 10,
        futures_lite::future::zip(send_all, receive_all),
    ))
    .map_err(|_| "the echo did not finish in time".to_string())?;
    sent?;
    received?;
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "{messages} messages of {} bytes echoed in order in {:.1} ms: {:.0} messages/s, {:.1} MiB/s each way",
        size.max(8),
        elapsed * 1e3,
        messages as f64 / elapsed,
        (messages * size.max(8)) as f64 / elapsed / (1 << 20) as f64,
    );
    if !sender.close().wait_timeout(LIMIT) {
        eprintln!("warning: the websocket did not close within {LIMIT:?}");
    }
    Ok(())
}
