//! The service and batch scheduler: reconcile the job's allocations with its spec, then
//! place what is missing (bin-packing over feasible nodes), submit the plan, and record
//! the outcome: failed groups, queued counts, a blocked evaluation for what did not fit.

use std::collections::HashSet;
use std::sync::Arc;

use super::context::EvalContext;
use super::evals::{self, blocked_eval, finished, Outcome, Step};
use super::feasible::{in_scope, GroupAsk};
use super::placement::{
    exhaust_resources, new_allocation, penalty_nodes, update_in_place, NewAlloc,
};
use super::rank::RankOptions;
use super::reconcile::{reconcile, ReconcileInput, ReconcileResults};
use super::stack::Stack;
use super::util::{next_reschedule_tracker, tainted_nodes};
use crate::server::plan::{PlanAnnotations, Planner};
use crate::server::state::{AllocStop, Snapshot};
use crate::structs::time::now_ns;
use crate::structs::{
    Allocation, Evaluation, Job, ALLOC_DESIRED_STOP, EVAL_BLOCKED, EVAL_COMPLETE, EVAL_FAILED,
    TRIGGER_MAX_PLANS, TRIGGER_QUEUED_ALLOCS,
};

/// Attempts at a plan before the evaluation fails (Nomad: services 5, batch 2).
const MAX_SERVICE_ATTEMPTS: usize = 5;
const MAX_BATCH_ATTEMPTS: usize = 2;

pub(super) fn process(
    eval: &Evaluation,
    snapshot: Snapshot,
    planner: &dyn Planner,
    batch: bool,
) -> anyhow::Result<()> {
    let mut out = Outcome::default();
    let limit = if batch {
        MAX_BATCH_ATTEMPTS
    } else {
        MAX_SERVICE_ATTEMPTS
    };
    let done = evals::retry(limit, snapshot, |snap| {
        attempt(eval, snap, planner, batch, &mut out)
    })?;
    if !done {
        let blocked = blocked_eval(eval, &out.failed, TRIGGER_MAX_PLANS);
        out.blocked = Some(blocked.id.clone());
        planner.create_eval(blocked)?;
        let desc = format!("maximum attempts reached ({limit})");
        return planner.update_eval(finished(eval, &out, EVAL_FAILED, &desc));
    }
    if eval.status == EVAL_BLOCKED && !out.failed.is_empty() {
        // Still cannot place: back to waiting, as the same evaluation.
        let mut again = eval.clone();
        again.failed_tg_allocs = out.failed.clone();
        again.queued_allocations = out.queued.clone();
        again.escaped_computed_class = true;
        return planner.reblock_eval(again);
    }
    planner.update_eval(finished(eval, &out, EVAL_COMPLETE, ""))
}

fn attempt(
    eval: &Evaluation,
    snap: &Snapshot,
    planner: &dyn Planner,
    batch: bool,
    out: &mut Outcome,
) -> anyhow::Result<Step> {
    let job = snap.job(&eval.namespace, &eval.job_id);
    let live_job = job.as_ref().filter(|j| !j.stop);
    let mut ctx = EvalContext::new(eval, snap.clone(), job.as_ref());
    let allocs = snap.job_allocs(&eval.namespace, &eval.job_id);
    let tainted = tainted_nodes(snap, &allocs);
    let latest = if batch {
        None
    } else {
        snap.latest_deployment(&eval.namespace, &eval.job_id)
    };
    let now = now_ns();
    let results = {
        let ctx = &ctx;
        let update_fn = |alloc: &Allocation, job: &Arc<Job>, group: &crate::structs::TaskGroup| {
            update_in_place(ctx, eval, alloc, job, group)
        };
        reconcile(ReconcileInput {
            namespace: &eval.namespace,
            job_id: &eval.job_id,
            job: job.as_ref(),
            batch,
            existing: allocs,
            tainted_nodes: &tainted,
            deployment: latest.clone(),
            eval_id: &eval.id,
            eval_priority: eval.priority,
            now,
            update_fn: &update_fn,
        })
    };

    out.queued.clear();
    out.failed.clear();
    out.annotations = Some(PlanAnnotations {
        desired_tg_updates: results.desired_tg_updates.clone(),
        ..Default::default()
    });
    out.deployment_id = results
        .deployment
        .as_ref()
        .map(|d| d.id.clone())
        .or_else(|| results.deployment_id.clone())
        .or_else(|| latest.as_ref().map(|d| d.id.clone()))
        .unwrap_or_default();
    let followups = results.followup_evals.clone();
    let new_ids = match live_job {
        Some(job) => {
            let job = job.clone();
            apply_results(&mut ctx, eval, &job, results, out, now, batch)
        }
        None => {
            apply_changes(&mut ctx, &results);
            HashSet::new()
        }
    };

    if eval.status != EVAL_BLOCKED
        && !out.failed.is_empty()
        && out.blocked.is_none()
        && (followups.is_empty() || now_ns() > eval.wait_until_ns())
    {
        let blocked = blocked_eval(eval, &out.failed, TRIGGER_QUEUED_ALLOCS);
        out.blocked = Some(blocked.id.clone());
        planner.create_eval(blocked)?;
    }
    if ctx.plan.is_no_op() && !eval.annotate_plan {
        return Ok(Step::Done);
    }
    // A follow-up of a delayed evaluation makes none of its own (Nomad).
    if eval.wait_until_ns() == 0 {
        for mut followup in followups {
            followup.previous_eval = eval.id.clone();
            out.next_eval = followup.id.clone();
            planner.create_eval(followup)?;
        }
    }
    if eval.annotate_plan {
        ctx.plan.annotations = out.annotations.clone();
    }
    let plan = std::mem::take(&mut ctx.plan);
    evals::submit(planner, plan, &new_ids, out)
}

