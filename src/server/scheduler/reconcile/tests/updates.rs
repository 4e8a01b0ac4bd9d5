//! Job changes: placements, count changes, stops, in-place and destructive updates,
//! canaries.

use super::*;
use crate::structs::{ALLOC_UPDATING, DEPLOYMENT_FAILED, DEPLOYMENT_PAUSED};

type Build = fn() -> Scenario;

fn check(cases: Vec<(&str, Build, Summary)>) {
    for (name, build, want) in cases {
        let got = summary(&build().run());
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn job_changes() {
    let cases: Vec<(&str, Build, Summary)> = vec![
        (
            "new job places count",
            || Scenario::new(service(3), vec![]),
            Summary {
                desired: desired(&[("place", 3)]),
                place: vec![0, 1, 2],
                ..Default::default()
            },
        ),
        (
            "unchanged job ignores",
            || Scenario::new(service(3), allocs(&service(3), 0..3)),
            Summary {
                desired: desired(&[("ignore", 3)]),
                ..Default::default()
            },
        ),
        (
            "count up on a new version: in place + create",
            || {
                let v0 = service(1);
                Scenario::new(set_count(&v0, 3), allocs(&v0, [0]))
            },
            Summary {
                desired: desired(&[("place", 2), ("inplace", 1)]),
                place: vec![1, 2],
                inplace: vec![0],
                ..Default::default()
            },
        ),
        (
            "count up fills the lowest free indexes",
            || {
                let v0 = service(2);
                Scenario::new(set_count(&v0, 4), allocs(&v0, [1, 3]))
            },
            Summary {
                desired: desired(&[("place", 2), ("inplace", 2)]),
                place: vec![0, 2],
                inplace: vec![1, 3],
                ..Default::default()
            },
        ),
        (
            "count down stops the highest indexes",
            || {
                let v0 = service(4);
                Scenario::new(set_count(&v0, 2), allocs(&v0, 0..4))
            },
            Summary {
                desired: desired(&[("stop", 2), ("inplace", 2)]),
                stop: vec![(2, ALLOC_NOT_NEEDED), (3, ALLOC_NOT_NEEDED)],
                inplace: vec![0, 1],
                ..Default::default()
            },
        ),
        (
            "count to zero stops everything",
            || {
                let v0 = service(2);
                Scenario::new(set_count(&v0, 0), allocs(&v0, 0..2))
            },
            Summary {
                desired: desired(&[("stop", 2)]),
                stop: vec![(0, ALLOC_NOT_NEEDED), (1, ALLOC_NOT_NEEDED)],
                ..Default::default()
            },
        ),
        (
            "stopped job stops every live allocation",
            || {
                let v0 = service(3);
                let mut all = allocs(&v0, 0..3);
                all[2].client_status = "complete".into();
                Scenario::new(next_version(&v0, |j| j.stop = true), all)
            },
            Summary {
                desired: desired(&[("stop", 2)]),
                stop: vec![(0, ALLOC_NOT_NEEDED), (1, ALLOC_NOT_NEEDED)],
                ..Default::default()
            },
        ),
        (
            "purged job stops every live allocation",
            || Scenario {
                job: None,
                ..Scenario::new(service(1), allocs(&service(2), 0..2))
            },
            Summary {
                desired: desired(&[("stop", 2)]),
                stop: vec![(0, ALLOC_NOT_NEEDED), (1, ALLOC_NOT_NEEDED)],
                ..Default::default()
            },
        ),
        (
            "in-place change updates every allocation at once",
            || {
                let v0 = service(3);
                let v1 = next_version(&v0, |j| {
                    j.task_groups[0].tasks[0].kill_timeout = 30 * SECOND
                });
                Scenario::new(v1, allocs(&v0, 0..3))
            },
            Summary {
                desired: desired(&[("inplace", 3)]),
                inplace: vec![0, 1, 2],
                ..Default::default()
            },
        ),
        (
            "destructive change, max_parallel 1 of 3",
            || {
                let v0 = service(3);
                Scenario::new(new_image(&v0), allocs(&v0, 0..3))
            },
            Summary {
                desired: desired(&[("destructive", 1), ("ignore", 2)]),
                destructive: vec![0],
                ..Default::default()
            },
        ),
        (
            "destructive change, 2 placed and not yet healthy use max_parallel 2",
            || {
                let v0 = with_update(service(4), 2, 0);
                let v1 = new_image(&v0);
                let d = deployment(&v1, 4);
                let mut all = allocs(&v0, [2, 3]);
                all.extend(
                    allocs(&v1, [0, 1])
                        .into_iter()
                        .map(|a| in_deployment(a, &d, None)),
                );
                Scenario::new(v1, all).with_deployment(d)
            },
            Summary {
                desired: desired(&[("ignore", 4)]),
                ..Default::default()
            },
        ),
        (
            "destructive change, one healthy of 2 frees one slot",
            || {
                let v0 = with_update(service(4), 2, 0);
                let v1 = new_image(&v0);
                let d = deployment(&v1, 4);
                let mut all = allocs(&v0, [2, 3]);
                all.push(in_deployment(alloc(&v1, 0), &d, Some(true)));
                all.push(in_deployment(alloc(&v1, 1), &d, None));
                Scenario::new(v1, all).with_deployment(d)
            },
            Summary {
                desired: desired(&[("destructive", 1), ("ignore", 3)]),
                destructive: vec![2],
                ..Default::default()
            },
        ),
        (
            "destructive change, an unhealthy allocation stops the rollout",
            || {
                let v0 = with_update(service(3), 3, 0);
                let v1 = new_image(&v0);
                let d = deployment(&v1, 3);
                let mut all = allocs(&v0, [1, 2]);
                all.push(in_deployment(alloc(&v1, 0), &d, Some(false)));
                Scenario::new(v1, all).with_deployment(d)
            },
            Summary {
                desired: desired(&[("ignore", 3)]),
                ..Default::default()
            },
        ),
        (
            "max_parallel 0 replaces everything at once",
            || {
                let v0 = with_update(service(3), 0, 0);
                Scenario::new(new_image(&v0), allocs(&v0, 0..3))
            },
            Summary {
                desired: desired(&[("destructive", 3)]),
                destructive: vec![0, 1, 2],
                ..Default::default()
            },
        ),
        (
            "batch jobs replace everything at once",
            || {
                let v0 = job("batch", 2);
                Scenario::new(new_image(&v0), allocs(&v0, 0..2))
            },
            Summary {
                desired: desired(&[("destructive", 2)]),
                destructive: vec![0, 1],
                ..Default::default()
            },
        ),
        (
            "paused deployment: no destructive update",
            || {
                let v0 = service(3);
                let v1 = new_image(&v0);
                let mut d = deployment(&v1, 3);
                d.status = DEPLOYMENT_PAUSED.into();
                Scenario::new(v1, allocs(&v0, 0..3)).with_deployment(d)
            },
            Summary {
                desired: desired(&[("ignore", 3)]),
                ..Default::default()
            },
        ),
        (
            "failed deployment: no destructive update",
            || {
                let v0 = service(3);
                let v1 = new_image(&v0);
                let mut d = deployment(&v1, 3);
                d.status = DEPLOYMENT_FAILED.into();
                Scenario::new(v1, allocs(&v0, 0..3)).with_deployment(d)
            },
            Summary {
                desired: desired(&[("ignore", 3)]),
                ..Default::default()
            },
        ),
        (
            "paused deployment: a count increase waits too",
            || {
                let v0 = service(1);
                let v1 = set_count(&v0, 2);
                let mut d = deployment(&v1, 2);
                d.status = DEPLOYMENT_PAUSED.into();
                Scenario::new(v1, allocs(&v0, [0])).with_deployment(d)
            },
            Summary {
                desired: desired(&[("inplace", 1)]),
                inplace: vec![0],
                ..Default::default()
            },
        ),
    ];
    check(cases);
}

#[test]
fn removed_group_is_stopped() {
    let v0 = service(2);
    let mut all = allocs(&v0, 0..2);
    for a in &mut all {
        a.task_group = "cache".into();
        a.name = alloc_name(JOB, "cache", a.index());
    }
    all[1].desired_status = "stop".into();
    let r = Scenario::new(next_version(&v0, |_| {}), all).run();
    assert_eq!(r.desired_tg_updates["cache"].stop, 1);
    let stopped: Vec<(&str, &str)> = r
        .stop
        .iter()
        .map(|s| (s.alloc.name.as_str(), s.description.as_str()))
        .collect();
    assert_eq!(stopped, vec![("web.cache[0]", ALLOC_NOT_NEEDED)]);
    assert_eq!(r.desired_tg_updates[GROUP].place, 2);
}

#[test]
fn destructive_replacements_keep_names_and_say_why() {
    let v0 = with_update(service(3), 2, 0);
    let r = Scenario::new(new_image(&v0), allocs(&v0, 0..3)).run();
    let got: Vec<(&str, &str, &str)> = r
        .destructive
        .iter()
        .map(|d| {
            (
                d.name.as_str(),
                d.stop_alloc.id.as_str(),
                d.description.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("web.app[0]", "v0-0", ALLOC_UPDATING),
            ("web.app[1]", "v0-1", ALLOC_UPDATING)
        ]
    );
    assert!(r.destructive.iter().all(|d| d.task_group == GROUP));
}

/// Count 3, one canary, max_parallel 1: the canary deployment of `v1` in its stages.
fn canary_scenario(promoted: bool, canary_healthy: Option<bool>) -> Scenario {
    let v0 = with_update(service(3), 1, 1);
    let v1 = new_image(&v0);
    let mut d = deployment(&v1, 3);
    let state = d.task_groups.get_mut(GROUP).unwrap();
    state.desired_canaries = 1;
    state.promoted = promoted;
    state.placed_canaries = vec!["canary".into()];
    state.healthy_allocs = u64::from(canary_healthy == Some(true));
    let mut canary = in_deployment(alloc(&v1, 0), &d, canary_healthy);
    canary.id = "canary".into();
    canary.deployment_status.as_mut().unwrap().canary = true;
    let mut all = allocs(&v0, 0..3);
    all.push(canary);
    Scenario::new(v1, all).with_deployment(d)
}

#[test]
fn canaries() {
    let cases: Vec<(&str, Build, Summary)> = vec![
        (
            "destructive change places canaries and stops nothing",
            || {
                let v0 = with_update(service(3), 1, 2);
                Scenario::new(new_image(&v0), allocs(&v0, 0..3))
            },
            Summary {
                desired: desired(&[("canary", 2), ("ignore", 3)]),
                canary: vec![0, 1],
                ..Default::default()
            },
        ),
        (
            "placed canary waits for promotion",
            || canary_scenario(false, Some(true)),
            Summary {
                desired: desired(&[("ignore", 4)]),
                ..Default::default()
            },
        ),
        (
            "after promotion the rollout continues, the old alloc named like the canary first",
            || canary_scenario(true, Some(true)),
            Summary {
                desired: desired(&[("stop", 1), ("destructive", 1), ("ignore", 2)]),
                stop: vec![(0, ALLOC_NOT_NEEDED)],
                destructive: vec![1],
                ..Default::default()
            },
        ),
        (
            "canaries of a cancelled deployment are stopped",
            || {
                let mut s = canary_scenario(false, None);
                // Another version arrived: the canary deployment is now an old one.
                let v2 = next_version(s.job.as_ref().unwrap(), |j| {
                    j.task_groups[0].tasks[0]
                        .config
                        .insert("image".into(), "nginx:3".into());
                });
                s.job = Some(v2);
                s
            },
            Summary {
                desired: desired(&[("stop", 1), ("canary", 1), ("ignore", 3)]),
                stop: vec![(0, ALLOC_NOT_NEEDED)],
                canary: vec![0],
                ..Default::default()
            },
        ),
        (
            "never more placements than the count",
            || {
                let v0 = with_update(service(1), 1, 3);
                Scenario::new(new_image(&v0), allocs(&v0, [0]))
            },
            Summary {
                desired: desired(&[("canary", 1), ("ignore", 1)]),
                canary: vec![0],
                ..Default::default()
            },
        ),
    ];
    check(cases);
}
