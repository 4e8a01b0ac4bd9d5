//! `drover job scale [-check-index N] [-detach] [-verbose] JOB [GROUP] COUNT`.

use clap::Args;
use serde_json::{json, Value};

use super::monitor::monitor;
use super::status::resolve_job;
use crate::cli::format::s;
use crate::cli::http::{encode, ApiFlags, Client};

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Scale only if the job's modify index is this
    #[arg(long = "check-index", value_name = "INDEX")]
    pub check_index: Option<u64>,
    /// Print the evaluation ID and exit instead of monitoring
    #[arg(long)]
    pub detach: bool,
    /// Full IDs
    #[arg(long)]
    pub verbose: bool,
    #[command(flatten)]
    pub api: ApiFlags,
    /// JOB [GROUP] COUNT (the group may be left out when the job has only one)
    #[arg(value_name = "ARGS", num_args = 2..=3, required = true)]
    pub args: Vec<String>,
}

pub fn scale(args: &ScaleArgs) -> i32 {
    let (job, group, count) = match args.args.as_slice() {
        [job, count] => (job, None, count),
        [job, group, count] => (job, Some(group.clone()), count),
        _ => {
            eprintln!("Command requires at least two arguments and no more than three");
            return 1;
        }
    };
    let count: i64 = match count.parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Failed to convert count string to int: {e}");
            return 1;
        }
    };
    let client = Client::new(&args.api);
    let id = match resolve_job(&client, job) {
        Ok(id) => id,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    let path = format!("/v1/job/{}/scale", encode(&id));
    let status = match client.get(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Error querying job: {e}");
            return 1;
        }
    };
    let groups: Vec<String> = status
        .get("TaskGroups")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let group = match (group, groups.as_slice()) {
        (None, [only]) => only.clone(),
        (None, _) => {
            eprintln!("Group name required");
            return 1;
        }
        (Some(g), _) if groups.contains(&g) => g,
        (Some(g), _) => {
            eprintln!("Group {g} not found within job");
            return 1;
        }
    };
    let mut body = json!({
        "Count": count,
        "Target": {"Job": id, "Group": group},
        "Message": "submitted using the drover CLI",
        "Error": false,
        "PolicyOverride": false,
    });
    if let Some(index) = args.check_index {
        body["EnforceIndex"] = json!(true);
        body["JobModifyIndex"] = json!(index);
    }
    let resp = match client.put(&path, &body) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error submitting scaling request: {e}");
            return 1;
        }
    };
    let warnings = s(&resp, "Warnings");
    if !warnings.is_empty() {
        println!("Job Warnings:\n{warnings}\n");
    }
    let eval = s(&resp, "EvalID");
    if args.detach || eval.is_empty() {
        println!("Job scale successful");
        if !eval.is_empty() {
            println!("Evaluation ID: {eval}");
        }
        return 0;
    }
    monitor(&client, &eval, args.verbose, true)
}
