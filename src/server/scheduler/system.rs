//! The system and sysbatch scheduler: one allocation of each group on every ready,
//! eligible node in the job's datacenters and pool that can run it. Allocations on nodes
//! that no longer qualify are stopped; a new job version is rolled out in place where it
//! fits, else destructively, `max_parallel` at a time with a follow-up evaluation for the
//! rest. Nodes the group does not fit are reported and wait in a blocked evaluation;
//! nodes that cannot run it at all are not waited for.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::context::EvalContext;
use super::evals::{self, blocked_eval, finished, rolling_eval, Outcome, Step};
use super::feasible::{in_scope, node_feasible, GroupAsk};
use super::placement::{exhaust_resources, new_allocation, update_in_place, NewAlloc};
use super::rank::{rank_node, RankOptions};
use super::reconcile::AllocUpdate;
use super::util::tainted_nodes;
use crate::server::plan::{PlanAnnotations, Planner};
use crate::server::state::{AllocStop, Snapshot};
use crate::structs::diff::DesiredUpdates;
use crate::structs::{
    alloc_name, AllocMetric, Allocation, Evaluation, Job, Node, ALLOC_CLIENT_COMPLETE,
    ALLOC_CLIENT_LOST, ALLOC_DESIRED_STOP, ALLOC_LOST, ALLOC_NODE_TAINTED, ALLOC_NOT_NEEDED,
    ALLOC_UPDATING, EVAL_COMPLETE, EVAL_FAILED, NODE_STATUS_DISCONNECTED, NODE_STATUS_DOWN,
    TRIGGER_QUEUED_ALLOCS,
};

const MAX_SYSTEM_ATTEMPTS: usize = 5;

pub(super) fn process(
    eval: &Evaluation,
    snapshot: Snapshot,
    planner: &dyn Planner,
    sysbatch: bool,
) -> anyhow::Result<()> {
    let mut out = Outcome::default();
    let mut rolling_created = false;
    let done = evals::retry(MAX_SYSTEM_ATTEMPTS, snapshot, |snap| {
        attempt(
            eval,
            snap,
            planner,
            sysbatch,
            &mut out,
            &mut rolling_created,
        )
    })?;
    if !done {
        let desc = format!("maximum attempts reached ({MAX_SYSTEM_ATTEMPTS})");
        return planner.update_eval(finished(eval, &out, EVAL_FAILED, &desc));
    }
    planner.update_eval(finished(eval, &out, EVAL_COMPLETE, ""))
}

/// One placement on one node.
struct Wanted {
    node: Arc<Node>,
    group: usize,
    previous: Option<Arc<Allocation>>,
    /// Set for the replacement of a destructive update (its stop is in the plan).
    replaces: bool,
}

