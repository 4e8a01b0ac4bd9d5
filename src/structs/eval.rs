//! Evaluations: the server's unit of "look at this job again".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::AllocMetric;

pub const EVAL_BLOCKED: &str = "blocked";
pub const EVAL_PENDING: &str = "pending";
pub const EVAL_COMPLETE: &str = "complete";
pub const EVAL_FAILED: &str = "failed";
pub const EVAL_CANCELED: &str = "canceled";

pub const TRIGGER_JOB_REGISTER: &str = "job-register";
pub const TRIGGER_JOB_DEREGISTER: &str = "job-deregister";
pub const TRIGGER_PERIODIC_JOB: &str = "periodic-job";
pub const TRIGGER_NODE_UPDATE: &str = "node-update";
pub const TRIGGER_NODE_DRAIN: &str = "node-drain";
pub const TRIGGER_ALLOC_STOP: &str = "alloc-stop";
pub const TRIGGER_ROLLING_UPDATE: &str = "rolling-update";
pub const TRIGGER_DEPLOYMENT_WATCHER: &str = "deployment-watcher";
pub const TRIGGER_FAILED_FOLLOW_UP: &str = "failed-follow-up";
pub const TRIGGER_MAX_PLANS: &str = "max-plan-attempts";
pub const TRIGGER_RETRY_FAILED_ALLOC: &str = "alloc-failure";
pub const TRIGGER_QUEUED_ALLOCS: &str = "queued-allocs";
pub const TRIGGER_JOB_SCALING: &str = "job-scaling";
pub const TRIGGER_ALLOC_RESCHEDULE: &str = "alloc-reschedule";
pub const TRIGGER_SCHEDULED: &str = "scheduled";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Evaluation {
    #[serde(rename = "ID")]
    pub id: String,
    pub priority: i64,
    /// The job type: which scheduler handles it.
    #[serde(rename = "Type")]
    pub eval_type: String,
    pub triggered_by: String,
    pub namespace: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub job_modify_index: u64,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_modify_index: u64,
    #[serde(rename = "DeploymentID")]
    pub deployment_id: String,
    pub status: String,
    pub status_description: String,
    /// Nanoseconds.
    pub wait: i64,
    /// RFC 3339; Go's zero time when unset.
    pub wait_until: String,
    pub next_eval: String,
    pub previous_eval: String,
    pub blocked_eval: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_evals: Option<Vec<EvaluationStub>>,
    #[serde(rename = "FailedTGAllocs")]
    pub failed_tg_allocs: BTreeMap<String, AllocMetric>,
    pub class_eligibility: BTreeMap<String, bool>,
    pub escaped_computed_class: bool,
    pub quota_limit_reached: String,
    pub annotate_plan: bool,
    pub queued_allocations: BTreeMap<String, u64>,
    pub snapshot_index: u64,
    pub create_index: u64,
    pub modify_index: u64,
    /// Unix nanoseconds.
    pub create_time: i64,
    /// Unix nanoseconds.
    pub modify_time: i64,
}

impl Evaluation {
    pub fn terminal(&self) -> bool {
        matches!(
            self.status.as_str(),
            EVAL_COMPLETE | EVAL_FAILED | EVAL_CANCELED
        )
    }

    /// Unix nanoseconds of `WaitUntil`, 0 when unset.
    pub fn wait_until_ns(&self) -> i64 {
        super::time::parse_rfc3339(&self.wait_until).unwrap_or(0)
    }

    pub fn stub(&self) -> EvaluationStub {
        EvaluationStub {
            id: self.id.clone(),
            namespace: self.namespace.clone(),
            priority: self.priority,
            eval_type: self.eval_type.clone(),
            triggered_by: self.triggered_by.clone(),
            job_id: self.job_id.clone(),
            node_id: self.node_id.clone(),
            deployment_id: self.deployment_id.clone(),
            status: self.status.clone(),
            status_description: self.status_description.clone(),
            wait_until: self.wait_until.clone(),
            next_eval: self.next_eval.clone(),
            previous_eval: self.previous_eval.clone(),
            blocked_eval: self.blocked_eval.clone(),
            create_index: self.create_index,
            modify_index: self.modify_index,
            create_time: self.create_time,
            modify_time: self.modify_time,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EvaluationStub {
    #[serde(rename = "ID")]
    pub id: String,
    pub namespace: String,
    pub priority: i64,
    #[serde(rename = "Type")]
    pub eval_type: String,
    pub triggered_by: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    #[serde(rename = "DeploymentID")]
    pub deployment_id: String,
    pub status: String,
    pub status_description: String,
    pub wait_until: String,
    pub next_eval: String,
    pub previous_eval: String,
    pub blocked_eval: String,
    pub create_index: u64,
    pub modify_index: u64,
    pub create_time: i64,
    pub modify_time: i64,
}
