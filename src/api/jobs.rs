//! `/v1/jobs` and `/v1/job/:id/...`: routing by suffix and the reads. The writes are in
//! `jobs_write.rs`.

use std::collections::BTreeMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::blocking::{blocking, paginate, QueryOptions};
use super::error::ApiError;
use super::events::alloc_stub;
use super::jobs_write;
use super::{Api, ApiResult, ApiState, Reply, Req};
use crate::server::state::{JobSummary, Tables};
use crate::structs::diff::{job_diff_plain, JobDiff};
use crate::structs::{Job, JOB_TYPE_SYSTEM};

pub use super::jobs_write::{parse, validate};

const JOB_NOT_FOUND: &str = "job not found";

/// `GET /v1/jobs` entries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobListStub {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "ParentID")]
    pub parent_id: String,
    pub name: String,
    pub namespace: String,
    pub datacenters: Vec<String>,
    pub node_pool: String,
    /// Always null: drover has one region.
    pub multiregion: Option<serde_json::Value>,
    #[serde(rename = "Type")]
    pub job_type: String,
    pub priority: i64,
    pub periodic: bool,
    pub parameterized_job: bool,
    pub stop: bool,
    pub status: String,
    pub status_description: String,
    pub job_summary: Option<JobSummary>,
    pub create_index: u64,
    pub modify_index: u64,
    pub job_modify_index: u64,
    pub submit_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<BTreeMap<String, String>>,
}

/// `GET /v1/job/:id/versions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobVersionsResponse {
    pub versions: Vec<Job>,
    pub diffs: Option<Vec<JobDiff>>,
    pub index: u64,
    pub last_contact: u64,
    pub known_leader: bool,
    pub next_token: String,
}

pub fn job_stub(t: &Tables, job: &Job, with_meta: bool) -> JobListStub {
    JobListStub {
        id: job.id.clone(),
        parent_id: job.parent_id.clone(),
        name: job.name.clone(),
        namespace: job.namespace.clone(),
        datacenters: job.datacenters.clone(),
        node_pool: job.node_pool.clone(),
        multiregion: None,
        job_type: job.job_type.clone(),
        priority: job.priority,
        periodic: job.periodic.is_some(),
        parameterized_job: job.parameterized_job.is_some(),
        stop: job.stop,
        status: t.job_status(job).to_string(),
        status_description: job.status_description.clone(),
        job_summary: t.job_summary(&job.namespace, &job.id),
        create_index: job.create_index,
        modify_index: job.modify_index,
        job_modify_index: job.job_modify_index,
        submit_time: job.submit_time,
        meta: with_meta.then(|| job.meta.clone()),
    }
}

/// A job's computed status and summary depend on its allocations, evaluations and
/// deployments too: a blocking read of jobs wakes on any of them.
pub fn job_status_index(t: &Tables) -> u64 {
    let i = t.table_index;
    i.jobs.max(i.allocs).max(i.evals).max(i.deployments)
}

/// `/v1/jobs`: list (GET) or register (PUT/POST).
pub async fn jobs(State(api): ApiState, req: Req) -> ApiResult {
    if req.is_get() {
        list(&api, &req).await
    } else if req.is_write() {
        jobs_write::register(&api, &req, None).await
    } else {
        Err(ApiError::invalid_method())
    }
}

async fn list(api: &Api, req: &Req) -> ApiResult {
    let opts = QueryOptions::parse(req)?;
    let with_meta = req.flag("meta")?;
    let (stubs, index) = blocking(&api.server.state, &opts, |t| {
        let stubs: Vec<JobListStub> = t
            .jobs
            .values()
            .filter(|j| opts.in_namespace(&j.namespace) && j.id.starts_with(&opts.prefix))
            .map(|j| job_stub(t, j, with_meta))
            .collect();
        (stubs, job_status_index(t))
    })
    .await;
    let (page, next) = paginate(stubs, &opts, |s| s.id.clone());
    Ok(Reply::json(req, &page)?.read(index).next_token(next))
}

/// The suffixes Nomad recognises after `/v1/job/<id>`, in its order of checking.
const SUFFIXES: &[&str] = &[
    "/evaluate",
    "/allocations",
    "/evaluations",
    "/periodic/force",
    "/plan",
    "/summary",
    "/dispatch",
    "/dispatch/payload",
    "/versions",
    "/revert",
    "/deployments",
    "/deployment",
    "/stable",
    "/scale",
    "/services",
    "/submission",
];

/// Splits `<id><suffix>` into the job ID and the known suffix ("" for the job itself).
pub fn split_job_path(path: &str) -> (&str, &str) {
    for suffix in SUFFIXES {
        if let Some(id) = path.strip_suffix(suffix) {
            return (id, suffix);
        }
    }
    (path, "")
}

