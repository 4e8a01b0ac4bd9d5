//! Feasibility and fit of single nodes: constraint operators and targets, drivers,
//! placement scope, exhausted resources and ports.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::super::context::EvalContext;
use super::super::feasible::{glob_match, in_scope, node_feasible, GroupAsk};
use super::super::harness::Harness;
use super::super::rank::{rank_node, RankOptions};
use super::{job, network, node};
use crate::server::state::{Command, PlanApply};
use crate::structs::{
    AllocMetric, AllocatedPortMapping, AllocatedResources, AllocatedSharedResources, Allocation,
    Constraint, DriverInfo, Evaluation, Job, Node, ALLOC_CLIENT_RUNNING, ALLOC_DESIRED_RUN,
};

fn eval_for(job: &Job) -> Evaluation {
    Evaluation {
        id: "00000000-0000-0000-0000-000000000001".into(),
        namespace: job.namespace.clone(),
        job_id: job.id.clone(),
        eval_type: job.job_type.clone(),
        ..Default::default()
    }
}

fn ctx_for(h: &Harness, job: &Arc<Job>) -> EvalContext {
    EvalContext::new(&eval_for(job), h.snapshot(), Some(job))
}

fn constraint(l: &str, op: &str, r: &str) -> Constraint {
    Constraint {
        l_target: l.into(),
        operand: op.into(),
        r_target: r.into(),
    }
}

/// A node with attributes and meta to test constraints against.
fn rich_node() -> Node {
    let mut n = node("n1", 4000, 8192);
    n.node_class = "large".into();
    n.node_pool = "default".into();
    for (k, v) in [
        ("cpu.arch", "amd64"),
        ("cpu.numcores", "8"),
        ("os.version", "12.4"),
        ("nomad.version", "1.7.3"),
        ("driver.docker.version", "24.0.2-beta.1"),
        ("os.features", "a, b,c"),
    ] {
        n.attributes.insert(k.into(), v.into());
    }
    n.meta.insert("rack".into(), "r7".into());
    n
}

#[test]
fn constraint_operators_and_targets() {
    let cases = [
        ("${attr.cpu.arch}", "=", "amd64", true),
        ("${attr.cpu.arch}", "==", "arm64", false),
        ("${attr.cpu.arch}", "is", "amd64", true),
        ("${attr.missing}", "=", "", false),
        ("${attr.cpu.arch}", "!=", "arm64", true),
        ("${attr.cpu.arch}", "not", "amd64", false),
        ("${attr.missing}", "!=", "x", true),
        ("${attr.cpu.numcores}", ">", "4", true),
        ("${attr.cpu.numcores}", ">=", "8", true),
        ("${attr.cpu.numcores}", "<", "10", true),
        ("${attr.cpu.numcores}", "<=", "7", false),
        ("${attr.os.version}", ">", "12.10", true),
        ("${attr.cpu.arch}", "<", "b", true),
        ("${attr.missing}", "<", "1", false),
        ("${attr.cpu.arch}", "regexp", "^amd", true),
        ("${attr.cpu.arch}", "regexp", "^arm", false),
        ("${attr.cpu.arch}", "regexp", "(", false),
        ("${attr.os.features}", "set_contains", "a,c", true),
        ("${attr.os.features}", "set_contains_all", "a, d", false),
        ("${attr.os.features}", "set_contains_any", "d,b", true),
        ("${attr.os.features}", "set_contains_any", "x,y", false),
        ("${attr.nomad.version}", "version", ">= 1.6, < 1.8", true),
        ("${attr.nomad.version}", "version", "~> 1.6.0", false),
        ("${attr.driver.docker.version}", "version", ">= 24.0", false),
        (
            "${attr.driver.docker.version}",
            "semver",
            ">= 24.0.0-alpha",
            true,
        ),
        ("${attr.nomad.version}", "semver", "< 1.7.3", false),
        ("${attr.cpu.arch}", "is_set", "", true),
        ("${attr.missing}", "is_set", "", false),
        ("${attr.missing}", "is_not_set", "", true),
        ("${meta.rack}", "=", "r7", true),
        ("${node.unique.id}", "=", "n1", true),
        ("${node.unique.name}", "=", "name-n1", true),
        ("${node.datacenter}", "=", "dc1", true),
        ("${node.class}", "=", "large", true),
        ("${node.pool}", "=", "default", true),
        ("${attr.cpu.arch}", "~", "amd64", false),
    ];
    let h = Harness::new();
    let n = rich_node();
    for (l, op, r, want) in cases {
        let mut j = job("j", "service", 1, 100, 100);
        j.constraints.push(constraint(l, op, r));
        let j = Arc::new(j);
        let ctx = ctx_for(&h, &j);
        let ask = GroupAsk::new(&j, 0);
        let mut metric = AllocMetric::default();
        let got = node_feasible(&ctx, &ask, &n, &mut metric);
        assert_eq!(got, want, "{l} {op} {r}");
        if !want {
            let key = format!("{l} {op} {r}");
            assert_eq!(metric.constraint_filtered.get(&key), Some(&1), "{key}");
            assert_eq!(metric.nodes_filtered, 1);
            assert_eq!(metric.class_filtered.get("large"), Some(&1));
        }
    }
}

