//! The README's walkthrough, as a user types it: the real `drover` binary against a
//! real `drover agent -dev` (server and client), images from the test registry (the
//! agent mirrors Docker Hub there), tasks in namespaces and cgroups, ports through the
//! bridge. Then the same job across a kill -9 of an agent with a data dir.
//!
//! As root, with `scripts/testenv/up` run (scripts/test does both).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::agent::{client_config, TestAgent};
use serde_json::Value;

const REDIS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/jobs/redis.nomad");
/// Hang protection only; a healthy run takes a fraction of it.
const PATIENCE: Duration = Duration::from_secs(180);

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
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

fn drover_in(agent: &TestAgent, dir: &Path, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .current_dir(dir)
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

/// Waits until `check` returns Some, or fails the test with what was last seen.
fn wait_for<T>(agent: &TestAgent, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; agent log:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn allocs(agent: &TestAgent, job: &str) -> Vec<Value> {
    let list = agent.get(&format!("/v1/job/{job}/allocations")).ok();
    list.as_array().cloned().unwrap_or_default()
}

fn alloc(agent: &TestAgent, id: &str) -> Value {
    agent.get(&format!("/v1/allocation/{id}")).ok()
}

/// IDs of the job's allocations that run and are meant to.
fn running(agent: &TestAgent, job: &str) -> Vec<String> {
    let mut ids: Vec<String> = allocs(agent, job)
        .iter()
        .filter(|a| a["ClientStatus"] == "running" && a["DesiredStatus"] == "run")
        .map(|a| a["ID"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn host_port(agent: &TestAgent, alloc_id: &str) -> u16 {
    alloc(agent, alloc_id)["AllocatedResources"]["Shared"]["Ports"][0]["Value"]
        .as_u64()
        .expect("a db port") as u16
}

/// Redis's PING over a plain socket.
fn ping(addr: &str) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(5))
        .map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"PING\r\n").map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).map_err(|e| format!("{addr}: {e}"))?;
    Ok(String::from_utf8_lossy(&buf[..n]).trim().to_string())
}

/// A non-loopback IPv4 address of this host (the node's address), not one of the test
/// bridges'.
fn node_address() -> Option<String> {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let mut w = l.split_whitespace();
        let dev = w.nth(1)?;
        let addr = w.nth(1)?.split('/').next()?.to_string();
        (!dev.starts_with("dt") && !dev.starts_with("drover")).then_some(addr)
    })
}

fn job_modify_index(plan: &str) -> u64 {
    plan.lines()
        .find_map(|l| l.strip_prefix("Job Modify Index: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Job Modify Index in:\n{plan}"))
}

