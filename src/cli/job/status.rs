//! `drover job status [JOB]` / `drover status [JOB]`, and job ID prefix lookup.

use serde_json::Value;

use crate::cli::format::{self, n, s, short};
use crate::cli::http::{encode, ApiFlags, Client};
use crate::cli::job::monitor::deployed_table;

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

pub fn status(api: &ApiFlags, job: Option<&str>, short_only: bool, verbose: bool) -> i32 {
    let client = Client::new(api);
    let Some(prefix) = job else {
        return match client.get("/v1/jobs") {
            Ok(list) => {
                let jobs = list.as_array().cloned().unwrap_or_default();
                if jobs.is_empty() {
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
    match detail(&client, &id, short_only, verbose) {
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

fn detail(client: &Client, id: &str, short_only: bool, verbose: bool) -> Result<String, String> {
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
    if short_only {
        return Ok(out);
    }
    // Summary.
    let summary = client
        .get(&format!("{path}/summary"))
        .map_err(|e| format!("Error querying job summary: {e}"))?;
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
        .get(&format!("{path}/allocations"))
        .map_err(|e| format!("Error querying job allocations: {e}"))?;
    let mut allocs: Vec<Value> = allocs.as_array().cloned().unwrap_or_default();
    allocs.sort_by_key(|a| std::cmp::Reverse(n(a, "CreateIndex")));
    out.push_str("\nAllocations\n");
    if allocs.is_empty() {
        out.push_str("No allocations placed\n");
        return Ok(out);
    }
    let mut rows = vec![if verbose {
        "ID|Eval ID|Node ID|Node Name|Task Group|Version|Desired|Status|Created|Modified".into()
    } else {
        "ID|Node ID|Task Group|Version|Desired|Status|Created|Modified".to_string()
    }];
    for a in &allocs {
        let common = format!(
            "{}|{}|{}|{}|{}",
            s(a, "TaskGroup"),
            n(a, "JobVersion"),
            s(a, "DesiredStatus"),
            s(a, "ClientStatus"),
            if verbose {
                format!(
                    "{}|{}",
                    format::time_ns(n(a, "CreateTime")),
                    format::time_ns(n(a, "ModifyTime"))
                )
            } else {
                format!(
                    "{}|{}",
                    format::ago_ns(n(a, "CreateTime")),
                    format::ago_ns(n(a, "ModifyTime"))
                )
            }
        );
        rows.push(if verbose {
            format!(
                "{}|{}|{}|{}|{common}",
                s(a, "ID"),
                s(a, "EvalID"),
                s(a, "NodeID"),
                s(a, "NodeName")
            )
        } else {
            format!(
                "{}|{}|{common}",
                short(&s(a, "ID"), false),
                short(&s(a, "NodeID"), false)
            )
        });
    }
    out.push_str(&format::table(&rows));
    Ok(out)
}
