//! Scheduler workers: each takes an eval from the broker, waits until the state has
//! caught up with it, runs the scheduler against a snapshot and acks (or nacks on
//! failure). The worker is the scheduler's [`Planner`]: plans go to the plan queue,
//! evals are written through the server.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};

use super::broker::SCHEDULERS;
use super::plan::{Plan, PlanResult, Planner};
use super::scheduler;
use super::state::{Command, Snapshot};
use super::Core;
use crate::structs::{Evaluation, EVAL_BLOCKED};

const DEQUEUE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a worker waits for the state to reach an eval's or a plan's index.
const INDEX_WAIT: Duration = Duration::from_secs(5);

impl Core {
    /// One worker's loop; returns when `stop` is set.
    pub(crate) fn run_worker(&self, stop: &AtomicBool) {
        // Only for waiting on state indexes (`StateStore::wait_for` is async).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime");
        while !stop.load(SeqCst) {
            match self.broker.dequeue(SCHEDULERS, DEQUEUE_TIMEOUT) {
                Ok(Some((eval, token))) => self.process_eval(&rt, eval, &token),
                Ok(None) => {}
                // Disabled: the server is stopping (or not started yet).
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn process_eval(&self, rt: &tokio::runtime::Runtime, eval: Evaluation, token: &str) {
        self.metrics.worker_dequeue_eval.incr();
        let Some(snap) = self.wait_for_index(rt, eval.modify_index) else {
            tracing::warn!(eval_id = %eval.id, index = eval.modify_index, "state did not reach the eval's index");
            self.nack(&eval.id, token);
            return;
        };
        // Superseded or finished meanwhile (e.g. a blocked eval canceled by a success).
        if snap.evals.get(&eval.id).is_some_and(|e| e.terminal()) {
            self.metrics.worker_skipped.incr();
            self.ack(&eval.id, token);
            return;
        }
        let planner = WorkerPlanner {
            core: self,
            rt,
            eval_id: &eval.id,
            token,
            snapshot_index: Cell::new(snap.index),
        };
        let start = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            scheduler::process(&eval, snap, &planner)
        }));
        self.metrics.worker_invoke_scheduler.record(start.elapsed());
        match outcome {
            Ok(Ok(())) => self.ack(&eval.id, token),
            Ok(Err(e)) => {
                tracing::warn!(eval_id = %eval.id, job_id = %eval.job_id, "scheduler failed: {e:#}");
                self.nack(&eval.id, token);
            }
            Err(_) => {
                tracing::error!(eval_id = %eval.id, job_id = %eval.job_id, "scheduler panicked");
                self.nack(&eval.id, token);
            }
        }
    }

    fn ack(&self, eval_id: &str, token: &str) {
        match self.broker.ack(eval_id, token) {
            Ok(()) => self.metrics.worker_ack.incr(),
            Err(e) => tracing::warn!(eval_id, "ack: {e}"),
        }
    }

    fn nack(&self, eval_id: &str, token: &str) {
        match self.broker.nack(eval_id, token) {
            Ok(()) => self.metrics.worker_nack.incr(),
            Err(e) => tracing::warn!(eval_id, "nack: {e}"),
        }
    }

    /// A snapshot at `index` or later; `None` if the state does not get there in time.
    fn wait_for_index(&self, rt: &tokio::runtime::Runtime, index: u64) -> Option<Snapshot> {
        let snap = self.state.snapshot();
        if snap.index >= index {
            return Some(snap);
        }
        let start = Instant::now();
        let snap = rt.block_on(self.state.wait_for(index - 1, INDEX_WAIT));
        self.metrics.worker_wait_for_index.record(start.elapsed());
        (snap.index >= index).then_some(snap)
    }
}

/// The scheduler's view of the server while it works on one eval. Every call first
/// checks the worker still holds the eval: one whose nack timer fired must not write.
struct WorkerPlanner<'a> {
    core: &'a Core,
    rt: &'a tokio::runtime::Runtime,
    eval_id: &'a str,
    token: &'a str,
    /// The index of the snapshot the scheduler works on (recorded on evals it writes,
    /// so the blocked set can tell whether they missed an unblock).
    snapshot_index: Cell<u64>,
}

impl WorkerPlanner<'_> {
    fn check(&self) -> anyhow::Result<()> {
        self.core
            .broker
            .outstanding_reset(self.eval_id, self.token)
            .map_err(|e| anyhow!("evaluation {}: {e}", self.eval_id))
    }

    fn write_eval(&self, mut eval: Evaluation) -> anyhow::Result<()> {
        self.check()?;
        eval.snapshot_index = self.snapshot_index.get();
        self.core
            .apply(Command::EvalUpsert { evals: vec![eval] })
            .context("writing evaluation")?;
        Ok(())
    }
}

impl Planner for WorkerPlanner<'_> {
    fn submit_plan(&self, mut plan: Plan) -> anyhow::Result<(PlanResult, Option<Snapshot>)> {
        let core = self.core;
        core.metrics.worker_submit_plan.incr();
        self.check()?;
        plan.snapshot_index = self.snapshot_index.get();
        // Waiting in the plan queue is progress, not silence.
        core.broker.pause_nack_timeout(self.eval_id, self.token)?;
        let start = Instant::now();
        let result = core.plan_queue.submit(plan).and_then(|f| f.wait());
        core.metrics.plan_submit.record(start.elapsed());
        let _ = core.broker.resume_nack_timeout(self.eval_id, self.token);
        let result = result?;
        if result.refresh_index == 0 {
            return Ok((result, None));
        }
        let want = result.refresh_index.max(result.alloc_index);
        let snap = core
            .wait_for_index(self.rt, want)
            .ok_or_else(|| anyhow!("state did not reach index {want} to re-plan against"))?;
        self.snapshot_index.set(snap.index);
        Ok((result, Some(snap)))
    }

    fn update_eval(&self, eval: Evaluation) -> anyhow::Result<()> {
        self.core.metrics.worker_update_eval.incr();
        self.write_eval(eval)
    }

    fn create_eval(&self, eval: Evaluation) -> anyhow::Result<()> {
        self.core.metrics.worker_create_eval.incr();
        self.write_eval(eval)
    }

    fn reblock_eval(&self, mut eval: Evaluation) -> anyhow::Result<()> {
        let core = self.core;
        core.metrics.worker_reblock_eval.incr();
        self.check()?;
        eval.snapshot_index = self.snapshot_index.get();
        eval.status = EVAL_BLOCKED.into();
        let id = eval.id.clone();
        // Written straight to the state (its failed groups and queued counts change):
        // the blocked set takes it from here, with the token, not from the apply.
        core.state
            .apply(Command::EvalUpsert { evals: vec![eval] })
            .context("writing re-blocked evaluation")?;
        let stored = core
            .state
            .snapshot()
            .evals
            .get(&id)
            .map(|e| (**e).clone())
            .ok_or_else(|| anyhow!("re-blocked evaluation {id} vanished"))?;
        core.blocked.reblock(stored, self.token);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
