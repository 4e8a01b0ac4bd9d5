//! The evaluation broker: hands pending evaluations to scheduler workers, at most one
//! per job at a time, highest priority first, and takes them back when a worker fails
//! (nack) or goes quiet (nack timeout). After `delivery_limit` deliveries an eval is
//! given up on: the leader loop marks it failed and creates a follow-up.
//!
//! All deadlines are unix nanoseconds, driven by [`EvalBroker::tick`] from the leader
//! loop, so tests can move time without sleeping.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::leader::Alarm;
use super::state::{job_key, JobKey};
use crate::structs::time::now_ns;
use crate::structs::Evaluation;

/// The scheduler types workers dequeue for.
pub const SCHEDULERS: &[&str] = &["service", "batch", "system", "sysbatch"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    #[error("eval broker disabled")]
    Disabled,
    #[error("evaluation is not outstanding")]
    NotOutstanding,
    #[error("evaluation token does not match")]
    TokenMismatch,
}

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub nack_timeout: Duration,
    pub delivery_limit: u32,
    /// Delay before redelivering an eval nacked once; later nacks wait
    /// `(deliveries - 1) * subsequent_nack_delay`.
    pub initial_nack_delay: Duration,
    pub subsequent_nack_delay: Duration,
}

/// Counts for metrics and `wait_idle`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerStats {
    pub total_ready: usize,
    pub total_unacked: usize,
    /// Waiting behind another eval of the same job.
    pub total_pending: usize,
    /// Held until their `WaitUntil`/`Wait` or a nack delay passes.
    pub total_waiting: usize,
    /// Past the delivery limit, waiting to be marked failed.
    pub total_failed: usize,
    /// Superseded pending evals waiting to be marked canceled.
    pub total_cancelable: usize,
    pub by_scheduler: BTreeMap<String, SchedulerStats>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedulerStats {
    pub ready: usize,
    pub unacked: usize,
}

pub struct EvalBroker {
    config: BrokerConfig,
    inner: Mutex<Inner>,
    ready_cv: Condvar,
    alarm: Arc<Alarm>,
}

#[derive(Default)]
struct Inner {
    enabled: bool,
    seq: u64,
    /// Every eval the broker holds (ready, unacked, pending, delayed, failed) and how
    /// many times it was delivered.
    tracked: HashMap<String, u32>,
    /// The one eval per job that is ready or unacked.
    job_evals: HashMap<JobKey, String>,
    pending: HashMap<JobKey, BinaryHeap<PendingEntry>>,
    ready: HashMap<String, BinaryHeap<ReadyEntry>>,
    unack: HashMap<String, Unack>,
    /// Evals re-blocked while outstanding: enqueued again once their token is acked.
    requeue: HashMap<String, Evaluation>,
    delayed: BTreeMap<(i64, u64), Evaluation>,
    failed: Vec<Evaluation>,
    /// Failed evals handed to the leader loop but not yet released.
    failed_taken: usize,
    cancelable: Vec<Evaluation>,
}

struct Unack {
    eval: Evaluation,
    token: String,
    /// `None` while paused (the eval's plan is in the plan queue).
    deadline: Option<i64>,
}

struct ReadyEntry {
    seq: u64,
    eval: Evaluation,
}

