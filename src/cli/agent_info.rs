//! `drover agent-info`, `drover server members` and `drover version`.

use clap::Args;
use serde_json::Value;

use crate::cli::format::{self, s};
use crate::cli::http::{ApiFlags, Client};
use crate::cli::lookup::json_pretty;

#[derive(Debug, Args)]
pub struct AgentInfoArgs {
    /// Print the agent's self description as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiFlags,
}

#[derive(Debug, Args)]
pub struct MembersArgs {
    /// Protocol version and all tags
    #[arg(long)]
    pub verbose: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiFlags,
}

/// `drover v0.1.0`, as `nomad version` prints `Nomad v1.7.2`.
pub fn version_line() -> String {
    format!("drover v{}", env!("CARGO_PKG_VERSION"))
}

pub fn version() -> i32 {
    println!("{}", version_line());
    0
}

/// Each stats section sorted by name, its keys sorted: `  key = value`.
pub fn agent_info(args: &AgentInfoArgs) -> i32 {
    let client = Client::new(&args.api);
    let info = match client.get("/v1/agent/self") {
        Ok(i) => i,
        Err(e) => {
            eprintln!("Error querying agent info: {e}");
            return 1;
        }
    };
    if args.json {
        println!("{}", json_pretty(&info));
        return 0;
    }
    // serde_json's maps are sorted: sections and keys come out in Nomad's order.
    let empty = serde_json::Map::new();
    let stats = info
        .get("stats")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (section, data) in stats {
        println!("{section}");
        for (key, value) in data.as_object().unwrap_or(&empty) {
            let text = match value {
                Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            println!("  {key} = {text}");
        }
    }
    0
}

pub fn members(args: &MembersArgs) -> i32 {
    let client = Client::new(&args.api);
    let resp = match client.get("/v1/agent/members") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error querying servers: {e}");
            return 1;
        }
    };
    let members = resp
        .get("Members")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if members.is_empty() {
        eprintln!("Agent doesn't know about server members");
        return 0;
    }
    if args.json {
        println!("{}", json_pretty(&members));
        return 0;
    }
    let leader = client
        .get("/v1/status/leader")
        .ok()
        .and_then(|l| l.as_str().map(String::from))
        .unwrap_or_default();
    let mut rows = vec![if args.verbose {
        "Name|Address|Port|Status|Leader|Protocol|Raft Version|Build|Datacenter|Region|Tags"
    } else {
        "Name|Address|Port|Status|Leader|Raft Version|Build|Datacenter|Region"
    }
    .to_string()];
    for m in &members {
        let empty = serde_json::Map::new();
        let tags = m.get("Tags").and_then(Value::as_object).unwrap_or(&empty);
        let tag = |k: &str| tags.get(k).and_then(Value::as_str).unwrap_or_default();
        let is_leader = !leader.is_empty() && leader == format!("{}:{}", s(m, "Addr"), tag("port"));
        let mut row = format!(
            "{}|{}|{}|{}|{is_leader}",
            s(m, "Name"),
            s(m, "Addr"),
            s(m, "Port"),
            s(m, "Status"),
        );
        if args.verbose {
            row.push_str(&format!("|{}", s(m, "ProtocolCur")));
        }
        row.push_str(&format!(
            "|{}|{}|{}|{}",
            tag("raft_vsn"),
            tag("build"),
            tag("dc"),
            tag("region")
        ));
        if args.verbose {
            let pairs: Vec<String> = tags
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            row.push_str(&format!("|{}", pairs.join(",")));
        }
        rows.push(row);
    }
    print!("{}", format::table(&rows));
    0
}
