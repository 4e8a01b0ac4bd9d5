use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::server::broker::SCHEDULERS;
use crate::server::state::{PlanApply, StateStore};
use crate::server::{Server, ServerConfig};
use crate::structs::{
    Allocation, Job, ALLOC_CLIENT_COMPLETE, ALLOC_CLIENT_RUNNING, ALLOC_DESIRED_RUN,
};

const SECOND: i64 = 1_000_000_000;

#[test]
fn deadlines_expire_in_order_and_can_be_cleared() {
    let hb = Heartbeats::new(Arc::new(Alarm::default()));
    hb.reset("ignored", Duration::from_secs(1));
    assert!(hb.is_empty(), "disabled tracks nothing");
    hb.set_enabled(true);
    let now = now_ns();
    hb.reset("a", Duration::from_secs(10));
    hb.reset("b", Duration::from_secs(20));
    hb.reset("c", Duration::from_secs(30));
    hb.reset("a", Duration::from_secs(40));
    hb.clear("c");
    assert_eq!(hb.len(), 2);
    let next = hb.next_deadline().unwrap();
    assert!(next >= now + 20 * SECOND && next < now + 40 * SECOND);
    assert!(hb.expired(now + 15 * SECOND).is_empty(), "a was renewed");
    assert_eq!(hb.expired(now + 25 * SECOND), ["b"]);
    assert_eq!(hb.expired(now + 3600 * SECOND), ["a"]);
    assert!(hb.is_empty() && hb.next_deadline().is_none());
}

#[test]
fn ttl_scales_with_the_number_of_nodes() {
    let min = Duration::from_secs(10);
    for (nodes, per_second, want) in [
        (0, 50.0, 10),
        (100, 50.0, 10),
        (1000, 50.0, 20),
        (5000, 50.0, 100),
        (5000, 0.0, 10),
    ] {
        assert_eq!(
            heartbeat_ttl(min, per_second, nodes),
            Duration::from_secs(want),
            "{nodes} nodes at {per_second}/s"
        );
    }
}

fn node(id: &str) -> Node {
    Node {
        id: id.into(),
        name: id.into(),
        datacenter: "dc1".into(),
        status: NODE_STATUS_READY.into(),
        ..Default::default()
    }
}

fn job(id: &str, job_type: &str) -> Job {
    Job {
        id: id.into(),
        namespace: "default".into(),
        job_type: job_type.into(),
        priority: 70,
        ..Default::default()
    }
}

fn alloc(id: &str, job: &Job, node: &str, client_status: &str) -> Allocation {
    Allocation {
        id: id.into(),
        namespace: "default".into(),
        job_id: job.id.clone(),
        job: Some(Arc::new(job.clone())),
        node_id: node.into(),
        desired_status: ALLOC_DESIRED_RUN.into(),
        client_status: client_status.into(),
        ..Default::default()
    }
}

/// A server whose parts are enabled but whose threads are not running: the test
/// drives time itself.
fn server_with(node_ids: &[&str]) -> Arc<Server> {
    let server = Server::new(StateStore::in_memory(), ServerConfig::default());
    server.core.broker.set_enabled(true);
    server.core.blocked.set_enabled(true);
    server.core.heartbeats.set_enabled(true);
    let live = job("live", "service");
    let done = job("done", "batch");
    let system = job("sys", "system");
    for j in [&live, &done, &system] {
        server
            .apply(Command::JobRegister {
                job: Box::new(j.clone()),
                eval: None,
                submission: None,
            })
            .unwrap();
    }
    for id in node_ids {
        server
            .apply(Command::NodeRegister {
                node: Box::new(node(id)),
                evals: Vec::new(),
            })
            .unwrap();
    }
    server
        .apply(Command::PlanApply(Box::new(PlanApply {
            allocs: vec![
                alloc("a1", &live, "n1", ALLOC_CLIENT_RUNNING),
                alloc("a2", &live, "n1", ALLOC_CLIENT_RUNNING),
                alloc("a3", &done, "n1", ALLOC_CLIENT_COMPLETE),
            ],
            ..Default::default()
        })))
        .unwrap();
    server
}

fn ready_evals(server: &Server) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    while let Some((e, token)) = server.broker().dequeue(SCHEDULERS, Duration::ZERO).unwrap() {
        out.push((e.job_id.clone(), e.triggered_by.clone(), e.node_id.clone()));
        server.broker().ack(&e.id, &token).unwrap();
    }
    out.sort();
    out
}

#[test]
fn node_update_evals_cover_live_allocs_and_system_jobs() {
    let server = server_with(&["n1"]);
    let snap = server.state.snapshot();
    let n1 = snap.node("n1").unwrap();
    let jobs = |system| -> Vec<String> {
        let mut ids: Vec<String> = node_update_evals(&snap, &n1, system)
            .into_iter()
            .inspect(|e| {
                assert_eq!(e.triggered_by, TRIGGER_NODE_UPDATE);
                assert_eq!(e.node_id, "n1");
                assert_eq!(e.status, EVAL_PENDING);
                assert_eq!(e.priority, 70);
            })
            .map(|e| e.job_id)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(jobs(false), ["live"]);
    assert_eq!(jobs(true), ["live", "sys"]);
}

#[test]
fn a_missed_heartbeat_marks_the_node_down_and_a_new_one_brings_it_back() {
    let server = server_with(&["n1", "n2"]);
    assert_eq!(
        server.core.heartbeats.len(),
        2,
        "registering starts the TTL"
    );
    server.node_heartbeat("n2").unwrap();

    // Nothing is due yet.
    server.core.invalidate_heartbeats(now_ns());
    assert_eq!(
        server.state.snapshot().node("n1").unwrap().status,
        NODE_STATUS_READY
    );

    // Both deadlines pass: both nodes go down; only n1 has allocations to replace.
    server.core.invalidate_heartbeats(now_ns() + 3600 * SECOND);
    let snap = server.state.snapshot();
    for id in ["n1", "n2"] {
        assert_eq!(snap.node(id).unwrap().status, NODE_STATUS_DOWN);
    }
    assert_eq!(
        ready_evals(&server),
        [(
            "live".to_string(),
            TRIGGER_NODE_UPDATE.to_string(),
            "n1".to_string()
        )]
    );
    assert!(server.core.heartbeats.is_empty());

    // n1 heartbeats again: ready, its jobs and the system jobs evaluated, TTL running.
    let ttl = server.node_heartbeat("n1").unwrap();
    assert_eq!(ttl, server.config.min_heartbeat_ttl);
    assert_eq!(
        server.state.snapshot().node("n1").unwrap().status,
        NODE_STATUS_READY
    );
    let jobs: Vec<String> = ready_evals(&server).into_iter().map(|e| e.0).collect();
    assert_eq!(jobs, ["live", "sys"]);
    assert_eq!(server.core.heartbeats.len(), 1);

    assert!(matches!(
        server.node_heartbeat("nope"),
        Err(HeartbeatError::NodeNotFound)
    ));
}
