//! Blocked evaluations: evals whose placements failed for lack of capacity wait here
//! until a node joins, becomes eligible, or allocations stop, then go back to the
//! broker. One blocked eval per job: a newer one replaces the older, which is
//! canceled (the leader loop writes that).
//!
//! An eval can miss an unblock that happened while it was being scheduled against an
//! older snapshot; `unblock_indexes` catches that and sends it straight back.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::broker::EvalBroker;
use super::leader::Alarm;
use super::state::{job_key, JobKey};
use crate::structs::{Evaluation, TRIGGER_MAX_PLANS};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockedStats {
    pub total_blocked: usize,
    /// Blocked evals whose job's constraints escape node classes (unblocked by any change).
    pub total_escaped: usize,
    /// By scheduler type.
    pub by_type: std::collections::BTreeMap<String, usize>,
}

pub struct BlockedEvals {
    broker: Arc<EvalBroker>,
    alarm: Arc<Alarm>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    enabled: bool,
    /// Blocked evals whose class eligibility says which node classes could help.
    captured: HashMap<String, Wrapped>,
    /// Blocked evals any capacity change may help.
    escaped: HashMap<String, Wrapped>,
    jobs: HashMap<JobKey, String>,
    /// The last index each node class was unblocked at.
    unblock_indexes: HashMap<String, u64>,
    /// Older blocked evals replaced by a newer one of the same job: to be canceled.
    duplicates: Vec<Evaluation>,
}

struct Wrapped {
    eval: Evaluation,
    /// Set when the eval was re-blocked by the worker still holding it.
    token: String,
}

/// The index that says how recent a blocked eval's view is.
fn latest_index(eval: &Evaluation) -> u64 {
    eval.create_index.max(eval.snapshot_index)
}

