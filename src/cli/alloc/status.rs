//! `drover alloc status [-stats] [-short] [-verbose] [-json] <alloc>` in Nomad's layout.

use clap::Args;
use serde_json::Value;

use super::task_section::{task_resources, task_status, verbose_usage};
use super::{resolve_alloc, Ambiguity};
use crate::cli::format::{self, kv, n, s, short};
use crate::cli::http::{encode, ApiFlags, Client};

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub api: ApiFlags,
    /// Show detailed memory and CPU statistics of each task
    #[arg(long)]
    pub stats: bool,
    /// Show only the allocation's basics and a task summary
    #[arg(long)]
    pub short: bool,
    /// Full IDs, absolute times and placement metrics
    #[arg(long)]
    pub verbose: bool,
    /// Print the allocation as JSON
    #[arg(long)]
    pub json: bool,
    /// The allocation ID or a unique prefix of it
    pub alloc: String,
}

pub fn run(args: StatusArgs) -> i32 {
    let client = Client::new(&args.api);
    let alloc = match resolve_alloc(
        &client,
        &args.alloc,
        "Identifier must contain at least two characters.",
        Ambiguity::Exit0,
        args.verbose,
    ) {
        Ok(a) => a,
        Err(f) => {
            if f.code == 0 {
                println!("{}", f.message);
            } else {
                eprintln!("{}", f.message);
            }
            return f.code;
        }
    };
    if args.json {
        println!("{}", pretty_json(&alloc));
        return 0;
    }
    if args.short {
        print!("{}", short_text(&alloc, args.verbose));
        return 0;
    }
    let node_down = client
        .get(&format!("/v1/node/{}", encode(&s(&alloc, "NodeID"))))
        .is_ok_and(|node| s(&node, "Status") == "down");
    let live = matches!(s(&alloc, "ClientStatus").as_str(), "running" | "pending");
    if live && node_down {
        println!("Omitting resource statistics since the node is down.");
    }
    let stats = if live && !node_down {
        match client.get(&format!(
            "/v1/client/allocation/{}/stats",
            encode(&s(&alloc, "ID"))
        )) {
            Ok(stats) => Some(stats),
            Err(e) => {
                eprintln!("Couldn't retrieve stats: {e}");
                None
            }
        }
    } else {
        None
    };
    print!(
        "{}",
        status_text(&alloc, stats.as_ref(), args.stats, args.verbose)
    );
    0
}

/// JSON indented by 4, as Nomad's `-json` prints it.
fn pretty_json(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(v, &mut ser).expect("JSON values serialise");
    String::from_utf8(out).unwrap_or_default()
}

fn when(ns: i64, verbose: bool) -> String {
    if verbose {
        format::time_ns(ns)
    } else {
        format::ago_ns(ns)
    }
}

/// The full layout (§1.6).
pub fn status_text(
    alloc: &Value,
    stats: Option<&Value>,
    show_stats: bool,
    verbose: bool,
) -> String {
    let mut out = kv(&header_rows(alloc, verbose));
    out.push_str(&addresses(alloc));
    for task in ordered_tasks(alloc) {
        let state = alloc.get("TaskStates").and_then(|t| t.get(&task));
        let state_name = state.map(|st| s(st, "State")).unwrap_or_default();
        let state_name = if state_name.is_empty() {
            "pending".into()
        } else {
            state_name
        };
        out.push_str(&format!(
            "\nTask \"{task}\"{} is \"{state_name}\"\n",
            lifecycle_suffix(alloc, &task)
        ));
        let task_stats = stats
            .and_then(|st| st.get("Tasks"))
            .and_then(|t| t.get(&task))
            .and_then(|t| t.get("ResourceUsage"));
        out.push_str(&task_resources(alloc, &task, task_stats));
        if show_stats {
            if let Some(usage) = task_stats {
                out.push('\n');
                out.push_str(&verbose_usage(usage));
            }
        }
        if let Some(state) = state {
            out.push('\n');
            out.push_str(&task_status(state, verbose));
        }
    }
    if verbose {
        out.push_str(&placement_metrics(alloc));
    }
    out
}

