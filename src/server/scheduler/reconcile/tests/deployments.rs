//! Deployments: created for a new version, cancelled when moot, successful when healthy.

use super::*;
use crate::structs::{
    DEPLOYMENT_CANCELLED, DEPLOYMENT_SUCCESSFUL, DESC_NEWER_JOB, DESC_RUNNING_AUTO_PROMOTION,
    DESC_RUNNING_NEEDS_PROMOTION, DESC_STOPPED_JOB, DESC_SUCCESSFUL, MINUTE,
};

/// (status, description) of every deployment update.
fn updates(r: &ReconcileResults) -> Vec<(String, &str, &str)> {
    r.deployment_updates
        .iter()
        .map(|u| {
            (
                u.deployment_id.clone(),
                u.status.as_str(),
                u.status_description.as_str(),
            )
        })
        .collect()
}

#[test]
fn a_new_job_gets_a_deployment() {
    let mut v0 = service(3);
    v0.task_groups[0].update.as_mut().unwrap().auto_revert = Some(true);
    let r = Scenario::new(v0.clone(), vec![]).run();
    let d = r.deployment.as_ref().expect("a deployment");
    assert_eq!(r.deployment_id.as_deref(), Some(d.id.as_str()));
    assert!(uuid::Uuid::parse_str(&d.id).is_ok());
    assert_eq!(
        (d.namespace.as_str(), d.job_id.as_str(), d.job_version),
        ("default", JOB, 0)
    );
    assert_eq!(
        (
            d.job_modify_index,
            d.job_spec_modify_index,
            d.job_create_index
        ),
        (v0.modify_index, v0.job_modify_index, v0.create_index)
    );
    assert_eq!(
        (d.status.as_str(), d.status_description.as_str()),
        (DEPLOYMENT_RUNNING, DESC_RUNNING)
    );
    let state = &d.task_groups[GROUP];
    assert_eq!(state.desired_total, 3);
    assert_eq!(state.desired_canaries, 0);
    assert!(state.auto_revert && !state.auto_promote);
    assert_eq!(state.progress_deadline, 10 * MINUTE);
    assert!(r.deployment_updates.is_empty());
}

#[test]
fn which_changes_get_a_deployment() {
    type Build = fn() -> Scenario;
    // (name, scenario, desired total of a created deployment)
    let cases: Vec<(&str, Build, Option<u64>)> = vec![
        (
            "destructive change",
            || {
                let v0 = service(3);
                Scenario::new(new_image(&v0), allocs(&v0, 0..3))
            },
            Some(3),
        ),
        (
            "count change (in place)",
            || {
                let v0 = service(1);
                Scenario::new(set_count(&v0, 4), allocs(&v0, [0]))
            },
            Some(4),
        ),
        (
            "unchanged job",
            || Scenario::new(service(3), allocs(&service(3), 0..3)),
            None,
        ),
        (
            "lost replacement on the same version",
            || {
                let v0 = service(2);
                let mut all = allocs(&v0, 0..2);
                all[1].node_id = "n2".into();
                Scenario::new(v0, all).with_tainted("n2", None)
            },
            None,
        ),
        (
            "batch job",
            || {
                let v0 = job("batch", 2);
                Scenario::new(new_image(&v0), allocs(&v0, 0..2))
            },
            None,
        ),
        (
            "max_parallel 0",
            || {
                let v0 = with_update(service(2), 0, 0);
                Scenario::new(new_image(&v0), allocs(&v0, 0..2))
            },
            None,
        ),
        (
            "running deployment of this version already",
            || {
                let v0 = service(3);
                let v1 = new_image(&v0);
                let d = deployment(&v1, 3);
                let mut all = allocs(&v0, [1, 2]);
                all.push(in_deployment(alloc(&v1, 0), &d, Some(true)));
                Scenario::new(v1, all).with_deployment(d)
            },
            None,
        ),
    ];
    for (name, build, want) in cases {
        let r = build().run();
        let got = r
            .deployment
            .as_ref()
            .map(|d| d.task_groups[GROUP].desired_total);
        assert_eq!(got, want, "{name}");
        if let Some(d) = &r.deployment {
            assert_eq!(r.deployment_id.as_ref(), Some(&d.id), "{name}");
        }
    }
}

#[test]
fn placements_join_the_running_deployment() {
    let v0 = service(3);
    let v1 = new_image(&v0);
    let d = deployment(&v1, 3);
    let mut all = allocs(&v0, [1, 2]);
    all.push(in_deployment(alloc(&v1, 0), &d, Some(true)));
    let r = Scenario::new(v1, all).with_deployment(d.clone()).run();
    assert!(r.deployment.is_none());
    assert_eq!(r.deployment_id.as_deref(), Some(d.id.as_str()));
    assert_eq!(summary(&r).destructive, vec![1]);
}

