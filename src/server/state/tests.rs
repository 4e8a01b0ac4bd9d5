//! The state store against its promises: versions, indexes, plan bookkeeping, and a log
//! that survives a torn last record.

use std::io::Write;

use super::*;
use crate::structs::{
    AllocDeploymentStatus, Allocation, Deployment, DeploymentState, Evaluation, Job, TaskGroup,
    ALLOC_CLIENT_RUNNING, DEPLOYMENT_RUNNING, EVAL_PENDING,
};

fn job(id: &str, count: i64) -> Job {
    let mut job = Job {
        id: id.into(),
        task_groups: vec![TaskGroup {
            name: "cache".into(),
            count: Some(count),
            ..Default::default()
        }],
        ..Default::default()
    };
    job.canonicalize();
    job
}

fn eval(id: &str, job_id: &str) -> Evaluation {
    Evaluation {
        id: id.into(),
        namespace: "default".into(),
        job_id: job_id.into(),
        status: EVAL_PENDING.into(),
        ..Default::default()
    }
}

fn register(store: &StateStore, j: Job, eval_id: &str) -> u64 {
    let e = eval(eval_id, &j.id);
    store
        .apply(Command::JobRegister {
            job: Box::new(j),
            eval: Some(Box::new(e)),
            submission: None,
        })
        .unwrap()
}

#[test]
fn versions_only_for_changed_specs() {
    let store = StateStore::in_memory();
    let i1 = register(&store, job("redis", 1), "e1");
    let snap = store.snapshot();
    let stored = snap.job("default", "redis").unwrap();
    assert_eq!((stored.version, stored.job_modify_index), (0, i1));

    // Same spec: no new version, but the eval is still stored.
    let i2 = register(&store, job("redis", 1), "e2");
    let snap = store.snapshot();
    let stored = snap.job("default", "redis").unwrap();
    assert_eq!((stored.version, stored.job_modify_index), (0, i1));
    assert!(i2 > i1);
    assert_eq!(snap.job_evals("default", "redis").len(), 2);

    let i3 = register(&store, job("redis", 3), "e3");
    let snap = store.snapshot();
    let stored = snap.job("default", "redis").unwrap();
    assert_eq!((stored.version, stored.job_modify_index), (1, i3));
    assert_eq!(stored.create_index, i1);
    let versions: Vec<u64> = snap
        .job_versions("default", "redis")
        .iter()
        .map(|j| j.version)
        .collect();
    assert_eq!(versions, vec![1, 0]);
}

