//! Turning a decision into allocations: a new allocation on the chosen node, an existing
//! one updated in place when the new job version still fits where it runs, and the
//! bookkeeping of placements that failed.

use std::collections::HashSet;
use std::sync::Arc;

use super::context::EvalContext;
use super::feasible::{in_scope, node_feasible, GroupAsk};
use super::rank::Ranked;
use super::reconcile::AllocUpdate;
use super::util::tasks_updated;
use crate::structs::{
    AllocDeploymentStatus, AllocMetric, AllocatedResources, AllocatedSharedResources,
    AllocatedTaskResources, Allocation, Evaluation, Job, TaskGroup, ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_PENDING, ALLOC_DESIRED_RUN,
};

/// What a new allocation is, apart from where it goes.
pub(crate) struct NewAlloc<'a> {
    pub name: String,
    pub deployment_id: &'a str,
    pub canary: bool,
    pub previous: Option<&'a Allocation>,
}

/// A new allocation of `ask`'s group on the ranked node. Its `Job` is left to the plan.
pub(crate) fn new_allocation(
    eval: &Evaluation,
    job: &Job,
    ask: &GroupAsk<'_>,
    ranked: &Ranked,
    metric: AllocMetric,
    spec: NewAlloc<'_>,
) -> Allocation {
    Allocation {
        id: uuid::Uuid::new_v4().to_string(),
        namespace: job.namespace.clone(),
        eval_id: eval.id.clone(),
        name: spec.name,
        node_id: ranked.node.id.clone(),
        node_name: ranked.node.name.clone(),
        job_id: job.id.clone(),
        job: None,
        task_group: ask.group.name.clone(),
        allocated_resources: Some(ranked.resources(ask)),
        metrics: Some(metric),
        desired_status: ALLOC_DESIRED_RUN.into(),
        client_status: ALLOC_CLIENT_PENDING.into(),
        deployment_id: spec.deployment_id.to_string(),
        deployment_status: (spec.canary && !spec.deployment_id.is_empty()).then(|| {
            AllocDeploymentStatus {
                canary: true,
                ..Default::default()
            }
        }),
        previous_allocation: spec.previous.map(|p| p.id.clone()).unwrap_or_default(),
        ..Default::default()
    }
}

/// Nomad's in-place rule (§3.2): a task change forces a replacement; otherwise the
/// allocation stays if its node still qualifies and still fits the new resources with
/// its own discounted. Ports and networks are kept (a change to them is a task change).
pub(crate) fn update_in_place(
    ctx: &EvalContext,
    eval: &Evaluation,
    alloc: &Allocation,
    job: &Arc<Job>,
    group: &TaskGroup,
) -> AllocUpdate {
    let Some(old_job) = alloc.job.as_deref() else {
        return AllocUpdate::Destructive;
    };
    if tasks_updated(old_job, job, &group.name) {
        return AllocUpdate::Destructive;
    }
    let Some(index) = job.task_groups.iter().position(|g| g.name == group.name) else {
        return AllocUpdate::Destructive;
    };
    let mut updated = alloc.clone();
    updated.eval_id = eval.id.clone();
    updated.job = Some(job.clone());
    if alloc.terminal() {
        // Nothing runs: only its record follows the job (and it is not sent to nodes).
        return AllocUpdate::InPlace(updated);
    }
    let Some(node) = ctx.snapshot.node(&alloc.node_id) else {
        return AllocUpdate::Destructive;
    };
    if !in_scope(&node, job) {
        return AllocUpdate::Destructive;
    }
    let ask = GroupAsk::new(job, index);
    let mut metric = AllocMetric {
        nodes_evaluated: 1,
        ..Default::default()
    };
    if !node_feasible(ctx, &ask, &node, &mut metric) {
        return AllocUpdate::Destructive;
    }
    let old = alloc.allocated_resources.clone().unwrap_or_default();
    let fits = {
        let usage = ctx.usage(&node);
        let counted = !ctx.is_removed(&alloc.id);
        let (own_cpu, own_mem, own_disk) = if counted {
            (old.cpu(), old.memory_mb(), old.shared.disk_mb)
        } else {
            (0, 0, 0)
        };
        let (avail_cpu, avail_mem) = node.allocatable();
        let disk = node.node_resources.disk.disk_mb;
        usage.cpu - own_cpu + ask.cpu_on(&node) <= avail_cpu
            && usage.memory_mb - own_mem + ask.memory_mb() <= avail_mem
            && (disk <= 0
                || usage.disk_mb - own_disk + ask.disk_mb
                    <= disk - node.reserved_resources.disk.disk_mb)
    };
    if !fits {
        return AllocUpdate::Destructive;
    }
    let mut tasks = std::collections::BTreeMap::new();
    for task in &ask.tasks {
        let networks = old
            .tasks
            .get(task.name)
            .map(|t| t.networks.clone())
            .unwrap_or_default();
        tasks.insert(
            task.name.to_string(),
            AllocatedTaskResources {
                cpu: crate::structs::AllocatedCpuResources {
                    cpu_shares: super::feasible::task_cpu_on(task, &node),
                    reserved_cores: Vec::new(),
                },
                memory: crate::structs::AllocatedMemoryResources {
                    memory_mb: task.memory_mb,
                    memory_max_mb: task.memory_max_mb,
                },
                networks,
            },
        );
    }
    updated.allocated_resources = Some(AllocatedResources {
        tasks,
        shared: AllocatedSharedResources {
            disk_mb: ask.disk_mb,
            networks: old.shared.networks,
            ports: old.shared.ports,
        },
    });
    updated.metrics = Some(metric);
    AllocUpdate::InPlace(updated)
}

/// Nodes a replacement should avoid: where the replaced allocation failed, and where its
/// predecessors were rescheduled from.
pub(crate) fn penalty_nodes(previous: Option<&Allocation>) -> HashSet<String> {
    let mut out = HashSet::new();
    if let Some(prev) = previous {
        if prev.client_status == ALLOC_CLIENT_FAILED {
            out.insert(prev.node_id.clone());
        }
        if let Some(tracker) = &prev.reschedule_tracker {
            out.extend(tracker.events.iter().map(|e| e.prev_node_id.clone()));
        }
    }
    out
}

/// Adds the group's asks to `ResourcesExhausted` for a failed placement (per task, in
/// the dimensions that ran out), as Nomad does for each failure of a group.
pub(crate) fn exhaust_resources(metric: &mut AllocMetric, ask: &GroupAsk<'_>) {
    if metric.dimension_exhausted.is_empty() {
        return;
    }
    let cpu = metric
        .dimension_exhausted
        .get("cpu")
        .is_some_and(|n| *n > 0);
    let mem = metric
        .dimension_exhausted
        .get("memory")
        .is_some_and(|n| *n > 0);
    for task in &ask.tasks {
        let entry = metric
            .resources_exhausted
            .entry(task.name.to_string())
            .or_insert_with(|| serde_json::json!({"CPU": 0, "MemoryMB": 0}));
        let get = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_i64()).unwrap_or(0);
        let (c, m) = (get(entry, "CPU"), get(entry, "MemoryMB"));
        *entry = serde_json::json!({
            "CPU": c + if cpu { task.cpu } else { 0 },
            "MemoryMB": m + if mem { task.memory_mb } else { 0 },
        });
    }
}
