//! `drover job inspect [-version N] [-json] [JOB]`: the job as the server holds it.

use clap::Args;
use serde_json::Value;

use super::history::job_json;
use super::status::resolve_job;
use crate::cli::format::n;
use crate::cli::http::{encode, ApiFlags, Client};
use crate::cli::lookup::json_pretty;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// An earlier version of the job
    #[arg(long, value_name = "N")]
    pub version: Option<u64>,
    /// Print the job object alone (without a job: all jobs)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiFlags,
    /// The job (ID or prefix)
    pub job: Option<String>,
}

/// Prints `{"Job": {...}}` (Nomad's default), or the job alone with `-json`.
pub fn inspect(args: &InspectArgs) -> i32 {
    let client = Client::new(&args.api);
    let Some(prefix) = &args.job else {
        if !args.json {
            eprintln!("This command takes one argument: <job>");
            return 1;
        }
        return match client.get("/v1/jobs") {
            Ok(list) => {
                println!("{}", json_pretty(&list));
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
    let job = match args.version {
        None => client.get(&format!("/v1/job/{}", encode(&id))),
        Some(want) => client
            .get(&format!("/v1/job/{}/versions", encode(&id)))
            .map(|resp| {
                resp.get("Versions")
                    .and_then(Value::as_array)
                    .and_then(|vs| vs.iter().find(|v| n(v, "Version") as u64 == want))
                    .cloned()
                    .unwrap_or(Value::Null)
            }),
    };
    let job = match job {
        Ok(Value::Null) => {
            eprintln!(
                "Error inspecting job: job {id:?} has no version {}",
                args.version.unwrap_or_default()
            );
            return 1;
        }
        Ok(job) => job,
        Err(e) => {
            eprintln!("Error inspecting job: {e}");
            return 1;
        }
    };
    let text = job_json(&job);
    if args.json {
        println!("{text}");
    } else {
        // `{"Job": ...}` around the job's own indented text keeps its field order.
        let body: Vec<String> = text.lines().map(|l| format!("    {l}")).collect();
        println!("{{\n    \"Job\": {}\n}}", body.join("\n").trim_start());
    }
    0
}