impl BlockedEvals {
    pub fn new(broker: Arc<EvalBroker>, alarm: Arc<Alarm>) -> Self {
        BlockedEvals {
            broker,
            alarm,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn set_enabled(&self, enabled: bool) {
        let mut g = self.inner.lock();
        if enabled {
            g.enabled = true;
        } else {
            *g = Inner::default();
        }
    }

    /// Tracks a blocked eval (status `blocked`, just written).
    pub fn block(&self, eval: Evaluation) {
        self.process_block(eval, String::new());
    }

    /// Tracks an eval re-blocked by the worker that still holds it under `token`.
    pub fn reblock(&self, eval: Evaluation, token: &str) {
        self.process_block(eval, token.to_string());
    }

    fn process_block(&self, eval: Evaluation, token: String) {
        let mut g = self.inner.lock();
        if !g.enabled {
            return;
        }
        let key = job_key(&eval.namespace, &eval.job_id);
        if let Some(existing_id) = g.jobs.get(&key).cloned() {
            let existing = g
                .captured
                .remove(&existing_id)
                .or_else(|| g.escaped.remove(&existing_id));
            match existing {
                Some(w) if w.eval.id == eval.id => {}
                Some(w) if latest_index(&w.eval) <= latest_index(&eval) => {
                    g.duplicates.push(w.eval);
                    self.alarm.ring();
                }
                Some(w) => {
                    // The tracked one is newer: keep it, cancel the newcomer.
                    let slot = if w.eval.escaped_computed_class {
                        &mut g.escaped
                    } else {
                        &mut g.captured
                    };
                    slot.insert(existing_id, w);
                    g.duplicates.push(eval);
                    self.alarm.ring();
                    return;
                }
                None => {}
            }
            g.jobs.remove(&key);
        }
        if missed_unblock(&g.unblock_indexes, &eval) {
            drop(g);
            self.broker.enqueue_all(vec![(eval, token)]);
            return;
        }
        g.jobs.insert(key, eval.id.clone());
        let wrapped = Wrapped { eval, token };
        if wrapped.eval.escaped_computed_class {
            g.escaped.insert(wrapped.eval.id.clone(), wrapped);
        } else {
            g.captured.insert(wrapped.eval.id.clone(), wrapped);
        }
    }

    /// Stops tracking the job's blocked eval (job stopped, or an eval of it succeeded).
    pub fn untrack(&self, namespace: &str, job_id: &str) {
        let mut g = self.inner.lock();
        if let Some(id) = g.jobs.remove(&job_key(namespace, job_id)) {
            g.captured.remove(&id);
            g.escaped.remove(&id);
        }
    }

    /// Capacity changed on nodes of `class` at `index`: every blocked eval that could use
    /// such a node goes back to the broker.
    pub fn unblock(&self, class: &str, index: u64) {
        let mut g = self.inner.lock();
        if !g.enabled {
            return;
        }
        let last = g.unblock_indexes.entry(class.to_string()).or_default();
        *last = (*last).max(index);
        let mut out: Vec<(Evaluation, String)> = g.escaped.drain().map(|(_, w)| w.into()).collect();
        let ids: Vec<String> = g
            .captured
            .iter()
            .filter(|(_, w)| w.eval.class_eligibility.get(class) != Some(&false))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            out.push(g.captured.remove(&id).expect("listed").into());
        }
        self.release(g, out);
    }

    /// Evals blocked because their scheduler ran out of plan attempts are retried
    /// periodically whatever the capacity.
    pub fn unblock_failed(&self) {
        let mut g = self.inner.lock();
        if !g.enabled {
            return;
        }
        let ids: Vec<String> = g
            .captured
            .iter()
            .chain(g.escaped.iter())
            .filter(|(_, w)| w.eval.triggered_by == TRIGGER_MAX_PLANS)
            .map(|(id, _)| id.clone())
            .collect();
        let mut out = Vec::new();
        for id in ids {
            let w = g.captured.remove(&id).or_else(|| g.escaped.remove(&id));
            out.extend(w.map(Into::into));
        }
        self.release(g, out);
    }

    fn release(&self, mut g: parking_lot::MutexGuard<'_, Inner>, out: Vec<(Evaluation, String)>) {
        if out.is_empty() {
            return;
        }
        for (eval, _) in &out {
            g.jobs.remove(&job_key(&eval.namespace, &eval.job_id));
        }
        drop(g);
        self.broker.enqueue_all(out);
    }

    /// Blocked evals replaced by newer ones of their job, to be canceled.
    pub fn take_duplicates(&self) -> Vec<Evaluation> {
        std::mem::take(&mut self.inner.lock().duplicates)
    }

    /// The blocked eval tracked for a job.
    pub fn job_blocked(&self, namespace: &str, job_id: &str) -> Option<String> {
        self.inner
            .lock()
            .jobs
            .get(&job_key(namespace, job_id))
            .cloned()
    }

    pub fn stats(&self) -> BlockedStats {
        let g = self.inner.lock();
        let mut stats = BlockedStats {
            total_blocked: g.captured.len() + g.escaped.len(),
            total_escaped: g.escaped.len(),
            ..Default::default()
        };
        for w in g.captured.values().chain(g.escaped.values()) {
            *stats.by_type.entry(w.eval.eval_type.clone()).or_default() += 1;
        }
        stats
    }
}

impl From<Wrapped> for (Evaluation, String) {
    fn from(w: Wrapped) -> Self {
        (w.eval, w.token)
    }
}

/// Was there an unblock, for a class the eval could use, after the snapshot it was
/// scheduled against?
fn missed_unblock(unblock_indexes: &HashMap<String, u64>, eval: &Evaluation) -> bool {
    let mut max = 0;
    for (class, &index) in unblock_indexes {
        max = max.max(index);
        if eval.snapshot_index >= index {
            continue;
        }
        // A class the eval never saw, or one it found eligible.
        if eval.class_eligibility.get(class) != Some(&false) {
            return true;
        }
    }
    eval.escaped_computed_class && eval.snapshot_index < max
}

#[cfg(test)]
mod tests;
