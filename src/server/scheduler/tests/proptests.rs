//! Properties of placement over random clusters and jobs, through `process` with the
//! real state store: no node over capacity, no host port held twice, every requested
//! allocation either placed or reported failed, names in range and unique.

use std::collections::{BTreeMap, HashMap, HashSet};

use proptest::prelude::*;

use super::super::harness::Harness;
use super::{group, network, node};
use crate::structs::{Job, Node, TaskGroup, JOB_TYPE_BATCH, JOB_TYPE_SERVICE, JOB_TYPE_SYSTEM};

#[derive(Debug, Clone)]
struct NodeSpec {
    cpu: i64,
    memory: i64,
    reserved: Vec<i64>,
    /// A tiny dynamic port range, to run out of ports.
    narrow_ports: bool,
}

#[derive(Debug, Clone)]
struct GroupSpec {
    count: i64,
    cpu: i64,
    memory: i64,
    static_port: bool,
    dynamic_ports: usize,
}

#[derive(Debug, Clone)]
struct JobSpec {
    batch: bool,
    groups: Vec<GroupSpec>,
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    (
        500i64..4000,
        256i64..4096,
        prop::collection::vec(5000i64..5010, 0..3),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(cpu, memory, reserved, narrow_ports)| NodeSpec {
            cpu,
            memory,
            reserved,
            narrow_ports,
        })
}

fn group_spec() -> impl Strategy<Value = GroupSpec> {
    (
        1i64..8,
        50i64..1200,
        32i64..1500,
        prop::bool::weighted(0.3),
        0usize..3,
    )
        .prop_map(
            |(count, cpu, memory, static_port, dynamic_ports)| GroupSpec {
                count,
                cpu,
                memory,
                static_port,
                dynamic_ports,
            },
        )
}

fn job_spec() -> impl Strategy<Value = JobSpec> {
    (any::<bool>(), prop::collection::vec(group_spec(), 1..4))
        .prop_map(|(batch, groups)| JobSpec { batch, groups })
}

fn build_node(i: usize, spec: &NodeSpec) -> Node {
    let mut n = node(&format!("node-{i:03}"), spec.cpu, spec.memory);
    n.reserved_resources.networks.reserved_host_ports = spec
        .reserved
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",");
    if spec.narrow_ports {
        n.node_resources.min_dynamic_port = 21000;
        n.node_resources.max_dynamic_port = 21003;
    }
    n
}

/// Static ports come from 5000..5010, where nodes also reserve some.
fn build_job(i: usize, spec: &JobSpec, job_type: Option<&str>) -> Job {
    let groups: Vec<TaskGroup> = spec
        .groups
        .iter()
        .enumerate()
        .map(|(g, gs)| {
            let mut tg = group(&format!("g{g}"), gs.count, gs.cpu, gs.memory);
            let statics = if gs.static_port {
                vec![("admin", 5000 + ((i + g) % 10) as i64)]
            } else {
                Vec::new()
            };
            let dynamics: Vec<&str> = ["a", "b", "c"][..gs.dynamic_ports].to_vec();
            if !statics.is_empty() || !dynamics.is_empty() {
                tg.networks = vec![network(&statics, &dynamics)];
            }
            tg
        })
        .collect();
    let job_type = job_type.unwrap_or(if spec.batch {
        JOB_TYPE_BATCH
    } else {
        JOB_TYPE_SERVICE
    });
    let mut job = Job {
        id: format!("job-{i}"),
        job_type: job_type.into(),
        task_groups: groups,
        ..Default::default()
    };
    job.canonicalize();
    job
}

/// Capacity and ports of every node, over all live allocations.
fn check_nodes(h: &Harness, nodes: &[Node]) -> Result<(), TestCaseError> {
    let snap = h.snapshot();
    for n in nodes {
        let live = snap.node_live_allocs(&n.id);
        let res = live.iter().filter_map(|a| a.allocated_resources.as_ref());
        let (cpu, mem) = res
            .clone()
            .fold((0, 0), |(c, m), r| (c + r.cpu(), m + r.memory_mb()));
        let (avail_cpu, avail_mem) = n.allocatable();
        prop_assert!(cpu <= avail_cpu, "{}: cpu {cpu} > {avail_cpu}", n.id);
        prop_assert!(mem <= avail_mem, "{}: memory {mem} > {avail_mem}", n.id);
        let mut held: HashSet<i64> = n.reserved_ports().into_iter().collect();
        for r in res {
            for p in r.host_ports() {
                prop_assert!(held.insert(p), "{}: port {p} held twice", n.id);
            }
        }
    }
    Ok(())
}

