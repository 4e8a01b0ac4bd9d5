//! The CLI over a job's life, as a user types it: `run job FILE`, `status job NAME`,
//! `eval status|list`, `deployment list|status|fail`, `inspect` (JSON that reads back),
//! `job scale|history|revert|dispatch`, `node status|eligibility|drain`. The real binary
//! against a real agent (a server with a data dir in a temp dir); the client node is
//! simulated over the internal API, a thread reporting its allocations running and
//! healthy.

#[allow(dead_code)]
mod common;

use common::cli::{
    agent, drover, eventually, monitored_eval, simulate_client, summary_row, NODE, REDIS,
};
use serde_json::Value;

#[test]
fn job_lifecycle_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = agent(tmp.path());
    let _client = simulate_client(&agent);

    // The node: listed, and shown by a prefix.
    let nodes = drover(&agent, &["node", "status"]);
    assert_eq!(nodes.code, 0, "{nodes}");
    assert!(nodes.stdout.starts_with("ID  "), "{nodes}");
    assert!(nodes.stdout.contains(&NODE[..8]), "{nodes}");
    assert!(nodes.stdout.contains("ready"), "{nodes}");
    let node = drover(&agent, &["node", "status", &NODE[..5]]);
    assert_eq!(node.code, 0, "{node}");
    assert!(node.stdout.contains(&format!("= {NODE}")), "{node}");
    assert!(node.stdout.contains("Driver Status"), "{node}");
    assert!(node.stdout.contains("container,docker"), "{node}");

    // The walkthrough's phrasing: run job FILE, status job NAME.
    let run = drover(&agent, &["run", "job", REDIS]);
    assert_eq!(run.code, 0, "{run}\nagent log:\n{}", agent.log());
    let eval = monitored_eval(&run);
    let status = drover(&agent, &["status", "job", "redis"]);
    assert_eq!(status.code, 0, "{status}");
    assert!(status.stdout.contains("ID            = redis"), "{status}");
    assert!(status.stdout.contains("\nLatest Deployment\n"), "{status}");
    let verbose = drover(&agent, &["job", "status", "-evals", "redis"]);
    assert!(verbose.stdout.contains("\nEvaluations\n"), "{verbose}");
    assert!(verbose.stdout.contains(&eval), "{verbose}");

    // The run's evaluation, by its short ID.
    let ev = drover(&agent, &["eval", "status", &eval]);
    assert_eq!(ev.code, 0, "{ev}");
    assert!(ev.stdout.contains("Job ID             = redis"), "{ev}");
    assert!(
        ev.stdout.contains("TriggeredBy        = job-register"),
        "{ev}"
    );
    assert!(ev.stdout.contains("\nPlaced Allocations\n"), "{ev}");
    // The generic `status` finds what an ID prefix names.
    for (id, text) in [
        (eval.as_str(), "TriggeredBy        = job-register"),
        (&NODE[..6], "Driver Status"),
    ] {
        let generic = drover(&agent, &["status", id]);
        assert_eq!(generic.code, 0, "{id}: {generic}");
        assert!(generic.stdout.contains(text), "{id}: {generic}");
    }
    let evals = drover(&agent, &["eval", "list"]);
    assert!(evals.stdout.contains(&eval), "{evals}");
    let ev_json = drover(&agent, &["eval", "status", "-json", &eval]);
    let parsed: Value = serde_json::from_str(&ev_json.stdout).unwrap();
    assert!(parsed["ID"].as_str().unwrap().starts_with(&eval));

    // Its deployment.
    let deps = drover(&agent, &["deployment", "list"]);
    assert_eq!(deps.code, 0, "{deps}");
    assert!(deps.stdout.starts_with("ID  "), "{deps}");
    assert!(deps.stdout.contains("successful"), "{deps}");
    let dep_id = deps.stdout.lines().nth(1).unwrap()[..8].to_string();
    let dep = drover(&agent, &["deployment", "status", &dep_id]);
    assert_eq!(dep.code, 0, "{dep}");
    assert!(dep.stdout.contains("Job ID      = redis"), "{dep}");
    assert!(dep.stdout.contains("\nDeployed\n"), "{dep}");
    let done = drover(&agent, &["deployment", "fail", &dep_id]);
    assert_eq!(done.code, 1, "a finished deployment cannot fail: {done}");

    // inspect: {"Job": ...} that reads back as the same job (a run of it changes nothing).
    let inspect = drover(&agent, &["inspect", "redis"]);
    assert_eq!(inspect.code, 0, "{inspect}");
    let job: Value = serde_json::from_str(&inspect.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(job["Job"]["ID"], "redis");
    assert_eq!(job["Job"]["TaskGroups"][0]["Count"], 1);
    let file = tmp.path().join("redis.json");
    std::fs::write(&file, &inspect.stdout).unwrap();
    let file = file.to_str().unwrap();
    let valid = drover(&agent, &["job", "validate", "-json", file]);
    assert_eq!(valid.code, 0, "{valid}");
    let plan = drover(&agent, &["job", "plan", "-json", file]);
    assert_eq!(plan.code, 0, "the inspected job is the running one: {plan}");

    // scale: a new version with count 3, which job status shows running.
    // Detached: a deployment whose allocations were updated in place waits for their
    // health again, which the simulated client does not give (a real one does).
    let scale = drover(&agent, &["job", "scale", "-detach", "redis", "cache", "3"]);
    assert_eq!(scale.code, 0, "{scale}");
    assert!(
        scale
            .stdout
            .starts_with("Job scale successful\nEvaluation ID: "),
        "{scale}"
    );
    eventually(&agent, &["job", "status", "redis"], |o| {
        summary_row(&o.stdout, "cache").get(2) == Some(&3)
    });
    let inspect = drover(&agent, &["job", "inspect", "-json", "redis"]);
    let job: Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(job["TaskGroups"][0]["Count"], 3, "-json: the job alone");
    assert_eq!(job["Version"], 1);

    // history: both versions, with the diff.
    let history = drover(&agent, &["job", "history", "-p", "redis"]);
    assert_eq!(history.code, 0, "{history}");
    assert!(history.stdout.starts_with("Version     = 1\n"), "{history}");
    assert!(history.stdout.contains("\nVersion     = 0\n"), "{history}");
    assert!(
        history.stdout.contains("Count: \"1\" => \"3\""),
        "{history}"
    );
    let one = drover(&agent, &["job", "history", "-version", "0", "redis"]);
    assert_eq!(one.stdout.matches("Version ").count(), 1, "{one}");
    let old = drover(&agent, &["job", "inspect", "-version", "0", "redis"]);
    let job: Value = serde_json::from_str(&old.stdout).unwrap();
    assert_eq!(job["Job"]["TaskGroups"][0]["Count"], 1);

    // revert to version 0: version 2 with count 1.
    let revert = drover(&agent, &["job", "revert", "-detach", "redis", "0"]);
    assert_eq!(revert.code, 0, "{revert}");
    assert!(revert.stdout.starts_with("Evaluation ID: "), "{revert}");
    let inspect = drover(&agent, &["job", "inspect", "-json", "redis"]);
    let job: Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(job["Version"], 2, "{}", inspect.stdout);
    assert_eq!(job["TaskGroups"][0]["Count"], 1);
    eventually(&agent, &["job", "status", "redis"], |o| {
        summary_row(&o.stdout, "cache").get(2) == Some(&1)
    });
    let same = drover(&agent, &["job", "revert", "-detach", "redis", "2"]);
    assert_eq!(same.code, 1, "the current version: {same}");

    // The node's allocations, eligibility and drain.
    let node = drover(&agent, &["node", "status", "-allocs"]);
    assert!(node.stdout.contains("Running Allocs"), "{node}");
    let off = drover(&agent, &["node", "eligibility", "-disable", &NODE[..8]]);
    assert_eq!(off.code, 0, "{off}");
    assert_eq!(
        off.stdout.trim(),
        format!("Node \"{NODE}\" scheduling eligibility set: ineligible for scheduling")
    );
    let nodes = drover(&agent, &["node", "status"]);
    assert!(nodes.stdout.contains("ineligible"), "{nodes}");
    let on = drover(&agent, &["node", "eligibility", "-enable", &NODE[..8]]);
    assert_eq!(on.code, 0, "{on}");
    let drain = drover(&agent, &["node", "drain", "-enable", "-yes", &NODE[..8]]);
    assert_eq!(drain.code, 0, "{drain}");
    assert_eq!(
        drain.stdout.trim(),
        format!("Node \"{NODE}\" drain strategy set")
    );
    let nodes = drover(&agent, &["node", "status"]);
    assert!(nodes.stdout.contains("true"), "draining: {nodes}");
    let undrain = drover(&agent, &["node", "drain", "-disable", "-yes", &NODE[..8]]);
    assert_eq!(undrain.code, 0, "{undrain}");
}

