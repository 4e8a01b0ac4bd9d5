//! Garbage collection of terminal allocations, as Nomad's client does it by count:
//! past `MAX_TERMINAL` finished allocations on the node, the oldest are destroyed
//! (directory, logs, client record). Their servers' record is untouched.

use std::sync::Arc;
use std::time::Duration;

use super::Client;

/// Nomad's `gc_max_allocs` default.
const MAX_TERMINAL: usize = 50;
const INTERVAL: Duration = Duration::from_secs(60);

pub(crate) async fn run(client: Arc<Client>) {
    let mut stop = client.stop.subscribe();
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
        collect(&client);
    }
}

pub(crate) fn collect(client: &Client) {
    let mut terminal: Vec<_> = client
        .runners()
        .into_iter()
        .filter(|r| r.is_terminal() && r.tasks.iter().all(|t| t.is_dead()))
        .collect();
    if terminal.len() <= MAX_TERMINAL {
        return;
    }
    terminal.sort_by_key(|r| r.alloc().modify_index);
    let excess = terminal.len() - MAX_TERMINAL;
    for r in terminal.into_iter().take(excess) {
        tracing::debug!(alloc = %r.id(), "client: garbage collecting allocation");
        client.remove(&r);
    }
}
