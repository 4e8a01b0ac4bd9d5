//! The leader's duties besides scheduling: restoring the broker and the blocked set
//! from state at start, and one loop that fires the broker's and the heartbeats'
//! deadlines, fails evals past their delivery limit (with a follow-up), cancels
//! superseded and duplicate evals, and retries evals that ran out of plan attempts.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::state::Command;
use super::Core;
use crate::structs::time::{now_ns, rfc3339};
use crate::structs::{
    Evaluation, EVAL_BLOCKED, EVAL_CANCELED, EVAL_FAILED, EVAL_PENDING, NODE_STATUS_DOWN,
    TRIGGER_FAILED_FOLLOW_UP,
};

/// How often evals blocked after exhausting their plan attempts are retried.
const UNBLOCK_FAILED_INTERVAL: Duration = Duration::from_secs(60);
/// The loop wakes at least this often (to notice shutdown and periodic work).
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Wakes the leader loop early: when something is due before its planned wake-up, or
/// when there is work (failed, cancelable or duplicate evals).
#[derive(Default)]
pub struct Alarm {
    /// (rung, planned wake-up in unix ns; 0 when not sleeping).
    state: Mutex<(bool, i64)>,
    cv: Condvar,
}

impl Alarm {
    pub fn ring(&self) {
        self.state.lock().0 = true;
        self.cv.notify_all();
    }

    /// Rings when `deadline` (unix ns) comes before the loop's planned wake-up (or the
    /// loop is awake and may have planned it already).
    pub fn ring_by(&self, deadline: i64) {
        let mut g = self.state.lock();
        if g.1 == 0 || deadline < g.1 {
            g.0 = true;
            drop(g);
            self.cv.notify_all();
        }
    }

    /// Sleeps until `deadline` (unix ns) or a ring.
    pub fn wait_until(&self, deadline: i64) {
        let mut g = self.state.lock();
        g.1 = deadline;
        while !g.0 {
            let left = deadline - now_ns();
            if left <= 0 {
                break;
            }
            let left = Duration::from_nanos(left as u64).min(MAX_SLEEP);
            if self.cv.wait_for(&mut g, left).timed_out() && now_ns() >= deadline {
                break;
            }
        }
        *g = (false, 0);
    }
}

impl Core {
    /// Refills the broker, the blocked set and the heartbeat deadlines from state, as a
    /// new leader does: nodes get a full TTL and grace again, not an instant expiry.
    pub(crate) fn restore(&self) {
        let snap = self.state.snapshot();
        let mut pending: Vec<&Evaluation> = Vec::new();
        for eval in snap.evals.values() {
            match eval.status.as_str() {
                EVAL_PENDING => pending.push(eval),
                EVAL_BLOCKED => self.blocked.block((**eval).clone()),
                _ => {}
            }
        }
        pending.sort_by_key(|e| e.create_index);
        for eval in pending {
            self.broker.enqueue(eval.clone());
        }
        for node in snap.nodes.values() {
            if node.status != NODE_STATUS_DOWN {
                self.reset_heartbeat(&node.id);
            }
        }
    }

    /// The leader loop; returns when `stop` is set.
    pub(crate) fn run_leader(&self, stop: &AtomicBool) {
        let mut next_unblock_failed = now_ns() + UNBLOCK_FAILED_INTERVAL.as_nanos() as i64;
        while !stop.load(SeqCst) {
            let now = now_ns();
            self.broker.tick(now);
            self.invalidate_heartbeats(now);
            self.reap();
            if now >= next_unblock_failed {
                self.blocked.unblock_failed();
                next_unblock_failed = now + UNBLOCK_FAILED_INTERVAL.as_nanos() as i64;
            }
            if stop.load(SeqCst) {
                break;
            }
            let wake = [self.broker.next_deadline(), self.heartbeats.next_deadline()]
                .into_iter()
                .flatten()
                .chain([next_unblock_failed, now_ns() + MAX_SLEEP.as_nanos() as i64])
                .min()
                .expect("non-empty");
            self.alarm.wait_until(wake);
        }
    }

    /// Writes what the broker and the blocked set gave up on: failed evals (with a
    /// follow-up), superseded pending evals and duplicate blocked evals (canceled).
    pub(crate) fn reap(&self) {
        self.reap_failed();
        self.cancel(
            self.broker.take_cancelable(),
            "canceled after more recent eval was processed",
        );
        for dup in self.blocked.take_duplicates() {
            let text = format!(
                "existing blocked evaluation exists for job {:?}",
                dup.job_id
            );
            self.cancel(vec![dup], &text);
        }
    }

    /// Evals past the delivery limit: failed, with a follow-up a little later.
    fn reap_failed(&self) {
        for eval in self.broker.take_failed() {
            let mut failed = eval.clone();
            failed.status = EVAL_FAILED.into();
            failed.status_description = format!(
                "evaluation reached delivery limit ({})",
                self.config.eval_delivery_limit
            );
            let mut evals = Vec::new();
            let snap = self.state.snapshot();
            // A follow-up only while the job exists; a purged job needs none.
            if snap.job(&eval.namespace, &eval.job_id).is_some() {
                let followup = failed_follow_up(&eval, self.config.eval_failed_followup_delay);
                failed.next_eval = followup.id.clone();
                evals.push(followup);
            }
            evals.insert(0, failed);
            tracing::warn!(eval_id = %eval.id, "eval reached delivery limit, marking as failed");
            match self.apply(Command::EvalUpsert { evals }) {
                Ok(_) => self.metrics.evals_failed.incr(),
                Err(e) => tracing::error!(eval_id = %eval.id, "failing eval: {e}"),
            }
            self.broker.release_failed(&eval);
        }
    }

    fn cancel(&self, evals: Vec<Evaluation>, description: &str) {
        if evals.is_empty() {
            return;
        }
        let snap = self.state.snapshot();
        let evals: Vec<Evaluation> = evals
            .into_iter()
            .filter_map(|e| {
                // Only what is still waiting; a finished eval keeps its outcome.
                let mut stored = (**snap.evals.get(&e.id)?).clone();
                if stored.terminal() {
                    return None;
                }
                stored.status = EVAL_CANCELED.into();
                stored.status_description = description.to_string();
                Some(stored)
            })
            .collect();
        if evals.is_empty() {
            return;
        }
        let n = evals.len() as u64;
        match self.apply(Command::EvalUpsert { evals }) {
            Ok(_) => self.metrics.evals_canceled.add(n),
            Err(e) => tracing::error!("canceling evals: {e}"),
        }
    }
}

/// Nomad's `CreateFailedFollowUpEval`, with the delay as `WaitUntil`.
fn failed_follow_up(eval: &Evaluation, delay: Duration) -> Evaluation {
    Evaluation {
        id: uuid::Uuid::new_v4().to_string(),
        namespace: eval.namespace.clone(),
        priority: eval.priority,
        eval_type: eval.eval_type.clone(),
        triggered_by: TRIGGER_FAILED_FOLLOW_UP.into(),
        job_id: eval.job_id.clone(),
        job_modify_index: eval.job_modify_index,
        status: EVAL_PENDING.into(),
        wait_until: rfc3339(now_ns() + delay.as_nanos() as i64),
        previous_eval: eval.id.clone(),
        ..Default::default()
    }
}

/// Threads that end when `stop` is set; joined at shutdown.
pub(crate) fn spawn(
    name: &str,
    core: Arc<Core>,
    stop: Arc<AtomicBool>,
    body: fn(&Core, &AtomicBool),
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || body(&core, &stop))
        .expect("spawning a server thread")
}
