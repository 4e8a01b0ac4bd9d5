//! Allocation writes: `alloc stop` and what clients report about their allocations.

use std::collections::BTreeSet;

use super::{new_eval, EvalResponse, RpcError};
use crate::server::state::{job_key, AllocClientUpdate, Command};
use crate::server::Server;
use crate::structs::{
    ALLOC_CLIENT_FAILED, JOB_TYPE_BATCH, JOB_TYPE_SERVICE, TRIGGER_ALLOC_STOP,
    TRIGGER_RETRY_FAILED_ALLOC,
};

impl Server {
    /// Asks the scheduler to replace one allocation (it is migrated: stopped here,
    /// placed again elsewhere if the job still wants it).
    pub fn stop_alloc(
        &self,
        alloc_id: &str,
        no_shutdown_delay: bool,
    ) -> Result<EvalResponse, RpcError> {
        // The desired transition has no shutdown-delay flag in state yet.
        let _ = no_shutdown_delay;
        let snap = self.state.snapshot();
        let alloc = snap
            .allocs
            .get(alloc_id)
            .cloned()
            .ok_or_else(|| RpcError::not_found("alloc not found"))?;
        let job = alloc
            .job
            .clone()
            .or_else(|| snap.job(&alloc.namespace, &alloc.job_id))
            .ok_or_else(|| RpcError::not_found("job not found"))?;
        let mut eval = new_eval(&job, TRIGGER_ALLOC_STOP);
        eval.job_modify_index = job.modify_index;
        let eval_id = eval.id.clone();
        let index = self.apply(Command::AllocDesiredTransition {
            alloc_ids: vec![alloc.id.clone()],
            migrate: true,
            evals: vec![eval],
        })?;
        Ok(EvalResponse { eval_id, index })
    }

    /// Applies clients' reports. An allocation of a service or batch job that turned
    /// `failed` gets its job re-evaluated (one eval per job per call) so the scheduler
    /// can reschedule it.
    pub fn client_update_allocs(&self, updates: Vec<AllocClientUpdate>) -> Result<u64, RpcError> {
        if updates.is_empty() {
            return Ok(self.state.index());
        }
        let snap = self.state.snapshot();
        let mut evaluated = BTreeSet::new();
        let mut evals = Vec::new();
        for update in &updates {
            let Some(old) = snap.allocs.get(update.alloc_id.as_str()) else {
                continue;
            };
            if update.client_status != ALLOC_CLIENT_FAILED
                || old.client_status == ALLOC_CLIENT_FAILED
            {
                continue;
            }
            let Some(job) = snap.job(&old.namespace, &old.job_id) else {
                continue;
            };
            let reschedulable = job.job_type == JOB_TYPE_SERVICE || job.job_type == JOB_TYPE_BATCH;
            if !reschedulable || job.stop {
                continue;
            }
            if evaluated.insert(job_key(&job.namespace, &job.id)) {
                evals.push(new_eval(&job, TRIGGER_RETRY_FAILED_ALLOC));
            }
        }
        Ok(self.apply(Command::AllocClientUpdate {
            allocs: updates,
            evals,
        })?)
    }
}
