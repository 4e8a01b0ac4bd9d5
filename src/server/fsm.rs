//! What an applied command sets in motion (Nomad's FSM hooks): the evaluations it
//! carried go to the broker (pending) or the blocked set (blocked); capacity it freed
//! unblocks evals; nodes it registered start their heartbeat TTL. Runs after the state
//! store's apply returned, holding no lock of it.

use std::collections::BTreeSet;

use super::state::{Command, JobKey, StateError, Tables};
use super::Core;
use crate::structs::{
    ALLOC_CLIENT_COMPLETE, ALLOC_CLIENT_FAILED, ALLOC_CLIENT_LOST, EVAL_BLOCKED, EVAL_COMPLETE,
    EVAL_PENDING, NODE_ELIGIBLE, NODE_STATUS_DOWN, NODE_STATUS_READY,
};

/// What to do once a command is applied, read from the command before it is.
#[derive(Debug, Default)]
struct Effects {
    eval_ids: Vec<String>,
    /// Nodes that gained capacity (registered, ready, eligible, undrained).
    unblock_nodes: Vec<String>,
    /// Allocations that stopped or finished: their nodes gained capacity.
    freed_allocs: Vec<String>,
    /// Jobs stopped or purged: their blocked eval is dropped.
    untrack_jobs: Vec<JobKey>,
    heartbeat_start: Vec<String>,
    heartbeat_stop: Vec<String>,
}

impl Effects {
    fn of(command: &Command) -> Effects {
        let mut fx = Effects::default();
        let ids = |evals: &[crate::structs::Evaluation]| -> Vec<String> {
            evals.iter().map(|e| e.id.clone()).collect()
        };
        match command {
            Command::JobRegister { eval, .. } => {
                fx.eval_ids.extend(eval.as_ref().map(|e| e.id.clone()));
            }
            Command::JobDeregister {
                namespace,
                job_id,
                eval,
                ..
            } => {
                fx.eval_ids.extend(eval.as_ref().map(|e| e.id.clone()));
                fx.untrack_jobs.push((namespace.clone(), job_id.clone()));
            }
            Command::EvalUpsert { evals } => fx.eval_ids = ids(evals),
            Command::PlanApply(plan) => {
                fx.eval_ids = ids(&plan.evals);
                fx.freed_allocs = plan.stops.iter().map(|s| s.alloc_id.clone()).collect();
            }
            Command::AllocClientUpdate { allocs, evals } => {
                fx.eval_ids = ids(evals);
                fx.freed_allocs = allocs
                    .iter()
                    .filter(|u| {
                        matches!(
                            u.client_status.as_str(),
                            ALLOC_CLIENT_COMPLETE | ALLOC_CLIENT_FAILED | ALLOC_CLIENT_LOST
                        )
                    })
                    .map(|u| u.alloc_id.clone())
                    .collect();
            }
            Command::AllocDesiredTransition { evals, .. } => fx.eval_ids = ids(evals),
            Command::NodeRegister { node, evals } => {
                fx.eval_ids = ids(evals);
                if node.status == NODE_STATUS_DOWN {
                    fx.heartbeat_stop.push(node.id.clone());
                } else {
                    fx.heartbeat_start.push(node.id.clone());
                }
                if node.status == NODE_STATUS_READY {
                    fx.unblock_nodes.push(node.id.clone());
                }
            }
            Command::NodeStatus {
                node_id,
                status,
                evals,
            } => {
                fx.eval_ids = ids(evals);
                if status == NODE_STATUS_DOWN {
                    fx.heartbeat_stop.push(node_id.clone());
                } else {
                    fx.heartbeat_start.push(node_id.clone());
                }
                if status == NODE_STATUS_READY {
                    fx.unblock_nodes.push(node_id.clone());
                }
            }
            Command::NodeEligibility {
                node_id,
                eligibility,
                evals,
            } => {
                fx.eval_ids = ids(evals);
                if eligibility == NODE_ELIGIBLE {
                    fx.unblock_nodes.push(node_id.clone());
                }
            }
            Command::NodeDrain {
                node_id,
                drain,
                evals,
            } => {
                fx.eval_ids = ids(evals);
                if !drain {
                    fx.unblock_nodes.push(node_id.clone());
                }
            }
            Command::NodeDeregister { node_id } => fx.heartbeat_stop.push(node_id.clone()),
            Command::DeploymentStatus(change) => {
                fx.eval_ids
                    .extend(change.eval.as_ref().map(|e| e.id.clone()));
            }
            Command::DeploymentPromote { eval, .. } => {
                fx.eval_ids.extend(eval.as_ref().map(|e| e.id.clone()));
            }
            Command::DeploymentAllocHealth { change, .. } => {
                let eval = change.as_ref().and_then(|c| c.eval.as_ref());
                fx.eval_ids.extend(eval.map(|e| e.id.clone()));
            }
            Command::JobStability { .. } | Command::PeriodicLaunch { .. } => {}
        }
        fx
    }
}

impl Core {
    /// Applies `command` to the state, then routes what it carried (see the module doc).
    pub(crate) fn apply(&self, command: Command) -> Result<u64, StateError> {
        let effects = Effects::of(&command);
        let index = self.state.apply(command)?;
        self.after_apply(index, effects);
        Ok(index)
    }

    fn after_apply(&self, index: u64, fx: Effects) {
        for (namespace, job_id) in &fx.untrack_jobs {
            self.blocked.untrack(namespace, job_id);
        }
        for node in &fx.heartbeat_stop {
            self.heartbeats.clear(node);
        }
        for node in &fx.heartbeat_start {
            self.reset_heartbeat(node);
        }
        if fx.eval_ids.is_empty() && fx.unblock_nodes.is_empty() && fx.freed_allocs.is_empty() {
            return;
        }
        let snap = self.state.snapshot();
        for id in &fx.eval_ids {
            // Only the eval as this command wrote it: a later write routes itself.
            let Some(eval) = snap.evals.get(id).filter(|e| e.modify_index == index) else {
                continue;
            };
            match eval.status.as_str() {
                EVAL_PENDING => self.broker.enqueue((**eval).clone()),
                EVAL_BLOCKED => self.blocked.block((**eval).clone()),
                // A success supersedes the job's blocked eval (the state canceled it).
                EVAL_COMPLETE if eval.failed_tg_allocs.is_empty() => {
                    self.blocked.untrack(&eval.namespace, &eval.job_id)
                }
                _ => {}
            }
        }
        for class in freed_classes(&snap, &fx) {
            self.blocked.unblock(&class, index);
        }
    }
}

/// The computed classes of the nodes that gained capacity.
fn freed_classes(snap: &Tables, fx: &Effects) -> BTreeSet<String> {
    let alloc_nodes = fx
        .freed_allocs
        .iter()
        .filter_map(|id| snap.allocs.get(id.as_str()).map(|a| a.node_id.clone()));
    fx.unblock_nodes
        .iter()
        .cloned()
        .chain(alloc_nodes)
        .collect::<BTreeSet<String>>()
        .into_iter()
        .filter_map(|node| snap.node(&node).map(|n| n.computed_class.clone()))
        .collect()
}
