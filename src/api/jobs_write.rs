//! The job writes: register, stop, plan, revert, stability, scale, evaluate, dispatch,
//! plus the server-side parse and validate of job files. Request checks and their texts
//! are Nomad's HTTP layer's; everything else is the server endpoint's.

use axum::extract::State;
use base64::Engine;
use serde::Deserialize;

use super::error::ApiError;
use super::jobs::check_system_scaling;
use super::request::decode_value;
use super::{Api, ApiResult, ApiState, Reply, Req};
use crate::jobspec::{self, ParseOptions};
use crate::server::endpoints::{
    JobDispatchRequest, JobPlanRequest, JobRegisterRequest, ScalingRequest,
};

/// The body's `Job.ID`, with Nomad's texts for a missing job or ID.
fn body_job_id(value: &serde_json::Value, missing_id: &str) -> Result<String, ApiError> {
    let job = value
        .get("Job")
        .filter(|j| j.is_object())
        .ok_or_else(|| ApiError::bad_request("Job must be specified"))?;
    job.get("ID")
        .and_then(|id| id.as_str())
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request(missing_id))
}

fn check_eval_priority(priority: i64) -> Result<(), ApiError> {
    if priority != 0 && !(1..=100).contains(&priority) {
        return Err(ApiError::bad_request(
            "Eval priority must be between 1 and 100 inclusively",
        ));
    }
    Ok(())
}

/// `PUT /v1/jobs`, `PUT /v1/job/:id`.
pub async fn register(api: &Api, req: &Req, url_id: Option<&str>) -> ApiResult {
    let value = req.json_value()?;
    let id = body_job_id(&value, "Job ID hasn't been provided")?;
    if url_id.is_some_and(|u| u != id) {
        return Err(ApiError::bad_request("Job ID does not match name"));
    }
    let mut body: JobRegisterRequest = decode_value(value)?;
    check_system_scaling(&body.job)?;
    check_eval_priority(body.eval_priority)?;
    if body.job.namespace.is_empty() {
        body.job.namespace = req.namespace();
    }
    let resp = api.write(move |s| s.register(body)).await?;
    Ok(Reply::json(req, &resp)?.index(resp.index))
}

/// `DELETE /v1/job/:id?purge=&eval_priority=`.
pub async fn deregister(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    let purge = req.flag("purge")?;
    // `global` only matters with several regions; `no_shutdown_delay` has no effect yet.
    req.bool_param("global")?;
    req.bool_param("no_shutdown_delay")?;
    let priority = req.i64_param("eval_priority")?.filter(|p| *p > 0);
    if let Some(p) = priority {
        check_eval_priority(p)?;
    }
    let (ns, id) = (ns.to_string(), id.to_string());
    let resp = api
        .write(move |s| s.deregister(&ns, &id, purge, priority))
        .await?;
    Ok(Reply::json(req, &resp)?.index(resp.index))
}

