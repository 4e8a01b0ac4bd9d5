//! `drover job run FILE`: submit the job to the agent and monitor it.

use clap::Args;
use serde_json::json;

use drover::structs::Job;

use crate::cli::format::s;
use crate::cli::http::{ApiFlags, Client};
use crate::cli::job::monitor::monitor;

#[derive(Debug, Default, Args)]
pub struct SubmitArgs {
    /// Print the evaluation ID and exit instead of monitoring
    #[arg(long)]
    pub detach: bool,
    /// Register only if the job's modify index is this (0: only if the job is new)
    #[arg(long = "check-index", value_name = "INDEX")]
    pub check_index: Option<u64>,
    /// Full IDs
    #[arg(long)]
    pub verbose: bool,
    /// Keep the counts of the groups that already run
    #[arg(long = "preserve-counts")]
    pub preserve_counts: bool,
    /// Priority of the registration evaluation
    #[arg(long = "eval-priority")]
    pub eval_priority: Option<u32>,
}

/// Exit codes: 0 done, 1 errors or a deployment that did not succeed, 2 placement failures.
pub fn submit(api: &ApiFlags, job: Job, args: &SubmitArgs) -> i32 {
    let client = Client::new(api);
    let periodic_or_param = {
        let v = serde_json::to_value(&job).unwrap_or_default();
        v.get("Periodic")
            .and_then(|p| p.get("Enabled"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
            || v.get("ParameterizedJob").is_some_and(|p| !p.is_null())
    };
    let mut body = json!({"Job": job});
    if let Some(index) = args.check_index {
        body["EnforceIndex"] = json!(true);
        body["JobModifyIndex"] = json!(index);
    }
    if args.preserve_counts {
        body["PreserveCounts"] = json!(true);
    }
    if let Some(p) = args.eval_priority {
        body["EvalPriority"] = json!(p);
    }
    let resp = match client.put("/v1/jobs", &body) {
        Ok(r) => r,
        Err(e) => {
            let text = e.to_string();
            if let Some(start) = text.find("Enforcing job modify index") {
                let inner = text[start..].trim_end_matches(')');
                let inner = e.body().map(str::trim).unwrap_or(inner);
                eprintln!("{inner}");
                eprintln!("Job not updated");
                return 1;
            }
            eprintln!("Error submitting job: {text}");
            if e.body().is_none() {
                eprintln!(
                    "(no agent answered at {}: start one with `drover agent -dev`, set \
                     NOMAD_ADDR or -address, or use -output to print the job as the API's JSON)",
                    client.address
                );
            }
            return 1;
        }
    };
    let warnings = s(&resp, "Warnings");
    if !warnings.is_empty() {
        println!("Job Warnings:\n{warnings}\n");
    }
    let eval = s(&resp, "EvalID");
    if args.detach || periodic_or_param || eval.is_empty() {
        println!("Job registration successful");
        if !eval.is_empty() {
            println!("Evaluation ID: {eval}");
        }
        return 0;
    }
    monitor(&client, &eval, args.verbose, true)
}
