//! Applying commands to the tables. Deterministic: the same entries in the same order
//! give the same tables, which is what makes log replay (and later replication) work.

use std::sync::Arc;

use imbl::{OrdMap, OrdSet};

use super::{job_key, Command, DeploymentChange, Entry, JobKey, PlanApply, Tables};
use crate::structs::{
    AllocDeploymentStatus, Allocation, Deployment, Evaluation, Job, ALLOC_CLIENT_PENDING,
    ALLOC_DESIRED_RUN, EVAL_COMPLETE, NODE_ELIGIBLE,
};

/// What would make a command impossible, checked before it is logged.
pub(super) fn check(t: &Tables, command: &Command) -> Result<(), String> {
    match command {
        Command::JobDeregister {
            namespace, job_id, ..
        }
        | Command::JobStability {
            namespace, job_id, ..
        } if !t.jobs.contains_key(&job_key(namespace, job_id)) => Err("job not found".into()),
        Command::NodeStatus { node_id, .. }
        | Command::NodeEligibility { node_id, .. }
        | Command::NodeDrain { node_id, .. }
        | Command::NodeDeregister { node_id }
            if !t.nodes.contains_key(node_id) =>
        {
            Err("node not found".into())
        }
        Command::DeploymentPromote { deployment_id, .. }
        | Command::DeploymentAllocHealth { deployment_id, .. }
            if !t.deployments.contains_key(deployment_id) =>
        {
            Err("deployment not found".into())
        }
        Command::DeploymentStatus(change)
            if !t.deployments.contains_key(&change.update.deployment_id) =>
        {
            Err("deployment not found".into())
        }
        _ => Ok(()),
    }
}

