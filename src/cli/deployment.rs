//! `drover deployment list|status|promote|fail|pause|resume`.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::cli::format::{self, n, s, short};
use crate::cli::http::{encode, ApiFlags, Client};
use crate::cli::job::monitor::{deployed_table, monitor};
use crate::cli::lookup::{self, alloc_table, deployment_table, json_pretty, Kind};

#[derive(Debug, Args)]
pub struct DeploymentArgs {
    #[command(subcommand)]
    pub command: DeploymentCommand,
}

#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    /// List deployments
    List(ListArgs),
    /// Show one deployment (ID or prefix); without one, list them
    Status(StatusArgs),
    /// Promote a deployment's canaries (all groups, or those given with -group)
    Promote(PromoteArgs),
    /// Mark a deployment failed (and revert the job when its groups auto-revert)
    Fail(ActionArgs),
    /// Pause a deployment: no further allocations are replaced until resumed
    Pause(ActionArgs),
    /// Resume a paused deployment
    Resume(ActionArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Full IDs
    #[arg(long)]
    pub verbose: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiFlags,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Full IDs and the deployment's allocations
    #[arg(long)]
    pub verbose: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiFlags,
    /// The deployment (ID or prefix)
    pub deployment: Option<String>,
}

#[derive(Debug, Args)]
pub struct ActionArgs {
    /// Print the evaluation ID and exit instead of monitoring
    #[arg(long)]
    pub detach: bool,
    /// Full IDs
    #[arg(long)]
    pub verbose: bool,
    #[command(flatten)]
    pub api: ApiFlags,
    /// The deployment (ID or prefix)
    pub deployment: String,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// A group to promote (repeatable); all groups without it
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    #[command(flatten)]
    pub action: ActionArgs,
}

pub fn run(args: DeploymentArgs) -> i32 {
    match args.command {
        DeploymentCommand::List(a) => list(&a.api, a.verbose, a.json),
        DeploymentCommand::Status(a) => status(&a),
        DeploymentCommand::Promote(a) => promote(&a),
        DeploymentCommand::Fail(a) => fail(&a),
        DeploymentCommand::Pause(a) => pause(&a, true),
        DeploymentCommand::Resume(a) => pause(&a, false),
    }
}

fn list(api: &ApiFlags, verbose: bool, json: bool) -> i32 {
    let client = Client::new(api);
    let deps = match client.get("/v1/deployments") {
        Ok(d) => d,
        Err(e) => {
            eprintln!("Error retrieving deployments: {e}");
            return 1;
        }
    };
    if json {
        println!("{}", json_pretty(&deps));
        return 0;
    }
    let mut deps = deps.as_array().cloned().unwrap_or_default();
    if deps.is_empty() {
        println!("No deployments found");
        return 0;
    }
    deps.sort_by_key(|d| std::cmp::Reverse(n(d, "CreateIndex")));
    print!("{}", deployment_table(&deps, verbose));
    0
}

/// The deployment a prefix names (a full ID needs no lookup), or the text to print.
fn resolve(client: &Client, prefix: &str, verbose: bool) -> Result<Value, String> {
    if prefix.len() == 36 {
        return client
            .get(&format!("/v1/deployment/{}", encode(prefix)))
            .map_err(|e| format!("Error retrieving deployment: {e}"));
    }
    let stub = lookup::resolve(client, Kind::Deployment, prefix, verbose)?;
    client
        .get(&format!("/v1/deployment/{}", encode(&s(&stub, "ID"))))
        .map_err(|e| format!("Error retrieving deployment: {e}"))
}

fn status(args: &StatusArgs) -> i32 {
    let Some(prefix) = &args.deployment else {
        return list(&args.api, args.verbose, args.json);
    };
    let client = Client::new(&args.api);
    let dep = match resolve(&client, prefix, args.verbose) {
        Ok(d) => d,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    if args.json {
        println!("{}", json_pretty(&dep));
        return 0;
    }
    print!("{}", describe(&dep, args.verbose));
    if args.verbose {
        let path = format!("/v1/deployment/allocations/{}", encode(&s(&dep, "ID")));
        match client.get(&path) {
            Ok(allocs) => {
                let allocs = allocs.as_array().cloned().unwrap_or_default();
                println!("\nAllocations");
                if allocs.is_empty() {
                    println!("No allocations placed");
                } else {
                    print!("{}", alloc_table(&allocs, true));
                }
            }
            Err(e) => {
                eprintln!("Error retrieving deployment allocations: {e}");
                return 1;
            }
        }
    }
    0
}

/// The key/value block and the `Deployed` table.
pub fn describe(dep: &Value, verbose: bool) -> String {
    let mut out = format::kv(&[
        format!("ID|{}", short(&s(dep, "ID"), verbose)),
        format!("Job ID|{}", s(dep, "JobID")),
        format!("Job Version|{}", n(dep, "JobVersion")),
        format!("Status|{}", s(dep, "Status")),
        format!("Description|{}", s(dep, "StatusDescription")),
    ]);
    out.push_str("\nDeployed\n");
    out.push_str(&deployed_table(dep));
    out
}

/// After an action: the evaluation it created, monitored unless detached.
fn follow(client: &Client, resp: &Value, args: &ActionArgs) -> i32 {
    let eval = s(resp, "EvalID");
    if eval.is_empty() {
        return 0;
    }
    if args.detach {
        println!("Evaluation ID: {eval}");
        return 0;
    }
    println!();
    monitor(client, &eval, args.verbose, false)
}

fn promote(args: &PromoteArgs) -> i32 {
    let a = &args.action;
    let client = Client::new(&a.api);
    let dep = match resolve(&client, &a.deployment, a.verbose) {
        Ok(d) => d,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    let id = s(&dep, "ID");
    let body = if args.groups.is_empty() {
        json!({"DeploymentID": id, "All": true})
    } else {
        json!({"DeploymentID": id, "Groups": args.groups})
    };
    match client.put(&format!("/v1/deployment/promote/{}", encode(&id)), &body) {
        Ok(resp) => follow(&client, &resp, a),
        Err(e) => {
            eprintln!("Error promoting deployment: {e}");
            1
        }
    }
}

fn fail(args: &ActionArgs) -> i32 {
    let client = Client::new(&args.api);
    let dep = match resolve(&client, &args.deployment, args.verbose) {
        Ok(d) => d,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    let id = s(&dep, "ID");
    let body = json!({"DeploymentID": id});
    let resp = match client.put(&format!("/v1/deployment/fail/{}", encode(&id)), &body) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error failing deployment: {e}");
            return 1;
        }
    };
    match resp.get("RevertedJobVersion").and_then(Value::as_u64) {
        Some(v) => println!("Deployment {id:?} failed. Auto-reverted to job version {v}."),
        None => println!("Deployment {id:?} failed"),
    }
    follow(&client, &resp, args)
}

fn pause(args: &ActionArgs, pause: bool) -> i32 {
    let client = Client::new(&args.api);
    let dep = match resolve(&client, &args.deployment, args.verbose) {
        Ok(d) => d,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    let id = s(&dep, "ID");
    let body = json!({"DeploymentID": id, "Pause": pause});
    let resp = match client.put(&format!("/v1/deployment/pause/{}", encode(&id)), &body) {
        Ok(r) => r,
        Err(e) => {
            let verb = if pause { "pausing" } else { "resuming" };
            eprintln!("Error {verb} deployment: {e}");
            return 1;
        }
    };
    if pause {
        println!("Deployment {id:?} paused");
        return 0;
    }
    println!("Deployment {id:?} resumed");
    follow(&client, &resp, args)
}
