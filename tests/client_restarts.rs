//! A crashing task through the real agent: restarted as its restart policy says, each
//! step an event that says why, "OOM Killed" when the kernel killed it for memory, and
//! the allocation failed once the policy gives up. As root, with `scripts/testenv/up`.

mod common;

use std::time::{Duration, Instant};

use common::agent::TestAgent;
use serde_json::{json, Value};

/// A job of one busybox task running `script`, restarted at most twice within a
/// minute, one second apart, then failed.
fn job(id: &str, script: &str, memory_mb: u64) -> Value {
    json!({"Job": {
        "ID": id, "Name": id, "Type": "batch", "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "g", "Count": 1,
            "RestartPolicy": {"Attempts": 2, "Interval": 60_000_000_000u64,
                              "Delay": 1_000_000_000u64, "Mode": "fail"},
            "ReschedulePolicy": {"Attempts": 0, "Unlimited": false},
            "Tasks": [{
                "Name": "t", "Driver": "docker",
                "Config": {"image": "busybox:latest", "command": "sh", "args": ["-c", script]},
                "Resources": {"CPU": 100, "MemoryMB": memory_mb}
            }]
        }]
    }})
}

/// Runs the job and waits until its allocation failed; returns the task's state.
fn run_until_failed(agent: &TestAgent, id: &str, script: &str, memory_mb: u64) -> Value {
    agent.put("/v1/jobs", &job(id, script, memory_mb)).ok();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let allocs = agent.get(&format!("/v1/job/{id}/allocations")).ok();
        if let Some(a) = allocs.as_array().and_then(|a| a.first()) {
            if a["ClientStatus"] == "failed" {
                let full = agent
                    .get(&format!("/v1/allocation/{}", a["ID"].as_str().unwrap()))
                    .ok();
                return full["TaskStates"]["t"].clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{id} did not fail: {allocs:#}\nagent log:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn events(state: &Value) -> Vec<(String, String)> {
    state["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["Type"].as_str().unwrap().to_string(),
                e["DisplayMessage"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn crashes_are_restarted_by_policy_then_fail_the_allocation() {
    let agent = TestAgent::dev();
    let state = run_until_failed(&agent, "crash", "echo crashing; exit 3", 32);
    let events = events(&state);
    assert_eq!(state["State"], "dead", "{state:#}");
    assert_eq!(state["Failed"], true, "{state:#}");
    assert_eq!(state["Restarts"], 2, "{events:#?}");
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types.iter().filter(|t| **t == "Terminated").count(),
        3,
        "{events:#?}"
    );
    assert_eq!(
        types.iter().filter(|t| **t == "Restarting").count(),
        2,
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|(t, m)| t == "Terminated" && m == "Exit Code: 3"),
        "{events:#?}"
    );
    let (last_type, last_message) = events.last().unwrap();
    assert_eq!(last_type, "Not Restarting", "{events:#?}");
    assert_eq!(
        last_message, "Exceeded allowed attempts 2 in interval 1m0s and mode is \"fail\"",
        "{events:#?}"
    );
}

#[test]
fn an_oom_kill_says_so() {
    let agent = TestAgent::dev();
    // Holds ~64 MB in the shell's memory against a 16 MB limit.
    let script = "x=$(head -c 67108864 /dev/zero | tr '\\000' a); echo survived";
    let state = run_until_failed(&agent, "oom", script, 16);
    let events = events(&state);
    assert!(
        events
            .iter()
            .any(|(t, m)| t == "Terminated" && m.contains("OOM Killed")),
        "{events:#?}"
    );
    let alloc = agent.get("/v1/job/oom/allocations").ok()[0]["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let stdout = agent.get(&format!(
        "/v1/client/fs/logs/{alloc}?task=t&type=stdout&plain=true"
    ));
    assert!(
        !stdout.text.contains("survived"),
        "the task outlived its memory limit: {}",
        stdout.text
    );
}
