//! `drover job status [JOB]` / `drover status [JOB]`, and job ID prefix lookup.

use serde_json::Value;

use crate::cli::format::{self, n, s, short};
use crate::cli::http::{encode, ApiFlags, Client};
use crate::cli::job::monitor::{deployed_table, failed_group};
use crate::cli::lookup;

/// `<status>` or `<status> (stopped)`.
fn job_status(job: &Value) -> String {
    let status = s(job, "Status");
    if job.get("Stop").and_then(Value::as_bool) == Some(true) {
        format!("{status} (stopped)")
    } else {
        status
    }
}

fn job_type(job: &Value) -> String {
    let mut t = s(job, "Type");
    let periodic = job
        .get("Periodic")
        .and_then(|p| p.get("Enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || job.get("Periodic").and_then(Value::as_bool) == Some(true);
    if periodic {
        t.push_str("/periodic");
    }
    let param = job
        .get("ParameterizedJob")
        .is_some_and(|p| !p.is_null() && p != &Value::Bool(false))
        || job.get("Parameterized").and_then(Value::as_bool) == Some(true);
    if param {
        t.push_str("/parameterized");
    }
    t
}

/// The jobs table (`ID|Type|Priority|Status|Submit Date`).
fn jobs_table(jobs: &[Value]) -> String {
    let mut rows = vec!["ID|Type|Priority|Status|Submit Date".to_string()];
    for j in jobs {
        rows.push(format!(
            "{}|{}|{}|{}|{}",
            s(j, "ID"),
            job_type(j),
            n(j, "Priority"),
            job_status(j),
            format::time_ns(n(j, "SubmitTime"))
        ));
    }
    format::table(&rows)
}

/// The one job a prefix names, or the error message Nomad prints.
pub fn resolve_job(client: &Client, prefix: &str) -> Result<String, String> {
    let list = client
        .get(&format!("/v1/jobs?prefix={}&per_page=20", encode(prefix)))
        .map_err(|e| format!("Error querying job prefix: {e}"))?;
    let jobs: Vec<Value> = list.as_array().cloned().unwrap_or_default();
    match jobs.first() {
        None => Err(format!("No job(s) with prefix or ID \"{prefix}\" found")),
        Some(first) if jobs.len() == 1 || s(first, "ID") == prefix => Ok(s(first, "ID")),
        Some(_) => {
            let mut msg = format!(
                "Prefix \"{prefix}\" matched multiple jobs\n\n{}",
                jobs_table(&jobs).trim_end()
            );
            if jobs.len() == 20 {
                msg.push_str("\n(results may be truncated)");
            }
            Err(msg)
        }
    }
}

/// What `job status` shows besides the job's own block.
#[derive(Debug, Default, Clone)]
pub struct StatusOptions {
    pub short: bool,
    pub verbose: bool,
    pub evals: bool,
    pub all_allocs: bool,
    pub json: bool,
}

pub fn status(api: &ApiFlags, job: Option<&str>, opts: &StatusOptions) -> i32 {
    let client = Client::new(api);
    let Some(prefix) = job else {
        return match client.get("/v1/jobs") {
            Ok(list) => {
                let jobs = list.as_array().cloned().unwrap_or_default();
                if opts.json {
                    println!("{}", lookup::json_pretty(&list));
                } else if jobs.is_empty() {
                    println!("No running jobs");
                } else {
                    print!("{}", jobs_table(&jobs));
                }
                0
            }
            Err(e) => {
                eprintln!("Error querying jobs: {e}");
                1
            }
        };
    };
    let id = match resolve_job(&client, prefix) {
        Ok(id) => id,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    if opts.json {
        return match client.get(&format!("/v1/job/{}", encode(&id))) {
            Ok(job) => {
                println!("{}", lookup::json_pretty(&job));
                0
            }
            Err(e) => {
                eprintln!("Error querying job: {e}");
                1
            }
        };
    }
    match detail(&client, &id, opts) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn detail(client: &Client, id: &str, opts: &StatusOptions) -> Result<String, String> {
    let verbose = opts.verbose;
    let path = format!("/v1/job/{}", encode(id));
    let job = client
        .get(&path)
        .map_err(|e| format!("Error querying job: {e}"))?;
    let dcs: Vec<String> = job
        .get("Datacenters")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let periodic = job_type(&job).contains("/periodic");
    let parameterized = job_type(&job).contains("/parameterized");
    let node_pool = s(&job, "NodePool");
    let rows = vec![
        format!("ID|{}", s(&job, "ID")),
        format!("Name|{}", s(&job, "Name")),
        format!("Submit Date|{}", format::time_ns(n(&job, "SubmitTime"))),
        format!("Type|{}", s(&job, "Type")),
        format!("Priority|{}", n(&job, "Priority")),
        format!("Datacenters|{}", dcs.join(",")),
        format!("Namespace|{}", s(&job, "Namespace")),
        format!(
            "Node Pool|{}",
            if node_pool.is_empty() {
                "default".into()
            } else {
                node_pool
            }
        ),
        format!("Status|{}", job_status(&job)),
        format!("Periodic|{periodic}"),
        format!("Parameterized|{parameterized}"),
    ];
    let mut out = format::kv(&rows);
    if opts.short {
        return Ok(out);
    }
    // Summary.
    let summary = client
        .get(&format!("{path}/summary"))
        .map_err(|e| format!("Error querying job summary: {e}"))?;
    if parameterized {
        out.push_str(&parameterized_info(client, &job, &summary)?);
        return Ok(out);
    }
    out.push_str("\nSummary\n");
    let mut rows = vec!["Task Group|Queued|Starting|Running|Failed|Complete|Lost|Unknown".into()];
    if let Some(groups) = summary.get("Summary").and_then(Value::as_object) {
        for (g, c) in groups {
            rows.push(format!(
                "{g}|{}|{}|{}|{}|{}|{}|{}",
                n(c, "Queued"),
                n(c, "Starting"),
                n(c, "Running"),
                n(c, "Failed"),
                n(c, "Complete"),
                n(c, "Lost"),
                n(c, "Unknown")
            ));
        }
    }
    out.push_str(&format::table(&rows));
    // Evaluations, and why the newest failed placement failed while one is blocked.
    let evals = client
        .get(&format!("{path}/evaluations"))
        .map_err(|e| format!("Error querying job evaluations: {e}"))?;
    out.push_str(&evaluations(
        evals.as_array().map(Vec::as_slice).unwrap_or_default(),
        opts.evals,
        verbose,
    ));
    // Latest deployment.
    if let Ok(dep) = client.get(&format!("{path}/deployment")) {
        if dep.is_object() {
            out.push_str("\nLatest Deployment\n");
            out.push_str(&format::kv(&[
                format!("ID|{}", short(&s(&dep, "ID"), verbose)),
                format!("Status|{}", s(&dep, "Status")),
                format!("Description|{}", s(&dep, "StatusDescription")),
            ]));
            out.push_str("\nDeployed\n");
            out.push_str(&deployed_table(&dep));
        }
    }
    // Allocations.
    let allocs = client
        .get(&format!("{path}/allocations?all={}", opts.all_allocs))
        .map_err(|e| format!("Error querying job allocations: {e}"))?;
    let mut allocs: Vec<Value> = allocs.as_array().cloned().unwrap_or_default();
    allocs.sort_by_key(|a| std::cmp::Reverse(n(a, "CreateIndex")));
    out.push_str("\nAllocations\n");
    if allocs.is_empty() {
        out.push_str("No allocations placed\n");
        return Ok(out);
    }
    out.push_str(&lookup::alloc_table(&allocs, verbose));
    Ok(out)
}

/// The `Evaluations` table (when asked for) and the `Placement Failure` section (when an
/// evaluation is blocked: the newest failed placement says why).
fn evaluations(evals: &[Value], show: bool, verbose: bool) -> String {
    let mut out = String::new();
    let mut rows = vec!["ID|Priority|Triggered By|Status|Placement Failures".to_string()];
    let mut blocked = false;
    let mut latest_failed: Option<&Value> = None;
    for e in evals {
        rows.push(format!(
            "{}|{}|{}|{}|{}",
            short(&s(e, "ID"), verbose),
            n(e, "Priority"),
            s(e, "TriggeredBy"),
            s(e, "Status"),
            lookup::eval_failures(e)
        ));
        blocked |= s(e, "Status") == "blocked";
        let failed = e
            .get("FailedTGAllocs")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty());
        if failed && latest_failed.is_none_or(|l| n(l, "CreateIndex") < n(e, "CreateIndex")) {
            latest_failed = Some(e);
        }
    }
    if show {
        out.push_str("\nEvaluations\n");
        out.push_str(&format::table(&rows));
    }
    if let (true, Some(eval)) = (blocked, latest_failed) {
        out.push_str("\nPlacement Failure\n");
        out.push_str(&placement_failures(eval));
    }
    out
}

/// Per failed group: `Task Group "<g>":` and the metric bullets, blank lines between.
pub fn placement_failures(eval: &Value) -> String {
    let Some(groups) = eval.get("FailedTGAllocs").and_then(Value::as_object) else {
        return String::new();
    };
    let parts: Vec<String> = groups
        .iter()
        .map(|(group, metrics)| {
            let text = failed_group(group, metrics, 0);
            let bullets = text.split_once('\n').map_or("", |(_, rest)| rest);
            format!("Task Group \"{group}\":\n{bullets}")
        })
        .collect();
    parts.join("\n")
}

/// A parameterized job instead of groups: its parameters, its children's summary and
/// the dispatched jobs.
fn parameterized_info(client: &Client, job: &Value, summary: &Value) -> Result<String, String> {
    let params = job.get("ParameterizedJob").cloned().unwrap_or_default();
    let list = |key: &str| {
        params
            .get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let mut out = String::from("\nParameterized Job\n");
    out.push_str(&format::kv(&[
        format!("Payload|{}", s(&params, "Payload")),
        format!("Required Metadata|{}", list("MetaRequired")),
        format!("Optional Metadata|{}", list("MetaOptional")),
    ]));
    let children = summary.get("Children").cloned().unwrap_or_default();
    out.push_str("\nParameterized Job Summary\n");
    out.push_str(&format::table(&[
        "Pending|Running|Dead".to_string(),
        format!(
            "{}|{}|{}",
            n(&children, "Pending"),
            n(&children, "Running"),
            n(&children, "Dead")
        ),
    ]));
    let id = s(job, "ID");
    let prefix = format!("{id}/dispatch-");
    let jobs = client
        .get(&format!("/v1/jobs?prefix={}", encode(&prefix)))
        .map_err(|e| format!("Error querying job: {e}"))?;
    let mut rows = vec!["ID|Status".to_string()];
    for child in jobs.as_array().into_iter().flatten() {
        if s(child, "ParentID") == id {
            rows.push(format!("{}|{}", s(child, "ID"), s(child, "Status")));
        }
    }
    if rows.len() == 1 {
        out.push_str("\nNo dispatched instances of parameterized job found\n");
    } else {
        out.push_str("\nDispatched Jobs\n");
        out.push_str(&format::table(&rows));
    }
    Ok(out)
}
