use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::structs::time::rfc3339;

fn broker(delivery_limit: u32) -> Arc<EvalBroker> {
    let b = EvalBroker::new(
        BrokerConfig {
            nack_timeout: Duration::from_secs(60),
            delivery_limit,
            initial_nack_delay: Duration::ZERO,
            subsequent_nack_delay: Duration::ZERO,
        },
        Arc::new(Alarm::default()),
    );
    b.set_enabled(true);
    Arc::new(b)
}

fn eval(id: &str, job: &str, priority: i64, index: u64) -> Evaluation {
    Evaluation {
        id: id.into(),
        namespace: "default".into(),
        job_id: job.into(),
        priority,
        eval_type: "service".into(),
        status: "pending".into(),
        create_index: index,
        modify_index: index,
        ..Default::default()
    }
}

/// Dequeues without waiting; panics when nothing is ready.
fn take(b: &EvalBroker) -> (Evaluation, String) {
    b.dequeue(SCHEDULERS, Duration::ZERO)
        .expect("enabled")
        .expect("an eval is ready")
}

fn nothing_ready(b: &EvalBroker) -> bool {
    b.dequeue(SCHEDULERS, Duration::ZERO)
        .expect("enabled")
        .is_none()
}

#[test]
fn ready_evals_come_by_priority_then_age() {
    let b = broker(3);
    for e in [
        eval("low-old", "a", 50, 1),
        eval("high-old", "b", 80, 2),
        eval("low-new", "c", 50, 3),
        eval("high-new", "d", 80, 4),
    ] {
        b.enqueue(e);
    }
    let order: Vec<String> = (0..4).map(|_| take(&b).0.id).collect();
    assert_eq!(order, ["high-old", "high-new", "low-old", "low-new"]);
    assert!(nothing_ready(&b));
}

#[test]
fn dequeue_only_for_the_asked_schedulers() {
    let b = broker(3);
    let mut batch = eval("batch", "a", 50, 1);
    batch.eval_type = "batch".into();
    b.enqueue(eval("service", "b", 90, 2));
    b.enqueue(batch);
    let (got, _) = b
        .dequeue(&["batch"], Duration::ZERO)
        .unwrap()
        .expect("the batch eval");
    assert_eq!(got.id, "batch");
    assert!(b.dequeue(&["batch"], Duration::ZERO).unwrap().is_none());
    let stats = b.stats();
    assert_eq!(stats.by_scheduler["service"].ready, 1);
    assert_eq!(stats.by_scheduler["batch"].unacked, 1);
}

#[test]
fn one_eval_per_job_outstanding_and_the_newest_pending_follows() {
    let b = broker(3);
    b.enqueue(eval("first", "job", 50, 1));
    b.enqueue(eval("older", "job", 50, 2));
    b.enqueue(eval("newest", "job", 50, 3));
    b.enqueue(eval("other-job", "other", 50, 4));
    let (first, token) = take(&b);
    assert_eq!(first.id, "first");
    // The job's later evals wait; another job's does not.
    assert_eq!(take(&b).0.id, "other-job");
    assert!(nothing_ready(&b));
    assert_eq!(b.stats().total_pending, 2);

    b.ack(&first.id, &token).unwrap();
    let cancelable: Vec<String> = b.take_cancelable().into_iter().map(|e| e.id).collect();
    assert_eq!(cancelable, ["older"]);
    assert_eq!(take(&b).0.id, "newest");
    assert_eq!(b.stats().total_pending, 0);
}

#[test]
fn pending_promotion_prefers_priority_over_recency() {
    let b = broker(3);
    b.enqueue(eval("running", "job", 50, 1));
    b.enqueue(eval("urgent", "job", 90, 2));
    b.enqueue(eval("recent", "job", 50, 3));
    let (running, token) = take(&b);
    b.ack(&running.id, &token).unwrap();
    assert_eq!(take(&b).0.id, "urgent");
    assert_eq!(b.take_cancelable()[0].id, "recent");
}

#[test]
fn tokens_are_checked() {
    let b = broker(3);
    b.enqueue(eval("e", "job", 50, 1));
    let (e, token) = take(&b);
    assert_eq!(b.ack(&e.id, "wrong"), Err(BrokerError::TokenMismatch));
    assert_eq!(b.nack(&e.id, "wrong"), Err(BrokerError::TokenMismatch));
    assert_eq!(b.ack("unknown", &token), Err(BrokerError::NotOutstanding));
    assert_eq!(b.outstanding(&e.id), Some(token.clone()));
    b.ack(&e.id, &token).unwrap();
    assert_eq!(b.ack(&e.id, &token), Err(BrokerError::NotOutstanding));
    assert_eq!(b.outstanding(&e.id), None);
}

#[test]
fn nack_redelivers_until_the_delivery_limit() {
    let b = broker(2);
    b.enqueue(eval("e", "job", 50, 1));
    let (e, first) = take(&b);
    b.nack(&e.id, &first).unwrap();
    let (again, second) = take(&b);
    assert_eq!(again.id, "e");
    assert_ne!(first, second);
    // Meanwhile another eval of the job arrives: it must wait for this one's end.
    b.enqueue(eval("next", "job", 50, 2));
    b.nack(&e.id, &second).unwrap();
    assert!(nothing_ready(&b));
    assert_eq!(b.stats().total_failed, 1);

    let failed = b.take_failed();
    assert_eq!(failed.len(), 1);
    assert_eq!(b.stats().total_failed, 1, "counted until released");
    assert!(nothing_ready(&b));
    b.release_failed(&failed[0]);
    assert_eq!(b.stats().total_failed, 0);
    assert_eq!(take(&b).0.id, "next");
}

