//! Job lifecycle: register, stop/purge, revert, stability, scale, force evaluation and
//! validation (Nomad's `Job.*` RPCs).

use super::{new_eval, runs_itself, RpcError};
use super::{
    JobDeregisterResponse, JobRegisterRequest, JobRegisterResponse, JobScaleStatusResponse,
    JobValidateResponse, ScalingRequest, TaskGroupScaleStatus,
};
use crate::server::state::{Command, JobSubmission};
use crate::server::Server;
use crate::structs::{
    Job, ALLOC_CLIENT_RUNNING, JOB_TYPE_SYSTEM, TRIGGER_JOB_DEREGISTER, TRIGGER_JOB_REGISTER,
    TRIGGER_JOB_SCALING,
};

/// Nomad's prefix for `EnforceIndex` failures (the CLI matches on it).
const ENFORCE_PREFIX: &str = "Enforcing job modify index";

/// The only namespace drover has.
const DEFAULT_NAMESPACE: &str = "default";

impl Server {
    pub fn register(&self, req: JobRegisterRequest) -> Result<JobRegisterResponse, RpcError> {
        let JobRegisterRequest {
            job,
            enforce_index,
            job_modify_index,
            preserve_counts,
            eval_priority,
            submission,
            ..
        } = req;
        let mut job = admit(job)?;
        let existing = self.state.snapshot().job(&job.namespace, &job.id);
        if enforce_index {
            check_index(existing.as_deref(), job_modify_index)?;
        }
        check_transition(existing.as_deref(), &job)?;
        if let (true, Some(old)) = (preserve_counts, existing.as_deref()) {
            for group in &mut job.task_groups {
                if let Some(prev) = old.task_groups.iter().find(|g| g.name == group.name) {
                    group.count = prev.count;
                }
            }
        }
        self.register_job(job, eval_priority, TRIGGER_JOB_REGISTER, submission)
    }

    /// Stores `job` (a new version when its spec changed) with an evaluation unless it
    /// is a periodic or parameterized parent. The reply's `JobModifyIndex` is the stored
    /// job's, which stays put when nothing changed.
    pub(crate) fn register_job(
        &self,
        job: Job,
        eval_priority: i64,
        triggered_by: &str,
        submission: Option<JobSubmission>,
    ) -> Result<JobRegisterResponse, RpcError> {
        let eval = runs_itself(&job).then(|| {
            let mut eval = new_eval(&job, triggered_by);
            if eval_priority > 0 {
                eval.priority = eval_priority;
            }
            eval
        });
        let eval_id = eval.as_ref().map(|e| e.id.clone()).unwrap_or_default();
        let (namespace, id) = (job.namespace.clone(), job.id.clone());
        let index = self.apply(Command::JobRegister {
            job: Box::new(job),
            eval: eval.map(Box::new),
            submission,
        })?;
        let job_modify_index = self
            .state
            .snapshot()
            .job(&namespace, &id)
            .map_or(index, |j| j.job_modify_index);
        Ok(JobRegisterResponse {
            eval_create_index: if eval_id.is_empty() { 0 } else { index },
            eval_id,
            job_modify_index,
            warnings: String::new(),
            index,
        })
    }

    /// Stops a job (a new version with `Stop = true`) or, with `purge`, deletes it.
    pub fn deregister(
        &self,
        namespace: &str,
        job_id: &str,
        purge: bool,
        eval_priority: Option<i64>,
    ) -> Result<JobDeregisterResponse, RpcError> {
        let job = self.existing_job(namespace, job_id)?;
        let eval = runs_itself(&job).then(|| {
            let mut eval = new_eval(&job, TRIGGER_JOB_DEREGISTER);
            if let Some(p) = eval_priority.filter(|p| *p > 0) {
                eval.priority = p;
            }
            eval
        });
        let eval_id = eval.as_ref().map(|e| e.id.clone()).unwrap_or_default();
        let index = self.apply(Command::JobDeregister {
            namespace: namespace.into(),
            job_id: job_id.into(),
            purge,
            eval: eval.map(Box::new),
        })?;
        Ok(JobDeregisterResponse {
            eval_create_index: if eval_id.is_empty() { 0 } else { index },
            eval_id,
            job_modify_index: index,
            index,
        })
    }

    /// Registers an earlier version's spec again, as a new version.
    pub fn revert(
        &self,
        namespace: &str,
        job_id: &str,
        version: u64,
        enforce_prior_version: Option<u64>,
    ) -> Result<JobRegisterResponse, RpcError> {
        let snap = self.state.snapshot();
        let current = snap
            .job(namespace, job_id)
            .ok_or_else(|| RpcError::not_found(format!("job {job_id:?} not found")))?;
        if current.version == version {
            return Err(RpcError::bad_request("can't revert to current version"));
        }
        let old = snap
            .job_version(namespace, job_id, version)
            .ok_or_else(|| version_not_found(namespace, job_id, version))?;
        if let Some(prior) = enforce_prior_version {
            if prior != current.version {
                return Err(RpcError::bad_request(format!(
                    "Current job has version {}; enforcing version {prior}",
                    current.version
                )));
            }
        }
        let mut job = (*old).clone();
        job.stable = false;
        self.register_job(job, 0, TRIGGER_JOB_REGISTER, None)
    }

