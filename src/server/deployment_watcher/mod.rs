//! The deployment watcher: moves running deployments along from what clients report.
//! It fails a deployment on an unhealthy allocation or a missed progress deadline
//! (registering the newest stable version again under `auto_revert`), asks the
//! scheduler for the next batch as allocations turn healthy, promotes canaries under
//! `auto_promote`, and marks a deployment successful once every group is healthy.
//!
//! Every decision is derived from the state alone, and each action changes the state
//! so that the same decision is not taken twice: the watcher can wake as often as it
//! likes, and after a restart it simply looks again. The reconciler also detects a
//! complete deployment; whichever applies first wins (a finished deployment never
//! changes again, see `state/apply.rs`).

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::server::endpoints::new_eval;
use crate::server::state::{
    spec_changed, Command, DeploymentChange, DeploymentStatusUpdate, TableIndex, Tables,
};
use crate::server::Server;
use crate::structs::time::{now_ns, parse_rfc3339};
use crate::structs::{
    Allocation, Deployment, DeploymentState, Evaluation, Job, DEPLOYMENT_FAILED,
    DEPLOYMENT_RUNNING, DEPLOYMENT_SUCCESSFUL, DESC_FAILED_ALLOCATIONS, DESC_PROGRESS_DEADLINE,
    DESC_SUCCESSFUL, EVAL_CANCELED, JOB_TYPE_SERVICE, TRIGGER_DEPLOYMENT_WATCHER,
};

#[cfg(test)]
mod tests;

/// With nothing timed to wait for, look again at least this often anyway.
const IDLE_WAKE: Duration = Duration::from_secs(60);

/// Starts the watcher on the current tokio runtime. It ends when the server is dropped
/// (or the handle is aborted).
pub fn start(server: &Arc<Server>) -> tokio::task::JoinHandle<()> {
    spawn_passes(
        server,
        |t| (t.allocs, t.deployments),
        |server, now| server.watch_deployments(now),
    )
}

/// Runs `pass` (given the time, returning when it wants to run again) whenever the
/// state's `watched` table indexes move or its own time comes, until the server is
/// dropped. Shared with the periodic dispatcher.
pub(crate) fn spawn_passes<K: PartialEq + Send + 'static>(
    server: &Arc<Server>,
    watched: fn(&TableIndex) -> K,
    pass: fn(&Server, i64) -> Option<i64>,
) -> tokio::task::JoinHandle<()> {
    let weak: Weak<Server> = Arc::downgrade(server);
    let mut changes = server.state.subscribe();
    tokio::spawn(async move {
        let mut seen: Option<K> = None;
        let mut due = true;
        let mut next: Option<i64> = None;
        loop {
            {
                let Some(server) = weak.upgrade() else {
                    return;
                };
                let now_seen = watched(&server.state.snapshot().table_index);
                if due || seen.as_ref() != Some(&now_seen) {
                    seen = Some(now_seen);
                    next = pass(&server, now_ns());
                }
            }
            let wait = next.map_or(IDLE_WAKE, |at| {
                Duration::from_nanos(at.saturating_sub(now_ns()).max(0) as u64)
            });
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    due = false;
                }
                _ = tokio::time::sleep(wait) => due = true,
            }
        }
    })
}

impl Server {
    /// One pass over the running deployments as of `now` (unix ns). Returns when the
    /// next progress deadline falls, if any.
    pub fn watch_deployments(&self, now: i64) -> Option<i64> {
        let snap = self.state.snapshot();
        let mut next: Option<i64> = None;
        for d in snap.deployments.values() {
            if d.status != DEPLOYMENT_RUNNING {
                continue;
            }
            for command in decide(&snap, d, now) {
                if let Err(e) = self.apply(command) {
                    tracing::warn!(deployment = %d.id, "deployment watcher: {e}");
                }
            }
            if let Some(cutoff) = progress_cutoff(&snap, d).filter(|c| *c > now) {
                next = Some(next.map_or(cutoff, |n| n.min(cutoff)));
            }
        }
        next
    }
}

