//! Reports to the servers, batched: runners mark their allocation dirty, and every
//! 200 ms the marked ones are sent in one call (Nomad's client does the same), so a
//! burst of task events is one write.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::Client;

const BATCH: Duration = Duration::from_millis(200);

#[derive(Default)]
pub(crate) struct Updates {
    dirty: Mutex<HashSet<String>>,
    wake: Notify,
}

impl Updates {
    pub fn mark(&self, alloc_id: &str) {
        self.dirty.lock().insert(alloc_id.to_string());
        self.wake.notify_one();
    }
}

pub(crate) async fn run(client: Arc<Client>) {
    let mut stop = client.stop.subscribe();
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = client.ctx.updates.wake.notified() => {}
        }
        tokio::time::sleep(BATCH).await;
        flush(&client).await;
    }
}

/// Sends every pending report now; on failure they stay pending for the next round.
pub(crate) async fn flush(client: &Client) {
    let ids: Vec<String> = client.ctx.updates.dirty.lock().drain().collect();
    if ids.is_empty() {
        return;
    }
    let reports: Vec<_> = ids
        .iter()
        .filter_map(|id| client.runner(id))
        .map(|r| r.report())
        .collect();
    let conn = client.conn();
    let sent = tokio::task::spawn_blocking(move || conn.update_allocs(reports)).await;
    if !matches!(sent, Ok(Ok(_))) {
        tracing::warn!("client: reporting allocations failed; will retry");
        let mut dirty = client.ctx.updates.dirty.lock();
        dirty.extend(ids);
        drop(dirty);
        client.ctx.updates.wake.notify_one();
    }
}
