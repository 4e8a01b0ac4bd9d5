//! Failed allocations: rescheduled now, later (follow-up evaluations), or never.

use super::*;
use crate::structs::{
    ALLOC_CLIENT_COMPLETE, ALLOC_RESCHEDULED, EVAL_PENDING, TASK_STATE_DEAD,
    TRIGGER_RETRY_FAILED_ALLOC,
};

/// Count 3 of an unchanged service job with `web.app[1]` failed `ago` before now.
fn one_failed(ago: i64, history: &[(i64, i64)]) -> Scenario {
    let v0 = service(3);
    let mut all = allocs(&v0, 0..3);
    all[1] = failed(all[1].clone(), ago, history);
    Scenario::new(v0, all)
}

fn batch_one_failed(ago: i64, history: &[(i64, i64)]) -> Scenario {
    let v0 = job("batch", 1);
    let a = failed(alloc(&v0, 0), ago, history);
    Scenario::new(v0, vec![a])
}

#[test]
fn failed_allocations() {
    type Build = fn() -> Scenario;
    let now = Summary {
        desired: desired(&[
            ("place", 1),
            ("stop", 1),
            ("reschedule_now", 1),
            ("ignore", 2),
        ]),
        place: vec![1],
        stop: vec![(1, ALLOC_RESCHEDULED)],
        ..Default::default()
    };
    let later = Summary {
        desired: desired(&[("reschedule_later", 1), ("ignore", 3)]),
        ..Default::default()
    };
    let cases: Vec<(&str, Build, Summary)> = vec![
        (
            "service: delay passed, rescheduled now",
            || one_failed(60 * SECOND, &[]),
            now.clone(),
        ),
        (
            "service: due within a second counts as now",
            || one_failed(30 * SECOND - SECOND / 2, &[]),
            now.clone(),
        ),
        (
            "service: delay not passed, rescheduled later",
            || one_failed(SECOND, &[]),
            later.clone(),
        ),
        (
            "service: the delay doubles after a reschedule",
            || one_failed(45 * SECOND, &[(100 * SECOND, 30 * SECOND)]),
            later.clone(),
        ),
        (
            "service: the follow-up eval reschedules it",
            || {
                let mut s = one_failed(SECOND, &[]);
                s.allocs[1].followup_eval_id = EVAL.into();
                s
            },
            now.clone(),
        ),
        (
            "service: already waiting for another follow-up eval",
            || {
                let mut s = one_failed(SECOND, &[]);
                s.allocs[1].followup_eval_id = "eval-0".into();
                s
            },
            Summary {
                desired: desired(&[("ignore", 3)]),
                ..Default::default()
            },
        ),
        (
            "service: failed inside the running deployment, left to the deployment",
            || {
                let mut s = one_failed(60 * SECOND, &[]);
                let d = deployment(s.job.as_ref().unwrap(), 3);
                s.allocs[1] = in_deployment(s.allocs[1].clone(), &d, Some(false));
                s.with_deployment(d)
            },
            Summary {
                desired: desired(&[("ignore", 3)]),
                ..Default::default()
            },
        ),
        (
            "service: a completed allocation is replaced",
            || {
                let mut s = one_failed(60 * SECOND, &[]);
                s.allocs[1] = alloc(s.job.as_ref().unwrap(), 1);
                s.allocs[1].client_status = ALLOC_CLIENT_COMPLETE.into();
                s
            },
            Summary {
                desired: desired(&[("place", 1), ("ignore", 2)]),
                place: vec![1],
                ..Default::default()
            },
        ),
        (
            "batch: failed once, rescheduled",
            || batch_one_failed(60 * SECOND, &[]),
            Summary {
                desired: desired(&[("place", 1), ("stop", 1), ("reschedule_now", 1)]),
                place: vec![0],
                stop: vec![(0, ALLOC_RESCHEDULED)],
                ..Default::default()
            },
        ),
        (
            "batch: failed again within the interval, left failed",
            || batch_one_failed(60 * SECOND, &[(120 * SECOND, 5 * SECOND)]),
            Summary {
                desired: desired(&[("ignore", 1)]),
                ..Default::default()
            },
        ),
        (
            "batch: complete allocations are done, not replaced",
            || {
                let v0 = job("batch", 2);
                let mut all = allocs(&v0, 0..2);
                all[0].client_status = ALLOC_CLIENT_COMPLETE.into();
                all[0].task_states = BTreeMap::from([(
                    "server".into(),
                    TaskState {
                        state: TASK_STATE_DEAD.into(),
                        finished_at: rfc3339(NOW - SECOND),
                        ..Default::default()
                    },
                )]);
                Scenario::new(v0, all)
            },
            Summary {
                desired: desired(&[("ignore", 2)]),
                ..Default::default()
            },
        ),
    ];
    for (name, build, want) in cases {
        assert_eq!(summary(&build().run()), want, "{name}");
    }
}

