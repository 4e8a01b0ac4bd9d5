//! Requests and replies of the write endpoints, in Nomad's API JSON shape. Requests
//! take defaults for absent fields and ignore unknown ones, as Nomad's decoder does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::server::plan::{FailedGroups, PlanAnnotations};
use crate::server::state::JobSubmission;
use crate::structs::diff::JobDiff;
use crate::structs::{Evaluation, Job};

/// `PUT /v1/jobs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobRegisterRequest {
    pub job: Job,
    pub enforce_index: bool,
    pub job_modify_index: u64,
    pub policy_override: bool,
    pub preserve_counts: bool,
    pub eval_priority: i64,
    pub submission: Option<JobSubmission>,
}

/// The reply to register, revert, scale and evaluate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobRegisterResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_modify_index: u64,
    pub warnings: String,
    pub index: u64,
}

/// `DELETE /v1/job/:id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobDeregisterResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_modify_index: u64,
    pub index: u64,
}

/// `PUT /v1/job/:id/plan`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobPlanRequest {
    pub job: Job,
    pub diff: bool,
    pub policy_override: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobPlanResponse {
    pub annotations: PlanAnnotations,
    #[serde(rename = "FailedTGAllocs")]
    pub failed_tg_allocs: FailedGroups,
    pub job_modify_index: u64,
    pub created_evals: Vec<Evaluation>,
    pub diff: Option<JobDiff>,
    /// RFC 3339; Go's zero time for jobs that are not periodic.
    pub next_periodic_launch: String,
    pub warnings: String,
    pub index: u64,
}

/// `POST /v1/job/:id/scale`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ScalingRequest {
    pub count: Option<i64>,
    /// `{"Job": id, "Group": name}`.
    pub target: BTreeMap<String, String>,
    pub message: String,
    pub error: bool,
    pub meta: BTreeMap<String, serde_json::Value>,
    pub policy_override: bool,
    pub enforce_index: bool,
    pub job_modify_index: u64,
}

/// `GET /v1/job/:id/scale`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobScaleStatusResponse {
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub namespace: String,
    pub job_create_index: u64,
    pub job_modify_index: u64,
    pub job_stopped: bool,
    pub task_groups: BTreeMap<String, TaskGroupScaleStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskGroupScaleStatus {
    pub desired: i64,
    pub placed: u64,
    pub running: u64,
    pub healthy: u64,
    pub unhealthy: u64,
    pub events: Vec<ScalingEvent>,
}

/// One scaling action on a group (not recorded yet: always empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ScalingEvent {
    /// Unix nanoseconds.
    pub time: i64,
    pub count: Option<i64>,
    pub previous_count: i64,
    pub message: String,
    pub error: bool,
    pub meta: BTreeMap<String, serde_json::Value>,
    #[serde(rename = "EvalID")]
    pub eval_id: Option<String>,
    pub create_index: u64,
}

/// `POST /v1/job/:id/dispatch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobDispatchRequest {
    /// Base64.
    pub payload: Option<String>,
    pub meta: BTreeMap<String, String>,
    pub idempotency_token: String,
    /// 0: the parent's priority.
    pub priority: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobDispatchResponse {
    #[serde(rename = "DispatchedJobID")]
    pub dispatched_job_id: String,
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_create_index: u64,
    pub index: u64,
}

/// `PUT /v1/validate/job`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobValidateResponse {
    pub driver_config_validated: bool,
    pub validation_errors: Vec<String>,
    pub error: String,
    pub warnings: String,
}

/// `PUT /v1/allocation/:id/stop`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EvalResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub index: u64,
}

/// The reply to the node endpoints (register, heartbeat, status, drain, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeUpdateResponse {
    /// Nanoseconds.
    #[serde(rename = "HeartbeatTTL")]
    pub heartbeat_ttl: i64,
    #[serde(rename = "EvalIDs")]
    pub eval_ids: Vec<String>,
    pub eval_create_index: u64,
    pub node_modify_index: u64,
    pub index: u64,
}

/// `PUT /v1/job/:id/periodic/force`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PeriodicForceResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub index: u64,
}
