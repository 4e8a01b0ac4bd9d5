//! The HTTP API over real HTTP: the `drover` binary runs as `agent -dev` on a free
//! loopback port; a simulated client node talks to it through `/v1/internal/`.

#[allow(dead_code)]
mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::agent::{client_node as node, request, TestAgent};

/// Hang protection for waits on the scheduler; never reached when things work.
const SETTLE: Duration = Duration::from_secs(90);

/// The steps these tests repeat.
trait Walkthrough {
    fn parse_redis(&self) -> Value;
    fn register(&self, job: &Value) -> Value;
    fn wait_for(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value;
}

impl Walkthrough for TestAgent {
    /// `jobs/redis.nomad` through `/v1/jobs/parse`, canonicalized.
    fn parse_redis(&self) -> Value {
        let hcl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/jobs/redis.nomad"))
            .unwrap();
        self.put(
            "/v1/jobs/parse",
            &json!({"JobHCL": hcl, "Canonicalize": true}),
        )
        .ok()
    }

    fn register(&self, job: &Value) -> Value {
        self.put("/v1/jobs", &json!({ "Job": job })).ok()
    }

    /// Blocking queries on `path` until `done` holds for its body.
    fn wait_for(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        let mut index = 0;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let resp = self.get(&format!("{path}{sep}index={index}&wait=5s"));
            let body = resp.json();
            if resp.status == 200 && done(&body) {
                return body;
            }
            assert!(
                start.elapsed() < SETTLE,
                "{what}: never happened; last {path}: {body:#}\nagent log:\n{}",
                self.log()
            );
            index = resp.index;
        }
    }
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[test]
fn the_walkthrough_job_registers_and_reads_back() {
    let api = TestAgent::dev_no_client();
    let job = api.parse_redis();
    assert_eq!(job["ID"], "redis");
    assert_eq!(job["TaskGroups"][0]["Tasks"][0]["Resources"]["CPU"], 500);
    assert_eq!(job["Priority"], 50, "canonicalized");

    let resp = api.put("/v1/jobs", &json!({ "Job": job }));
    assert!(resp.index >= 1);
    let reg = resp.ok();
    assert!(is_uuid(reg["EvalID"].as_str().unwrap()), "{reg}");
    let index = reg["Index"].as_u64().unwrap();
    assert!(index >= 1);
    assert_eq!(reg["EvalCreateIndex"].as_u64(), Some(index));
    assert_eq!(reg["JobModifyIndex"].as_u64(), Some(index));

    let resp = api.get("/v1/job/redis");
    assert!(
        resp.index >= index,
        "X-Nomad-Index {} < {index}",
        resp.index
    );
    let stored = resp.ok();
    assert_eq!(stored["Version"], 0);
    assert_eq!(stored["JobModifyIndex"].as_u64(), Some(index));
    assert_eq!(stored["Datacenters"], json!(["dc1"]));
    assert!(["pending", "running"].contains(&stored["Status"].as_str().unwrap()));

    let list = api.get("/v1/jobs").ok();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["ID"], "redis");
    assert_eq!(list[0]["Type"], "service");
    assert!(
        list[0]["JobSummary"]["Summary"]["cache"].is_object(),
        "{list}"
    );
    assert!(list[0].get("Meta").is_none(), "Meta only with meta=true");
    assert!(api.get("/v1/jobs?meta=true").ok()[0]["Meta"].is_object());

    let summary = api.get("/v1/job/redis/summary").ok();
    assert_eq!(summary["JobID"], "redis");
    assert_eq!(summary["Namespace"], "default");
    for key in [
        "Queued", "Complete", "Failed", "Running", "Starting", "Lost", "Unknown",
    ] {
        assert!(
            summary["Summary"]["cache"][key].is_u64(),
            "{key}: {summary}"
        );
    }

    let versions = api.get("/v1/job/redis/versions").ok();
    assert_eq!(versions["Versions"].as_array().unwrap().len(), 1);
    assert!(versions["Diffs"].is_null());

    // The registration's eval (the scheduler may add a blocked one: no nodes here).
    let evals = api.get("/v1/job/redis/evaluations").ok();
    let eval = evals
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ID"] == reg["EvalID"]);
    assert_eq!(eval.unwrap()["TriggeredBy"], "job-register", "{evals}");
    assert_eq!(api.get("/v1/job/redis/allocations").ok(), json!([]));
    assert!(api.get("/v1/job/redis/deployments").ok().is_array());