/// What to do about one running deployment, in order.
fn decide(snap: &Tables, d: &Deployment, now: i64) -> Vec<Command> {
    let allocs = deployment_allocs(snap, d);
    let unhealthy: Vec<&Arc<Allocation>> = allocs.iter().filter(|a| is_unhealthy(a)).collect();
    if !unhealthy.is_empty() {
        let rollback = unhealthy.iter().any(|a| {
            d.task_groups
                .get(&a.task_group)
                .is_some_and(|s| s.auto_revert)
        });
        let change = failure(snap, d, DESC_FAILED_ALLOCATIONS, rollback);
        return vec![Command::DeploymentStatus(Box::new(change))];
    }
    if progress_cutoff(snap, d).is_some_and(|cutoff| cutoff <= now) {
        let failing: Vec<&DeploymentState> = d
            .task_groups
            .values()
            .filter(|s| !progress_made(s))
            .collect();
        if !failing.is_empty() {
            let rollback = failing.iter().any(|s| s.auto_revert);
            let change = failure(snap, d, DESC_PROGRESS_DEADLINE, rollback);
            return vec![Command::DeploymentStatus(Box::new(change))];
        }
    }
    let mut out = Vec::new();
    if should_auto_promote(d, &allocs) {
        out.push(Command::DeploymentPromote {
            deployment_id: d.id.clone(),
            groups: Vec::new(),
            eval: Some(Box::new(watcher_eval(snap, d))),
        });
    } else if newly_healthy(snap, d, &allocs) {
        out.push(Command::EvalUpsert {
            evals: vec![watcher_eval(snap, d)],
        });
    }
    let all_done = d
        .task_groups
        .iter()
        .all(|(name, state)| group_done(name, state, &allocs));
    if all_done && !d.requires_promotion() {
        out.push(Command::DeploymentStatus(Box::new(DeploymentChange {
            update: DeploymentStatusUpdate {
                deployment_id: d.id.clone(),
                status: DEPLOYMENT_SUCCESSFUL.into(),
                status_description: DESC_SUCCESSFUL.into(),
            },
            job: None,
            eval: None,
        })));
    }
    out
}

fn deployment_allocs(snap: &Tables, d: &Deployment) -> Vec<Arc<Allocation>> {
    let mut allocs = snap.job_allocs(&d.namespace, &d.job_id);
    allocs.retain(|a| a.deployment_id == d.id);
    allocs
}

fn is_healthy(a: &Allocation) -> bool {
    a.deployment_status.as_ref().is_some_and(|s| s.is_healthy())
}

fn is_unhealthy(a: &Allocation) -> bool {
    a.deployment_status
        .as_ref()
        .is_some_and(|s| s.is_unhealthy())
}

/// A group has what it waits for: its canaries (before promotion) or its whole count.
fn progress_made(s: &DeploymentState) -> bool {
    if s.desired_canaries > 0 && !s.promoted {
        s.healthy_allocs >= s.desired_canaries
    } else {
        s.healthy_allocs >= s.desired_total
    }
}

/// Promoted (if it has canaries) and enough healthy allocations still running.
fn group_done(name: &str, s: &DeploymentState, allocs: &[Arc<Allocation>]) -> bool {
    if s.desired_canaries > 0 && !s.promoted {
        return false;
    }
    let healthy = allocs
        .iter()
        .filter(|a| a.task_group == name && !a.terminal() && is_healthy(a))
        .count() as u64;
    healthy >= s.desired_total
}

/// The earliest `RequireProgressBy` of the groups not yet done (unix ns).
fn progress_cutoff(snap: &Tables, d: &Deployment) -> Option<i64> {
    let allocs = deployment_allocs(snap, d);
    d.task_groups
        .iter()
        .filter(|(name, state)| !group_done(name, state, &allocs))
        .filter_map(|(_, state)| parse_rfc3339(&state.require_progress_by))
        .min()
}

