//! The server's write endpoints (Nomad's RPCs): job lifecycle, allocations, nodes and
//! deployments. Each is a synchronous method on [`Server`] that checks the request
//! against a snapshot, then applies one command; reads are not endpoints (the HTTP API
//! reads snapshots directly).

mod alloc;
mod deployment;
mod dispatch;
mod job;
mod node;
mod plan;
mod types;

#[cfg(test)]
pub(crate) mod tests;

use std::fmt;

pub use plan::DryRunPlanner;
pub use types::*;

use super::state::StateError;
use super::Server;
use crate::structs::{time::now_ns, Evaluation, Job, EVAL_PENDING};

/// An endpoint's failure: the HTTP status the API answers with and Nomad's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: u16,
    pub message: String,
}

impl RpcError {
    pub fn not_found(message: impl Into<String>) -> Self {
        RpcError {
            code: 404,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        RpcError {
            code: 400,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        RpcError {
            code: 500,
            message: message.into(),
        }
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RpcError {}

impl From<StateError> for RpcError {
    /// A command the state refused names what was missing (`job not found`); anything
    /// else is the server's own trouble.
    fn from(e: StateError) -> Self {
        match e {
            StateError::Rejected(msg) if msg.ends_with("not found") => RpcError::not_found(msg),
            StateError::Rejected(msg) => RpcError::bad_request(msg),
            other => RpcError::internal(other.to_string()),
        }
    }
}

/// A pending evaluation of `job` (type and priority from the job).
pub(crate) fn new_eval(job: &Job, triggered_by: &str) -> Evaluation {
    let now = now_ns();
    Evaluation {
        id: uuid::Uuid::new_v4().to_string(),
        namespace: job.namespace.clone(),
        priority: job.priority,
        eval_type: job.job_type.clone(),
        triggered_by: triggered_by.into(),
        job_id: job.id.clone(),
        job_modify_index: job.job_modify_index,
        status: EVAL_PENDING.into(),
        create_time: now,
        modify_time: now,
        ..Default::default()
    }
}

/// Periodic and parameterized parents get no evaluations: only their children run.
pub(crate) fn runs_itself(job: &Job) -> bool {
    job.periodic.is_none() && (job.parameterized_job.is_none() || job.dispatched)
}

impl Server {
    /// The stored job or Nomad's 404.
    pub(crate) fn existing_job(
        &self,
        namespace: &str,
        job_id: &str,
    ) -> Result<std::sync::Arc<Job>, RpcError> {
        self.state
            .snapshot()
            .job(namespace, job_id)
            .ok_or_else(|| RpcError::not_found("job not found"))
    }
}
