//! Job files through the real binary: `drover job validate`, `job run -output`,
//! `job init`, as a user (or a CI pipeline checking jobs) runs them. No root needed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

const SECOND: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

fn drover(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .env_remove("NOMAD_VAR_greeting")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn job_file(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("jobs")
        .join(name)
        .display()
        .to_string()
}

fn job_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nomad"))
        .collect();
    files.sort();
    files
}

/// `job run -output` of a file: the `Job` object of `{"Job": {...}}`.
fn output_job(args: &[&str]) -> Value {
    let mut all = vec!["job", "run", "-output"];
    all.extend_from_slice(args);
    let out = drover(&all);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("{\n    \"Job\": {\n        \""),
        "4-space indented {{\"Job\": …}}: {text}"
    );
    let mut value: Value = serde_json::from_str(&text).unwrap();
    value["Job"].take()
}

fn temp_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn every_example_job_parses_and_validates() {
    let files = job_files();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "redis.nomad",
        "batch.nomad",
        "system.nomad",
        "docker-stock.nomad",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "jobs/{want} missing: {names:?}"
        );
    }
    for file in &files {
        let file = file.display().to_string();
        let out = drover(&["job", "validate", &file]);
        assert!(out.status.success(), "{file}: {}", stderr(&out));
        assert_eq!(stdout(&out), "Job validation successful\n", "{file}");
        let job = output_job(&[&file]);
        assert!(!job["ID"].as_str().unwrap().is_empty(), "{file}");
    }
}

