//! Step 1: an event-loop group whose shutdown-complete callback sets an `AsyncEvent`,
//! awaited under several executors.

mod support;

use std::sync::Arc;

use anywait_aws_crt::{Allocator, EventLoopGroup, HostResolver};
use support::{bounded, wait_event};

#[test]
fn group_shutdown_is_awaited_under_tokio_multi_thread() {
    let runtime = support::tokio_runtime();
    runtime.block_on(async {
        let group = EventLoopGroup::new(Allocator::default_allocator(), 2).unwrap();
        assert_eq!(group.loop_count(), 2);
        let shut_down = group.shutdown();
        // Awaited from a task on another worker than the one that released the group.
        let waiter = tokio::spawn(async move { bounded(shut_down.wait_owned()).await });
        waiter.await.unwrap();
    });
}

#[test]
fn group_shutdown_is_awaited_under_smol() {
    smol::block_on(async {
        let group = EventLoopGroup::new(Allocator::default_allocator(), 1).unwrap();
        let shut_down = group.shutdown();
        bounded(shut_down.wait()).await;
        assert!(shut_down.is_set());
    });
}

#[test]
fn group_shutdown_is_waited_on_blockingly() {
    let group = EventLoopGroup::new(Allocator::default_allocator(), 1).unwrap();
    let shut_down = group.shutdown();
    wait_event(&shut_down, "the event loop group");
}

#[test]
fn many_waiters_see_one_shutdown() {
    let group = EventLoopGroup::new(Allocator::default_allocator(), 1).unwrap();
    let shut_down = group.shutdown_event();
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let event = Arc::clone(&shut_down);
            std::thread::spawn(move || wait_event(&event, "the event loop group"))
        })
        .collect();
    drop(group);
    for waiter in waiters {
        waiter.join().unwrap();
    }
    pollster::block_on(bounded(shut_down.wait()));
}

#[test]
fn group_outlives_its_last_user() {
    // The resolver holds its own reference on the group: releasing ours does not destroy
    // the group, so its shutdown event stays unset (deterministically: the CRT cannot
    // destroy a group that is still referenced) until the resolver is gone too.
    let allocator = Allocator::default_allocator();
    let group = EventLoopGroup::new(allocator, 1).unwrap();
    let resolver = HostResolver::new(allocator, &group, 4).unwrap();
    let group_down = group.shutdown();
    assert!(!group_down.is_set());
    let resolver_down = resolver.shutdown();
    wait_event(&resolver_down, "the resolver");
    wait_event(&group_down, "the event loop group");
}
