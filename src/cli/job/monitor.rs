//! The evaluation and deployment monitor `job run` and `job stop` print.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::cli::format::{self, n, s, short};
use crate::cli::http::{encode, Client};

const POLL: Duration = Duration::from_secs(1);

fn info(msg: &str) {
    println!("==> {}: {msg}", format::time_now());
}

fn output(msg: &str) {
    println!("    {}: {msg}", format::time_now());
}

/// Follows the evaluation (and the deployment it started, with `deployment`) to the end;
/// the exit code: 0 done, 2 some allocations could not be placed, 1 errors.
pub fn monitor(client: &Client, eval_id: &str, verbose: bool, deployment: bool) -> i32 {
    let mut code = 0;
    let mut eval_id = eval_id.to_string();
    info(&format!(
        "Monitoring evaluation \"{}\"",
        short(&eval_id, verbose)
    ));
    let deployment_id = loop {
        let (eval, c) = match monitor_eval(client, &eval_id, verbose) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        };
        code = code.max(c);
        let next = s(&eval, "NextEval");
        if next.is_empty() {
            break s(&eval, "DeploymentID");
        }
        let wait = s(&eval, "Wait");
        info(&format!(
            "Monitoring next evaluation \"{}\" in {wait}",
            short(&next, verbose)
        ));
        eval_id = next;
    };
    if !deployment || deployment_id.is_empty() {
        return code;
    }
    info(&format!(
        "Monitoring deployment \"{}\"",
        short(&deployment_id, verbose)
    ));
    match monitor_deployment(client, &deployment_id, verbose) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn monitor_eval(client: &Client, id: &str, verbose: bool) -> Result<(Value, i32), String> {
    let mut seen_trigger = false;
    let mut seen_deployment = false;
    let mut status = "pending".to_string();
    let mut allocs: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let eval = client
            .get(&format!("/v1/evaluation/{}", encode(id)))
            .map_err(|e| format!("Error reading evaluation: {e}"))?;
        if !seen_trigger {
            seen_trigger = true;
            let node = s(&eval, "NodeID");
            if !node.is_empty() {
                output(&format!(
                    "Evaluation triggered by node \"{}\"",
                    short(&node, verbose)
                ));
            } else {
                output(&format!(
                    "Evaluation triggered by job \"{}\"",
                    s(&eval, "JobID")
                ));
            }
        }
        let dep = s(&eval, "DeploymentID");
        if !seen_deployment && !dep.is_empty() {
            seen_deployment = true;
            output(&format!(
                "Evaluation within deployment: \"{}\"",
                short(&dep, verbose)
            ));
        }
        let list = client
            .get(&format!("/v1/evaluation/{}/allocations", encode(id)))
            .map_err(|e| format!("Error reading allocations: {e}"))?;
        for alloc in list.as_array().into_iter().flatten() {
            let aid = s(alloc, "ID");
            let client_status = s(alloc, "ClientStatus");
            match allocs.get(&aid) {
                None => {
                    let verb = if n(alloc, "CreateIndex") < n(&eval, "CreateIndex") {
                        Some("modified")
                    } else if s(alloc, "DesiredStatus") == "run" {
                        Some("created")
                    } else {
                        None
                    };
                    if let Some(verb) = verb {
                        output(&format!(
                            "Allocation \"{}\" {verb}: node \"{}\", group \"{}\"",
                            short(&aid, verbose),
                            short(&s(alloc, "NodeID"), verbose),
                            s(alloc, "TaskGroup")
                        ));
                    }
                }
                Some(old) if *old != client_status => {
                    let desc = s(alloc, "ClientDescription");
                    let desc = if desc.is_empty() {
                        String::new()
                    } else {
                        format!(" ({desc})")
                    };
                    output(&format!(
                        "Allocation \"{}\" status changed: \"{old}\" -> \"{client_status}\"{desc}",
                        short(&aid, verbose)
                    ));
                }
                Some(_) => {}
            }
            allocs.insert(aid, client_status);
        }
        let new_status = s(&eval, "Status");
        if new_status != status && new_status != "pending" {
            output(&format!(
                "Evaluation status changed: \"{status}\" -> \"{new_status}\""
            ));
            status = new_status.clone();
        }
        if matches!(new_status.as_str(), "complete" | "failed" | "canceled") {
            let failed = eval
                .get("FailedTGAllocs")
                .and_then(Value::as_object)
                .filter(|m| !m.is_empty());
            let short_id = short(id, verbose);
            let Some(failed) = failed else {
                info(&format!(
                    "Evaluation \"{short_id}\" finished with status \"{new_status}\""
                ));
                return Ok((eval, 0));
            };
            info(&format!(
                "Evaluation \"{short_id}\" finished with status \"{new_status}\" but failed to place all allocations:"
            ));
            for (group, metrics) in failed {
                print!("{}", failed_group(group, metrics, 4));
            }
            let blocked = s(&eval, "BlockedEval");
            if !blocked.is_empty() {
                output(&format!(
                    "Evaluation \"{}\" waiting for additional capacity to place remainder",
                    short(&blocked, verbose)
                ));
            }
            return Ok((eval, 2));
        }
        std::thread::sleep(POLL);
    }
}