/// The reconciler's stops, in-place and attribute updates, deployment changes.
fn apply_changes(ctx: &mut EvalContext, results: &ReconcileResults) {
    ctx.plan.deployment = results.deployment.clone();
    ctx.plan.deployment_updates = results.deployment_updates.clone();
    for stop in &results.stop {
        let s = AllocStop {
            alloc_id: stop.alloc.id.clone(),
            desired_status: ALLOC_DESIRED_STOP.into(),
            desired_description: stop.description.clone(),
            client_status: stop.client_status.clone(),
            next_allocation: None,
            followup_eval_id: stop.followup_eval_id.clone(),
        };
        ctx.push_stop(&stop.alloc, s);
    }
    for alloc in &results.inplace {
        if alloc.terminal() {
            continue;
        }
        let mut alloc = alloc.clone();
        if let Some(d) = &results.deployment_id {
            if alloc.deployment_id != *d {
                alloc.deployment_id = d.clone();
                alloc.deployment_status = None;
            }
        }
        ctx.push_alloc(alloc);
    }
    for alloc in &results.attribute_updates {
        ctx.push_alloc(alloc.clone());
    }
}

/// One placement to make: a new allocation, or the replacement of a destructive update.
struct Wanted {
    name: String,
    group: String,
    canary: bool,
    previous: Option<Arc<Allocation>>,
    reschedule: bool,
    /// The allocation a destructive update stops, and why.
    replaces: Option<(Arc<Allocation>, String)>,
}

/// Applies the reconciler's results and makes every placement; returns the IDs of the
/// new allocations.
fn apply_results(
    ctx: &mut EvalContext,
    eval: &Evaluation,
    job: &Arc<Job>,
    results: ReconcileResults,
    out: &mut Outcome,
    now: i64,
    batch: bool,
) -> HashSet<String> {
    apply_changes(ctx, &results);
    for group in &job.task_groups {
        out.queued.insert(group.name.clone(), 0);
    }
    let wanted = results
        .destructive
        .into_iter()
        .map(|d| Wanted {
            name: d.name,
            group: d.task_group,
            canary: false,
            previous: Some(d.stop_alloc.clone()),
            reschedule: false,
            replaces: Some((d.stop_alloc, d.description)),
        })
        .chain(results.place.into_iter().map(|p| Wanted {
            name: p.name,
            group: p.task_group,
            canary: p.canary,
            previous: p.previous_alloc,
            reschedule: p.reschedule,
            replaces: None,
        }))
        .collect::<Vec<_>>();
    let mut new_ids = HashSet::new();
    if wanted.is_empty() {
        return new_ids;
    }
    for w in &wanted {
        *out.queued.entry(w.group.clone()).or_default() += 1;
    }
    let asks: Vec<GroupAsk<'_>> = (0..job.task_groups.len())
        .map(|i| GroupAsk::new(job, i))
        .collect();
    let mut stack = Stack::new(ctx, job, batch);
    let deployment_id = results.deployment_id.unwrap_or_default();
    for w in wanted {
        let Some(ask) = asks.iter().find(|a| a.group.name == w.group) else {
            continue;
        };
        if let Some(metric) = out.failed.get_mut(&w.group) {
            metric.coalesced_failures += 1;
            exhaust_resources(metric, ask);
            continue;
        }
        if let Some((old, desc)) = &w.replaces {
            let stop = AllocStop {
                alloc_id: old.id.clone(),
                desired_status: ALLOC_DESIRED_STOP.into(),
                desired_description: desc.clone(),
                ..Default::default()
            };
            ctx.push_stop(old, stop);
        }
        let previous = w.previous.as_deref();
        let opts = RankOptions {
            penalty_nodes: penalty_nodes(previous),
            system: false,
        };
        // A sticky disk pulls the replacement to the node that has the data.
        let sticky = ask.group.ephemeral_disk.as_ref().is_some_and(|d| d.sticky);
        let preferred = previous
            .filter(|_| sticky)
            .and_then(|p| ctx.snapshot.node(&p.node_id))
            .filter(|n| n.schedulable() && in_scope(n, job));
        let (choice, mut metric) = stack.select(ctx, ask, &opts, preferred.as_ref());
        match choice {
            Some(ranked) => {
                let spec = NewAlloc {
                    name: w.name,
                    deployment_id: &deployment_id,
                    canary: w.canary,
                    previous,
                };
                let mut alloc = new_allocation(eval, job, ask, &ranked, metric, spec);
                if let (true, Some(prev)) = (w.reschedule, previous) {
                    alloc.reschedule_tracker = Some(next_reschedule_tracker(prev, now));
                }
                if let Some(prev) = previous {
                    if let Some(stop) = ctx.stop_mut(prev) {
                        stop.next_allocation = Some(alloc.id.clone());
                    }
                }
                new_ids.insert(alloc.id.clone());
                ctx.push_alloc(alloc);
            }
            None => {
                if let Some((old, _)) = &w.replaces {
                    ctx.pop_stop(old);
                }
                // A failed allocation that could not move stays as it is, to be
                // rescheduled when capacity returns.
                if let (true, Some(prev)) = (w.reschedule, previous) {
                    ctx.pop_stop(prev);
                }
                exhaust_resources(&mut metric, ask);
                out.failed.insert(w.group, metric);
            }
        }
    }
    new_ids
}
