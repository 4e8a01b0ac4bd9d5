//! `drover eval status|list`: the scheduler's evaluations.

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::cli::format::{self, n, s, short};
use crate::cli::http::{encode, ApiFlags, Client};
use crate::cli::job::monitor::failed_group;
use crate::cli::lookup::{self, alloc_table, eval_failures, eval_table, json_pretty, Kind};

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub command: EvalCommand,
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Show one evaluation (ID or prefix)
    Status(StatusArgs),
    /// List evaluations
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Full IDs and absolute times
    #[arg(long)]
    pub verbose: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiFlags,
    /// The evaluation (ID or prefix)
    pub eval: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Full IDs
    #[arg(long)]
    pub verbose: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// Only this job's evaluations
    #[arg(long)]
    pub job: Option<String>,
    /// Only evaluations with this status
    #[arg(long)]
    pub status: Option<String>,
    #[command(flatten)]
    pub api: ApiFlags,
}

pub fn run(args: EvalArgs) -> i32 {
    match args.command {
        EvalCommand::Status(a) => status(&a),
        EvalCommand::List(a) => list(&a),
    }
}

fn list(args: &ListArgs) -> i32 {
    let client = Client::new(&args.api);
    let mut path = "/v1/evaluations?".to_string();
    if let Some(job) = &args.job {
        path.push_str(&format!("job={}&", encode(job)));
    }
    if let Some(status) = &args.status {
        path.push_str(&format!("status={}&", encode(status)));
    }
    let evals = match client.get(path.trim_end_matches(['?', '&'])) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("Error querying evaluations: {e}");
            return 1;
        }
    };
    if args.json {
        println!("{}", json_pretty(&evals));
        return 0;
    }
    let mut evals = evals.as_array().cloned().unwrap_or_default();
    if evals.is_empty() {
        println!("No evals found");
        return 0;
    }
    // Newest first, as Nomad lists them.
    evals.sort_by_key(|e| std::cmp::Reverse(n(e, "CreateIndex")));
    print!("{}", eval_table(&evals, args.verbose));
    0
}

fn status(args: &StatusArgs) -> i32 {
    let client = Client::new(&args.api);
    let stub = match lookup::resolve(&client, Kind::Evaluation, &args.eval, args.verbose) {
        Ok(e) => e,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    let id = s(&stub, "ID");
    let eval = match client.get(&format!("/v1/evaluation/{}?related=true", encode(&id))) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("Error querying evaluation: {e}");
            return 1;
        }
    };
    if args.json {
        println!("{}", json_pretty(&eval));
        return 0;
    }
    let allocs = match client.get(&format!("/v1/evaluation/{}/allocations", encode(&id))) {
        Ok(a) => a.as_array().cloned().unwrap_or_default(),
        Err(e) => {
            eprintln!("Error querying eval allocations: {e}");
            return 1;
        }
    };
    print!("{}", describe(&eval, &allocs, args.verbose));
    0
}

