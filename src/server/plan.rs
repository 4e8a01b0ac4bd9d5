//! Plans: what a scheduler wants changed, and what the plan applier let through.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::state::{AllocStop, DeploymentStatusUpdate, Snapshot};
use crate::structs::diff::DesiredUpdates;
use crate::structs::{AllocMetric, Allocation, AllocationListStub, Deployment, Evaluation, Job};

/// A scheduler's proposal for one evaluation.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub eval_id: String,
    pub priority: i64,
    /// The job the allocations run (`None` when the job is gone).
    pub job: Option<Arc<Job>>,
    /// All or nothing: the applier rejects the whole plan if one node does not fit.
    pub all_at_once: bool,
    /// Allocations to stop or evict, by node.
    pub node_update: BTreeMap<String, Vec<AllocStop>>,
    /// New and in-place updated allocations, by node.
    pub node_allocation: BTreeMap<String, Vec<Allocation>>,
    /// A deployment to create (or replace).
    pub deployment: Option<Deployment>,
    pub deployment_updates: Vec<DeploymentStatusUpdate>,
    /// Filled when the eval asks for it (`job plan`): what the scheduler decided per group.
    pub annotations: Option<PlanAnnotations>,
    /// The state index the scheduler planned against.
    pub snapshot_index: u64,
}

impl Plan {
    pub fn is_no_op(&self) -> bool {
        self.node_update.is_empty()
            && self.node_allocation.is_empty()
            && self.deployment.is_none()
            && self.deployment_updates.is_empty()
    }

    pub fn push_alloc(&mut self, alloc: Allocation) {
        self.node_allocation
            .entry(alloc.node_id.clone())
            .or_default()
            .push(alloc);
    }

    pub fn push_stop(&mut self, node_id: &str, stop: AllocStop) {
        self.node_update
            .entry(node_id.to_string())
            .or_default()
            .push(stop);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PlanAnnotations {
    #[serde(rename = "DesiredTGUpdates")]
    pub desired_tg_updates: BTreeMap<String, DesiredUpdates>,
    pub preempted_allocs: Vec<AllocationListStub>,
}

/// What the applier committed. A plan may be cut down when nodes filled up since the
/// scheduler's snapshot: then `refresh_index` says which state to re-plan against.
#[derive(Debug, Clone, Default)]
pub struct PlanResult {
    pub node_update: BTreeMap<String, Vec<AllocStop>>,
    /// The committed allocations by node. The applier gives only their identity (ID,
    /// name, namespace, job, node, group, desired status); the state holds the rest.
    pub node_allocation: BTreeMap<String, Vec<Allocation>>,
    pub deployment: Option<Deployment>,
    pub deployment_updates: Vec<DeploymentStatusUpdate>,
    /// Non-zero when part of the plan was refused.
    pub refresh_index: u64,
    /// The index the plan was committed at (0 if nothing was).
    pub alloc_index: u64,
}

impl PlanResult {
    /// Did the applier take everything the plan asked for?
    pub fn full_commit(&self, plan: &Plan) -> (bool, usize, usize) {
        let expected: usize = plan.node_allocation.values().map(Vec::len).sum::<usize>()
            + plan.node_update.values().map(Vec::len).sum::<usize>();
        let actual: usize = self.node_allocation.values().map(Vec::len).sum::<usize>()
            + self.node_update.values().map(Vec::len).sum::<usize>();
        (expected == actual, expected, actual)
    }
}

/// The scheduler's view of the server: how it submits plans and records evaluations.
/// The worker implements it against the real applier; `job plan` with one that
/// commits nothing.
pub trait Planner {
    /// Submits a plan; returns what was committed and, when the plan was cut down, a
    /// newer snapshot to re-plan against.
    fn submit_plan(&self, plan: Plan) -> anyhow::Result<(PlanResult, Option<Snapshot>)>;
    /// Records the evaluation's outcome (status, failed groups, queued counts).
    fn update_eval(&self, eval: Evaluation) -> anyhow::Result<()>;
    /// Creates a follow-up or blocked evaluation.
    fn create_eval(&self, eval: Evaluation) -> anyhow::Result<()>;
    /// Puts a blocked evaluation back to wait for capacity.
    fn reblock_eval(&self, eval: Evaluation) -> anyhow::Result<()>;
}

/// Per-group placement failures of one evaluation (`FailedTGAllocs`).
pub type FailedGroups = BTreeMap<String, AllocMetric>;
