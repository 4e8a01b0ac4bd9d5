//! `drover node status|eligibility|drain`: the client nodes the server knows.

use std::io::{BufRead, Write};

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::cli::format::{self, n, s, short};
use crate::cli::http::{encode, ApiFlags, Client};
use crate::cli::lookup::{self, alloc_table, json_pretty, node_table, Kind};

#[derive(Debug, Args)]
pub struct NodeArgs {
    #[command(subcommand)]
    pub command: NodeCommand,
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// List the nodes, or show one (ID or prefix)
    Status(StatusArgs),
    /// Allow or forbid new allocations on a node
    Eligibility(ToggleArgs),
    /// Move a node's allocations elsewhere and make it ineligible (or end that)
    Drain(DrainArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The node of the agent at -address
    #[arg(long = "self")]
    pub self_node: bool,
    /// Count each node's running allocations
    #[arg(long)]
    pub allocs: bool,
    /// Full IDs and more columns
    #[arg(long)]
    pub verbose: bool,
    /// Only the node's key/value block and its allocations
    #[arg(long)]
    pub short: bool,
    /// Add the OS column
    #[arg(long)]
    pub os: bool,
    /// Only the node IDs
    #[arg(long)]
    pub quiet: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiFlags,
    /// The node (ID or prefix)
    pub node: Option<String>,
}

#[derive(Debug, Args)]
pub struct ToggleArgs {
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    #[arg(long)]
    pub disable: bool,
    /// The node of the agent at -address
    #[arg(long = "self")]
    pub self_node: bool,
    #[command(flatten)]
    pub api: ApiFlags,
    /// The node (ID or prefix)
    pub node: Option<String>,
}

#[derive(Debug, Args)]
pub struct DrainArgs {
    #[command(flatten)]
    pub toggle: ToggleArgs,
    /// Do not ask for confirmation
    #[arg(long)]
    pub yes: bool,
    /// Return at once instead of waiting (drover never waits: the flag is accepted)
    #[arg(long)]
    pub detach: bool,
    /// Leave system jobs' allocations on the node
    #[arg(long = "ignore-system")]
    pub ignore_system: bool,
    /// Keep the node ineligible when the drain is disabled
    #[arg(long = "keep-ineligible")]
    pub keep_ineligible: bool,
}

pub fn run(args: NodeArgs) -> i32 {
    match args.command {
        NodeCommand::Status(a) => status(&a),
        NodeCommand::Eligibility(a) => eligibility(&a),
        NodeCommand::Drain(a) => drain(&a),
    }
}

/// The local agent's node ID (`stats.client.node_id` of `/v1/agent/self`).
fn self_node_id(client: &Client) -> Result<String, String> {
    let me = client
        .get("/v1/agent/self")
        .map_err(|e| format!("Error querying agent info: {e}"))?;
    let id = me
        .pointer("/stats/client/node_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if id.is_empty() {
        return Err("Failed to determine the local node ID: the agent runs no client".into());
    }
    Ok(id.to_string())
}

/// The node's full ID from `-self` or a prefix; the text to print otherwise.
fn node_id(client: &Client, self_node: bool, prefix: Option<&str>) -> Result<String, String> {
    match (self_node, prefix) {
        (true, _) => self_node_id(client),
        (false, Some(p)) => lookup::resolve(client, Kind::Node, p, false).map(|v| s(&v, "ID")),
        (false, None) => Err("Node ID must be specified if -self isn't being used".into()),
    }
}

pub fn status(args: &StatusArgs) -> i32 {
    let client = Client::new(&args.api);
    if args.quiet && (args.verbose || args.json) {
        eprintln!("-quiet cannot be used with -verbose or -json");
        return 1;
    }
    if !args.self_node && args.node.is_none() {
        return list(&client, args);
    }
    let id = match node_id(&client, args.self_node, args.node.as_deref()) {
        Ok(id) => id,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    let node = match client.get(&format!("/v1/node/{}", encode(&id))) {
        Ok(nd) => nd,
        Err(e) => {
            eprintln!("Error querying node info: {e}");
            return 1;
        }
    };
    if args.json {
        println!("{}", json_pretty(&node));
        return 0;
    }
    let allocs = match client.get(&format!("/v1/node/{}/allocations", encode(&id))) {
        Ok(a) => a.as_array().cloned().unwrap_or_default(),
        Err(e) => {
            eprintln!("Error querying node allocations: {e}");
            return 1;
        }
    };
    print!("{}", detail(&client, &node, &allocs, args));
    0
}

fn list(client: &Client, args: &StatusArgs) -> i32 {
    let nodes = match client.get("/v1/nodes?os=true") {
        Ok(v) => v,
        Err(e) => {
            eprintln!("Error querying node status: {e}");
            return 1;
        }
    };
    if args.json {
        println!("{}", json_pretty(&nodes));
        return 0;
    }
    let nodes = nodes.as_array().cloned().unwrap_or_default();
    if nodes.is_empty() {
        if !args.quiet {
            println!("No nodes registered");
        }
        return 0;
    }
    if args.quiet {
        for nd in &nodes {
            println!("{}", s(nd, "ID"));
        }
        return 0;
    }
    if !args.verbose && !args.os && !args.allocs {
        print!("{}", node_table(&nodes, false));
        return 0;
    }
    let mut header = vec!["ID", "Node Pool", "DC", "Name", "Class"];
    if args.os {
        header.push("OS");
    }
    if args.verbose {
        header.extend(["Address", "Version"]);
    }
    header.extend(["Drain", "Eligibility", "Status"]);
    if args.allocs {
        header.push("Running Allocs");
    }
    let mut rows = vec![header.join("|")];
    for nd in &nodes {
        let mut row = vec![
            short(&s(nd, "ID"), args.verbose),
            s(nd, "NodePool"),
            s(nd, "Datacenter"),
            s(nd, "Name"),
            s(nd, "NodeClass"),
        ];
        if args.os {
            row.push(
                nd.pointer("/Attributes/os.name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        if args.verbose {
            row.extend([s(nd, "Address"), s(nd, "Version")]);
        }
        row.extend([
            nd.get("Drain")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string(),
            s(nd, "SchedulingEligibility"),
            s(nd, "Status"),
        ]);
        if args.allocs {
            let path = format!("/v1/node/{}/allocations", encode(&s(nd, "ID")));
            let running = match client.get(&path) {
                Ok(a) => a
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter(|a| s(a, "ClientStatus") == "running")
                            .count()
                    })
                    .unwrap_or(0),
                Err(e) => {
                    eprintln!("Error querying node allocations: {e}");
                    return 1;
                }
            };
            row.push(running.to_string());
        }
        rows.push(row.join("|"));
    }
    print!("{}", format::table(&rows));
    0
}

/// Detected drivers, `name (unhealthy)` for unhealthy ones, sorted.
fn drivers(node: &Value) -> String {
    let mut out: Vec<String> = node
        .get("Drivers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, d)| d.get("Detected").and_then(Value::as_bool) == Some(true))
        .map(|(name, d)| {
            if d.get("Healthy").and_then(Value::as_bool) == Some(true) {
                name.clone()
            } else {
                format!("{name} (unhealthy)")
            }
        })
        .collect();
    out.sort();
    out.join(",")
}

fn detail(client: &Client, node: &Value, allocs: &[Value], args: &StatusArgs) -> String {
    let mut rows = vec![
        format!("ID|{}", s(node, "ID")),
        format!("Name|{}", s(node, "Name")),
        format!("Node Pool|{}", s(node, "NodePool")),
        format!("Class|{}", s(node, "NodeClass")),
        format!("DC|{}", s(node, "Datacenter")),
        format!(
            "Drain|{}",
            node.get("Drain").and_then(Value::as_bool).unwrap_or(false)
        ),
        format!("Eligibility|{}", s(node, "SchedulingEligibility")),
        format!("Status|{}", s(node, "Status")),
        "CSI Controllers|".into(),
        "CSI Drivers|".into(),
    ];
    let mut allocs: Vec<Value> = allocs.to_vec();
    allocs.sort_by_key(|a| std::cmp::Reverse(n(a, "CreateIndex")));
    if args.short {
        rows.extend([
            "Host Volumes|".into(),
            "Host Networks|".into(),
            "CSI Volumes|".into(),
            format!("Drivers|{}", drivers(node)),
        ]);
        let mut out = format::kv(&rows);
        out.push_str("\nAllocations\n");
        out.push_str(&alloc_table(&allocs, args.verbose));
        return out;
    }
    // Uptime needs the client's host stats: left out while no client answers.
    let stats = client
        .get(&format!(
            "/v1/client/stats?node_id={}",
            encode(&s(node, "ID"))
        ))
        .ok();
    if let Some(up) = stats.as_ref().map(|st| n(st, "Uptime")).filter(|u| *u > 0) {
        rows.push(format!("Uptime|{}", go_duration(up)));
    }
    rows.extend([
        "Host Volumes|".into(),
        "Host Networks|".into(),
        "CSI Volumes|".into(),
        format!("Driver Status|{}", drivers(node)),
    ]);
    let mut out = format::kv(&rows);
    out.push_str("\nNode Events\n");
    let mut events: Vec<Value> = node
        .get("Events")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    events.reverse();
    let mut ev_rows = vec!["Time|Subsystem|Message".to_string()];
    for e in events.iter().take(10) {
        ev_rows.push(format!(
            "{}|{}|{}",
            format::time_str(&s(e, "Timestamp")),
            s(e, "Subsystem"),
            s(e, "Message")
        ));
    }
    out.push_str(&format::table(&ev_rows));
    out.push_str("\nAllocated Resources\n");
    out.push_str(&allocated_resources(node, &allocs));
    out.push_str("\nAllocations\n");
    if allocs.is_empty() {
        out.push_str("No allocations placed\n");
    } else {
        out.push_str(&alloc_table(&allocs, args.verbose));
    }
    out
}

/// `CPU|Memory|Disk` as `used/total`: the running allocations' reservations against
/// what the node offers beyond its own reservation.
fn allocated_resources(node: &Value, allocs: &[Value]) -> String {
    let total = |path: &str, reserved: &str| {
        node.pointer(path).and_then(Value::as_i64).unwrap_or(0)
            - node.pointer(reserved).and_then(Value::as_i64).unwrap_or(0)
    };
    let cpu_total = total(
        "/NodeResources/Cpu/CpuShares",
        "/ReservedResources/Cpu/CpuShares",
    );
    let mem_total = total(
        "/NodeResources/Memory/MemoryMB",
        "/ReservedResources/Memory/MemoryMB",
    );
    let disk_total = total(
        "/NodeResources/Disk/DiskMB",
        "/ReservedResources/Disk/DiskMB",
    );
    let (mut cpu, mut mem, mut disk) = (0, 0, 0);
    for a in allocs {
        let live = s(a, "ClientStatus") == "running"
            || (s(a, "ClientStatus") == "pending" && s(a, "DesiredStatus") == "run");
        if !live {
            continue;
        }
        if let Some(tasks) = a
            .pointer("/AllocatedResources/Tasks")
            .and_then(Value::as_object)
        {
            for t in tasks.values() {
                cpu += t
                    .pointer("/Cpu/CpuShares")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                mem += t
                    .pointer("/Memory/MemoryMB")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
            }
        }
        disk += a
            .pointer("/AllocatedResources/Shared/DiskMB")
            .and_then(Value::as_i64)
            .unwrap_or(0);
    }
    const MIB: i64 = 1024 * 1024;
    format::table(&[
        "CPU|Memory|Disk".to_string(),
        format!(
            "{cpu}/{cpu_total} MHz|{}/{}|{}/{}",
            ibytes(mem * MIB),
            ibytes(mem_total * MIB),
            ibytes(disk * MIB),
            ibytes(disk_total * MIB)
        ),
    ])
}

/// go-humanize's `IBytes`: `N B` under 10, else KiB/MiB/… with one decimal under 10.
fn ibytes(bytes: i64) -> String {
    if bytes < 10 {
        return format!("{bytes} B");
    }
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let e = ((bytes as f64).ln() / 1024f64.ln()).floor() as usize;
    let e = e.min(units.len() - 1);
    let val = (bytes as f64 / 1024f64.powi(e as i32) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {}", units[e])
    } else {
        format!("{val:.0} {}", units[e])
    }
}

/// Seconds as Go prints a `time.Duration`: `1h2m3s`, `4m0s`, `12s`.
fn go_duration(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

fn eligibility(args: &ToggleArgs) -> i32 {
    if !args.enable && !args.disable {
        eprintln!("Either the '-enable' or '-disable' flag must be set");
        return 1;
    }
    let client = Client::new(&args.api);
    let id = match node_id(&client, args.self_node, args.node.as_deref()) {
        Ok(id) => id,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    let value = if args.enable {
        "eligible"
    } else {
        "ineligible"
    };
    let body = json!({"NodeID": id, "Eligibility": value});
    if let Err(e) = client.put(&format!("/v1/node/{}/eligibility", encode(&id)), &body) {
        eprintln!("Error updating scheduling eligibility: {e}");
        return 1;
    }
    let state = if args.enable {
        "eligible for scheduling"
    } else {
        "ineligible for scheduling"
    };
    println!("Node {id:?} scheduling eligibility set: {state}");
    0
}

fn drain(args: &DrainArgs) -> i32 {
    let t = &args.toggle;
    if !t.enable && !t.disable {
        eprintln!("Either the '-enable' or '-disable' flag must be set, unless using '-monitor'");
        return 1;
    }
    let client = Client::new(&t.api);
    let id = match node_id(&client, t.self_node, t.node.as_deref()) {
        Ok(id) => id,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    if !args.yes {
        let verb = if t.enable { "enable" } else { "disable" };
        print!("Are you sure you want to {verb} drain mode for node {id:?}? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        match answer.trim() {
            "y" | "Y" | "yes" | "Yes" => {}
            "" | "n" | "N" | "no" | "No" => {
                println!("Canceling drain toggle");
                return 0;
            }
            _ => {
                println!("For confirmation, an exact 'y' is required.");
                return 0;
            }
        }
    }
    let spec = if t.enable {
        json!({"Deadline": 3_600_000_000_000i64, "IgnoreSystemJobs": args.ignore_system})
    } else {
        Value::Null
    };
    let body = json!({
        "NodeID": id,
        "DrainSpec": spec,
        "MarkEligible": t.disable && !args.keep_ineligible,
    });
    if let Err(e) = client.put(&format!("/v1/node/{}/drain", encode(&id)), &body) {
        eprintln!("Error updating drain specification: {e}");
        return 1;
    }
    if t.enable {
        println!("Node {id:?} drain strategy set");
    } else {
        println!("Node {id:?} drain strategy unset");
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_like_go_humanize() {
        let mib = 1024 * 1024;
        for (bytes, want) in [
            (0, "0 B"),
            (9, "9 B"),
            (784 * 1024, "784 KiB"),
            (256 * mib, "256 MiB"),
            (1536 * mib, "1.5 GiB"),
            (15 * 1024 * mib, "15 GiB"),
        ] {
            assert_eq!(ibytes(bytes), want, "{bytes}");
        }
    }
}
