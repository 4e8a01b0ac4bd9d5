//! Cron arithmetic and the dispatcher's launches against a real in-memory server.

use chrono::NaiveDateTime;

use super::*;
use crate::server::endpoints::tests::{job, register, server};
use crate::structs::{EVAL_COMPLETE, SECOND};

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn ns(text: &str) -> i64 {
    at(text).and_utc().timestamp() * SECOND
}

#[test]
fn cron_next_after() {
    // (spec, after, next)
    let cases = [
        (
            "* * * * *",
            "2026-11-25 16:03:37",
            Some("2026-11-25 16:04:00"),
        ),
        (
            "*/15 * * * *",
            "2026-11-25 16:03:37",
            Some("2026-11-25 16:15:00"),
        ),
        (
            "0 3 * * *",
            "2026-11-25 03:00:00",
            Some("2026-11-26 03:00:00"),
        ),
        (
            "30 2 1 * *",
            "2026-12-05 00:00:00",
            Some("2027-01-01 02:30:00"),
        ),
        (
            "0 9 * * MON-FRI",
            "2026-11-27 10:00:00",
            Some("2026-11-30 09:00:00"),
        ),
        (
            "0 0 * * 7",
            "2026-11-25 00:00:00",
            Some("2026-11-29 00:00:00"),
        ),
        (
            "0 0 29 FEB *",
            "2026-03-01 00:00:00",
            Some("2028-02-29 00:00:00"),
        ),
        (
            "0 0 L * *",
            "2026-02-10 00:00:00",
            Some("2026-02-28 00:00:00"),
        ),
        // Day of month or day of week, when both are given.
        (
            "0 0 1 * SUN",
            "2026-11-25 00:00:00",
            Some("2026-11-29 00:00:00"),
        ),
        (
            "0 12 * * ?",
            "2026-11-25 12:00:00",
            Some("2026-11-26 12:00:00"),
        ),
        (
            "5,10 * * * *",
            "2026-11-25 16:06:00",
            Some("2026-11-25 16:10:00"),
        ),
        (
            "0 0 1 1 * 2030",
            "2026-11-25 00:00:00",
            Some("2030-01-01 00:00:00"),
        ),
        (
            "*/20 * * * * * *",
            "2026-11-25 16:03:37",
            Some("2026-11-25 16:03:40"),
        ),
        (
            "@hourly",
            "2026-11-25 16:03:37",
            Some("2026-11-25 17:00:00"),
        ),
        (
            "@weekly",
            "2026-11-25 16:03:37",
            Some("2026-11-29 00:00:00"),
        ),
        (
            "@yearly",
            "2026-11-25 16:03:37",
            Some("2027-01-01 00:00:00"),
        ),
        ("0 0 1 1 * 2020", "2026-11-25 00:00:00", None),
    ];
    for (spec, after, want) in cases {
        let cron = Cron::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
        assert_eq!(
            cron.next_after(at(after)),
            want.map(at),
            "{spec} after {after}"
        );
    }
}

#[test]
fn cron_rejects_nonsense() {
    for spec in [
        "",
        "* * *",
        "61 * * * *",
        "* 24 * * *",
        "*/0 * * * *",
        "5-1 * * * *",
        "x * * * *",
    ] {
        assert!(Cron::parse(spec).is_err(), "{spec:?} parsed");
    }
}

#[test]
fn next_launch_takes_the_earliest_spec_in_utc() {
    let mut periodic = PeriodicConfig {
        specs: vec!["0 3 * * *".into(), "30 1 * * *".into()],
        time_zone: "UTC".into(),
        ..Default::default()
    };
    let after = ns("2026-11-25 02:00:00");
    assert_eq!(
        next_launch(&periodic, after),
        Ok(Some(ns("2026-11-25 03:00:00")))
    );
    periodic.time_zone = "Mars/Olympus".into();
    assert!(next_launch(&periodic, after).is_err());
}

#[test]
fn next_launch_in_time_zones() {
    // (zone, spec, after (UTC), next (UTC))
    let cases = [
        (
            "",
            "0 3 * * *",
            "2026-11-25 02:00:00",
            "2026-11-25 03:00:00",
        ),
        (
            "America/New_York",
            "0 3 * * *",
            "2026-11-25 00:00:00",
            "2026-11-25 08:00:00",
        ),
        (
            "America/New_York",
            "0 3 * * *",
            "2026-07-01 00:00:00",
            "2026-07-01 07:00:00",
        ),
        (
            "Europe/Berlin",
            "0 0 * * *",
            "2026-11-25 12:00:00",
            "2026-11-25 23:00:00",
        ),
        (
            "Asia/Kolkata",
            "*/30 * * * *",
            "2026-11-25 12:01:00",
            "2026-11-25 12:30:00",
        ),
        // 02:30 does not exist on the day clocks jump to 03:00: it fires at 03:30.
        (
            "America/New_York",
            "30 2 * * *",
            "2026-03-08 05:00:00",
            "2026-03-08 07:30:00",
        ),
        // 01:30 happens twice when clocks fall back: the first one fires.
        (
            "America/New_York",
            "30 1 * * *",
            "2026-11-01 04:00:00",
            "2026-11-01 05:30:00",
        ),
    ];
    for (zone, spec, after, want) in cases {
        let periodic = PeriodicConfig {
            spec: spec.into(),
            time_zone: zone.into(),
            ..Default::default()
        };
        assert_eq!(
            next_launch(&periodic, ns(after)),
            Ok(Some(ns(want))),
            "{zone} {spec} after {after}"
        );
    }
}