#[test]
fn the_walkthrough_redis_job() {
    let text = std::fs::read_to_string(job_file("redis.nomad")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The walkthrough's edits point at these lines.
    assert_eq!(lines[0], "job \"redis\" {");
    assert_eq!(lines[4], "    max_parallel     = 1");
    assert_eq!(lines[5], "    min_healthy_time = \"10s\"");
    assert_eq!(lines[9], "  group \"cache\" {");
    assert_eq!(lines[10], "    count = 1");
    assert_eq!(lines[20], "        image = \"redis:3.2\"");

    let job = output_job(&[&job_file("redis.nomad")]);
    assert_eq!(job["ID"], "redis");
    assert_eq!(job["Name"], "redis");
    assert_eq!(job["Datacenters"], json!(["dc1"]));
    let group = &job["TaskGroups"][0];
    assert_eq!(job["TaskGroups"].as_array().unwrap().len(), 1);
    assert_eq!(group["Name"], "cache");
    assert_eq!(group["Count"], 1);
    assert_eq!(
        group["Networks"][0]["DynamicPorts"],
        json!([{"Label": "db", "Value": 0, "To": 6379, "HostNetwork": "default", "IgnoreCollision": false}])
    );
    assert_eq!(group["Networks"][0]["ReservedPorts"], json!([]));
    let task = &group["Tasks"][0];
    assert_eq!(task["Name"], "redis");
    assert_eq!(task["Driver"], "docker");
    assert_eq!(
        task["Config"],
        json!({"image": "redis:3.2", "ports": ["db"]})
    );
    assert_eq!(task["Resources"]["CPU"], 500);
    assert_eq!(task["Resources"]["MemoryMB"], 256);
    assert_eq!(group["Update"]["MaxParallel"], 1);
    assert_eq!(group["Update"]["MinHealthyTime"], 10_000_000_000_i64);
}

#[test]
fn nomads_defaults_are_filled_in() {
    let job = output_job(&[&job_file("redis.nomad")]);
    let expect = [
        ("/Region", json!("global")),
        ("/Namespace", json!("default")),
        ("/Type", json!("service")),
        ("/Priority", json!(50)),
        ("/NodePool", json!("default")),
        ("/Update/MaxParallel", json!(1)),
        ("/Update/Stagger", json!(30 * SECOND)),
        ("/TaskGroups/0/Update/HealthCheck", json!("checks")),
        // The file's own job-level update block, inherited by the group.
        ("/TaskGroups/0/Update/HealthyDeadline", json!(3 * MINUTE)),
        ("/TaskGroups/0/Update/ProgressDeadline", json!(10 * MINUTE)),
        ("/TaskGroups/0/Update/AutoRevert", json!(false)),
        ("/TaskGroups/0/Update/Canary", json!(0)),
        (
            "/TaskGroups/0/RestartPolicy",
            json!({"Attempts": 2, "Interval": 30 * MINUTE, "Delay": 15 * SECOND, "Mode": "fail", "RenderTemplates": false}),
        ),
        (
            "/TaskGroups/0/ReschedulePolicy",
            json!({"Attempts": 0, "Interval": 0, "Delay": 30 * SECOND, "DelayFunction": "exponential", "MaxDelay": HOUR, "Unlimited": true}),
        ),
        ("/TaskGroups/0/EphemeralDisk/SizeMB", json!(300)),
        ("/TaskGroups/0/Migrate/MaxParallel", json!(1)),
        ("/TaskGroups/0/Tasks/0/KillTimeout", json!(5 * SECOND)),
        ("/TaskGroups/0/Tasks/0/KillSignal", json!("")),
        (
            "/TaskGroups/0/Tasks/0/LogConfig",
            json!({"MaxFiles": 10, "MaxFileSizeMB": 10, "Disabled": false}),
        ),
        ("/TaskGroups/0/Tasks/0/RestartPolicy/Attempts", json!(2)),
    ];
    for (pointer, want) in expect {
        assert_eq!(job.pointer(pointer), Some(&want), "{pointer}");
    }

    // A batch job: no update strategy, batch restart/reschedule defaults under what the
    // file sets, and the file's own values where it has them.
    let job = output_job(&[&job_file("batch.nomad")]);
    let group = &job["TaskGroups"][0];
    assert_eq!(job["Update"], Value::Null);
    assert_eq!(group["Update"], Value::Null);
    assert_eq!(group["Migrate"], Value::Null);
    assert_eq!(
        group["RestartPolicy"],
        json!({"Attempts": 1, "Interval": 24 * HOUR, "Delay": 5 * SECOND, "Mode": "fail", "RenderTemplates": false})
    );
    assert_eq!(group["ReschedulePolicy"]["Attempts"], 1);
    assert_eq!(group["ReschedulePolicy"]["Interval"], 24 * HOUR);
    assert_eq!(group["ReschedulePolicy"]["DelayFunction"], "constant");
    assert_eq!(group["Tasks"][0]["LogConfig"]["MaxFiles"], 2);
    assert_eq!(group["Tasks"][0]["Resources"]["CPU"], 100);

    // A system job: an update strategy (current Nomad), no reschedule policy.
    let job = output_job(&[&job_file("system.nomad")]);
    assert_eq!(job["Type"], "system");
    assert_eq!(job["Update"]["MaxParallel"], 1);
    assert_eq!(job["TaskGroups"][0]["ReschedulePolicy"], Value::Null);
    assert_eq!(job["TaskGroups"][0]["RestartPolicy"]["Attempts"], 2);
}

#[test]
fn variables_from_flags_files_and_the_environment() {
    let batch = job_file("batch.nomad");
    let dir = tempfile::tempdir().unwrap();
    let var_file = temp_file(&dir, "vars.hcl", "greeting = \"hey\"\nruns = 4\n");
    let json_vars = temp_file(&dir, "vars.json", "{\"runs\": 5}");

    struct Case<'a> {
        args: Vec<&'a str>,
        env: Option<&'a str>,
        count: i64,
        greeting: &'a str,
    }
    let cases = [
        Case {
            args: vec![],
            env: None,
            count: 2,
            greeting: "hello",
        },
        Case {
            args: vec!["-var", "greeting=hi", "-var=runs=3"],
            env: None,
            count: 3,
            greeting: "hi",
        },
        Case {
            args: vec!["-var-file", &var_file],
            env: None,
            count: 4,
            greeting: "hey",
        },
        Case {
            args: vec!["-var-file", &var_file, "-var", "runs=7"],
            env: None,
            count: 7,
            greeting: "hey",
        },
        Case {
            args: vec![&json_vars],
            env: None,
            count: 5,
            greeting: "hello",
        },
        Case {
            args: vec![],
            env: Some("yo"),
            count: 2,
            greeting: "yo",
        },
        Case {
            args: vec!["-var", "greeting=hi"],
            env: Some("yo"),
            count: 2,
            greeting: "hi",
        },
    ];
    for case in cases {
        let mut args = vec!["job", "run", "-output"];
        if case.args.first() == Some(&json_vars.as_str()) {
            args.extend(["-var-file", case.args[0]]);
        } else {
            args.extend(case.args.iter().copied());
        }
        args.push(&batch);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_drover"));
        cmd.args(&args).env_remove("NOMAD_VAR_greeting");
        if let Some(v) = case.env {
            cmd.env("NOMAD_VAR_greeting", v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let job: Value = serde_json::from_str(&stdout(&out)).unwrap();
        let group = &job["Job"]["TaskGroups"][0];
        assert_eq!(group["Count"], case.count, "{args:?}");
        let task = &group["Tasks"][0];
        assert_eq!(task["Env"]["GREETING"], case.greeting, "{args:?}");
        let script = task["Config"]["args"][1].as_str().unwrap();
        assert!(
            script.starts_with(&format!("echo '{} from ", case.greeting)),
            "{script}"
        );
    }
    // The local's conditional and function call were evaluated.
    let job = output_job(&[&batch]);
    let script = job["TaskGroups"][0]["Tasks"][0]["Config"]["args"][1]
        .as_str()
        .unwrap();
    assert!(
        script.starts_with("echo 'hello from drover' in "),
        "{script}"
    );

    // Values for variables the file does not declare: an error unless -hcl2-strict=false.
    let out = drover(&["job", "validate", "-var", "nope=1", &batch]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Undefined -var variable") && stderr(&out).contains("\"nope\""),
        "{}",
        stderr(&out)
    );
    let out = drover(&[
        "job",
        "validate",
        "-hcl2-strict=false",
        "-var",
        "nope=1",
        &batch,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A value that is not of the variable's type.
    let out = drover(&["job", "validate", "-var", "runs=many", &batch]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid value for variable \"runs\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn errors_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "syntax.nomad",
            "job \"x\" {\n  group \"g\" {\n    count = \n  }\n}\n",
            ":3:13: ",
            "invalid expression",
        ),
        (
            "typo.nomad",
            "job \"x\" {\n  group \"g\" {\n    cuont = 3\n  }\n}\n",
            ":3:5: ",
            "job \"x\" > group \"g\": unsupported argument \"cuont\"",
        ),
        (
            "type.nomad",
            "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      kill_timeout = \"5 seconds\"\n    }\n  }\n}\n",
            ":4:22: ",
            "job \"x\" > group \"g\" > task \"t\": kill_timeout: time: unknown unit",
        ),
        (
            "undeclared.nomad",
            "job \"x\" {\n  region = var.region\n}\n",
            ":2:12: ",
            "unknown variable var.region",
        ),
        (
            "function.nomad",
            "job \"x\" {\n  region = timestamp()\n}\n",
            ":2:12: ",
            "function \"timestamp\" is not supported",
        ),
        (
            "block.nomad",
            "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      vault {}\n    }\n  }\n}\n",
            ":4:7: ",
            "vault blocks are not supported by drover",
        ),
    ];
    for (name, text, position, message) in cases {
        let path = temp_file(&dir, name, text);
        let out = drover(&["job", "validate", &path]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = stderr(&out);
        let first = err.lines().next().unwrap_or_default();
        let want = format!("Error getting job struct: {path}{position}");
        assert!(
            first.starts_with(&want),
            "{name}: want {want:?}, got:\n{err}"
        );
        assert!(
            first.contains(message),
            "{name}: want {message:?} in {first:?}"
        );
        assert!(stdout(&out).is_empty(), "{name}");
    }
}

#[test]
fn json_jobs_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for file in job_files() {
        let file = file.display().to_string();
        let from_hcl = output_job(&[&file]);
        // The API's {"Job": ...} form, as -output wrote it.
        let wrapped = temp_file(
            &dir,
            "wrapped.json",
            &json!({ "Job": from_hcl }).to_string(),
        );
        assert_eq!(output_job(&[&wrapped]), from_hcl, "{file}");
        // A bare job object, with -json and a name that does not say JSON.
        let bare = temp_file(&dir, "bare.job", &from_hcl.to_string());
        assert_eq!(output_job(&["-json", &bare]), from_hcl, "{file}");
    }
    // Go API clients send null for every unset field, and more fields than drover knows.
    let sparse = temp_file(
        &dir,
        "sparse.json",
        r#"{"Job": {"ID": "web", "Name": null, "Priority": null, "NewField": {"x": 1},
            "TaskGroups": [{"Name": "g", "Count": null, "Tasks": [{"Name": "t",
            "Driver": "exec", "Config": {"command": "/bin/true"}, "KillTimeout": null}]}]}}"#,
    );
    let job = output_job(&[&sparse]);
    assert_eq!(
        (job["Name"].as_str(), job["Priority"].as_i64()),
        (Some("web"), Some(50))
    );
    assert_eq!(job["TaskGroups"][0]["Count"], 1);
    assert_eq!(job["TaskGroups"][0]["Tasks"][0]["KillTimeout"], 5 * SECOND);

    let bad = temp_file(
        &dir,
        "bad.json",
        r#"{"Job": {"ID": "x", "TaskGroups": [{"Count": "three"}]}}"#,
    );
    let out = drover(&["job", "validate", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Job.TaskGroups[0].Count: invalid type"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn runtime_interpolations_are_kept_for_the_client() {
    let job = output_job(&[&job_file("system.nomad")]);
    assert_eq!(job["Constraints"][0]["LTarget"], "${attr.kernel.name}");
    assert_eq!(job["Constraints"][0]["Operand"], "=");
    let task = &job["TaskGroups"][0]["Tasks"][0];
    assert_eq!(
        task["Config"]["args"],
        json!(["-f", "-p", "${NOMAD_PORT_http}", "-h", "/local"])
    );
    assert_eq!(
        task["Templates"][0]["EmbeddedTmpl"],
        "<p>node ${node.unique.name}, alloc {{ env \"NOMAD_ALLOC_ID\" }}</p>\n"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = temp_file(
        &dir,
        "interp.nomad",
        r#"variable "dc" { default = "dc1" }
job "i" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/echo"
        args = ["${NOMAD_ALLOC_INDEX}", "${ node.unique.name }", "${meta.rack}-${var.dc}",
                "${env["HOME"]}", "$${literal}", "${upper(var.dc)}"]
      }
      env {
        ADDR = "${NOMAD_IP_http}:${NOMAD_PORT_http}"
      }
    }
  }
}
"#,
    );
    let job = output_job(&[&path]);
    let task = &job["TaskGroups"][0]["Tasks"][0];
    assert_eq!(
        task["Config"]["args"],
        json!([
            "${NOMAD_ALLOC_INDEX}",
            "${ node.unique.name }",
            "${meta.rack}-dc1",
            "${env[\"HOME\"]}",
            "${literal}",
            "DC1"
        ])
    );
    assert_eq!(task["Env"]["ADDR"], "${NOMAD_IP_http}:${NOMAD_PORT_http}");
}

