//! The server's parts together: what `apply` routes where, restore at start, the
//! leader's reaping, start/shutdown, and whole evaluations through real workers and
//! the real scheduler.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::broker::SCHEDULERS;
use super::state::{AllocClientUpdate, Command, StateStore};
use super::{Server, ServerConfig};
use crate::structs::time::{now_ns, parse_rfc3339};
use crate::structs::{
    AllocMetric, DriverInfo, Evaluation, Job, Node, NodeCpuResources, NodeDiskResources,
    NodeMemoryResources, NodeResources, Resources, Task, TaskGroup, ALLOC_CLIENT_COMPLETE,
    EVAL_BLOCKED, EVAL_CANCELED, EVAL_COMPLETE, EVAL_FAILED, EVAL_PENDING, NODE_ELIGIBLE,
    NODE_STATUS_DOWN, NODE_STATUS_READY, TRIGGER_FAILED_FOLLOW_UP, TRIGGER_JOB_REGISTER,
};

fn config() -> ServerConfig {
    ServerConfig {
        num_schedulers: 2,
        eval_nack_initial_delay: Duration::ZERO,
        eval_nack_subsequent_delay: Duration::ZERO,
        ..Default::default()
    }
}

/// A server whose parts are enabled without its threads: the test drives it.
fn quiet_server(config: ServerConfig) -> Arc<Server> {
    let server = Server::new(StateStore::in_memory(), config);
    let core = &server.core;
    core.broker.set_enabled(true);
    core.blocked.set_enabled(true);
    core.plan_queue.set_enabled(true);
    core.heartbeats.set_enabled(true);
    server
}

fn node(id: &str) -> Node {
    let driver = DriverInfo {
        detected: true,
        healthy: true,
        ..Default::default()
    };
    Node {
        id: id.into(),
        name: id.into(),
        datacenter: "dc1".into(),
        node_pool: "default".into(),
        status: NODE_STATUS_READY.into(),
        scheduling_eligibility: NODE_ELIGIBLE.into(),
        computed_class: "class-a".into(),
        node_resources: NodeResources {
            cpu: NodeCpuResources {
                cpu_shares: 4000,
                total_cpu_cores: 4,
                ..Default::default()
            },
            memory: NodeMemoryResources { memory_mb: 8192 },
            disk: NodeDiskResources { disk_mb: 100_000 },
            ..Default::default()
        },
        drivers: ["container", "exec", "raw_exec"]
            .into_iter()
            .map(|d| (d.to_string(), driver.clone()))
            .collect(),
        ..Default::default()
    }
}

/// A canonical service job: one group `web` of `count`, 100 MHz and 64 MB each.
fn job(id: &str, count: i64) -> Job {
    let mut task = Task {
        name: "web".into(),
        driver: "exec".into(),
        resources: Some(Resources {
            cpu: Some(100),
            memory_mb: Some(64),
            ..Default::default()
        }),
        ..Default::default()
    };
    task.config.insert("command".into(), "/bin/true".into());
    let mut job = Job {
        id: id.into(),
        task_groups: vec![TaskGroup {
            name: "web".into(),
            count: Some(count),
            tasks: vec![task],
            ..Default::default()
        }],
        ..Default::default()
    };
    job.canonicalize();
    job
}

fn eval_for(job: &Job, status: &str) -> Evaluation {
    Evaluation {
        id: uuid::Uuid::new_v4().to_string(),
        namespace: job.namespace.clone(),
        priority: job.priority,
        eval_type: job.job_type.clone(),
        triggered_by: TRIGGER_JOB_REGISTER.into(),
        job_id: job.id.clone(),
        status: status.into(),
        ..Default::default()
    }
}

fn register(server: &Server, job: &Job, eval: Option<Evaluation>) {
    server
        .apply(Command::JobRegister {
            job: Box::new(job.clone()),
            eval: eval.map(Box::new),
            submission: None,
        })
        .unwrap();
}

fn add_node(server: &Server, node: Node) {
    server
        .apply(Command::NodeRegister {
            node: Box::new(node),
            evals: Vec::new(),
        })
        .unwrap();
}

