//! `drover alloc status|logs|exec|signal|restart|stop` and the `/v1/client/*` endpoints
//! against a real agent: first a server without a client (its allocation reported by a
//! simulated node over the internal API), then `agent -dev` running a real `raw_exec`
//! task.

#[allow(dead_code)]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::agent::{client_node, TestAgent};
use serde_json::{json, Value};

/// Hang protection only: never a pass/fail criterion of its own.
const DEADLINE: Duration = Duration::from_secs(120);

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

fn drover(agent: &TestAgent, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .env("NOMAD_ADDR", &agent.addr)
        .env_remove("NOMAD_NAMESPACE")
        .env_remove("NOMAD_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run drover");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Polls `f` until it returns `Some`, panicking with `what` after [`DEADLINE`].
fn wait_for<T>(agent: &TestAgent, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "gave up waiting for {what}\nagent log:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn alloc_commands_against_a_server_without_a_client() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = TestAgent::server(tmp.path());

    // Every client route answers 501 on an agent without a client.
    for path in [
        "/v1/client/stats",
        "/v1/client/fs/logs/abcd?task=x&type=stdout",
        "/v1/client/fs/ls/abcd",
        "/v1/client/allocation/abcd/stats",
        "/v1/client/allocation/abcd/exec?task=x&command=%5B%22true%22%5D",
    ] {
        let resp = agent.get(path);
        assert_eq!(resp.status, 501, "{path}: {}", resp.text);
        assert_eq!(resp.text, "the agent runs no client", "{path}");
    }

    // Lookups: too short, none, and flag combinations Nomad refuses.
    let cases: [(&[&str], &str); 5] = [
        (
            &["alloc", "status", "a"],
            "Identifier must contain at least two characters.",
        ),
        (
            &["alloc", "logs", "a"],
            "Alloc ID must contain at least two characters.",
        ),
        (
            &["alloc", "status", "abcd"],
            "No allocation(s) with prefix or id \"abcd\" found",
        ),
        (
            &["alloc", "logs", "-n", "2", "-c", "5", "abcd"],
            "both -n and -c set",
        ),
        (
            &["logs", "-stdout", "-stderr", "abcd"],
            "Unable to support both stdout and stderr",
        ),
    ];
    for (args, want) in cases {
        let out = drover(&agent, args);
        assert_eq!(out.code, 1, "{args:?}: {out}");
        assert!(out.stderr.contains(want), "{args:?}: {out}");
    }

    // A node reports an allocation with task events; alloc status shows them.
    let node = "7d2c1b9e-4f6e-4e66-8c8b-1f3b8f2d0a02";
    let reg = agent.put("/v1/internal/node/register", &client_node(node));
    assert_eq!(reg.status, 200, "{}", reg.text);
    let job = json!({"Job": {"ID": "alloc-cli-status", "Datacenters": ["dc1"], "Type": "service",
        "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": [{"Name": "web", "Driver": "docker",
            "Config": {"image": "busybox"}, "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}});
    assert_eq!(agent.put("/v1/jobs", &job).status, 200);
    let alloc_id = wait_for(&agent, "an allocation", || {
        let allocs = agent.get("/v1/job/alloc-cli-status/allocations").json();
        allocs
            .as_array()?
            .first()
            .map(|a| a["ID"].as_str().unwrap().to_string())
    });
    let ns = |secs: i64| secs * 1_000_000_000;
    let update = json!([{"ID": alloc_id, "ClientStatus": "running",
    "TaskStates": {"web": {"State": "running", "StartedAt": "2024-05-01T10:00:03Z",
        "Events": [
            {"Type": "Received", "Time": ns(1_714_557_601)},
            {"Type": "Task Setup", "Message": "Building Task Directory", "Time": ns(1_714_557_602)},
            {"Type": "Started", "Time": ns(1_714_557_603)}
        ]}}}]);
    let resp = agent.put("/v1/internal/allocations/update", &update);
    assert_eq!(resp.status, 200, "{}", resp.text);
    wait_for(&agent, "the task state", || {
        let a = agent.get(&format!("/v1/allocation/{alloc_id}")).json();
        (a["ClientStatus"] == "running").then_some(())
    });
    let out = drover(&agent, &["alloc", "status", &alloc_id[..8]]);
    assert_eq!(out.code, 0, "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("ID                  = {alloc_id}"),
        "{out}"
    );
    assert!(
        out.stdout.contains("\nTask \"web\" is \"running\"\n"),
        "{out}"
    );
    assert!(
        out.stdout.contains(
            "\nTask Resources:\nCPU      Memory  Disk     Addresses\n100 MHz  64 MiB  300 MiB\n"
        ),
        "{out}"
    );
    let events: Vec<&str> = lines
        .iter()
        .skip_while(|l| **l != "Recent Events:")
        .skip(2)
        .map(|l| {
            l.split("  ")
                .filter(|c| !c.is_empty())
                .nth(1)
                .unwrap_or_default()
                .trim()
        })
        .collect();
    assert_eq!(events, ["Started", "Task Setup", "Received"], "{out}");
    assert!(out.stdout.contains("Task started by client"), "{out}");
    assert!(
        out.stderr.contains(
            "Couldn't retrieve stats: Unexpected response code: 501 (the agent runs no client)"
        ),
        "{out}"
    );
    let json_out = drover(&agent, &["alloc", "status", "-json", &alloc_id]);
    assert_eq!(json_out.code, 0, "{json_out}");
    let parsed: Value = serde_json::from_str(&json_out.stdout).expect("alloc JSON");
    assert_eq!(parsed["ID"], alloc_id.as_str());
    let logs = drover(&agent, &["alloc", "logs", &alloc_id[..8]]);
    assert_eq!(logs.code, 1, "{logs}");
    assert!(logs.stderr.contains("501"), "{logs}");
}

/// A raw_exec job of its own, stopped and purged (and the agent terminated, which stops
/// its tasks) however the test ends.
struct JobGuard<'a> {
    agent: &'a mut TestAgent,
    job: String,
}

impl Drop for JobGuard<'_> {
    fn drop(&mut self) {
        let _ = common::agent::try_request(
            &common::agent::http_client(Duration::from_secs(30)),
            "DELETE",
            &self.agent.url(&format!("/v1/job/{}?purge=true", self.job)),
            None,
        );
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            let out = common::agent::try_request(
                &common::agent::http_client(Duration::from_secs(30)),
                "GET",
                &self.agent.url("/v1/allocations"),
                None,
            );
            let running = out.ok().is_some_and(|r| {
                r.json()
                    .as_array()
                    .is_some_and(|a| a.iter().any(|a| a["ClientStatus"] == "running"))
            });
            if !running {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.agent.terminate();
    }
}

fn task_events(agent: &TestAgent, alloc: &str, task: &str) -> Vec<String> {
    let a = agent.get(&format!("/v1/allocation/{alloc}")).json();
    a["TaskStates"][task]["Events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["Type"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn raw_exec_alloc_end_to_end() {
    let mut agent = TestAgent::dev();
    let job = format!("alloc-cli-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("job.nomad");
    // The task plants a symlink to /etc/shadow in its own directory.
    let script = "ln -s /etc/shadow \"$NOMAD_TASK_DIR/shadow\"; trap 'echo got-usr1' USR1; \
                  echo hello; echo oops >&2; while true; do sleep 1; done";
    std::fs::write(
        &file,
        format!(
            r#"job "{job}" {{
  datacenters = ["dc1"]
  group "g" {{
    task "main" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", {script:?}]
      }}
      resources {{
        cpu    = 100
        memory = 64
      }}
    }}
  }}
}}
"#
        ),
    )
    .unwrap();
    let run = drover(&agent, &["job", "run", "-detach", file.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run}");
    let guard = JobGuard {
        agent: &mut agent,
        job: job.clone(),
    };
    let agent: &TestAgent = guard.agent;
    let alloc = wait_for(agent, "a running allocation", || {
        let allocs = agent.get(&format!("/v1/job/{job}/allocations")).json();
        allocs
            .as_array()?
            .iter()
            .find(|a| a["ClientStatus"] == "running")
            .map(|a| a["ID"].as_str().unwrap().to_string())
    });
    let short = &alloc[..8];

    let status = drover(agent, &["alloc", "status", short]);
    assert_eq!(status.code, 0, "{status}");
    assert!(
        status.stdout.contains("Task \"main\" is \"running\""),
        "{status}"
    );

    // Memory from the task's cgroup, once the client has sampled it.
    let rss = wait_for(agent, "memory stats", || {
        let stats = agent.get(&format!("/v1/client/allocation/{alloc}/stats"));
        let mem = &stats.json()["Tasks"]["main"]["ResourceUsage"]["MemoryStats"];
        let v = mem["RSS"]
            .as_u64()
            .unwrap_or(0)
            .max(mem["Usage"].as_u64().unwrap_or(0));
        (v > 0).then_some(v)
    });
    assert!(rss > 0);
    let stats = drover(agent, &["alloc", "status", "-stats", short]);
    assert_eq!(stats.code, 0, "{stats}");
    assert!(stats.stdout.contains("\nMemory Stats\n"), "{stats}");
    assert!(stats.stdout.contains("\nCPU Stats\n"), "{stats}");
    let host = agent.get("/v1/client/stats").ok();
    assert!(host["Memory"]["Total"].as_u64().unwrap_or(0) > 0, "{host}");

    // Logs: stdout, stderr, the tail.
    let logs = wait_for(agent, "hello in the logs", || {
        let out = drover(agent, &["alloc", "logs", short]);
        out.stdout.contains("hello").then_some(out)
    });
    assert_eq!(logs.code, 0, "{logs}");
    let stderr = drover(agent, &["alloc", "logs", "-stderr", short, "main"]);
    assert_eq!(
        (stderr.code, stderr.stdout.as_str()),
        (0, "oops\n"),
        "{stderr}"
    );
    let tail = drover(agent, &["logs", "-tail", "-n", "1", short]);
    assert_eq!((tail.code, tail.stdout.as_str()), (0, "hello\n"), "{tail}");
    let framed = agent.get(&format!(
        "/v1/client/fs/logs/{alloc}?task=main&type=stdout&origin=start&offset=0"
    ));
    assert_eq!(framed.status, 200, "{}", framed.text);
    assert!(framed.text.starts_with(r#"{"Offset":"#), "{}", framed.text);
    let file = "alloc/logs/main.stdout.0";
    let readat = agent.get(&format!(
        "/v1/client/fs/readat/{alloc}?path={file}&offset=1&limit=3"
    ));
    assert_eq!((readat.status, readat.text.as_str()), (200, "ell"));
    let stat = agent
        .get(&format!("/v1/client/fs/stat/{alloc}?path={file}"))
        .ok();
    assert_eq!(
        (stat["Name"].as_str(), stat["IsDir"].as_bool()),
        (Some("main.stdout.0"), Some(false))
    );
    let streamed = agent.get(&format!(
        "/v1/client/fs/stream/{alloc}?path={file}&follow=false"
    ));
    assert!(
        streamed
            .text
            .contains(r#""File":"alloc/logs/main.stdout.0""#),
        "{}",
        streamed.text
    );
    let bad = agent.get(&format!("/v1/client/fs/logs/{alloc}?task=nope&type=stdout"));
    assert_eq!(
        (bad.status, bad.text.as_str()),
        (400, "unknown task name \"nope\"")
    );

    // Exec: output and exit codes come back.
    let hi = drover(agent, &["alloc", "exec", short, "echo", "hi"]);
    assert_eq!((hi.code, hi.stdout.as_str()), (0, "hi\n"), "{hi}");
    let three = drover(
        agent,
        &[
            "alloc", "exec", "-task", "main", short, "sh", "-c", "exit 3",
        ],
    );
    assert_eq!(three.code, 3, "{three}");

    // The alloc dir: listed, and the planted symlink refused.
    let ls = agent.get(&format!("/v1/client/fs/ls/{alloc}?path=/")).ok();
    let names: Vec<&str> = ls
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["Name"].as_str())
        .collect();
    assert!(
        names.contains(&"alloc") && names.contains(&"main"),
        "{names:?}"
    );
    let local = agent
        .get(&format!("/v1/client/fs/ls/{alloc}?path=/main/local"))
        .ok();
    let link = local
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["Name"] == "shadow")
        .unwrap_or_else(|| panic!("the task's symlink: {local}"));
    assert!(
        link["FileMode"].as_str().unwrap().starts_with('L'),
        "{link}"
    );
    for verb in ["cat", "stat"] {
        let escape = agent.get(&format!(
            "/v1/client/fs/{verb}/{alloc}?path=/main/local/shadow"
        ));
        assert_eq!(escape.status, 400, "{verb}: {}", escape.text);
        assert_eq!(escape.text, "Path escapes the alloc directory");
    }
    let up = agent.get(&format!(
        "/v1/client/fs/cat/{alloc}?path=../../../etc/passwd"
    ));
    assert_eq!(up.status, 400, "{}", up.text);

    // Signal and restart leave their events.
    let sig = drover(agent, &["alloc", "signal", "-s", "SIGUSR1", short, "main"]);
    assert_eq!(sig.code, 0, "{sig}");
    wait_for(agent, "a Signaling event", || {
        task_events(agent, &alloc, "main")
            .iter()
            .any(|e| e == "Signaling")
            .then_some(())
    });
    let restart = drover(agent, &["alloc", "restart", short]);
    assert_eq!(restart.code, 0, "{restart}");
    wait_for(agent, "a Restart Signaled event", || {
        task_events(agent, &alloc, "main")
            .iter()
            .any(|e| e == "Restart Signaled")
            .then_some(())
    });

    // Stop: the evaluation is monitored; the scheduler places a replacement.
    let stop = drover(agent, &["alloc", "stop", short]);
    assert_eq!(stop.code, 0, "{stop}");
    assert!(stop.stdout.contains("Monitoring evaluation"), "{stop}");
    wait_for(agent, "the allocation to stop", || {
        let a = agent.get(&format!("/v1/allocation/{alloc}")).json();
        (a["DesiredStatus"] == "stop").then_some(())
    });
    drop(guard);
}
