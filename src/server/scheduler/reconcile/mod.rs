//! The reconciler: desired state (job, count, update strategy) against existing
//! allocations, deciding per group what to place, stop, update in place or replace.
//! Pure: no state access, no placement; the generic scheduler acts on its results.
//!
//! Per group (`group.rs`): drop what the server stopped, stop the canaries of a
//! cancelled or failed deployment, sort the rest by node (`sets.rs`: untainted, migrate,
//! lost), find failed allocations to reschedule now or later (`reschedule.rs`), stop
//! the excess of a count decrease (`stop.rs`), ask `update_fn` about older versions,
//! then place canaries, replacements, new allocations and a bounded batch of
//! destructive updates (`place.rs`). Deployments (`deployment.rs`) are created for a new
//! version, cancelled when moot, and marked successful here once every group is healthy.

mod deployment;
mod group;
mod names;
mod place;
mod reschedule;
mod sets;
mod stop;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::server::state::DeploymentStatusUpdate;
use crate::structs::diff::DesiredUpdates;
use crate::structs::{
    Allocation, Deployment, Evaluation, Job, Node, TaskGroup, ALLOC_CLIENT_LOST, ALLOC_LOST,
    ALLOC_NOT_NEEDED,
};

use deployment::{group_healthy, set_description, split_deployments, successful};
use group::GroupContext;
use sets::{on_lost_node, AllocSet};

/// How an existing allocation can take a new job version (decided by the scheduler,
/// which can check whether the new resources still fit on the allocation's node).
#[allow(clippy::large_enum_variant)] // one per allocation, consumed at once: no box needed
#[derive(Debug, Clone)]
pub enum AllocUpdate {
    /// Nothing relevant changed.
    Ignore,
    /// Update in place: the allocation as it will be (new job, new eval, same ID/node).
    InPlace(Allocation),
    /// Stop it and place a replacement.
    Destructive,
}

pub type AllocUpdateFn<'a> = dyn Fn(&Allocation, &Arc<Job>, &TaskGroup) -> AllocUpdate + 'a;

pub struct ReconcileInput<'a> {
    pub namespace: &'a str,
    pub job_id: &'a str,
    /// `None` (purged) or a stopped job: everything is stopped.
    pub job: Option<&'a Arc<Job>>,
    /// Batch jobs: completed allocations are not replaced.
    pub batch: bool,
    /// Every allocation of the job, terminal ones included.
    pub existing: Vec<Arc<Allocation>>,
    /// Nodes (with allocations of this job) that are down, draining or gone (`None`).
    pub tainted_nodes: &'a BTreeMap<String, Option<Arc<Node>>>,
    /// The job's newest deployment, whatever its status.
    pub deployment: Option<Arc<Deployment>>,
    pub eval_id: &'a str,
    pub eval_priority: i64,
    /// Unix nanoseconds.
    pub now: i64,
    pub update_fn: &'a AllocUpdateFn<'a>,
}

#[derive(Debug, Clone, Default)]
pub struct ReconcileResults {
    pub place: Vec<PlaceRequest>,
    pub destructive: Vec<DestructiveRequest>,
    pub inplace: Vec<Allocation>,
    pub stop: Vec<StopRequest>,
    /// A deployment to create for this job version.
    pub deployment: Option<Deployment>,
    /// The deployment new placements belong to (the new one or the running one).
    pub deployment_id: Option<String>,
    pub deployment_updates: Vec<DeploymentStatusUpdate>,
    pub desired_tg_updates: BTreeMap<String, DesiredUpdates>,
    /// Evaluations to create: reschedules whose delay has not passed (`WaitUntil`).
    pub followup_evals: Vec<Evaluation>,
    /// Allocations whose `FollowupEvalID` was set for a later reschedule.
    pub attribute_updates: Vec<Allocation>,
}

#[derive(Debug, Clone)]
pub struct PlaceRequest {
    /// `job.group[index]`.
    pub name: String,
    pub task_group: String,
    pub canary: bool,
    /// The allocation this one replaces (reschedule, lost node, migration).
    pub previous_alloc: Option<Arc<Allocation>>,
    pub reschedule: bool,
    pub lost: bool,
}

#[derive(Debug, Clone)]
pub struct DestructiveRequest {
    pub name: String,
    pub task_group: String,
    pub stop_alloc: Arc<Allocation>,
    pub description: String,
}

