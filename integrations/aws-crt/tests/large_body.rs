//! A large body through a 1 MiB window: throughput and the process's peak memory.
//! In its own binary so that its peak RSS is its own.

mod support;

use std::time::Instant;

use anywait_aws_crt::{Allocator, ConnectOptions, HttpConnection};
use support::{check_pattern, peak_rss, rss, ServerEvent, Stack, TestServer, LIMIT};

const MIB: u64 = 1 << 20;

#[test]
fn body_of_256_mib_through_a_1_mib_window_in_bounded_memory() {
    const LEN: u64 = 256 * MIB;
    const WINDOW: usize = 1 << 20;
    let server = TestServer::start();
    let stack = Stack::new(Allocator::default_allocator(), 1);
    let options = ConnectOptions {
        initial_window_size: WINDOW,
        ..ConnectOptions::new("127.0.0.1", server.port)
    };
    let connection = HttpConnection::connect(&stack.bootstrap, &options)
        .wait_timeout(LIMIT)
        .unwrap();
    // Reset the peak-RSS mark (Linux: "5" clears VmHWM), so the peak is this transfer's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = rss();
    let started = Instant::now();
    let mut response = connection
        .get(&format!("/bytes/{LEN}"))
        .wait_timeout(LIMIT)
        .unwrap();
    assert_eq!(response.status, 200);
    let mut received = 0u64;
    let mut max_buffered = 0;
    // Checking every byte would dominate the time: check the first MiB and each chunk's
    // first byte.
    while let Some(chunk) = response.body.next_timeout(LIMIT) {
        let chunk = chunk.unwrap();
        if received < MIB {
            check_pattern(received, &chunk);
        } else if let Some(first) = chunk.first() {
            assert_eq!(*first, support::pattern(received));
        }
        received += chunk.len() as u64;
        max_buffered = max_buffered.max(response.body.stats().buffered_weight);
    }
    let elapsed = started.elapsed();
    assert_eq!(received, LEN);
    let stats = response.body.stats();
    assert_eq!(stats.rejected, 0, "the CRT overran the window: {stats:?}");
    assert!(max_buffered <= WINDOW, "held {max_buffered} bytes");
    let peak = peak_rss();
    eprintln!(
        "256 MiB through a 1 MiB window: {:.2} s, {:.0} MiB/s, max buffered {max_buffered} B, \
         {} chunks, RSS before {:?} MiB, peak RSS {:?} MiB",
        elapsed.as_secs_f64(),
        LEN as f64 / MIB as f64 / elapsed.as_secs_f64(),
        stats.pushed,
        before.map(|b| b / MIB),
        peak.map(|p| p / MIB),
    );
    if let Some(peak) = peak {
        assert!(peak < 64 * MIB, "peak RSS {} MiB", peak / MIB);
    }
    assert_eq!(
        server.next_event(),
        ServerEvent::Served(format!("/bytes/{LEN}"))
    );
    let closed = connection.closed();
    drop(connection);
    assert!(closed.wait_timeout(LIMIT));
    stack.shutdown_blocking();
}