    pub fn set_stable(
        &self,
        namespace: &str,
        job_id: &str,
        version: u64,
        stable: bool,
    ) -> Result<u64, RpcError> {
        if self
            .state
            .snapshot()
            .job_version(namespace, job_id, version)
            .is_none()
        {
            return Err(version_not_found(namespace, job_id, version));
        }
        Ok(self.apply(Command::JobStability {
            namespace: namespace.into(),
            job_id: job_id.into(),
            version,
            stable,
        })?)
    }

    /// Changes one group's count: a new job version and a `job-scaling` evaluation.
    pub fn scale(
        &self,
        namespace: &str,
        job_id: &str,
        req: ScalingRequest,
    ) -> Result<JobRegisterResponse, RpcError> {
        let group_name = req.target.get("Group").cloned().unwrap_or_default();
        if group_name.is_empty() {
            return Err(RpcError::bad_request(
                "missing task group name for scaling action",
            ));
        }
        if let Some(count) = req.count {
            if count < 0 {
                return Err(RpcError::bad_request(
                    "scaling action count can't be negative",
                ));
            }
            if req.error {
                return Err(RpcError::bad_request(
                    "scaling action should not contain count if error is true",
                ));
            }
        }
        let snap = self.state.snapshot();
        let current = snap
            .job(namespace, job_id)
            .ok_or_else(|| RpcError::not_found(format!("job {job_id:?} not found")))?;
        let mut job = (*current).clone();
        if job.job_type == JOB_TYPE_SYSTEM && req.count.is_some_and(|c| c > 1) {
            return Err(RpcError::bad_request(
                "jobs of type \"system\" can only be scaled between 0 and 1",
            ));
        }
        let Some(group) = job.task_groups.iter_mut().find(|g| g.name == group_name) else {
            return Err(RpcError::bad_request(format!(
                "task group {group_name:?} specified for scaling does not exist in job"
            )));
        };
        let Some(count) = req.count else {
            // An event without a count changes nothing in the job.
            return Ok(JobRegisterResponse {
                job_modify_index: current.modify_index,
                index: snap.index,
                ..Default::default()
            });
        };
        if let Some(scaling) = &group.scaling {
            if let Some(min) = scaling.min.filter(|min| count < *min) {
                return Err(RpcError::bad_request(format!(
                    "group count was less than scaling policy minimum: {count} < {min}"
                )));
            }
            if let Some(max) = scaling.max.filter(|max| count > *max) {
                return Err(RpcError::bad_request(format!(
                    "group count was greater than scaling policy maximum: {count} > {max}"
                )));
            }
        }
        group.count = Some(count);
        if snap
            .latest_deployment(namespace, job_id)
            .is_some_and(|d| d.active() && d.job_create_index == current.create_index)
        {
            return Err(RpcError::bad_request(
                "job scaling blocked due to active deployment",
            ));
        }
        if (req.enforce_index || req.job_modify_index > 0)
            && req.job_modify_index != current.job_modify_index
        {
            return Err(RpcError::bad_request(format!(
                "{ENFORCE_PREFIX} {}: job exists with conflicting job modify index: {}",
                req.job_modify_index, current.job_modify_index
            )));
        }
        self.register_job(job, 0, TRIGGER_JOB_SCALING, None)
    }

    pub fn scale_status(
        &self,
        namespace: &str,
        job_id: &str,
    ) -> Result<JobScaleStatusResponse, RpcError> {
        let snap = self.state.snapshot();
        let job = snap
            .job(namespace, job_id)
            .ok_or_else(|| RpcError::not_found("job not found"))?;
        let mut groups: std::collections::BTreeMap<String, TaskGroupScaleStatus> = job
            .task_groups
            .iter()
            .map(|g| {
                let status = TaskGroupScaleStatus {
                    desired: g.count.unwrap_or_default(),
                    ..Default::default()
                };
                (g.name.clone(), status)
            })
            .collect();
        for alloc in snap.job_allocs(namespace, job_id) {
            // Canaries are not counted (Nomad: not yet decided what they should count as).
            if alloc.is_canary() || alloc.terminal() {
                continue;
            }
            let Some(g) = groups.get_mut(&alloc.task_group) else {
                continue;
            };
            g.placed += 1;
            if alloc.client_status == ALLOC_CLIENT_RUNNING {
                g.running += 1;
            }
            match alloc.deployment_status.as_ref().and_then(|s| s.healthy) {
                Some(true) => g.healthy += 1,
                Some(false) => g.unhealthy += 1,
                None => {}
            }
        }
        Ok(JobScaleStatusResponse {
            job_id: job.id.clone(),
            namespace: job.namespace.clone(),
            job_create_index: job.create_index,
            job_modify_index: job.modify_index,
            job_stopped: job.stop,
            task_groups: groups,
        })
    }

