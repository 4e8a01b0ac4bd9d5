//! Endpoint tests against a real in-memory server: what each call leaves in the state
//! (versions, evaluations, indexes) and Nomad's error texts.

mod alloc_node;
mod deployment;
mod dispatch;
mod job;
mod lifecycle;
mod plan;

use std::sync::Arc;

use crate::server::endpoints::{JobRegisterRequest, JobRegisterResponse};
use crate::server::state::{AllocClientUpdate, Command, PlanApply, StateStore};
use crate::server::{Server, ServerConfig};
use crate::structs::{
    AllocDeploymentStatus, Allocation, Deployment, DeploymentState, DriverInfo, Evaluation, Job,
    Node, NodeCpuResources, NodeDiskResources, NodeMemoryResources, NodeResources, Task, TaskGroup,
    DEPLOYMENT_RUNNING, NODE_STATUS_READY,
};

pub(crate) fn server() -> Arc<Server> {
    Server::new(StateStore::in_memory(), ServerConfig::default())
}

/// A service job with one group `cache` of `count` running `redis:<image>`.
pub(crate) fn job(id: &str, count: i64) -> Job {
    let mut task = Task {
        name: "redis".into(),
        driver: "container".into(),
        ..Default::default()
    };
    task.config.insert("image".into(), "redis:3.2".into());
    Job {
        id: id.into(),
        task_groups: vec![TaskGroup {
            name: "cache".into(),
            count: Some(count),
            tasks: vec![task],
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub(crate) fn with_image(mut job: Job, image: &str) -> Job {
    job.task_groups[0].tasks[0]
        .config
        .insert("image".into(), image.into());
    job
}

pub(crate) fn register(server: &Server, job: Job) -> JobRegisterResponse {
    server
        .register(JobRegisterRequest {
            job,
            ..Default::default()
        })
        .expect("register")
}

pub(crate) fn eval_of(server: &Server, id: &str) -> Arc<Evaluation> {
    server
        .state
        .snapshot()
        .evals
        .get(id)
        .cloned()
        .unwrap_or_else(|| panic!("eval {id} not stored"))
}

pub(crate) fn node(id: &str) -> Node {
    Node {
        id: id.into(),
        name: id.into(),
        datacenter: "dc1".into(),
        status: NODE_STATUS_READY.into(),
        ..Default::default()
    }
}

/// A ready node with room for a few allocations and the container driver.
pub(crate) fn roomy_node(id: &str) -> Node {
    let mut n = node(id);
    n.node_resources = NodeResources {
        cpu: NodeCpuResources {
            cpu_shares: 8000,
            total_cpu_cores: 4,
            ..Default::default()
        },
        memory: NodeMemoryResources { memory_mb: 16384 },
        disk: NodeDiskResources { disk_mb: 100_000 },
        ..Default::default()
    };
    n.drivers.insert(
        "container".into(),
        DriverInfo {
            detected: true,
            healthy: true,
            ..Default::default()
        },
    );
    n.attributes.insert("driver.container".into(), "1".into());
    n
}

/// An allocation of the stored job's group `cache` on `node_id`, index `i`.
pub(crate) fn alloc(server: &Server, job_id: &str, node_id: &str, i: u64) -> Allocation {
    let job = server.state.snapshot().job("default", job_id).unwrap();
    Allocation {
        id: uuid::Uuid::new_v4().to_string(),
        namespace: "default".into(),
        name: crate::structs::alloc_name(job_id, "cache", i),
        node_id: node_id.into(),
        job_id: job_id.into(),
        job: Some(job),
        task_group: "cache".into(),
        ..Default::default()
    }
}

/// Stores allocations (and a deployment) as the plan applier would.
pub(crate) fn place(server: &Server, allocs: Vec<Allocation>, deployment: Option<Deployment>) {
    server
        .apply(Command::PlanApply(Box::new(PlanApply {
            allocs,
            deployment,
            ..Default::default()
        })))
        .unwrap();
}

/// A running deployment of the stored job's current version for group `cache`.
pub(crate) fn deployment(server: &Server, job_id: &str, state: DeploymentState) -> Deployment {
    let job = server.state.snapshot().job("default", job_id).unwrap();
    Deployment {
        id: uuid::Uuid::new_v4().to_string(),
        namespace: "default".into(),
        job_id: job_id.into(),
        job_version: job.version,
        job_modify_index: job.job_modify_index,
        job_create_index: job.create_index,
        task_groups: [("cache".to_string(), state)].into(),
        status: DEPLOYMENT_RUNNING.into(),
        status_description: crate::structs::DESC_RUNNING.into(),
        ..Default::default()
    }
}

/// The client's report of an allocation's status and (optionally) health.
pub(crate) fn report(alloc_id: &str, status: &str, healthy: Option<bool>) -> AllocClientUpdate {
    AllocClientUpdate {
        alloc_id: alloc_id.into(),
        client_status: status.into(),
        deployment_status: healthy.map(|h| AllocDeploymentStatus {
            healthy: Some(h),
            timestamp: crate::structs::time::rfc3339(crate::structs::time::now_ns()),
            ..Default::default()
        }),
        ..Default::default()
    }
}