fn periodic_job(spec: &str, prohibit_overlap: bool) -> Job {
    let mut j = job("nightly", 1);
    j.job_type = "batch".into();
    j.periodic = Some(PeriodicConfig {
        spec: spec.into(),
        prohibit_overlap,
        ..Default::default()
    });
    j
}

fn children(s: &Server) -> Vec<String> {
    let mut ids: Vec<_> = s
        .state
        .snapshot()
        .jobs_in("default")
        .filter(|j| j.parent_id == "nightly")
        .map(|j| j.id.clone())
        .collect();
    ids.sort();
    ids
}

#[test]
fn due_jobs_launch_a_child_each_time() {
    let s = server();
    let reply = register(&s, periodic_job("*/5 * * * *", false));
    assert!(
        reply.eval_id.is_empty(),
        "the parent itself is not evaluated"
    );
    let submitted = s
        .state
        .snapshot()
        .job("default", "nightly")
        .unwrap()
        .submit_time;
    let first = next_launch(
        s.state
            .snapshot()
            .job("default", "nightly")
            .unwrap()
            .periodic
            .as_ref()
            .unwrap(),
        submitted,
    )
    .unwrap()
    .unwrap();

    // Not yet due: nothing, and the wake-up is the launch time.
    assert_eq!(s.launch_periodic(first - SECOND), Some(first));
    assert!(children(&s).is_empty());

    assert_eq!(s.launch_periodic(first), Some(first + 5 * 60 * SECOND));
    let child_id = format!("nightly/periodic-{}", first / SECOND);
    assert_eq!(children(&s), vec![child_id.clone()]);
    let snap = s.state.snapshot();
    let child = snap.job("default", &child_id).unwrap();
    assert!(child.periodic.is_none());
    assert_eq!(child.name, child_id);
    let evals = snap.job_evals("default", &child_id);
    assert_eq!(evals.len(), 1);
    assert_eq!(evals[0].triggered_by, TRIGGER_PERIODIC_JOB);
    assert_eq!(
        snap.periodic_launches[&job_key("default", "nightly")],
        first
    );

    // The same moment again launches nothing more.
    s.launch_periodic(first);
    assert_eq!(children(&s).len(), 1);
    // Hours later, the missed launches collapse into one.
    s.launch_periodic(first + 3 * 3600 * SECOND);
    assert_eq!(children(&s).len(), 2);
}

#[test]
fn prohibit_overlap_skips_while_a_child_runs() {
    let s = server();
    register(&s, periodic_job("* * * * *", true));
    let now = crate::structs::time::now_ns();
    s.periodic_force("default", "nightly").unwrap();
    assert_eq!(children(&s).len(), 1);
    // Its eval is still pending: the next launch is skipped, but counted as done.
    let later = now + 120 * SECOND;
    s.launch_periodic(later);
    assert_eq!(children(&s).len(), 1);

    let child = children(&s).remove(0);
    let done: Vec<_> = s
        .state
        .snapshot()
        .job_evals("default", &child)
        .iter()
        .map(|e| crate::structs::Evaluation {
            status: EVAL_COMPLETE.into(),
            ..(**e).clone()
        })
        .collect();
    s.apply(Command::EvalUpsert { evals: done }).unwrap();
    s.launch_periodic(later + 120 * SECOND);
    assert_eq!(children(&s).len(), 2);
}

#[test]
fn force_launch_rules() {
    let s = server();
    register(&s, job("web", 1));
    let mut disabled = periodic_job("* * * * *", false);
    disabled.id = "off".into();
    disabled.periodic.as_mut().unwrap().enabled = Some(false);
    register(&s, disabled);
    let cases = [
        ("nope", 404, "job not found"),
        ("web", 400, "can't force launch non-periodic job"),
        (
            "off",
            400,
            "can't force run non-tracked job \"off\" (default)",
        ),
    ];
    for (id, code, msg) in cases {
        let err = s.periodic_force("default", id).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (code, msg), "{id}");
    }
    register(&s, periodic_job("0 0 1 1 *", false));
    let reply = s.periodic_force("default", "nightly").unwrap();
    let eval = s.state.snapshot().evals[&reply.eval_id].clone();
    assert!(eval.job_id.starts_with("nightly/periodic-"));
    assert_eq!(eval.triggered_by, TRIGGER_PERIODIC_JOB);
}

#[test]
fn register_checks_cron_specs_and_time_zones() {
    let s = server();
    let mut bad_zone = periodic_job("0 3 * * *", false);
    bad_zone.periodic.as_mut().unwrap().time_zone = "Mars/Olympus".into();
    let cases = [
        (
            periodic_job("0 25 * * *", false),
            "1 error occurred:\n\t* Invalid cron spec \"0 25 * * *\": hour value 25 out of range [0, 23]\n",
        ),
        (
            bad_zone,
            "1 error occurred:\n\t* Invalid time zone \"Mars/Olympus\": unknown time zone Mars/Olympus\n",
        ),
    ];
    for (job, want) in cases {
        let err = s
            .register(crate::server::endpoints::JobRegisterRequest {
                job,
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (400, want));
    }
}
