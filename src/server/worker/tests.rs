use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::*;
use crate::server::state::StateStore;
use crate::server::{Server, ServerConfig};
use crate::structs::time::now_ns;
use crate::structs::{
    AllocatedCpuResources, AllocatedResources, AllocatedTaskResources, Allocation, Job, Node,
    NodeCpuResources, NodeResources, EVAL_COMPLETE, EVAL_PENDING, NODE_ELIGIBLE, NODE_STATUS_READY,
};

fn server() -> Arc<Server> {
    let server = Server::new(StateStore::in_memory(), ServerConfig::default());
    let core = &server.core;
    core.broker.set_enabled(true);
    core.blocked.set_enabled(true);
    core.plan_queue.set_enabled(true);
    server
}

fn eval(job: &str, status: &str) -> Evaluation {
    Evaluation {
        id: uuid::Uuid::new_v4().to_string(),
        namespace: "default".into(),
        job_id: job.into(),
        priority: 50,
        eval_type: "service".into(),
        status: status.into(),
        ..Default::default()
    }
}

/// Registers job `j` with a pending eval and hands that eval out.
fn outstanding(server: &Server, status: &str) -> (Evaluation, String) {
    let job = Job {
        id: "j".into(),
        namespace: "default".into(),
        ..Default::default()
    };
    server
        .apply(Command::JobRegister {
            job: Box::new(job),
            eval: Some(Box::new(eval("j", status))),
            submission: None,
        })
        .unwrap();
    if status == EVAL_BLOCKED {
        // Blocked evals reach the broker by an unblock.
        server.core.blocked.unblock("", server.state.index());
    }
    server
        .broker()
        .dequeue(SCHEDULERS, Duration::ZERO)
        .unwrap()
        .expect("the job's eval")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn planner<'a>(
    server: &'a Server,
    rt: &'a tokio::runtime::Runtime,
    eval: &'a Evaluation,
    token: &'a str,
) -> WorkerPlanner<'a> {
    WorkerPlanner {
        core: &server.core,
        rt,
        eval_id: &eval.id,
        token,
        snapshot_index: Cell::new(server.state.index()),
    }
}

#[test]
fn a_worker_that_lost_its_eval_cannot_write() {
    let server = server();
    let rt = runtime();
    let (e, token) = outstanding(&server, EVAL_PENDING);
    let p = planner(&server, &rt, &e, &token);
    let followup = eval("j", EVAL_PENDING);
    p.create_eval(followup.clone()).unwrap();
    let stored = server.state.snapshot().evals[&followup.id].clone();
    assert_eq!(stored.snapshot_index, p.snapshot_index.get());

    // The nack timer fires: the eval goes to another worker.
    server.broker().tick(now_ns() + 3_600_000_000_000);
    let mut done = e.clone();
    done.status = EVAL_COMPLETE.into();
    assert!(p.update_eval(done).is_err());
    assert_eq!(server.state.snapshot().evals[&e.id].status, EVAL_PENDING);
    assert!(p.submit_plan(Plan::default()).is_err());
}

#[test]
fn a_refused_plan_comes_back_with_a_newer_snapshot() {
    let server = server();
    let node = Node {
        id: "n1".into(),
        status: NODE_STATUS_READY.into(),
        scheduling_eligibility: NODE_ELIGIBLE.into(),
        node_resources: NodeResources {
            cpu: NodeCpuResources {
                cpu_shares: 1000,
                ..Default::default()
            },
            ..Default::default()
        },
        ..Default::default()
    };
    server
        .apply(Command::NodeRegister {
            node: Box::new(node),
            evals: Vec::new(),
        })
        .unwrap();
    let rt = runtime();
    let (e, token) = outstanding(&server, EVAL_PENDING);
    let stop = Arc::new(AtomicBool::new(false));
    let applier = {
        let core = server.core.clone();
        let stop = stop.clone();
        std::thread::spawn(move || core.run_applier(&stop))
    };
    let p = planner(&server, &rt, &e, &token);
    let before = p.snapshot_index.get();
    // Meanwhile the state moved on.
    server.apply(Command::PlanApply(Box::default())).unwrap();
    let mut plan = Plan {
        eval_id: e.id.clone(),
        ..Default::default()
    };
    plan.push_alloc(Allocation {
        id: "big".into(),
        node_id: "n1".into(),
        allocated_resources: Some(AllocatedResources {
            tasks: [(
                "t".to_string(),
                AllocatedTaskResources {
                    cpu: AllocatedCpuResources {
                        cpu_shares: 2000,
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )]
            .into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    let (result, snap) = p.submit_plan(plan).unwrap();
    assert!(result.node_allocation.is_empty());
    let snap = snap.expect("a snapshot to re-plan against");
    assert!(snap.index >= result.refresh_index && snap.index > before);
    assert_eq!(p.snapshot_index.get(), snap.index);
    // The nack timer runs again after the plan queue.
    server.broker().outstanding_reset(&e.id, &token).unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    server.core.plan_queue.set_enabled(false);
    applier.join().unwrap();
}

#[test]
fn a_reblocked_eval_waits_for_capacity_and_its_ack() {
    let server = server();
    let rt = runtime();
    let (e, token) = outstanding(&server, EVAL_BLOCKED);
    let p = planner(&server, &rt, &e, &token);
    let mut again = e.clone();
    again.status_description = "still no room".into();
    p.reblock_eval(again).unwrap();
    let stored = server.state.snapshot().evals[&e.id].clone();
    assert_eq!(stored.status, EVAL_BLOCKED);
    assert_eq!(stored.status_description, "still no room");
    assert_eq!(server.blocked_stats().total_blocked, 1);
    // Capacity appears while the worker still holds the eval: it comes back after.
    server.core.blocked.unblock("", server.state.index() + 1);
    assert!(server
        .broker()
        .dequeue(SCHEDULERS, Duration::ZERO)
        .unwrap()
        .is_none());
    server.broker().ack(&e.id, &token).unwrap();
    let (back, _) = server
        .broker()
        .dequeue(SCHEDULERS, Duration::ZERO)
        .unwrap()
        .expect("re-enqueued after the ack");
    assert_eq!(back.id, e.id);
}
