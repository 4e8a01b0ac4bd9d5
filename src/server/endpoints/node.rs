//! Node writes: the client's registration and status, and the operator's eligibility,
//! drain, evaluate and purge. Changes that can move allocations come with evaluations
//! for the jobs affected (`heartbeat::node_update_evals`, Nomad's `createNodeEvals`).
//! Heartbeats themselves are `Server::node_heartbeat` (heartbeat.rs).

use super::{NodeUpdateResponse, RpcError};
use crate::server::heartbeat::node_update_evals;
use crate::server::state::Command;
use crate::server::Server;
use crate::structs::{
    Evaluation, Node, NODE_ELIGIBLE, NODE_INELIGIBLE, NODE_STATUS_DISCONNECTED, NODE_STATUS_DOWN,
    NODE_STATUS_INIT, NODE_STATUS_READY, TRIGGER_NODE_DRAIN,
};

const NODE_STATUSES: [&str; 4] = [
    NODE_STATUS_INIT,
    NODE_STATUS_READY,
    NODE_STATUS_DOWN,
    NODE_STATUS_DISCONNECTED,
];

impl Server {
    pub fn register_node(&self, mut node: Node) -> Result<NodeUpdateResponse, RpcError> {
        let missing =
            |what: &str| RpcError::bad_request(format!("missing {what} for client registration"));
        if node.id.is_empty() {
            return Err(missing("node ID"));
        }
        if node.datacenter.is_empty() {
            return Err(missing("datacenter"));
        }
        if node.name.is_empty() {
            return Err(missing("node name"));
        }
        if node.status.is_empty() {
            node.status = NODE_STATUS_INIT.into();
        }
        if !NODE_STATUSES.contains(&node.status.as_str()) {
            return Err(RpcError::bad_request("invalid status for node"));
        }
        if node.node_pool.is_empty() {
            node.node_pool = "default".into();
        }
        let snap = self.state.snapshot();
        let old_status = snap.node(&node.id).map(|n| n.status.clone());
        let evals = if status_needs_evals(old_status.as_deref(), &node.status) {
            node_update_evals(&snap, &node, true)
        } else {
            Vec::new()
        };
        self.node_write(
            &node.id.clone(),
            Command::NodeRegister {
                node: Box::new(node),
                evals: evals.clone(),
            },
            evals,
        )
    }

    pub fn node_update_status(
        &self,
        node_id: &str,
        status: &str,
    ) -> Result<NodeUpdateResponse, RpcError> {
        if !NODE_STATUSES.contains(&status) {
            return Err(RpcError::bad_request("invalid status for node"));
        }
        let snap = self.state.snapshot();
        let node = snap
            .node(node_id)
            .ok_or_else(|| RpcError::not_found("node not found"))?;
        let evals = if status_needs_evals(Some(&node.status), status) {
            node_update_evals(&snap, &node, true)
        } else {
            Vec::new()
        };
        self.node_write(
            node_id,
            Command::NodeStatus {
                node_id: node_id.into(),
                status: status.into(),
                evals: evals.clone(),
            },
            evals,
        )
    }

    pub fn node_eligibility(
        &self,
        node_id: &str,
        eligible: bool,
    ) -> Result<NodeUpdateResponse, RpcError> {
        let snap = self.state.snapshot();
        let node = snap
            .node(node_id)
            .ok_or_else(|| RpcError::not_found("node not found"))?;
        if node.drain && eligible {
            return Err(RpcError::bad_request(
                "can not set node's scheduling eligibility to eligible while it is draining",
            ));
        }
        // A node that becomes eligible may take allocations (system jobs at least).
        let evals = if eligible && node.scheduling_eligibility != NODE_ELIGIBLE {
            node_update_evals(&snap, &node, true)
        } else {
            Vec::new()
        };
        let eligibility = if eligible {
            NODE_ELIGIBLE
        } else {
            NODE_INELIGIBLE
        };
        self.node_write(
            node_id,
            Command::NodeEligibility {
                node_id: node_id.into(),
                eligibility: eligibility.into(),
                evals: evals.clone(),
            },
            evals,
        )
    }

