//! `job plan`: the scheduler run against a copy of the state in which the job is
//! registered, through a planner that records and commits nothing.

use std::sync::Arc;

use parking_lot::Mutex;

use super::job::admit;
use super::{new_eval, JobPlanRequest, JobPlanResponse, RpcError};
use crate::server::periodic::next_launch;
use crate::server::plan::{Plan, PlanResult, Planner};
use crate::server::state::{Command, Snapshot};
use crate::server::Server;
use crate::structs::diff::{annotate_updates, job_diff};
use crate::structs::time::{now_ns, rfc3339, ZERO_TIME};
use crate::structs::{Evaluation, TRIGGER_JOB_REGISTER};

/// A planner for dry runs: every plan is "committed" as proposed, nothing is applied.
#[derive(Default)]
pub struct DryRunPlanner {
    pub plans: Mutex<Vec<Plan>>,
    /// Eval updates the scheduler made (its outcome: failed groups, queued counts).
    pub eval_updates: Mutex<Vec<Evaluation>>,
    /// Follow-up and blocked evals it would have created.
    pub created_evals: Mutex<Vec<Evaluation>>,
}

impl Planner for DryRunPlanner {
    fn submit_plan(&self, plan: Plan) -> anyhow::Result<(PlanResult, Option<Snapshot>)> {
        let result = PlanResult {
            node_update: plan.node_update.clone(),
            node_allocation: plan.node_allocation.clone(),
            deployment: plan.deployment.clone(),
            deployment_updates: plan.deployment_updates.clone(),
            refresh_index: 0,
            alloc_index: plan.snapshot_index,
        };
        self.plans.lock().push(plan);
        Ok((result, None))
    }

    fn update_eval(&self, eval: Evaluation) -> anyhow::Result<()> {
        self.eval_updates.lock().push(eval);
        Ok(())
    }

    fn create_eval(&self, eval: Evaluation) -> anyhow::Result<()> {
        self.created_evals.lock().push(eval);
        Ok(())
    }

    fn reblock_eval(&self, eval: Evaluation) -> anyhow::Result<()> {
        self.created_evals.lock().push(eval);
        Ok(())
    }
}

impl Server {
    pub fn plan(&self, req: JobPlanRequest) -> Result<JobPlanResponse, RpcError> {
        let job = admit(req.job)?;
        let snap = self.state.snapshot();
        let existing = snap.job(&job.namespace, &job.id);
        let now = now_ns();
        let mut eval = new_eval(&job, TRIGGER_JOB_REGISTER);
        eval.annotate_plan = true;
        // The job as it would be stored; an unchanged spec keeps the stored version so
        // the plan shows what re-running it would do (ignore, not update).
        let hypothetical = snap
            .with_command(
                Command::JobRegister {
                    job: Box::new(job.clone()),
                    eval: None,
                    submission: None,
                },
                now,
            )
            .map_err(RpcError::from)?;
        if let Some(stored) = hypothetical.job(&job.namespace, &job.id) {
            eval.job_modify_index = stored.job_modify_index;
        }
        let planner = DryRunPlanner::default();
        crate::server::scheduler::process(&eval, Arc::new(hypothetical), &planner)
            .map_err(|e| RpcError::internal(format!("plan failed: {e:#}")))?;

        let annotations = planner
            .plans
            .lock()
            .iter()
            .find_map(|p| p.annotations.clone())
            .unwrap_or_default();
        let failed_tg_allocs = planner
            .eval_updates
            .lock()
            .last()
            .map(|e| e.failed_tg_allocs.clone())
            .unwrap_or_default();
        let diff = req.diff.then(|| {
            let mut diff = job_diff(existing.as_deref(), &job, true);
            annotate_updates(&mut diff, &annotations.desired_tg_updates);
            diff
        });
        let next_periodic_launch = match job.periodic.as_ref() {
            Some(p) if p.enabled != Some(false) => next_launch(p, now)
                .map_err(|e| {
                    RpcError::bad_request(format!("Failed to parse cron expression: {e}"))
                })?
                .map_or_else(|| ZERO_TIME.to_string(), rfc3339),
            _ => ZERO_TIME.to_string(),
        };
        let job_modify_index = existing.as_ref().map_or(0, |j| j.job_modify_index);
        Ok(JobPlanResponse {
            annotations,
            failed_tg_allocs,
            job_modify_index,
            created_evals: planner.created_evals.into_inner(),
            diff,
            next_periodic_launch,
            warnings: String::new(),
            index: job_modify_index,
        })
    }
}
