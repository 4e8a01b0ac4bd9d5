//! The system scheduler end to end: state store, scheduler, test planner.

use super::super::harness::Harness;
use super::{job, node};
use crate::server::state::Command;
use crate::structs::{
    Allocation, Evaluation, Job, ALLOC_DESIRED_RUN, ALLOC_NOT_NEEDED, ALLOC_UPDATING, EVAL_BLOCKED,
    EVAL_COMPLETE, NODE_INELIGIBLE, TRIGGER_NODE_UPDATE, TRIGGER_ROLLING_UPDATE,
};

fn running(h: &Harness, job_id: &str) -> Vec<Allocation> {
    let mut out: Vec<Allocation> = h
        .snapshot()
        .job_allocs("default", job_id)
        .into_iter()
        .filter(|a| a.desired_status == ALLOC_DESIRED_RUN)
        .map(|a| (*a).clone())
        .collect();
    out.sort_by(|a, b| a.node_id.cmp(&b.node_id));
    out
}

fn nodes_of(allocs: &[Allocation]) -> Vec<&str> {
    allocs.iter().map(|a| a.node_id.as_str()).collect()
}

fn node_eval(job: &Job) -> Evaluation {
    Evaluation {
        id: uuid::Uuid::new_v4().to_string(),
        namespace: "default".into(),
        priority: job.priority,
        eval_type: job.job_type.clone(),
        triggered_by: TRIGGER_NODE_UPDATE.into(),
        job_id: job.id.clone(),
        status: "pending".into(),
        ..Default::default()
    }
}

fn setup(nodes: usize) -> (Harness, Job) {
    let h = Harness::new();
    for i in 1..=nodes {
        h.add_node(node(&format!("n{i}"), 1000, 1000));
    }
    let j = job("agent", "system", 1, 100, 100);
    let eval = h.register(&j);
    h.process(&eval).unwrap();
    let stored = (*h.snapshot().job("default", "agent").unwrap()).clone();
    (h, stored)
}

#[test]
fn one_allocation_per_node() {
    let (h, _) = setup(3);
    let allocs = running(&h, "agent");
    assert_eq!(nodes_of(&allocs), ["n1", "n2", "n3"]);
    assert!(allocs.iter().all(|a| a.name == "agent.web[0]"));
    assert!(allocs
        .iter()
        .all(|a| a.job.as_ref().is_some_and(|j| j.id == "agent")));
    let done = h.last_update();
    assert_eq!(done.status, EVAL_COMPLETE);
    assert_eq!(done.queued_allocations.get("web"), Some(&0));
    assert_eq!(h.plans.lock().len(), 1);
}

#[test]
fn a_new_node_gets_one_and_nothing_else_moves() {
    let (h, j) = setup(2);
    let before = running(&h, "agent");
    h.add_node(node("n3", 1000, 1000));
    h.process(&node_eval(&j)).unwrap();
    let after = running(&h, "agent");
    assert_eq!(nodes_of(&after), ["n1", "n2", "n3"]);
    assert_eq!(after[0].id, before[0].id);
    assert_eq!(after[1].id, before[1].id);
    let plan = h.plans.lock().last().cloned().unwrap();
    assert!(plan.node_update.is_empty());
    assert_eq!(plan.node_allocation.keys().collect::<Vec<_>>(), ["n3"]);
    // Run again: nothing to do, no plan.
    h.process(&node_eval(&j)).unwrap();
    assert_eq!(h.plans.lock().len(), 2);
}

#[test]
fn an_ineligible_node_loses_its_allocation() {
    let (h, j) = setup(3);
    h.apply(Command::NodeEligibility {
        node_id: "n2".into(),
        eligibility: NODE_INELIGIBLE.into(),
        evals: Vec::new(),
    });
    h.process(&node_eval(&j)).unwrap();
    assert_eq!(nodes_of(&running(&h, "agent")), ["n1", "n3"]);
    let snap = h.snapshot();
    let stopped = snap.node_allocs("n2");
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0].desired_description, ALLOC_NOT_NEEDED);
}

#[test]
fn infeasible_nodes_are_skipped_exhausted_ones_wait() {
    let h = Harness::new();
    h.add_node(node("big", 1000, 1000));
    h.add_node(node("small", 1000, 50));
    let mut nodriver = node("nodriver", 1000, 1000);
    nodriver.drivers.clear();
    h.add_node(nodriver);
    let j = job("agent", "system", 1, 100, 100);
    let eval = h.register(&j);
    h.process(&eval).unwrap();
    assert_eq!(nodes_of(&running(&h, "agent")), ["big"]);
    let done = h.last_update();
    let failed = &done.failed_tg_allocs["web"];
    assert_eq!(failed.dimension_exhausted.get("memory"), Some(&1));
    assert_eq!(failed.resources_exhausted["app"]["MemoryMB"], 100);
    // One blocked evaluation, for the node that is too small.
    let created = h.created.lock().clone();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].status, EVAL_BLOCKED);
    assert_eq!(created[0].node_id, "small");
    assert_eq!(done.blocked_eval, created[0].id);
    assert_eq!(done.queued_allocations.get("web"), Some(&1));
}

#[test]
fn new_versions_roll_in_place_or_max_parallel_at_a_time() {
    let (h, mut j) = setup(3);
    let first = running(&h, "agent");

    // Kill timeout only: in place, same allocations.
    j.task_groups[0].tasks[0].kill_timeout *= 2;
    let eval = h.register(&j);
    h.process(&eval).unwrap();
    let after = running(&h, "agent");
    assert_eq!(
        after.iter().map(|a| &a.id).collect::<Vec<_>>(),
        first.iter().map(|a| &a.id).collect::<Vec<_>>()
    );
    assert!(after.iter().all(|a| a.job.as_ref().unwrap().version == 1));

    // A config change replaces them, one at a time (max_parallel 1).
    j.task_groups[0].tasks[0]
        .config
        .insert("image".into(), "redis:7".into());
    let eval = h.register(&j);
    h.process(&eval).unwrap();
    let snap = h.snapshot();
    let updating: Vec<_> = snap
        .job_allocs("default", "agent")
        .into_iter()
        .filter(|a| a.desired_description == ALLOC_UPDATING)
        .collect();
    assert_eq!(updating.len(), 1);
    let replacement = snap
        .allocs
        .get(updating[0].next_allocation.as_str())
        .expect("linked replacement");
    assert_eq!(replacement.node_id, updating[0].node_id);
    assert_eq!(replacement.previous_allocation, updating[0].id);
    assert_eq!(running(&h, "agent").len(), 3);
    let rolling: Vec<_> = h
        .created
        .lock()
        .iter()
        .filter(|e| e.triggered_by == TRIGGER_ROLLING_UPDATE)
        .cloned()
        .collect();
    assert_eq!(rolling.len(), 1);
    assert_eq!(h.last_update().next_eval, rolling[0].id);

    // The follow-up does the next one.
    h.process(&rolling[0]).unwrap();
    let snap = h.snapshot();
    let done = snap
        .job_allocs("default", "agent")
        .into_iter()
        .filter(|a| a.desired_description == ALLOC_UPDATING)
        .count();
    assert_eq!(done, 2);
}

#[test]
fn stopping_the_job_stops_everything() {
    let (h, j) = setup(2);
    h.apply(Command::JobDeregister {
        namespace: "default".into(),
        job_id: j.id.clone(),
        purge: false,
        eval: None,
    });
    h.process(&node_eval(&j)).unwrap();
    assert!(running(&h, "agent").is_empty());
    assert_eq!(h.last_update().status, EVAL_COMPLETE);
}
