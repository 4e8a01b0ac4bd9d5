//! Reconciler tests: small scenarios built from helper constructors, run through
//! `reconcile()` with an update function that decides like the generic scheduler
//! (same job modify index → ignore, `tasks_updated` → destructive, else in place).

mod deployments;
mod nodes;
mod reschedule;
mod updates;

use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::server::scheduler::util::tasks_updated;
use crate::structs::time::rfc3339;
use crate::structs::{
    alloc_name, AllocDeploymentStatus, DeploymentState, Node, RescheduleEvent, RescheduleTracker,
    TaskState, UpdateStrategy, ALLOC_CLIENT_FAILED, ALLOC_CLIENT_RUNNING, ALLOC_DESIRED_RUN,
    DEPLOYMENT_RUNNING, DESC_RUNNING, SECOND,
};

pub(super) const NOW: i64 = 1_700_000_000 * SECOND;
pub(super) const JOB: &str = "web";
pub(super) const GROUP: &str = "app";
pub(super) const EVAL: &str = "eval-1";

/// A canonical job at version 0 with one group of `count` and one container task.
pub(super) fn job(job_type: &str, count: i64) -> Job {
    let mut job = Job {
        id: JOB.into(),
        job_type: job_type.into(),
        task_groups: vec![TaskGroup {
            name: GROUP.into(),
            count: Some(count),
            tasks: vec![crate::structs::Task {
                name: "server".into(),
                driver: "container".into(),
                config: serde_json::json!({"image": "nginx:1"})
                    .as_object()
                    .cloned()
                    .unwrap(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    job.canonicalize();
    job.create_index = 10;
    job.modify_index = 10;
    job.job_modify_index = 10;
    job
}

pub(super) fn service(count: i64) -> Job {
    job("service", count)
}

/// The group's update strategy with `max_parallel` and `canary` set.
pub(super) fn with_update(mut job: Job, max_parallel: i64, canary: i64) -> Job {
    job.task_groups[0].update = Some(UpdateStrategy {
        max_parallel: Some(max_parallel),
        canary: Some(canary),
        ..UpdateStrategy::default_strategy()
    });
    job
}

/// The next version of `job` after `edit`.
pub(super) fn next_version(job: &Job, edit: impl FnOnce(&mut Job)) -> Job {
    let mut next = job.clone();
    edit(&mut next);
    next.version += 1;
    next.modify_index += 10;
    next.job_modify_index += 10;
    next
}

/// A new version with a new image: every allocation must be replaced.
pub(super) fn new_image(job: &Job) -> Job {
    next_version(job, |j| {
        j.task_groups[0].tasks[0]
            .config
            .insert("image".into(), "nginx:2".into());
    })
}

pub(super) fn set_count(job: &Job, count: i64) -> Job {
    next_version(job, |j| j.task_groups[0].count = Some(count))
}

/// A running allocation of `job` named `web.app[index]` on node `n1`.
pub(super) fn alloc(job: &Job, index: u64) -> Allocation {
    Allocation {
        id: format!("v{}-{index}", job.version),
        namespace: "default".into(),
        eval_id: "eval-0".into(),
        name: alloc_name(JOB, GROUP, index),
        node_id: "n1".into(),
        job_id: JOB.into(),
        job: Some(Arc::new(job.clone())),
        task_group: GROUP.into(),
        desired_status: ALLOC_DESIRED_RUN.into(),
        client_status: ALLOC_CLIENT_RUNNING.into(),
        modify_time: NOW - 3600 * SECOND,
        ..Default::default()
    }
}

pub(super) fn allocs(job: &Job, indexes: impl IntoIterator<Item = u64>) -> Vec<Allocation> {
    indexes.into_iter().map(|i| alloc(job, i)).collect()
}

/// Marks the allocation as placed by deployment `d`, with the client's health verdict.
pub(super) fn in_deployment(
    mut a: Allocation,
    d: &Deployment,
    healthy: Option<bool>,
) -> Allocation {
    a.deployment_id = d.id.clone();
    a.deployment_status = Some(AllocDeploymentStatus {
        healthy,
        ..Default::default()
    });
    a
}

/// The allocation failed `ago` before now, after the given earlier reschedules
/// (time before now, delay).
pub(super) fn failed(mut a: Allocation, ago: i64, history: &[(i64, i64)]) -> Allocation {
    a.client_status = ALLOC_CLIENT_FAILED.into();
    a.task_states = BTreeMap::from([(
        "server".into(),
        TaskState {
            state: "dead".into(),
            failed: true,
            finished_at: rfc3339(NOW - ago),
            ..Default::default()
        },
    )]);
    if !history.is_empty() {
        a.reschedule_tracker = Some(RescheduleTracker {
            events: history
                .iter()
                .map(|&(before, delay)| RescheduleEvent {
                    reschedule_time: NOW - before,
                    prev_alloc_id: "older".into(),
                    prev_node_id: "n0".into(),
                    delay,
                })
                .collect(),
        });
    }
    a
}

/// A running deployment of `job` whose group wants `total` allocations.
pub(super) fn deployment(job: &Job, total: u64) -> Deployment {
    Deployment {
        id: format!("deploy-v{}", job.version),
        namespace: "default".into(),
        job_id: JOB.into(),
        job_version: job.version,
        job_modify_index: job.modify_index,
        job_spec_modify_index: job.job_modify_index,
        job_create_index: job.create_index,
        task_groups: BTreeMap::from([(
            GROUP.to_string(),
            DeploymentState {
                desired_total: total,
                ..Default::default()
            },
        )]),
        status: DEPLOYMENT_RUNNING.into(),
        status_description: DESC_RUNNING.into(),
        ..Default::default()
    }
}

pub(super) fn node(id: &str, status: &str, drain: bool) -> Node {
    Node {
        id: id.into(),
        status: status.into(),
        drain,
        ..Default::default()
    }
}

/// Everything `reconcile` is given, owned.
pub(super) struct Scenario {
    pub job: Option<Job>,
    pub allocs: Vec<Allocation>,
    /// Node ID -> node (`None`: gone).
    pub tainted: Vec<(&'static str, Option<Node>)>,
    pub deployment: Option<Deployment>,
    pub eval_id: &'static str,
}

impl Scenario {
    pub fn new(job: Job, allocs: Vec<Allocation>) -> Self {
        Scenario {
            job: Some(job),
            allocs,
            tainted: Vec::new(),
            deployment: None,
            eval_id: EVAL,
        }
    }

    pub fn with_deployment(mut self, d: Deployment) -> Self {
        self.deployment = Some(d);
        self
    }

    pub fn with_tainted(mut self, id: &'static str, node: Option<Node>) -> Self {
        self.tainted.push((id, node));
        self
    }

    pub fn run(&self) -> ReconcileResults {
        let job = self.job.clone().map(Arc::new);
        let tainted: BTreeMap<String, Option<Arc<Node>>> = self
            .tainted
            .iter()
            .map(|(id, n)| (id.to_string(), n.clone().map(Arc::new)))
            .collect();
        let batch = job.as_ref().is_some_and(|j| j.job_type == "batch");
        let update_fn = |alloc: &Allocation, job: &Arc<Job>, group: &TaskGroup| {
            let old = alloc.job.as_ref().expect("allocations carry their job");
            if old.job_modify_index == job.job_modify_index {
                AllocUpdate::Ignore
            } else if tasks_updated(old, job, &group.name) {
                AllocUpdate::Destructive
            } else if alloc.terminal() {
                AllocUpdate::Ignore
            } else {
                let mut updated = alloc.clone();
                updated.job = Some(job.clone());
                updated.eval_id = self.eval_id.into();
                AllocUpdate::InPlace(updated)
            }
        };
        reconcile(ReconcileInput {
            namespace: "default",
            job_id: JOB,
            job: job.as_ref(),
            batch,
            existing: self.allocs.iter().cloned().map(Arc::new).collect(),
            tainted_nodes: &tainted,
            deployment: self.deployment.clone().map(Arc::new),
            eval_id: self.eval_id,
            eval_priority: 50,
            now: NOW,
            update_fn: &update_fn,
        })
    }
}

/// The results in a comparable form: name indexes per action, stops with their
/// descriptions.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Summary {
    pub desired: DesiredUpdates,
    pub place: Vec<u64>,
    pub canary: Vec<u64>,
    pub stop: Vec<(u64, &'static str)>,
    pub destructive: Vec<u64>,
    pub inplace: Vec<u64>,
}

pub(super) fn summary(r: &ReconcileResults) -> Summary {
    let index = |name: &str| crate::structs::alloc_name_index(name);
    let descriptions = [
        ALLOC_NOT_NEEDED,
        ALLOC_LOST,
        crate::structs::ALLOC_MIGRATING,
        crate::structs::ALLOC_RESCHEDULED,
        crate::structs::ALLOC_UPDATING,
    ];
    Summary {
        desired: r.desired_tg_updates.get(GROUP).cloned().unwrap_or_default(),
        place: r
            .place
            .iter()
            .filter(|p| !p.canary)
            .map(|p| index(&p.name))
            .collect(),
        canary: r
            .place
            .iter()
            .filter(|p| p.canary)
            .map(|p| index(&p.name))
            .collect(),
        stop: r
            .stop
            .iter()
            .map(|s| {
                let desc = descriptions
                    .iter()
                    .find(|d| **d == s.description)
                    .expect("a known description");
                (s.alloc.index(), *desc)
            })
            .collect(),
        destructive: r.destructive.iter().map(|d| index(&d.name)).collect(),
        inplace: r.inplace.iter().map(|a| a.index()).collect(),
    }
}

/// `DesiredUpdates` from (field, value) pairs, for compact expectations.
pub(super) fn desired(pairs: &[(&str, u64)]) -> DesiredUpdates {
    let mut d = DesiredUpdates::default();
    for &(field, n) in pairs {
        let slot = match field {
            "place" => &mut d.place,
            "stop" => &mut d.stop,
            "ignore" => &mut d.ignore,
            "inplace" => &mut d.in_place_update,
            "destructive" => &mut d.destructive_update,
            "canary" => &mut d.canary,
            "migrate" => &mut d.migrate,
            "reschedule_now" => &mut d.reschedule_now,
            "reschedule_later" => &mut d.reschedule_later,
            other => panic!("unknown field {other}"),
        };
        *slot = n;
    }
    d
}