/// `Task Group "<g>" (failed to place N allocation[s]):` and the metric bullets.
pub fn failed_group(group: &str, metrics: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let count = n(metrics, "CoalescedFailures") + 1;
    let plural = if count == 1 { "" } else { "s" };
    let mut out =
        format!("{pad}Task Group \"{group}\" (failed to place {count} allocation{plural}):\n");
    let bullet = |out: &mut String, text: String| out.push_str(&format!("{pad}  * {text}\n"));
    if n(metrics, "NodesEvaluated") == 0 {
        bullet(&mut out, "No nodes were eligible for evaluation".into());
    }
    if let Some(dcs) = metrics.get("NodesAvailable").and_then(Value::as_object) {
        for (dc, avail) in dcs {
            if avail.as_i64() == Some(0) {
                bullet(
                    &mut out,
                    format!("No nodes are available in datacenter \"{dc}\""),
                );
            }
        }
    }
    for (key, fmt) in [
        ("ClassFiltered", "Class \"{}\": {} nodes excluded by filter"),
        (
            "ConstraintFiltered",
            "Constraint \"{}\": {} nodes excluded by filter",
        ),
    ] {
        if let Some(m) = metrics.get(key).and_then(Value::as_object) {
            for (k, v) in m {
                let line = fmt.replacen("{}", k, 1).replacen("{}", &v.to_string(), 1);
                bullet(&mut out, line);
            }
        }
    }
    let exhausted = n(metrics, "NodesExhausted");
    if exhausted > 0 {
        bullet(
            &mut out,
            format!("Resources exhausted on {exhausted} nodes"),
        );
    }
    for (key, fmt) in [
        ("ClassExhausted", "Class \"{}\" exhausted on {} nodes"),
        (
            "DimensionExhausted",
            "Dimension \"{}\" exhausted on {} nodes",
        ),
    ] {
        if let Some(m) = metrics.get(key).and_then(Value::as_object) {
            for (k, v) in m {
                let line = fmt.replacen("{}", k, 1).replacen("{}", &v.to_string(), 1);
                bullet(&mut out, line);
            }
        }
    }
    out
}

/// Polls the deployment until it ends; `Ok(true)` when it succeeded.
fn monitor_deployment(client: &Client, id: &str, verbose: bool) -> Result<bool, String> {
    loop {
        let dep = client
            .get(&format!("/v1/deployment/{}", encode(id)))
            .map_err(|e| format!("Error fetching deployment: {e}"))?;
        let status = s(&dep, "Status");
        if matches!(
            status.as_str(),
            "successful" | "failed" | "cancelled" | "blocked"
        ) {
            let ok = status == "successful";
            let mark = if ok { "✓" } else { "!" };
            println!("  {mark} Deployment \"{}\" {status}", short(id, verbose));
            println!();
            let mut block = format!("{}\n", format::time_now());
            block.push_str(&format::kv(&[
                format!("ID|{}", short(id, verbose)),
                format!("Job ID|{}", s(&dep, "JobID")),
                format!("Job Version|{}", n(&dep, "JobVersion")),
                format!("Status|{status}"),
                format!("Description|{}", s(&dep, "StatusDescription")),
            ]));
            block.push_str("\nDeployed\n");
            block.push_str(&deployed_table(&dep));
            for line in block.lines() {
                if line.is_empty() {
                    println!();
                } else {
                    println!("    {line}");
                }
            }
            return Ok(ok);
        }
        std::thread::sleep(POLL);
    }
}

/// The `Deployed` table of a deployment.
pub fn deployed_table(dep: &Value) -> String {
    let empty = serde_json::Map::new();
    let groups = dep
        .get("TaskGroups")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let any = |f: &dyn Fn(&Value) -> bool| groups.values().any(f);
    let auto_revert = any(&|g| g.get("AutoRevert").and_then(Value::as_bool) == Some(true));
    let canaries = any(&|g| n(g, "DesiredCanaries") > 0);
    let deadline = any(&|g| !format::time_str(&s(g, "RequireProgressBy")).is_empty());
    let mut header = vec!["Task Group"];
    if auto_revert {
        header.push("Auto Revert");
    }
    if canaries {
        header.push("Promoted");
    }
    header.push("Desired");
    if canaries {
        header.push("Canaries");
    }
    header.extend(["Placed", "Healthy", "Unhealthy"]);
    if deadline {
        header.push("Progress Deadline");
    }
    let mut rows = vec![header.join("|")];
    for (name, g) in groups {
        let mut row = vec![name.clone()];
        if auto_revert {
            row.push(s(g, "AutoRevert"));
        }
        if canaries {
            row.push(s(g, "Promoted"));
        }
        row.push(n(g, "DesiredTotal").to_string());
        if canaries {
            row.push(n(g, "DesiredCanaries").to_string());
        }
        for k in ["PlacedAllocs", "HealthyAllocs", "UnhealthyAllocs"] {
            row.push(n(g, k).to_string());
        }
        if deadline {
            let t = format::time_str(&s(g, "RequireProgressBy"));
            row.push(if t.is_empty() { "N/A".into() } else { t });
        }
        rows.push(row.join("|"));
    }
    format::table(&rows)
}
