//! What the examples share: URL parsing and a CRT client stack with an orderly shutdown.

pub mod url;

use std::time::Duration;

use anywait_aws_crt::{Allocator, ClientBootstrap, EventLoopGroup, HostResolver};

/// Every wait on the CRT is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Runs `body` with a client bootstrap on a one-thread event-loop group, then shuts the CRT
/// objects down in dependency order, waiting for each one's shutdown callback.
pub fn with_bootstrap<T>(
    body: impl FnOnce(&ClientBootstrap) -> Result<T, String>,
) -> Result<T, String> {
    let allocator = Allocator::default_allocator();
    let group = EventLoopGroup::new(allocator, 1).map_err(|e| format!("event loop: {e}"))?;
    let resolver = HostResolver::new(allocator, &group, 8).map_err(|e| format!("resolver: {e}"))?;
    let bootstrap = ClientBootstrap::new(allocator, &group, &resolver)
        .map_err(|e| format!("bootstrap: {e}"))?;

    let result = body(&bootstrap);

    for (what, event) in [
        ("bootstrap", bootstrap.shutdown()),
        ("resolver", resolver.shutdown()),
        ("event loop group", group.shutdown()),
    ] {
        if !event.wait_timeout(LIMIT) {
            eprintln!("warning: the {what} did not shut down within {LIMIT:?}");
        }
    }
    result
}