fn ns(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

#[test]
fn the_walkthrough_as_a_user_types_it() {
    let agent = TestAgent::dev();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let run = |args: &[&str]| drover_in(&agent, dir, args);

    // drover job init: a skeleton that validates.
    let out = run(&["job", "init"]);
    assert_eq!(out.code, 0, "{out}");
    let skeleton = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "hcl" || e == "nomad"))
        .expect("job init wrote a job file");
    let out = run(&["job", "validate", skeleton.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");

    // drover job run jobs/redis.nomad: pulls redis:3.2, starts it, waits until healthy.
    let job = dir.join("redis.nomad");
    std::fs::copy(REDIS, &job).unwrap();
    let job = job.to_str().unwrap();
    let out = run(&["job", "run", job]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("successful"), "{out}");
    let first = running(&agent, "redis");
    assert_eq!(
        first.len(),
        1,
        "{:#}",
        Value::Array(allocs(&agent, "redis"))
    );
    let first = first[0].clone();

    // drover job status redis / drover status redis.
    for args in [&["job", "status", "redis"][..], &["status", "redis"]] {
        let out = run(args);
        assert_eq!(out.code, 0, "{out}");
        assert!(out.stdout.contains("Status        = running"), "{out}");
        assert!(out.stdout.contains(&first[..8]), "{out}");
    }

    // The task answers on its host port at 127.0.0.1 and at the node's address.
    let port = host_port(&agent, &first);
    assert_eq!(ping(&format!("127.0.0.1:{port}")).unwrap(), "+PONG");
    if let Some(addr) = node_address() {
        assert_eq!(ping(&format!("{addr}:{port}")).unwrap(), "+PONG");
    }

    // drover alloc status -stats: usage read from the task's cgroup files.
    let stats = wait_for(&agent, "alloc status -stats with CPU usage", || {
        let out = run(&["alloc", "status", "-stats", &first[..8]]);
        assert_eq!(out.code, 0, "{out}");
        let usage = agent
            .get(&format!("/v1/client/allocation/{first}/stats"))
            .ok();
        let task = &usage["Tasks"]["redis"]["ResourceUsage"];
        let cpu_seen = task["CpuStats"]["Percent"].as_f64().unwrap_or(0.0) > 0.0
            || task["CpuStats"]["TotalTicks"].as_f64().unwrap_or(0.0) > 0.0;
        (cpu_seen && task["MemoryStats"]["RSS"].as_u64().unwrap_or(0) > 0).then_some(out)
    });
    for section in [
        "Memory Stats",
        "CPU Stats",
        "Task \"redis\" is \"running\"",
        "Started",
    ] {
        assert!(stats.stdout.contains(section), "{section}:\n{stats}");
    }
    assert!(
        !stats.stdout.contains("0 B/256 MiB"),
        "memory shown as zero:\n{stats}"
    );

    // drover alloc logs: redis's start-up lines.
    let out = run(&["alloc", "logs", &first[..8], "redis"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("Ready to accept connections"), "{out}");

    // count = 3: plan shows the diff and the Job Modify Index, and exits 1.
    let spec = std::fs::read_to_string(job).unwrap();
    std::fs::write(job, spec.replace("count = 1", "count = 3")).unwrap();
    let plan = run(&["job", "plan", job]);
    assert_eq!(plan.code, 1, "{plan}");
    assert!(
        plan.stdout
            .contains("Task Group: \"cache\" (2 create, 1 in-place update)"),
        "{plan}"
    );
    let index = job_modify_index(&plan.stdout);

    // A stale index is refused; the right one runs.
    let stale = (index - 1).to_string();
    let out = run(&["job", "run", "-check-index", &stale, job]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("conflicting job modify index"), "{out}");
    let started_before = alloc(&agent, &first)["TaskStates"]["redis"]["StartedAt"].clone();
    let index = index.to_string();
    let out = run(&["job", "run", "-check-index", &index, job]);
    assert_eq!(out.code, 0, "{out}");
    let three = wait_for(&agent, "three running allocations", || {
        let r = running(&agent, "redis");
        (r.len() == 3).then_some(r)
    });
    assert!(three.contains(&first), "the first allocation was replaced");
    let again = alloc(&agent, &first);
    assert_eq!(
        again["TaskStates"]["redis"]["StartedAt"], started_before,
        "the existing task was restarted"
    );
    assert_eq!(again["TaskStates"]["redis"]["Restarts"], 0);
    // Three redis servers on one node, each on 6379 inside, each on its own host port.
    let mut ports: Vec<u16> = three.iter().map(|a| host_port(&agent, a)).collect();
    for p in &ports {
        assert_eq!(ping(&format!("127.0.0.1:{p}")).unwrap(), "+PONG");
    }
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 3, "host ports used twice: {ports:?}");

    // image = "redis:4.0": one create/destroy update at a time (max_parallel = 1).
    let spec = std::fs::read_to_string(job).unwrap();
    std::fs::write(job, spec.replace("redis:3.2", "redis:4.0")).unwrap();
    let plan = run(&["job", "plan", job]);
    assert_eq!(plan.code, 1, "{plan}");
    assert!(
        plan.stdout.contains("(1 create/destroy update, 2 ignore)"),
        "{plan}"
    );
    let out = run(&["job", "run", job]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("successful"), "{out}");
    let all = allocs(&agent, "redis");
    let mut new: Vec<&Value> = all
        .iter()
        .filter(|a| a["JobVersion"] == 2 && a["DesiredStatus"] == "run")
        .collect();
    assert_eq!(new.len(), 3, "{:#}", Value::Array(all.clone()));
    for a in &all {
        if a["JobVersion"] != 2 {
            assert_eq!(a["DesiredStatus"], "stop", "{a:#}");
        }
    }
    // Three phases: each new allocation was placed only after the one before it had
    // been healthy (min_healthy_time) — the rolling update, by its own records.
    new.sort_by_key(|a| ns(&a["CreateTime"]));
    for pair in new.windows(2) {
        let prev = alloc(&agent, pair[0]["ID"].as_str().unwrap());
        let healthy_at = prev["DeploymentStatus"]["Timestamp"].as_str().unwrap();
        let healthy_ns = chrono::DateTime::parse_from_rfc3339(healthy_at)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap();
        assert_eq!(prev["DeploymentStatus"]["Healthy"], true);
        let started = alloc(&agent, pair[0]["ID"].as_str().unwrap())["TaskStates"]["redis"]
            ["StartedAt"]
            .as_str()
            .unwrap()
            .to_string();
        let started_ns = chrono::DateTime::parse_from_rfc3339(&started)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap();
        assert!(
            healthy_ns - started_ns >= 10_000_000_000,
            "healthy before min_healthy_time: started {started}, healthy {healthy_at}"
        );
        assert!(
            ns(&pair[1]["CreateTime"]) >= healthy_ns,
            "placed before the previous one was healthy"
        );
    }

    // drover job stop redis: dead (stopped); run again: running.
    let out = run(&["job", "stop", "redis"]);
    assert_eq!(out.code, 0, "{out}");
    wait_for(&agent, "no running allocations", || {
        running(&agent, "redis").is_empty().then_some(())
    });
    let out = run(&["job", "status", "redis"]);
    assert!(out.stdout.contains("dead (stopped)"), "{out}");
    let out = run(&["job", "run", "-detach", job]);
    assert_eq!(out.code, 0, "{out}");
    wait_for(&agent, "the job running again", || {
        (running(&agent, "redis").len() == 3).then_some(())
    });
    let out = run(&["job", "status", "redis"]);
    assert!(out.stdout.contains("Status        = running"), "{out}");
}

/// An agent with a data dir, killed -9 while a deployment waits on health, started
/// again: the deployment finishes, no task restarted, no log line lost.
#[test]
fn an_agent_killed_mid_deployment_picks_up_where_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = tmp.path().join("agent.hcl");
    std::fs::write(&config, client_config(&common::registry())).unwrap();
    let args = [
        "-server",
        "-client",
        "-data-dir",
        data.to_str().unwrap(),
        "-config",
        config.to_str().unwrap(),
    ];
    let bridge = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .find_map(|l| {
            Some(
                l.split_once("bridge_network_name")?
                    .1
                    .split('"')
                    .nth(1)?
                    .to_string(),
            )
        })
        .unwrap();
    let _leftovers = Leftovers {
        data: data.clone(),
        bridge,
    };
    let mut agent = TestAgent::start(&data, &args);
    let dir = tmp.path();

    // A ticker writes a numbered line every 50 ms: any gap means a lost line.
    let ticker = dir.join("ticker.nomad");
    std::fs::write(
        &ticker,
        r#"job "ticker" {
  datacenters = ["dc1"]
  group "t" {
    ephemeral_disk {
      size = 10
    }
    task "tick" {
      logs {
        max_files     = 2
        max_file_size = 1
      }
      driver = "docker"
      config {
        image   = "busybox:latest"
        command = "sh"
        args    = ["-c", "i=0; while true; do echo tick $i; i=$((i+1)); usleep 50000; done"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
"#,
    )
    .unwrap();
    let out = drover_in(&agent, dir, &["job", "run", ticker.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");

    let job = dir.join("redis.nomad");
    let spec = std::fs::read_to_string(REDIS).unwrap();
    std::fs::write(&job, spec.replace("count = 1", "count = 3")).unwrap();
    let job = job.to_str().unwrap();
    let out = drover_in(&agent, dir, &["job", "run", job]);
    assert_eq!(out.code, 0, "{out}");
    let before: Vec<Value> = allocs(&agent, "redis")
        .into_iter()
        .chain(allocs(&agent, "ticker"))
        .collect();
    assert_eq!(before.len(), 4);

    // A new image, then kill -9 while the first replacement waits out min_healthy_time.
    std::fs::write(
        job,
        std::fs::read_to_string(job)
            .unwrap()
            .replace("redis:3.2", "redis:4.0"),
    )
    .unwrap();
    let out = drover_in(&agent, dir, &["job", "run", "-detach", job]);
    assert_eq!(out.code, 0, "{out}");
    wait_for(&agent, "the first replacement running", || {
        allocs(&agent, "redis")
            .iter()
            .any(|a| a["JobVersion"] == 1 && a["ClientStatus"] == "running")
            .then_some(())
    });
    agent.kill();
    std::thread::sleep(Duration::from_secs(1));
    let agent = TestAgent::start(&data, &args);

    let deployment = wait_for(&agent, "the deployment to finish", || {
        let d = agent.get("/v1/job/redis/deployment").ok();
        (d["JobVersion"] == 1 && d["Status"] != "running").then_some(d)
    });
    assert_eq!(deployment["Status"], "successful", "{deployment:#}");

    // Every redis answers on its port: networking came through the restart.
    for id in running(&agent, "redis") {
        let port = host_port(&agent, &id);
        assert_eq!(ping(&format!("127.0.0.1:{port}")).unwrap(), "+PONG", "{id}");
    }

    // No task that was running before the kill restarted.
    for a in &before {
        let id = a["ID"].as_str().unwrap();
        let now = alloc(&agent, id);
        for (task, state) in now["TaskStates"].as_object().unwrap() {
            assert_eq!(state["Restarts"], 0, "{id} {task}: {state:#}");
            let events: Vec<&str> = state["Events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["Type"].as_str().unwrap())
                .collect();
            assert_eq!(
                events.iter().filter(|t| **t == "Started").count(),
                1,
                "{id} {task} started twice: {events:?}"
            );
        }
    }
    // The ticker's log has every line, across the time the agent was dead.
    let tick = allocs(&agent, "ticker")[0]["ID"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(Duration::from_millis(500));
    let out = drover_in(&agent, dir, &["alloc", "logs", &tick, "tick"]);
    assert_eq!(out.code, 0, "{out}");
    let numbers: Vec<u64> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("tick ")?.parse().ok())
        .collect();
    assert!(numbers.len() > 20, "{out}");
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(*n, i as u64, "line {i} missing or out of order");
    }

    // Stop everything before the agent goes: tasks outlive a non-dev agent.
    for job in ["redis", "ticker"] {
        let out = drover_in(&agent, dir, &["job", "stop", "-purge", job]);
        assert_eq!(out.code, 0, "{out}");
    }
    wait_for(&agent, "every task stopped", || {
        let left = Command::new("pgrep")
            .args(["-f", &format!("shim {}", data.join("alloc").display())])
            .output()
            .unwrap();
        left.stdout.is_empty().then_some(())
    });
}

/// A non-dev agent's tasks outlive it by design; if the test fails before stopping
/// them, kill them and remove their networking here (test tooling: iproute2, nft).
struct Leftovers {
    data: std::path::PathBuf,
    bridge: String,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let allocs: Vec<String> = std::fs::read_dir(self.data.join("alloc"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        for proc_dir in std::fs::read_dir("/proc").unwrap().flatten() {
            let cgroups =
                std::fs::read_to_string(proc_dir.path().join("cgroup")).unwrap_or_default();
            let ours = cgroups
                .lines()
                .any(|l| allocs.iter().any(|a| l.contains(&format!("/drover/{a}."))));
            let shim = std::fs::read_to_string(proc_dir.path().join("cmdline"))
                .unwrap_or_default()
                .contains(&self.data.display().to_string());
            if ours || shim {
                if let Ok(pid) = proc_dir.file_name().to_string_lossy().parse::<i32>() {
                    // SAFETY: plain kill of a process of this test's own tasks.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        std::thread::sleep(Duration::from_secs(1));
        for a in &allocs {
            let _ = Command::new("ip")
                .args(["netns", "del", &format!("{}-{a}", self.bridge)])
                .status();
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.bridge])
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}