#[test]
fn group_and_task_constraints_apply_too() {
    let h = Harness::new();
    let mut j = job("j", "service", 1, 100, 100);
    j.task_groups[0]
        .constraints
        .push(constraint("${meta.rack}", "=", "r1"));
    let j = Arc::new(j);
    let ctx = ctx_for(&h, &j);
    let mut metric = AllocMetric::default();
    assert!(!node_feasible(
        &ctx,
        &GroupAsk::new(&j, 0),
        &rich_node(),
        &mut metric
    ));

    let mut j2 = job("j", "service", 1, 100, 100);
    j2.task_groups[0].tasks[0]
        .constraints
        .push(constraint("${attr.cpu.arch}", "=", "amd64"));
    let j2 = Arc::new(j2);
    let ctx = ctx_for(&h, &j2);
    assert!(node_feasible(
        &ctx,
        &GroupAsk::new(&j2, 0),
        &rich_node(),
        &mut metric
    ));
}

#[test]
fn drivers_and_the_docker_alias() {
    let healthy = DriverInfo {
        detected: true,
        healthy: true,
        ..Default::default()
    };
    let sick = DriverInfo {
        detected: true,
        healthy: false,
        ..Default::default()
    };
    let with = |drivers: &[(&str, &DriverInfo)]| {
        let mut n = node("n", 1000, 1000);
        n.drivers = drivers
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).clone()))
            .collect();
        n
    };
    let cases = [
        ("docker", with(&[("container", &healthy)]), true),
        ("docker", with(&[("docker", &healthy)]), true),
        (
            "docker",
            with(&[("docker", &sick), ("container", &healthy)]),
            false,
        ),
        ("docker", with(&[("container", &sick)]), false),
        ("docker", with(&[("exec", &healthy)]), false),
        ("exec", with(&[("exec", &healthy)]), true),
        ("raw_exec", with(&[("exec", &healthy)]), false),
    ];
    let h = Harness::new();
    for (driver, n, want) in cases {
        let mut j = job("j", "service", 1, 100, 100);
        j.task_groups[0].tasks[0].driver = driver.into();
        let j = Arc::new(j);
        let ctx = ctx_for(&h, &j);
        let mut metric = AllocMetric::default();
        let got = node_feasible(&ctx, &GroupAsk::new(&j, 0), &n, &mut metric);
        assert_eq!(
            got,
            want,
            "{driver} on {:?}",
            n.drivers.keys().collect::<Vec<_>>()
        );
        if !want {
            assert_eq!(metric.constraint_filtered.get("missing drivers"), Some(&1));
        }
    }
}

#[test]
fn datacenter_globs_and_pools() {
    let globs = [
        ("*", "dc1", true),
        ("dc*", "dc1", true),
        ("dc*", "eu1", false),
        ("us-*-1", "us-east-1", true),
        ("us-*-1", "us-east-2", false),
        ("*-east-*", "us-east-1", true),
        ("dc1", "dc1", true),
        ("dc1", "dc10", false),
    ];
    for (pattern, dc, want) in globs {
        assert_eq!(glob_match(pattern, dc), want, "{pattern} {dc}");
    }
    let mut n = node("n", 1000, 1000);
    n.node_pool = "gpu".into();
    let mut j = job("j", "service", 1, 100, 100);
    j.datacenters = vec!["dc*".into()];
    for (pool, want) in [("all", true), ("gpu", true), ("default", false)] {
        j.node_pool = pool.into();
        assert_eq!(in_scope(&n, &j), want, "pool {pool}");
    }
    n.node_pool.clear();
    j.node_pool = "default".into();
    assert!(in_scope(&n, &j), "a node without a pool is in default");
    j.datacenters = vec!["eu*".into()];
    assert!(!in_scope(&n, &j));
}