#[test]
fn nack_delays_grow_with_deliveries() {
    let b = EvalBroker::new(
        BrokerConfig {
            nack_timeout: Duration::from_secs(60),
            delivery_limit: 5,
            initial_nack_delay: Duration::from_secs(1),
            subsequent_nack_delay: Duration::from_secs(20),
        },
        Arc::new(Alarm::default()),
    );
    b.set_enabled(true);
    b.enqueue(eval("e", "job", 50, 1));
    let (e, token) = take(&b);
    let before = now_ns();
    b.nack(&e.id, &token).unwrap();
    assert!(nothing_ready(&b), "held for the initial delay");
    let due = b.next_deadline().expect("a redelivery time");
    assert!(due >= before + 1_000_000_000 && due < before + 20_000_000_000);
    b.tick(due);
    let (e, token) = take(&b);
    let before = now_ns();
    b.nack(&e.id, &token).unwrap();
    let due = b.next_deadline().expect("a redelivery time");
    assert!(
        due >= before + 20_000_000_000,
        "second nack waits the subsequent delay"
    );
}

#[test]
fn unacked_evals_are_redelivered_after_the_nack_timeout() {
    let b = broker(3);
    b.enqueue(eval("e", "job", 50, 1));
    let (e, token) = take(&b);
    b.tick(now_ns() + 30_000_000_000);
    assert!(nothing_ready(&b), "not yet timed out");
    b.tick(now_ns() + 61_000_000_000);
    let (again, _) = take(&b);
    assert_eq!(again.id, e.id);
    assert_eq!(b.ack(&e.id, &token), Err(BrokerError::TokenMismatch));
}

#[test]
fn paused_nack_timer_does_not_fire() {
    let b = broker(3);
    b.enqueue(eval("e", "job", 50, 1));
    let (e, token) = take(&b);
    b.pause_nack_timeout(&e.id, &token).unwrap();
    b.tick(now_ns() + 3_600_000_000_000);
    assert!(nothing_ready(&b));
    b.resume_nack_timeout(&e.id, &token).unwrap();
    b.ack(&e.id, &token).unwrap();
}

#[test]
fn delayed_evals_wait_until_due() {
    let b = broker(3);
    let hour = 3_600_000_000_000;
    let mut wait_until = eval("wait-until", "a", 50, 1);
    wait_until.wait_until = rfc3339(now_ns() + hour);
    let mut wait = eval("wait", "b", 50, 2);
    wait.wait = hour;
    let mut past = eval("past", "c", 50, 3);
    past.wait_until = rfc3339(now_ns() - hour);
    b.enqueue(wait_until);
    b.enqueue(wait);
    b.enqueue(past);
    let (past, token) = take(&b);
    assert_eq!(past.id, "past");
    b.ack(&past.id, &token).unwrap();
    assert!(nothing_ready(&b));
    assert_eq!(b.stats().total_waiting, 2);
    assert!(b.next_deadline().unwrap() > now_ns() + hour / 2);
    b.tick(now_ns() + 2 * hour);
    let mut ids = vec![take(&b).0.id, take(&b).0.id];
    ids.sort();
    assert_eq!(ids, ["wait", "wait-until"]);
}

#[test]
fn duplicate_enqueues_are_ignored() {
    let b = broker(3);
    b.enqueue(eval("e", "job", 50, 1));
    b.enqueue(eval("e", "job", 50, 1));
    let (e, token) = take(&b);
    b.enqueue(e.clone());
    assert!(nothing_ready(&b));
    b.ack(&e.id, &token).unwrap();
    assert!(nothing_ready(&b));
}

#[test]
fn an_eval_requeued_with_its_token_returns_after_the_ack() {
    let b = broker(3);
    b.enqueue(eval("e", "job", 50, 1));
    let (e, token) = take(&b);
    b.enqueue_all(vec![(e.clone(), token.clone())]);
    assert!(nothing_ready(&b));
    b.ack(&e.id, &token).unwrap();
    assert_eq!(take(&b).0.id, "e");
}

#[test]
fn blocking_dequeue_wakes_on_enqueue_and_on_disable() {
    let b = broker(3);
    let waiter = {
        let b = b.clone();
        std::thread::spawn(move || b.dequeue(SCHEDULERS, Duration::from_secs(60)))
    };
    b.enqueue(eval("e", "job", 50, 1));
    let got = waiter
        .join()
        .unwrap()
        .unwrap()
        .expect("woken with the eval");
    assert_eq!(got.0.id, "e");

    let waiter = {
        let b = b.clone();
        std::thread::spawn(move || b.dequeue(SCHEDULERS, Duration::from_secs(60)))
    };
    // Whether the waiter is already asleep or not, it ends with Disabled.
    b.set_enabled(false);
    assert_eq!(waiter.join().unwrap(), Err(BrokerError::Disabled));
    b.enqueue(eval("ignored", "job", 50, 2));
    b.set_enabled(true);
    assert!(nothing_ready(&b));
}
