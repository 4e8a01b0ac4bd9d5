//! `drover job history [-p] [-full] [-version N] [-json] JOB` and
//! `drover job revert [-detach] [-verbose] JOB VERSION`.

use clap::Args;
use serde_json::{json, Value};

use drover::structs::diff::JobDiff;
use drover::structs::Job;

use super::monitor::monitor;
use super::status::resolve_job;
use crate::cli::format::{self, n, s};
use crate::cli::http::{encode, ApiFlags, Client};
use crate::cli::lookup::json_pretty;
use crate::cli::plan_diff::format_job_diff;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Show each version's changes against the version before it
    #[arg(short = 'p')]
    pub diff: bool,
    /// Print each version's job as JSON as well
    #[arg(long)]
    pub full: bool,
    /// Only this version
    #[arg(long, value_name = "N")]
    pub version: Option<u64>,
    /// Print the versions as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiFlags,
    /// The job (ID or prefix)
    pub job: String,
}

#[derive(Debug, Args)]
pub struct RevertArgs {
    /// Print the evaluation ID and exit instead of monitoring
    #[arg(long)]
    pub detach: bool,
    /// Full IDs
    #[arg(long)]
    pub verbose: bool,
    #[command(flatten)]
    pub api: ApiFlags,
    /// The job (ID or prefix)
    pub job: String,
    /// The version to go back to
    pub version: String,
}

/// A job from the API in our own struct's field order (the API's JSON parsed into a
/// `serde_json::Value` loses it); the value itself if it does not parse.
pub fn job_json(v: &Value) -> String {
    match serde_json::from_value::<Job>(v.clone()) {
        Ok(job) => json_pretty(&job),
        Err(_) => json_pretty(v),
    }
}

pub fn history(args: &HistoryArgs) -> i32 {
    if args.json && (args.diff || args.full) {
        eprintln!("-json is exclusive with -p and -full");
        return 1;
    }
    let client = Client::new(&args.api);
    let id = match resolve_job(&client, &args.job) {
        Ok(id) => id,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    let path = format!("/v1/job/{}/versions?diffs={}", encode(&id), args.diff);
    let resp = match client.get(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error retrieving job versions: {e}");
            return 1;
        }
    };
    let versions: Vec<Value> = resp
        .get("Versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let diffs: Vec<Value> = resp
        .get("Diffs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let chosen: Vec<(usize, &Value)> = versions
        .iter()
        .enumerate()
        .filter(|(_, v)| {
            args.version
                .is_none_or(|want| n(v, "Version") as u64 == want)
        })
        .collect();
    if let (Some(want), true) = (args.version, chosen.is_empty()) {
        eprintln!("Job {id:?} has no version {want}");
        return 1;
    }
    if args.json {
        let jobs: Vec<String> = chosen.iter().map(|(_, v)| job_json(v)).collect();
        if args.version.is_some() {
            println!("{}", jobs.join("\n"));
        } else {
            let indented: Vec<String> = jobs
                .iter()
                .map(|j| {
                    j.lines()
                        .map(|l| format!("    {l}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .collect();
            println!("[\n{}\n]", indented.join(",\n"));
        }
        return 0;
    }
    let blocks: Vec<String> = chosen
        .iter()
        .map(|(i, v)| version_block(v, diffs.get(*i), args.diff, args.full))
        .collect();
    print!("{}", blocks.join("\n"));
    0
}

/// One version's key/value block.
fn version_block(job: &Value, diff: Option<&Value>, show_diff: bool, full: bool) -> String {
    let mut rows = vec![
        format!("Version|{}", n(job, "Version")),
        format!(
            "Stable|{}",
            job.get("Stable").and_then(Value::as_bool).unwrap_or(false)
        ),
        format!("Submit Date|{}", format::time_ns(n(job, "SubmitTime"))),
    ];
    if let Some(tag) = job.get("VersionTag").filter(|t| t.is_object()) {
        rows.push(format!("Tag Name|{}", s(tag, "Name")));
        let desc = s(tag, "Description");
        if !desc.is_empty() {
            rows.push(format!("Tag Description|{desc}"));
        }
    }
    if show_diff {
        if let Some(d) = diff.and_then(|d| serde_json::from_value::<JobDiff>(d.clone()).ok()) {
            rows.push(format!("Diff|\n{}", format_job_diff(&d, false).trim()));
        }
    }
    if full {
        rows.push(format!("Full|JSON Job:\n{}", job_json(job)));
    }
    format::kv(&rows)
}

pub fn revert(args: &RevertArgs) -> i32 {
    let Ok(version) = args.version.parse::<u64>() else {
        eprintln!(
            "Error parsing version value {:?}: version tags are not supported",
            args.version
        );
        return 1;
    };
    let client = Client::new(&args.api);
    let id = match resolve_job(&client, &args.job) {
        Ok(id) => id,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    let body = json!({"JobID": id, "JobVersion": version, "EnforcePriorVersion": null});
    let resp = match client.put(&format!("/v1/job/{}/revert", encode(&id)), &body) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error retrieving job versions: {e}");
            return 1;
        }
    };
    let eval = s(&resp, "EvalID");
    // Periodic and parameterized jobs get no evaluation.
    if eval.is_empty() {
        return 0;
    }
    if args.detach {
        println!("Evaluation ID: {eval}");
        return 0;
    }
    monitor(&client, &eval, args.verbose, true)
}
