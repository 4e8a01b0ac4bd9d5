//! `drover job plan|run|status|stop` and `drover status` against a real dev agent: the
//! CLI binary run with NOMAD_ADDR, a client node simulated over the internal API.

#[allow(dead_code)]
mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::agent::{client_node, TestAgent};
use serde_json::json;

const REDIS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/jobs/redis.nomad");

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn drover(agent: &TestAgent, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .env("NOMAD_ADDR", &agent.addr)
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

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A client in a thread: marks the job's new allocations running and healthy, and the
/// ones told to stop complete, until `done` is set.
fn simulate_client(
    agent: &TestAgent,
    job: &str,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let addr = agent.addr.clone();
    let job = job.to_string();
    std::thread::spawn(move || {
        let http = common::agent::http_client(Duration::from_secs(30));
        while !done.load(Ordering::SeqCst) {
            let url = format!("{addr}/v1/job/{job}/allocations");
            if let Ok(resp) = common::agent::try_request(&http, "GET", &url, None) {
                if resp.status == 200 {
                    let mut updates = Vec::new();
                    for a in resp.json().as_array().into_iter().flatten() {
                        let desired = a["DesiredStatus"].as_str().unwrap_or_default();
                        let status = a["ClientStatus"].as_str().unwrap_or_default();
                        let id = a["ID"].as_str().unwrap_or_default();
                        if desired == "run" && status == "pending" {
                            updates.push(json!({"ID": id, "ClientStatus": "running",
                                "DeploymentStatus": {"Healthy": true}}));
                        } else if desired != "run" && (status == "running" || status == "pending") {
                            updates.push(json!({"ID": id, "ClientStatus": "complete"}));
                        }
                    }
                    if !updates.is_empty() {
                        let url = format!("{addr}/v1/internal/allocations/update");
                        let body = serde_json::Value::Array(updates).to_string();
                        let _ = common::agent::try_request(&http, "PUT", &url, Some(body));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
}

#[test]
fn plan_run_status_stop() {
    let agent = TestAgent::dev_no_client();

    // A new job on an empty server: everything is an addition; allocations would be created.
    let plan = drover(&agent, &["job", "plan", REDIS]);
    assert_eq!(plan.code, 1, "{plan}");
    assert!(plan.stdout.contains("+ Job: \"redis\""), "{plan}");
    assert!(plan.stdout.contains("+ Task Group: \"cache\""), "{plan}");
    assert!(plan.stdout.contains("Scheduler dry-run:"), "{plan}");
    assert!(plan.stdout.contains("Job Modify Index: 0"), "{plan}");
    assert!(plan.stdout.contains("job run -check-index 0 "), "{plan}");

    // No job: status says so.
    let none = drover(&agent, &["status"]);
    assert_eq!(none.code, 0, "{none}");
    assert_eq!(none.stdout.trim(), "No running jobs", "{none}");
    let missing = drover(&agent, &["job", "status", "nope"]);
    assert_eq!(missing.code, 1, "{missing}");
    assert!(
        missing
            .stderr
            .contains("No job(s) with prefix or ID \"nope\" found"),
        "{missing}"
    );

    // A simulated client node, and a thread acting for it.
    let node = "5c1a0b8e-3f5e-4d55-9b7a-0e2a7e1c9f01";
    let reg = agent.put("/v1/internal/node/register", &client_node(node));
    assert_eq!(reg.status, 200, "{}", reg.text);
    let done = Arc::new(AtomicBool::new(false));
    let client = simulate_client(&agent, "redis", done.clone());

    // Submit and monitor: the eval completes, the deployment succeeds.
    let run = drover(&agent, &["job", "run", REDIS]);
    assert_eq!(run.code, 0, "{run}\nagent log:\n{}", agent.log());
    assert!(run.stdout.contains("Monitoring evaluation \""), "{run}");
    assert!(
        run.stdout.contains("Evaluation triggered by job \"redis\""),
        "{run}"
    );
    assert!(
        run.stdout.contains("finished with status \"complete\""),
        "{run}"
    );

    // Unchanged: nothing to create or destroy.
    let plan = drover(&agent, &["job", "plan", REDIS]);
    assert_eq!(plan.code, 0, "{plan}");
    assert!(plan.stdout.starts_with("Job: \"redis\""), "{plan}");
    let index_line = plan
        .stdout
        .lines()
        .find(|l| l.starts_with("Job Modify Index: "))
        .unwrap_or_else(|| panic!("{plan}"));
    let index: u64 = index_line["Job Modify Index: ".len()..].parse().unwrap();
    assert!(index > 0, "{plan}");

    // Status: the job's block, and the list.
    let status = drover(&agent, &["job", "status", "redis"]);
    assert_eq!(status.code, 0, "{status}");
    assert!(status.stdout.contains("ID            = redis"), "{status}");
    assert!(
        status.stdout.contains("Type          = service"),
        "{status}"
    );
    assert!(
        status.stdout.contains("Status        = running"),
        "{status}"
    );
    assert!(status.stdout.contains("\nSummary\n"), "{status}");
    assert!(status.stdout.contains("\nAllocations\n"), "{status}");
    let list = drover(&agent, &["status"]);
    assert!(list.stdout.starts_with("ID "), "{list}");
    assert!(list.stdout.contains("redis"), "{list}");

    // A stale check-index: refused with the server's text.
    let stale = index + 100;
    let stale_s = stale.to_string();
    let refused = drover(&agent, &["job", "run", "-check-index", &stale_s, REDIS]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(
        refused.stderr.contains(&format!(
            "Enforcing job modify index {stale}: job exists with conflicting job modify index: {index}"
        )),
        "{refused}"
    );
    assert!(refused.stderr.contains("Job not updated"), "{refused}");

    // The right index is accepted (and -detach prints the eval ID).
    let index_s = index.to_string();
    let ok = drover(
        &agent,
        &["job", "run", "-detach", "-check-index", &index_s, REDIS],
    );
    assert_eq!(ok.code, 0, "{ok}");
    assert!(
        ok.stdout
            .starts_with("Job registration successful\nEvaluation ID: "),
        "{ok}"
    );
    let eval_id = ok.stdout.lines().nth(1).unwrap()["Evaluation ID: ".len()..].to_string();
    assert_eq!(eval_id.len(), 36, "{ok}");

    // Stop, then the job is dead and stopped.
    let stop = drover(&agent, &["job", "stop", "redis"]);
    assert_eq!(stop.code, 0, "{stop}");
    assert!(stop.stdout.contains("Monitoring evaluation \""), "{stop}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = drover(&agent, &["job", "status", "redis"]);
        if status.stdout.contains("Status        = dead (stopped)") {
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let list = drover(&agent, &["job", "status"]);
    assert!(list.stdout.contains("dead (stopped)"), "{list}");

    // Purge: gone.
    let purge = drover(&agent, &["job", "stop", "-purge", "-detach", "redis"]);
    assert_eq!(purge.code, 0, "{purge}");
    assert_eq!(purge.stdout.trim().len(), 36, "{purge}");
    let gone = drover(&agent, &["status", "redis"]);
    assert_eq!(gone.code, 1, "{gone}");

    done.store(true, Ordering::SeqCst);
    client.join().unwrap();
}

#[test]
fn run_detach_and_output() {
    let agent = TestAgent::dev_no_client();
    let run = drover(&agent, &["job", "run", "-detach", REDIS]);
    assert_eq!(run.code, 0, "{run}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "Job registration successful", "{run}");
    assert!(lines[1].starts_with("Evaluation ID: "), "{run}");
    assert_eq!(lines[1].len(), "Evaluation ID: ".len() + 36, "{run}");

    // -output still prints the JSON and submits nothing new.
    let output = drover(&agent, &["job", "run", "-output", REDIS]);
    assert_eq!(output.code, 0, "{output}");
    assert!(output.stdout.starts_with("{\n    \"Job\": {"), "{output}");

    // A bad address: Nomad-style error, exit 1.
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["job", "run", "-address", "http://127.0.0.1:1", REDIS])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("Error submitting job: "));
}