#[test]
fn validation_errors_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_file(
        &dir,
        "invalid.nomad",
        r#"job "bad job" {
  type = "web"
  group "g" {
    count = -1
    network {
      port "http" { static = 70000 }
    }
    task "t" {
      resources {
        cpu    = 0
        memory = 4
      }
    }
    task "t" {
      driver = "exec"
    }
  }
}
"#,
    );
    let out = drover(&["job", "validate", &path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    let want = "Job validation errors:
8 errors occurred:
\t* Job ID contains a space
\t* Invalid job type: \"web\"
\t* Task group g validation failed: Task group count can't be negative
\t* Task group g validation failed: Task 2 redefines 't' from task 1
\t* Task group g validation failed: Task group network validation failed: Port http (70000) cannot be greater than 65535
\t* Task group g validation failed: Task t validation failed: Missing task driver
\t* Task group g validation failed: Task t validation failed: minimum CPU value is 1; got 0
\t* Task group g validation failed: Task t validation failed: minimum MemoryMB value is 10; got 4
";
    assert_eq!(stderr(&out), want);

    // A container task publishing a port the group does not have.
    let path = temp_file(
        &dir,
        "ports.nomad",
        r#"job "p" {
  group "g" {
    network {
      port "db" { to = 6379 }
    }
    task "t" {
      driver = "container"
      config {
        image = "redis:3.2"
        ports = ["db", "http"]
      }
    }
  }
}
"#,
    );
    let out = drover(&["job", "validate", &path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("Task t validation failed: Port \"http\" not found, check network block"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn run_without_output_has_no_agent_yet_and_stdin_works() {
    let out = drover(&["job", "run", &job_file("redis.nomad")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("use -output"), "{}", stderr(&out));

    let mut child = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["job", "validate", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let text = std::fs::read(job_file("redis.nomad")).unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &text).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Job validation successful\n");
}

#[test]
fn init_writes_an_example_job_once() {
    let dir = tempfile::tempdir().unwrap();
    let init = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_drover"))
            .current_dir(dir.path())
            .args(["job", "init"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = init(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Example job file written to example.nomad.hcl\n"
    );
    let written = dir.path().join("example.nomad.hcl");
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(text.contains("driver = \"container\""), "{text}");

    let out = init(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "Job 'example.nomad.hcl' already exists\n");

    let out = init(&["-short", "short.nomad.hcl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Example job file written to short.nomad.hcl\n"
    );
    let short = std::fs::read_to_string(dir.path().join("short.nomad.hcl")).unwrap();
    assert!(!short.contains('#') && short.len() < text.len(), "{short}");

    for file in ["example.nomad.hcl", "short.nomad.hcl"] {
        let path = dir.path().join(file).display().to_string();
        let out = drover(&["job", "validate", &path]);
        assert!(out.status.success(), "{file}: {}", stderr(&out));
        let job = output_job(&[&path]);
        assert_eq!(job["ID"], "example");
        assert_eq!(job["TaskGroups"][0]["Name"], "cache");
        assert_eq!(job["TaskGroups"][0]["Tasks"][0]["Name"], "redis");
        assert_eq!(job["TaskGroups"][0]["Tasks"][0]["Driver"], "container");
        assert_eq!(
            job["TaskGroups"][0]["Networks"][0]["DynamicPorts"][0]["To"],
            6379
        );
    }
}
