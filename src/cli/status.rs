//! `drover status [ID]`: a job by name or prefix, as `job status`; otherwise whatever
//! object the prefix names (allocation, evaluation, node, deployment), found with
//! `PUT /v1/search` as Nomad's generic `status` does, shown by that object's own
//! status command.

use clap::Parser;
use serde_json::{json, Value};

use crate::cli::http::Client;
use crate::cli::job::{self, StatusArgs};
use crate::cli::{Cli, Command};

/// Search contexts and the commands that show them.
const CONTEXTS: &[(&str, &[&str])] = &[
    ("allocs", &["alloc", "status"]),
    ("evals", &["eval", "status"]),
    ("nodes", &["node", "status"]),
    ("deployment", &["deployment", "status"]),
];

pub fn status(args: StatusArgs) -> i32 {
    let Some(prefix) = args.job.clone() else {
        return job::status(args);
    };
    let client = Client::new(&args.api);
    // Jobs first: their IDs are names, and the job's own errors are the usual answer.
    let found = client
        .put("/v1/search", &json!({"Prefix": prefix, "Context": "all"}))
        .ok();
    let matches = |ctx: &str| -> Vec<String> {
        found
            .as_ref()
            .and_then(|f| f.pointer(&format!("/Matches/{ctx}")))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    if !matches("jobs").is_empty() || found.is_none() {
        return job::status(args);
    }
    let hits: Vec<(&str, &[&str], Vec<String>)> = CONTEXTS
        .iter()
        .map(|(ctx, cmd)| (*ctx, *cmd, matches(ctx)))
        .filter(|(_, _, ids)| !ids.is_empty())
        .collect();
    match hits.as_slice() {
        [] => job::status(args),
        [(_, cmd, _)] => run_as(cmd, &prefix, &args),
        _ => {
            eprintln!("Multiple matches found for id {prefix:?}");
            for (ctx, _, ids) in &hits {
                let mut title = ctx.to_string();
                title[..1].make_ascii_uppercase();
                eprintln!("\n{title}:");
                eprintln!("{}", ids.join(", "));
            }
            1
        }
    }
}

/// Runs `drover <cmd> [flags] <id>` with the flags `status` was given.
fn run_as(cmd: &[&str], id: &str, args: &StatusArgs) -> i32 {
    let mut argv: Vec<String> = std::iter::once("drover")
        .chain(cmd.iter().copied())
        .map(String::from)
        .collect();
    if args.verbose {
        argv.push("--verbose".into());
    }
    if args.json {
        argv.push("--json".into());
    }
    for (flag, value) in [
        ("--address", &args.api.address),
        ("--namespace", &args.api.namespace),
        ("--token", &args.api.token),
        ("--region", &args.api.region),
    ] {
        if let Some(v) = value {
            argv.extend([flag.to_string(), v.clone()]);
        }
    }
    argv.push(id.to_string());
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return 1;
        }
    };
    match cli.command {
        Command::Alloc(a) => crate::cli::alloc::run(a).unwrap_or_else(|e| {
            eprintln!("Error: {e:#}");
            1
        }),
        Command::Eval(a) => crate::cli::eval::run(a),
        Command::Node(a) => crate::cli::node::run(a),
        Command::Deployment(a) => crate::cli::deployment::run(a),
        _ => 1,
    }
}
