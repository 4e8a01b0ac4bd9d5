//! The reschedule arithmetic: failure times, delays, eligibility, history.

use super::tests::base_job;
use super::*;
use crate::structs::time::rfc3339;
use crate::structs::{TaskState, HOUR, MINUTE, SECOND};

fn failed_alloc(job: &Job, finished_at: i64, events: &[(i64, i64)]) -> Allocation {
    Allocation {
        id: "a1".into(),
        node_id: "n1".into(),
        task_group: "app".into(),
        job: Some(Arc::new(job.clone())),
        desired_status: "run".into(),
        client_status: ALLOC_CLIENT_FAILED.into(),
        modify_time: 7,
        task_states: BTreeMap::from([(
            "server".into(),
            TaskState {
                state: "dead".into(),
                failed: true,
                finished_at: rfc3339(finished_at),
                ..Default::default()
            },
        )]),
        reschedule_tracker: (!events.is_empty()).then(|| RescheduleTracker {
            events: events
                .iter()
                .map(|&(reschedule_time, delay)| RescheduleEvent {
                    reschedule_time,
                    delay,
                    ..Default::default()
                })
                .collect(),
        }),
        ..Default::default()
    }
}

fn job_with_policy(job_type: &str, policy: ReschedulePolicy) -> Job {
    let mut job = base_job();
    job.job_type = job_type.into();
    job.task_groups[0].reschedule_policy = Some(policy);
    job
}

const T0: i64 = 1_700_000_000 * SECOND;

/// Earlier reschedules: (time, delay).
type History = Vec<(i64, i64)>;

#[test]
fn failed_time_is_the_latest_task_finish_else_modify_time() {
    let job = base_job();
    let mut alloc = failed_alloc(&job, T0, &[]);
    alloc.task_states.insert(
        "b".into(),
        TaskState {
            finished_at: rfc3339(T0 + 5 * SECOND),
            ..Default::default()
        },
    );
    assert_eq!(alloc_failed_time(&alloc), T0 + 5 * SECOND);
    alloc.task_states.clear();
    assert_eq!(alloc_failed_time(&alloc), 7);
}

#[test]
fn delays_follow_the_delay_function() {
    let policy = |function: &str, max: i64| ReschedulePolicy {
        attempts: Some(0),
        interval: Some(0),
        delay: Some(5 * SECOND),
        delay_function: Some(function.into()),
        max_delay: Some(max),
        unlimited: Some(true),
    };
    let s = SECOND;
    // (function, max delay, previous (reschedule time offset, delay), want)
    let cases: Vec<(&str, i64, History, i64)> = vec![
        ("constant", 0, vec![], 5 * s),
        ("constant", 0, vec![(-60 * s, 5 * s)], 5 * s),
        ("exponential", HOUR, vec![], 5 * s),
        ("exponential", HOUR, vec![(-60 * s, 5 * s)], 10 * s),
        (
            "exponential",
            HOUR,
            vec![(-60 * s, 5 * s), (-30 * s, 10 * s)],
            20 * s,
        ),
        // Capped, and the last reschedule is recent: stays at the cap.
        ("exponential", 15 * s, vec![(-10 * s, 10 * s)], 15 * s),
        // Capped, but the alloc ran longer than the cap since: reset.
        ("exponential", 15 * s, vec![(-60 * s, 10 * s)], 5 * s),
        ("fibonacci", HOUR, vec![(-60 * s, 5 * s)], 5 * s),
        (
            "fibonacci",
            HOUR,
            vec![(-60 * s, 5 * s), (-50 * s, 5 * s)],
            10 * s,
        ),
        (
            "fibonacci",
            HOUR,
            vec![(-60 * s, 5 * s), (-50 * s, 10 * s)],
            15 * s,
        ),
        // A reset series (cap, then base delay) starts again from the base.
        (
            "fibonacci",
            20 * s,
            vec![(-60 * s, 20 * s), (-50 * s, 5 * s)],
            5 * s,
        ),
    ];
    for (function, max, events, want) in cases {
        let job = job_with_policy("service", policy(function, max));
        let events: Vec<(i64, i64)> = events.iter().map(|&(t, d)| (T0 + t, d)).collect();
        let alloc = failed_alloc(&job, T0, &events);
        assert_eq!(
            next_reschedule_delay(&alloc),
            want,
            "{function} {max} {events:?}"
        );
    }
}

