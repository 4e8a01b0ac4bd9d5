//! The commands that change state. Each one is logged (when durable) before it is
//! applied, and applying is deterministic: times come from the entry, not the clock, so
//! replaying the log rebuilds exactly the same state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::structs::{
    AllocDeploymentStatus, Allocation, Deployment, Evaluation, Job, Node, TaskState,
};

/// One log entry: the index it is applied at, the leader's clock when it was proposed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub index: u64,
    /// Unix nanoseconds.
    pub now: i64,
    pub command: Command,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    /// Register (or re-register) a job; the apply decides whether it is a new version.
    JobRegister {
        job: Box<Job>,
        eval: Option<Box<Evaluation>>,
        submission: Option<JobSubmission>,
    },
    /// Stop a job (`purge` deletes it and its versions).
    JobDeregister {
        namespace: String,
        job_id: String,
        purge: bool,
        eval: Option<Box<Evaluation>>,
    },
    JobStability {
        namespace: String,
        job_id: String,
        version: u64,
        stable: bool,
    },
    /// A periodic job launched a child at `launch` (unix ns).
    PeriodicLaunch {
        namespace: String,
        job_id: String,
        launch: i64,
    },
    EvalUpsert {
        evals: Vec<Evaluation>,
    },
    /// The result of a plan the applier accepted.
    PlanApply(Box<PlanApply>),
    /// What clients report about their allocations.
    AllocClientUpdate {
        allocs: Vec<AllocClientUpdate>,
        evals: Vec<Evaluation>,
    },
    /// `alloc stop` and drains: ask the scheduler to move an allocation.
    AllocDesiredTransition {
        alloc_ids: Vec<String>,
        migrate: bool,
        evals: Vec<Evaluation>,
    },
    NodeRegister {
        node: Box<Node>,
        evals: Vec<Evaluation>,
    },
    NodeStatus {
        node_id: String,
        status: String,
        evals: Vec<Evaluation>,
    },
    NodeEligibility {
        node_id: String,
        eligibility: String,
        evals: Vec<Evaluation>,
    },
    NodeDrain {
        node_id: String,
        drain: bool,
        evals: Vec<Evaluation>,
    },
    NodeDeregister {
        node_id: String,
    },
    DeploymentStatus(Box<DeploymentChange>),
    DeploymentPromote {
        deployment_id: String,
        /// Empty: every group.
        groups: Vec<String>,
        eval: Option<Box<Evaluation>>,
    },
    DeploymentAllocHealth {
        deployment_id: String,
        healthy: Vec<String>,
        unhealthy: Vec<String>,
        change: Option<Box<DeploymentChange>>,
    },
}

/// A deployment's new status, and what comes with it: a rollback job for `auto_revert`,
/// an eval to act on it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeploymentChange {
    pub update: DeploymentStatusUpdate,
    pub job: Option<Job>,
    pub eval: Option<Evaluation>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentStatusUpdate {
    pub deployment_id: String,
    pub status: String,
    pub status_description: String,
}

/// The applied form of a scheduler's plan: what the applier checked and accepted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PlanApply {
    pub eval_id: String,
    /// The job the plan was made for; allocations whose `Job` is `None` get this one
    /// (written once per plan, not once per allocation).
    pub job: Option<Job>,
    /// New and in-place updated allocations.
    pub allocs: Vec<Allocation>,
    /// Allocations the plan stops or evicts.
    pub stops: Vec<AllocStop>,
    pub deployment: Option<Deployment>,
    pub deployment_updates: Vec<DeploymentStatusUpdate>,
    /// Evals the scheduler created alongside (follow-ups, blocked evals).
    pub evals: Vec<Evaluation>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AllocStop {
    pub alloc_id: String,
    pub desired_status: String,
    pub desired_description: String,
    /// Set for lost allocations (`lost`, `unknown`).
    pub client_status: Option<String>,
    /// Set when a replacement exists (reschedules, destructive updates).
    pub next_allocation: Option<String>,
    pub followup_eval_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AllocClientUpdate {
    pub alloc_id: String,
    pub client_status: String,
    pub client_description: String,
    pub task_states: BTreeMap<String, TaskState>,
    pub deployment_status: Option<AllocDeploymentStatus>,
}

/// The job file as submitted (`GET /v1/job/:id/submission`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobSubmission {
    pub source: String,
    pub format: String,
    pub variable_flags: BTreeMap<String, String>,
    pub variables: String,
}