fn upsert(server: &Server, eval: &Evaluation) {
    server
        .apply(Command::EvalUpsert {
            evals: vec![eval.clone()],
        })
        .unwrap();
}

fn eval_status(server: &Server, id: &str) -> String {
    server.state.snapshot().evals[id].status.clone()
}

/// Polls `cond` until it holds; false after `timeout` (only for outcomes that
/// happen on the server's own threads).
fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

#[test]
fn apply_routes_pending_and_blocked_evals() {
    let server = quiet_server(config());
    let a = job("a", 1);
    let pending = eval_for(&a, EVAL_PENDING);
    register(&server, &a, Some(pending.clone()));
    assert_eq!(server.broker_stats().total_ready, 1);

    let b = job("b", 1);
    register(&server, &b, None);
    let blocked = eval_for(&b, EVAL_BLOCKED);
    upsert(&server, &blocked);
    assert_eq!(server.blocked_stats().total_blocked, 1);
    assert_eq!(server.broker_stats().total_ready, 1, "blocked evals wait");

    // A node joins: capacity for the blocked eval.
    add_node(&server, node("n1"));
    assert_eq!(server.blocked_stats().total_blocked, 0);
    assert_eq!(server.broker_stats().total_ready, 2);

    // Terminal evals go nowhere.
    let mut done = eval_for(&a, EVAL_COMPLETE);
    done.failed_tg_allocs = BTreeMap::from([("web".to_string(), AllocMetric::default())]);
    upsert(&server, &done);
    assert_eq!(server.broker_stats().total_ready, 2);
}

#[test]
fn a_successful_eval_drops_the_jobs_blocked_eval() {
    let server = quiet_server(config());
    let j = job("j", 1);
    register(&server, &j, None);
    let blocked = eval_for(&j, EVAL_BLOCKED);
    upsert(&server, &blocked);
    assert_eq!(
        server.blocked().job_blocked("default", "j"),
        Some(blocked.id.clone())
    );
    let success = eval_for(&j, EVAL_COMPLETE);
    upsert(&server, &success);
    assert_eq!(server.blocked().job_blocked("default", "j"), None);
    let stored = server.state.snapshot().evals[&blocked.id].clone();
    assert_eq!(stored.status, EVAL_CANCELED);
    assert!(stored.status_description.contains(&success.id));
}

#[test]
fn stopping_a_job_drops_its_blocked_eval() {
    let server = quiet_server(config());
    let j = job("j", 1);
    register(&server, &j, None);
    upsert(&server, &eval_for(&j, EVAL_BLOCKED));
    server
        .apply(Command::JobDeregister {
            namespace: "default".into(),
            job_id: "j".into(),
            purge: false,
            eval: None,
        })
        .unwrap();
    assert_eq!(server.blocked_stats().total_blocked, 0);
    add_node(&server, node("n1"));
    assert_eq!(server.broker_stats().total_ready, 0);
}

#[test]
fn finished_allocations_unblock_evals_of_their_node_class() {
    let server = quiet_server(config());
    add_node(&server, node("n1"));
    let j = job("j", 1);
    let other = job("other", 1);
    register(&server, &j, None);
    register(&server, &other, None);
    // An allocation of `other` holds the node.
    let alloc = crate::structs::Allocation {
        id: "alloc".into(),
        namespace: "default".into(),
        job_id: "other".into(),
        node_id: "n1".into(),
        ..Default::default()
    };
    server
        .apply(Command::PlanApply(Box::new(super::state::PlanApply {
            allocs: vec![alloc],
            ..Default::default()
        })))
        .unwrap();
    let mut blocked = eval_for(&j, EVAL_BLOCKED);
    blocked.snapshot_index = server.state.index();
    upsert(&server, &blocked);
    assert_eq!(server.blocked_stats().total_blocked, 1);
    // The client reports it running: nothing freed.
    let report = |status: &str| Command::AllocClientUpdate {
        allocs: vec![AllocClientUpdate {
            alloc_id: "alloc".into(),
            client_status: status.into(),
            ..Default::default()
        }],
        evals: Vec::new(),
    };
    server.apply(report("running")).unwrap();
    assert_eq!(server.blocked_stats().total_blocked, 1);
    server.apply(report(ALLOC_CLIENT_COMPLETE)).unwrap();
    assert_eq!(server.blocked_stats().total_blocked, 0);
    assert_eq!(server.broker_stats().total_ready, 1);
}

