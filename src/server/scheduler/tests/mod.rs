//! Scheduler tests: real state store, real reconciler, the test planner (`harness`).

mod feasible;
mod generic;
mod proptests;
mod rank;
mod system;

use std::collections::BTreeMap;

use crate::structs::{
    DriverInfo, Job, NetworkResource, Node, NodeCpuResources, NodeDiskResources,
    NodeMemoryResources, NodeResources, Port, Resources, Task, TaskGroup, NODE_ELIGIBLE,
    NODE_STATUS_READY,
};

/// A ready, eligible node in `dc1` with the container, exec and raw_exec drivers.
pub(super) fn node(id: &str, cpu: i64, memory_mb: i64) -> Node {
    let driver = DriverInfo {
        detected: true,
        healthy: true,
        ..Default::default()
    };
    Node {
        id: id.into(),
        name: format!("name-{id}"),
        datacenter: "dc1".into(),
        status: NODE_STATUS_READY.into(),
        scheduling_eligibility: NODE_ELIGIBLE.into(),
        node_pool: "default".into(),
        attributes: BTreeMap::from([
            ("kernel.name".to_string(), "linux".to_string()),
            (
                "unique.network.ip-address".to_string(),
                "10.0.0.1".to_string(),
            ),
        ]),
        node_resources: NodeResources {
            cpu: NodeCpuResources {
                cpu_shares: cpu,
                total_cpu_cores: 4,
                reservable_cpu_cores: Vec::new(),
            },
            memory: NodeMemoryResources { memory_mb },
            disk: NodeDiskResources { disk_mb: 100_000 },
            ..Default::default()
        },
        drivers: ["container", "exec", "raw_exec"]
            .into_iter()
            .map(|d| (d.to_string(), driver.clone()))
            .collect(),
        ..Default::default()
    }
}

/// A canonical job of `job_type` with one group `web` of `count` running one task
/// (`docker` driver) asking `cpu` MHz and `memory_mb`.
pub(super) fn job(id: &str, job_type: &str, count: i64, cpu: i64, memory_mb: i64) -> Job {
    let mut job = Job {
        id: id.into(),
        job_type: job_type.into(),
        task_groups: vec![group("web", count, cpu, memory_mb)],
        ..Default::default()
    };
    job.canonicalize();
    job
}

pub(super) fn group(name: &str, count: i64, cpu: i64, memory_mb: i64) -> TaskGroup {
    TaskGroup {
        name: name.into(),
        count: Some(count),
        tasks: vec![Task {
            name: "app".into(),
            driver: "docker".into(),
            resources: Some(Resources {
                cpu: Some(cpu),
                memory_mb: Some(memory_mb),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A group network with the given static and dynamic port labels.
pub(super) fn network(statics: &[(&str, i64)], dynamics: &[&str]) -> NetworkResource {
    NetworkResource {
        reserved_ports: statics
            .iter()
            .map(|(l, v)| Port {
                label: l.to_string(),
                value: *v,
                ..Default::default()
            })
            .collect(),
        dynamic_ports: dynamics
            .iter()
            .map(|l| Port {
                label: l.to_string(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
