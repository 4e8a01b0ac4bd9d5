//! Failed allocations: which are replaced now, which later (a follow-up evaluation
//! waits for their delay), and which are left alone because the policy is used up.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::sets::AllocSet;
use crate::server::scheduler::util::next_reschedule_time;
use crate::structs::time::rfc3339;
use crate::structs::{
    Allocation, Deployment, Evaluation, Job, ALLOC_CLIENT_COMPLETE, ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_LOST, ALLOC_DESIRED_EVICT, ALLOC_DESIRED_STOP, EVAL_PENDING,
    TRIGGER_RETRY_FAILED_ALLOC,
};

/// An allocation due this close to now is replaced now (clock drift between servers).
const RESCHEDULE_WINDOW: i64 = 1_000_000_000;
/// Delayed reschedules due within this window of the first share one evaluation.
const BATCH_WINDOW: i64 = 5_000_000_000;

pub(super) const DESC_RESCHEDULE_FOLLOWUP: &str = "created for delayed rescheduling";

#[derive(Debug, Clone)]
pub(super) struct Delayed {
    pub alloc: Arc<Allocation>,
    /// Unix nanoseconds.
    pub time: i64,
}

#[derive(Debug, Default)]
pub(super) struct Rescheduleable {
    /// Kept as they are (failed ones that cannot or may not be replaced yet included).
    pub untainted: AllocSet,
    pub now: AllocSet,
    pub later: Vec<Delayed>,
}

pub(super) struct RescheduleContext<'a> {
    pub batch: bool,
    pub now: i64,
    pub eval_id: &'a str,
    /// The deployment of the job's current version, if any.
    pub deployment: Option<&'a Deployment>,
}

pub(super) fn filter_by_rescheduleable(
    set: &AllocSet,
    cx: &RescheduleContext<'_>,
) -> Rescheduleable {
    let mut out = Rescheduleable::default();
    for (id, alloc) in set {
        // Already replaced.
        if !alloc.next_allocation.is_empty() && alloc.terminal() {
            continue;
        }
        match should_filter(alloc, cx.batch) {
            Filter::Untainted => {
                out.untainted.insert(id.clone(), alloc.clone());
                continue;
            }
            Filter::Ignore => continue,
            Filter::Check => {}
        }
        match when(alloc, cx) {
            When::Now => {
                out.now.insert(id.clone(), alloc.clone());
            }
            When::Later(time) => {
                out.untainted.insert(id.clone(), alloc.clone());
                out.later.push(Delayed {
                    alloc: alloc.clone(),
                    time,
                });
            }
            When::Never => {
                out.untainted.insert(id.clone(), alloc.clone());
            }
        }
    }
    out
}

enum Filter {
    /// Counts as a live allocation; never rescheduled.
    Untainted,
    /// Not counted at all.
    Ignore,
    /// May need rescheduling.
    Check,
}

fn should_filter(alloc: &Allocation, batch: bool) -> Filter {
    if batch {
        // Stopped with `alloc stop` so that it is rescheduled.
        if alloc.desired_transition.reschedule == Some(true) {
            return Filter::Check;
        }
        return match alloc.desired_status.as_str() {
            ALLOC_DESIRED_STOP if ran_successfully(alloc) => Filter::Untainted,
            ALLOC_DESIRED_STOP | ALLOC_DESIRED_EVICT => Filter::Ignore,
            _ if alloc.client_status == ALLOC_CLIENT_FAILED => Filter::Check,
            // Running, pending or complete: a finished batch allocation is done.
            _ => Filter::Untainted,
        };
    }
    match (alloc.desired_status.as_str(), alloc.client_status.as_str()) {
        (ALLOC_DESIRED_STOP | ALLOC_DESIRED_EVICT, _) => Filter::Ignore,
        (_, ALLOC_CLIENT_COMPLETE | ALLOC_CLIENT_LOST) => Filter::Ignore,
        _ => Filter::Check,
    }
}

/// Every task finished without failing.
fn ran_successfully(alloc: &Allocation) -> bool {
    !alloc.task_states.is_empty()
        && alloc
            .task_states
            .values()
            .all(|s| s.state == crate::structs::TASK_STATE_DEAD && !s.failed)
}

enum When {
    Now,
    Later(i64),
    Never,
}

fn when(alloc: &Allocation, cx: &RescheduleContext<'_>) -> When {
    // A failed allocation of the running deployment fails the deployment instead, unless
    // it was explicitly marked for rescheduling.
    if let Some(d) = cx.deployment {
        if alloc.deployment_id == d.id
            && d.active()
            && alloc.desired_transition.reschedule != Some(true)
        {
            return When::Never;
        }
    }
    let forced = alloc.desired_transition.force_reschedule == Some(true) && alloc.client_terminal();
    let next = next_reschedule_time(alloc);
    match next {
        _ if forced => When::Now,
        Some(t) if alloc.followup_eval_id == cx.eval_id || t - cx.now <= RESCHEDULE_WINDOW => {
            When::Now
        }
        // An allocation with a follow-up eval already waits for that one.
        Some(t) if alloc.followup_eval_id.is_empty() => When::Later(t),
        _ => When::Never,
    }
}

/// Follow-up evaluations for delayed reschedules, one per batch of allocations due
/// within [`BATCH_WINDOW`] of each other. Returns alloc ID -> eval ID and the evals.
pub(super) fn followup_evals(
    later: &[Delayed],
    job: &Job,
    priority: i64,
) -> (BTreeMap<String, String>, Vec<Evaluation>) {
    let mut sorted: Vec<&Delayed> = later.iter().collect();
    sorted.sort_by(|a, b| {
        a.time
            .cmp(&b.time)
            .then_with(|| a.alloc.id.cmp(&b.alloc.id))
    });
    let mut by_alloc = BTreeMap::new();
    let mut evals: Vec<Evaluation> = Vec::new();
    let mut batch_start = i64::MIN;
    for delayed in sorted {
        if evals.is_empty() || delayed.time - batch_start >= BATCH_WINDOW {
            batch_start = delayed.time;
            evals.push(Evaluation {
                id: uuid::Uuid::new_v4().to_string(),
                namespace: job.namespace.clone(),
                priority,
                eval_type: job.job_type.clone(),
                triggered_by: TRIGGER_RETRY_FAILED_ALLOC.into(),
                job_id: job.id.clone(),
                job_modify_index: job.modify_index,
                status: EVAL_PENDING.into(),
                status_description: DESC_RESCHEDULE_FOLLOWUP.into(),
                wait_until: rfc3339(batch_start),
                ..Default::default()
            });
        }
        let eval = evals.last().expect("pushed above");
        by_alloc.insert(delayed.alloc.id.clone(), eval.id.clone());
    }
    (by_alloc, evals)
}