    let scale = api.get("/v1/job/redis/scale").ok();
    assert_eq!(scale["TaskGroups"]["cache"]["Desired"], 1, "{scale}");
    let none = api.get("/v1/job/redis/submission?version=0");
    assert_eq!(
        (none.status, none.text.as_str()),
        (404, "job source not found")
    );

    // Validation without registering.
    let valid = api.put("/v1/validate/job", &json!({ "Job": job })).ok();
    assert_eq!(valid["ValidationErrors"], json!([]), "{valid}");
    let mut invalid = job.clone();
    invalid["TaskGroups"][0]["Count"] = json!(-1);
    let invalid = api.put("/v1/validate/job", &json!({ "Job": invalid })).ok();
    assert!(
        !invalid["ValidationErrors"].as_array().unwrap().is_empty(),
        "{invalid}"
    );
    assert!(!invalid["Error"].as_str().unwrap().is_empty(), "{invalid}");

    // Re-running the same spec: a new eval, no new version.
    let again = api.register(&job);
    assert_ne!(again["EvalID"], reg["EvalID"]);
    assert_eq!(again["JobModifyIndex"], reg["JobModifyIndex"]);
    let versions = api.get("/v1/job/redis/versions").ok();
    assert_eq!(versions["Versions"].as_array().unwrap().len(), 1);

    // A changed spec is version 1, and versions?diffs=true says what changed.
    let mut changed = job.clone();
    changed["TaskGroups"][0]["Tasks"][0]["Config"]["image"] = json!("redis:7");
    let source = json!({"Source": "job \"redis\" {}", "Format": "hcl2"});
    api.put("/v1/jobs", &json!({"Job": changed, "Submission": source}))
        .ok();
    let sub = api.get("/v1/job/redis/submission?version=1").ok();
    assert_eq!(sub["Format"], "hcl2");
    let versions = api.get("/v1/job/redis/versions?diffs=true").ok();
    assert_eq!(versions["Versions"][0]["Version"], 1);
    assert_eq!(versions["Diffs"].as_array().unwrap().len(), 1);
    assert_eq!(versions["Diffs"][0]["Type"], "Edited");
}

