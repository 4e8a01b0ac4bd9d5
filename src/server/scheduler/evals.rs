//! How a scheduler run ends: the evaluation's final status, the blocked and follow-up
//! evaluations it leaves behind, and the retry loop around plan submission.

use std::collections::{BTreeMap, HashSet};

use crate::server::plan::{FailedGroups, Plan, PlanAnnotations, PlanResult, Planner};
use crate::server::state::Snapshot;
use crate::structs::time::{now_ns, rfc3339};
use crate::structs::{Evaluation, EVAL_BLOCKED, TRIGGER_QUEUED_ALLOCS, TRIGGER_ROLLING_UPDATE};

/// Nomad's descriptions of blocked evaluations.
pub(crate) const DESC_BLOCKED_FAILED_PLACEMENTS: &str = "created to place remaining allocations";
pub(crate) const DESC_BLOCKED_MAX_PLAN: &str = "created due to placement conflicts";

/// What one evaluation has decided so far; survives re-planning against a newer state.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub failed: FailedGroups,
    pub queued: BTreeMap<String, u64>,
    /// The blocked evaluation created for failed placements, if any.
    pub blocked: Option<String>,
    pub next_eval: String,
    pub deployment_id: String,
    pub annotations: Option<PlanAnnotations>,
}

/// The evaluation as it ends.
pub(crate) fn finished(eval: &Evaluation, out: &Outcome, status: &str, desc: &str) -> Evaluation {
    let mut e = eval.clone();
    e.status = status.to_string();
    e.status_description = desc.to_string();
    e.failed_tg_allocs = out.failed.clone();
    e.queued_allocations = out.queued.clone();
    e.deployment_id = out.deployment_id.clone();
    if let Some(b) = &out.blocked {
        e.blocked_eval = b.clone();
    }
    if !out.next_eval.is_empty() {
        e.next_eval = out.next_eval.clone();
    }
    e
}

/// An evaluation that waits for capacity to place what this one could not.
pub(crate) fn blocked_eval(eval: &Evaluation, failed: &FailedGroups, trigger: &str) -> Evaluation {
    let now = now_ns();
    Evaluation {
        id: uuid::Uuid::new_v4().to_string(),
        namespace: eval.namespace.clone(),
        priority: eval.priority,
        eval_type: eval.eval_type.clone(),
        triggered_by: trigger.to_string(),
        job_id: eval.job_id.clone(),
        job_modify_index: eval.job_modify_index,
        status: EVAL_BLOCKED.into(),
        status_description: if trigger == TRIGGER_QUEUED_ALLOCS {
            DESC_BLOCKED_FAILED_PLACEMENTS.into()
        } else {
            DESC_BLOCKED_MAX_PLAN.into()
        },
        previous_eval: eval.id.clone(),
        failed_tg_allocs: failed.clone(),
        // Feasibility is not tracked by node class: any node change may unblock it.
        escaped_computed_class: true,
        create_time: now,
        modify_time: now,
        ..Default::default()
    }
}

/// The next step of a rolling update after `wait` (system jobs).
pub(crate) fn rolling_eval(eval: &Evaluation, wait: i64) -> Evaluation {
    let now = now_ns();
    Evaluation {
        id: uuid::Uuid::new_v4().to_string(),
        namespace: eval.namespace.clone(),
        priority: eval.priority,
        eval_type: eval.eval_type.clone(),
        triggered_by: TRIGGER_ROLLING_UPDATE.into(),
        job_id: eval.job_id.clone(),
        job_modify_index: eval.job_modify_index,
        status: crate::structs::EVAL_PENDING.into(),
        wait,
        wait_until: rfc3339(now + wait),
        previous_eval: eval.id.clone(),
        create_time: now,
        modify_time: now,
        ..Default::default()
    }
}

/// What an attempt at an evaluation came to.
pub(crate) enum Step {
    Done,
    /// Plan again, against `snapshot` when the applier gave a newer one.
    Retry {
        snapshot: Option<Snapshot>,
        progress: bool,
    },
}

/// Runs `attempt` until it is done or `limit` attempts in a row made no progress
/// (Nomad's `retryMax`): returns false when the attempts ran out.
pub(crate) fn retry(
    limit: usize,
    mut snapshot: Snapshot,
    mut attempt: impl FnMut(&Snapshot) -> anyhow::Result<Step>,
) -> anyhow::Result<bool> {
    let mut attempts = 0;
    while attempts < limit {
        match attempt(&snapshot)? {
            Step::Done => return Ok(true),
            Step::Retry {
                snapshot: newer,
                progress,
            } => {
                if let Some(s) = newer {
                    snapshot = s;
                }
                attempts = if progress { 0 } else { attempts + 1 };
            }
        }
    }
    Ok(false)
}

/// Submits a plan and reads what came of it: queued counts drop by the new allocations
/// committed; a cut-down plan asks for another attempt.
pub(crate) fn submit(
    planner: &dyn Planner,
    plan: Plan,
    new_ids: &HashSet<String>,
    out: &mut Outcome,
) -> anyhow::Result<Step> {
    let expected = plan_size(&plan.node_allocation) + plan_size(&plan.node_update);
    let (result, newer) = planner.submit_plan(plan)?;
    for alloc in result.node_allocation.values().flatten() {
        if new_ids.contains(&alloc.id) {
            if let Some(q) = out.queued.get_mut(&alloc.task_group) {
                *q = q.saturating_sub(1);
            }
        }
    }
    let progress = progress_made(&result);
    if newer.is_some() {
        return Ok(Step::Retry {
            snapshot: newer,
            progress,
        });
    }
    let actual = plan_size(&result.node_allocation) + plan_size(&result.node_update);
    if actual != expected {
        anyhow::bail!("plan committed {actual} of {expected} changes without a state refresh");
    }
    Ok(Step::Done)
}

fn plan_size<T>(m: &BTreeMap<String, Vec<T>>) -> usize {
    m.values().map(Vec::len).sum()
}

fn progress_made(r: &PlanResult) -> bool {
    !r.node_allocation.is_empty()
        || !r.node_update.is_empty()
        || r.deployment.is_some()
        || !r.deployment_updates.is_empty()
}
