//! The watcher's decisions, one pass at a time, against a real in-memory server.

use super::*;
use crate::server::endpoints::tests::{
    alloc, deployment, place, register, report, server, with_image,
};
use crate::structs::{AllocDeploymentStatus, ALLOC_CLIENT_RUNNING, DEPLOYMENT_PAUSED, MINUTE};

/// Version 0 (stable) then version 1 of `web` rolling out with `state`, `n` allocations
/// placed in the deployment (the first `canaries` of them canaries).
fn rolling(s: &Server, state: DeploymentState, n: u64, canaries: u64) -> (String, Vec<String>) {
    register(s, crate::server::endpoints::tests::job("web", n as i64));
    s.set_stable("default", "web", 0, true).unwrap();
    register(
        s,
        with_image(
            crate::server::endpoints::tests::job("web", n as i64),
            "redis:4.0",
        ),
    );
    let d = deployment(s, "web", state);
    let allocs: Vec<_> = (0..n)
        .map(|i| {
            let mut a = alloc(s, "web", "n1", i);
            a.deployment_id.clone_from(&d.id);
            a.deployment_status = Some(AllocDeploymentStatus {
                canary: i < canaries,
                ..Default::default()
            });
            a
        })
        .collect();
    let ids = allocs.iter().map(|a| a.id.clone()).collect();
    let id = d.id.clone();
    place(s, allocs, Some(d));
    (id, ids)
}

fn health(s: &Server, ids: &[String], healthy: bool) {
    let reports = ids
        .iter()
        .map(|id| report(id, ALLOC_CLIENT_RUNNING, Some(healthy)))
        .collect();
    s.client_update_allocs(reports).unwrap();
}

fn status(s: &Server, id: &str) -> (String, String) {
    let d = s.state.snapshot().deployments[id].clone();
    (d.status.clone(), d.status_description.clone())
}

fn watcher_evals(s: &Server, id: &str) -> usize {
    s.state
        .snapshot()
        .evals
        .values()
        .filter(|e| e.triggered_by == TRIGGER_DEPLOYMENT_WATCHER && e.deployment_id == id)
        .count()
}

#[test]
fn unhealthy_allocation_fails_and_may_roll_back() {
    // (auto_revert, description, job version after, image after)
    let cases = [
        (false, DESC_FAILED_ALLOCATIONS.to_string(), 1, "redis:4.0"),
        (
            true,
            format!("{DESC_FAILED_ALLOCATIONS} - rolling back to job version 0"),
            2,
            "redis:3.2",
        ),
    ];
    for (auto_revert, desc, version, image) in cases {
        let s = server();
        let state = DeploymentState {
            auto_revert,
            desired_total: 2,
            ..Default::default()
        };
        let (id, allocs) = rolling(&s, state, 2, 0);
        health(&s, &allocs[..1], false);
        s.watch_deployments(now_ns());
        assert_eq!(status(&s, &id), (DEPLOYMENT_FAILED.to_string(), desc));
        let job = s.state.snapshot().job("default", "web").unwrap();
        assert_eq!(job.version, version);
        assert_eq!(job.task_groups[0].tasks[0].config["image"], image);
        assert_eq!(watcher_evals(&s, &id), 1);

        // A second look finds nothing more to do.
        let index = s.state.index();
        s.watch_deployments(now_ns());
        assert_eq!(s.state.index(), index);
    }
}

#[test]
fn rollback_to_the_same_spec_is_skipped() {
    let s = server();
    let state = DeploymentState {
        auto_revert: true,
        desired_total: 1,
        ..Default::default()
    };
    let (id, allocs) = rolling(&s, state, 1, 0);
    // The current version is the stable one's spec again (a revert that failed too).
    s.revert("default", "web", 0, None).unwrap();
    health(&s, &allocs, false);
    s.watch_deployments(now_ns());
    assert_eq!(
        status(&s, &id).1,
        format!(
            "{DESC_FAILED_ALLOCATIONS} - not rolling back to stable job version 0 as current job has same specification"
        )
    );
}