    /// Starts (or cancels) a drain: the node takes no new work and its allocations are
    /// marked to migrate, with a `node-drain` eval for each job that has some there.
    pub fn node_drain(&self, node_id: &str, drain: bool) -> Result<NodeUpdateResponse, RpcError> {
        let snap = self.state.snapshot();
        let node = snap
            .node(node_id)
            .ok_or_else(|| RpcError::not_found("node not found"))?;
        if !drain {
            let evals = node_update_evals(&snap, &node, true);
            return self.node_write(
                node_id,
                Command::NodeDrain {
                    node_id: node_id.into(),
                    drain,
                    evals: evals.clone(),
                },
                evals,
            );
        }
        let live = snap.node_live_allocs(node_id);
        let mut evals = node_update_evals(&snap, &node, false);
        for eval in &mut evals {
            eval.triggered_by = TRIGGER_NODE_DRAIN.into();
        }
        // The drain first, so the evals see a draining node and migrating allocs.
        self.apply(Command::NodeDrain {
            node_id: node_id.into(),
            drain,
            evals: Vec::new(),
        })?;
        self.node_write(
            node_id,
            Command::AllocDesiredTransition {
                alloc_ids: live.iter().map(|a| a.id.clone()).collect(),
                migrate: true,
                evals: evals.clone(),
            },
            evals,
        )
    }

    /// `node eval`: re-evaluate every job with allocations on the node, and system jobs.
    pub fn node_evaluate(&self, node_id: &str) -> Result<NodeUpdateResponse, RpcError> {
        let snap = self.state.snapshot();
        let node = snap
            .node(node_id)
            .ok_or_else(|| RpcError::not_found("node not found"))?;
        let evals = node_update_evals(&snap, &node, true);
        self.node_write(
            node_id,
            Command::EvalUpsert {
                evals: evals.clone(),
            },
            evals,
        )
    }

    /// Removes the node; its jobs are evaluated so their allocations are replaced.
    pub fn node_purge(&self, node_id: &str) -> Result<NodeUpdateResponse, RpcError> {
        let snap = self.state.snapshot();
        let node = snap
            .node(node_id)
            .ok_or_else(|| RpcError::not_found("node not found"))?;
        let evals = node_update_evals(&snap, &node, true);
        let index = self.apply(Command::NodeDeregister {
            node_id: node_id.into(),
        })?;
        if evals.is_empty() {
            return Ok(NodeUpdateResponse {
                node_modify_index: index,
                index,
                ..Default::default()
            });
        }
        let mut reply = self.node_write(
            node_id,
            Command::EvalUpsert {
                evals: evals.clone(),
            },
            evals,
        )?;
        reply.node_modify_index = index;
        Ok(reply)
    }

    /// Applies a node command and answers with the evals it carried.
    fn node_write(
        &self,
        node_id: &str,
        command: Command,
        evals: Vec<Evaluation>,
    ) -> Result<NodeUpdateResponse, RpcError> {
        let index = self.apply(command)?;
        let node = self.state.snapshot().node(node_id);
        let node_modify_index = node.as_ref().map_or(index, |n| n.modify_index);
        // A node that is up has a heartbeat TTL running (the apply started it).
        let heartbeat_ttl = match node {
            Some(n) if n.status != NODE_STATUS_DOWN => self.heartbeat_ttl().as_nanos() as i64,
            _ => 0,
        };
        Ok(NodeUpdateResponse {
            heartbeat_ttl,
            eval_create_index: if evals.is_empty() { 0 } else { index },
            eval_ids: evals.into_iter().map(|e| e.id).collect(),
            node_modify_index,
            index,
        })
    }
}

/// Nomad re-evaluates on a node becoming ready, going down or disconnecting; not on
/// `initializing` or an unchanged status.
fn status_needs_evals(old: Option<&str>, new: &str) -> bool {
    if old == Some(new) {
        return false;
    }
    matches!(
        new,
        NODE_STATUS_READY | NODE_STATUS_DOWN | NODE_STATUS_DISCONNECTED
    )
}
