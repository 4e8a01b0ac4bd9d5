//! Allocations on tainted nodes: lost (down or gone) and migrating (draining).

use super::*;
use crate::structs::{ALLOC_CLIENT_LOST, ALLOC_MIGRATING, NODE_STATUS_DOWN, NODE_STATUS_READY};

/// Count 3 of an unchanged job; `web.app[1]` runs on node `n2`.
fn on_n2() -> Vec<Allocation> {
    let mut all = allocs(&service(3), 0..3);
    all[1].node_id = "n2".into();
    all
}

#[test]
fn tainted_nodes() {
    type Build = fn() -> Scenario;
    let lost = Summary {
        desired: desired(&[("place", 1), ("stop", 1), ("ignore", 2)]),
        place: vec![1],
        stop: vec![(1, ALLOC_LOST)],
        ..Default::default()
    };
    let migrated = Summary {
        desired: desired(&[("migrate", 1), ("ignore", 2)]),
        place: vec![1],
        stop: vec![(1, ALLOC_MIGRATING)],
        ..Default::default()
    };
    let cases: Vec<(&str, Build, Summary)> = vec![
        (
            "node down: lost and replaced",
            || {
                Scenario::new(service(3), on_n2())
                    .with_tainted("n2", Some(node("n2", NODE_STATUS_DOWN, false)))
            },
            lost.clone(),
        ),
        (
            "node gone: lost and replaced",
            || Scenario::new(service(3), on_n2()).with_tainted("n2", None),
            lost.clone(),
        ),
        (
            "node draining: migrated",
            || {
                Scenario::new(service(3), on_n2())
                    .with_tainted("n2", Some(node("n2", NODE_STATUS_READY, true)))
            },
            migrated.clone(),
        ),
        (
            "allocation asked to migrate",
            || {
                let mut all = on_n2();
                all[1].desired_transition.migrate = Some(true);
                Scenario::new(service(3), all)
            },
            migrated.clone(),
        ),
        (
            "tainted but ready and not draining: untouched",
            || {
                Scenario::new(service(3), on_n2())
                    .with_tainted("n2", Some(node("n2", NODE_STATUS_READY, false)))
            },
            Summary {
                desired: desired(&[("ignore", 3)]),
                ..Default::default()
            },
        ),
        (
            "lost while scaling down: stopped, not replaced",
            || {
                let v0 = service(3);
                let mut all = allocs(&v0, 0..3);
                all[0].node_id = "n2".into();
                Scenario::new(set_count(&v0, 2), all).with_tainted("n2", None)
            },
            Summary {
                desired: desired(&[("stop", 1), ("inplace", 2)]),
                stop: vec![(0, ALLOC_LOST)],
                inplace: vec![1, 2],
                ..Default::default()
            },
        ),
        (
            "migrating while scaling down: the migrating one is stopped",
            || {
                let v0 = service(3);
                let mut all = allocs(&v0, 0..3);
                all[0].node_id = "n2".into();
                Scenario::new(set_count(&v0, 2), all)
                    .with_tainted("n2", Some(node("n2", NODE_STATUS_READY, true)))
            },
            Summary {
                desired: desired(&[("stop", 1), ("inplace", 2)]),
                stop: vec![(0, ALLOC_NOT_NEEDED)],
                inplace: vec![1, 2],
                ..Default::default()
            },
        ),
    ];
    for (name, build, want) in cases {
        assert_eq!(summary(&build().run()), want, "{name}");
    }
}

#[test]
fn replacements_point_at_what_they_replace() {
    let r = Scenario::new(service(3), on_n2())
        .with_tainted("n2", Some(node("n2", NODE_STATUS_DOWN, false)))
        .run();
    let [place] = &r.place[..] else {
        panic!("one placement: {:?}", r.place)
    };
    assert!(place.lost && !place.reschedule && !place.canary);
    assert_eq!(place.previous_alloc.as_ref().unwrap().id, "v0-1");
    let [stop] = &r.stop[..] else {
        panic!("one stop: {:?}", r.stop)
    };
    assert_eq!(stop.client_status.as_deref(), Some(ALLOC_CLIENT_LOST));

    let r = Scenario::new(service(3), on_n2())
        .with_tainted("n2", Some(node("n2", NODE_STATUS_READY, true)))
        .run();
    let place = &r.place[0];
    assert!(!place.lost && !place.reschedule);
    assert_eq!(place.previous_alloc.as_ref().unwrap().id, "v0-1");
    assert_eq!(r.stop[0].client_status, None);
}

#[test]
fn stopped_job_on_a_down_node_marks_allocations_lost() {
    let v0 = service(2);
    let r = Scenario::new(next_version(&v0, |j| j.stop = true), on_n2_of(&v0))
        .with_tainted("n2", Some(node("n2", NODE_STATUS_DOWN, false)))
        .run();
    let got: Vec<(u64, Option<&str>, &str)> = r
        .stop
        .iter()
        .map(|s| {
            (
                s.alloc.index(),
                s.client_status.as_deref(),
                s.description.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (0, None, ALLOC_NOT_NEEDED),
            (1, Some(ALLOC_CLIENT_LOST), ALLOC_LOST)
        ]
    );
}

fn on_n2_of(job: &Job) -> Vec<Allocation> {
    let mut all = allocs(job, 0..2);
    all[1].node_id = "n2".into();
    all
}