/// Puts an allocation of another job holding `ports` on `node_id` into the state.
fn running_alloc(h: &Harness, node_id: &str, cpu_mem: (i64, i64), ports: &[i64]) {
    let mut tasks = BTreeMap::new();
    tasks.insert(
        "t".to_string(),
        crate::structs::AllocatedTaskResources {
            cpu: crate::structs::AllocatedCpuResources {
                cpu_shares: cpu_mem.0,
                reserved_cores: Vec::new(),
            },
            memory: crate::structs::AllocatedMemoryResources {
                memory_mb: cpu_mem.1,
                memory_max_mb: 0,
            },
            networks: Vec::new(),
        },
    );
    let alloc = Allocation {
        id: uuid::Uuid::new_v4().to_string(),
        namespace: "default".into(),
        job_id: "other".into(),
        task_group: "g".into(),
        node_id: node_id.into(),
        desired_status: ALLOC_DESIRED_RUN.into(),
        client_status: ALLOC_CLIENT_RUNNING.into(),
        allocated_resources: Some(AllocatedResources {
            tasks,
            shared: AllocatedSharedResources {
                ports: ports
                    .iter()
                    .map(|p| AllocatedPortMapping {
                        label: format!("p{p}"),
                        value: *p,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
        }),
        ..Default::default()
    };
    h.apply(Command::PlanApply(Box::new(PlanApply {
        allocs: vec![alloc],
        ..Default::default()
    })));
}

/// Ranks `j`'s only group on `n`: the metric, and the ports it would get.
fn rank(h: &Harness, j: &Job, n: &Node) -> (AllocMetric, Option<Vec<i64>>) {
    let j = Arc::new(j.clone());
    let ctx = ctx_for(h, &j);
    let ask = GroupAsk::new(&j, 0);
    let mut metric = AllocMetric::default();
    let ranked = rank_node(
        &ctx,
        &ask,
        &Arc::new(n.clone()),
        None,
        &RankOptions::default(),
        &mut metric,
    );
    let ports = ranked.map(|r| {
        r.resources(&ask)
            .shared
            .ports
            .iter()
            .map(|p| p.value)
            .collect()
    });
    (metric, ports)
}

#[test]
fn exhausted_dimensions() {
    let h = Harness::new();
    let n = node("n1", 1000, 1000);
    h.add_node(n.clone());
    running_alloc(&h, "n1", (600, 200), &[]);
    let cases = [
        (job("j", "service", 1, 500, 100), Some("cpu")),
        (job("j", "service", 1, 300, 900), Some("memory")),
        (job("j", "service", 1, 400, 800), None),
    ];
    for (j, dim) in cases {
        let (metric, ports) = rank(&h, &j, &n);
        match dim {
            Some(dim) => {
                assert!(ports.is_none());
                assert_eq!(metric.nodes_exhausted, 1);
                assert_eq!(metric.dimension_exhausted.get(dim), Some(&1), "{metric:?}");
            }
            None => assert!(ports.is_some(), "{metric:?}"),
        }
    }
    let mut big_disk = job("j", "service", 1, 100, 100);
    big_disk.task_groups[0]
        .ephemeral_disk
        .as_mut()
        .unwrap()
        .size_mb = Some(200_000);
    let (metric, _) = rank(&h, &big_disk, &n);
    assert_eq!(metric.dimension_exhausted.get("disk"), Some(&1));
}

#[test]
fn ports_static_dynamic_and_collisions() {
    let h = Harness::new();
    let mut n = node("n1", 4000, 4000);
    n.reserved_resources.networks.reserved_host_ports = "22,8000-8002".into();
    n.node_resources.min_dynamic_port = 30000;
    n.node_resources.max_dynamic_port = 30002;
    h.add_node(n.clone());
    running_alloc(&h, "n1", (10, 10), &[9000, 30000]);

    let with_net = |statics: &[(&str, i64)], dynamics: &[&str]| {
        let mut j = job("j", "service", 1, 100, 100);
        j.task_groups[0].networks = vec![network(statics, dynamics)];
        j
    };
    let cases: [(Job, Result<(), &str>); 5] = [
        (with_net(&[("http", 8080)], &[]), Ok(())),
        (
            with_net(&[("ssh", 22)], &[]),
            Err("network: reserved port collision ssh=22"),
        ),
        (
            with_net(&[("x", 9000)], &[]),
            Err("network: reserved port collision x=9000"),
        ),
        (with_net(&[], &["a", "b"]), Ok(())),
        (
            with_net(&[], &["a", "b", "c"]),
            Err("network: dynamic port selection failed"),
        ),
    ];
    for (j, want) in cases {
        let (metric, ports) = rank(&h, &j, &n);
        match want {
            Ok(()) => {
                let ports = ports.unwrap_or_else(|| panic!("no fit: {metric:?}"));
                for p in &ports {
                    assert!(
                        ![22, 8000, 8001, 8002, 9000, 30000].contains(p),
                        "{p} is taken"
                    );
                }
                let mut unique = ports.clone();
                unique.dedup();
                assert_eq!(unique.len(), ports.len());
                if j.task_groups[0].networks[0].dynamic_ports.len() == 2 {
                    let mut got = ports.clone();
                    got.sort();
                    assert_eq!(got, vec![30001, 30002]);
                }
            }
            Err(dim) => {
                assert!(ports.is_none());
                assert_eq!(metric.dimension_exhausted.get(dim), Some(&1), "{metric:?}");
            }
        }
    }

    // Two allocations already holding one port: the node is unusable.
    running_alloc(&h, "n1", (10, 10), &[9000]);
    let (metric, ports) = rank(&h, &with_net(&[], &[]), &n);
    assert!(ports.is_none());
    assert_eq!(
        metric.dimension_exhausted.get("network: port collision"),
        Some(&1)
    );
}

#[test]
fn plan_placements_and_stops_count_on_the_node() {
    let h = Harness::new();
    let n = node("n1", 1000, 1000);
    h.add_node(n.clone());
    running_alloc(&h, "n1", (500, 500), &[8080]);
    let snap = h.snapshot();
    let existing = snap.node_allocs("n1")[0].clone();

    let mut j = job("j", "service", 3, 400, 400);
    j.task_groups[0].networks = vec![network(&[("http", 8080)], &[])];
    let j = Arc::new(j);
    let mut ctx = ctx_for(&h, &j);
    let ask = GroupAsk::new(&j, 0);
    let node = Arc::new(n);
    let opts = RankOptions::default();
    let mut metric = AllocMetric::default();
    assert!(rank_node(&ctx, &ask, &node, None, &opts, &mut metric).is_none());

    // Stopping the holder frees its CPU, memory and port.
    ctx.push_stop(
        &existing,
        crate::server::state::AllocStop {
            alloc_id: existing.id.clone(),
            desired_status: "stop".into(),
            ..Default::default()
        },
    );
    let ranked = rank_node(&ctx, &ask, &node, None, &opts, &mut metric).expect("fits now");
    let mut placed = Allocation {
        id: "new".into(),
        namespace: "default".into(),
        job_id: "j".into(),
        task_group: "web".into(),
        node_id: "n1".into(),
        desired_status: ALLOC_DESIRED_RUN.into(),
        allocated_resources: Some(ranked.resources(&ask)),
        ..Default::default()
    };
    ctx.push_alloc(placed.clone());
    // The plan's own placement now holds the port.
    let mut metric = AllocMetric::default();
    assert!(rank_node(&ctx, &ask, &node, None, &opts, &mut metric).is_none());
    assert_eq!(
        metric
            .dimension_exhausted
            .get("network: reserved port collision http=8080"),
        Some(&1)
    );
    // Taking the stop back makes the node full again.
    ctx.pop_stop(&existing);
    assert_eq!(ctx.usage(&node).cpu, 900);
    placed.id = "other".into();
    let _ = placed;
}
