//! Step 2: `aws_host_resolver_resolve_host` as a `TryWaitableFuture<Vec<String>, CrtError>`
//! under tokio (multi-thread), smol and blocking code.

mod support;

use anywait_aws_crt::{Allocator, EventLoopGroup, HostResolver};
use support::{bounded, wait_event};

fn stack() -> (EventLoopGroup, HostResolver) {
    let allocator = Allocator::default_allocator();
    let group = EventLoopGroup::new(allocator, 1).unwrap();
    let resolver = HostResolver::new(allocator, &group, 16).unwrap();
    (group, resolver)
}

fn shutdown(group: EventLoopGroup, resolver: HostResolver) {
    wait_event(&resolver.shutdown(), "the resolver");
    wait_event(&group.shutdown(), "the event loop group");
}

fn assert_loopback(addresses: &[String]) {
    assert!(!addresses.is_empty(), "localhost resolved to nothing");
    assert!(
        addresses.iter().any(|a| a == "127.0.0.1" || a == "::1"),
        "no loopback address in {addresses:?}"
    );
}

#[test]
fn localhost_resolves_under_tokio_multi_thread() {
    let (group, resolver) = stack();
    let runtime = support::tokio_runtime();
    let resolver = std::sync::Arc::new(resolver);
    let addresses = runtime.block_on({
        let resolver = resolver.clone();
        async move {
            // The first one resolves on a CRT thread, the second from the cache (the CRT
            // calls back inside resolve_host): both are plain futures.
            let first = tokio::spawn(resolver.resolve("localhost"));
            let first = bounded(first).await.unwrap().unwrap();
            let second = bounded(resolver.resolve("localhost")).await.unwrap();
            assert_eq!(first.len(), second.len());
            first
        }
    });
    assert_loopback(&addresses);
    let resolver = std::sync::Arc::into_inner(resolver).unwrap();
    shutdown(group, resolver);
}

#[test]
fn localhost_resolves_under_smol() {
    let (group, resolver) = stack();
    let addresses = smol::block_on(bounded(resolver.resolve("localhost"))).unwrap();
    assert_loopback(&addresses);
    shutdown(group, resolver);
}

#[test]
fn localhost_resolves_blockingly() {
    let (group, resolver) = stack();
    let mut future = resolver.resolve("localhost");
    let addresses = future.wait_timeout(support::LIMIT).unwrap();
    assert_loopback(&addresses);
    shutdown(group, resolver);
}

#[test]
fn an_address_literal_resolves_to_itself() {
    // No lookup leaves the machine: getaddrinfo parses literals, and "localhost" comes from
    // /etc/hosts. (A failing-name test would query the configured DNS server, which these
    // tests must never do; see the crate docs for what is left.)
    let (group, resolver) = stack();
    let mut future = resolver.resolve("127.0.0.1");
    assert_eq!(
        future.wait_timeout(support::LIMIT).unwrap(),
        vec!["127.0.0.1".to_string()]
    );
    shutdown(group, resolver);
}

#[test]
fn a_dropped_resolution_is_harmless() {
    let (group, resolver) = stack();
    drop(resolver.resolve("localhost")); // the CRT's answer later has no reader
    let addresses = pollster::block_on(bounded(resolver.resolve("localhost"))).unwrap();
    assert_loopback(&addresses);
    shutdown(group, resolver);
}