#[derive(Debug, Clone)]
pub struct StopRequest {
    pub alloc: Arc<Allocation>,
    /// Set for allocations on lost nodes (`lost`).
    pub client_status: Option<String>,
    pub description: String,
    pub followup_eval_id: Option<String>,
}

/// Decides what to change so the job's allocations match the job.
pub fn reconcile(input: ReconcileInput<'_>) -> ReconcileResults {
    let mut results = ReconcileResults::default();
    let split = split_deployments(input.job.map(|j| j.as_ref()), input.deployment.clone());
    results.deployment_updates = split.updates;
    let groups = allocs_by_group(&input.existing, input.job.map(|j| j.as_ref()));
    let Some(job) = input.job.filter(|j| !j.stop) else {
        stop_all(&input, groups, &mut results);
        return results;
    };

    let cx = GroupContext {
        job,
        batch: input.batch,
        tainted: input.tainted_nodes,
        eval_id: input.eval_id,
        eval_priority: input.eval_priority,
        now: input.now,
        update_fn: input.update_fn,
        old: split.old.as_deref(),
        current: split.current.as_deref(),
    };
    // The current version's deployment as this pass leaves it.
    let mut current: Option<Deployment> = split.current.as_deref().cloned();
    let (mut created, mut extended) = (false, false);
    let mut complete = true;
    for (name, allocs) in groups {
        let out = group::compute(&cx, &name, allocs);
        if let Some(state) = out.deployment_state {
            let d = current.get_or_insert_with(|| {
                created = true;
                deployment::new_deployment(job, input.now)
            });
            extended |= !created;
            d.task_groups.insert(name.clone(), state);
        }
        // A group the deployment does not cover has nothing to wait for.
        complete &= out.done
            && current
                .as_ref()
                .is_some_and(|d| d.task_groups.get(&name).is_none_or(group_healthy));
        results.place.extend(out.place);
        results.destructive.extend(out.destructive);
        results.inplace.extend(out.inplace);
        results.stop.extend(out.stop);
        results.followup_evals.extend(out.followup_evals);
        results.attribute_updates.extend(out.attribute_updates);
        results.desired_tg_updates.insert(name, out.desired);
    }

    if let Some(mut d) = current {
        if created {
            set_description(&mut d);
        } else if complete && d.active() {
            results.deployment_updates.push(successful(&d));
        }
        if created || d.active() {
            results.deployment_id = Some(d.id.clone());
        }
        if created || extended {
            results.deployment = Some(d);
        }
    }
    results
}

/// Every allocation by group; the job's groups are listed even without any.
fn allocs_by_group(existing: &[Arc<Allocation>], job: Option<&Job>) -> BTreeMap<String, AllocSet> {
    let mut groups: BTreeMap<String, AllocSet> = BTreeMap::new();
    for alloc in existing {
        groups
            .entry(alloc.task_group.clone())
            .or_default()
            .insert(alloc.id.clone(), alloc.clone());
    }
    for group in job.map_or(&[][..], |j| &j.task_groups[..]) {
        groups.entry(group.name.clone()).or_default();
    }
    groups
}

/// The job is stopped or purged: stop everything still running.
fn stop_all(
    input: &ReconcileInput<'_>,
    groups: BTreeMap<String, AllocSet>,
    results: &mut ReconcileResults,
) {
    for (name, allocs) in groups {
        let live: Vec<_> = sets::name_order(&allocs)
            .into_iter()
            .filter(|a| !a.terminal())
            .collect();
        let desired = DesiredUpdates {
            stop: live.len() as u64,
            ..Default::default()
        };
        results.stop.extend(
            live.into_iter()
                .map(|alloc| stop_request(alloc, input.tainted_nodes, ALLOC_NOT_NEEDED)),
        );
        results.desired_tg_updates.insert(name, desired);
    }
}

/// Stops `alloc`, as lost when its node is down or gone.
fn stop_request(
    alloc: Arc<Allocation>,
    tainted: &BTreeMap<String, Option<Arc<Node>>>,
    description: &str,
) -> StopRequest {
    let lost = on_lost_node(&alloc, tainted);
    StopRequest {
        client_status: lost.then(|| ALLOC_CLIENT_LOST.to_string()),
        description: if lost { ALLOC_LOST } else { description }.to_string(),
        alloc,
        followup_eval_id: None,
    }
}