fn attempt(
    eval: &Evaluation,
    snap: &Snapshot,
    planner: &dyn Planner,
    sysbatch: bool,
    out: &mut Outcome,
    rolling_created: &mut bool,
) -> anyhow::Result<Step> {
    let job = snap.job(&eval.namespace, &eval.job_id);
    let live_job = job.clone().filter(|j| !j.stop);
    let mut ctx = EvalContext::new(eval, snap.clone(), job.as_ref());
    let allocs = snap.job_allocs(&eval.namespace, &eval.job_id);
    let tainted = tainted_nodes(snap, &allocs);
    out.queued.clear();
    out.failed.clear();
    out.deployment_id.clear();
    let mut desired: BTreeMap<String, DesiredUpdates> = BTreeMap::new();
    let groups: Vec<String> = live_job
        .as_ref()
        .map(|j| j.task_groups.iter().map(|g| g.name.clone()).collect())
        .unwrap_or_default();
    for g in &groups {
        desired.entry(g.clone()).or_default();
        out.queued.insert(g.clone(), 0);
    }
    let asks: Vec<GroupAsk<'_>> = match &live_job {
        Some(job) => (0..job.task_groups.len())
            .map(|i| GroupAsk::new(job, i))
            .collect(),
        None => Vec::new(),
    };
    let eligible: Vec<Arc<Node>> = match &live_job {
        Some(job) => snap
            .nodes
            .values()
            .filter(|n| n.schedulable() && in_scope(n, job))
            .cloned()
            .collect(),
        None => Vec::new(),
    };

    // Existing allocations: keep, stop or update.
    let mut covered: HashSet<(String, usize)> = HashSet::new();
    let mut last_terminal: HashMap<(String, usize), Arc<Allocation>> = HashMap::new();
    let mut updates: Vec<(Arc<Allocation>, usize)> = Vec::new();
    for alloc in &allocs {
        let group = asks.iter().position(|a| a.group.name == alloc.task_group);
        if alloc.terminal() {
            if let Some(g) = group {
                let key = (alloc.node_id.clone(), g);
                let newer = last_terminal
                    .get(&key)
                    .is_none_or(|t| t.create_index < alloc.create_index);
                if newer {
                    last_terminal.insert(key, alloc.clone());
                }
            }
            continue;
        }
        let (Some(g), Some(job)) = (group, live_job.as_ref()) else {
            stop_alloc(&mut ctx, &mut desired, alloc, ALLOC_NOT_NEEDED, false).stop += 1;
            continue;
        };
        if let Some(node) = tainted.get(&alloc.node_id) {
            match node.as_deref() {
                None => stop_alloc(&mut ctx, &mut desired, alloc, ALLOC_LOST, true).stop += 1,
                Some(n) if n.status == NODE_STATUS_DOWN => {
                    stop_alloc(&mut ctx, &mut desired, alloc, ALLOC_LOST, true).stop += 1
                }
                Some(n) if n.status == NODE_STATUS_DISCONNECTED => {
                    desired.entry(alloc.task_group.clone()).or_default().ignore += 1;
                    covered.insert((alloc.node_id.clone(), g));
                }
                // Draining.
                Some(_) => {
                    stop_alloc(&mut ctx, &mut desired, alloc, ALLOC_NODE_TAINTED, false).migrate +=
                        1
                }
            }
            continue;
        }
        if alloc.desired_transition.migrate == Some(true) {
            stop_alloc(&mut ctx, &mut desired, alloc, ALLOC_NODE_TAINTED, false).migrate += 1;
            continue;
        }
        let node = snap.node(&alloc.node_id);
        // A node that is only not ready yet (initializing) keeps what it runs.
        if node.as_ref().is_some_and(|n| !n.ready()) {
            desired.entry(alloc.task_group.clone()).or_default().ignore += 1;
            covered.insert((alloc.node_id.clone(), g));
            continue;
        }
        let qualifies = node.as_ref().is_some_and(|n| {
            let mut scratch = AllocMetric::default();
            n.schedulable() && in_scope(n, job) && node_feasible(&ctx, &asks[g], n, &mut scratch)
        });
        if !qualifies {
            stop_alloc(&mut ctx, &mut desired, alloc, ALLOC_NOT_NEEDED, false).stop += 1;
            continue;
        }
        covered.insert((alloc.node_id.clone(), g));
        let current = alloc
            .job
            .as_ref()
            .is_some_and(|j| j.job_modify_index == job.job_modify_index);
        if current {
            desired.entry(alloc.task_group.clone()).or_default().ignore += 1;
        } else {
            updates.push((alloc.clone(), g));
        }
    }

    let Some(job) = live_job.as_ref() else {
        out.annotations = Some(PlanAnnotations {
            desired_tg_updates: desired,
            ..Default::default()
        });
        return finish_attempt(eval, ctx, planner, out, &HashSet::new());
    };

    // New job versions: in place where possible, else replaced up to max_parallel.
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut budget: Vec<Option<i64>> = job
        .task_groups
        .iter()
        .map(|g| {
            let p = g.update.as_ref().and_then(|u| u.max_parallel).unwrap_or(0);
            (p > 0).then_some(p)
        })
        .collect();
    let mut limited = false;
    for (alloc, g) in updates {
        let name = job.task_groups[g].name.clone();
        match update_in_place(&ctx, eval, &alloc, job, &job.task_groups[g]) {
            AllocUpdate::InPlace(updated) => {
                desired.entry(name).or_default().in_place_update += 1;
                ctx.push_alloc(updated);
            }
            AllocUpdate::Ignore => desired.entry(name).or_default().ignore += 1,
            AllocUpdate::Destructive => {
                if budget[g] == Some(0) {
                    limited = true;
                    desired.entry(name).or_default().ignore += 1;
                    continue;
                }
                if let Some(b) = budget[g].as_mut() {
                    *b -= 1;
                }
                desired.entry(name).or_default().destructive_update += 1;
                let stop = AllocStop {
                    alloc_id: alloc.id.clone(),
                    desired_status: ALLOC_DESIRED_STOP.into(),
                    desired_description: ALLOC_UPDATING.into(),
                    ..Default::default()
                };
                ctx.push_stop(&alloc, stop);
                if let Some(node) = snap.node(&alloc.node_id) {
                    wanted.push(Wanted {
                        node,
                        group: g,
                        previous: Some(alloc),
                        replaces: true,
                    });
                }
            }
        }
    }

    // Nodes without the group: place (sysbatch runs once per node and job version).
    for node in &eligible {
        for (g, ask) in asks.iter().enumerate() {
            if covered.contains(&(node.id.clone(), g)) {
                continue;
            }
            let previous = last_terminal.get(&(node.id.clone(), g)).cloned();
            if sysbatch {
                let ran = previous.as_ref().is_some_and(|p| {
                    p.client_status == ALLOC_CLIENT_COMPLETE
                        && p.job
                            .as_ref()
                            .is_some_and(|j| j.job_modify_index == job.job_modify_index)
                });
                if ran {
                    desired.entry(ask.group.name.clone()).or_default().ignore += 1;
                    continue;
                }
            }
            desired.entry(ask.group.name.clone()).or_default().place += 1;
            wanted.push(Wanted {
                node: node.clone(),
                group: g,
                previous,
                replaces: false,
            });
        }
    }

    if limited && !*rolling_created {
        let wait = job
            .update
            .as_ref()
            .and_then(|u| u.min_healthy_time.or(u.stagger))
            .unwrap_or(0);
        let next = rolling_eval(eval, wait);
        out.next_eval = next.id.clone();
        planner.create_eval(next)?;
        *rolling_created = true;
    }

    let new_ids = place(&mut ctx, eval, job, &asks, &eligible, wanted, out, planner)?;
    out.annotations = Some(PlanAnnotations {
        desired_tg_updates: desired,
        ..Default::default()
    });
    finish_attempt(eval, ctx, planner, out, &new_ids)
}