#[test]
fn a_client_node_runs_the_job_and_reports_health() {
    let api = TestAgent::dev_no_client();
    let job = api.parse_redis();
    api.register(&job);

    let node_id = "5d1b0c4e-1111-2222-3333-444455556666";
    let reg = api.put("/v1/internal/node/register", &node(node_id)).ok();
    assert!(reg["HeartbeatTTL"].as_i64().unwrap() > 0, "{reg}");
    let hb = api
        .put_raw(&format!("/v1/internal/node/{node_id}/heartbeat"), "")
        .ok();
    assert!(hb["HeartbeatTTL"].as_i64().unwrap() > 0, "{hb}");
    let status = api.put(
        &format!("/v1/internal/node/{node_id}/status"),
        &json!({"Status": "ready"}),
    );
    assert_eq!(status.status, 200, "{}", status.text);
    let nodes = api.get("/v1/nodes").ok();
    assert_eq!(nodes[0]["ID"], node_id);
    assert!(nodes[0].get("SecretID").is_none());

    // The client's view: a blocking query for its allocations.
    let allocs = api.wait_for(
        &format!("/v1/internal/node/{node_id}/allocations"),
        "an allocation placed on the node",
        |b| b.as_array().is_some_and(|a| !a.is_empty()),
    );
    let alloc = &allocs[0];
    let alloc_id = alloc["ID"].as_str().unwrap().to_string();
    assert_eq!(alloc["Name"], "redis.cache[0]");
    assert_eq!(
        alloc["Job"]["ID"], "redis",
        "full allocations carry their job"
    );
    assert_eq!(alloc["DesiredStatus"], "run");
    assert_eq!(alloc["ClientStatus"], "pending");
    let deployment_id = alloc["DeploymentID"].as_str().unwrap().to_string();
    assert!(is_uuid(&deployment_id), "{alloc}");

    // Reports: running, then healthy.
    let started = json!([{
        "ID": alloc_id,
        "ClientStatus": "running",
        "ClientDescription": "Tasks are running",
        "TaskStates": {"redis": {"State": "running", "StartedAt": "2024-05-01T10:00:00Z",
            "Events": [{"Type": "Received", "Time": 1}, {"Type": "Started", "Time": 2}]}},
        "UnknownClientField": 1,
    }]);
    assert!(api.put("/v1/internal/allocations/update", &started).ok()["Index"].as_u64() > Some(0));
    let healthy = json!([{
        "ID": alloc_id,
        "ClientStatus": "running",
        "TaskStates": started[0]["TaskStates"],
        "DeploymentStatus": {"Healthy": true, "Timestamp": "2024-05-01T10:00:10Z"},
    }]);
    api.put("/v1/internal/allocations/update", &healthy).ok();

    let full = api.get(&format!("/v1/allocation/{alloc_id}")).ok();
    assert_eq!(full["ClientStatus"], "running");
    let events = &full["TaskStates"]["redis"]["Events"];
    assert_eq!(events[0]["DisplayMessage"], "Task received by client");
    assert_eq!(events[1]["DisplayMessage"], "Task started by client");
    // Short IDs resolve when they are unique.
    let short = api.get(&format!("/v1/allocation/{}", &alloc_id[..8])).ok();
    assert_eq!(short["ID"], alloc_id.as_str());
    let listed = api
        .get(&format!("/v1/allocations?prefix={}", &alloc_id[..4]))
        .ok();
    assert_eq!(listed[0]["ID"], alloc_id.as_str());
    assert!(listed[0]["AllocatedResources"].is_null());
    let with_resources = api
        .get("/v1/allocations?resources=true&task_states=false")
        .ok();
    assert!(with_resources[0]["AllocatedResources"].is_object());
    assert!(with_resources[0]["TaskStates"].is_null());

    let summary = api.wait_for("/v1/job/redis/summary", "one running alloc", |s| {
        s["Summary"]["cache"]["Running"] == 1
    });
    assert_eq!(summary["Summary"]["cache"]["Starting"], 0);
    assert_eq!(api.get("/v1/job/redis").ok()["Status"], "running");
    let deployment = api.wait_for(
        &format!("/v1/deployment/{deployment_id}"),
        "a successful deployment",
        |d| d["Status"] == "successful",
    );
    assert!(api.get("/v1/job/redis/deployment").ok()["ID"].is_string());
    assert_eq!(deployment["TaskGroups"]["cache"]["PlacedAllocs"], 1);
    assert_eq!(deployment["TaskGroups"]["cache"]["HealthyAllocs"], 1);
    let by_prefix = api
        .get(&format!("/v1/deployment/{}", &deployment_id[..8]))
        .ok();
    assert_eq!(by_prefix["ID"], deployment_id.as_str());
    // The allocations of the deployment the allocation is in now.
    let current = api.get(&format!("/v1/allocation/{alloc_id}")).ok()["DeploymentID"].clone();
    let d_allocs = api
        .get(&format!(
            "/v1/deployment/allocations/{}",
            current.as_str().unwrap()
        ))
        .ok();
    assert_eq!(d_allocs[0]["ID"], alloc_id.as_str());

    // Plan: count 3 and a new image. Two new allocations; the running one is updated
    // destructively (Nomad <= 1.2) or, with max_parallel 1 spent on the placements,
    // left for the deployment's next step (current Nomad). Nothing is written.
    let stored = api.get("/v1/job/redis").ok();
    let mut bigger = job.clone();
    bigger["TaskGroups"][0]["Count"] = json!(3);
    bigger["TaskGroups"][0]["Tasks"][0]["Config"]["image"] = json!("redis:7");
    let plan = api
        .put("/v1/job/redis/plan", &json!({"Job": bigger, "Diff": true}))
        .ok();
    let updates = &plan["Annotations"]["DesiredTGUpdates"]["cache"];
    assert_eq!(updates["Place"], 2, "{plan:#}");
    let later =
        updates["DestructiveUpdate"].as_u64().unwrap() + updates["Ignore"].as_u64().unwrap();
    assert_eq!(later, 1, "{plan:#}");
    assert_eq!(plan["JobModifyIndex"], stored["JobModifyIndex"]);
    assert_eq!(plan["Diff"]["Type"], "Edited");
    assert_eq!(api.get("/v1/job/redis").ok()["Version"], stored["Version"]);
    assert_eq!(
        api.get("/v1/job/redis/allocations")
            .ok()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let mismatch = api.put("/v1/job/other/plan", &json!({"Job": bigger}));
    assert_eq!(
        (mismatch.status, mismatch.text.as_str()),
        (400, "Job ID does not match")
    );

    // The node's own list and the operator's view of it.
    let node_allocs = api.get(&format!("/v1/node/{node_id}/allocations")).ok();
    assert_eq!(node_allocs[0]["ID"], alloc_id.as_str());
    let elig = api.put(
        &format!("/v1/node/{}/eligibility", &node_id[..8]),
        &json!({"Eligibility": "ineligible"}),
    );
    assert_eq!(elig.status, 200, "{}", elig.text);
    assert_eq!(
        api.get(&format!("/v1/node/{node_id}")).ok()["SchedulingEligibility"],
        "ineligible"
    );
    let bad = api.put(
        &format!("/v1/node/{node_id}/eligibility"),
        &json!({"Eligibility": "maybe"}),
    );
    assert_eq!(bad.status, 400);

    // Stopping the allocation asks the scheduler to move it.
    let stop = api
        .put_raw(&format!("/v1/allocation/{alloc_id}/stop"), "")
        .ok();
    assert!(is_uuid(stop["EvalID"].as_str().unwrap()), "{stop}");
}

#[test]
fn stop_purge_and_run_again() {
    let api = TestAgent::dev_no_client();
    let job = api.parse_redis();
    let first = api.register(&job);

    let stop = api.delete("/v1/job/redis").ok();
    assert!(is_uuid(stop["EvalID"].as_str().unwrap()), "{stop}");
    assert!(stop["JobModifyIndex"].as_u64() > first["JobModifyIndex"].as_u64());
    let stopped = api.wait_for("/v1/job/redis", "the stopped job is dead", |j| {
        j["Status"] == "dead"
    });
    assert_eq!(stopped["Stop"], true);
    assert_eq!(stopped["Version"], 1, "stopping writes a version");
    let listed = api.get("/v1/jobs").ok();
    assert_eq!(listed[0]["Stop"], true);

    // Run again: running (or pending without a node) and a new version.
    let again = api.register(&job);
    assert!(again["JobModifyIndex"].as_u64() > stop["JobModifyIndex"].as_u64());
    let rerun = api.get("/v1/job/redis").ok();
    assert_eq!(rerun["Stop"], false);
    assert_eq!(rerun["Version"], 2);

    let purge = api.delete("/v1/job/redis?purge=true");
    assert_eq!(purge.status, 200, "{}", purge.text);
    let gone = api.get("/v1/job/redis");
    assert_eq!((gone.status, gone.text.as_str()), (404, "job not found"));
    assert!(gone.content_type.starts_with("text/plain"));
    assert_eq!(api.get("/v1/jobs").ok(), json!([]));
    let gone = api.delete("/v1/job/redis");
    assert_eq!((gone.status, gone.text.as_str()), (404, "job not found"));
}

#[test]
fn writes_are_checked_like_nomad() {
    let api = TestAgent::dev_no_client();
    let job = api.parse_redis();

    struct Case {
        path: &'static str,
        body: String,
        status: u16,
        text: &'static str,
    }
    let mut other = job.clone();
    other["ID"] = json!("other");
    let cases = [
        Case {
            path: "/v1/jobs",
            body: json!({"Job": job, "EnforceIndex": true, "JobModifyIndex": 5}).to_string(),
            status: 400,
            text: "Enforcing job modify index 5: job does not exist",
        },
        Case {
            path: "/v1/job/redis",
            body: json!({ "Job": other }).to_string(),
            status: 400,
            text: "Job ID does not match name",
        },
        Case {
            path: "/v1/jobs",
            body: json!({"EnforceIndex": true}).to_string(),
            status: 400,
            text: "Job must be specified",
        },
        Case {
            path: "/v1/jobs",
            body: json!({"Job": {"Name": "x"}}).to_string(),
            status: 400,
            text: "Job ID hasn't been provided",
        },
        Case {
            path: "/v1/jobs",
            body: "{\"Job\": ".into(),
            status: 400,
            text: "EOF while parsing a value at line 1 column 8",
        },
        Case {
            path: "/v1/jobs",
            body: json!({"Job": job, "EvalPriority": 101}).to_string(),
            status: 400,
            text: "Eval priority must be between 1 and 100 inclusively",
        },
        Case {
            path: "/v1/jobs/parse",
            body: json!({"JobHCL": ""}).to_string(),
            status: 400,
            text: "Job spec is empty",
        },
    ];
    for case in cases {
        let resp = api.put_raw(case.path, &case.body);
        assert_eq!(
            (resp.status, resp.text.as_str()),
            (case.status, case.text),
            "{} {}",
            case.path,
            case.body
        );
    }

    // Validation errors come back with Nomad's text.
    let mut invalid = job.clone();
    invalid["TaskGroups"][0]["Count"] = json!(-1);
    let resp = api.put("/v1/jobs", &json!({ "Job": invalid }));
    assert_eq!(resp.status, 400, "{}", resp.text);
    assert!(resp.text.contains("count"), "{}", resp.text);

    // Unknown fields are ignored, nulls are defaults (as Go clients send them).
    let mut extra = job.clone();
    extra["FutureField"] = json!({"x": 1});
    extra["ParentID"] = Value::Null;
    extra["TaskGroups"][0]["Tasks"][0]["Unknown"] = json!([1, 2]);
    let resp = api.put(
        "/v1/jobs",
        &json!({"Job": extra, "SomethingNew": true, "Submission": null}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text);
    let ok = api.put(
        "/v1/jobs",
        &json!({"Job": job, "EnforceIndex": true, "JobModifyIndex": 3}),
    );
    assert_eq!(ok.status, 400);
    assert!(
        ok.text.starts_with(
            "Enforcing job modify index 3: job exists with conflicting job modify index:"
        ),
        "{}",
        ok.text
    );

    // Methods a route does not take.
    for (method, path) in [
        ("DELETE", "/v1/jobs"),
        ("PUT", "/v1/job/redis/summary"),
        ("GET", "/v1/job/redis/plan"),
        ("POST", "/v1/allocations"),
        ("GET", "/v1/search"),
    ] {
        let resp = api.send(method, path, Some("{}".into()));
        assert_eq!(
            (resp.status, resp.text.as_str()),
            (405, "Invalid method"),
            "{method} {path}"
        );
    }

    // Not found, with Nomad's texts.
    for (path, text) in [
        ("/v1/job/nope", "job not found"),
        ("/v1/job/nope/summary", "job not found"),
        ("/v1/allocation/0000", "alloc not found"),
        ("/v1/evaluation/0000", "eval not found"),
        ("/v1/deployment/0000", "deployment not found"),
        ("/v1/node/0000", "node not found"),
    ] {
        let resp = api.get(path);
        assert_eq!((resp.status, resp.text.as_str()), (404, text), "{path}");
    }
    assert_eq!(api.get("/v1/no/such/route").status, 404);
    let client = api.get("/v1/client/fs/logs/abc");
    assert_eq!(client.status, 501);
}

#[test]
fn blocking_queries_wait_for_a_change() {
    let api = TestAgent::dev_no_client();
    // Nothing in the background writes nodes: the table stays put until one registers.
    let first = api.get("/v1/nodes");
    let index = first.index;
    assert!(index >= 1);

    // Nothing changes: the same answer, the same index, once the wait is over.
    let idle = api.get(&format!("/v1/nodes?index={index}&wait=1s"));
    assert_eq!(idle.status, 200);
    assert_eq!(idle.index, index);
    assert_eq!(idle.json(), json!([]));

    // A change answers a waiting query with the new state.
    let url = api.url(&format!("/v1/nodes?index={index}&wait=300s"));
    let waiter = std::thread::spawn(move || {
        let resp = request("GET", &url, None);
        (resp.index, resp.json())
    });
    let node_id = "0a0b0c0d-1111-2222-3333-444455556666";
    api.put("/v1/internal/node/register", &node(node_id)).ok();
    let (new_index, body) = waiter.join().unwrap();
    assert!(new_index > index, "{new_index} <= {index}");
    assert_eq!(body[0]["ID"], node_id);

    // A job list wakes for each change of its jobs (statuses change in the background
    // too): every answer is newer than asked, until the new job is in it.
    let job = api.parse_redis();
    let mut index = api.get("/v1/jobs").index;
    let url = api.url("/v1/jobs");
    let waiter = std::thread::spawn(move || loop {
        let resp = request("GET", &format!("{url}?index={index}&wait=300s"), None);
        assert!(resp.index > index, "{} <= {index}", resp.index);
        if resp
            .json()
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["ID"] == "redis")
        {
            return;
        }
        index = resp.index;
    });
    api.register(&job);
    waiter.join().unwrap();

    let bad = api.get("/v1/jobs?index=1&wait=soon");
    assert_eq!((bad.status, bad.text.as_str()), (400, "Invalid wait time"));
    let bad = api.get("/v1/jobs?index=x");
    assert_eq!((bad.status, bad.text.as_str()), (400, "Invalid index"));
}

#[test]
fn lists_prefixes_pages_search_and_metrics() {
    let api = TestAgent::dev_no_client();
    let job = api.parse_redis();
    for id in ["web-a", "web-b", "web-c", "db"] {
        let mut j = job.clone();
        j["ID"] = json!(id);
        j["Name"] = json!(id);
        api.register(&j);
    }
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|j| j["ID"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&api.get("/v1/jobs?prefix=web").ok()),
        ["web-a", "web-b", "web-c"]
    );
    let page = api.get("/v1/jobs?prefix=web&per_page=2");
    assert_eq!(ids(&page.json()), ["web-a", "web-b"]);
    let page = api.get("/v1/jobs?prefix=web&per_page=2&next_token=web-c");
    assert_eq!(ids(&page.json()), ["web-c"]);
    assert_eq!(api.get("/v1/jobs?namespace=other").ok(), json!([]));

    // Evaluations: one per registration, findable by a short prefix.
    let registrations = |v: &Value| -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["TriggeredBy"] == "job-register")
            .cloned()
            .collect()
    };
    let evals = registrations(&api.get("/v1/evaluations").ok());
    assert_eq!(evals.len(), 4);
    let eval_id = evals[0]["ID"].as_str().unwrap().to_string();
    let by_prefix = api
        .get(&format!("/v1/evaluations?prefix={}", &eval_id[..6]))
        .ok();
    assert!(ids(&by_prefix).contains(&eval_id));
    let one = api
        .get(&format!("/v1/evaluation/{}?related=true", &eval_id[..8]))
        .ok();
    assert_eq!(one["ID"], eval_id.as_str());
    assert!(one["RelatedEvals"].is_array());
    let db = registrations(&api.get("/v1/evaluations?job=db").ok());
    assert_eq!(db.len(), 1);
    assert_eq!(db[0]["JobID"], "db");
    assert_eq!(
        api.get(&format!("/v1/evaluation/{eval_id}/allocations"))
            .ok(),
        json!([])
    );

    // Search, as `nomad status <prefix>` uses it.
    let found = api
        .put("/v1/search", &json!({"Prefix": "web", "Context": "all"}))
        .ok();
    assert_eq!(found["Matches"]["jobs"], json!(["web-a", "web-b", "web-c"]));
    assert_eq!(found["Truncations"]["jobs"], false);
    assert_eq!(found["Matches"]["allocs"], json!([]));
    let found = api
        .put(
            "/v1/search",
            &json!({"Prefix": &eval_id[..4], "Context": "evals"}),
        )
        .ok();
    assert!(found["Matches"]["evals"]
        .as_array()
        .unwrap()
        .contains(&json!(eval_id)));
    assert!(found["Matches"].get("jobs").is_none());

    // Metrics in go-metrics JSON and Prometheus text.
    let metrics = api.get("/v1/metrics").ok();
    let gauges = metrics["Gauges"].as_array().unwrap();
    let jobs: f64 = ["pending", "running", "dead"]
        .iter()
        .map(|s| {
            gauges
                .iter()
                .find(|g| g["Name"] == format!("nomad.nomad.job_status.{s}"))
                .map_or(0.0, |g| g["Value"].as_f64().unwrap())
        })
        .sum();
    assert_eq!(jobs, 4.0, "{metrics:#}");
    assert!(metrics["Timestamp"].is_string());
    assert!(metrics["Counters"].is_array() && metrics["Samples"].is_array());
    let prom = api.get("/v1/metrics?format=prometheus");
    assert_eq!(prom.status, 200);
    assert!(
        prom.text
            .contains("# TYPE nomad_nomad_job_status_pending gauge"),
        "{}",
        prom.text
    );

    // The agent and status routes the CLI reads.
    let me = api.get("/v1/agent/self").ok();
    assert_eq!(me["config"]["Region"], "global");
    assert_eq!(me["member"]["Status"], "alive");
    assert!(me["stats"]["nomad"].is_object());
    assert_eq!(api.get("/v1/status/leader").ok(), json!("127.0.0.1:4647"));
    assert_eq!(api.get("/v1/status/peers").ok(), json!(["127.0.0.1:4647"]));
    assert_eq!(api.get("/v1/regions").ok(), json!(["global"]));
    assert_eq!(api.get("/v1/agent/health").ok()["server"]["ok"], true);
    assert_eq!(
        api.get("/v1/agent/members").ok()["Members"][0]["Tags"]["role"],
        "nomad"
    );

    // ?pretty indents by four spaces.
    let pretty = api.get("/v1/regions?pretty");
    assert_eq!(pretty.text, "[\n    \"global\"\n]\n");
}
