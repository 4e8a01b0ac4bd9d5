use super::*;
use crate::server::endpoints::RpcError;
use crate::structs::{
    DEPLOYMENT_FAILED, DEPLOYMENT_PAUSED, DESC_FAILED_BY_USER, DESC_PAUSED, DESC_RUNNING,
    TRIGGER_DEPLOYMENT_WATCHER,
};

/// A job at version 1 (version 0 stable) with a running deployment of `state` and one
/// allocation placed in it; returns (deployment ID, alloc ID).
fn rolling(s: &Server, state: DeploymentState, canary: bool) -> (String, String) {
    register(s, job("web", 1));
    s.set_stable("default", "web", 0, true).unwrap();
    register(s, with_image(job("web", 1), "redis:4.0"));
    let d = deployment(s, "web", state);
    let mut a = alloc(s, "web", "n1", 0);
    a.deployment_id.clone_from(&d.id);
    a.deployment_status = Some(AllocDeploymentStatus {
        canary,
        ..Default::default()
    });
    let ids = (d.id.clone(), a.id.clone());
    place(s, vec![a], Some(d));
    ids
}

fn stored(s: &Server, id: &str) -> Deployment {
    (*s.state.snapshot().deployments[id]).clone()
}

#[test]
fn promote_needs_healthy_canaries() {
    let s = server();
    let canaries = DeploymentState {
        desired_canaries: 1,
        desired_total: 1,
        ..Default::default()
    };
    let (id, alloc_id) = rolling(&s, canaries, true);
    assert_eq!(
        s.deployment_promote("nope", true, vec![]).unwrap_err(),
        RpcError::not_found("deployment not found")
    );
    assert_eq!(
        s.deployment_promote(&id, true, vec![]).unwrap_err().message,
        "1 error occurred:\n\t* Task group \"cache\" has 0/1 healthy allocations\n"
    );
    s.deployment_set_alloc_health(&id, vec![alloc_id], vec![])
        .unwrap();
    let reply = s
        .deployment_promote(&id, false, vec!["cache".into()])
        .unwrap();
    let d = stored(&s, &id);
    assert!(d.task_groups["cache"].promoted);
    assert_eq!(d.status_description, DESC_RUNNING);
    let eval = eval_of(&s, &reply.eval_id);
    assert_eq!(
        (eval.triggered_by.as_str(), eval.deployment_id.as_str()),
        (TRIGGER_DEPLOYMENT_WATCHER, id.as_str())
    );

    s.deployment_fail(&id).unwrap();
    assert_eq!(
        s.deployment_promote(&id, true, vec![]).unwrap_err(),
        RpcError::bad_request("can't promote terminal deployment")
    );
}

#[test]
fn promote_without_canaries_is_refused() {
    let s = server();
    let (id, _) = rolling(
        &s,
        DeploymentState {
            desired_total: 1,
            ..Default::default()
        },
        false,
    );
    assert_eq!(
        s.deployment_promote(&id, true, vec![]).unwrap_err(),
        RpcError::bad_request("no canaries to promote")
    );
}

#[test]
fn pause_and_resume() {
    let s = server();
    let (id, _) = rolling(
        &s,
        DeploymentState {
            desired_total: 1,
            ..Default::default()
        },
        false,
    );
    let paused = s.deployment_pause(&id, true).unwrap();
    assert!(paused.eval_id.is_empty());
    let d = stored(&s, &id);
    assert_eq!(
        (d.status.as_str(), d.status_description.as_str()),
        (DEPLOYMENT_PAUSED, DESC_PAUSED)
    );
    let resumed = s.deployment_pause(&id, false).unwrap();
    assert_eq!(stored(&s, &id).status, DEPLOYMENT_RUNNING);
    assert_eq!(eval_of(&s, &resumed.eval_id).deployment_id, id);

    s.deployment_fail(&id).unwrap();
    for (pause, want) in [
        (true, "can't pause terminal deployment"),
        (false, "can't resume terminal deployment"),
    ] {
        assert_eq!(
            s.deployment_pause(&id, pause).unwrap_err(),
            RpcError::bad_request(want)
        );
    }
}

#[test]
fn fail_rolls_back_under_auto_revert() {
    // (auto_revert, description, reverted version, job version after)
    let cases = [
        (false, DESC_FAILED_BY_USER.to_string(), None, 1),
        (
            true,
            format!("{DESC_FAILED_BY_USER} - rolling back to job version 0"),
            Some(0),
            2,
        ),
    ];
    for (auto_revert, desc, reverted, version) in cases {
        let s = server();
        let state = DeploymentState {
            auto_revert,
            desired_total: 1,
            ..Default::default()
        };
        let (id, _) = rolling(&s, state, false);
        let reply = s.deployment_fail(&id).unwrap();
        let d = stored(&s, &id);
        assert_eq!(
            (d.status.as_str(), d.status_description.as_str()),
            (DEPLOYMENT_FAILED, desc.as_str())
        );
        assert_eq!(reply.reverted_job_version, reverted);
        let job = s.state.snapshot().job("default", "web").unwrap();
        assert_eq!(job.version, version);
        assert_eq!(
            job.task_groups[0].tasks[0].config["image"],
            if auto_revert {
                "redis:3.2"
            } else {
                "redis:4.0"
            }
        );
        assert_eq!(eval_of(&s, &reply.eval_id).deployment_id, id);
        assert_eq!(
            s.deployment_fail(&id).unwrap_err(),
            RpcError::bad_request("can't fail terminal deployment")
        );
    }
}

#[test]
fn alloc_health_from_the_operator() {
    let s = server();
    let state = DeploymentState {
        auto_revert: true,
        desired_total: 1,
        ..Default::default()
    };
    let (id, alloc_id) = rolling(&s, state, false);
    assert_eq!(
        s.deployment_set_alloc_health(&id, vec![], vec![])
            .unwrap_err()
            .message,
        "must specify at least one healthy/unhealthy allocation ID"
    );
    let reply = s
        .deployment_set_alloc_health(&id, vec![], vec![alloc_id.clone()])
        .unwrap();
    let snap = s.state.snapshot();
    let d = snap.deployments[&id].clone();
    assert_eq!(d.status, DEPLOYMENT_FAILED);
    assert_eq!(
        d.status_description,
        "Failed due to unhealthy allocations - rolling back to job version 0"
    );
    assert_eq!(d.task_groups["cache"].unhealthy_allocs, 1);
    assert_eq!(reply.reverted_job_version, Some(0));
    assert!(snap.allocs[alloc_id.as_str()]
        .deployment_status
        .as_ref()
        .unwrap()
        .is_unhealthy());
    assert_eq!(
        s.deployment_set_alloc_health(&id, vec![alloc_id], vec![])
            .unwrap_err()
            .message,
        "can't set health of allocations for a terminal deployment"
    );
}
