use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::server::broker::{BrokerConfig, SCHEDULERS};
use crate::structs::EVAL_BLOCKED;

fn setup() -> (Arc<EvalBroker>, BlockedEvals) {
    let alarm = Arc::new(Alarm::default());
    let broker = Arc::new(EvalBroker::new(
        BrokerConfig {
            nack_timeout: Duration::from_secs(60),
            delivery_limit: 3,
            initial_nack_delay: Duration::ZERO,
            subsequent_nack_delay: Duration::ZERO,
        },
        alarm.clone(),
    ));
    broker.set_enabled(true);
    let blocked = BlockedEvals::new(broker.clone(), alarm);
    blocked.set_enabled(true);
    (broker, blocked)
}

fn blocked_eval(id: &str, job: &str, index: u64) -> Evaluation {
    Evaluation {
        id: id.into(),
        namespace: "default".into(),
        job_id: job.into(),
        priority: 50,
        eval_type: "service".into(),
        status: EVAL_BLOCKED.into(),
        create_index: index,
        modify_index: index,
        snapshot_index: index,
        ..Default::default()
    }
}

fn ready_ids(broker: &EvalBroker) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((e, _)) = broker.dequeue(SCHEDULERS, Duration::ZERO).unwrap() {
        out.push(e.id);
    }
    out.sort();
    out
}

#[test]
fn one_blocked_eval_per_job_the_newer_wins() {
    for newer_first in [false, true] {
        let (_, blocked) = setup();
        let older = blocked_eval("older", "job", 5);
        let newer = blocked_eval("newer", "job", 7);
        if newer_first {
            blocked.block(newer);
            blocked.block(older);
        } else {
            blocked.block(older);
            blocked.block(newer);
        }
        assert_eq!(blocked.stats().total_blocked, 1);
        assert_eq!(
            blocked.job_blocked("default", "job").as_deref(),
            Some("newer")
        );
        let dups: Vec<String> = blocked
            .take_duplicates()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(dups, ["older"], "newer_first = {newer_first}");
    }
}

#[test]
fn blocking_the_same_eval_again_is_no_duplicate() {
    let (_, blocked) = setup();
    blocked.block(blocked_eval("e", "job", 5));
    blocked.block(blocked_eval("e", "job", 5));
    assert_eq!(blocked.stats().total_blocked, 1);
    assert!(blocked.take_duplicates().is_empty());
}

#[test]
fn unblock_respects_class_eligibility() {
    // (eligibility of the blocked eval, escaped, class that gains capacity, unblocked?)
    type Case<'a> = (&'a [(&'a str, bool)], bool, &'a str, bool);
    let cases: &[Case] = &[
        (&[], false, "c1", true),
        (&[("c1", true)], false, "c1", true),
        (&[("c1", false)], false, "c1", false),
        (&[("c1", false)], false, "c2", true),
        (&[("c1", false)], true, "c1", true),
    ];
    for (i, &(elig, escaped, class, expect)) in cases.iter().enumerate() {
        let (broker, blocked) = setup();
        let mut eval = blocked_eval("e", "job", 5);
        eval.class_eligibility = elig
            .iter()
            .map(|(c, e)| (c.to_string(), *e))
            .collect::<BTreeMap<_, _>>();
        eval.escaped_computed_class = escaped;
        blocked.block(eval);
        blocked.unblock(class, 10);
        let released = ready_ids(&broker) == ["e"];
        assert_eq!(released, expect, "case {i}");
        assert_eq!(
            blocked.stats().total_blocked,
            usize::from(!expect),
            "case {i}"
        );
    }
}

#[test]
fn an_eval_that_missed_an_unblock_goes_straight_back() {
    let (broker, blocked) = setup();
    blocked.unblock("c1", 10);
    // Scheduled against index 8, before the capacity at 10 appeared.
    let mut stale = blocked_eval("stale", "a", 8);
    stale.snapshot_index = 8;
    blocked.block(stale);
    // Scheduled after it: it saw that capacity and still did not fit.
    let mut fresh = blocked_eval("fresh", "b", 12);
    fresh.snapshot_index = 12;
    blocked.block(fresh);
    assert_eq!(ready_ids(&broker), ["stale"]);
    assert_eq!(
        blocked.job_blocked("default", "b").as_deref(),
        Some("fresh")
    );
}

#[test]
fn untracked_jobs_are_not_unblocked() {
    let (broker, blocked) = setup();
    blocked.block(blocked_eval("e", "job", 5));
    blocked.untrack("default", "job");
    assert_eq!(blocked.stats().total_blocked, 0);
    blocked.unblock("c1", 10);
    assert!(ready_ids(&broker).is_empty());
}

#[test]
fn reblocked_while_outstanding_returns_after_the_ack() {
    let (broker, blocked) = setup();
    broker.enqueue(blocked_eval("e", "job", 5));
    let (e, token) = broker.dequeue(SCHEDULERS, Duration::ZERO).unwrap().unwrap();
    blocked.reblock(e.clone(), &token);
    // Capacity appears while the worker still holds it.
    blocked.unblock("c1", 10);
    assert!(ready_ids(&broker).is_empty(), "still outstanding");
    broker.ack(&e.id, &token).unwrap();
    assert_eq!(ready_ids(&broker), ["e"]);
}

#[test]
fn unblock_failed_only_releases_evals_out_of_plan_attempts() {
    let (broker, blocked) = setup();
    let mut failed = blocked_eval("max-plans", "a", 5);
    failed.triggered_by = TRIGGER_MAX_PLANS.into();
    blocked.block(failed);
    blocked.block(blocked_eval("capacity", "b", 6));
    blocked.unblock_failed();
    assert_eq!(ready_ids(&broker), ["max-plans"]);
    assert_eq!(blocked.stats().total_blocked, 1);
}

#[test]
fn disabled_tracks_nothing() {
    let (broker, blocked) = setup();
    blocked.block(blocked_eval("e", "job", 5));
    blocked.set_enabled(false);
    assert_eq!(blocked.stats().total_blocked, 0);
    blocked.block(blocked_eval("f", "job2", 6));
    blocked.unblock("c1", 10);
    assert_eq!(blocked.stats().total_blocked, 0);
    assert!(ready_ids(&broker).is_empty());
}
