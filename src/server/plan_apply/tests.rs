use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::server::state::StateStore;
use crate::server::{Server, ServerConfig};
use crate::structs::{
    AllocatedCpuResources, AllocatedMemoryResources, AllocatedPortMapping, AllocatedResources,
    AllocatedSharedResources, AllocatedTaskResources, Job, NodeCpuResources, NodeDiskResources,
    NodeMemoryResources, NodeReservedCpu, NodeReservedNetworks, NodeReservedResources,
    NodeResources, ALLOC_CLIENT_COMPLETE, ALLOC_CLIENT_PENDING, ALLOC_DESIRED_RUN,
    ALLOC_DESIRED_STOP, NODE_ELIGIBLE, NODE_INELIGIBLE, NODE_STATUS_INIT, NODE_STATUS_READY,
};

/// A ready node with 1000 MHz, 1000 MB and 1000 MB of disk, 100 of each reserved,
/// and host port 22 reserved.
fn node(id: &str) -> Node {
    Node {
        id: id.into(),
        name: id.into(),
        datacenter: "dc1".into(),
        status: NODE_STATUS_READY.into(),
        scheduling_eligibility: NODE_ELIGIBLE.into(),
        node_resources: NodeResources {
            cpu: NodeCpuResources {
                cpu_shares: 1100,
                ..Default::default()
            },
            memory: NodeMemoryResources { memory_mb: 1100 },
            disk: NodeDiskResources { disk_mb: 1100 },
            ..Default::default()
        },
        reserved_resources: NodeReservedResources {
            cpu: NodeReservedCpu { cpu_shares: 100 },
            memory: NodeMemoryResources { memory_mb: 100 },
            disk: NodeDiskResources { disk_mb: 100 },
            networks: NodeReservedNetworks {
                reserved_host_ports: "22".into(),
            },
        },
        ..Default::default()
    }
}

