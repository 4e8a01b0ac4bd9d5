//! The parser on small job files: each HCL form lands in the right field.

use std::path::Path;

use super::{parse_str, JobspecError, ParseOptions};
use crate::structs::Job;

fn parse(text: &str) -> Result<Job, JobspecError> {
    parse_str("t.nomad", text, Path::new("."), &ParseOptions::default())
}

fn job(text: &str) -> Job {
    parse(text).unwrap_or_else(|e| panic!("{e}"))
}

fn messages(text: &str) -> Vec<String> {
    parse(text)
        .expect_err("should not parse")
        .diagnostics
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
        .collect()
}

#[test]
fn constraint_and_affinity_shorthands() {
    let j = job(r#"job "j" {
  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }
  constraint {
    distinct_hosts = true
  }
  constraint {
    attribute = "${attr.nomad.version}"
    version   = ">= 1.2"
  }
  constraint {
    distinct_property = "${meta.rack}"
    value             = "2"
  }
  affinity {
    attribute = "${node.datacenter}"
    value     = "dc1"
    weight    = -30
  }
}"#);
    let ops: Vec<(&str, &str, &str)> = j
        .constraints
        .iter()
        .map(|c| (c.l_target.as_str(), c.operand.as_str(), c.r_target.as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            ("${attr.kernel.name}", "=", "linux"),
            ("", "distinct_hosts", "true"),
            ("${attr.nomad.version}", "version", ">= 1.2"),
            ("${meta.rack}", "distinct_property", "2"),
        ]
    );
    assert_eq!(j.affinities[0].weight, Some(-30));
    assert_eq!(j.affinities[0].operand, "=");
}

#[test]
fn ports_meta_env_config_and_lone_tasks() {
    let j = job(r#"job "j" {
  meta = { "team.name" = "infra" }
  task "solo" {
    driver = "raw_exec"
  }
  group "g" {
    meta {
      owner = "ops"
      build = 42
    }
    network {
      mode = "bridge"
      port "http" { static = 8080 }
      port "db" {
        to           = 5432
        host_network = "private"
      }
    }
    task "t" {
      driver = "container"
      env = { "A.B" = "1" }
      config {
        image   = "busybox"
        command = "sh"
        labels {
          x = "y"
        }
        mount {
          type   = "bind"
          target = "/a"
        }
        mount {
          type = "tmpfs"
        }
      }
      logs {
        enabled = false
      }
      identity {
        env = true
      }
      identity {
        name = "vault"
        aud  = ["vault.io"]
      }
    }
  }
}"#);
    assert_eq!(j.meta["team.name"], "infra");
    assert_eq!(j.task_groups.len(), 2);
    assert_eq!(j.task_groups[0].name, "solo");
    assert_eq!(j.task_groups[0].tasks[0].name, "solo");
    let g = &j.task_groups[1];
    assert_eq!(g.meta["build"], "42");
    let net = &g.networks[0];
    assert_eq!(net.mode, "bridge");
    assert_eq!(net.reserved_ports[0].label, "http");
    assert_eq!(net.reserved_ports[0].value, 8080);
    assert_eq!(net.dynamic_ports[0].label, "db");
    assert_eq!(net.dynamic_ports[0].host_network, "private");
    let t = &g.tasks[0];
    assert_eq!(t.env["A.B"], "1");
    assert_eq!(
        serde_json::Value::Object(t.config.clone()),
        serde_json::json!({
            "image": "busybox", "command": "sh",
            "labels": [{"x": "y"}],
            "mount": [{"type": "bind", "target": "/a"}, {"type": "tmpfs"}]
        })
    );
    assert_eq!(t.log_config.as_ref().unwrap().disabled, Some(true));
    assert!(t.identity.as_ref().unwrap().env);
    assert_eq!(t.identities[0].name, "vault");
}

#[test]
fn periodic_parameterized_and_policies() {
    let j = job(r#"job "cron" {
  type = "batch"
  periodic {
    crons            = ["*/15 * * * *"]
    prohibit_overlap = true
  }
  parameterized {
    meta_required = ["who"]
  }
  reschedule {
    attempts = 2
  }
  group "g" {
    count = 0
    reschedule {
      interval = "2h"
    }
    task "t" {
      driver = "exec"
      kill_timeout = "30s"
      kill_signal  = "SIGTERM"
      lifecycle {
        hook    = "prestart"
        sidecar = false
      }
    }
  }
}"#);
    let p = j.periodic.as_ref().unwrap();
    assert_eq!(p.specs, ["*/15 * * * *"]);
    assert_eq!(p.spec_type, "cron");
    assert!(p.prohibit_overlap);
    assert_eq!(j.parameterized_job.as_ref().unwrap().meta_required, ["who"]);
    assert_eq!(j.task_groups[0].count, Some(0));
    let t = &j.task_groups[0].tasks[0];
    assert_eq!(t.kill_timeout, 30_000_000_000);
    assert_eq!(t.kill_signal, "SIGTERM");
    assert_eq!(t.lifecycle.as_ref().unwrap().hook, "prestart");

    let mut canonical = j.clone();
    canonical.canonicalize();
    let policy = canonical.task_groups[0].reschedule_policy.as_ref().unwrap();
    // The job's attempts, the group's interval, batch defaults for the rest.
    assert_eq!(policy.attempts, Some(2));
    assert_eq!(policy.interval, Some(2 * 3_600_000_000_000));
    assert_eq!(policy.delay, Some(5_000_000_000));
    assert_eq!(canonical.task_groups[0].count, Some(0));
}

#[test]
fn structural_errors_have_positions() {
    assert_eq!(
        messages("# nothing\n"),
        ["0:0: Missing job block: a job block is required"]
    );
    assert_eq!(
        messages("variable \"x\" {}\njob \"a\" {}\n"),
        ["1:1: Unset variable \"x\": a used variable must be set or have a default value"]
    );
    assert_eq!(
        messages("job \"a\" {}\njob \"b\" {}\n"),
        ["2:1: Duplicate job block: only one job block is allowed in a file"]
    );
    assert_eq!(
        messages("job \"a\" {\n  group {}\n}\n"),
        ["2:3: job \"a\": a group block needs exactly one label, got 0"]
    );
    assert_eq!(
        messages("foo = 1\njob \"a\" {}\n"),
        ["1:1: unsupported argument \"foo\": only variable, variables, locals and job blocks may appear at the top of a job file"]
    );
    assert_eq!(
        messages("job \"a\" {\n  group \"g\" {\n    update {}\n    update {}\n  }\n}\n"),
        ["4:5: job \"a\" > group \"g\": only one update block is allowed"]
    );
    assert_eq!(
        messages("job \"a\" {\n  datacenters = \"dc1\"\n}\n"),
        ["2:17: job \"a\": datacenters must be a list of strings, got string \"dc1\""]
    );
}

#[test]
fn locals_in_any_order_and_cycles() {
    let j = job(r#"
locals {
  b = "${local.a}-b"
}
locals {
  a = lower("A")
}
job "j" {
  name = local.b
}"#);
    assert_eq!(j.name, "a-b");
    let errs = messages("locals {\n  a = local.b\n  b = local.a\n}\njob \"j\" {}\n");
    assert_eq!(
        errs,
        [
            "2:7: unknown local value local.b",
            "3:7: unknown local value local.a"
        ]
    );
}