    /// Forces an evaluation of the job (`job eval`).
    pub fn evaluate(
        &self,
        namespace: &str,
        job_id: &str,
        force_reschedule: bool,
    ) -> Result<JobRegisterResponse, RpcError> {
        // Forced rescheduling of failed allocations needs a desired-transition field
        // the state does not carry yet; the evaluation alone still reschedules what
        // the policy allows.
        let _ = force_reschedule;
        let job = self.existing_job(namespace, job_id)?;
        if job.periodic.is_some() {
            return Err(RpcError::bad_request("can't evaluate periodic job"));
        }
        if !runs_itself(&job) {
            return Err(RpcError::bad_request("can't evaluate parameterized job"));
        }
        let mut eval = new_eval(&job, TRIGGER_JOB_REGISTER);
        eval.job_modify_index = job.modify_index;
        let eval_id = eval.id.clone();
        let index = self.apply(Command::EvalUpsert { evals: vec![eval] })?;
        Ok(JobRegisterResponse {
            eval_id,
            eval_create_index: index,
            job_modify_index: job.modify_index,
            warnings: String::new(),
            index,
        })
    }

    /// `job validate` against the server: the job's defaults filled in, every problem.
    pub fn validate_job(&self, job: Job) -> JobValidateResponse {
        let mut out = JobValidateResponse {
            driver_config_validated: true,
            ..Default::default()
        };
        if let Err(e) = admit(job) {
            out.validation_errors = e.message.lines().filter_map(error_line).collect();
            if out.validation_errors.is_empty() {
                out.validation_errors.push(e.message.clone());
            }
            out.error = e.message;
        }
        out
    }
}

/// One `\t* error` line of a multi-error text.
fn error_line(line: &str) -> Option<String> {
    line.strip_prefix("\t* ").map(str::to_string)
}

/// Nomad's admission: defaults, validation, and the namespace (only `default` exists).
pub(crate) fn admit(mut job: Job) -> Result<Job, RpcError> {
    job.canonicalize();
    let mut errs = job.validate().err().unwrap_or_default();
    if let Some(periodic) = &job.periodic {
        errs.0.extend(crate::server::periodic::validate(periodic));
    }
    if !errs.is_empty() {
        return Err(RpcError::bad_request(errs.to_string()));
    }
    if job.namespace != DEFAULT_NAMESPACE {
        return Err(RpcError::bad_request(format!(
            "job {:?} is in nonexistent namespace {:?}",
            job.id, job.namespace
        )));
    }
    Ok(job)
}

/// `EnforceIndex`: 0 means "only if the job does not exist".
fn check_index(existing: Option<&Job>, index: u64) -> Result<(), RpcError> {
    let msg = match existing {
        Some(_) if index == 0 => format!("{ENFORCE_PREFIX} 0: job already exists"),
        Some(job) if job.job_modify_index != index => format!(
            "{ENFORCE_PREFIX} {index}: job exists with conflicting job modify index: {}",
            job.job_modify_index
        ),
        None if index != 0 => format!("{ENFORCE_PREFIX} {index}: job does not exist"),
        _ => return Ok(()),
    };
    Err(RpcError::bad_request(msg))
}

/// Changes a job may not make between versions.
fn check_transition(old: Option<&Job>, new: &Job) -> Result<(), RpcError> {
    let Some(old) = old else {
        if new.dispatched {
            return Err(RpcError::bad_request(
                "job can't be submitted with 'Dispatched' set",
            ));
        }
        return Ok(());
    };
    let msg = if old.job_type != new.job_type {
        format!(
            "cannot update job from type {:?} to {:?}",
            old.job_type, new.job_type
        )
    } else if old.periodic.is_some() != new.periodic.is_some() {
        if old.periodic.is_some() {
            "cannot update periodic job to being non-periodic".into()
        } else {
            "cannot update non-periodic job to being periodic".into()
        }
    } else if old.parameterized_job.is_some() != new.parameterized_job.is_some() {
        if old.parameterized_job.is_some() {
            "cannot update parameterized job to being non-parameterized".into()
        } else {
            "cannot update non-parameterized job to being parameterized".into()
        }
    } else if old.dispatched != new.dispatched {
        "field 'Dispatched' is read-only".into()
    } else {
        return Ok(());
    };
    Err(RpcError::bad_request(msg))
}

fn version_not_found(namespace: &str, job_id: &str, version: u64) -> RpcError {
    RpcError::not_found(format!(
        "job {job_id:?} in namespace {namespace:?} at version {version} not found"
    ))
}
