//! Schedulers: turn an evaluation into a plan. `generic` handles service and batch jobs
//! (reconcile, then place with feasibility and bin-packing), `system` one allocation per
//! eligible node.

pub mod reconcile;
pub mod util;

use super::plan::Planner;
use super::state::Snapshot;
use crate::structs::Evaluation;

/// Runs the scheduler for the eval's job type against `snapshot`, submitting plans and
/// eval updates through `planner`.
pub fn process(eval: &Evaluation, snapshot: Snapshot, planner: &dyn Planner) -> anyhow::Result<()> {
    let _ = (eval, snapshot, planner);
    anyhow::bail!("scheduler not written yet")
}
