//! The service and batch scheduler end to end (with the real reconciler).

use super::super::harness::Harness;
use super::{job, network, node};
use crate::server::state::Command;
use crate::structs::{
    Allocation, Constraint, Job, ALLOC_CLIENT_LOST, ALLOC_DESIRED_RUN, EVAL_BLOCKED, EVAL_COMPLETE,
    NODE_STATUS_DOWN, TRIGGER_QUEUED_ALLOCS,
};

fn running(h: &Harness, job_id: &str) -> Vec<Allocation> {
    let mut out: Vec<Allocation> = h
        .snapshot()
        .job_allocs("default", job_id)
        .into_iter()
        .filter(|a| a.desired_status == ALLOC_DESIRED_RUN)
        .map(|a| (*a).clone())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn names(allocs: &[Allocation]) -> Vec<&str> {
    allocs.iter().map(|a| a.name.as_str()).collect()
}

fn run(h: &Harness, j: &Job) {
    let eval = h.register(j);
    h.process(&eval).unwrap();
}

#[test]
fn places_count_allocations_with_resources_and_ports() {
    let h = Harness::new();
    for i in 1..=3 {
        h.add_node(node(&format!("n{i}"), 2000, 2000));
    }
    let mut j = job("web", "service", 3, 500, 256);
    j.task_groups[0].networks = vec![network(&[("admin", 9999)], &["http"])];
    run(&h, &j);
    let allocs = running(&h, "web");
    assert_eq!(names(&allocs), ["web.web[0]", "web.web[1]", "web.web[2]"]);
    for a in &allocs {
        let res = a.allocated_resources.as_ref().unwrap();
        assert_eq!(res.tasks["app"].cpu.cpu_shares, 500);
        assert_eq!(res.tasks["app"].memory.memory_mb, 256);
        assert_eq!(res.shared.disk_mb, 300);
        let ports: Vec<_> = res
            .shared
            .ports
            .iter()
            .map(|p| (&p.label[..], p.value))
            .collect();
        assert_eq!(ports[0], ("admin", 9999));
        assert!((20000..=32000).contains(&ports[1].1), "{ports:?}");
        assert_eq!(res.shared.ports[0].host_ip, "10.0.0.1");
        assert_eq!(a.node_name, format!("name-{}", a.node_id));
        assert!(a.metrics.as_ref().unwrap().nodes_evaluated > 0);
        assert!(a.job.is_some(), "the plan's job is attached");
    }
    // The static port forces three different nodes.
    let mut nodes: Vec<_> = allocs.iter().map(|a| &a.node_id).collect();
    nodes.dedup();
    assert_eq!(nodes.len(), 3);
    let done = h.last_update();
    assert_eq!(done.status, EVAL_COMPLETE);
    assert!(done.failed_tg_allocs.is_empty());
    assert_eq!(done.queued_allocations.get("web"), Some(&0));
}

#[test]
fn what_does_not_fit_is_reported_and_blocked() {
    let h = Harness::new();
    h.add_node(node("n1", 1000, 1000));
    h.add_node(node("n2", 1000, 1000));
    // Four fit (two per node), six do not.
    run(&h, &job("big", "service", 10, 100, 450));
    assert_eq!(running(&h, "big").len(), 4);
    let done = h.last_update();
    let failed = &done.failed_tg_allocs["web"];
    assert_eq!(failed.coalesced_failures, 5);
    assert_eq!(failed.dimension_exhausted.get("memory"), Some(&2));
    assert_eq!(failed.nodes_evaluated, 2);
    assert_eq!(done.queued_allocations.get("web"), Some(&6));
    let created = h.created.lock().clone();
    let blocked: Vec<_> = created
        .iter()
        .filter(|e| e.status == EVAL_BLOCKED)
        .collect();
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].triggered_by, TRIGGER_QUEUED_ALLOCS);
    assert_eq!(blocked[0].previous_eval, done.id);
    assert_eq!(done.blocked_eval, blocked[0].id);

    // Capacity arrives: the blocked evaluation places the rest.
    for i in 3..=5 {
        h.add_node(node(&format!("n{i}"), 1000, 1000));
    }
    h.process(blocked[0]).unwrap();
    assert_eq!(running(&h, "big").len(), 10);
    assert_eq!(h.last_update().status, EVAL_COMPLETE);
}