/// Nomad's auto-promotion: every group with canaries asks for it and has all its
/// canaries placed and healthy.
fn should_auto_promote(d: &Deployment, allocs: &[Arc<Allocation>]) -> bool {
    let canaried: Vec<&DeploymentState> = d
        .task_groups
        .values()
        .filter(|s| s.desired_canaries > 0)
        .collect();
    if canaried.is_empty() || !d.requires_promotion() {
        return false;
    }
    canaried.iter().all(|s| {
        let healthy = s
            .placed_canaries
            .iter()
            .filter(|id| allocs.iter().any(|a| &a.id == *id && is_healthy(a)))
            .count() as u64;
        s.auto_promote
            && s.placed_canaries.len() as u64 >= s.desired_canaries
            && healthy >= s.desired_canaries
    })
}

/// Did an allocation turn healthy after the scheduler last looked at the job? Then it
/// may place the next batch (Nomad compares with the newest eval's index).
fn newly_healthy(snap: &Tables, d: &Deployment, allocs: &[Arc<Allocation>]) -> bool {
    let last_eval = snap
        .job_evals(&d.namespace, &d.job_id)
        .iter()
        .filter(|e| e.status != EVAL_CANCELED)
        .map(|e| {
            if e.snapshot_index != 0 {
                e.snapshot_index
            } else {
                e.create_index
            }
        })
        .max()
        .unwrap_or(0);
    allocs.iter().any(|a| {
        a.deployment_status
            .as_ref()
            .is_some_and(|s| s.is_healthy() && s.modify_index > last_eval)
    })
}

/// The job the deployment rolls out: its version, else the current one.
fn deployment_job(snap: &Tables, d: &Deployment) -> Option<Arc<Job>> {
    snap.job_version(&d.namespace, &d.job_id, d.job_version)
        .or_else(|| snap.job(&d.namespace, &d.job_id))
}

/// An evaluation on behalf of the deployment (`deployment-watcher`).
pub(crate) fn watcher_eval(snap: &Tables, d: &Deployment) -> Evaluation {
    let job = snap
        .job(&d.namespace, &d.job_id)
        .or_else(|| deployment_job(snap, d));
    let mut eval = match job {
        Some(job) => new_eval(&job, TRIGGER_DEPLOYMENT_WATCHER),
        None => new_eval(
            &Job {
                namespace: d.namespace.clone(),
                id: d.job_id.clone(),
                job_type: JOB_TYPE_SERVICE.into(),
                priority: 50,
                ..Default::default()
            },
            TRIGGER_DEPLOYMENT_WATCHER,
        ),
    };
    eval.deployment_id.clone_from(&d.id);
    eval
}

/// The deployment failed for `desc`; with `rollback`, the newest stable version of the
/// job is registered again (unless it is what runs now), said in the description.
pub(crate) fn failure(
    snap: &Tables,
    d: &Deployment,
    desc: &str,
    rollback: bool,
) -> DeploymentChange {
    let mut description = desc.to_string();
    let mut job = None;
    if rollback {
        let stable = snap
            .job_versions(&d.namespace, &d.job_id)
            .into_iter()
            .find(|j| j.stable);
        match (stable, snap.job(&d.namespace, &d.job_id)) {
            (Some(stable), Some(current)) if !spec_changed(&current, &stable) => {
                description = format!(
                    "{desc} - not rolling back to stable job version {} as current job has same specification",
                    stable.version
                );
            }
            (Some(stable), _) => {
                description = format!("{desc} - rolling back to job version {}", stable.version);
                job = Some((*stable).clone());
            }
            (None, _) => description = format!("{desc} - no stable job version to auto revert to"),
        }
    }
    DeploymentChange {
        update: DeploymentStatusUpdate {
            deployment_id: d.id.clone(),
            status: DEPLOYMENT_FAILED.into(),
            status_description: description,
        },
        job,
        eval: Some(watcher_eval(snap, d)),
    }
}
