//! `drover job plan`: the scheduler's dry run of a job file, with the diff.

use serde_json::{json, Value};

use drover::structs::diff::{DiffType, JobDiff};

use super::{load, JobFileArgs};
use crate::cli::format::{n, s};
use crate::cli::http::{encode, ApiFlags, Client};
use crate::cli::job::monitor::failed_group;
use crate::cli::plan_diff::format_job_diff;

/// Exit codes: 0 nothing would be created or destroyed, 1 something would, 255 errors.
pub fn plan(api: &ApiFlags, args: &JobFileArgs, verbose: bool, diff: bool) -> i32 {
    let Some(job) = load(args) else { return 255 };
    let client = Client::new(api);
    let body = json!({"Job": job, "Diff": true, "PolicyOverride": false});
    let resp = match client.put(&format!("/v1/job/{}/plan", encode(&job.id)), &body) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error during plan: {e}");
            return 255;
        }
    };
    let job_diff: Option<JobDiff> = resp
        .get("Diff")
        .filter(|d| !d.is_null())
        .and_then(|d| serde_json::from_value(d.clone()).ok());
    let mut code = 0;
    if let Some(d) = &job_diff {
        if d.diff_type != DiffType::None {
            code = changes(&resp);
        }
        if diff {
            println!("{}", format_job_diff(d, verbose));
            println!();
        }
    }
    println!("Scheduler dry-run:");
    let failed = resp
        .get("FailedTGAllocs")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty());
    match failed {
        None => println!("- All tasks successfully allocated."),
        Some(groups) => {
            if job.job_type == "system" || job.job_type == "sysbatch" {
                println!("- WARNING: Failed to place allocations on all nodes.");
            } else {
                println!("- WARNING: Failed to place all allocations.");
            }
            for (g, metrics) in groups {
                print!("{}", failed_group(g, metrics, 2));
            }
        }
    }
    let warnings = s(&resp, "Warnings");
    if !warnings.is_empty() {
        println!();
        println!("Job Warnings:");
        println!("{warnings}");
    }
    println!();
    let index = n(&resp, "JobModifyIndex");
    println!("Job Modify Index: {index}");
    println!("To submit the job with version verification run:");
    println!();
    let mut extra = String::new();
    for v in &args.vars {
        extra.push_str(&format!("-var=\"{v}\" "));
    }
    for f in &args.var_files {
        extra.push_str(&format!("-var-file=\"{}\" ", f.display()));
    }
    if let Some(ns) = &api.namespace {
        extra.push_str(&format!("-namespace=\"{ns}\" "));
    }
    if !args.strict {
        extra.push_str("-hcl2-strict=false ");
    }
    println!(
        "drover job run -check-index {index} {extra}{}",
        args.path.display()
    );
    println!();
    println!(
        "When running the job with the check-index flag, the job will only be run if the\n\
         job modify index given matches the server-side version. If the index has\n\
         changed, another user has modified the job and the plan's results are\n\
         potentially invalid."
    );
    code
}

/// 1 when any group would create, destroy, migrate or replace allocations.
fn changes(resp: &Value) -> i32 {
    let Some(groups) = resp
        .pointer("/Annotations/DesiredTGUpdates")
        .and_then(Value::as_object)
    else {
        return 0;
    };
    let total: i64 = groups
        .values()
        .map(|u| {
            ["Stop", "Place", "Migrate", "DestructiveUpdate", "Canary"]
                .iter()
                .map(|k| n(u, k))
                .sum::<i64>()
        })
        .sum();
    i32::from(total > 0)
}
