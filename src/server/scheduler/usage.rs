//! What one node has committed: the resources and host ports of the allocations proposed
//! to run there (its live allocations, less what the plan stops, plus what it places).

use crate::server::state::NodeAllocated;
use crate::structs::{Allocation, Node};

/// Computed once per node per evaluation and kept in step as the plan grows.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeUsage {
    pub cpu: i64,
    pub memory_mb: i64,
    pub disk_mb: i64,
    /// Host ports held, sorted; the node's own reserved ports included. A port held twice
    /// is a collision that makes the node unusable until one holder goes.
    ports: Vec<u16>,
    /// Allocations of the evaluation's job on the node.
    pub job_allocs: u32,
    /// The same, per group (indexed like the job's `task_groups`).
    pub group_allocs: Vec<u32>,
}

/// The evaluation job's live allocations on one node, in total and per group.
#[derive(Debug, Clone, Default)]
pub(crate) struct JobOnNode {
    pub total: u32,
    pub groups: Vec<u32>,
}

/// Which allocations count as "this job" for anti-affinity and `distinct_hosts`.
#[derive(Debug, Clone, Default)]
pub(crate) struct JobIdentity {
    pub namespace: String,
    pub job_id: String,
    pub groups: Vec<String>,
}

impl NodeUsage {
    /// The node's committed usage as the state store sums it, its own reserved ports,
    /// and the evaluation job's allocations on it.
    pub(crate) fn new(node: &Node, base: Option<&NodeAllocated>, job: &JobOnNode) -> NodeUsage {
        let mut ports: Vec<u16> = node
            .reserved_ports()
            .into_iter()
            .filter_map(|p| u16::try_from(p).ok())
            .collect();
        if let Some(base) = base {
            ports.extend_from_slice(&base.ports);
        }
        ports.sort_unstable();
        NodeUsage {
            cpu: base.map_or(0, |b| b.cpu),
            memory_mb: base.map_or(0, |b| b.memory_mb),
            disk_mb: base.map_or(0, |b| b.disk_mb),
            ports,
            job_allocs: job.total,
            group_allocs: job.groups.clone(),
        }
    }

    /// Counts (`sign` 1) or discounts (`sign` -1) one allocation.
    pub(crate) fn apply(&mut self, alloc: &Allocation, job: &JobIdentity, sign: i64) {
        if let Some(res) = &alloc.allocated_resources {
            self.cpu += sign * res.cpu();
            self.memory_mb += sign * res.memory_mb();
            self.disk_mb += sign * res.shared.disk_mb;
            for port in res.host_ports() {
                if sign > 0 {
                    self.add_port(port);
                } else {
                    self.remove_port(port);
                }
            }
        }
        if alloc.job_id == job.job_id && alloc.namespace == job.namespace {
            let step = |n: &mut u32| {
                *n = if sign > 0 {
                    *n + 1
                } else {
                    n.saturating_sub(1)
                }
            };
            step(&mut self.job_allocs);
            if let Some(i) = job.groups.iter().position(|g| *g == alloc.task_group) {
                step(&mut self.group_allocs[i]);
            }
        }
    }

    fn add_port(&mut self, port: i64) {
        if let Ok(port) = u16::try_from(port) {
            let at = self.ports.partition_point(|p| *p < port);
            self.ports.insert(at, port);
        }
    }

    fn remove_port(&mut self, port: i64) {
        if let Ok(port) = u16::try_from(port) {
            if let Ok(at) = self.ports.binary_search(&port) {
                self.ports.remove(at);
            }
        }
    }

    pub(crate) fn port_used(&self, port: u16) -> bool {
        self.ports.binary_search(&port).is_ok()
    }

    /// Two holders of one port (Nomad's "network: port collision").
    pub(crate) fn collision(&self) -> bool {
        self.ports.windows(2).any(|w| w[0] == w[1])
    }
}