#[test]
fn stop_is_a_version_and_purge_removes() {
    let store = StateStore::in_memory();
    register(&store, job("web", 1), "e1");
    let mut done = eval("e1", "web");
    done.status = crate::structs::EVAL_COMPLETE.into();
    store
        .apply(Command::EvalUpsert { evals: vec![done] })
        .unwrap();
    store
        .apply(Command::JobDeregister {
            namespace: "default".into(),
            job_id: "web".into(),
            purge: false,
            eval: None,
        })
        .unwrap();
    let snap = store.snapshot();
    let stored = snap.job("default", "web").unwrap();
    assert!(stored.stop);
    assert_eq!(stored.version, 1);
    assert_eq!(snap.job_status(&stored), JOB_STATUS_DEAD);

    store
        .apply(Command::JobDeregister {
            namespace: "default".into(),
            job_id: "web".into(),
            purge: true,
            eval: None,
        })
        .unwrap();
    assert!(store.snapshot().job("default", "web").is_none());
    let err = store
        .apply(Command::JobDeregister {
            namespace: "default".into(),
            job_id: "web".into(),
            purge: true,
            eval: None,
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "job not found");
}

#[test]
fn plans_count_deployment_placements_and_health() {
    let store = StateStore::in_memory();
    register(&store, job("redis", 2), "e1");
    let j = (*store.snapshot().job("default", "redis").unwrap()).clone();
    let deployment = Deployment {
        id: "d1".into(),
        namespace: "default".into(),
        job_id: "redis".into(),
        status: DEPLOYMENT_RUNNING.into(),
        task_groups: [(
            "cache".to_string(),
            DeploymentState {
                desired_total: 2,
                progress_deadline: 600_000_000_000,
                ..Default::default()
            },
        )]
        .into(),
        ..Default::default()
    };
    let allocs = (0..2)
        .map(|i| Allocation {
            id: format!("a{i}"),
            namespace: "default".into(),
            job_id: "redis".into(),
            task_group: "cache".into(),
            node_id: "n1".into(),
            name: crate::structs::alloc_name("redis", "cache", i),
            deployment_id: "d1".into(),
            ..Default::default()
        })
        .collect();
    store
        .apply_at(
            Command::PlanApply(Box::new(PlanApply {
                eval_id: "e1".into(),
                job: Some(j),
                allocs,
                deployment: Some(deployment),
                ..Default::default()
            })),
            1_000,
        )
        .unwrap();
    let snap = store.snapshot();
    let a0 = snap.allocs.get("a0").unwrap();
    // The plan's job is shared, not copied per allocation.
    assert!(Arc::ptr_eq(
        a0.job.as_ref().unwrap(),
        &snap.job("default", "redis").unwrap()
    ));
    assert_eq!(a0.client_status, "pending");
    assert_eq!(snap.node_allocs("n1").len(), 2);
    let d = snap.deployments.get("d1").unwrap();
    assert_eq!(d.task_groups["cache"].placed_allocs, 2);
    assert_eq!(
        d.task_groups["cache"].require_progress_by,
        crate::structs::time::rfc3339(1_000 + 600_000_000_000)
    );

    // Health is counted once, however often the client repeats it.
    for _ in 0..2 {
        store
            .apply(Command::AllocClientUpdate {
                allocs: vec![AllocClientUpdate {
                    alloc_id: "a0".into(),
                    client_status: ALLOC_CLIENT_RUNNING.into(),
                    deployment_status: Some(AllocDeploymentStatus {
                        healthy: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                evals: vec![],
            })
            .unwrap();
    }
    let snap = store.snapshot();
    assert_eq!(
        snap.deployments.get("d1").unwrap().task_groups["cache"].healthy_allocs,
        1
    );
    let summary = snap.job_summary("default", "redis").unwrap();
    assert_eq!(
        (
            summary.summary["cache"].running,
            summary.summary["cache"].starting
        ),
        (1, 1)
    );
    assert_eq!(
        snap.job_status(&snap.job("default", "redis").unwrap()),
        JOB_STATUS_RUNNING
    );
}

#[test]
fn durable_state_survives_reopen_and_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let last = {
        let store = StateStore::open(dir.path()).unwrap();
        register(&store, job("a", 1), "e1");
        register(&store, job("a", 2), "e2");
        register(&store, job("b", 1), "e3")
    };
    // A crash mid-append leaves a partial record: it is cut off, the rest is kept.
    let log_path = dir.path().join("log");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&log_path)
        .unwrap();
    f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, b'{']).unwrap();
    drop(f);
    let store = StateStore::open(dir.path()).unwrap();
    let snap = store.snapshot();
    assert_eq!(snap.index, last);
    assert_eq!(snap.job("default", "a").unwrap().version, 1);
    assert!(snap.job("default", "b").is_some());
    assert_eq!(snap.evals.len(), 3);
    // And it keeps going from there.
    let next = register(&store, job("c", 1), "e4");
    assert_eq!(next, last + 1);
}

#[test]
fn snapshot_then_log_replays_to_the_same_tables() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let store = StateStore::open(dir.path()).unwrap();
        register(&store, job("a", 1), "e1");
        {
            let mut w = store.inner.lock();
            let Writer { tables, log } = &mut *w;
            log.as_mut().unwrap().compact(tables).unwrap();
        }
        register(&store, job("a", 5), "e2");
        store.snapshot()
    };
    let after = StateStore::open(dir.path()).unwrap().snapshot();
    assert_eq!(after.index, before.index);
    assert_eq!(after.table_index, before.table_index);
    assert_eq!(
        serde_json::to_value(&*after.job("default", "a").unwrap()).unwrap(),
        serde_json::to_value(&*before.job("default", "a").unwrap()).unwrap()
    );
}

#[tokio::test]
async fn blocking_waits_wake_on_a_write() {
    let store = Arc::new(StateStore::in_memory());
    let start = store.index();
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move { store.wait_for(start, Duration::from_secs(30)).await.index })
    };
    tokio::task::yield_now().await;
    let idx = register(&store, job("x", 1), "e1");
    assert_eq!(waiter.await.unwrap(), idx);
    // Nothing new: returns the unchanged state once the wait is over.
    let snap = store.wait_for(idx, Duration::from_millis(20)).await;
    assert_eq!(snap.index, idx);
}
