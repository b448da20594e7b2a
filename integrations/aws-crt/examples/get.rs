//! `GET` one plain-HTTP URL through the CRT and print the status, the headers, the body
//! size and the throughput. The body arrives as a `CallbackStream` under the connection's
//! read window: the CRT never delivers more than the window before this loop takes it.
//!
//! ```text
//! cargo run -p anywait-aws-crt --release --example get -- http://127.0.0.1:8080/path [window-bytes]
//! ```
//!
//! Only `http://` (no TLS); `host[:port][/path]` is parsed by hand (no user info, no IPv6
//! literals).

use std::process::ExitCode;
use std::time::Instant;

#[path = "common/mod.rs"]
mod common;

use anywait_aws_crt::{ClientBootstrap, ConnectOptions, HttpConnection};
use common::{with_bootstrap, LIMIT};

const USAGE: &str = "usage: get <http://host[:port][/path]> [window-bytes]\n\
                     example: cargo run -p anywait-aws-crt --release --example get -- http://127.0.0.1:8080/";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if url == "-h" || url == "--help" {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (host, port, path) = match common::url::parse(&url, "http") {
        Ok(parts) => parts,
        Err(error) => {
            eprintln!("{error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let window = match args.next().map(|w| w.parse::<usize>()) {
        None => 256 * 1024,
        Some(Ok(window)) if window > 0 => window,
        Some(_) => {
            eprintln!("the window must be a positive number of bytes\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match with_bootstrap(|bootstrap| fetch(bootstrap, host, port, &path, window)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn fetch(
    bootstrap: &ClientBootstrap,
    host: String,
    port: u16,
    path: &str,
    window: usize,
) -> Result<(), String> {
    let options = ConnectOptions {
        initial_window_size: window,
        ..ConnectOptions::new(host.clone(), port)
    };
    let started = Instant::now();
    let connection = HttpConnection::connect(bootstrap, &options)
        .wait_timeout(LIMIT)
        .map_err(|e| format!("connect to {host}:{port}: {e}"))?;
    let connected = started.elapsed();

    let mut response = connection
        .get(path)
        .wait_timeout(LIMIT)
        .map_err(|e| format!("GET {path}: {e}"))?;
    let head = started.elapsed();
    println!("status: {}", response.status);
    for (name, value) in &response.headers {
        println!("{name}: {value}");
    }
    println!();

    let body_started = Instant::now();
    let (mut size, mut chunks, mut max_buffered) = (0u64, 0u64, 0usize);
    // Each `next` takes a chunk out of the window; the stream's credit hook then re-opens
    // the CRT's read window by that many bytes.
    while let Some(chunk) = response.body.next_timeout(LIMIT) {
        let chunk = chunk.map_err(|e| format!("body after {size} bytes: {e}"))?;
        size += chunk.len() as u64;
        chunks += 1;
        max_buffered = max_buffered.max(response.body.stats().buffered_weight);
    }
    let body_time = body_started.elapsed();
    let total = started.elapsed();
    let secs = body_time.as_secs_f64().max(1e-9);
    println!(
        "body: {size} bytes in {chunks} chunks, {:.3} s, {:.1} MiB/s ({:.0} B/s)",
        secs,
        size as f64 / secs / (1 << 20) as f64,
        size as f64 / secs,
    );
    println!(
        "window: {window} bytes, most left in the body stream after a take: {max_buffered} bytes"
    );
    println!(
        "timing: connect {:.1} ms, head {:.1} ms, total {:.1} ms",
        connected.as_secs_f64() * 1e3,
        head.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
    );

    let closed = connection.closed();
    drop(response);
    drop(connection);
    if !closed.wait_timeout(LIMIT) {
        eprintln!("warning: the connection did not close within {LIMIT:?}");
    }
    Ok(())
}