pub(super) fn apply(t: &mut Tables, entry: Entry) {
    let Entry {
        index,
        now,
        command,
    } = entry;
    t.index = index;
    let mut cx = Cx { t, index, now };
    match command {
        Command::JobRegister {
            job,
            eval,
            submission,
        } => {
            let stored = cx.register_job(*job);
            if let Some(sub) = submission {
                let key = (stored.namespace.clone(), stored.id.clone(), stored.version);
                cx.t.job_submissions.insert(key, sub);
            }
            if let Some(mut eval) = eval {
                // The eval is for the version the register left stored.
                eval.job_modify_index = stored.job_modify_index;
                cx.upsert_eval(*eval);
            }
        }
        Command::JobDeregister {
            namespace,
            job_id,
            purge,
            eval,
        } => {
            let key = job_key(&namespace, &job_id);
            if purge {
                cx.t.jobs.remove(&key);
                cx.t.job_versions.remove(&key);
                cx.t.periodic_launches.remove(&key);
                cx.t.queued.remove(&key);
                let subs: Vec<_> =
                    cx.t.job_submissions
                        .keys()
                        .filter(|(ns, id, _)| ns == &namespace && id == &job_id)
                        .cloned()
                        .collect();
                for k in subs {
                    cx.t.job_submissions.remove(&k);
                }
                cx.t.table_index.jobs = index;
            } else if let Some(job) = cx.t.jobs.get(&key).cloned() {
                if !job.stop {
                    let mut stopped = (*job).clone();
                    stopped.stop = true;
                    cx.register_job(stopped);
                }
            }
            if let Some(eval) = eval {
                cx.upsert_eval(*eval);
            }
        }
        Command::JobStability {
            namespace,
            job_id,
            version,
            stable,
        } => cx.set_stability(&job_key(&namespace, &job_id), version, stable),
        Command::PeriodicLaunch {
            namespace,
            job_id,
            launch,
        } => {
            cx.t.periodic_launches
                .insert(job_key(&namespace, &job_id), launch);
        }
        Command::EvalUpsert { evals } => evals.into_iter().for_each(|e| cx.upsert_eval(e)),
        Command::PlanApply(plan) => cx.apply_plan(*plan),
        Command::AllocClientUpdate { allocs, evals } => {
            for update in allocs {
                let Some(old) = cx.t.allocs.get(update.alloc_id.as_str()).cloned() else {
                    continue;
                };
                let mut alloc = (*old).clone();
                alloc.client_status = update.client_status;
                alloc.client_description = update.client_description;
                alloc.task_states = update.task_states;
                if let Some(status) = update.deployment_status {
                    cx.set_alloc_health(&mut alloc, status.healthy, status.timestamp);
                }
                alloc.modify_index = index;
                alloc.modify_time = now;
                cx.put_alloc(alloc);
            }
            evals.into_iter().for_each(|e| cx.upsert_eval(e));
        }
        Command::AllocDesiredTransition {
            alloc_ids,
            migrate,
            evals,
        } => {
            for id in alloc_ids {
                if let Some(old) = cx.t.allocs.get(id.as_str()).cloned() {
                    let mut alloc = (*old).clone();
                    alloc.desired_transition.migrate = Some(migrate);
                    alloc.modify_index = index;
                    alloc.modify_time = now;
                    cx.put_alloc(alloc);
                }
            }
            evals.into_iter().for_each(|e| cx.upsert_eval(e));
        }
        Command::NodeRegister { node, evals } => {
            let mut node = *node;
            match cx.t.nodes.get(&node.id) {
                Some(old) => {
                    node.create_index = old.create_index;
                    // Operator decisions survive a client re-registering.
                    node.drain = old.drain;
                    node.scheduling_eligibility = old.scheduling_eligibility.clone();
                }
                None => node.create_index = index,
            }
            if node.scheduling_eligibility.is_empty() {
                node.scheduling_eligibility = NODE_ELIGIBLE.into();
            }
            node.modify_index = index;
            node.status_updated_at = now / 1_000_000_000;
            cx.t.nodes.insert(node.id.clone(), Arc::new(node));
            cx.t.table_index.nodes = index;
            evals.into_iter().for_each(|e| cx.upsert_eval(e));
        }
        Command::NodeStatus {
            node_id,
            status,
            evals,
        } => {
            cx.update_node(&node_id, |n| {
                if n.status != status {
                    n.status_updated_at = now / 1_000_000_000;
                }
                n.status = status;
            });
            evals.into_iter().for_each(|e| cx.upsert_eval(e));
        }
        Command::NodeEligibility {
            node_id,
            eligibility,
            evals,
        } => {
            cx.update_node(&node_id, |n| n.scheduling_eligibility = eligibility);
            evals.into_iter().for_each(|e| cx.upsert_eval(e));
        }
        Command::NodeDrain {
            node_id,
            drain,
            evals,
        } => {
            cx.update_node(&node_id, |n| {
                n.drain = drain;
                n.scheduling_eligibility = if drain {
                    crate::structs::NODE_INELIGIBLE.into()
                } else {
                    NODE_ELIGIBLE.into()
                };
            });
            evals.into_iter().for_each(|e| cx.upsert_eval(e));
        }
        Command::NodeDeregister { node_id } => {
            cx.t.nodes.remove(&node_id);
            cx.t.table_index.nodes = index;
        }
        Command::DeploymentStatus(change) => cx.apply_deployment_change(*change),
        Command::DeploymentPromote {
            deployment_id,
            groups,
            eval,
        } => {
            cx.update_deployment(&deployment_id, |d| {
                for (name, state) in d.task_groups.iter_mut() {
                    if state.desired_canaries > 0 && (groups.is_empty() || groups.contains(name)) {
                        state.promoted = true;
                    }
                }
                if !d.requires_promotion() {
                    d.status_description = crate::structs::DESC_RUNNING.into();
                }
            });
            if let Some(eval) = eval {
                cx.upsert_eval(*eval);
            }
        }
        Command::DeploymentAllocHealth {
            deployment_id,
            healthy,
            unhealthy,
            change,
        } => {
            let ts = crate::structs::time::rfc3339(now);
            for (ids, verdict) in [(healthy, true), (unhealthy, false)] {
                for id in ids {
                    let Some(old) = cx.t.allocs.get(id.as_str()).cloned() else {
                        continue;
                    };
                    if old.deployment_id != deployment_id {
                        continue;
                    }
                    let mut alloc = (*old).clone();
                    cx.set_alloc_health(&mut alloc, Some(verdict), ts.clone());
                    alloc.modify_index = index;
                    alloc.modify_time = now;
                    cx.put_alloc(alloc);
                }
            }
            if let Some(change) = change {
                cx.apply_deployment_change(*change);
            }
        }
    }
}

struct Cx<'a> {
    t: &'a mut Tables,
    index: u64,
    now: i64,
}