/// `/v1/job/:id[/...]`.
pub async fn job_specific(State(api): ApiState, req: Req) -> ApiResult {
    let path = req.path.strip_prefix("/v1/job/").unwrap_or_default();
    let (id, suffix) = split_job_path(path);
    let id = id.to_string();
    let ns = req.namespace();
    match suffix {
        "/evaluate" => jobs_write::evaluate(&api, &req, &ns, &id).await,
        "/allocations" => allocations(&api, &req, &ns, &id).await,
        "/evaluations" => evaluations(&api, &req, &ns, &id).await,
        "/periodic/force" => jobs_write::periodic_force(&api, &req, &ns, &id).await,
        "/plan" => jobs_write::plan(&api, &req, &id).await,
        "/summary" => summary(&api, &req, &ns, &id).await,
        "/dispatch" => jobs_write::dispatch(&api, &req, &ns, &id).await,
        "/dispatch/payload" => jobs_write::dispatch_payload(&api, &req, &ns, &id).await,
        "/versions" => versions(&api, &req, &ns, &id).await,
        "/revert" => jobs_write::revert(&api, &req, &ns, &id).await,
        "/deployments" => deployments(&api, &req, &ns, &id).await,
        "/deployment" => latest_deployment(&api, &req, &ns, &id).await,
        "/stable" => jobs_write::stable(&api, &req, &ns, &id).await,
        "/scale" if req.is_get() => scale_status(&api, &req, &ns, &id).await,
        "/scale" => jobs_write::scale(&api, &req, &ns, &id).await,
        "/services" => {
            req.require_get()?;
            Reply::json(&req, &Vec::<()>::new())
        }
        "/submission" => submission(&api, &req, &ns, &id).await,
        _ if req.is_get() => get_job(&api, &req, &ns, &id).await,
        _ if req.is_write() => jobs_write::register(&api, &req, Some(&id)).await,
        _ if req.method == axum::http::Method::DELETE => {
            jobs_write::deregister(&api, &req, &ns, &id).await
        }
        _ => Err(ApiError::invalid_method()),
    }
}

async fn get_job(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    let opts = QueryOptions::parse(req)?;
    let (job, index) = blocking(&api.server.state, &opts, |t| {
        (t.job_with_status(ns, id), job_status_index(t))
    })
    .await;
    match job {
        Some(job) => Ok(Reply::json(req, &job)?.read(index)),
        None => Err(ApiError::not_found(JOB_NOT_FOUND).with_index(index)),
    }
}

async fn allocations(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(req)?;
    let all = req.flag("all")?;
    let (stubs, index) = blocking(&api.server.state, &opts, |t| {
        // Without `all`, allocations of an earlier job of the same ID are left out.
        let current = t.job(ns, id).map(|j| j.create_index);
        let stubs: Vec<_> = t
            .job_allocs(ns, id)
            .iter()
            .filter(|a| {
                all || current.is_none() || a.job.as_ref().map(|j| j.create_index) == current
            })
            .map(|a| alloc_stub(a))
            .collect();
        (stubs, t.table_index.allocs)
    })
    .await;
    Ok(Reply::json(req, &stubs)?.read(index))
}

async fn evaluations(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(req)?;
    let (evals, index) = blocking(&api.server.state, &opts, |t| {
        (t.job_evals(ns, id), t.table_index.evals)
    })
    .await;
    Ok(Reply::json(req, &evals)?.read(index))
}

async fn summary(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(req)?;
    let (summary, index) = blocking(&api.server.state, &opts, |t| {
        let summary = t.job_summary(ns, id);
        let index = summary
            .as_ref()
            .map_or(t.table_index.jobs, |s| s.modify_index);
        (summary, index)
    })
    .await;
    match summary {
        Some(s) => Ok(Reply::json(req, &s)?.read(index)),
        None => Err(ApiError::not_found(JOB_NOT_FOUND).with_index(index)),
    }
}

async fn versions(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(req)?;
    let diffs = req.flag("diffs")?;
    let diff_version = req.u64_param("diff_version")?;
    if req.param("diff_tag").is_some_and(|t| !t.is_empty()) {
        return Err(ApiError::bad_request("version tags are not supported yet"));
    }
    let (found, index) = blocking(&api.server.state, &opts, |t| {
        let versions = t.job_versions(ns, id);
        let index = versions
            .iter()
            .map(|j| j.modify_index)
            .max()
            .unwrap_or(t.table_index.jobs);
        let status = t.job(ns, id).map(|j| t.job_status(&j).to_string());
        let versions: Vec<Job> = versions
            .iter()
            .map(|j| {
                let mut j = (**j).clone();
                j.status = status.clone().unwrap_or_default();
                j
            })
            .collect();
        (versions, index)
    })
    .await;
    if found.is_empty() {
        return Err(ApiError::not_found("job versions not found").with_index(index));
    }
    let diffs = if diffs || diff_version.is_some() {
        Some(version_diffs(&found, diff_version)?)
    } else {
        None
    };
    let body = JobVersionsResponse {
        versions: found,
        diffs,
        index,
        last_contact: 0,
        known_leader: true,
        next_token: String::new(),
    };
    Ok(Reply::json(req, &body)?.read(index))
}

