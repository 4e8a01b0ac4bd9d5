//! Nomad's `lifecycle` block through the real agent: a prestart task completes before
//! the main task starts, a prestart sidecar runs beside it and is stopped when it is
//! done, a poststop task runs last. As root, with `scripts/testenv/up`.

mod common;

use std::time::{Duration, Instant};

use common::agent::TestAgent;
use serde_json::{json, Value};

fn task(name: &str, script: &str, lifecycle: Option<(&str, bool)>) -> Value {
    let mut t = json!({
        "Name": name, "Driver": "docker",
        "Config": {"image": "busybox:latest", "command": "sh", "args": ["-c", script]},
        "Resources": {"CPU": 50, "MemoryMB": 32}
    });
    if let Some((hook, sidecar)) = lifecycle {
        t["Lifecycle"] = json!({"Hook": hook, "Sidecar": sidecar});
    }
    t
}

fn at(state: &Value, field: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(state[field].as_str().unwrap()).unwrap()
}

#[test]
fn prestart_main_sidecar_poststop_in_nomads_order() {
    let agent = TestAgent::dev();
    let job = json!({"Job": {
        "ID": "phases", "Name": "phases", "Type": "batch", "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "g", "Count": 1,
            "RestartPolicy": {"Attempts": 0, "Mode": "fail"},
            "ReschedulePolicy": {"Attempts": 0, "Unlimited": false},
            "Tasks": [
                task("main", "cat /alloc/data/ready; sleep 1; echo main done", None),
                task("init", "sleep 1; echo prepared > /alloc/data/ready", Some(("prestart", false))),
                task("side", "while true; do sleep 1; done", Some(("prestart", true))),
                task("after", "echo cleaned > /alloc/data/after", Some(("poststop", false))),
            ]
        }]
    }});
    agent.put("/v1/jobs", &job).ok();
    let deadline = Instant::now() + Duration::from_secs(120);
    let alloc = loop {
        let list = agent.get("/v1/job/phases/allocations").ok();
        if let Some(a) = list.as_array().and_then(|l| l.first()) {
            if a["ClientStatus"] == "complete" || a["ClientStatus"] == "failed" {
                break agent
                    .get(&format!("/v1/allocation/{}", a["ID"].as_str().unwrap()))
                    .ok();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the allocation did not finish: {list:#}\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(alloc["ClientStatus"], "complete", "{alloc:#}");
    let states = &alloc["TaskStates"];
    for t in ["init", "main", "after"] {
        assert_eq!(states[t]["State"], "dead", "{t}: {:#}", states[t]);
        assert_eq!(states[t]["Failed"], false, "{t}: {:#}", states[t]);
    }
    // The prestart task had finished before the main task started; the poststop task
    // started after the main one finished.
    assert!(
        at(&states["init"], "FinishedAt") <= at(&states["main"], "StartedAt"),
        "{states:#}"
    );
    assert!(
        at(&states["main"], "FinishedAt") <= at(&states["after"], "StartedAt"),
        "{states:#}"
    );
    // The sidecar ran beside the main task and was stopped once it was done.
    let side: Vec<&str> = states["side"]["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Type"].as_str().unwrap())
        .collect();
    assert!(
        side.contains(&"Started") && side.contains(&"Killed"),
        "{side:?}"
    );
    // The main task saw what the prestart task left in the shared alloc dir.
    let id = alloc["ID"].as_str().unwrap();
    let out = agent.get(&format!(
        "/v1/client/fs/logs/{id}?task=main&type=stdout&plain=true"
    ));
    assert!(
        out.text.contains("prepared") && out.text.contains("main done"),
        "{}",
        out.text
    );
    let after = agent.get(&format!("/v1/client/fs/cat/{id}?path=alloc/data/after"));
    assert_eq!(after.text.trim(), "cleaned");
}