fn header_rows(alloc: &Value, verbose: bool) -> Vec<String> {
    let job_version = alloc.get("Job").map_or(0, |j| n(j, "Version"));
    let mut rows = vec![
        format!("ID|{}", s(alloc, "ID")),
        format!("Eval ID|{}", short(&s(alloc, "EvalID"), verbose)),
        format!("Name|{}", s(alloc, "Name")),
        format!("Node ID|{}", short(&s(alloc, "NodeID"), verbose)),
        format!("Node Name|{}", s(alloc, "NodeName")),
        format!("Job ID|{}", s(alloc, "JobID")),
        format!("Job Version|{job_version}"),
        format!("Client Status|{}", s(alloc, "ClientStatus")),
        format!("Client Description|{}", s(alloc, "ClientDescription")),
        format!("Desired Status|{}", s(alloc, "DesiredStatus")),
        format!("Desired Description|{}", s(alloc, "DesiredDescription")),
        format!("Created|{}", when(n(alloc, "CreateTime"), verbose)),
        format!("Modified|{}", when(n(alloc, "ModifyTime"), verbose)),
    ];
    let deployment = s(alloc, "DeploymentID");
    if !deployment.is_empty() {
        rows.push(format!("Deployment ID|{}", short(&deployment, verbose)));
        let status = alloc.get("DeploymentStatus");
        let health = match status
            .and_then(|d| d.get("Healthy"))
            .and_then(Value::as_bool)
        {
            Some(true) => "healthy",
            Some(false) => "unhealthy",
            None => "unset",
        };
        rows.push(format!("Deployment Health|{health}"));
        if status
            .and_then(|d| d.get("Canary"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            rows.push("Canary|true".into());
        }
    }
    let next = s(alloc, "NextAllocation");
    if !next.is_empty() {
        rows.push(format!("Replacement Alloc ID|{}", short(&next, verbose)));
    }
    if verbose {
        let metrics = alloc.get("Metrics").cloned().unwrap_or(Value::Null);
        rows.push(format!("Evaluated Nodes|{}", n(&metrics, "NodesEvaluated")));
        rows.push(format!("Filtered Nodes|{}", n(&metrics, "NodesFiltered")));
        rows.push(format!("Exhausted Nodes|{}", n(&metrics, "NodesExhausted")));
        rows.push(format!(
            "Allocation Time|{}",
            drover::structs::format_duration(n(&metrics, "AllocationTime"))
        ));
        rows.push(format!("Failures|{}", n(&metrics, "CoalescedFailures")));
    }
    rows
}

/// `Allocation Addresses (mode = "host"):` when the group network has ports.
fn addresses(alloc: &Value) -> String {
    let shared = alloc
        .get("AllocatedResources")
        .and_then(|r| r.get("Shared"));
    let ports = shared
        .and_then(|sh| sh.get("Ports"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if ports.is_empty() {
        return String::new();
    }
    let mode = shared
        .and_then(|sh| sh.get("Networks"))
        .and_then(Value::as_array)
        .and_then(|nets| nets.first())
        .map(|net| s(net, "Mode"))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "host".into());
    let mut rows = vec!["Label|Dynamic|Address".to_string()];
    for p in &ports {
        let mut addr = format!("{}:{}", s(p, "HostIP"), n(p, "Value"));
        if n(p, "To") > 0 {
            addr.push_str(&format!(" -> {}", n(p, "To")));
        }
        rows.push(format!("*{}|yes|{addr}", s(p, "Label")));
    }
    format!(
        "\nAllocation Addresses (mode = \"{mode}\"):\n{}",
        format::table(&rows)
    )
}

fn group_task_values(alloc: &Value) -> Vec<Value> {
    let group = s(alloc, "TaskGroup");
    alloc
        .get("Job")
        .and_then(|j| j.get("TaskGroups"))
        .and_then(Value::as_array)
        .and_then(|gs| gs.iter().find(|g| s(g, "Name") == group))
        .and_then(|g| g.get("Tasks"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn lifecycle(alloc: &Value, task: &str) -> Option<(String, bool)> {
    let t = group_task_values(alloc)
        .into_iter()
        .find(|t| s(t, "Name") == task)?;
    let lc = t.get("Lifecycle").filter(|l| !l.is_null())?;
    let hook = s(lc, "Hook");
    if hook.is_empty() {
        return None;
    }
    Some((
        hook,
        lc.get("Sidecar").and_then(Value::as_bool).unwrap_or(false),
    ))
}

fn lifecycle_suffix(alloc: &Value, task: &str) -> String {
    match lifecycle(alloc, task) {
        Some((hook, true)) => format!(" ({hook} sidecar)"),
        Some((hook, false)) => format!(" ({hook})"),
        None => String::new(),
    }
}

/// Tasks by name, lifecycle hooks first (non-sidecar, then sidecars), then main tasks.
fn ordered_tasks(alloc: &Value) -> Vec<String> {
    let mut names: Vec<String> = alloc
        .get("TaskStates")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for t in group_task_values(alloc) {
        let name = s(&t, "Name");
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.sort_by_key(|t| {
        let rank = match lifecycle(alloc, t) {
            Some((_, false)) => 0,
            Some((_, true)) => 1,
            None => 2,
        };
        (rank, t.clone())
    });
    names
}

fn placement_metrics(alloc: &Value) -> String {
    let Some(scores) = alloc
        .get("Metrics")
        .and_then(|m| m.get("ScoreMetaData"))
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty())
    else {
        return String::new();
    };
    let mut names: Vec<String> = scores
        .iter()
        .filter_map(|sc| sc.get("Scores").and_then(Value::as_object))
        .flat_map(|m| m.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    let mut header = vec!["Node".to_string()];
    header.extend(names.iter().cloned());
    header.push("final score".into());
    let mut rows = vec![header.join("|")];
    for sc in scores {
        let mut row = vec![s(sc, "NodeID")];
        for name in &names {
            let v = sc
                .get("Scores")
                .and_then(|m| m.get(name))
                .and_then(Value::as_f64);
            row.push(v.map(|v| format!("{v:.3}")).unwrap_or_default());
        }
        let f = sc.get("NormScore").and_then(Value::as_f64).unwrap_or(0.0);
        row.push(format!("{f:.3}"));
        rows.push(row.join("|"));
    }
    format!("\nPlacement Metrics\n{}", format::table(&rows))
}

/// `-short`: the basics and one row per task.
pub fn short_text(alloc: &Value, verbose: bool) -> String {
    let mut out = kv(&[
        format!("ID|{}", s(alloc, "ID")),
        format!("Name|{}", s(alloc, "Name")),
        format!("Created|{}", when(n(alloc, "CreateTime"), verbose)),
        format!("Modified|{}", when(n(alloc, "ModifyTime"), verbose)),
    ]);
    out.push_str("\nTasks\n");
    let mut rows = vec!["Name|State|Last Event|Time|Lifecycle".to_string()];
    for task in ordered_tasks(alloc) {
        let state = alloc
            .get("TaskStates")
            .and_then(|t| t.get(&task))
            .cloned()
            .unwrap_or(Value::Null);
        let last = state
            .get("Events")
            .and_then(Value::as_array)
            .and_then(|e| e.last())
            .cloned()
            .unwrap_or(Value::Null);
        let lc = match lifecycle(alloc, &task) {
            Some((hook, true)) => format!("{hook}-sidecar"),
            Some((hook, false)) => hook,
            None => "main".into(),
        };
        rows.push(format!(
            "{task}|{}|{}|{}|{lc}",
            s(&state, "State"),
            s(&last, "Type"),
            format::time_ns(n(&last, "Time"))
        ));
    }
    out.push_str(&format::table(&rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An allocation as `GET /v1/allocation/:id` returned it (trimmed), with its stats.
    fn recorded() -> (Value, Value) {
        let alloc = serde_json::json!({
            "ID": "8ba85cef-3c7a-4e5b-9a51-0d5e6f2a7c10",
            "EvalID": "6f0a6f0f-0000-0000-0000-000000000000",
            "Name": "example.cache[0]",
            "NodeID": "171a583b-0000-0000-0000-000000000000",
            "NodeName": "myhost",
            "JobID": "example",
            "Job": {"Version": 2, "TaskGroups": [{"Name": "cache", "Tasks": [
                {"Name": "redis"},
                {"Name": "init", "Lifecycle": {"Hook": "prestart", "Sidecar": false}}
            ]}]},
            "TaskGroup": "cache",
            "ClientStatus": "running",
            "ClientDescription": "Tasks are running",
            "DesiredStatus": "run",
            "DesiredDescription": "",
            "CreateTime": 1_700_000_000_000_000_000i64,
            "ModifyTime": 1_700_000_010_000_000_000i64,
            "DeploymentID": "a1b2c3d4-0000-0000-0000-000000000000",
            "DeploymentStatus": {"Healthy": true},
            "AllocatedResources": {
                "Tasks": {
                    "redis": {"Cpu": {"CpuShares": 500}, "Memory": {"MemoryMB": 256, "MemoryMaxMB": 512}},
                    "init": {"Cpu": {"CpuShares": 100}, "Memory": {"MemoryMB": 64}}
                },
                "Shared": {"DiskMB": 300, "Networks": [{"Mode": "host"}],
                           "Ports": [{"Label": "db", "Value": 24981, "To": 6379, "HostIP": "127.0.0.1"}]}
            },
            "TaskStates": {
                "redis": {"State": "running", "Restarts": 0,
                    "StartedAt": "2023-11-14T22:13:23Z", "FinishedAt": "0001-01-01T00:00:00Z",
                    "LastRestart": "0001-01-01T00:00:00Z",
                    "Events": [
                        {"Type": "Received", "Time": 1_700_000_001_000_000_000i64},
                        {"Type": "Task Setup", "Message": "Building Task Directory", "Time": 1_700_000_002_000_000_000i64},
                        {"Type": "Started", "Time": 1_700_000_003_000_000_000i64, "DisplayMessage": "Task started by client"}
                    ]},
                "init": {"State": "dead", "Events": []}
            }
        });
        let stats = serde_json::json!({"Tasks": {"redis": {"ResourceUsage": {
            "MemoryStats": {"RSS": 1677721, "Cache": 1048576, "Swap": 0, "Usage": 2831155,
                            "MaxUsage": 3355443, "Measured": ["RSS", "Cache", "Swap", "Usage", "Max Usage"]},
            "CpuStats": {"Percent": 0.1234, "SystemMode": 0.05, "UserMode": 0.07, "TotalTicks": 4.9,
                         "ThrottledPeriods": 0, "ThrottledTime": 0,
                         "Measured": ["System Mode", "User Mode", "Throttled Periods", "Throttled Time", "Percent"]}
        }}}});
        (alloc, stats)
    }

    #[test]
    fn status_layout_from_recorded_json() {
        let (alloc, stats) = recorded();
        let text = status_text(&alloc, Some(&stats), true, false);
        let t = |ns: i64| format::time_ns(ns);
        let want_fragments = [
            "ID                  = 8ba85cef-3c7a-4e5b-9a51-0d5e6f2a7c10\nEval ID             = 6f0a6f0f\n".to_string(),
            "Job Version         = 2\n".into(),
            "Desired Description = <none>\n".into(),
            "Deployment ID       = a1b2c3d4\nDeployment Health   = healthy\n".into(),
            "\nAllocation Addresses (mode = \"host\"):\nLabel  Dynamic  Address\n*db    yes      127.0.0.1:24981 -> 6379\n".into(),
            // Lifecycle tasks first; a task without stats shows its reservation.
            "\nTask \"init\" (prestart) is \"dead\"\nTask Resources:\nCPU      Memory  Disk     Addresses\n100 MHz  64 MiB  300 MiB\n".into(),
            "\nTask \"redis\" is \"running\"\nTask Resources:\nCPU        Memory           Disk     Addresses\n4/500 MHz  1.6 MiB/256 MiB  300 MiB\n           Max: 512 MiB\n".into(),
            "\nMemory Stats\nCache    Max Usage  RSS      Swap  Usage\n1.0 MiB  3.2 MiB    1.6 MiB  0 B   2.7 MiB\n".into(),
            "\nCPU Stats\nPercent  System Mode  Throttled Periods  Throttled Time  User Mode\n0.12%    0.05%        0                  0               0.07%\n".into(),
            "\nTask Events:\nStarted At     = ".into(),
            "Finished At    = N/A\nTotal Restarts = 0\nLast Restart   = N/A\n".into(),
            format!(
                "\nRecent Events:\nTime{pad}Type        Description\n{}  Started     Task started by client\n{}  Task Setup  Building Task Directory\n{}  Received    Task received by client\n",
                t(1_700_000_003_000_000_000),
                t(1_700_000_002_000_000_000),
                t(1_700_000_001_000_000_000),
                pad = " ".repeat(t(1).len() - 2),
            ),
        ];
        for want in &want_fragments {
            assert!(
                text.contains(want.as_str()),
                "missing:\n{want}\nin:\n{text}"
            );
        }
        assert!(text.find("Task \"init\"") < text.find("Task \"redis\""));
        // Without -stats no Memory Stats; without stats the reservation only.
        let plain = status_text(&alloc, None, true, false);
        assert!(!plain.contains("Memory Stats"));
        assert!(
            plain.contains(
                "\nCPU      Memory        Disk     Addresses\n500 MHz  256 MiB       300 MiB\n"
            ),
            "{plain}"
        );
        let short = short_text(&alloc, false);
        assert!(
            short.contains("\nTasks\nName   State    Last Event  Time"),
            "{short}"
        );
        assert!(short.contains("init   dead"), "{short}");
        assert!(short.contains("prestart"), "{short}");
    }
}
