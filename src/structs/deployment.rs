//! Deployments: the rollout of one job version, group by group.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const DEPLOYMENT_RUNNING: &str = "running";
pub const DEPLOYMENT_PAUSED: &str = "paused";
pub const DEPLOYMENT_FAILED: &str = "failed";
pub const DEPLOYMENT_SUCCESSFUL: &str = "successful";
pub const DEPLOYMENT_CANCELLED: &str = "cancelled";
pub const DEPLOYMENT_PENDING: &str = "pending";
pub const DEPLOYMENT_BLOCKED: &str = "blocked";
pub const DEPLOYMENT_UNBLOCKING: &str = "unblocking";

pub const DESC_RUNNING: &str = "Deployment is running";
pub const DESC_RUNNING_NEEDS_PROMOTION: &str =
    "Deployment is running but requires manual promotion";
pub const DESC_RUNNING_AUTO_PROMOTION: &str = "Deployment is running pending automatic promotion";
pub const DESC_PAUSED: &str = "Deployment is paused";
pub const DESC_SUCCESSFUL: &str = "Deployment completed successfully";
pub const DESC_STOPPED_JOB: &str = "Cancelled because job is stopped";
pub const DESC_NEWER_JOB: &str = "Cancelled due to newer version of job";
pub const DESC_FAILED_ALLOCATIONS: &str = "Failed due to unhealthy allocations";
pub const DESC_PROGRESS_DEADLINE: &str = "Failed due to progress deadline";
pub const DESC_FAILED_BY_USER: &str = "Deployment marked as failed";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Deployment {
    #[serde(rename = "ID")]
    pub id: String,
    pub namespace: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub job_version: u64,
    pub job_modify_index: u64,
    pub job_spec_modify_index: u64,
    pub job_create_index: u64,
    pub is_multiregion: bool,
    pub task_groups: BTreeMap<String, DeploymentState>,
    pub status: String,
    pub status_description: String,
    pub create_index: u64,
    pub modify_index: u64,
    /// Unix nanoseconds.
    pub create_time: i64,
    /// Unix nanoseconds.
    pub modify_time: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeploymentState {
    pub auto_revert: bool,
    pub auto_promote: bool,
    /// Nanoseconds.
    pub progress_deadline: i64,
    /// RFC 3339; Go's zero time until the first placement.
    pub require_progress_by: String,
    pub promoted: bool,
    pub placed_canaries: Vec<String>,
    pub desired_canaries: u64,
    pub desired_total: u64,
    pub placed_allocs: u64,
    pub healthy_allocs: u64,
    pub unhealthy_allocs: u64,
}

impl Deployment {
    /// Still rolling (running, paused, pending, blocked): the one a job can have at a time.
    pub fn active(&self) -> bool {
        matches!(
            self.status.as_str(),
            DEPLOYMENT_RUNNING
                | DEPLOYMENT_PAUSED
                | DEPLOYMENT_PENDING
                | DEPLOYMENT_BLOCKED
                | DEPLOYMENT_UNBLOCKING
        )
    }

    /// Some group waits for its canaries to be promoted.
    pub fn requires_promotion(&self) -> bool {
        self.task_groups
            .values()
            .any(|s| s.desired_canaries > 0 && !s.promoted)
    }

    pub fn has_auto_promote(&self) -> bool {
        let canaried: Vec<_> = self
            .task_groups
            .values()
            .filter(|s| s.desired_canaries > 0)
            .collect();
        !canaried.is_empty() && canaried.iter().all(|s| s.auto_promote)
    }
}

/// `PUT /v1/deployment/...` replies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeploymentUpdateResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub deployment_modify_index: u64,
    pub reverted_job_version: Option<u64>,
    pub index: u64,
}
