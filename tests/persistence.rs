//! Durability across kill -9: a non-dev server (`agent -server -data-dir D`) takes job
//! registrations from a writer thread while the test kills it at varying points, round
//! after round. Every restart must come up with everything it acknowledged, indexes
//! that never go back, and no registration without its evaluation.

#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::agent::{http_client, try_request, TestAgent};

/// After how many acknowledged writes each round kills the agent (0: right after start).
const KILL_AFTER: &[usize] = &[5, 1, 12, 0, 3, 20, 8];

/// Hang protection for a writer that never gets far enough.
const ROUND_LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
struct Ack {
    job: String,
    version: u64,
    job_modify_index: u64,
    eval_id: String,
    index: u64,
}

fn job(id: &str, generation: u64) -> Value {
    json!({
        "ID": id,
        "Name": id,
        "Type": "service",
        "Datacenters": ["dc1"],
        "Meta": {"generation": generation.to_string()},
        "TaskGroups": [{
            "Name": "cache",
            "Count": 1,
            "Tasks": [{
                "Name": "redis",
                "Driver": "docker",
                "Config": {"image": "redis:7"},
                "Resources": {"CPU": 100, "MemoryMB": 64},
            }],
        }],
    })
}

/// Registers new jobs and new versions of them until the agent stops answering.
fn writer(base: String, round: usize, acks: Arc<Mutex<Vec<Ack>>>) {
    let http = http_client(Duration::from_secs(30));
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    for k in 0.. {
        // Every third write is a new version of an earlier job of this round (at most
        // three more each, so all stay among the versions the server keeps).
        let (id, version) = match versions.iter().find(|(_, v)| **v < 3) {
            Some((id, v)) if k % 3 == 2 => (id.clone(), v + 1),
            _ => (format!("job-{round}-{k}"), 0),
        };
        let body = json!({ "Job": job(&id, version) }).to_string();
        let url = format!("{base}/v1/jobs");
        let reply = match try_request(&http, "PUT", &url, Some(body)) {
            Ok(resp) if resp.status == 200 => resp.json(),
            _ => return,
        };
        versions.insert(id.clone(), version);
        acks.lock().unwrap().push(Ack {
            job: id,
            version,
            job_modify_index: reply["JobModifyIndex"].as_u64().unwrap(),
            eval_id: reply["EvalID"].as_str().unwrap().to_string(),
            index: reply["Index"].as_u64().unwrap(),
        });
    }
}

fn get(agent: &TestAgent, path: &str) -> Value {
    agent.get(path).ok()
}

/// The state index the agent has applied.
fn applied_index(agent: &TestAgent) -> u64 {
    let me = get(agent, "/v1/agent/self");
    me["stats"]["raft"]["applied_index"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Everything acknowledged is there, and every stored version came with its eval.
fn check(agent: &TestAgent, acks: &[Ack]) {
    let me = get(agent, "/v1/agent/self");
    assert_eq!(
        me["config"]["Client"]["Enabled"], false,
        "no client in -server"
    );
    let nodes = get(agent, "/v1/nodes");
    assert_eq!(nodes, json!([]));

    let mut last: BTreeMap<&str, &Ack> = BTreeMap::new();
    for ack in acks {
        last.insert(&ack.job, ack);
        let eval = get(agent, &format!("/v1/evaluation/{}", ack.eval_id));
        assert_eq!(eval["JobID"], ack.job.as_str());
        assert_eq!(eval["CreateIndex"].as_u64(), Some(ack.job_modify_index));
    }
    for (id, ack) in &last {
        let stored = get(agent, &format!("/v1/job/{id}"));
        // The write in flight at the kill may have landed without its reply.
        assert!(
            stored["Version"].as_u64().unwrap() >= ack.version,
            "{id}: {stored}"
        );
        assert!(stored["JobModifyIndex"].as_u64().unwrap() >= ack.job_modify_index);
    }
    for ack in acks {
        let versions = get(agent, &format!("/v1/job/{}/versions", ack.job));
        let found = versions["Versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["Version"].as_u64() == Some(ack.version))
            .unwrap_or_else(|| panic!("{} version {} is gone: {versions}", ack.job, ack.version));
        assert_eq!(found["JobModifyIndex"].as_u64(), Some(ack.job_modify_index));
    }

    // Nothing half-applied: each version's registration and its eval are one entry.
    let jobs = get(agent, "/v1/jobs");
    for stub in jobs.as_array().unwrap() {
        let id = stub["ID"].as_str().unwrap();
        let versions = get(agent, &format!("/v1/job/{id}/versions"));
        let evals = get(agent, &format!("/v1/job/{id}/evaluations"));
        for v in versions["Versions"].as_array().unwrap() {
            let at = v["JobModifyIndex"].as_u64().unwrap();
            assert!(
                evals
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["CreateIndex"].as_u64() == Some(at)),
                "{id} version {} (index {at}) has no eval: {evals}",
                v["Version"]
            );
        }
    }
}

#[test]
fn kill_9_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut acks: Vec<Ack> = Vec::new();
    let mut seen_index = 0;
    for (round, kill_after) in KILL_AFTER.iter().copied().enumerate() {
        let mut agent = TestAgent::server(&data_dir);
        check(&agent, &acks);
        let index = applied_index(&agent);
        assert!(
            index >= seen_index,
            "round {round}: state index went back from {seen_index} to {index}"
        );
        if let Some(max_acked) = acks.iter().map(|a| a.index).max() {
            assert!(
                index >= max_acked,
                "round {round}: {index} < acknowledged {max_acked}"
            );
        }

        let round_acks = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let (base, acks) = (agent.addr.clone(), round_acks.clone());
            std::thread::spawn(move || writer(base, round, acks))
        };
        let start = Instant::now();
        while round_acks.lock().unwrap().len() < kill_after {
            assert!(
                start.elapsed() < ROUND_LIMIT,
                "round {round}: the writer stalled\nlog:\n{}",
                agent.log()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        seen_index = seen_index.max(applied_index_or(&agent, seen_index));
        agent.kill();
        writer.join().unwrap();
        acks.extend(round_acks.lock().unwrap().iter().cloned());
    }
    // A last clean start sees everything, and a graceful stop exits 0.
    let mut agent = TestAgent::server(&data_dir);
    check(&agent, &acks);
    assert!(acks.len() >= KILL_AFTER.iter().sum::<usize>());
    let status = agent.terminate();
    assert!(status.success(), "{status:?}\nlog:\n{}", agent.log());
}

/// The applied index if the agent still answers (the writer races the kill).
fn applied_index_or(agent: &TestAgent, fallback: u64) -> u64 {
    let http = http_client(Duration::from_secs(30));
    let Ok(resp) = try_request(&http, "GET", &agent.url("/v1/agent/self"), None) else {
        return fallback;
    };
    serde_json::from_str::<Value>(&resp.text)
        .ok()
        .and_then(|me| me["stats"]["raft"]["applied_index"].as_str()?.parse().ok())
        .unwrap_or(fallback)
}