#[test]
fn restore_refills_the_broker_the_blocked_set_and_node_ttls() {
    let server = Server::new(StateStore::in_memory(), config());
    let a = job("a", 1);
    let b = job("b", 1);
    register(&server, &a, Some(eval_for(&a, EVAL_PENDING)));
    register(&server, &b, None);
    let old_blocked = eval_for(&b, EVAL_BLOCKED);
    let new_blocked = eval_for(&b, EVAL_BLOCKED);
    upsert(&server, &old_blocked);
    upsert(&server, &new_blocked);
    add_node(&server, node("n1"));
    let mut down = node("n2");
    down.status = NODE_STATUS_DOWN.into();
    add_node(&server, down);
    // Not running: nothing was routed.
    assert_eq!(server.broker_stats().total_ready, 0);
    assert_eq!(server.blocked_stats().total_blocked, 0);

    let core = &server.core;
    core.broker.set_enabled(true);
    core.blocked.set_enabled(true);
    core.heartbeats.set_enabled(true);
    core.restore();
    assert_eq!(server.broker_stats().total_ready, 1);
    assert_eq!(
        server.blocked().job_blocked("default", "b"),
        Some(new_blocked.id)
    );
    assert_eq!(core.heartbeats.len(), 1, "only the node that is not down");
    // The older blocked eval of the same job is canceled.
    core.reap();
    assert_eq!(eval_status(&server, &old_blocked.id), EVAL_CANCELED);
}

#[test]
fn evals_past_the_delivery_limit_fail_with_a_follow_up() {
    let server = quiet_server(ServerConfig {
        eval_delivery_limit: 2,
        ..config()
    });
    let j = job("j", 1);
    let eval = eval_for(&j, EVAL_PENDING);
    register(&server, &j, Some(eval.clone()));
    for _ in 0..2 {
        let (e, token) = server
            .broker()
            .dequeue(SCHEDULERS, Duration::ZERO)
            .unwrap()
            .unwrap();
        server.broker().nack(&e.id, &token).unwrap();
    }
    assert_eq!(server.broker_stats().total_failed, 1);
    server.core.reap();
    let snap = server.state.snapshot();
    let failed = &snap.evals[&eval.id];
    assert_eq!(failed.status, EVAL_FAILED);
    assert_eq!(
        failed.status_description,
        "evaluation reached delivery limit (2)"
    );
    let followup = &snap.evals[&failed.next_eval];
    assert_eq!(followup.status, EVAL_PENDING);
    assert_eq!(followup.triggered_by, TRIGGER_FAILED_FOLLOW_UP);
    assert_eq!(followup.previous_eval, eval.id);
    assert!(parse_rfc3339(&followup.wait_until).unwrap() > now_ns());
    let stats = server.broker_stats();
    assert_eq!((stats.total_failed, stats.total_waiting), (0, 1));
}

#[test]
fn superseded_pending_evals_are_canceled() {
    let server = quiet_server(config());
    let j = job("j", 1);
    let first = eval_for(&j, EVAL_PENDING);
    register(&server, &j, Some(first.clone()));
    let older = eval_for(&j, EVAL_PENDING);
    let newer = eval_for(&j, EVAL_PENDING);
    upsert(&server, &older);
    upsert(&server, &newer);
    let (e, token) = server
        .broker()
        .dequeue(SCHEDULERS, Duration::ZERO)
        .unwrap()
        .unwrap();
    assert_eq!(e.id, first.id);
    server.broker().ack(&e.id, &token).unwrap();
    server.core.reap();
    assert_eq!(eval_status(&server, &older.id), EVAL_CANCELED);
    assert_eq!(eval_status(&server, &newer.id), EVAL_PENDING);
    let (next, _) = server
        .broker()
        .dequeue(SCHEDULERS, Duration::ZERO)
        .unwrap()
        .unwrap();
    assert_eq!(next.id, newer.id);
}

