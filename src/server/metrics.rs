//! The server's own counters and timings, and the gauges read from the broker, the
//! blocked set and the plan queue, in go-metrics' vocabulary (`nomad.broker.*`,
//! `nomad.plan.*`, `nomad.worker.*`) so `/v1/metrics` can serve them as Nomad does.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Gauge,
    Counter,
    /// A timing: `count` observations summing to `value` milliseconds.
    Sample,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub kind: MetricKind,
    /// Gauge: the value; counter: the total; sample: the sum in milliseconds.
    pub value: f64,
    /// Counter and sample: how many increments or observations.
    pub count: u64,
    /// Sample: the largest observation in milliseconds.
    pub max: f64,
}

impl Metric {
    pub fn gauge(name: impl Into<String>, value: f64) -> Self {
        Metric {
            name: name.into(),
            kind: MetricKind::Gauge,
            value,
            count: 1,
            max: value,
        }
    }
}

#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn incr(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    fn metric(&self, name: &str) -> Metric {
        let n = self.get();
        Metric {
            name: name.into(),
            kind: MetricKind::Counter,
            value: n as f64,
            count: n,
            max: 0.0,
        }
    }
}

#[derive(Debug, Default)]
pub struct Timer {
    count: AtomicU64,
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
}

impl Timer {
    pub fn record(&self, elapsed: Duration) {
        let ns = elapsed.as_nanos().min(u64::MAX as u128) as u64;
        self.count.fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
        self.max_ns.fetch_max(ns, Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    fn metric(&self, name: &str) -> Metric {
        Metric {
            name: name.into(),
            kind: MetricKind::Sample,
            value: self.sum_ns.load(Relaxed) as f64 / 1e6,
            count: self.count(),
            max: self.max_ns.load(Relaxed) as f64 / 1e6,
        }
    }
}

/// What the server's parts count as they work.
#[derive(Debug, Default)]
pub struct ServerMetrics {
    /// From a worker handing a plan in to its answer.
    pub plan_submit: Timer,
    /// The applier's check of one plan against the state.
    pub plan_evaluate: Timer,
    /// Committing one plan.
    pub plan_apply: Timer,
    pub plan_node_rejected: Counter,
    pub worker_dequeue_eval: Counter,
    pub worker_invoke_scheduler: Timer,
    /// Waiting for the state to reach an eval's or a refreshed plan's index.
    pub worker_wait_for_index: Timer,
    pub worker_ack: Counter,
    pub worker_nack: Counter,
    /// Evals dequeued after something else had already finished them.
    pub worker_skipped: Counter,
    pub worker_submit_plan: Counter,
    pub worker_update_eval: Counter,
    pub worker_create_eval: Counter,
    pub worker_reblock_eval: Counter,
    pub heartbeat_invalidated: Counter,
    pub evals_failed: Counter,
    pub evals_canceled: Counter,
}

impl ServerMetrics {
    pub fn snapshot(&self) -> Vec<Metric> {
        vec![
            self.plan_submit.metric("nomad.plan.submit"),
            self.plan_evaluate.metric("nomad.plan.evaluate"),
            self.plan_apply.metric("nomad.plan.apply"),
            self.plan_node_rejected.metric("nomad.plan.node_rejected"),
            self.worker_dequeue_eval.metric("nomad.worker.dequeue_eval"),
            self.worker_invoke_scheduler
                .metric("nomad.worker.invoke_scheduler"),
            self.worker_wait_for_index
                .metric("nomad.worker.wait_for_index"),
            self.worker_ack.metric("nomad.worker.ack"),
            self.worker_nack.metric("nomad.worker.nack"),
            self.worker_skipped.metric("nomad.worker.skipped_eval"),
            self.worker_submit_plan.metric("nomad.worker.submit_plan"),
            self.worker_update_eval.metric("nomad.worker.update_eval"),
            self.worker_create_eval.metric("nomad.worker.create_eval"),
            self.worker_reblock_eval.metric("nomad.worker.reblock_eval"),
            self.heartbeat_invalidated
                .metric("nomad.heartbeat.invalidate"),
            self.evals_failed.metric("nomad.eval.failed"),
            self.evals_canceled.metric("nomad.eval.canceled"),
        ]
    }
}