#[test]
fn progress_deadline_fails_unfinished_deployments() {
    let s = server();
    let state = DeploymentState {
        progress_deadline: 10 * MINUTE,
        desired_total: 2,
        ..Default::default()
    };
    let (id, allocs) = rolling(&s, state, 2, 0);
    let deadline = parse_rfc3339(
        &s.state.snapshot().deployments[&id].task_groups["cache"].require_progress_by,
    )
    .expect("the first placement starts the deadline");

    // Before the deadline: nothing, and the watcher knows when to look again.
    assert_eq!(s.watch_deployments(deadline - MINUTE), Some(deadline));
    assert_eq!(status(&s, &id).0, DEPLOYMENT_RUNNING);

    health(&s, &allocs[..1], true);
    let deadline = parse_rfc3339(
        &s.state.snapshot().deployments[&id].task_groups["cache"].require_progress_by,
    )
    .unwrap();
    s.watch_deployments(deadline + 1);
    assert_eq!(
        status(&s, &id),
        (DEPLOYMENT_FAILED.into(), DESC_PROGRESS_DEADLINE.into())
    );
}

#[test]
fn healthy_allocations_ask_for_the_next_batch_then_succeed() {
    let s = server();
    let state = DeploymentState {
        desired_total: 2,
        progress_deadline: 10 * MINUTE,
        ..Default::default()
    };
    let (id, allocs) = rolling(&s, state, 2, 0);
    health(&s, &allocs[..1], true);
    s.watch_deployments(now_ns());
    assert_eq!(watcher_evals(&s, &id), 1);
    assert_eq!(status(&s, &id).0, DEPLOYMENT_RUNNING);
    // The client repeating itself is no news.
    health(&s, &allocs[..1], true);
    s.watch_deployments(now_ns());
    assert_eq!(watcher_evals(&s, &id), 1, "one eval per change");

    health(&s, &allocs[1..], true);
    // Long after the deadline: a finished deployment does not fail.
    s.watch_deployments(now_ns() + 60 * MINUTE);
    assert_eq!(
        status(&s, &id),
        (DEPLOYMENT_SUCCESSFUL.into(), DESC_SUCCESSFUL.into())
    );
    let snap = s.state.snapshot();
    let job = snap.job("default", "web").unwrap();
    assert_eq!((job.version, job.stable), (1, true));
}

#[test]
fn canaries_wait_for_promotion_unless_auto_promoted() {
    for auto_promote in [false, true] {
        let s = server();
        let state = DeploymentState {
            auto_promote,
            desired_canaries: 1,
            desired_total: 1,
            ..Default::default()
        };
        let (id, allocs) = rolling(&s, state, 1, 1);
        health(&s, &allocs, true);
        s.watch_deployments(now_ns());
        let d = s.state.snapshot().deployments[&id].clone();
        assert_eq!(d.task_groups["cache"].promoted, auto_promote);
        // Promoted, the healthy canary completes the group; then the next pass sees it.
        s.watch_deployments(now_ns());
        let want = if auto_promote {
            DEPLOYMENT_SUCCESSFUL
        } else {
            DEPLOYMENT_RUNNING
        };
        assert_eq!(status(&s, &id).0, want, "auto_promote {auto_promote}");
    }
}

#[test]
fn paused_deployments_are_left_alone() {
    let s = server();
    let state = DeploymentState {
        desired_total: 1,
        ..Default::default()
    };
    let (id, allocs) = rolling(&s, state, 1, 0);
    s.deployment_pause(&id, true).unwrap();
    health(&s, &allocs, false);
    s.watch_deployments(now_ns());
    assert_eq!(status(&s, &id).0, DEPLOYMENT_PAUSED);
}

#[tokio::test]
async fn the_running_watcher_reacts_to_client_reports() {
    let s = server();
    let state = DeploymentState {
        desired_total: 1,
        ..Default::default()
    };
    let (id, allocs) = rolling(&s, state, 1, 0);
    let handle = start(&s);
    health(&s, &allocs, true);
    let mut index = s.state.index();
    // Bounded only so a broken watcher fails instead of hanging.
    for _ in 0..100 {
        if status(&s, &id).0 == DEPLOYMENT_SUCCESSFUL {
            break;
        }
        index = s
            .state
            .wait_for(index, Duration::from_millis(100))
            .await
            .index;
    }
    assert_eq!(status(&s, &id).0, DEPLOYMENT_SUCCESSFUL);
    handle.abort();
}