#[test]
fn rescheduled_placement_replaces_the_failed_allocation() {
    let r = one_failed(60 * SECOND, &[]).run();
    let p = &r.place[0];
    assert!(p.reschedule && !p.lost && !p.canary);
    assert_eq!(p.name, "web.app[1]");
    assert_eq!(p.previous_alloc.as_ref().unwrap().id, "v0-1");
    assert!(r.followup_evals.is_empty() && r.attribute_updates.is_empty());
}

#[test]
fn later_reschedule_creates_a_followup_eval() {
    let r = one_failed(SECOND, &[]).run();
    assert!(r.place.is_empty() && r.stop.is_empty());
    let [eval] = &r.followup_evals[..] else {
        panic!("one eval: {:?}", r.followup_evals)
    };
    assert_eq!(eval.status, EVAL_PENDING);
    assert_eq!(eval.triggered_by, TRIGGER_RETRY_FAILED_ALLOC);
    assert_eq!(
        (
            eval.job_id.as_str(),
            eval.namespace.as_str(),
            eval.eval_type.as_str()
        ),
        (JOB, "default", "service")
    );
    assert_eq!(eval.priority, 50);
    // Failed a second ago, default service delay 30s.
    assert_eq!(eval.wait_until_ns(), NOW + 29 * SECOND);
    assert_eq!(eval.wait_until, rfc3339(NOW + 29 * SECOND));
    assert_eq!(uuid::Uuid::parse_str(&eval.id).map(|_| ()), Ok(()));
    let [updated] = &r.attribute_updates[..] else {
        panic!("one update: {:?}", r.attribute_updates)
    };
    assert_eq!(updated.id, "v0-1");
    assert_eq!(updated.followup_eval_id, eval.id);

    let r = batch_one_failed(SECOND, &[]).run();
    assert_eq!(r.followup_evals[0].wait_until_ns(), NOW + 4 * SECOND);
}

#[test]
fn close_reschedules_share_an_eval() {
    let v0 = service(3);
    // Due in 10s, 27s and 29s: the last two are within 5s of each other.
    let all = vec![
        failed(alloc(&v0, 0), 20 * SECOND, &[]),
        failed(alloc(&v0, 1), 3 * SECOND, &[]),
        failed(alloc(&v0, 2), SECOND, &[]),
    ];
    let r = Scenario::new(v0, all).run();
    let waits: Vec<i64> = r
        .followup_evals
        .iter()
        .map(|e| (e.wait_until_ns() - NOW) / SECOND)
        .collect();
    assert_eq!(waits, vec![10, 27]);
    let by_alloc: BTreeMap<&str, &str> = r
        .attribute_updates
        .iter()
        .map(|a| (a.id.as_str(), a.followup_eval_id.as_str()))
        .collect();
    assert_eq!(by_alloc["v0-0"], r.followup_evals[0].id);
    assert_eq!(by_alloc["v0-1"], r.followup_evals[1].id);
    assert_eq!(by_alloc["v0-2"], r.followup_evals[1].id);
    assert_eq!(r.desired_tg_updates[GROUP].reschedule_later, 3);
}