fn describe(eval: &Value, allocs: &[Value], verbose: bool) -> String {
    let id = |key: &str| short(&s(eval, key), verbose);
    let time = |key: &str| {
        if verbose {
            format::time_ns(n(eval, key))
        } else {
            format::ago_ns(n(eval, key))
        }
    };
    let status = s(eval, "Status");
    let desc = s(eval, "StatusDescription");
    let mut rows = vec![
        format!("ID|{}", id("ID")),
        format!("Create Time|{}", time("CreateTime")),
        format!("Modify Time|{}", time("ModifyTime")),
        format!("Status|{status}"),
        format!(
            "Status Description|{}",
            if desc.is_empty() { &status } else { &desc }
        ),
        format!("Type|{}", s(eval, "Type")),
        format!("TriggeredBy|{}", s(eval, "TriggeredBy")),
        format!("Job ID|{}", s(eval, "JobID")),
        format!("Namespace|{}", s(eval, "Namespace")),
    ];
    match s(eval, "TriggeredBy").as_str() {
        "node-update" => rows.push(format!("Node ID|{}", s(eval, "NodeID"))),
        "max-plan-attempts" => rows.push(format!("Previous Eval|{}", s(eval, "PreviousEval"))),
        _ => {}
    }
    rows.push(format!("Priority|{}", n(eval, "Priority")));
    rows.push(format!("Placement Failures|{}", eval_failures(eval)));
    let wait_until = format::time_str(&s(eval, "WaitUntil"));
    if !wait_until.is_empty() {
        rows.push(format!("Wait Until|{wait_until}"));
    }
    rows.extend([
        format!("Previous Eval|{}", id("PreviousEval")),
        format!("Next Eval|{}", id("NextEval")),
        format!("Blocked Eval|{}", id("BlockedEval")),
    ]);
    let mut out = format::kv(&rows);
    let related = eval
        .get("RelatedEvals")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty());
    if let Some(related) = related {
        out.push_str("\nRelated Evaluations\n");
        let mut rows = vec!["ID|Priority|Triggered By|Node ID|Status|Description".to_string()];
        for r in related {
            rows.push(format!(
                "{}|{}|{}|{}|{}|{}",
                short(&s(r, "ID"), verbose),
                n(r, "Priority"),
                s(r, "TriggeredBy"),
                short(&s(r, "NodeID"), verbose),
                s(r, "Status"),
                s(r, "StatusDescription")
            ));
        }
        out.push_str(&format::table(&rows));
    }
    if let Some(updates) = eval
        .pointer("/PlanAnnotations/DesiredTGUpdates")
        .and_then(Value::as_object)
        .filter(|u| !u.is_empty())
    {
        out.push_str("\nPlan Annotations\n");
        out.push_str(&plan_annotations(updates, verbose));
    }
    if !allocs.is_empty() {
        out.push_str("\nPlaced Allocations\n");
        out.push_str(&placed_table(allocs, verbose));
    }
    if let Some(failed) = eval
        .get("FailedTGAllocs")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
    {
        out.push_str("\nFailed Placements\n");
        for (group, metrics) in failed {
            out.push_str(&failed_group(group, metrics, 0));
        }
        let blocked = s(eval, "BlockedEval");
        if !blocked.is_empty() {
            out.push_str(&format!(
                "\nEvaluation \"{}\" waiting for additional capacity to place remainder\n",
                short(&blocked, verbose)
            ));
        }
    }
    out
}

/// `Task Group|Ignore|Place|Stop|InPlace|Destructive`, plus the other columns that are
/// non-zero anywhere (all of them with `verbose`).
fn plan_annotations(updates: &serde_json::Map<String, Value>, verbose: bool) -> String {
    let optional = [
        ("Migrate", "Migrate"),
        ("Canary", "Canary"),
        ("Preemptions", "Preemptions"),
        ("Reschedule Now", "RescheduleNow"),
        ("Reschedule Later", "RescheduleLater"),
        ("Disconnect", "Disconnect"),
        ("Reconnect", "Reconnect"),
    ];
    let shown: Vec<(&str, &str)> = optional
        .into_iter()
        .filter(|(_, key)| verbose || updates.values().any(|u| n(u, key) > 0))
        .collect();
    let mut header = "Task Group|Ignore|Place|Stop|InPlace|Destructive".to_string();
    for (title, _) in &shown {
        header.push('|');
        header.push_str(title);
    }
    let mut rows = vec![header];
    for (group, u) in updates {
        let mut row = format!(
            "{group}|{}|{}|{}|{}|{}",
            n(u, "Ignore"),
            n(u, "Place"),
            n(u, "Stop"),
            n(u, "InPlaceUpdate"),
            n(u, "DestructiveUpdate")
        );
        for (_, key) in &shown {
            row.push_str(&format!("|{}", n(u, key)));
        }
        rows.push(row);
    }
    format::table(&rows)
}

/// `ID|Job ID|Node ID|Task Group|Version|Desired|Status|Created|Modified`.
fn placed_table(allocs: &[Value], verbose: bool) -> String {
    if verbose {
        return alloc_table(allocs, true);
    }
    let mut rows =
        vec!["ID|Job ID|Node ID|Task Group|Version|Desired|Status|Created|Modified".to_string()];
    for a in allocs {
        rows.push(format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}",
            short(&s(a, "ID"), false),
            s(a, "JobID"),
            short(&s(a, "NodeID"), false),
            s(a, "TaskGroup"),
            n(a, "JobVersion"),
            s(a, "DesiredStatus"),
            s(a, "ClientStatus"),
            format::ago_ns(n(a, "CreateTime")),
            format::ago_ns(n(a, "ModifyTime"))
        ));
    }
    format::table(&rows)
}