#[allow(clippy::too_many_arguments)]
fn place(
    ctx: &mut EvalContext,
    eval: &Evaluation,
    job: &Arc<Job>,
    asks: &[GroupAsk<'_>],
    eligible: &[Arc<Node>],
    wanted: Vec<Wanted>,
    out: &mut Outcome,
    planner: &dyn Planner,
) -> anyhow::Result<HashSet<String>> {
    let mut nodes_available: BTreeMap<String, u64> = BTreeMap::new();
    for n in eligible {
        *nodes_available.entry(n.datacenter.clone()).or_default() += 1;
    }
    let opts = RankOptions {
        system: true,
        ..Default::default()
    };
    let mut new_ids = HashSet::new();
    let mut filtered: BTreeMap<usize, AllocMetric> = BTreeMap::new();
    let mut placed_any: HashSet<usize> = HashSet::new();
    for w in &wanted {
        *out.queued
            .entry(asks[w.group].group.name.clone())
            .or_default() += 1;
    }
    for w in wanted {
        let ask = &asks[w.group];
        let name = ask.group.name.clone();
        let started = std::time::Instant::now();
        let mut metric = AllocMetric {
            nodes_evaluated: 1,
            ..Default::default()
        };
        let ranked = rank_node(ctx, ask, &w.node, None, &opts, &mut metric);
        metric.nodes_available = nodes_available.clone();
        metric.nodes_in_pool = eligible.len() as u64;
        metric.allocation_time = started.elapsed().as_nanos() as i64;
        let Some(ranked) = ranked else {
            if w.replaces {
                if let Some(prev) = &w.previous {
                    ctx.pop_stop(prev);
                }
            }
            if metric.nodes_filtered > 0 {
                // The node cannot run the group at all: nothing to wait for.
                if let Some(q) = out.queued.get_mut(&name) {
                    *q = q.saturating_sub(1);
                }
                merge_filtered(filtered.entry(w.group).or_default(), &metric);
                continue;
            }
            if let Some(m) = out.failed.get_mut(&name) {
                m.coalesced_failures += 1;
                exhaust_resources(m, ask);
                continue;
            }
            exhaust_resources(&mut metric, ask);
            out.failed.insert(name, metric);
            if out.blocked.is_none() {
                let mut blocked = blocked_eval(eval, &out.failed, TRIGGER_QUEUED_ALLOCS);
                blocked.node_id = w.node.id.clone();
                out.blocked = Some(blocked.id.clone());
                planner.create_eval(blocked)?;
            }
            continue;
        };
        placed_any.insert(w.group);
        let spec = NewAlloc {
            name: alloc_name(&job.name, &name, 0),
            deployment_id: "",
            canary: false,
            previous: w.previous.as_deref(),
        };
        let alloc = new_allocation(eval, job, ask, &ranked, metric, spec);
        if let Some(prev) = &w.previous {
            if let Some(stop) = ctx.stop_mut(prev) {
                stop.next_allocation = Some(alloc.id.clone());
            }
        }
        new_ids.insert(alloc.id.clone());
        ctx.push_alloc(alloc);
    }
    // A group no node could run is reported (Nomad: only when nothing runs it anywhere).
    for (g, metric) in filtered {
        let name = &asks[g].group.name;
        let queued = out.queued.get(name).copied().unwrap_or(0);
        let runs_somewhere = placed_any.contains(&g) || group_has_allocs(ctx, name);
        if queued == 0 && !runs_somewhere && !out.failed.contains_key(name) {
            out.failed.insert(name.clone(), metric);
        }
    }
    Ok(new_ids)
}

/// Stops an allocation (`lost` when its node is gone or down) and returns its group's
/// counts to bump.
fn stop_alloc<'d>(
    ctx: &mut EvalContext,
    desired: &'d mut BTreeMap<String, DesiredUpdates>,
    alloc: &Allocation,
    desc: &str,
    lost: bool,
) -> &'d mut DesiredUpdates {
    let s = AllocStop {
        alloc_id: alloc.id.clone(),
        desired_status: ALLOC_DESIRED_STOP.into(),
        desired_description: desc.into(),
        client_status: lost.then(|| ALLOC_CLIENT_LOST.to_string()),
        ..Default::default()
    };
    ctx.push_stop(alloc, s);
    desired.entry(alloc.task_group.clone()).or_default()
}

