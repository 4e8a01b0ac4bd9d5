//! `drover alloc …`: status, logs, exec, restart, signal, stop — Nomad's flags, layouts
//! and exit codes. Allocations are named by a short-ID prefix.

mod control;
mod exec;
mod logs;
mod status;
mod task_section;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::cli::format::{self, s, short};
use crate::cli::http::{encode, Client};

pub use logs::LogsArgs;

#[derive(Debug, Args)]
pub struct AllocArgs {
    #[command(subcommand)]
    pub command: AllocCommand,
}

#[derive(Debug, Subcommand)]
pub enum AllocCommand {
    /// Show an allocation's status, task events and resource usage
    Status(status::StatusArgs),
    /// Stream the logs of a task (stdout by default)
    Logs(LogsArgs),
    /// Run a command inside a running task
    Exec(exec::ExecArgs),
    /// Restart a task (or all tasks) of a running allocation in place
    Restart(control::RestartArgs),
    /// Send a signal to a task (or all tasks) of an allocation
    Signal(control::SignalArgs),
    /// Stop an allocation; the scheduler replaces it
    Stop(control::StopArgs),
}

/// Runs the command; the result is the process's exit code.
pub fn run(args: AllocArgs) -> Result<i32> {
    Ok(match args.command {
        AllocCommand::Status(a) => status::run(a),
        AllocCommand::Logs(a) => logs::run(a),
        AllocCommand::Exec(a) => exec::run(a),
        AllocCommand::Restart(a) => control::restart(a),
        AllocCommand::Signal(a) => control::signal(a),
        AllocCommand::Stop(a) => control::stop(a),
    })
}

/// `drover logs …` = `drover alloc logs …`.
pub fn logs(args: LogsArgs) -> Result<i32> {
    Ok(logs::run(args))
}

/// How a lookup that matched several allocations ends (Nomad: `alloc status` exits 0,
/// the others 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ambiguity {
    Exit0,
    Exit1,
}

/// What a failed lookup prints and the exit code.
#[derive(Debug)]
struct LookupFailure {
    message: String,
    code: i32,
}

/// Nomad's `sanitizeUUIDPrefix`: an odd number of hex digits loses its last character.
fn sanitize_prefix(prefix: &str) -> &str {
    if prefix.chars().filter(|c| *c != '-').count() % 2 == 1 {
        &prefix[..prefix.len() - 1]
    } else {
        prefix
    }
}

/// The full allocation `prefix` names (`GET /v1/allocations?prefix=`, then the alloc).
fn resolve_alloc(
    client: &Client,
    prefix: &str,
    too_short: &str,
    ambiguity: Ambiguity,
    verbose: bool,
) -> Result<Value, LookupFailure> {
    let fail = |message: String| LookupFailure { message, code: 1 };
    if prefix.chars().count() < 2 {
        return Err(fail(too_short.to_string()));
    }
    let list = client
        .get(&format!(
            "/v1/allocations?prefix={}",
            encode(sanitize_prefix(prefix))
        ))
        .map_err(|e| fail(format!("Error querying allocation: {e}")))?;
    let list = list.as_array().cloned().unwrap_or_default();
    let id = match list.iter().find(|a| s(a, "ID") == prefix) {
        Some(exact) => s(exact, "ID"),
        None => match list.as_slice() {
            [] => {
                return Err(fail(format!(
                    "No allocation(s) with prefix or id \"{prefix}\" found"
                )))
            }
            [one] => s(one, "ID"),
            many => {
                return Err(LookupFailure {
                    message: format!(
                        "Prefix matched multiple allocations\n\n{}",
                        alloc_list(many, verbose).trim_end()
                    ),
                    code: match ambiguity {
                        Ambiguity::Exit0 => 0,
                        Ambiguity::Exit1 => 1,
                    },
                })
            }
        },
    };
    client
        .get(&format!("/v1/allocation/{}", encode(&id)))
        .map_err(|e| fail(format!("Error querying allocation: {e}")))
}

/// Nomad's `formatAllocListStubs`.
fn alloc_list(stubs: &[Value], verbose: bool) -> String {
    let mut rows = vec![
        "ID|Eval ID|Node ID|Node Name|Task Group|Version|Desired|Status|Created|Modified"
            .to_string(),
    ];
    for a in stubs {
        let when = |key: &str| {
            let ns = format::n(a, key);
            if verbose {
                format::time_ns(ns)
            } else {
                format::ago_ns(ns)
            }
        };
        rows.push(format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            short(&s(a, "ID"), verbose),
            short(&s(a, "EvalID"), verbose),
            short(&s(a, "NodeID"), verbose),
            s(a, "NodeName"),
            s(a, "TaskGroup"),
            format::n(a, "JobVersion"),
            s(a, "DesiredStatus"),
            s(a, "ClientStatus"),
            when("CreateTime"),
            when("ModifyTime"),
        ));
    }
    format::table(&rows)
}

/// The task to act on: the flag, else the positional, else the group's only task; Nomad's
/// error listing the tasks otherwise.
fn pick_task(
    alloc: &Value,
    flag: Option<&str>,
    positional: Option<&str>,
) -> Result<String, String> {
    let tasks = group_tasks(alloc);
    let chosen = flag
        .filter(|t| !t.is_empty())
        .or(positional.filter(|t| !t.is_empty()));
    match chosen {
        Some(task) if tasks.iter().any(|t| t == task) || tasks.is_empty() => Ok(task.to_string()),
        Some(task) => Err(format!("Could not find task named: {task}")),
        None if tasks.len() == 1 => Ok(tasks[0].clone()),
        None => {
            let mut msg = format!(
                "Allocation \"{}\" is running the following tasks:\n",
                short(&s(alloc, "ID"), false)
            );
            for t in &tasks {
                msg.push_str(&format!("  * {t}\n"));
            }
            msg.push_str("\nPlease specify the task.");
            Err(msg)
        }
    }
}

/// The task names of the allocation's group, in job order.
fn group_tasks(alloc: &Value) -> Vec<String> {
    let group = s(alloc, "TaskGroup");
    alloc
        .get("Job")
        .and_then(|j| j.get("TaskGroups"))
        .and_then(Value::as_array)
        .and_then(|groups| groups.iter().find(|g| s(g, "Name") == group))
        .and_then(|g| g.get("Tasks"))
        .and_then(Value::as_array)
        .map(|tasks| tasks.iter().map(|t| s(t, "Name")).collect())
        .unwrap_or_default()
}

/// A random running allocation of a job (`-job`), as the full allocation.
fn job_alloc(client: &Client, job: &str) -> Result<Value, String> {
    let job_id = job.to_string();
    let allocs = client
        .get(&format!("/v1/job/{}/allocations", encode(&job_id)))
        .map_err(|e| match e.body() {
            Some(body) if body.contains("not found") => {
                format!("No job(s) with prefix or ID \"{job}\" found")
            }
            _ => format!("Error querying job allocations: {e}"),
        })?;
    let allocs = allocs.as_array().cloned().unwrap_or_default();
    let pick = allocs
        .iter()
        .find(|a| s(a, "ClientStatus") == "running")
        .or_else(|| allocs.first())
        .ok_or_else(|| format!("No allocations found for job {job_id}"))?;
    client
        .get(&format!("/v1/allocation/{}", encode(&s(pick, "ID"))))
        .map_err(|e| format!("Error querying allocation: {e}"))
}