#[test]
fn dispatch_a_parameterized_batch_job() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = agent(tmp.path());
    let _client = simulate_client(&agent);
    let file = tmp.path().join("params.nomad");
    std::fs::write(
        &file,
        r#"job "params" {
  datacenters = ["*"]
  type        = "batch"

  parameterized {
    payload       = "optional"
    meta_required = ["who"]
  }

  group "work" {
    task "hello" {
      driver = "container"

      config {
        image   = "busybox:latest"
        command = "cat"
        args    = ["local/input"]
      }

      dispatch_payload {
        file = "input"
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
    let file = file.to_str().unwrap();
    let run = drover(&agent, &["job", "run", file]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.stdout.trim(), "Job registration successful", "{run}");

    let input = tmp.path().join("input.txt");
    std::fs::write(&input, "hello").unwrap();
    let input = input.to_str().unwrap();
    let out = drover(
        &agent,
        &[
            "job", "dispatch", "-meta", "who=me", "-detach", "params", input,
        ],
    );
    assert_eq!(out.code, 0, "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("Dispatched Job ID = params/dispatch-"),
        "{out}"
    );
    assert!(lines[1].starts_with("Evaluation ID     = "), "{out}");
    let child = lines[0]["Dispatched Job ID = ".len()..].to_string();
    let child_job = agent
        .get(&format!("/v1/job/{}", child.replace('/', "%2F")))
        .ok();
    assert_eq!(child_job["Meta"]["who"], "me", "{child_job}");
    assert_eq!(child_job["Payload"], "aGVsbG8=", "{child_job}");

    // Monitored: the evaluation completes with the allocation placed.
    let monitored = drover(&agent, &["job", "dispatch", "-meta", "who=you", "params"]);
    assert_eq!(monitored.code, 0, "{monitored}");
    assert!(
        monitored
            .stdout
            .contains("finished with status \"complete\""),
        "{monitored}"
    );

    // The parent's status lists its children.
    let status = drover(&agent, &["job", "status", "params"]);
    assert_eq!(status.code, 0, "{status}");
    assert!(status.stdout.contains("Parameterized = true"), "{status}");
    assert!(
        status.stdout.contains("Required Metadata = who"),
        "{status}"
    );
    assert!(
        status.stdout.contains("\nParameterized Job Summary\n"),
        "{status}"
    );
    assert!(status.stdout.contains("\nDispatched Jobs\n"), "{status}");
    assert!(status.stdout.contains(&child), "{status}");

    // The required meta is missing: the server refuses.
    let refused = drover(&agent, &["job", "dispatch", "params"]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(
        refused.stderr.starts_with("Failed to dispatch job: "),
        "{refused}"
    );
    // The same idempotency token twice: one child.
    let a = drover(
        &agent,
        &[
            "job",
            "dispatch",
            "-detach",
            "-meta",
            "who=x",
            "-idempotency-token",
            "t1",
            "params",
        ],
    );
    let b = drover(
        &agent,
        &[
            "job",
            "dispatch",
            "-detach",
            "-meta",
            "who=x",
            "-idempotency-token",
            "t1",
            "params",
        ],
    );
    assert_eq!(a.code, 0, "{a}");
    assert_eq!(b.code, 0, "{b}");
    assert_eq!(a.stdout.lines().next(), b.stdout.lines().next(), "{a}\n{b}");
}
