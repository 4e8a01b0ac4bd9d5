//! `job dispatch`: a child of a parameterized job, with its payload and meta.

use base64::Engine;

use super::{JobDispatchRequest, JobDispatchResponse, RpcError};
use crate::server::Server;
use crate::structs::time::now_ns;
use crate::structs::{Job, TRIGGER_JOB_REGISTER};

/// Nomad's default `job_max_priority`.
const MAX_PRIORITY: i64 = 100;

/// Nomad's limit on a dispatch payload (16 KiB, decoded).
pub const DISPATCH_PAYLOAD_SIZE_LIMIT: usize = 16 * 1024;

/// `<parent>/dispatch-<unix secs>-<8 hex>`.
pub const DISPATCH_LAUNCH_SUFFIX: &str = "/dispatch-";

impl Server {
    pub fn dispatch(
        &self,
        namespace: &str,
        job_id: &str,
        req: JobDispatchRequest,
    ) -> Result<JobDispatchResponse, RpcError> {
        let snap = self.state.snapshot();
        let parent = snap
            .job(namespace, job_id)
            .ok_or_else(|| RpcError::not_found("parameterized job not found"))?;
        let Some(params) = parent
            .parameterized_job
            .as_ref()
            .filter(|_| !parent.dispatched)
        else {
            return Err(RpcError::bad_request(format!(
                "Specified job {job_id:?} is not a parameterized job"
            )));
        };
        if parent.stop {
            return Err(RpcError::bad_request(format!(
                "Specified job {job_id:?} is stopped"
            )));
        }
        let payload = match req.payload.as_deref().filter(|p| !p.is_empty()) {
            Some(text) => base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| RpcError::bad_request(format!("Payload is not valid base64: {e}")))?,
            None => Vec::new(),
        };
        check_payload(&params.payload, payload.len())?;
        check_meta(&params.meta_required, &params.meta_optional, &req)?;
        let priority = if req.priority == 0 {
            parent.priority
        } else {
            req.priority
        };
        if !(1..=MAX_PRIORITY).contains(&priority) {
            return Err(RpcError::bad_request(format!(
                "dispatch job priority must be between [1, {MAX_PRIORITY}]"
            )));
        }

        if !req.idempotency_token.is_empty() {
            let found = snap.jobs_in(namespace).find(|j| {
                j.parent_id == parent.id && j.dispatch_idempotency_token == req.idempotency_token
            });
            if let Some(child) = found {
                return Ok(JobDispatchResponse {
                    dispatched_job_id: child.id.clone(),
                    job_create_index: child.create_index,
                    index: child.modify_index,
                    ..Default::default()
                });
            }
        }

        let child = dispatched_child(&parent, &req, priority, now_ns());
        let child_id = child.id.clone();
        let reply = self.register_job(child, 0, TRIGGER_JOB_REGISTER, None)?;
        Ok(JobDispatchResponse {
            dispatched_job_id: child_id,
            eval_id: reply.eval_id,
            eval_create_index: reply.eval_create_index,
            job_create_index: reply.index,
            index: reply.index,
        })
    }
}

/// The child job: the parent's spec under a new ID, no longer parameterized, with the
/// request's meta merged in and its payload kept (base64) for the tasks.
fn dispatched_child(parent: &Job, req: &JobDispatchRequest, priority: i64, now: i64) -> Job {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let mut child = parent.clone();
    child.id = format!(
        "{}{DISPATCH_LAUNCH_SUFFIX}{}-{}",
        parent.id,
        now / 1_000_000_000,
        &suffix[..8]
    );
    child.name.clone_from(&child.id);
    child.parent_id.clone_from(&parent.id);
    child.parameterized_job = None;
    child.dispatched = true;
    child
        .dispatch_idempotency_token
        .clone_from(&req.idempotency_token);
    child.priority = priority;
    child.status.clear();
    child.status_description.clear();
    child.payload = req.payload.clone().filter(|p| !p.is_empty());
    child
        .meta
        .extend(req.meta.iter().map(|(k, v)| (k.clone(), v.clone())));
    child
}

fn check_payload(rule: &str, len: usize) -> Result<(), RpcError> {
    if rule == "required" && len == 0 {
        return Err(RpcError::bad_request(
            "Payload is not provided but required by parameterized job",
        ));
    }
    if rule == "forbidden" && len > 0 {
        return Err(RpcError::bad_request(
            "Payload provided but forbidden by parameterized job",
        ));
    }
    if len > DISPATCH_PAYLOAD_SIZE_LIMIT {
        return Err(RpcError::bad_request(format!(
            "Payload exceeds maximum size; {len} > {DISPATCH_PAYLOAD_SIZE_LIMIT}"
        )));
    }
    Ok(())
}

/// Meta keys must be declared (required or optional) and every required one given.
/// Keys are listed sorted, in Go's `%v` form of a string slice (`[a b]`).
fn check_meta(
    required: &[String],
    optional: &[String],
    req: &JobDispatchRequest,
) -> Result<(), RpcError> {
    let unpermitted: Vec<&str> = req
        .meta
        .keys()
        .filter(|k| !required.contains(k) && !optional.contains(k))
        .map(String::as_str)
        .collect();
    if !unpermitted.is_empty() {
        return Err(RpcError::bad_request(format!(
            "Dispatch request included unpermitted metadata keys: [{}]",
            unpermitted.join(" ")
        )));
    }
    let mut missing: Vec<&str> = required
        .iter()
        .filter(|k| !req.meta.contains_key(*k))
        .map(String::as_str)
        .collect();
    missing.sort_unstable();
    if !missing.is_empty() {
        return Err(RpcError::bad_request(format!(
            "Dispatch did not provide required meta keys: [{}]",
            missing.join(" ")
        )));
    }
    Ok(())
}