/// An allocation asking `cpu`, `mem` and `disk` with the given host ports.
fn alloc(id: &str, node: &str, cpu: i64, mem: i64, disk: i64, ports: &[i64]) -> Allocation {
    Allocation {
        id: id.into(),
        namespace: "default".into(),
        node_id: node.into(),
        job_id: "web".into(),
        task_group: "web".into(),
        name: format!("web.web[{id}]"),
        desired_status: ALLOC_DESIRED_RUN.into(),
        client_status: ALLOC_CLIENT_PENDING.into(),
        allocated_resources: Some(AllocatedResources {
            tasks: BTreeMap::from([(
                "task".to_string(),
                AllocatedTaskResources {
                    cpu: AllocatedCpuResources {
                        cpu_shares: cpu,
                        ..Default::default()
                    },
                    memory: AllocatedMemoryResources {
                        memory_mb: mem,
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )]),
            shared: AllocatedSharedResources {
                disk_mb: disk,
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
    }
}

fn stop(id: &str) -> AllocStop {
    AllocStop {
        alloc_id: id.into(),
        desired_status: ALLOC_DESIRED_STOP.into(),
        ..Default::default()
    }
}

/// A store holding `nodes` and the allocations `existing` (committed as a plan).
fn state(nodes: Vec<Node>, existing: Vec<Allocation>) -> StateStore {
    let store = StateStore::in_memory();
    for n in nodes {
        store
            .apply(Command::NodeRegister {
                node: Box::new(n),
                evals: Vec::new(),
            })
            .unwrap();
    }
    if !existing.is_empty() {
        store
            .apply(Command::PlanApply(Box::new(PlanApply {
                allocs: existing,
                ..Default::default()
            })))
            .unwrap();
    }
    store
}

fn plan(allocs: Vec<Allocation>, stops: Vec<(&str, AllocStop)>) -> Plan {
    let mut plan = Plan {
        eval_id: "eval".into(),
        priority: 50,
        ..Default::default()
    };
    for a in allocs {
        plan.push_alloc(a);
    }
    for (node, s) in stops {
        plan.push_stop(node, s);
    }
    plan
}

#[test]
fn each_node_is_checked_against_the_state() {
    let complete = {
        let mut a = alloc("done", "n1", 900, 900, 900, &[8080]);
        a.client_status = ALLOC_CLIENT_COMPLETE.into();
        a
    };
    let mut draining = node("n1");
    draining.drain = true;
    let mut ineligible = node("n1");
    ineligible.scheduling_eligibility = NODE_INELIGIBLE.into();
    let mut down = node("n1");
    down.status = NODE_STATUS_DOWN.into();
    let mut init = node("n1");
    init.status = NODE_STATUS_INIT.into();
    let full = alloc("old", "n1", 1000, 1000, 1000, &[8080]);
    let inplace = alloc("old", "n1", 1000, 1000, 1000, &[8080]);

    // (case, node, existing allocs, plan allocs, plan stops, refusal reason if any)
    type Case<'a> = (
        &'a str,
        Option<Node>,
        Vec<Allocation>,
        Vec<Allocation>,
        Vec<&'a str>,
        Option<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            "fits exactly",
            Some(node("n1")),
            vec![],
            vec![alloc("a", "n1", 1000, 1000, 1000, &[])],
            vec![],
            None,
        ),
        (
            "cpu",
            Some(node("n1")),
            vec![alloc("x", "n1", 600, 10, 10, &[])],
            vec![alloc("a", "n1", 500, 10, 10, &[])],
            vec![],
            Some("cpu"),
        ),
        (
            "memory",
            Some(node("n1")),
            vec![],
            vec![alloc("a", "n1", 10, 1001, 10, &[])],
            vec![],
            Some("memory"),
        ),
        (
            "disk",
            Some(node("n1")),
            vec![],
            vec![alloc("a", "n1", 10, 10, 1001, &[])],
            vec![],
            Some("disk"),
        ),
        (
            "a stop frees room",
            Some(node("n1")),
            vec![full.clone()],
            vec![alloc("a", "n1", 1000, 1000, 1000, &[8080])],
            vec!["old"],
            None,
        ),
        (
            "terminal allocs hold nothing",
            Some(node("n1")),
            vec![complete.clone()],
            vec![alloc("a", "n1", 1000, 1000, 1000, &[8080])],
            vec![],
            None,
        ),
        (
            "port of a live alloc",
            Some(node("n1")),
            vec![alloc("x", "n1", 10, 10, 10, &[8080])],
            vec![alloc("a", "n1", 10, 10, 10, &[8080])],
            vec![],
            Some("port collision"),
        ),
        (
            "reserved host port",
            Some(node("n1")),
            vec![],
            vec![alloc("a", "n1", 10, 10, 10, &[22])],
            vec![],
            Some("port collision"),
        ),
        (
            "ports within the plan",
            Some(node("n1")),
            vec![],
            vec![
                alloc("a", "n1", 10, 10, 10, &[9000]),
                alloc("b", "n1", 10, 10, 10, &[9000]),
            ],
            vec![],
            Some("port collision"),
        ),
        (
            "in-place update on a full node",
            Some(node("n1")),
            vec![full.clone()],
            vec![inplace.clone()],
            vec![],
            None,
        ),
        (
            "in-place update on a draining node",
            Some(draining.clone()),
            vec![full.clone()],
            vec![inplace.clone()],
            vec![],
            None,
        ),
        (
            "new alloc on a draining node",
            Some(draining),
            vec![],
            vec![alloc("a", "n1", 10, 10, 10, &[])],
            vec![],
            Some("not eligible"),
        ),
        (
            "new alloc on an ineligible node",
            Some(ineligible),
            vec![],
            vec![alloc("a", "n1", 10, 10, 10, &[])],
            vec![],
            Some("not eligible"),
        ),
        (
            "new alloc on a down node",
            Some(down.clone()),
            vec![],
            vec![alloc("a", "n1", 10, 10, 10, &[])],
            vec![],
            Some("down"),
        ),
        (
            "update on a down node",
            Some(down),
            vec![full.clone()],
            vec![inplace],
            vec![],
            None,
        ),
        (
            "initializing node",
            Some(init),
            vec![],
            vec![alloc("a", "n1", 10, 10, 10, &[])],
            vec![],
            Some("not ready"),
        ),
        (
            "missing node",
            None,
            vec![],
            vec![alloc("a", "n1", 10, 10, 10, &[])],
            vec![],
            Some("does not exist"),
        ),
        (
            "stops only on a missing node",
            None,
            vec![],
            vec![],
            vec!["gone"],
            None,
        ),
    ];
    for (name, n, existing, allocs, stops, refusal) in cases {
        let store = state(n.into_iter().collect(), existing);
        let snap = store.snapshot();
        let p = plan(allocs, stops.into_iter().map(|s| ("n1", stop(s))).collect());
        let Evaluated {
            result, refused, ..
        } = evaluate_plan(&snap, p.clone());
        match refusal {
            None => {
                assert!(refused.is_empty(), "{name}: refused {refused:?}");
                assert!(result.full_commit(&p).0, "{name}");
                assert_eq!(result.refresh_index, 0, "{name}");
            }
            Some(reason) => {
                assert_eq!(refused.len(), 1, "{name}");
                assert!(refused[0].1.contains(reason), "{name}: {:?}", refused[0].1);
                assert!(result.node_allocation.is_empty(), "{name}");
                assert_eq!(result.refresh_index, snap.index.max(1), "{name}");
            }
        }
    }
}

#[test]
fn refused_nodes_do_not_hold_back_the_others() {
    let store = state(vec![node("n1"), node("n2")], vec![]);
    let p = plan(
        vec![
            alloc("big", "n1", 1500, 10, 10, &[]),
            alloc("small", "n2", 500, 10, 10, &[]),
        ],
        vec![],
    );
    let Evaluated {
        result, refused, ..
    } = evaluate_plan(&store.snapshot(), p.clone());
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, "n1");
    assert_eq!(result.node_allocation.keys().collect::<Vec<_>>(), ["n2"]);
    assert!(result.refresh_index > 0);
    assert_eq!(result.full_commit(&p), (false, 2, 1));
}

#[test]
fn all_at_once_plans_are_refused_whole() {
    let store = state(vec![node("n1"), node("n2")], vec![]);
    let mut p = plan(
        vec![
            alloc("big", "n1", 1500, 10, 10, &[]),
            alloc("small", "n2", 500, 10, 10, &[]),
        ],
        vec![("n2", stop("other"))],
    );
    p.all_at_once = true;
    p.deployment = Some(Default::default());
    let Evaluated {
        result,
        command,
        refused,
    } = evaluate_plan(&store.snapshot(), p.clone());
    assert!(!refused.is_empty());
    assert!(result.node_allocation.is_empty() && result.node_update.is_empty());
    assert!(result.deployment.is_none());
    assert!(command.is_none());
}

#[test]
fn the_applier_commits_what_fits_in_one_command() {
    let server = Server::new(
        state(
            vec![node("n1"), node("n2")],
            vec![alloc("old", "n2", 100, 100, 100, &[])],
        ),
        ServerConfig::default(),
    );
    let job = Arc::new(Job {
        id: "web".into(),
        namespace: "default".into(),
        version: 3,
        ..Default::default()
    });
    let mut shares = alloc("small", "n2", 500, 10, 10, &[]);
    shares.job = Some(job.clone());
    let mut p = plan(
        vec![alloc("big", "n1", 1500, 10, 10, &[]), shares],
        vec![("n2", stop("old"))],
    );
    p.job = Some(job);
    let before = server.state.index();
    let result = server.core.apply_plan(p).unwrap();
    assert_eq!(result.alloc_index, before + 1, "one command");
    assert!(result.refresh_index > 0);
    let snap = server.state.snapshot();
    assert!(snap.allocs.get("big").is_none());
    let small = snap.allocs.get("small").expect("committed");
    assert_eq!(small.job.as_ref().map(|j| j.version), Some(3));
    assert_eq!(snap.allocs["old"].desired_status, ALLOC_DESIRED_STOP);
}

#[test]
fn plans_go_through_the_queue_to_the_applier_thread() {
    let server = Server::new(state(vec![node("n1")], vec![]), ServerConfig::default());
    assert!(matches!(
        server.plan_queue().submit(Plan::default()),
        Err(PlanError::Disabled)
    ));
    server.start();
    let futures: Vec<PlanFuture> = (0..4)
        .map(|i| {
            let p = plan(
                vec![alloc(&format!("a{i}"), "n1", 300, 10, 10, &[])],
                vec![],
            );
            server.plan_queue().submit(p).unwrap()
        })
        .collect();
    let results: Vec<PlanResult> = futures.into_iter().map(|f| f.wait().unwrap()).collect();
    // Three fit in 1000 MHz; whichever came fourth was refused against the newer state.
    let committed = results.iter().filter(|r| r.alloc_index > 0).count();
    let refused = results.iter().filter(|r| r.refresh_index > 0).count();
    assert_eq!((committed, refused), (3, 1));
    assert_eq!(server.state.snapshot().node_live_allocs("n1").len(), 3);
    assert!(server.wait_idle(std::time::Duration::from_secs(10)));
    server.shutdown();
    assert!(matches!(
        server.plan_queue().submit(Plan::default()),
        Err(PlanError::Disabled)
    ));
}