/// Each version against the one before it (newest first), or all against one version.
fn version_diffs(versions: &[Job], against: Option<u64>) -> Result<Vec<JobDiff>, ApiError> {
    if let Some(v) = against {
        let old = versions
            .iter()
            .find(|j| j.version == v)
            .ok_or_else(|| ApiError::internal(format!("version {v} not found")))?;
        return Ok(versions
            .iter()
            .map(|new| job_diff_plain(Some(old), new, true))
            .collect());
    }
    Ok(versions
        .windows(2)
        .map(|pair| job_diff_plain(Some(&pair[1]), &pair[0], true))
        .collect())
}

async fn deployments(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(req)?;
    let all = req.flag("all")?;
    let (list, index) = blocking(&api.server.state, &opts, |t| {
        let current = t.job(ns, id).map(|j| j.create_index);
        let list: Vec<_> = t
            .job_deployments(ns, id)
            .into_iter()
            .filter(|d| all || current.is_none() || Some(d.job_create_index) == current)
            .collect();
        (list, t.table_index.deployments)
    })
    .await;
    Ok(Reply::json(req, &list)?.read(index))
}

async fn latest_deployment(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    req.require_get()?;
    let opts = QueryOptions::parse(req)?;
    let (latest, index) = blocking(&api.server.state, &opts, |t| {
        (t.latest_deployment(ns, id), t.table_index.deployments)
    })
    .await;
    Ok(Reply::json(req, &latest)?.read(index))
}

async fn scale_status(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    let index = api.server.state.snapshot().table_index.jobs;
    let status = api.server.scale_status(ns, id)?;
    Ok(Reply::json(req, &status)?.read(index))
}

async fn submission(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    let version = req
        .param("version")
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| ApiError::bad_request("Unable to parse job submission version parameter"))?;
    req.require_get()?;
    let opts = QueryOptions::parse(req)?;
    let (found, index) = blocking(&api.server.state, &opts, |t| {
        let key = (ns.to_string(), id.to_string(), version);
        (t.job_submissions.get(&key).cloned(), t.table_index.jobs)
    })
    .await;
    match found {
        Some(sub) => Ok(Reply::json(req, &sub)?.read(index)),
        None => Err(ApiError::not_found("job source not found").with_index(index)),
    }
}

/// System jobs cannot scale (Nomad refuses their `scaling` blocks at the HTTP layer).
pub fn check_system_scaling(job: &Job) -> Result<(), ApiError> {
    if job.job_type == JOB_TYPE_SYSTEM && job.task_groups.iter().any(|g| g.scaling.is_some()) {
        return Err(ApiError::bad_request(
            "Task groups with job type system do not support scaling blocks",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_paths_split_like_nomad() {
        let cases = [
            ("example", ("example", "")),
            ("example/allocations", ("example", "/allocations")),
            (
                "batch/dispatch-1-abc/allocations",
                ("batch/dispatch-1-abc", "/allocations"),
            ),
            ("batch/dispatch-1-abc", ("batch/dispatch-1-abc", "")),
            ("example/deployments", ("example", "/deployments")),
            ("example/deployment", ("example", "/deployment")),
            ("example/dispatch/payload", ("example", "/dispatch/payload")),
            ("example/periodic/force", ("example", "/periodic/force")),
        ];
        for (path, want) in cases {
            assert_eq!(split_job_path(path), want, "{path}");
        }
    }

    #[test]
    fn version_diffs_pair_each_with_the_one_before() {
        let v = |version: u64, priority: i64| Job {
            id: "example".into(),
            version,
            priority,
            ..Default::default()
        };
        let versions = vec![v(2, 70), v(1, 60), v(0, 50)];
        let diffs = version_diffs(&versions, None).unwrap();
        assert_eq!(diffs.len(), 2);
        assert!(diffs[0]
            .fields
            .iter()
            .any(|f| f.name == "Priority" && f.old == "60" && f.new == "70"));
        let against = version_diffs(&versions, Some(0)).unwrap();
        assert_eq!(against.len(), 3);
        assert_eq!(version_diffs(&versions, Some(9)).unwrap_err().code, 500);
    }
}