fn group_has_allocs(ctx: &EvalContext, group: &str) -> bool {
    ctx.snapshot
        .job_allocs(&ctx.job.namespace, &ctx.job.job_id)
        .iter()
        .any(|a| a.task_group == group && !a.terminal() && !ctx.is_removed(&a.id))
}

fn merge_filtered(into: &mut AllocMetric, m: &AllocMetric) {
    into.nodes_evaluated += m.nodes_evaluated;
    into.nodes_filtered += m.nodes_filtered;
    into.nodes_in_pool = m.nodes_in_pool;
    into.nodes_available.clone_from(&m.nodes_available);
    for (k, v) in &m.constraint_filtered {
        *into.constraint_filtered.entry(k.clone()).or_default() += v;
    }
    for (k, v) in &m.class_filtered {
        *into.class_filtered.entry(k.clone()).or_default() += v;
    }
}

fn finish_attempt(
    eval: &Evaluation,
    mut ctx: EvalContext,
    planner: &dyn Planner,
    out: &mut Outcome,
    new_ids: &HashSet<String>,
) -> anyhow::Result<Step> {
    if ctx.plan.is_no_op() && !eval.annotate_plan {
        return Ok(Step::Done);
    }
    if eval.annotate_plan {
        ctx.plan.annotations = out.annotations.clone();
    }
    let plan = std::mem::take(&mut ctx.plan);
    evals::submit(planner, plan, new_ids, out)
}
