//! A job's life on a running server (workers, plan applier, deployment watcher), with
//! the test playing the client: rollouts batch by batch, then a bad version rolled back.

use std::time::{Duration, Instant};

use super::*;
use crate::structs::{
    UpdateStrategy, ALLOC_CLIENT_COMPLETE, ALLOC_CLIENT_PENDING, ALLOC_CLIENT_RUNNING,
    DEPLOYMENT_FAILED, DEPLOYMENT_SUCCESSFUL, TRIGGER_DEPLOYMENT_WATCHER,
};

/// Plays the client once: stopped allocations complete, new ones start and report
/// their health (`healthy` decides it by image).
fn client(s: &Server, healthy: &dyn Fn(&str) -> bool) {
    let snap = s.state.snapshot();
    let updates: Vec<_> = snap
        .job_allocs("default", "web")
        .iter()
        .filter_map(|a| {
            if a.server_terminal() && !a.client_terminal() {
                return Some(report(&a.id, ALLOC_CLIENT_COMPLETE, None));
            }
            // New allocations, and running ones moved into a new deployment by an
            // in-place update (their health is judged again there).
            let judged = a
                .deployment_status
                .as_ref()
                .is_some_and(|d| d.healthy.is_some());
            if a.terminal() || (a.client_status != ALLOC_CLIENT_PENDING && judged) {
                return None;
            }
            let job = a.job.as_ref()?;
            let image = job.task_groups[0].tasks[0].config["image"].as_str()?;
            Some(report(&a.id, ALLOC_CLIENT_RUNNING, Some(healthy(image))))
        })
        .collect();
    if !updates.is_empty() {
        s.client_update_allocs(updates).unwrap();
    }
}

/// Plays the client until the job's deployment for `version` ends; bounded so a broken
/// server fails the test instead of hanging it.
fn roll_out(s: &Server, version: u64, healthy: &dyn Fn(&str) -> bool) -> Deployment {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        client(s, healthy);
        let snap = s.state.snapshot();
        let ended = snap
            .job_deployments("default", "web")
            .into_iter()
            .find(|d| d.job_version == version && !d.active());
        if let Some(d) = ended {
            return (*d).clone();
        }
        assert!(
            Instant::now() < deadline,
            "deployment of version {version} did not end: {:#?}",
            snap.job_deployments("default", "web")
        );
        s.wait_idle(Duration::from_millis(200));
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn live_images(s: &Server) -> Vec<String> {
    let mut images: Vec<String> = s
        .state
        .snapshot()
        .job_allocs("default", "web")
        .iter()
        .filter(|a| !a.terminal())
        .map(|a| a.job.as_ref().unwrap().task_groups[0].tasks[0].config["image"].to_string())
        .collect();
    images.sort();
    images
}

#[test]
fn rollouts_succeed_then_a_bad_version_rolls_back() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _entered = rt.enter();
    let s = server();
    s.start();
    s.register_node(roomy_node("n1")).unwrap();
    let mut v0 = job("web", 2);
    v0.update = Some(UpdateStrategy {
        max_parallel: Some(1),
        auto_revert: Some(true),
        ..Default::default()
    });
    let good = |image: &str| image != "redis:bad";

    register(&s, v0.clone());
    let d = roll_out(&s, 0, &good);
    assert_eq!(d.status, DEPLOYMENT_SUCCESSFUL);
    assert!(
        s.state
            .snapshot()
            .job_version("default", "web", 0)
            .unwrap()
            .stable
    );

    // One allocation at a time, each batch after the previous one is healthy.
    register(&s, with_image(v0.clone(), "redis:4.0"));
    let d = roll_out(&s, 1, &good);
    assert_eq!(d.status, DEPLOYMENT_SUCCESSFUL);
    assert_eq!(live_images(&s), vec!["\"redis:4.0\""; 2]);
    let next_batch = s
        .state
        .snapshot()
        .evals
        .values()
        .filter(|e| e.deployment_id == d.id && e.triggered_by == TRIGGER_DEPLOYMENT_WATCHER)
        .count();
    assert!(next_batch >= 1, "the second batch waited for the watcher");

    register(&s, with_image(v0, "redis:bad"));
    let d = roll_out(&s, 2, &good);
    assert_eq!(d.status, DEPLOYMENT_FAILED);
    assert_eq!(
        d.status_description,
        "Failed due to unhealthy allocations - rolling back to job version 1"
    );
    let d = roll_out(&s, 3, &good);
    assert_eq!(d.status, DEPLOYMENT_SUCCESSFUL);
    assert_eq!(live_images(&s), vec!["\"redis:4.0\""; 2]);
    s.shutdown();
}
