//! Allocations: one placement of a task group on a node, and what its tasks did.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Job, NetworkResource};

pub const ALLOC_DESIRED_RUN: &str = "run";
pub const ALLOC_DESIRED_STOP: &str = "stop";
pub const ALLOC_DESIRED_EVICT: &str = "evict";

pub const ALLOC_CLIENT_PENDING: &str = "pending";
pub const ALLOC_CLIENT_RUNNING: &str = "running";
pub const ALLOC_CLIENT_COMPLETE: &str = "complete";
pub const ALLOC_CLIENT_FAILED: &str = "failed";
pub const ALLOC_CLIENT_LOST: &str = "lost";
pub const ALLOC_CLIENT_UNKNOWN: &str = "unknown";

pub const ALLOC_NOT_NEEDED: &str = "alloc not needed due to job update";
pub const ALLOC_UPDATING: &str = "alloc is being updated due to job update";
pub const ALLOC_MIGRATING: &str = "alloc is being migrated";
pub const ALLOC_LOST: &str = "alloc is lost since its node is down";
pub const ALLOC_RESCHEDULED: &str = "alloc was rescheduled because it failed";
pub const ALLOC_IN_PLACE: &str = "alloc updating in-place";
pub const ALLOC_JOB_STOPPED: &str = "alloc not needed as job is stopped";
pub const ALLOC_NODE_TAINTED: &str = "alloc not needed as node is tainted";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Allocation {
    #[serde(rename = "ID")]
    pub id: String,
    pub namespace: String,
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub name: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_name: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// Shared between the allocations of one job version (thousands of them).
    pub job: Option<Arc<Job>>,
    pub task_group: String,
    pub allocated_resources: Option<AllocatedResources>,
    pub metrics: Option<AllocMetric>,
    pub desired_status: String,
    pub desired_description: String,
    pub desired_transition: DesiredTransition,
    pub client_status: String,
    pub client_description: String,
    pub task_states: BTreeMap<String, TaskState>,
    #[serde(rename = "DeploymentID")]
    pub deployment_id: String,
    pub deployment_status: Option<AllocDeploymentStatus>,
    #[serde(rename = "FollowupEvalID")]
    pub followup_eval_id: String,
    pub previous_allocation: String,
    pub next_allocation: String,
    pub reschedule_tracker: Option<RescheduleTracker>,
    pub preempted_allocations: Vec<String>,
    pub preempted_by_allocation: String,
    pub create_index: u64,
    pub modify_index: u64,
    pub alloc_modify_index: u64,
    /// Unix nanoseconds.
    pub create_time: i64,
    /// Unix nanoseconds.
    pub modify_time: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedResources {
    pub tasks: BTreeMap<String, AllocatedTaskResources>,
    pub shared: AllocatedSharedResources,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedTaskResources {
    pub cpu: AllocatedCpuResources,
    pub memory: AllocatedMemoryResources,
    pub networks: Vec<NetworkResource>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedCpuResources {
    pub cpu_shares: i64,
    pub reserved_cores: Vec<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedMemoryResources {
    #[serde(rename = "MemoryMB")]
    pub memory_mb: i64,
    #[serde(rename = "MemoryMaxMB")]
    pub memory_max_mb: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedSharedResources {
    #[serde(rename = "DiskMB")]
    pub disk_mb: i64,
    pub networks: Vec<NetworkResource>,
    pub ports: Vec<AllocatedPortMapping>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedPortMapping {
    pub label: String,
    pub value: i64,
    pub to: i64,
    #[serde(rename = "HostIP")]
    pub host_ip: String,
}

impl AllocatedResources {
    /// CPU MHz over all tasks.
    pub fn cpu(&self) -> i64 {
        self.tasks.values().map(|t| t.cpu.cpu_shares).sum()
    }

    pub fn memory_mb(&self) -> i64 {
        self.tasks.values().map(|t| t.memory.memory_mb).sum()
    }

    /// Host ports this allocation holds (group ports and deprecated task networks).
    pub fn host_ports(&self) -> impl Iterator<Item = i64> + '_ {
        let shared = self.shared.ports.iter().map(|p| p.value);
        let tasks = self
            .tasks
            .values()
            .flat_map(|t| t.networks.iter().flat_map(|n| n.ports().map(|p| p.value)));
        shared.chain(tasks)
    }
}

/// What a task did: its state and the events that led there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskState {
    /// `pending`, `running` or `dead`.
    pub state: String,
    pub failed: bool,
    pub restarts: u64,
    /// RFC 3339; Go's zero time when never.
    pub last_restart: String,
    pub started_at: String,
    pub finished_at: String,
    pub events: Vec<TaskEvent>,
}

impl TaskState {
    /// A task not started yet; times are Go's zero time, which API clients parse.
    pub fn pending() -> Self {
        TaskState {
            state: TASK_STATE_PENDING.into(),
            last_restart: super::time::ZERO_TIME.into(),
            started_at: super::time::ZERO_TIME.into(),
            finished_at: super::time::ZERO_TIME.into(),
            ..Default::default()
        }
    }
}

pub const TASK_STATE_PENDING: &str = "pending";
pub const TASK_STATE_RUNNING: &str = "running";
pub const TASK_STATE_DEAD: &str = "dead";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskEvent {
    #[serde(rename = "Type")]
    pub event_type: String,
    /// Unix nanoseconds.
    pub time: i64,
    pub message: String,
    pub display_message: String,
    pub details: BTreeMap<String, String>,
    pub fails_task: bool,
    pub restart_reason: String,
    pub setup_error: String,
    pub driver_error: String,
    pub exit_code: i64,
    pub signal: i64,
    /// Nanoseconds.
    pub kill_timeout: i64,
    pub kill_error: String,
    pub kill_reason: String,
    /// Nanoseconds.
    pub start_delay: i64,
    pub download_error: String,
    pub validation_error: String,
    pub disk_limit: i64,
    pub failed_sibling: String,
    pub vault_error: String,
    pub task_signal_reason: String,
    pub task_signal: String,
    pub driver_message: String,
    pub generic_source: String,
}

/// The client's verdict on an allocation in a deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocDeploymentStatus {
    /// `None` until the client has decided.
    pub healthy: Option<bool>,
    /// RFC 3339.
    pub timestamp: String,
    pub canary: bool,
    pub modify_index: u64,
}

impl AllocDeploymentStatus {
    pub fn is_healthy(&self) -> bool {
        self.healthy == Some(true)
    }

    pub fn is_unhealthy(&self) -> bool {
        self.healthy == Some(false)
    }
}

/// What the server wants to happen to an allocation next (drains, forced reschedules).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DesiredTransition {
    pub migrate: Option<bool>,
    pub reschedule: Option<bool>,
    pub force_reschedule: Option<bool>,
    pub no_shutdown_delay: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RescheduleTracker {
    pub events: Vec<RescheduleEvent>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RescheduleEvent {
    /// Unix nanoseconds.
    pub reschedule_time: i64,
    #[serde(rename = "PrevAllocID")]
    pub prev_alloc_id: String,
    #[serde(rename = "PrevNodeID")]
    pub prev_node_id: String,
    /// Nanoseconds.
    pub delay: i64,
}

/// How the scheduler got to a placement, or why it could not: Nomad's metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocMetric {
    pub nodes_evaluated: u64,
    pub nodes_filtered: u64,
    pub nodes_in_pool: u64,
    pub nodes_available: BTreeMap<String, u64>,
    pub class_filtered: BTreeMap<String, u64>,
    pub constraint_filtered: BTreeMap<String, u64>,
    pub nodes_exhausted: u64,
    pub class_exhausted: BTreeMap<String, u64>,
    pub dimension_exhausted: BTreeMap<String, u64>,
    pub quota_exhausted: Vec<String>,
    pub resources_exhausted: BTreeMap<String, serde_json::Value>,
    pub score_meta_data: Vec<NodeScoreMeta>,
    /// Nanoseconds.
    pub allocation_time: i64,
    pub coalesced_failures: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeScoreMeta {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub scores: BTreeMap<String, f64>,
    pub norm_score: f64,
}

impl AllocMetric {
    pub fn filter_constraint(&mut self, reason: &str) {
        self.nodes_filtered += 1;
        *self
            .constraint_filtered
            .entry(reason.to_string())
            .or_default() += 1;
    }

    pub fn exhausted(&mut self, dimension: &str) {
        self.nodes_exhausted += 1;
        *self
            .dimension_exhausted
            .entry(dimension.to_string())
            .or_default() += 1;
    }
}

impl Allocation {
    /// The server no longer wants it running.
    pub fn server_terminal(&self) -> bool {
        matches!(
            self.desired_status.as_str(),
            ALLOC_DESIRED_STOP | ALLOC_DESIRED_EVICT
        )
    }

    /// The client reports it finished (one way or another).
    pub fn client_terminal(&self) -> bool {
        matches!(
            self.client_status.as_str(),
            ALLOC_CLIENT_COMPLETE | ALLOC_CLIENT_FAILED | ALLOC_CLIENT_LOST
        )
    }

    pub fn terminal(&self) -> bool {
        self.server_terminal() || self.client_terminal()
    }

    /// The `[N]` of `job.group[N]`.
    pub fn index(&self) -> u64 {
        alloc_name_index(&self.name)
    }

    pub fn job_version(&self) -> u64 {
        self.job.as_ref().map_or(0, |j| j.version)
    }

    pub fn is_canary(&self) -> bool {
        self.deployment_status.as_ref().is_some_and(|d| d.canary)
    }

    pub fn stub(&self, with_resources: bool, with_task_states: bool) -> AllocationListStub {
        let job = self.job.as_deref();
        AllocationListStub {
            id: self.id.clone(),
            eval_id: self.eval_id.clone(),
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            node_id: self.node_id.clone(),
            node_name: self.node_name.clone(),
            job_id: self.job_id.clone(),
            job_type: job.map(|j| j.job_type.clone()).unwrap_or_default(),
            job_version: job.map_or(0, |j| j.version),
            task_group: self.task_group.clone(),
            allocated_resources: if with_resources {
                self.allocated_resources.clone()
            } else {
                None
            },
            desired_status: self.desired_status.clone(),
            desired_description: self.desired_description.clone(),
            client_status: self.client_status.clone(),
            client_description: self.client_description.clone(),
            task_states: if with_task_states {
                Some(self.task_states.clone())
            } else {
                None
            },
            deployment_status: self.deployment_status.clone(),
            followup_eval_id: self.followup_eval_id.clone(),
            next_allocation: self.next_allocation.clone(),
            reschedule_tracker: self.reschedule_tracker.clone(),
            preempted_allocations: self.preempted_allocations.clone(),
            preempted_by_allocation: self.preempted_by_allocation.clone(),
            create_index: self.create_index,
            modify_index: self.modify_index,
            create_time: self.create_time,
            modify_time: self.modify_time,
        }
    }
}

/// `job.group[3]` -> 3; 0 for names without an index.
pub fn alloc_name_index(name: &str) -> u64 {
    name.rsplit_once('[')
        .and_then(|(_, rest)| rest.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub fn alloc_name(job_id: &str, group: &str, index: u64) -> String {
    format!("{job_id}.{group}[{index}]")
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocationListStub {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub name: String,
    pub namespace: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_name: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub job_type: String,
    pub job_version: u64,
    pub task_group: String,
    pub allocated_resources: Option<AllocatedResources>,
    pub desired_status: String,
    pub desired_description: String,
    pub client_status: String,
    pub client_description: String,
    pub task_states: Option<BTreeMap<String, TaskState>>,
    pub deployment_status: Option<AllocDeploymentStatus>,
    #[serde(rename = "FollowupEvalID")]
    pub followup_eval_id: String,
    pub next_allocation: String,
    pub reschedule_tracker: Option<RescheduleTracker>,
    pub preempted_allocations: Vec<String>,
    pub preempted_by_allocation: String,
    pub create_index: u64,
    pub modify_index: u64,
    pub create_time: i64,
    pub modify_time: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_index() {
        assert_eq!(alloc_name("redis", "cache", 2), "redis.cache[2]");
        assert_eq!(alloc_name_index("redis.cache[2]"), 2);
        assert_eq!(alloc_name_index("a.b[c][17]"), 17);
        assert_eq!(alloc_name_index("weird"), 0);
    }

    #[test]
    fn terminal_states() {
        let mut a = Allocation {
            desired_status: ALLOC_DESIRED_RUN.into(),
            client_status: ALLOC_CLIENT_RUNNING.into(),
            ..Default::default()
        };
        assert!(!a.terminal());
        a.client_status = ALLOC_CLIENT_FAILED.into();
        assert!(a.client_terminal() && a.terminal());
        a.client_status = ALLOC_CLIENT_RUNNING.into();
        a.desired_status = ALLOC_DESIRED_STOP.into();
        assert!(a.server_terminal() && !a.client_terminal());
    }
}