/// `PUT /v1/job/:id/plan`: a dry run.
pub async fn plan(api: &Api, req: &Req, url_id: &str) -> ApiResult {
    req.require_write()?;
    let value = req.json_value()?;
    let id = body_job_id(&value, "Job must have a valid ID")?;
    if !url_id.is_empty() && id != url_id {
        return Err(ApiError::bad_request("Job ID does not match"));
    }
    let mut body: JobPlanRequest = decode_value(value)?;
    if body.job.namespace.is_empty() {
        body.job.namespace = req.namespace();
    }
    let resp = api.write(move |s| s.plan(body)).await?;
    Ok(Reply::json(req, &resp)?.index(resp.index))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EvaluateRequest {
    #[serde(rename = "JobID")]
    job_id: String,
    eval_options: EvalOptions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EvalOptions {
    force_reschedule: bool,
}

/// `PUT /v1/job/:id/evaluate` (an empty body is allowed, as in Nomad).
pub async fn evaluate(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    req.require_write()?;
    let force = if req.body.is_empty() {
        false
    } else {
        let body: EvaluateRequest = req.json_body()?;
        if body.job_id.is_empty() {
            return Err(ApiError::bad_request("Job ID must be specified"));
        }
        if body.job_id != id {
            return Err(ApiError::bad_request("JobID not same as job name"));
        }
        body.eval_options.force_reschedule
    };
    let (ns, id) = (ns.to_string(), id.to_string());
    let resp = api.write(move |s| s.evaluate(&ns, &id, force)).await?;
    Ok(Reply::json(req, &resp)?.index(resp.index))
}

/// The body's `JobID` must be the URL's when it is given.
fn check_body_job_id(value: &serde_json::Value, id: &str, required: bool) -> Result<(), ApiError> {
    match value.get("JobID").and_then(|v| v.as_str()) {
        Some(body_id) if !body_id.is_empty() && body_id != id => {
            Err(ApiError::bad_request("Job ID does not match"))
        }
        None | Some("") if required => Err(ApiError::bad_request("JobID must be specified")),
        _ => Ok(()),
    }
}

/// `PUT /v1/job/:id/dispatch`.
pub async fn dispatch(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    req.require_write()?;
    let value = req.json_value()?;
    check_body_job_id(&value, id, false)?;
    let body: JobDispatchRequest = decode_value(value)?;
    let (ns, id) = (ns.to_string(), id.to_string());
    let resp = api.write(move |s| s.dispatch(&ns, &id, body)).await?;
    Ok(Reply::json(req, &resp)?.index(resp.index))
}

/// `PUT /v1/job/:id/dispatch/payload`: the raw body is the payload.
pub async fn dispatch_payload(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    req.require_write()?;
    let body = JobDispatchRequest {
        payload: (!req.body.is_empty())
            .then(|| base64::engine::general_purpose::STANDARD.encode(&req.body)),
        ..Default::default()
    };
    let (ns, id) = (ns.to_string(), id.to_string());
    let resp = api.write(move |s| s.dispatch(&ns, &id, body)).await?;
    Ok(Reply::json(req, &resp)?.index(resp.index))
}

/// `PUT /v1/job/:id/periodic/force`: launch a child of a periodic job now.
pub async fn periodic_force(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    req.require_write()?;
    let (ns, id) = (ns.to_string(), id.to_string());
    let resp = api.write(move |s| s.periodic_force(&ns, &id)).await?;
    Ok(Reply::json(req, &resp)?.index(resp.index))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct RevertRequest {
    job_version: u64,
    enforce_prior_version: Option<u64>,
}

/// `PUT /v1/job/:id/revert`.
pub async fn revert(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    req.require_write()?;
    let value = req.json_value()?;
    check_body_job_id(&value, id, true)?;
    let body: RevertRequest = decode_value(value)?;
    let (ns, id) = (ns.to_string(), id.to_string());
    let resp = api
        .write(move |s| s.revert(&ns, &id, body.job_version, body.enforce_prior_version))
        .await?;
    Ok(Reply::json(req, &resp)?.index(resp.index))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StableRequest {
    job_version: u64,
    stable: bool,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct IndexResponse {
    index: u64,
}

/// `PUT /v1/job/:id/stable`.
pub async fn stable(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    req.require_write()?;
    let value = req.json_value()?;
    check_body_job_id(&value, id, true)?;
    let body: StableRequest = decode_value(value)?;
    let (ns, id) = (ns.to_string(), id.to_string());
    let index = api
        .write(move |s| s.set_stable(&ns, &id, body.job_version, body.stable))
        .await?;
    Ok(Reply::json(req, &IndexResponse { index })?.index(index))
}

/// `PUT /v1/job/:id/scale`.
pub async fn scale(api: &Api, req: &Req, ns: &str, id: &str) -> ApiResult {
    req.require_write()?;
    let body: ScalingRequest = req.json_body()?;
    if body
        .target
        .get("Job")
        .is_some_and(|j| !j.is_empty() && j != id)
    {
        return Err(ApiError::bad_request("job ID in payload did not match URL"));
    }
    let (ns, id) = (ns.to_string(), id.to_string());
    let resp = api.write(move |s| s.scale(&ns, &id, body)).await?;
    Ok(Reply::json(req, &resp)?.index(resp.index))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ValidateRequest {
    job: Option<crate::structs::Job>,
}

/// `PUT /v1/validate/job`.
pub async fn validate(State(api): ApiState, req: Req) -> ApiResult {
    req.require_write()?;
    let body: ValidateRequest = req.json_body()?;
    let job = body
        .job
        .ok_or_else(|| ApiError::bad_request("Job must be specified"))?;
    let resp = api.server.validate_job(job);
    Reply::json(&req, &resp)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ParseRequest {
    #[serde(rename = "JobHCL")]
    job_hcl: String,
    /// The contents of a variables file.
    variables: String,
    canonicalize: bool,
}

/// `PUT /v1/jobs/parse`: HCL (or JSON) text to the API's job JSON.
pub async fn parse(State(_api): ApiState, req: Req) -> ApiResult {
    req.require_write()?;
    let body: ParseRequest = req.json_body()?;
    if body.job_hcl.trim().is_empty() {
        return Err(ApiError::bad_request("Job spec is empty"));
    }
    let canonicalize = body.canonicalize;
    let mut job = tokio::task::spawn_blocking(move || parse_job(&body.job_hcl, &body.variables))
        .await
        .map_err(|e| ApiError::internal(format!("parse task failed: {e}")))??;
    if canonicalize {
        job.canonicalize();
    }
    Reply::json(&req, &job)
}

/// Filesystem functions a job file could use to read the server's files.
const FS_FUNCTIONS: &[&str] = &["file", "fileexists"];

/// Parses as Nomad's server does: no filesystem access, undeclared variables ignored.
fn parse_job(text: &str, variables: &str) -> Result<crate::structs::Job, ApiError> {
    let failed = |m: String| ApiError::bad_request(format!("Failed to parse job: {m}"));
    if let Some(f) = calls_any(text, FS_FUNCTIONS) {
        return Err(failed(format!(
            "input.hcl: function {f}() reads files and is not available when the server parses a job"
        )));
    }
    let scratch = std::env::temp_dir().join(format!("drover-parse-{}", uuid::Uuid::new_v4()));
    let mut opts = ParseOptions {
        strict: false,
        ..Default::default()
    };
    if !variables.trim().is_empty() {
        std::fs::create_dir_all(&scratch)
            .and_then(|_| std::fs::write(scratch.join("variables.hcl"), variables))
            .map_err(|e| ApiError::internal(format!("writing variables: {e}")))?;
        opts.var_files.push(scratch.join("variables.hcl"));
    }
    let result = jobspec::parse_str("input.hcl", text, &scratch, &opts);
    let _ = std::fs::remove_dir_all(&scratch);
    result.map_err(|e| failed(e.to_string()))
}

/// The first of `names` called as a function in `text` (`name(`, maybe with spaces).
fn calls_any<'a>(text: &str, names: &[&'a str]) -> Option<&'a str> {
    let bytes = text.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    for name in names {
        let mut from = 0;
        while let Some(at) = text[from..].find(name) {
            let start = from + at;
            let end = start + name.len();
            from = end;
            if start > 0 && ident(bytes[start - 1]) {
                continue;
            }
            let rest = text[end..].trim_start();
            if rest.starts_with('(') && !(end < bytes.len() && ident(bytes[end])) {
                return Some(name);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_functions_are_found() {
        let cases = [
            (r#"x = file("/etc/passwd")"#, Some("file")),
            (r#"x = "${fileexists ("a")}""#, Some("fileexists")),
            (r#"x = profile("a")"#, None),
            (r#"file = "a""#, None),
            (r#"x = file_name("a")"#, None),
            (r#"template { data = "no calls" }"#, None),
        ];
        for (text, want) in cases {
            assert_eq!(calls_any(text, FS_FUNCTIONS), want, "{text}");
        }
    }

    #[test]
    fn parse_takes_variables_and_refuses_files() {
        let hcl = r#"
variable "image" { type = string }
job "example" {
  group "cache" {
    task "redis" {
      driver = "docker"
      config { image = var.image }
    }
  }
}
"#;
        let job = parse_job(hcl, "image = \"redis:7\"\nunused = 1\n").unwrap();
        assert_eq!(job.id, "example");
        assert_eq!(job.task_groups[0].tasks[0].config["image"], "redis:7");
        let err = parse_job(r#"job "x" { meta { a = file("/etc/passwd") } }"#, "").unwrap_err();
        assert_eq!(err.code, 400);
        assert!(
            err.message.starts_with("Failed to parse job: "),
            "{}",
            err.message
        );
        let err = parse_job("job {", "").unwrap_err();
        assert!(
            err.message.starts_with("Failed to parse job: "),
            "{}",
            err.message
        );
    }
}