#[test]
fn reschedule_times_and_eligibility() {
    let service = ReschedulePolicy::default_for("service");
    let batch = ReschedulePolicy::default_for("batch");
    let disabled = ReschedulePolicy {
        attempts: Some(0),
        unlimited: Some(false),
        ..batch.clone()
    };
    let two_in_hour = ReschedulePolicy {
        attempts: Some(2),
        interval: Some(HOUR),
        ..batch.clone()
    };
    // (name, type, policy, previous reschedules, client status, want)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a ReschedulePolicy,
        History,
        &'a str,
        Option<i64>,
    );
    let cases: Vec<Case> = vec![
        (
            "service first failure",
            "service",
            &service,
            vec![],
            "failed",
            Some(T0 + 30 * SECOND),
        ),
        (
            "service doubles",
            "service",
            &service,
            vec![(T0 - MINUTE, 30 * SECOND)],
            "failed",
            Some(T0 + MINUTE),
        ),
        (
            "running alloc",
            "service",
            &service,
            vec![],
            "running",
            None,
        ),
        (
            "batch once",
            "batch",
            &batch,
            vec![],
            "failed",
            Some(T0 + 5 * SECOND),
        ),
        (
            "batch attempt used",
            "batch",
            &batch,
            vec![(T0 - MINUTE, 5 * SECOND)],
            "failed",
            None,
        ),
        (
            "batch attempt outside the interval",
            "batch",
            &batch,
            vec![(T0 - 25 * HOUR, 5 * SECOND)],
            "failed",
            Some(T0 + 5 * SECOND),
        ),
        (
            "two in an hour, one used",
            "batch",
            &two_in_hour,
            vec![(T0 - MINUTE, 5 * SECOND)],
            "failed",
            Some(T0 + 5 * SECOND),
        ),
        ("disabled", "batch", &disabled, vec![], "failed", None),
    ];
    for (name, job_type, policy, events, status, want) in cases {
        let job = job_with_policy(job_type, policy.clone());
        let mut alloc = failed_alloc(&job, T0, &events);
        alloc.client_status = status.into();
        assert_eq!(next_reschedule_time(&alloc), want, "{name}");
        let tracker = alloc.reschedule_tracker.as_ref();
        if status == "failed" {
            assert_eq!(
                reschedule_eligible(tracker, policy, T0),
                want.is_some(),
                "{name}"
            );
        }
    }
}

#[test]
fn the_replacement_carries_recent_history() {
    let batch = ReschedulePolicy {
        attempts: Some(3),
        interval: Some(HOUR),
        ..ReschedulePolicy::default_for("batch")
    };
    let job = job_with_policy("batch", batch);
    let prev = failed_alloc(
        &job,
        T0,
        &[(T0 - 2 * HOUR, 5 * SECOND), (T0 - MINUTE, 5 * SECOND)],
    );
    let tracker = next_reschedule_tracker(&prev, T0);
    let times: Vec<i64> = tracker.events.iter().map(|e| e.reschedule_time).collect();
    assert_eq!(times, vec![T0 - MINUTE, T0]);
    let last = tracker.events.last().unwrap();
    assert_eq!(
        (last.prev_alloc_id.as_str(), last.prev_node_id.as_str()),
        ("a1", "n1")
    );
    assert_eq!(last.delay, 5 * SECOND);

    let job = job_with_policy("service", ReschedulePolicy::default_for("service"));
    let many: Vec<(i64, i64)> = (0..8)
        .map(|i| (T0 - (10 - i) * MINUTE, 30 * SECOND))
        .collect();
    let prev = failed_alloc(&job, T0, &many);
    let tracker = next_reschedule_tracker(&prev, T0);
    assert_eq!(tracker.events.len(), MAX_PAST_RESCHEDULE_EVENTS + 1);
    assert_eq!(tracker.events.last().unwrap().delay, MINUTE);
}
