//! The `drover` CLI binary as a user runs it against a test agent: its output and exit
//! code, a simulated client node, polling helpers.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::agent::{client_node, http_client, try_request, TestAgent};
use serde_json::{json, Value};

pub const REDIS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/jobs/redis.nomad");
pub const NODE: &str = "7d3c2b1a-0f9e-4d8c-b7a6-5e4d3c2b1a09";

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `drover ARGS` in `dir` with NOMAD_ADDR pointing at `addr`.
pub fn drover_in(dir: &Path, addr: &str, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .current_dir(dir)
        .env("NOMAD_ADDR", addr)
        .env_remove("DROVER_ADDR")
        .env_remove("NOMAD_NAMESPACE")
        .env_remove("NOMAD_TOKEN")
        .output()
        .expect("run drover");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn drover(agent: &TestAgent, args: &[&str]) -> Out {
    drover_in(&agent.data_dir, &agent.addr, args)
}

/// The server alone (no client of its own), state in `dir`.
pub fn agent(dir: &Path) -> TestAgent {
    TestAgent::server(&dir.join("agent"))
}

/// Stops the simulated client when the test ends, also on failure.
pub struct SimulatedClient {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for SimulatedClient {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Registers the node and acts for it: new allocations become running and healthy (and
/// so do running ones a new deployment took over), those told to stop become complete.
pub fn simulate_client(agent: &TestAgent) -> SimulatedClient {
    let reg = agent.put("/v1/internal/node/register", &client_node(NODE));
    assert_eq!(reg.status, 200, "{}", reg.text);
    let addr = agent.addr.clone();
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    let thread = std::thread::spawn(move || {
        let http = http_client(Duration::from_secs(30));
        // Health is per deployment: an allocation a new deployment took over in place
        // still carries the old one's health, so reports are remembered per pair.
        let mut reported = std::collections::HashSet::new();
        while !stop.load(Ordering::SeqCst) {
            let url = format!("{addr}/v1/allocations");
            if let Ok(resp) = try_request(&http, "GET", &url, None) {
                let mut updates = Vec::new();
                if resp.status == 200 {
                    for a in resp.json().as_array().into_iter().flatten() {
                        let desired = a["DesiredStatus"].as_str().unwrap_or_default();
                        let status = a["ClientStatus"].as_str().unwrap_or_default();
                        let id = a["ID"].as_str().unwrap_or_default();
                        let deployment = a["DeploymentID"].as_str().unwrap_or_default();
                        let unreported = !deployment.is_empty()
                            && !reported.contains(&(id.to_string(), deployment.to_string()));
                        if desired == "run" && (status == "pending" || unreported) {
                            reported.insert((id.to_string(), deployment.to_string()));
                            updates.push(json!({"ID": id, "ClientStatus": "running",
                                "DeploymentStatus": {"Healthy": true}}));
                        } else if desired != "run" && (status == "running" || status == "pending") {
                            updates.push(json!({"ID": id, "ClientStatus": "complete"}));
                        }
                    }
                }
                if !updates.is_empty() {
                    let url = format!("{addr}/v1/internal/allocations/update");
                    let body = Value::Array(updates).to_string();
                    let _ = try_request(&http, "PUT", &url, Some(body));
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    SimulatedClient {
        done,
        thread: Some(thread),
    }
}

/// Retries `args` until `ok` accepts the output (hang protection only).
pub fn eventually(agent: &TestAgent, args: &[&str], ok: impl Fn(&Out) -> bool) -> Out {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = drover(agent, args);
        if ok(&out) {
            return out;
        }
        assert!(Instant::now() < deadline, "{args:?}: {out}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The 8-character ID in `Monitoring evaluation "abcd1234"`.
pub fn monitored_eval(out: &Out) -> String {
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("Monitoring evaluation \""))
        .unwrap_or_else(|| panic!("{out}"));
    line.split('"').nth(1).unwrap().to_string()
}

/// The Summary row of `group` in `job status`: Queued, Starting, Running, ...
pub fn summary_row(status: &str, group: &str) -> Vec<i64> {
    let section = status.split("\nSummary\n").nth(1).unwrap_or_default();
    section
        .lines()
        .find(|l| l.split_whitespace().next() == Some(group))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .filter_map(|c| c.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}
