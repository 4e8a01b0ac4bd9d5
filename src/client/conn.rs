//! The client's one narrow interface to its servers (DESIGN.md): register the node,
//! heartbeat, watch the node's allocations, report what happened to them. In `agent
//! -dev` the server is in the same process; the same four calls exist over HTTP under
//! `/v1/internal/` (src/api/client.rs) for a client on another machine.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::server::endpoints::{NodeUpdateResponse, RpcError};
use crate::server::state::AllocClientUpdate;
use crate::server::Server;
use crate::structs::{Allocation, Node};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait ServerConn: Send + Sync {
    fn register(&self, node: Node) -> Result<NodeUpdateResponse, RpcError>;
    fn update_status(&self, node_id: &str, status: &str) -> Result<NodeUpdateResponse, RpcError>;
    /// Resets the node's heartbeat timer; returns the TTL until the next one is due.
    fn heartbeat(&self, node_id: &str) -> Result<Duration, RpcError>;
    /// The node's allocations (with their jobs) once something about them changed
    /// past `min_index`, or after `wait`; plus the index to wait past next.
    fn node_allocs<'a>(
        &'a self,
        node_id: &'a str,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'a, (Vec<Arc<Allocation>>, u64)>;
    fn update_allocs(&self, updates: Vec<AllocClientUpdate>) -> Result<u64, RpcError>;
}

/// The server in this process.
pub struct InProcess(pub Arc<Server>);

impl ServerConn for InProcess {
    fn register(&self, node: Node) -> Result<NodeUpdateResponse, RpcError> {
        self.0.register_node(node)
    }

    fn update_status(&self, node_id: &str, status: &str) -> Result<NodeUpdateResponse, RpcError> {
        self.0.node_update_status(node_id, status)
    }

    fn heartbeat(&self, node_id: &str) -> Result<Duration, RpcError> {
        self.0
            .node_heartbeat(node_id)
            .map_err(|e| RpcError::not_found(e.to_string()))
    }

    fn node_allocs<'a>(
        &'a self,
        node_id: &'a str,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'a, (Vec<Arc<Allocation>>, u64)> {
        Box::pin(async move {
            let state = &self.0.state;
            let deadline = tokio::time::Instant::now() + wait;
            let mut rx = state.subscribe();
            loop {
                // Woken by every write, but only answers when one of this node's
                // allocations moved past the index (as the HTTP route does).
                let snap = state.snapshot();
                let (allocs, index) = snap.node_allocs_watched(node_id);
                if index > min_index {
                    return (allocs, index);
                }
                match tokio::time::timeout_at(deadline, rx.changed()).await {
                    Ok(Ok(())) => continue,
                    _ => return (allocs, index.max(min_index)),
                }
            }
        })
    }

    fn update_allocs(&self, updates: Vec<AllocClientUpdate>) -> Result<u64, RpcError> {
        self.0.client_update_allocs(updates)
    }
}