impl Cx<'_> {
    /// Stores a job: a new version when its spec changed, else the job stays as is.
    fn register_job(&mut self, mut job: Job) -> Arc<Job> {
        let key = job_key(&job.namespace, &job.id);
        if let Some(old) = self.t.jobs.get(&key).cloned() {
            if !spec_changed(&old, &job) {
                return old;
            }
            job.version = old.version + 1;
            job.create_index = old.create_index;
        } else {
            job.version = 0;
            job.create_index = self.index;
        }
        job.modify_index = self.index;
        job.job_modify_index = self.index;
        job.submit_time = self.now;
        job.stable = false;
        job.status.clear();
        job.status_description.clear();
        let job = Arc::new(job);
        self.t.jobs.insert(key.clone(), job.clone());
        let mut versions = self.t.job_versions.get(&key).cloned().unwrap_or_default();
        versions.push_front(job.clone());
        versions.truncate(super::JOB_TRACKED_VERSIONS);
        self.t.job_versions.insert(key, versions);
        self.t.table_index.jobs = self.index;
        job
    }

    fn set_stability(&mut self, key: &JobKey, version: u64, stable: bool) {
        let Some(mut versions) = self.t.job_versions.get(key).cloned() else {
            return;
        };
        for v in versions.iter_mut() {
            if v.version == version {
                let mut job = (**v).clone();
                job.stable = stable;
                *v = Arc::new(job);
            }
        }
        if let Some(current) = self.t.jobs.get(key).cloned() {
            if current.version == version {
                let mut job = (*current).clone();
                job.stable = stable;
                job.modify_index = self.index;
                self.t.jobs.insert(key.clone(), Arc::new(job));
            }
        }
        self.t.job_versions.insert(key.clone(), versions);
        self.t.table_index.jobs = self.index;
    }

    fn upsert_eval(&mut self, mut eval: Evaluation) {
        match self.t.evals.get(&eval.id) {
            Some(old) => {
                eval.create_index = old.create_index;
                eval.create_time = old.create_time;
            }
            None => {
                eval.create_index = self.index;
                if eval.create_time == 0 {
                    eval.create_time = self.now;
                }
            }
        }
        eval.modify_index = self.index;
        eval.modify_time = self.now;
        let key = job_key(&eval.namespace, &eval.job_id);
        // A finished eval says what is still queued; a blocked one only when it knows.
        let blocked = eval.status == crate::structs::EVAL_BLOCKED;
        if eval.status == EVAL_COMPLETE || (blocked && !eval.queued_allocations.is_empty()) {
            self.t
                .queued
                .insert(key.clone(), eval.queued_allocations.clone());
        }
        if eval.status == EVAL_COMPLETE && eval.failed_tg_allocs.is_empty() {
            self.cancel_blocked_evals(&key, &eval.id);
        }
        insert_into(&mut self.t.evals_by_job, key, eval.id.clone());
        self.t.evals.insert(eval.id.clone(), Arc::new(eval));
        self.t.table_index.evals = self.index;
    }

    /// Nomad: an eval that placed everything supersedes the job's blocked evals.
    fn cancel_blocked_evals(&mut self, key: &JobKey, by: &str) {
        let Some(ids) = self.t.evals_by_job.get(key).cloned() else {
            return;
        };
        for id in ids.iter().filter(|id| id.as_str() != by) {
            let Some(old) = self.t.evals.get(id) else {
                continue;
            };
            if old.status != crate::structs::EVAL_BLOCKED {
                continue;
            }
            let mut canceled = (**old).clone();
            canceled.status = crate::structs::EVAL_CANCELED.into();
            canceled.status_description = format!("evaluation {by:?} successful");
            canceled.modify_index = self.index;
            canceled.modify_time = self.now;
            self.t.evals.insert(id.clone(), Arc::new(canceled));
        }
    }

    /// Stores an allocation and keeps the job and node indexes in step.
    fn put_alloc(&mut self, alloc: Allocation) {
        let old = self.t.allocs.get(alloc.id.as_str()).cloned();
        super::node_usage::track(&mut self.t.node_usage, old.as_deref(), &alloc);
        let key = job_key(&alloc.namespace, &alloc.job_id);
        insert_into(&mut self.t.allocs_by_job, key, alloc.id.clone());
        insert_into(
            &mut self.t.allocs_by_node,
            alloc.node_id.clone(),
            alloc.id.clone(),
        );
        self.t
            .allocs
            .insert(Arc::from(alloc.id.as_str()), Arc::new(alloc));
        self.t.table_index.allocs = self.index;
    }

    fn apply_plan(&mut self, plan: PlanApply) {
        let PlanApply {
            eval_id: _,
            job,
            allocs,
            stops,
            deployment,
            deployment_updates,
            evals,
        } = plan;
        // Share the stored job when the plan's is that version (it almost always is).
        let plan_job = job.map(|job| {
            let key = job_key(&job.namespace, &job.id);
            match self.t.jobs.get(&key) {
                Some(stored)
                    if stored.version == job.version
                        && stored.job_modify_index == job.job_modify_index =>
                {
                    stored.clone()
                }
                _ => Arc::new(job),
            }
        });
        if let Some(mut d) = deployment {
            match self.t.deployments.get(&d.id) {
                Some(old) => {
                    d.create_index = old.create_index;
                    d.create_time = old.create_time;
                }
                None => {
                    d.create_index = self.index;
                    d.create_time = self.now;
                }
            }
            d.modify_index = self.index;
            d.modify_time = self.now;
            let key = job_key(&d.namespace, &d.job_id);
            insert_into(&mut self.t.deployments_by_job, key, d.id.clone());
            self.t.deployments.insert(d.id.clone(), Arc::new(d));
            self.t.table_index.deployments = self.index;
        }
        for update in deployment_updates {
            self.apply_deployment_change(DeploymentChange {
                update,
                ..Default::default()
            });
        }
        for stop in stops {
            let Some(old) = self.t.allocs.get(stop.alloc_id.as_str()).cloned() else {
                continue;
            };
            let mut alloc = (*old).clone();
            alloc.desired_status = stop.desired_status;
            alloc.desired_description = stop.desired_description;
            if let Some(status) = stop.client_status {
                alloc.client_status = status;
            }
            if let Some(next) = stop.next_allocation {
                alloc.next_allocation = next;
            }
            if let Some(eval) = stop.followup_eval_id {
                alloc.followup_eval_id = eval;
            }
            alloc.modify_index = self.index;
            alloc.alloc_modify_index = self.index;
            alloc.modify_time = self.now;
            self.put_alloc(alloc);
        }
        for mut alloc in allocs {
            if alloc.job.is_none() {
                alloc.job = plan_job.clone();
            }
            match self.t.allocs.get(alloc.id.as_str()).cloned() {
                Some(old) => {
                    // The client owns these; a server-side update never rolls them back.
                    alloc.create_index = old.create_index;
                    alloc.create_time = old.create_time;
                    alloc.client_status = old.client_status.clone();
                    alloc.client_description = old.client_description.clone();
                    alloc.task_states = old.task_states.clone();
                    if alloc.deployment_id != old.deployment_id {
                        // An in-place update into a new deployment is placed in it (as
                        // Nomad counts it) and its health is judged afresh there.
                        alloc.deployment_status = None;
                        self.count_placement(&alloc);
                    } else if alloc.deployment_status.is_none() {
                        alloc.deployment_status = old.deployment_status.clone();
                    }
                }
                None => {
                    alloc.create_index = self.index;
                    alloc.create_time = self.now;
                    if alloc.client_status.is_empty() {
                        alloc.client_status = ALLOC_CLIENT_PENDING.into();
                    }
                    if alloc.desired_status.is_empty() {
                        alloc.desired_status = ALLOC_DESIRED_RUN.into();
                    }
                    self.count_placement(&alloc);
                }
            }
            alloc.modify_index = self.index;
            alloc.alloc_modify_index = self.index;
            alloc.modify_time = self.now;
            self.put_alloc(alloc);
        }
        evals.into_iter().for_each(|e| self.upsert_eval(e));
    }

    /// A new allocation of a deployment counts as placed (and as a canary if it is one);
    /// the first placement starts the progress deadline.
    fn count_placement(&mut self, alloc: &Allocation) {
        if alloc.deployment_id.is_empty() {
            return;
        }
        let canary = alloc.is_canary();
        let (id, group, now) = (alloc.id.clone(), alloc.task_group.clone(), self.now);
        self.update_deployment(&alloc.deployment_id, |d| {
            if let Some(state) = d.task_groups.get_mut(&group) {
                state.placed_allocs += 1;
                if canary {
                    state.placed_canaries.push(id);
                }
                if state.progress_deadline > 0
                    && crate::structs::time::parse_rfc3339(&state.require_progress_by).is_none()
                {
                    state.require_progress_by =
                        crate::structs::time::rfc3339(now + state.progress_deadline);
                }
            }
        });
    }

    /// Records the client's health verdict and counts it in the deployment once.
    fn set_alloc_health(&mut self, alloc: &mut Allocation, healthy: Option<bool>, ts: String) {
        let before = alloc.deployment_status.as_ref().and_then(|s| s.healthy);
        // Only news counts (Nomad): a repeated or empty verdict leaves the status and its
        // ModifyIndex alone, so the deployment watcher does not see fresh health.
        if healthy.is_none() || healthy == before {
            return;
        }
        let status = alloc
            .deployment_status
            .get_or_insert_with(AllocDeploymentStatus::default);
        status.healthy = healthy;
        status.timestamp = ts;
        status.modify_index = self.index;
        if before.is_some() || healthy.is_none() || alloc.deployment_id.is_empty() {
            return;
        }
        let (group, now) = (alloc.task_group.clone(), self.now);
        self.update_deployment(&alloc.deployment_id.clone(), |d| {
            if let Some(state) = d.task_groups.get_mut(&group) {
                if healthy == Some(true) {
                    state.healthy_allocs += 1;
                    // Each newly healthy allocation pushes the progress deadline out.
                    if state.progress_deadline > 0 {
                        state.require_progress_by =
                            crate::structs::time::rfc3339(now + state.progress_deadline);
                    }
                } else {
                    state.unhealthy_allocs += 1;
                }
            }
        });
    }

    fn apply_deployment_change(&mut self, change: DeploymentChange) {
        let DeploymentChange { update, job, eval } = change;
        // A finished deployment stays as it ended: the watcher and the reconciler may
        // both decide its end from the same state, and the first one wins.
        let Some(current) = self.t.deployments.get(&update.deployment_id).cloned() else {
            return;
        };
        if !current.active() {
            return;
        }
        self.update_deployment(&update.deployment_id, |d| {
            d.status = update.status.clone();
            d.status_description = update.status_description.clone();
        });
        // Nomad: the job version of a successful deployment is stable.
        if update.status == crate::structs::DEPLOYMENT_SUCCESSFUL {
            let key = job_key(&current.namespace, &current.job_id);
            self.set_stability(&key, current.job_version, true);
        }
        if let Some(job) = job {
            self.register_job(job);
        }
        if let Some(eval) = eval {
            self.upsert_eval(eval);
        }
    }

    fn update_deployment(&mut self, id: &str, f: impl FnOnce(&mut Deployment)) {
        let Some(old) = self.t.deployments.get(id).cloned() else {
            return;
        };
        let mut d = (*old).clone();
        f(&mut d);
        d.modify_index = self.index;
        d.modify_time = self.now;
        self.t.deployments.insert(d.id.clone(), Arc::new(d));
        self.t.table_index.deployments = self.index;
    }

    fn update_node(&mut self, id: &str, f: impl FnOnce(&mut crate::structs::Node)) {
        let Some(old) = self.t.nodes.get(id).cloned() else {
            return;
        };
        let mut node = (*old).clone();
        f(&mut node);
        node.modify_index = self.index;
        self.t.nodes.insert(node.id.clone(), Arc::new(node));
        self.t.table_index.nodes = self.index;
    }
}

/// Adds `id` to the set under `key`, mutating in place: after the first change in an
/// apply the path is this table's own, so further inserts copy nothing (taking the set
/// out and putting it back would copy a leaf of up to 64 IDs every time).
fn insert_into<K: Ord + Clone>(map: &mut OrdMap<K, OrdSet<String>>, key: K, id: String) {
    match map.get_mut(&key) {
        Some(set) => {
            if !set.contains(&id) {
                set.insert(id);
            }
        }
        None => {
            map.insert(key, OrdSet::unit(id));
        }
    }
}

/// Nomad's `SpecChanged`: does `new` differ from `old` in anything but bookkeeping?
pub fn spec_changed(old: &Job, new: &Job) -> bool {
    let strip = |j: &Job| Job {
        status: String::new(),
        status_description: String::new(),
        stable: false,
        version: 0,
        create_index: 0,
        modify_index: 0,
        job_modify_index: 0,
        submit_time: 0,
        ..j.clone()
    };
    strip(old) != strip(new)
}
