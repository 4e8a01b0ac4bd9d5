//! Node heartbeats: every ready node has a deadline (its TTL plus the grace); a node
//! that misses it is marked down and the jobs with allocations on it are evaluated so
//! the reconciler replaces them. A down node that heartbeats again comes back ready.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::leader::Alarm;
use super::state::{Command, StateError, Tables};
use super::Core;
use crate::structs::time::now_ns;
use crate::structs::{
    Evaluation, Node, EVAL_PENDING, JOB_TYPE_SYSBATCH, JOB_TYPE_SYSTEM, NODE_STATUS_DOWN,
    NODE_STATUS_READY, TRIGGER_NODE_UPDATE,
};

#[derive(Debug, thiserror::Error)]
pub enum HeartbeatError {
    #[error("node not found")]
    NodeNotFound,
    #[error(transparent)]
    State(#[from] StateError),
}

impl From<HeartbeatError> for super::endpoints::RpcError {
    fn from(e: HeartbeatError) -> Self {
        match e {
            HeartbeatError::NodeNotFound => Self::not_found("node not found"),
            HeartbeatError::State(e) => e.into(),
        }
    }
}

/// The deadlines, by node.
pub struct Heartbeats {
    alarm: Arc<Alarm>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    enabled: bool,
    deadlines: HashMap<String, i64>,
    by_deadline: BTreeSet<(i64, String)>,
}

impl Heartbeats {
    pub fn new(alarm: Arc<Alarm>) -> Self {
        Heartbeats {
            alarm,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn set_enabled(&self, enabled: bool) {
        let mut g = self.inner.lock();
        if enabled {
            g.enabled = true;
        } else {
            *g = Inner::default();
        }
    }

    /// Nodes being tracked.
    pub fn len(&self) -> usize {
        self.inner.lock().deadlines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The node must heartbeat again within `after`.
    pub fn reset(&self, node_id: &str, after: Duration) {
        let deadline = now_ns().saturating_add(after.as_nanos() as i64);
        let mut g = self.inner.lock();
        if !g.enabled {
            return;
        }
        if let Some(old) = g.deadlines.insert(node_id.to_string(), deadline) {
            g.by_deadline.remove(&(old, node_id.to_string()));
        }
        g.by_deadline.insert((deadline, node_id.to_string()));
        drop(g);
        self.alarm.ring_by(deadline);
    }

    pub fn clear(&self, node_id: &str) {
        let mut g = self.inner.lock();
        if let Some(old) = g.deadlines.remove(node_id) {
            g.by_deadline.remove(&(old, node_id.to_string()));
        }
    }

    /// Nodes whose deadline passed by `now` (unix ns); they are no longer tracked.
    pub fn expired(&self, now: i64) -> Vec<String> {
        let mut g = self.inner.lock();
        let mut out = Vec::new();
        while let Some((deadline, _)) = g.by_deadline.first() {
            if *deadline > now {
                break;
            }
            let (_, node) = g.by_deadline.pop_first().expect("peeked");
            g.deadlines.remove(&node);
            out.push(node);
        }
        out
    }

    pub fn next_deadline(&self) -> Option<i64> {
        self.inner.lock().by_deadline.first().map(|(d, _)| *d)
    }
}

/// The TTL a client is given: at least `min_ttl`, longer when there are so many nodes
/// that they would exceed `max_per_second` heartbeats in total (Nomad's rate scaling).
pub fn heartbeat_ttl(min_ttl: Duration, max_per_second: f64, nodes: usize) -> Duration {
    if max_per_second <= 0.0 {
        return min_ttl;
    }
    let scaled = Duration::from_secs_f64(nodes as f64 / max_per_second);
    scaled.max(min_ttl)
}

/// `node-update` evals for the jobs with live allocations on the node and, when
/// `system_jobs`, for every running system job (which may now place there).
pub fn node_update_evals(snap: &Tables, node: &Node, system_jobs: bool) -> Vec<Evaluation> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut push = |namespace: &str, job_id: &str, priority: i64, job_type: &str| {
        if !seen.insert((namespace.to_string(), job_id.to_string())) {
            return;
        }
        out.push(Evaluation {
            id: uuid::Uuid::new_v4().to_string(),
            namespace: namespace.to_string(),
            priority,
            eval_type: job_type.to_string(),
            triggered_by: TRIGGER_NODE_UPDATE.into(),
            job_id: job_id.to_string(),
            node_id: node.id.clone(),
            node_modify_index: node.modify_index,
            status: EVAL_PENDING.into(),
            ..Default::default()
        });
    };
    for alloc in snap.node_live_allocs(&node.id) {
        let job = alloc
            .job
            .clone()
            .or_else(|| snap.job(&alloc.namespace, &alloc.job_id));
        if let Some(job) = job {
            push(&alloc.namespace, &alloc.job_id, job.priority, &job.job_type);
        }
    }
    if system_jobs {
        for job in snap.jobs.values() {
            let system = job.job_type == JOB_TYPE_SYSTEM || job.job_type == JOB_TYPE_SYSBATCH;
            if system && !job.stop {
                push(&job.namespace, &job.id, job.priority, &job.job_type);
            }
        }
    }
    out
}

impl Core {
    pub(crate) fn heartbeat_ttl(&self) -> Duration {
        heartbeat_ttl(
            self.config.min_heartbeat_ttl,
            self.config.max_heartbeats_per_second,
            self.heartbeats.len(),
        )
    }

    /// Restarts the node's deadline: TTL plus grace.
    pub(crate) fn reset_heartbeat(&self, node_id: &str) -> Duration {
        let ttl = self.heartbeat_ttl();
        self.heartbeats
            .reset(node_id, ttl + self.config.heartbeat_grace);
        ttl
    }

    /// A client's heartbeat: a down node comes back ready (and its jobs and the system
    /// jobs are evaluated); returns the TTL until the next one is due.
    pub(crate) fn node_heartbeat(&self, node_id: &str) -> Result<Duration, HeartbeatError> {
        let snap = self.state.snapshot();
        let node = snap.node(node_id).ok_or(HeartbeatError::NodeNotFound)?;
        if node.status == NODE_STATUS_DOWN {
            let evals = node_update_evals(&snap, &node, true);
            self.apply(Command::NodeStatus {
                node_id: node_id.to_string(),
                status: NODE_STATUS_READY.into(),
                evals,
            })?;
        }
        Ok(self.reset_heartbeat(node_id))
    }

    /// Marks nodes that missed their deadline down, with evals for their jobs.
    pub(crate) fn invalidate_heartbeats(&self, now: i64) {
        for node_id in self.heartbeats.expired(now) {
            let snap = self.state.snapshot();
            let Some(node) = snap.node(&node_id) else {
                continue;
            };
            if node.status == NODE_STATUS_DOWN {
                continue;
            }
            tracing::warn!(node_id = %node_id, "node TTL expired; marking it down");
            let evals = node_update_evals(&snap, &node, false);
            let command = Command::NodeStatus {
                node_id: node_id.clone(),
                status: NODE_STATUS_DOWN.into(),
                evals,
            };
            match self.apply(command) {
                Ok(_) => self.metrics.heartbeat_invalidated.incr(),
                Err(e) => tracing::error!(node_id = %node_id, "marking node down failed: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests;
