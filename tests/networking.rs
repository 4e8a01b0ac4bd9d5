//! Allocation networking through the agent (issue 5): the walkthrough's redis job
//! mapped into per-allocation namespaces, one allocation reaching another through its
//! host port, a static port conflict refused by the scheduler, and nothing left behind
//! once the job is stopped. As root, with `scripts/testenv/up` run.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::agent::TestAgent;
use serde_json::Value;

const REDIS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/jobs/redis.nomad");

fn drover(agent: &TestAgent, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .env("NOMAD_ADDR", &agent.addr)
        .output()
        .expect("run drover");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn running(agent: &TestAgent, job: &str) -> Vec<Value> {
    agent
        .get(&format!("/v1/job/{job}/allocations"))
        .ok()
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a["ClientStatus"] == "running" && a["DesiredStatus"] == "run")
        .collect()
}

fn wait_until(agent: &TestAgent, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; agent log:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn port_of(agent: &TestAgent, id: &str) -> u64 {
    agent.get(&format!("/v1/allocation/{id}")).ok()["AllocatedResources"]["Shared"]["Ports"][0]
        ["Value"]
        .as_u64()
        .unwrap()
}

/// The namespaces, links and nft tables whose names start with `prefix`.
fn leftovers(prefix: &str) -> Vec<String> {
    let run = |cmd: &[&str]| {
        let out = Command::new(cmd[0]).args(&cmd[1..]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut found: Vec<String> = run(&["ip", "netns", "list"])
        .lines()
        .chain(run(&["nft", "list", "tables"]).lines())
        .filter(|l| l.contains(prefix) && !l.trim_end().ends_with(&format!("ip {prefix}")))
        .map(String::from)
        .collect();
    // The bridge and its table stay while the agent runs; the allocations' parts go.
    found.extend(
        run(&["ip", "-o", "link", "show", "master", prefix])
            .lines()
            .map(String::from),
    );
    found
}

#[test]
fn allocations_reach_each_other_and_leave_nothing_behind() {
    let agent = TestAgent::dev();
    let cfg = std::fs::read_to_string(agent.data_dir.join("client.hcl")).unwrap();
    let bridge = cfg
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
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("redis.nomad");
    let spec = std::fs::read_to_string(REDIS)
        .unwrap()
        .replace("count = 1", "count = 2");
    std::fs::write(&job, spec).unwrap();
    let (code, out, err) = drover(&agent, &["job", "run", "-detach", job.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    wait_until(&agent, "two redis allocations", || {
        running(&agent, "redis").len() == 2
    });
    let allocs = running(&agent, "redis");
    let (a, b) = (
        allocs[0]["ID"].as_str().unwrap().to_string(),
        allocs[1]["ID"].as_str().unwrap().to_string(),
    );
    let b_port = port_of(&agent, &b).to_string();

    // From inside a, b through the node's loopback-published port via the gateway, and
    // a through its own port (hairpin).
    let gateway = "172.30.";
    let a_env = drover(&agent, &["alloc", "exec", &a, "env"]).1;
    assert!(a_env.contains("NOMAD_PORT_db=6379"), "{a_env}");
    assert!(
        a_env.contains(&format!("NOMAD_HOST_PORT_db={}", port_of(&agent, &a))),
        "{a_env}"
    );
    let a_ip = a_env
        .lines()
        .find_map(|l| l.strip_prefix("NOMAD_ALLOC_IP="))
        .expect("NOMAD_ALLOC_IP")
        .to_string();
    assert!(a_ip.starts_with(gateway), "{a_ip}");
    let gw = format!("{}.1", a_ip.rsplit_once('.').unwrap().0);
    for (target, port) in [
        ("b", b_port.clone()),
        ("a itself", port_of(&agent, &a).to_string()),
    ] {
        let script = format!("printf 'PING\\r\\n' | nc -w 3 {gw} {port}");
        let (code, out, err) = drover(&agent, &["alloc", "exec", &a, "sh", "-c", &script]);
        assert_eq!(code, 0, "{target}: {out}{err}");
        assert!(out.contains("+PONG"), "{target}: {out}{err}");
    }

    // A static port that is taken: the scheduler refuses with the reason.
    let taken = b_port.clone();
    let clash = dir.path().join("clash.nomad");
    std::fs::write(
        &clash,
        format!(
            r#"job "clash" {{
  datacenters = ["dc1"]
  group "g" {{
    network {{
      port "db" {{ static = {taken} }}
    }}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sleep"
        args    = ["600"]
      }}
    }}
  }}
}}
"#
        ),
    )
    .unwrap();
    let (code, out, err) = drover(&agent, &["job", "plan", clash.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!("reserved port collision db={taken}")),
        "{out}{err}"
    );

    // Stop the job: every namespace, veth and rule of its allocations goes.
    let (code, out, err) = drover(&agent, &["job", "stop", "-purge", "redis"]);
    assert_eq!(code, 0, "{out}{err}");
    wait_until(&agent, "the allocations' networking removed", || {
        leftovers(&bridge).is_empty()
    });
    let ruleset = Command::new("nft")
        .args(["list", "table", "ip", &bridge])
        .output()
        .unwrap();
    let ruleset = String::from_utf8_lossy(&ruleset.stdout);
    assert!(!ruleset.contains(&a) && !ruleset.contains(&b), "{ruleset}");
}