#[test]
fn count_changes_update_in_place_and_job_changes_replace() {
    let h = Harness::new();
    for i in 1..=3 {
        h.add_node(node(&format!("n{i}"), 4000, 4000));
    }
    let mut j = job("api", "service", 2, 100, 100);
    j.update = None;
    j.task_groups[0].update = None;
    run(&h, &j);
    let first = running(&h, "api");

    j.task_groups[0].count = Some(3);
    run(&h, &j);
    let second = running(&h, "api");
    assert_eq!(names(&second), ["api.web[0]", "api.web[1]", "api.web[2]"]);
    assert_eq!(second[0].id, first[0].id);
    assert_eq!(second[1].id, first[1].id);

    j.task_groups[0].tasks[0]
        .env
        .insert("MODE".into(), "fast".into());
    run(&h, &j);
    let third = running(&h, "api");
    assert_eq!(third.len(), 3);
    let snap = h.snapshot();
    for a in &third {
        assert!(
            second.iter().all(|s| s.id != a.id),
            "{} was replaced",
            a.name
        );
        let prev = snap
            .allocs
            .get(a.previous_allocation.as_str())
            .expect("linked");
        assert_eq!(prev.next_allocation, a.id);
        assert_eq!(prev.name, a.name);
    }
}

#[test]
fn annotations_for_job_plan() {
    let h = Harness::new();
    h.add_node(node("n1", 4000, 4000));
    let j = job("p", "service", 2, 100, 100);
    let mut eval = h.register(&j);
    eval.annotate_plan = true;
    h.process(&eval).unwrap();
    let plan = h.plans.lock().last().cloned().unwrap();
    let annotations = plan.annotations.expect("annotated");
    assert_eq!(annotations.desired_tg_updates["web"].place, 2);
}

#[test]
fn allocations_on_a_down_node_are_replaced() {
    let h = Harness::new();
    h.add_node(node("n1", 4000, 4000));
    let j = job("svc", "batch", 2, 100, 100);
    run(&h, &j);
    assert!(running(&h, "svc").iter().all(|a| a.node_id == "n1"));
    h.add_node(node("n2", 4000, 4000));
    h.apply(Command::NodeStatus {
        node_id: "n1".into(),
        status: NODE_STATUS_DOWN.into(),
        evals: Vec::new(),
    });
    let eval = h.register(&j);
    h.process(&eval).unwrap();
    let now = running(&h, "svc");
    assert_eq!(names(&now), ["svc.web[0]", "svc.web[1]"]);
    assert!(now.iter().all(|a| a.node_id == "n2"));
    let snap = h.snapshot();
    let lost: Vec<_> = snap
        .node_allocs("n1")
        .into_iter()
        .filter(|a| a.client_status == ALLOC_CLIENT_LOST)
        .collect();
    assert_eq!(lost.len(), 2);
}

#[test]
fn a_purged_job_is_stopped() {
    let h = Harness::new();
    h.add_node(node("n1", 4000, 4000));
    let j = job("gone", "service", 2, 100, 100);
    run(&h, &j);
    let eval = h.register(&j);
    h.apply(Command::JobDeregister {
        namespace: "default".into(),
        job_id: "gone".into(),
        purge: true,
        eval: None,
    });
    h.process(&eval).unwrap();
    assert!(running(&h, "gone").is_empty());
}

#[test]
fn distinct_hosts_and_distinct_property() {
    let h = Harness::new();
    for (id, rack) in [("n1", "r1"), ("n2", "r1"), ("n3", "r2")] {
        let mut n = node(id, 4000, 4000);
        n.meta.insert("rack".into(), rack.into());
        h.add_node(n);
    }
    let mut hosts = job("hosts", "batch", 4, 100, 100);
    hosts.task_groups[0].constraints.push(Constraint {
        operand: "distinct_hosts".into(),
        r_target: "true".into(),
        ..Default::default()
    });
    run(&h, &hosts);
    let placed = running(&h, "hosts");
    let mut nodes: Vec<_> = placed.iter().map(|a| a.node_id.clone()).collect();
    nodes.sort();
    assert_eq!(nodes, ["n1", "n2", "n3"]);
    let failed = &h.last_update().failed_tg_allocs["web"];
    assert_eq!(failed.constraint_filtered.get("distinct_hosts"), Some(&3));

    let mut racks = job("racks", "batch", 3, 100, 100);
    racks.constraints.push(Constraint {
        l_target: "${meta.rack}".into(),
        operand: "distinct_property".into(),
        r_target: String::new(),
    });
    run(&h, &racks);
    assert_eq!(running(&h, "racks").len(), 2);
    let failed = &h.last_update().failed_tg_allocs["web"];
    assert_eq!(failed.coalesced_failures, 0);
    assert_eq!(
        failed
            .constraint_filtered
            .get("distinct_property: ${meta.rack}=r1 used by 1 allocs"),
        Some(&2)
    );
}
