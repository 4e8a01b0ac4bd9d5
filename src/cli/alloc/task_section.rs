//! One task's part of `alloc status`: its resources (live when the client answered),
//! `-stats` memory and CPU tables, and its events.

use serde_json::Value;

use crate::cli::format::{self, kv, n, s};

/// go-humanize's `IBytes`.
pub fn ibytes(bytes: u64) -> String {
    if bytes < 10 {
        return format!("{bytes} B");
    }
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let exp = ((bytes as f64).ln() / 1024f64.ln()).floor() as usize;
    let exp = exp.min(units.len() - 1);
    let value = (bytes as f64 / 1024f64.powi(exp as i32) * 10.0).round() / 10.0;
    if value < 10.0 {
        format!("{value:.1} {}", units[exp])
    } else {
        format!("{value:.0} {}", units[exp])
    }
}

/// Rows padded like `formatListWithSpaces`: blank cells stay blank.
fn spaced_table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `Task Resources:` — live CPU MHz and memory when the client answered.
pub fn task_resources(alloc: &Value, task: &str, usage: Option<&Value>) -> String {
    let resources = alloc.get("AllocatedResources");
    let Some(tr) = resources
        .and_then(|r| r.get("Tasks"))
        .and_then(|t| t.get(task))
    else {
        return String::new();
    };
    let cpu = tr.get("Cpu").map_or(0, |c| n(c, "CpuShares"));
    let memory = tr.get("Memory").map_or(0, |m| n(m, "MemoryMB")) as u64;
    let memory_max = tr.get("Memory").map_or(0, |m| n(m, "MemoryMaxMB")) as u64;
    let disk = resources
        .and_then(|r| r.get("Shared"))
        .map_or(0, |sh| n(sh, "DiskMB")) as u64;
    let addresses: Vec<String> = tr
        .get("Networks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|net| {
            let ip = s(net, "IP");
            ["ReservedPorts", "DynamicPorts"]
                .iter()
                .filter_map(|k| net.get(*k).and_then(Value::as_array).cloned())
                .flatten()
                .map(move |p| format!("{}: {ip}:{}", s(&p, "Label"), n(&p, "Value")))
                .collect::<Vec<_>>()
        })
        .collect();
    let (cpu_text, mem_text) = match usage {
        Some(u) => {
            let cs = u.get("CpuStats").cloned().unwrap_or(Value::Null);
            let ms = u.get("MemoryStats").cloned().unwrap_or(Value::Null);
            let ticks = cs
                .get("TotalTicks")
                .and_then(Value::as_f64)
                .unwrap_or(0.0)
                .floor();
            let measured: Vec<String> = ms
                .get("Measured")
                .and_then(Value::as_array)
                .map(|m| {
                    m.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let used = if measured.iter().any(|m| m == "RSS") {
                ms.get("RSS").and_then(Value::as_u64).unwrap_or(0)
            } else {
                ms.get("Usage").and_then(Value::as_u64).unwrap_or(0)
            };
            (
                format!("{ticks}/{cpu} MHz"),
                format!("{}/{}", ibytes(used), ibytes(memory << 20)),
            )
        }
        None => (format!("{cpu} MHz"), ibytes(memory << 20)),
    };
    let mut rows = vec![
        vec![
            "CPU".into(),
            "Memory".into(),
            "Disk".into(),
            "Addresses".into(),
        ],
        vec![cpu_text, mem_text, ibytes(disk << 20), addresses.join(", ")],
    ];
    if memory_max > 0 && memory_max != memory {
        rows.push(vec![
            String::new(),
            format!("Max: {}", ibytes(memory_max << 20)),
            String::new(),
            String::new(),
        ]);
    }
    format!("Task Resources:\n{}", spaced_table(&rows))
}

/// `-stats`: Memory Stats and CPU Stats, columns the measured names sorted.
pub fn verbose_usage(usage: &Value) -> String {
    let section = |key: &str| {
        let v = usage.get(key).cloned().unwrap_or(Value::Null);
        let mut names: Vec<String> = v
            .get("Measured")
            .and_then(Value::as_array)
            .map(|m| {
                m.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        (v, names)
    };
    let (mem, mem_names) = section("MemoryStats");
    let mem_values: Vec<String> = mem_names
        .iter()
        .map(|name| {
            let field = match name.as_str() {
                "Max Usage" => "MaxUsage",
                "Kernel Usage" => "KernelUsage",
                "Kernel Max Usage" => "KernelMaxUsage",
                other => other,
            };
            ibytes(mem.get(field).and_then(Value::as_u64).unwrap_or(0))
        })
        .collect();
    let (cpu, cpu_names) = section("CpuStats");
    let cpu_values: Vec<String> = cpu_names
        .iter()
        .map(|name| {
            let f = |k: &str| cpu.get(k).and_then(Value::as_f64).unwrap_or(0.0);
            match name.as_str() {
                "Percent" => format!("{:.2}%", f("Percent")),
                "System Mode" => format!("{:.2}%", f("SystemMode")),
                "User Mode" => format!("{:.2}%", f("UserMode")),
                "Throttled Periods" => n(&cpu, "ThrottledPeriods").to_string(),
                "Throttled Time" => n(&cpu, "ThrottledTime").to_string(),
                _ => String::new(),
            }
        })
        .collect();
    let mut out = String::new();
    if !mem_names.is_empty() {
        out.push_str("Memory Stats\n");
        out.push_str(&format::table(&[mem_names.join("|"), mem_values.join("|")]));
    }
    if !cpu_names.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("CPU Stats\n");
        out.push_str(&format::table(&[cpu_names.join("|"), cpu_values.join("|")]));
    }
    out
}

fn time_or_na(rfc3339: &str) -> String {
    let t = format::time_str(rfc3339);
    if t.is_empty() {
        "N/A".into()
    } else {
        t
    }
}

/// `Task Events:` and `Recent Events:` (newest first).
pub fn task_status(state: &Value, verbose: bool) -> String {
    let mut out = String::from("Task Events:\n");
    out.push_str(&kv(&[
        format!("Started At|{}", time_or_na(&s(state, "StartedAt"))),
        format!("Finished At|{}", time_or_na(&s(state, "FinishedAt"))),
        format!("Total Restarts|{}", n(state, "Restarts")),
        format!("Last Restart|{}", time_or_na(&s(state, "LastRestart"))),
    ]));
    out.push_str("\nRecent Events:\n");
    let mut events: Vec<Value> = state
        .get("Events")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !verbose && events.len() > 10 {
        events.drain(..events.len() - 10);
    }
    let mut rows = vec!["Time|Type|Description".to_string()];
    for e in events.iter().rev() {
        let mut description = s(e, "DisplayMessage");
        if description.is_empty() {
            let event: drover::structs::TaskEvent =
                serde_json::from_value(e.clone()).unwrap_or_default();
            description = drover::api::events::display_message(&event);
        }
        rows.push(format!(
            "{}|{}|{}",
            format::time_ns(n(e, "Time")),
            s(e, "Type"),
            description.replace('|', "/")
        ));
    }
    out.push_str(&format::table(&rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibytes_reads_like_go_humanize() {
        let cases = [
            (0, "0 B"),
            (9, "9 B"),
            (1536 * 1024, "1.5 MiB"),
            (256 << 20, "256 MiB"),
            (784 * 1024, "784 KiB"),
            (300 << 20, "300 MiB"),
        ];
        for (bytes, want) in cases {
            assert_eq!(ibytes(bytes), want, "{bytes}");
        }
    }
}