impl Ord for ReadyEntry {
    /// Greatest first: higher priority, then older (create index, then arrival).
    fn cmp(&self, other: &Self) -> Ordering {
        self.eval
            .priority
            .cmp(&other.eval.priority)
            .then(other.eval.create_index.cmp(&self.eval.create_index))
            .then(other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for ReadyEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ReadyEntry {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl Eq for ReadyEntry {}

struct PendingEntry {
    seq: u64,
    eval: Evaluation,
}

impl Ord for PendingEntry {
    /// Greatest first: higher priority, then the newest (modify index, then arrival).
    fn cmp(&self, other: &Self) -> Ordering {
        self.eval
            .priority
            .cmp(&other.eval.priority)
            .then(self.eval.modify_index.cmp(&other.eval.modify_index))
            .then(self.seq.cmp(&other.seq))
    }
}

impl PartialOrd for PendingEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PendingEntry {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl Eq for PendingEntry {}

impl EvalBroker {
    pub fn new(config: BrokerConfig, alarm: Arc<Alarm>) -> Self {
        EvalBroker {
            config,
            inner: Mutex::new(Inner::default()),
            ready_cv: Condvar::new(),
            alarm,
        }
    }

    pub fn enabled(&self) -> bool {
        self.inner.lock().enabled
    }

    /// Disabling drops everything held and wakes blocked dequeues.
    pub fn set_enabled(&self, enabled: bool) {
        let mut g = self.inner.lock();
        if enabled {
            g.enabled = true;
            return;
        }
        *g = Inner::default();
        drop(g);
        self.ready_cv.notify_all();
    }

    pub fn enqueue(&self, eval: Evaluation) {
        let mut g = self.inner.lock();
        self.process_enqueue(&mut g, eval, "");
    }

    /// Enqueues evals coming back from the blocked set. A non-empty token marks an eval
    /// that is still outstanding (re-blocked by its worker): it is enqueued once acked.
    pub fn enqueue_all(&self, evals: Vec<(Evaluation, String)>) {
        let mut g = self.inner.lock();
        for (eval, token) in evals {
            self.process_enqueue(&mut g, eval, &token);
        }
    }

    fn process_enqueue(&self, g: &mut Inner, eval: Evaluation, token: &str) {
        if !g.enabled {
            return;
        }
        if g.tracked.contains_key(&eval.id) {
            if !token.is_empty() && g.unack.get(&eval.id).is_some_and(|u| u.token == token) {
                g.requeue.insert(token.to_string(), eval);
            }
            return;
        }
        g.tracked.insert(eval.id.clone(), 0);
        let now = now_ns();
        let due = if eval.wait > 0 {
            now.saturating_add(eval.wait)
        } else {
            eval.wait_until_ns()
        };
        if due > now {
            g.seq += 1;
            let seq = g.seq;
            g.delayed.insert((due, seq), eval);
            self.alarm.ring_by(due);
            return;
        }
        self.enqueue_locked(g, eval);
    }

    /// Ready unless another eval of the job is ready or unacked; then it waits.
    fn enqueue_locked(&self, g: &mut Inner, eval: Evaluation) {
        g.seq += 1;
        let seq = g.seq;
        let key = job_key(&eval.namespace, &eval.job_id);
        match g.job_evals.get(&key) {
            None => {
                g.job_evals.insert(key, eval.id.clone());
            }
            Some(id) if *id != eval.id => {
                g.pending
                    .entry(key)
                    .or_default()
                    .push(PendingEntry { seq, eval });
                return;
            }
            Some(_) => {}
        }
        g.ready
            .entry(eval.eval_type.clone())
            .or_default()
            .push(ReadyEntry { seq, eval });
        self.ready_cv.notify_all();
    }

    /// Waits up to `timeout` (zero: does not wait) for an eval of one of `schedulers`;
    /// returns it with the token that acks or nacks it.
    pub fn dequeue(
        &self,
        schedulers: &[&str],
        timeout: Duration,
    ) -> Result<Option<(Evaluation, String)>, BrokerError> {
        let deadline = Instant::now() + timeout;
        let mut g = self.inner.lock();
        loop {
            if !g.enabled {
                return Err(BrokerError::Disabled);
            }
            if let Some(found) = self.scan(&mut g, schedulers) {
                return Ok(Some(found));
            }
            if self.ready_cv.wait_until(&mut g, deadline).timed_out() {
                if !g.enabled {
                    return Err(BrokerError::Disabled);
                }
                return Ok(self.scan(&mut g, schedulers));
            }
        }
    }

    /// Takes the best head among the schedulers' queues: highest priority, then oldest.
    fn scan(&self, g: &mut Inner, schedulers: &[&str]) -> Option<(Evaluation, String)> {
        let best = schedulers
            .iter()
            .filter_map(|s| g.ready.get(*s).and_then(|q| q.peek()).map(|e| (*s, e)))
            .max_by(|a, b| a.1.cmp(b.1))
            .map(|(s, _)| s.to_string())?;
        let entry = g.ready.get_mut(&best)?.pop()?;
        let eval = entry.eval;
        let token = uuid::Uuid::new_v4().to_string();
        let deadline = now_ns().saturating_add(self.config.nack_timeout.as_nanos() as i64);
        *g.tracked.entry(eval.id.clone()).or_default() += 1;
        g.unack.insert(
            eval.id.clone(),
            Unack {
                eval: eval.clone(),
                token: token.clone(),
                deadline: Some(deadline),
            },
        );
        self.alarm.ring_by(deadline);
        Some((eval, token))
    }

    fn check_token(g: &Inner, eval_id: &str, token: &str) -> Result<(), BrokerError> {
        match g.unack.get(eval_id) {
            None => Err(BrokerError::NotOutstanding),
            Some(u) if u.token != token => Err(BrokerError::TokenMismatch),
            Some(_) => Ok(()),
        }
    }

    /// The eval was processed: the job's next pending eval (the newest, by priority)
    /// becomes ready and the others are superseded (canceled by the leader loop).
    pub fn ack(&self, eval_id: &str, token: &str) -> Result<(), BrokerError> {
        let mut g = self.inner.lock();
        let requeued = g.requeue.remove(token);
        Self::check_token(&g, eval_id, token)?;
        let unack = g.unack.remove(eval_id).expect("checked");
        self.finish_locked(&mut g, &unack.eval);
        if let Some(eval) = requeued {
            self.process_enqueue(&mut g, eval, "");
        }
        Ok(())
    }

    fn finish_locked(&self, g: &mut Inner, eval: &Evaluation) {
        g.tracked.remove(&eval.id);
        let key = job_key(&eval.namespace, &eval.job_id);
        if g.job_evals.get(&key) == Some(&eval.id) {
            g.job_evals.remove(&key);
        }
        let Some(mut pending) = g.pending.remove(&key) else {
            return;
        };
        let next = pending.pop().expect("pending lists are never empty");
        if !pending.is_empty() {
            for entry in pending.into_vec() {
                g.tracked.remove(&entry.eval.id);
                g.cancelable.push(entry.eval);
            }
            self.alarm.ring();
        }
        self.enqueue_locked(g, next.eval);
    }

    /// The worker failed: redeliver (after a delay growing with the deliveries), or
    /// past the delivery limit hand the eval to the leader loop to be failed.
    pub fn nack(&self, eval_id: &str, token: &str) -> Result<(), BrokerError> {
        let mut g = self.inner.lock();
        g.requeue.remove(token);
        Self::check_token(&g, eval_id, token)?;
        let unack = g.unack.remove(eval_id).expect("checked");
        self.nack_locked(&mut g, unack.eval);
        Ok(())
    }

    fn nack_locked(&self, g: &mut Inner, eval: Evaluation) {
        let deliveries = g.tracked.get(&eval.id).copied().unwrap_or(0);
        if deliveries >= self.config.delivery_limit {
            g.failed.push(eval);
            self.alarm.ring();
            return;
        }
        let delay = match deliveries {
            0 => Duration::ZERO,
            1 => self.config.initial_nack_delay,
            n => self.config.subsequent_nack_delay * (n - 1),
        };
        if delay.is_zero() {
            self.enqueue_locked(g, eval);
        } else {
            let due = now_ns().saturating_add(delay.as_nanos() as i64);
            g.seq += 1;
            let seq = g.seq;
            g.delayed.insert((due, seq), eval);
            self.alarm.ring_by(due);
        }
    }

    /// Checks the token and restarts the nack timer (a worker showing progress).
    pub fn outstanding_reset(&self, eval_id: &str, token: &str) -> Result<(), BrokerError> {
        let mut g = self.inner.lock();
        Self::check_token(&g, eval_id, token)?;
        let deadline = now_ns().saturating_add(self.config.nack_timeout.as_nanos() as i64);
        let unack = g.unack.get_mut(eval_id).expect("checked");
        if unack.deadline.is_some() {
            unack.deadline = Some(deadline);
            self.alarm.ring_by(deadline);
        }
        Ok(())
    }

    /// Stops the nack timer while the eval's plan waits in the plan queue.
    pub fn pause_nack_timeout(&self, eval_id: &str, token: &str) -> Result<(), BrokerError> {
        let mut g = self.inner.lock();
        Self::check_token(&g, eval_id, token)?;
        g.unack.get_mut(eval_id).expect("checked").deadline = None;
        Ok(())
    }

    pub fn resume_nack_timeout(&self, eval_id: &str, token: &str) -> Result<(), BrokerError> {
        let mut g = self.inner.lock();
        Self::check_token(&g, eval_id, token)?;
        let deadline = now_ns().saturating_add(self.config.nack_timeout.as_nanos() as i64);
        g.unack.get_mut(eval_id).expect("checked").deadline = Some(deadline);
        self.alarm.ring_by(deadline);
        Ok(())
    }

    /// Fires what is due at `now` (unix ns): delayed evals become ready, unacked evals
    /// past their nack timeout are nacked.
    pub fn tick(&self, now: i64) {
        let mut g = self.inner.lock();
        if !g.enabled {
            return;
        }
        while let Some(entry) = g.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let eval = entry.remove();
            self.enqueue_locked(&mut g, eval);
        }
        let expired: Vec<String> = g
            .unack
            .iter()
            .filter(|(_, u)| u.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            let unack = g.unack.remove(&id).expect("listed");
            g.requeue.remove(&unack.token);
            tracing::warn!(eval_id = %id, "evaluation not acknowledged in time; redelivering");
            self.nack_locked(&mut g, unack.eval);
        }
    }

    /// The earliest time [`tick`](Self::tick) has something to do.
    pub fn next_deadline(&self) -> Option<i64> {
        let g = self.inner.lock();
        let delayed = g.delayed.keys().next().map(|(t, _)| *t);
        let unack = g.unack.values().filter_map(|u| u.deadline).min();
        delayed.into_iter().chain(unack).min()
    }

    /// Evals past the delivery limit. They stay tracked (their job gets no other eval)
    /// until [`release_failed`](Self::release_failed).
    pub fn take_failed(&self) -> Vec<Evaluation> {
        let mut g = self.inner.lock();
        let out = std::mem::take(&mut g.failed);
        g.failed_taken += out.len();
        out
    }

    pub fn release_failed(&self, eval: &Evaluation) {
        let mut g = self.inner.lock();
        if !g.enabled || !g.tracked.contains_key(&eval.id) {
            return;
        }
        g.failed_taken = g.failed_taken.saturating_sub(1);
        self.finish_locked(&mut g, eval);
    }

    /// Pending evals superseded by a newer one of the same job.
    pub fn take_cancelable(&self) -> Vec<Evaluation> {
        std::mem::take(&mut self.inner.lock().cancelable)
    }

    /// The token of an outstanding (unacked) eval.
    pub fn outstanding(&self, eval_id: &str) -> Option<String> {
        self.inner
            .lock()
            .unack
            .get(eval_id)
            .map(|u| u.token.clone())
    }

    pub fn stats(&self) -> BrokerStats {
        let g = self.inner.lock();
        let mut stats = BrokerStats {
            total_unacked: g.unack.len(),
            total_pending: g.pending.values().map(BinaryHeap::len).sum(),
            total_waiting: g.delayed.len(),
            total_failed: g.failed.len() + g.failed_taken,
            total_cancelable: g.cancelable.len(),
            ..Default::default()
        };
        for (sched, queue) in &g.ready {
            stats.total_ready += queue.len();
            stats.by_scheduler.entry(sched.clone()).or_default().ready = queue.len();
        }
        for u in g.unack.values() {
            stats
                .by_scheduler
                .entry(u.eval.eval_type.clone())
                .or_default()
                .unacked += 1;
        }
        stats
    }
}

#[cfg(test)]
mod tests;