#[test]
fn start_and_shutdown_again_and_again() {
    let server = Server::new(StateStore::in_memory(), config());
    for _ in 0..3 {
        server.start();
        server.start();
        assert!(server.is_running());
        assert!(server.broker().enabled());
        assert!(server.wait_idle(Duration::from_secs(10)));
        server.shutdown();
        assert!(!server.is_running());
        assert!(!server.broker().enabled());
    }
    server.shutdown();
    // Dropping a running server stops it too.
    let other = Server::new(StateStore::in_memory(), config());
    other.start();
    drop(other);
}

#[test]
fn metrics_name_the_broker_and_plan_gauges() {
    let server = quiet_server(config());
    let j = job("j", 1);
    register(&server, &j, Some(eval_for(&j, EVAL_PENDING)));
    let metrics = server.metrics();
    let value = |name: &str| {
        metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .value
    };
    assert_eq!(value("nomad.broker.total_ready"), 1.0);
    assert_eq!(value("nomad.broker.service.ready"), 1.0);
    assert_eq!(value("nomad.broker.total_unacked"), 0.0);
    assert_eq!(value("nomad.broker.total_blocked"), 0.0);
    assert_eq!(value("nomad.plan.queue_depth"), 0.0);
    assert_eq!(value("nomad.plan.submit"), 0.0);
}

// The tests below run whole evaluations through the real scheduler.

#[test]
fn a_registered_job_is_placed() {
    let server = Server::new(StateStore::in_memory(), config());
    server.start();
    add_node(&server, node("n1"));
    add_node(&server, node("n2"));
    let j = job("web", 3);
    let eval = eval_for(&j, EVAL_PENDING);
    register(&server, &j, Some(eval.clone()));
    assert!(server.wait_idle(Duration::from_secs(30)));
    let snap = server.state.snapshot();
    assert_eq!(snap.evals[&eval.id].status, EVAL_COMPLETE);
    let live: Vec<_> = snap
        .job_allocs("default", "web")
        .into_iter()
        .filter(|a| !a.terminal())
        .collect();
    assert_eq!(live.len(), 3);
    assert!(live.iter().all(|a| a.job.is_some()));
    server.shutdown();
}

#[test]
fn a_job_without_room_blocks_until_a_node_joins() {
    let server = Server::new(StateStore::in_memory(), config());
    server.start();
    let j = job("web", 2);
    register(&server, &j, Some(eval_for(&j, EVAL_PENDING)));
    assert!(server.wait_idle(Duration::from_secs(30)));
    assert!(eventually(Duration::from_secs(30), || {
        server.blocked_stats().total_blocked == 1
    }));
    add_node(&server, node("n1"));
    assert!(eventually(Duration::from_secs(30), || {
        let snap = server.state.snapshot();
        snap.job_allocs("default", "web")
            .iter()
            .filter(|a| !a.terminal())
            .count()
            == 2
    }));
    assert!(server.wait_idle(Duration::from_secs(30)));
    assert_eq!(server.blocked_stats().total_blocked, 0);
    server.shutdown();
}

#[test]
fn a_node_that_misses_heartbeats_is_marked_down_and_its_allocs_replaced() {
    let server = Server::new(StateStore::in_memory(), config());
    server.start();
    add_node(&server, node("n1"));
    let j = job("web", 2);
    register(&server, &j, Some(eval_for(&j, EVAL_PENDING)));
    assert!(server.wait_idle(Duration::from_secs(30)));
    let on_n1 = server.state.snapshot().node_live_allocs("n1").len();
    assert_eq!(on_n1, 2);
    add_node(&server, node("n2"));

    // n1 falls silent: its deadline is now; the leader loop finds it.
    server.core.heartbeats.reset("n1", Duration::ZERO);
    server.core.alarm.ring();
    assert!(eventually(Duration::from_secs(30), || {
        server.state.snapshot().node("n1").unwrap().status == NODE_STATUS_DOWN
    }));
    assert!(eventually(Duration::from_secs(30), || {
        let snap = server.state.snapshot();
        snap.node_live_allocs("n2").len() == 2 && snap.node_live_allocs("n1").is_empty()
    }));
    assert!(server.wait_idle(Duration::from_secs(30)));
    server.shutdown();
}
