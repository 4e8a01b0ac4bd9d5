//! Schedulers: turn an evaluation into a plan. `generic` handles service and batch jobs
//! (reconcile, then place with feasibility and bin-packing), `system` one allocation per
//! eligible node.
//!
//! A placement runs through `stack` (which nodes to look at), `feasible` (can the node
//! run the group), `rank` (does it fit, how well) over an `EvalContext` that keeps each
//! node's usage in step with the plan being built.

mod candidates;
mod context;
mod evals;
mod feasible;
mod generic;
mod operators;
mod placement;
mod ports;
mod rank;
pub mod reconcile;
mod stack;
mod system;
mod usage;
pub mod util;
mod version;

#[cfg(test)]
pub(crate) mod harness;
#[cfg(test)]
mod tests;

use super::plan::Planner;
use super::state::Snapshot;
use crate::structs::{
    Evaluation, JOB_TYPE_BATCH, JOB_TYPE_SERVICE, JOB_TYPE_SYSBATCH, JOB_TYPE_SYSTEM,
};

/// Runs the scheduler for the eval's job type against `snapshot`, submitting plans and
/// eval updates through `planner`.
pub fn process(eval: &Evaluation, snapshot: Snapshot, planner: &dyn Planner) -> anyhow::Result<()> {
    match eval.eval_type.as_str() {
        JOB_TYPE_SERVICE => generic::process(eval, snapshot, planner, false),
        JOB_TYPE_BATCH => generic::process(eval, snapshot, planner, true),
        JOB_TYPE_SYSTEM => system::process(eval, snapshot, planner, false),
        JOB_TYPE_SYSBATCH => system::process(eval, snapshot, planner, true),
        other => anyhow::bail!("evaluation {}: no scheduler for type {other:?}", eval.id),
    }
}