#[test]
fn canary_deployments_wait_for_promotion() {
    for (auto_promote, description) in [
        (false, DESC_RUNNING_NEEDS_PROMOTION),
        (true, DESC_RUNNING_AUTO_PROMOTION),
    ] {
        let mut v0 = with_update(service(3), 1, 1);
        v0.task_groups[0].update.as_mut().unwrap().auto_promote = Some(auto_promote);
        let r = Scenario::new(new_image(&v0), allocs(&v0, 0..3)).run();
        let d = r.deployment.as_ref().expect("a deployment");
        assert_eq!(d.status_description, description);
        let state = &d.task_groups[GROUP];
        assert_eq!((state.desired_canaries, state.desired_total), (1, 3));
        assert_eq!(state.auto_promote, auto_promote);
        assert!(!state.promoted);
    }
}

#[test]
fn moot_deployments_are_cancelled() {
    let v0 = service(2);
    let d0 = deployment(&v0, 2);

    // A newer version: cancel, and start the new version's own deployment.
    let r = Scenario::new(new_image(&v0), allocs(&v0, 0..2))
        .with_deployment(d0.clone())
        .run();
    assert_eq!(
        updates(&r),
        vec![(d0.id.clone(), DEPLOYMENT_CANCELLED, DESC_NEWER_JOB)]
    );
    let created = r.deployment.as_ref().expect("a new deployment");
    assert_eq!(created.job_version, 1);
    assert_ne!(created.id, d0.id);

    // The job stopped, or purged.
    let stopped = next_version(&v0, |j| j.stop = true);
    for job in [Some(stopped), None] {
        let r = Scenario {
            job,
            ..Scenario::new(v0.clone(), allocs(&v0, 0..2)).with_deployment(d0.clone())
        }
        .run();
        assert_eq!(
            updates(&r),
            vec![(d0.id.clone(), DEPLOYMENT_CANCELLED, DESC_STOPPED_JOB)]
        );
        assert!(r.deployment.is_none() && r.deployment_id.is_none());
    }

    // Finished deployments are left alone.
    let mut done = d0.clone();
    done.status = DEPLOYMENT_SUCCESSFUL.into();
    let r = Scenario::new(new_image(&v0), allocs(&v0, 0..2))
        .with_deployment(done)
        .run();
    assert!(r.deployment_updates.is_empty());
}

/// Count 2 of `v1` placed by its deployment, both allocations healthy by the client's
/// account; the deployment has counted `healthy` of them.
fn rolled_out(canaries: u64, promoted: bool, healthy: u64) -> Scenario {
    let v0 = service(2);
    let v1 = new_image(&v0);
    let mut d = deployment(&v1, 2);
    let state = d.task_groups.get_mut(GROUP).unwrap();
    state.desired_canaries = canaries;
    state.promoted = promoted;
    state.healthy_allocs = healthy;
    let all = allocs(&v1, 0..2)
        .into_iter()
        .map(|a| in_deployment(a, &d, Some(true)))
        .collect();
    Scenario::new(v1, all).with_deployment(d)
}

#[test]
fn successful_deployment_detection() {
    type Build = fn() -> Scenario;
    let cases: Vec<(&str, Build, bool)> = vec![
        ("all healthy", || rolled_out(0, false, 2), true),
        ("one not healthy yet", || rolled_out(0, false, 1), false),
        ("canaries not promoted", || rolled_out(1, false, 2), false),
        ("canaries promoted", || rolled_out(1, true, 2), true),
        (
            "allocations left to replace",
            || {
                let v0 = service(2);
                let v1 = new_image(&v0);
                let mut d = deployment(&v1, 2);
                d.task_groups.get_mut(GROUP).unwrap().healthy_allocs = 2;
                let mut all = allocs(&v0, [1]);
                all.push(in_deployment(alloc(&v1, 0), &d, Some(true)));
                Scenario::new(v1, all).with_deployment(d)
            },
            false,
        ),
    ];
    for (name, build, want) in cases {
        let s = build();
        let id = s.deployment.as_ref().unwrap().id.clone();
        let r = s.run();
        let expected = if want {
            vec![(id.clone(), DEPLOYMENT_SUCCESSFUL, DESC_SUCCESSFUL)]
        } else {
            vec![]
        };
        assert_eq!(updates(&r), expected, "{name}");
        assert_eq!(r.deployment_id.as_deref(), Some(id.as_str()), "{name}");
    }
}
