//! A planner for tests: commits every plan whole to an in-memory state store through the
//! same `PlanApply` command the server uses, and keeps what the scheduler submitted and
//! which evaluations it updated or created.

use parking_lot::Mutex;

use super::process;
use crate::server::plan::{Plan, PlanResult, Planner};
use crate::server::state::{Command, PlanApply, Snapshot, StateStore};
use crate::structs::{Evaluation, Job, Node, EVAL_PENDING, TRIGGER_JOB_REGISTER};

pub(crate) struct Harness {
    pub state: StateStore,
    pub plans: Mutex<Vec<Plan>>,
    pub updated: Mutex<Vec<Evaluation>>,
    pub created: Mutex<Vec<Evaluation>>,
    pub reblocked: Mutex<Vec<Evaluation>>,
}

impl Harness {
    pub(crate) fn new() -> Harness {
        Harness {
            state: StateStore::in_memory(),
            plans: Mutex::new(Vec::new()),
            updated: Mutex::new(Vec::new()),
            created: Mutex::new(Vec::new()),
            reblocked: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn add_node(&self, node: Node) {
        self.apply(Command::NodeRegister {
            node: Box::new(node),
            evals: Vec::new(),
        });
    }

    /// Registers (or updates) a job; returns the evaluation that registration creates.
    pub(crate) fn register(&self, job: &Job) -> Evaluation {
        let eval = Evaluation {
            id: uuid::Uuid::new_v4().to_string(),
            namespace: job.namespace.clone(),
            priority: job.priority,
            eval_type: job.job_type.clone(),
            triggered_by: TRIGGER_JOB_REGISTER.into(),
            job_id: job.id.clone(),
            status: EVAL_PENDING.into(),
            ..Default::default()
        };
        self.apply(Command::JobRegister {
            job: Box::new(job.clone()),
            eval: Some(Box::new(eval.clone())),
            submission: None,
        });
        eval
    }

    pub(crate) fn apply(&self, command: Command) -> u64 {
        self.state.apply(command).expect("command applies")
    }

    /// Runs the scheduler for `eval` against the current state.
    pub(crate) fn process(&self, eval: &Evaluation) -> anyhow::Result<()> {
        process(eval, self.state.snapshot(), self)
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        self.state.snapshot()
    }

    /// The last status the scheduler gave an evaluation.
    pub(crate) fn last_update(&self) -> Evaluation {
        self.updated.lock().last().cloned().expect("an eval update")
    }
}

impl Planner for Harness {
    fn submit_plan(&self, plan: Plan) -> anyhow::Result<(PlanResult, Option<Snapshot>)> {
        let apply = PlanApply {
            eval_id: plan.eval_id.clone(),
            job: plan.job.as_deref().cloned(),
            allocs: plan.node_allocation.values().flatten().cloned().collect(),
            stops: plan.node_update.values().flatten().cloned().collect(),
            deployment: plan.deployment.clone(),
            deployment_updates: plan.deployment_updates.clone(),
            evals: Vec::new(),
        };
        let index = self.state.apply(Command::PlanApply(Box::new(apply)))?;
        let result = PlanResult {
            node_update: plan.node_update.clone(),
            node_allocation: plan.node_allocation.clone(),
            deployment: plan.deployment.clone(),
            deployment_updates: plan.deployment_updates.clone(),
            refresh_index: 0,
            alloc_index: index,
        };
        self.plans.lock().push(plan);
        Ok((result, None))
    }

    fn update_eval(&self, eval: Evaluation) -> anyhow::Result<()> {
        self.state.apply(Command::EvalUpsert {
            evals: vec![eval.clone()],
        })?;
        self.updated.lock().push(eval);
        Ok(())
    }

    fn create_eval(&self, eval: Evaluation) -> anyhow::Result<()> {
        self.state.apply(Command::EvalUpsert {
            evals: vec![eval.clone()],
        })?;
        self.created.lock().push(eval);
        Ok(())
    }

    fn reblock_eval(&self, eval: Evaluation) -> anyhow::Result<()> {
        self.state.apply(Command::EvalUpsert {
            evals: vec![eval.clone()],
        })?;
        self.reblocked.lock().push(eval);
        Ok(())
    }
}
