//! The reconciler's side of deployments: which one is current, cancelling those a new
//! job version or a stop makes moot, creating one for a new version, and noticing
//! when the current one has succeeded.

use std::sync::Arc;

use crate::server::state::DeploymentStatusUpdate;
use crate::structs::{
    Deployment, DeploymentState, Job, TaskGroup, UpdateStrategy, DEPLOYMENT_CANCELLED,
    DEPLOYMENT_RUNNING, DEPLOYMENT_SUCCESSFUL, DESC_NEWER_JOB, DESC_RUNNING,
    DESC_RUNNING_AUTO_PROMOTION, DESC_RUNNING_NEEDS_PROMOTION, DESC_STOPPED_JOB, DESC_SUCCESSFUL,
};

/// The job's newest deployment, split by whether it still belongs to the job as it is.
pub(super) struct Deployments {
    /// Of an older version, finished, or of a stopped job: its unpromoted canaries go.
    pub old: Option<Arc<Deployment>>,
    /// The running (or paused/failed) deployment of the current job version.
    pub current: Option<Arc<Deployment>>,
    pub updates: Vec<DeploymentStatusUpdate>,
}

/// Cancels a deployment that is still active but whose job was stopped (or purged:
/// `job` is `None`) or replaced by a newer version.
pub(super) fn split_deployments(job: Option<&Job>, d: Option<Arc<Deployment>>) -> Deployments {
    let mut out = Deployments {
        old: None,
        current: None,
        updates: Vec::new(),
    };
    let Some(d) = d else {
        return out;
    };
    let cancel = |description: &str| DeploymentStatusUpdate {
        deployment_id: d.id.clone(),
        status: DEPLOYMENT_CANCELLED.into(),
        status_description: description.into(),
    };
    match job {
        None => {
            if d.active() {
                out.updates.push(cancel(DESC_STOPPED_JOB));
            }
            out.old = Some(d);
        }
        Some(job) if job.stop => {
            if d.active() {
                out.updates.push(cancel(DESC_STOPPED_JOB));
            }
            out.old = Some(d);
        }
        Some(job) if d.job_create_index != job.create_index || d.job_version != job.version => {
            if d.active() {
                out.updates.push(cancel(DESC_NEWER_JOB));
            }
            out.old = Some(d);
        }
        Some(_) if d.status == DEPLOYMENT_SUCCESSFUL => out.old = Some(d),
        Some(_) => out.current = Some(d),
    }
    out
}

/// The group's rolling-update strategy, if it rolls at all: batch jobs and
/// `max_parallel = 0` change everything at once without a deployment.
pub(super) fn rolling(group: &TaskGroup, batch: bool) -> Option<&UpdateStrategy> {
    if batch {
        return None;
    }
    group
        .update
        .as_ref()
        .filter(|u| u.max_parallel.unwrap_or_default() > 0)
}

/// A fresh deployment state for a group that has none yet.
pub(super) fn new_group_state(group: &TaskGroup, batch: bool) -> DeploymentState {
    let mut state = DeploymentState {
        desired_total: group.count.unwrap_or_default().max(0) as u64,
        require_progress_by: crate::structs::time::ZERO_TIME.into(),
        ..Default::default()
    };
    if let Some(update) = rolling(group, batch) {
        state.auto_revert = update.auto_revert.unwrap_or_default();
        state.auto_promote = update.auto_promote.unwrap_or_default();
        state.progress_deadline = update.progress_deadline.unwrap_or_default();
    }
    state
}

pub(super) fn new_deployment(job: &Job, now: i64) -> Deployment {
    Deployment {
        id: uuid::Uuid::new_v4().to_string(),
        namespace: job.namespace.clone(),
        job_id: job.id.clone(),
        job_version: job.version,
        job_modify_index: job.modify_index,
        job_spec_modify_index: job.job_modify_index,
        job_create_index: job.create_index,
        status: DEPLOYMENT_RUNNING.into(),
        status_description: DESC_RUNNING.into(),
        create_time: now,
        modify_time: now,
        ..Default::default()
    }
}

/// A created deployment says whether it waits for a promotion.
pub(super) fn set_description(d: &mut Deployment) {
    d.status_description = if !d.requires_promotion() {
        DESC_RUNNING
    } else if d.has_auto_promote() {
        DESC_RUNNING_AUTO_PROMOTION
    } else {
        DESC_RUNNING_NEEDS_PROMOTION
    }
    .into();
}

/// Enough healthy allocations in the group, and its canaries (if any) promoted.
pub(super) fn group_healthy(state: &DeploymentState) -> bool {
    state.healthy_allocs >= state.desired_total.max(state.desired_canaries)
        && (state.desired_canaries == 0 || state.promoted)
}

pub(super) fn successful(d: &Deployment) -> DeploymentStatusUpdate {
    DeploymentStatusUpdate {
        deployment_id: d.id.clone(),
        status: DEPLOYMENT_SUCCESSFUL.into(),
        status_description: DESC_SUCCESSFUL.into(),
    }
}
