//! Ranking and selection: bin-packing prefers the fuller node, anti-affinity and the
//! reschedule penalty push away, affinities pull.

use std::collections::HashSet;
use std::sync::Arc;

use super::super::context::EvalContext;
use super::super::feasible::GroupAsk;
use super::super::harness::Harness;
use super::super::rank::{fitness, RankOptions};
use super::super::stack::Stack;
use super::{job, node};
use crate::server::state::{Command, PlanApply};
use crate::structs::{
    Affinity, AllocatedCpuResources, AllocatedMemoryResources, AllocatedResources,
    AllocatedTaskResources, Allocation, Evaluation, Job, ALLOC_CLIENT_RUNNING, ALLOC_DESIRED_RUN,
};

#[test]
fn fitness_grows_with_utilisation() {
    assert_eq!(fitness(1000, 1000, 1000, 1000), 18.0);
    assert_eq!(fitness(1000, 1000, 0, 0), 0.0);
    let mut last = -1.0;
    for used in [100, 300, 500, 700, 900] {
        let f = fitness(1000, 1000, used, used);
        assert!(f > last, "{used}: {f} <= {last}");
        last = f;
    }
}

fn alloc_on(node_id: &str, job_id: &str, group: &str, cpu: i64, mem: i64) -> Allocation {
    let mut tasks = std::collections::BTreeMap::new();
    tasks.insert(
        "app".to_string(),
        AllocatedTaskResources {
            cpu: AllocatedCpuResources {
                cpu_shares: cpu,
                reserved_cores: Vec::new(),
            },
            memory: AllocatedMemoryResources {
                memory_mb: mem,
                memory_max_mb: 0,
            },
            networks: Vec::new(),
        },
    );
    Allocation {
        id: uuid::Uuid::new_v4().to_string(),
        namespace: "default".into(),
        job_id: job_id.into(),
        task_group: group.into(),
        node_id: node_id.into(),
        desired_status: ALLOC_DESIRED_RUN.into(),
        client_status: ALLOC_CLIENT_RUNNING.into(),
        allocated_resources: Some(AllocatedResources {
            tasks,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Selects one node for `j`'s group among the harness's nodes.
fn select(h: &Harness, j: &Job, penalty: &[&str]) -> (String, crate::structs::AllocMetric) {
    let j = Arc::new(j.clone());
    let eval = Evaluation {
        id: "e".into(),
        namespace: j.namespace.clone(),
        job_id: j.id.clone(),
        ..Default::default()
    };
    let ctx = EvalContext::new(&eval, h.snapshot(), Some(&j));
    let mut stack = Stack::new(&ctx, &j, false);
    let ask = GroupAsk::new(&j, 0);
    let opts = RankOptions {
        penalty_nodes: penalty
            .iter()
            .map(|s| s.to_string())
            .collect::<HashSet<_>>(),
        system: false,
    };
    let (chosen, metric) = stack.select(&ctx, &ask, &opts, None);
    (chosen.expect("a node").node.id.clone(), metric)
}

fn put(h: &Harness, allocs: Vec<Allocation>) {
    h.apply(Command::PlanApply(Box::new(PlanApply {
        allocs,
        ..Default::default()
    })));
}

#[test]
fn bin_packing_prefers_the_fuller_node() {
    let h = Harness::new();
    h.add_node(node("empty", 4000, 4000));
    h.add_node(node("busy", 4000, 4000));
    put(&h, vec![alloc_on("busy", "other", "g", 2000, 2000)]);
    let (chosen, metric) = select(&h, &job("j", "service", 1, 500, 500), &[]);
    assert_eq!(chosen, "busy");
    assert_eq!(metric.nodes_evaluated, 2);
    let top = &metric.score_meta_data[0];
    assert_eq!(top.node_id, "busy");
    assert!(top.scores["binpack"] > metric.score_meta_data[1].scores["binpack"]);
}

#[test]
fn anti_affinity_spreads_a_group() {
    let h = Harness::new();
    h.add_node(node("a", 1000, 1000));
    h.add_node(node("b", 1000, 1000));
    put(&h, vec![alloc_on("a", "j", "web", 100, 100)]);
    let (chosen, metric) = select(&h, &job("j", "service", 3, 100, 100), &[]);
    assert_eq!(chosen, "b", "{:?}", metric.score_meta_data);
    let a = metric
        .score_meta_data
        .iter()
        .find(|m| m.node_id == "a")
        .expect("a scored");
    assert!(a.scores["job-anti-affinity"] < 0.0);
}

#[test]
fn reschedule_penalty_avoids_the_failed_node() {
    let h = Harness::new();
    h.add_node(node("a", 4000, 4000));
    h.add_node(node("b", 4000, 4000));
    // Without the penalty "a" wins (fuller); with it, "b".
    put(&h, vec![alloc_on("a", "other", "g", 1000, 1000)]);
    let j = job("j", "service", 1, 100, 100);
    assert_eq!(select(&h, &j, &[]).0, "a");
    assert_eq!(select(&h, &j, &["a"]).0, "b");
}

#[test]
fn affinity_pulls_towards_matching_nodes() {
    let h = Harness::new();
    let mut r1 = node("r1", 4000, 4000);
    r1.meta.insert("rack".into(), "r1".into());
    let mut r2 = node("r2", 4000, 4000);
    r2.meta.insert("rack".into(), "r2".into());
    h.add_node(r1);
    h.add_node(r2);
    // r2 is fuller, but the affinity outweighs bin-packing.
    put(&h, vec![alloc_on("r2", "other", "g", 2000, 2000)]);
    let mut j = job("j", "service", 1, 100, 100);
    j.affinities.push(Affinity {
        l_target: "${meta.rack}".into(),
        operand: "=".into(),
        r_target: "r1".into(),
        weight: Some(100),
    });
    let (chosen, metric) = select(&h, &j, &[]);
    assert_eq!(chosen, "r1");
    assert_eq!(metric.score_meta_data[0].scores["node-affinity"], 1.0);
}

#[test]
fn the_walk_stops_at_the_limit() {
    let h = Harness::new();
    for i in 0..64 {
        h.add_node(node(&format!("n{i:02}"), 4000, 4000));
    }
    // 64 nodes: log2 = 6 candidates compared for a service job, 2 for batch.
    let (_, metric) = select(&h, &job("j", "service", 1, 100, 100), &[]);
    assert_eq!(metric.nodes_evaluated, 6);
    assert_eq!(metric.nodes_in_pool, 64);
    assert_eq!(metric.nodes_available.get("dc1"), Some(&64));
}
