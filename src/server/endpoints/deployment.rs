//! Deployment writes: promote canaries, fail (with auto-revert), pause/resume, and
//! operator-set allocation health.

use super::RpcError;
use crate::server::deployment_watcher::{failure, watcher_eval};
use crate::server::state::{Command, DeploymentChange, DeploymentStatusUpdate, Tables};
use crate::server::Server;
use crate::structs::{
    Deployment, DeploymentUpdateResponse, DEPLOYMENT_PAUSED, DEPLOYMENT_RUNNING,
    DESC_FAILED_ALLOCATIONS, DESC_FAILED_BY_USER, DESC_PAUSED, DESC_RUNNING,
};

impl Server {
    pub fn deployment_promote(
        &self,
        id: &str,
        all: bool,
        groups: Vec<String>,
    ) -> Result<DeploymentUpdateResponse, RpcError> {
        let snap = self.state.snapshot();
        let d = active_deployment(&snap, id, "can't promote terminal deployment")?;
        if !d.task_groups.values().any(|s| s.desired_canaries > 0) {
            return Err(RpcError::bad_request("no canaries to promote"));
        }
        let chosen = |group: &String| all || groups.contains(group);
        let mut unhealthy = crate::structs::ValidationErrors::default();
        for (name, state) in d.task_groups.iter().filter(|(g, _)| chosen(g)) {
            if state.desired_canaries == 0 {
                continue;
            }
            let healthy = state
                .placed_canaries
                .iter()
                .filter_map(|id| snap.allocs.get(id.as_str()))
                .filter(|a| {
                    !a.terminal() && a.deployment_status.as_ref().is_some_and(|s| s.is_healthy())
                })
                .count() as u64;
            if healthy < state.desired_canaries {
                unhealthy.0.push(format!(
                    "Task group {name:?} has {healthy}/{} healthy allocations",
                    state.desired_canaries
                ));
            }
        }
        if !unhealthy.is_empty() {
            return Err(RpcError::bad_request(unhealthy.to_string()));
        }
        let eval = watcher_eval(&snap, &d);
        let eval_id = eval.id.clone();
        let index = self.apply(Command::DeploymentPromote {
            deployment_id: id.into(),
            groups: if all { Vec::new() } else { groups },
            eval: Some(Box::new(eval)),
        })?;
        Ok(DeploymentUpdateResponse {
            eval_id,
            eval_create_index: index,
            deployment_modify_index: index,
            reverted_job_version: None,
            index,
        })
    }

    /// Marks the deployment failed; with `auto_revert` the newest stable version is
    /// registered again.
    pub fn deployment_fail(&self, id: &str) -> Result<DeploymentUpdateResponse, RpcError> {
        let snap = self.state.snapshot();
        let d = active_deployment(&snap, id, "can't fail terminal deployment")?;
        let rollback = d.task_groups.values().any(|s| s.auto_revert);
        let change = failure(&snap, &d, DESC_FAILED_BY_USER, rollback);
        self.deployment_change(change)
    }

    pub fn deployment_pause(
        &self,
        id: &str,
        pause: bool,
    ) -> Result<DeploymentUpdateResponse, RpcError> {
        let snap = self.state.snapshot();
        let terminal = if pause {
            "can't pause terminal deployment"
        } else {
            "can't resume terminal deployment"
        };
        let d = active_deployment(&snap, id, terminal)?;
        let (status, desc, eval) = if pause {
            (DEPLOYMENT_PAUSED, DESC_PAUSED, None)
        } else {
            // Resuming lets the scheduler continue where it stopped.
            (
                DEPLOYMENT_RUNNING,
                DESC_RUNNING,
                Some(watcher_eval(&snap, &d)),
            )
        };
        self.deployment_change(DeploymentChange {
            update: DeploymentStatusUpdate {
                deployment_id: id.into(),
                status: status.into(),
                status_description: desc.into(),
            },
            job: None,
            eval,
        })
    }

    /// Operator-set health (`manual` health checks). An unhealthy allocation fails the
    /// deployment, rolling back when its group has `auto_revert`.
    pub fn deployment_set_alloc_health(
        &self,
        id: &str,
        healthy: Vec<String>,
        unhealthy: Vec<String>,
    ) -> Result<DeploymentUpdateResponse, RpcError> {
        if healthy.is_empty() && unhealthy.is_empty() {
            return Err(RpcError::bad_request(
                "must specify at least one healthy/unhealthy allocation ID",
            ));
        }
        let snap = self.state.snapshot();
        let d = active_deployment(
            &snap,
            id,
            "can't set health of allocations for a terminal deployment",
        )?;
        let change = if unhealthy.is_empty() {
            DeploymentChange {
                update: DeploymentStatusUpdate {
                    deployment_id: id.into(),
                    status: d.status.clone(),
                    status_description: d.status_description.clone(),
                },
                job: None,
                eval: Some(watcher_eval(&snap, &d)),
            }
        } else {
            let rollback = unhealthy.iter().any(|alloc_id| {
                snap.allocs
                    .get(alloc_id.as_str())
                    .and_then(|a| d.task_groups.get(&a.task_group))
                    .is_some_and(|s| s.auto_revert)
            });
            failure(&snap, &d, DESC_FAILED_ALLOCATIONS, rollback)
        };
        let reverted_job_version = change.job.as_ref().map(|j| j.version);
        let eval_id = change
            .eval
            .as_ref()
            .map(|e| e.id.clone())
            .unwrap_or_default();
        let index = self.apply(Command::DeploymentAllocHealth {
            deployment_id: id.into(),
            healthy,
            unhealthy,
            change: Some(Box::new(change)),
        })?;
        Ok(DeploymentUpdateResponse {
            eval_id,
            eval_create_index: index,
            deployment_modify_index: index,
            reverted_job_version,
            index,
        })
    }

    /// Applies a status change (with its rollback job and eval) and answers for it.
    pub(crate) fn deployment_change(
        &self,
        change: DeploymentChange,
    ) -> Result<DeploymentUpdateResponse, RpcError> {
        let reverted_job_version = change.job.as_ref().map(|j| j.version);
        let eval_id = change
            .eval
            .as_ref()
            .map(|e| e.id.clone())
            .unwrap_or_default();
        let index = self.apply(Command::DeploymentStatus(Box::new(change)))?;
        Ok(DeploymentUpdateResponse {
            eval_create_index: if eval_id.is_empty() { 0 } else { index },
            eval_id,
            deployment_modify_index: index,
            reverted_job_version,
            index,
        })
    }
}

/// The deployment if it is still rolling; `terminal` is Nomad's refusal otherwise.
fn active_deployment(snap: &Tables, id: &str, terminal: &str) -> Result<Deployment, RpcError> {
    let d = snap
        .deployments
        .get(id)
        .ok_or_else(|| RpcError::not_found("deployment not found"))?;
    if !d.active() {
        return Err(RpcError::bad_request(terminal));
    }
    Ok((**d).clone())
}