/// Every group: placed + failed = count, names `job.group[i]` with i < count, unique.
fn check_job(h: &Harness, job: &Job, roomy: bool) -> Result<(), TestCaseError> {
    let snap = h.snapshot();
    let done = h.last_update();
    let live: Vec<_> = snap
        .job_allocs(&job.namespace, &job.id)
        .into_iter()
        .filter(|a| !a.terminal())
        .collect();
    for g in &job.task_groups {
        let count = g.count.unwrap();
        let mine: Vec<_> = live.iter().filter(|a| a.task_group == g.name).collect();
        let failed = done
            .failed_tg_allocs
            .get(&g.name)
            .map_or(0, |m| m.coalesced_failures as i64 + 1);
        prop_assert_eq!(mine.len() as i64 + failed, count, "{} {}", job.id, g.name);
        if roomy {
            prop_assert_eq!(failed, 0, "{} {}: room for all", job.id, g.name);
        }
        prop_assert_eq!(
            done.queued_allocations.get(&g.name).copied(),
            Some(failed as u64)
        );
        let mut seen = HashSet::new();
        for a in &mine {
            prop_assert!(a.index() < count as u64, "{} out of range", a.name);
            prop_assert!(seen.insert(a.index()), "{} twice", a.name);
            prop_assert_eq!(&a.name, &format!("{}.{}[{}]", job.id, g.name, a.index()));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn placements_respect_capacity_ports_and_counts(
        nodes in prop::collection::vec(node_spec(), 1..12),
        jobs in prop::collection::vec(job_spec(), 1..5),
    ) {
        let h = Harness::new();
        let nodes: Vec<Node> = nodes.iter().enumerate().map(|(i, s)| build_node(i, s)).collect();
        for n in &nodes {
            h.add_node(n.clone());
        }
        for (i, spec) in jobs.iter().enumerate() {
            let job = build_job(i, spec, None);
            let eval = h.register(&job);
            h.process(&eval).unwrap();
            check_job(&h, &job, false)?;
            check_nodes(&h, &nodes)?;
        }
    }

    /// With every node able to hold every job at once and static ports rarer than
    /// nodes, nothing may fail.
    #[test]
    fn with_room_everything_is_placed(
        node_count in 8usize..16,
        jobs in prop::collection::vec(job_spec(), 1..4),
    ) {
        let demand: (i64, i64) = jobs.iter().flat_map(|j| &j.groups)
            .fold((0, 0), |(c, m), g| (c + g.count * g.cpu, m + g.count * g.memory));
        let h = Harness::new();
        let spec = NodeSpec { cpu: demand.0, memory: demand.1, reserved: vec![], narrow_ports: false };
        let nodes: Vec<Node> = (0..node_count).map(|i| build_node(i, &spec)).collect();
        for n in &nodes {
            h.add_node(n.clone());
        }
        // Distinct static ports per group, so each needs only `count` (< 8) nodes.
        let mut used: HashMap<i64, ()> = HashMap::new();
        for (i, spec) in jobs.iter().enumerate() {
            let mut job = build_job(i, spec, None);
            for (g, tg) in job.task_groups.iter_mut().enumerate() {
                for net in &mut tg.networks {
                    for p in &mut net.reserved_ports {
                        p.value = 6000 + (i * 10 + g) as i64;
                        prop_assert!(used.insert(p.value, ()).is_none());
                    }
                }
            }
            let eval = h.register(&job);
            h.process(&eval).unwrap();
            check_job(&h, &job, true)?;
        }
        check_nodes(&h, &nodes)?;
    }

    /// System jobs: at most one allocation of a group per node, never over capacity.
    #[test]
    fn system_jobs_one_per_node_within_capacity(
        nodes in prop::collection::vec(node_spec(), 1..12),
        jobs in prop::collection::vec(job_spec(), 1..4),
    ) {
        let h = Harness::new();
        let nodes: Vec<Node> = nodes.iter().enumerate().map(|(i, s)| build_node(i, s)).collect();
        for n in &nodes {
            h.add_node(n.clone());
        }
        for (i, spec) in jobs.iter().enumerate() {
            let mut job = build_job(i, spec, Some(JOB_TYPE_SYSTEM));
            for tg in &mut job.task_groups {
                tg.count = Some(1);
            }
            let eval = h.register(&job);
            h.process(&eval).unwrap();
            check_nodes(&h, &nodes)?;
            let snap = h.snapshot();
            let mut per: BTreeMap<(String, String), usize> = BTreeMap::new();
            for a in snap.job_allocs("default", &job.id).iter().filter(|a| !a.terminal()) {
                *per.entry((a.node_id.clone(), a.task_group.clone())).or_default() += 1;
                prop_assert_eq!(&a.name, &format!("{}.{}[0]", job.name, a.task_group));
            }
            prop_assert!(per.values().all(|n| *n == 1), "{per:?}");
            let done = h.last_update();
            for tg in &job.task_groups {
                let placed = per.keys().filter(|(_, g)| *g == tg.name).count();
                let failed = done.failed_tg_allocs.get(&tg.name)
                    .map_or(0, |m| m.coalesced_failures as usize + 1);
                // Every node either runs it, cannot run it, or is reported exhausted.
                prop_assert!(placed + failed <= nodes.len());
            }
        }
    }
}
