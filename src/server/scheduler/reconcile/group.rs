//! One task group's reconciliation.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::deployment::{new_group_state, rolling};
use super::names::NameIndex;
use super::reschedule::{filter_by_rescheduleable, followup_evals, RescheduleContext};
use super::sets::{
    classify, difference, filter_old_terminal, filter_server_terminal, from_ids, name_order, union,
    AllocSet,
};
use super::{
    stop_request, AllocUpdate, AllocUpdateFn, DestructiveRequest, PlaceRequest, StopRequest,
};
use crate::structs::diff::DesiredUpdates;
use crate::structs::{
    Allocation, Deployment, DeploymentState, Evaluation, Job, Node, TaskGroup, ALLOC_CLIENT_LOST,
    ALLOC_LOST, ALLOC_MIGRATING, ALLOC_NOT_NEEDED, DEPLOYMENT_FAILED, DEPLOYMENT_PAUSED,
    DEPLOYMENT_PENDING,
};

/// What every group's pass reads.
pub(super) struct GroupContext<'a> {
    pub job: &'a Arc<Job>,
    pub batch: bool,
    pub tainted: &'a BTreeMap<String, Option<Arc<Node>>>,
    pub eval_id: &'a str,
    pub eval_priority: i64,
    pub now: i64,
    pub update_fn: &'a AllocUpdateFn<'a>,
    /// A deployment of an older version, a finished one, or one just cancelled.
    pub old: Option<&'a Deployment>,
    /// The deployment of the current job version.
    pub current: Option<&'a Deployment>,
}

impl GroupContext<'_> {
    /// Nothing new is rolled out while the deployment is paused (or not started).
    pub fn paused(&self) -> bool {
        self.current
            .is_some_and(|d| d.status == DEPLOYMENT_PAUSED || d.status == DEPLOYMENT_PENDING)
    }

    pub fn failed(&self) -> bool {
        self.current.is_some_and(|d| d.status == DEPLOYMENT_FAILED)
    }
}

/// One group's decisions.
#[derive(Debug, Default)]
pub(super) struct GroupOutcome {
    pub desired: DesiredUpdates,
    pub place: Vec<PlaceRequest>,
    pub destructive: Vec<DestructiveRequest>,
    pub inplace: Vec<Allocation>,
    pub stop: Vec<StopRequest>,
    pub followup_evals: Vec<Evaluation>,
    pub attribute_updates: Vec<Allocation>,
    /// Set when the group starts rolling out a new version: its state in the
    /// deployment to create (or to add it to).
    pub deployment_state: Option<DeploymentState>,
    /// Nothing left to place, replace, migrate or reschedule, no canary missing.
    pub done: bool,
}

/// The working state of one group's pass.
pub(super) struct GroupPass<'c, 'a> {
    pub cx: &'c GroupContext<'a>,
    pub group: &'a TaskGroup,
    pub count: u64,
    pub out: GroupOutcome,
}

pub(super) fn compute(cx: &GroupContext<'_>, name: &str, all: AllocSet) -> GroupOutcome {
    let all = filter_server_terminal(&all, cx.batch);
    let group = cx
        .job
        .task_groups
        .iter()
        .find(|g| g.name == name && g.count.unwrap_or_default() > 0);
    let Some(group) = group else {
        // Removed from the job or scaled to zero.
        let mut out = GroupOutcome {
            done: true,
            ..Default::default()
        };
        for alloc in name_order(&all) {
            out.stop
                .push(stop_request(alloc, cx.tainted, ALLOC_NOT_NEEDED));
        }
        out.desired.stop = out.stop.len() as u64;
        return out;
    };
    let mut pass = GroupPass {
        cx,
        group,
        count: group.count.unwrap_or_default() as u64,
        out: GroupOutcome::default(),
    };
    pass.run(all);
    pass.out
}

impl GroupPass<'_, '_> {
    fn run(&mut self, all: AllocSet) {
        let cx = self.cx;
        let (existing_state, mut state) =
            match cx.current.and_then(|d| d.task_groups.get(&self.group.name)) {
                Some(s) => (true, s.clone()),
                None => (false, new_group_state(self.group, cx.batch)),
            };

        let (all, old_done) = filter_old_terminal(&all, cx.job, cx.batch);
        self.out.desired.ignore += old_done.len() as u64;
        let (all, canaries) = self.cancel_unneeded_canaries(all);

        let classified = classify(&all, cx.tainted);
        self.out.desired.ignore += classified.ignore.len() as u64;
        let rcx = RescheduleContext {
            batch: cx.batch,
            now: cx.now,
            eval_id: cx.eval_id,
            deployment: cx.current,
        };
        let kept = filter_by_rescheduleable(&classified.untainted, &rcx);
        // Batch allocations stopped with `alloc stop` are migrating and rescheduled.
        let moved = filter_by_rescheduleable(&classified.migrate, &rcx);
        let mut untainted = kept.untainted;
        let mut migrate = classified.migrate;
        let lost = classified.lost;
        let reschedule_now = union(&[&kept.now, &moved.now]);
        let later: Vec<_> = kept.later.into_iter().chain(moved.later).collect();
        let followups = self.reschedule_later(&later, &migrate);

        let mut names = NameIndex::new(
            &cx.job.id,
            &self.group.name,
            self.count,
            &union(&[&untainted, &migrate, &reschedule_now, &lost]),
        );

        let canarying = state.desired_canaries != 0 && !state.promoted;
        self.compute_stop(
            &mut names,
            &mut untainted,
            &mut migrate,
            &lost,
            &canaries,
            canarying,
        );
        let (inplace, destructive) = self.compute_updates(&untainted);
        if canarying {
            untainted = difference(&untainted, &[&canaries]);
        }

        let update = rolling(self.group, cx.batch);
        let wanted_canaries = update.and_then(|u| u.canary).unwrap_or_default().max(0) as usize;
        let requires_canaries =
            !destructive.is_empty() && canaries.len() < wanted_canaries && !state.promoted;
        if requires_canaries {
            state.desired_canaries = wanted_canaries as u64;
            if !cx.paused() && !cx.failed() {
                let n = wanted_canaries - canaries.len();
                self.out.desired.canary += n as u64;
                for name in names.next_canaries(n, &canaries, &destructive) {
                    self.out.place.push(self.placement(name, true));
                }
            }
        }
        let canarying = state.desired_canaries != 0 && !state.promoted;

        let budget = self.parallel_budget(&untainted, &destructive, &migrate, canarying);
        let place =
            self.compute_placements(&mut names, &untainted, &migrate, &reschedule_now, &lost);
        let placed = place.len();
        let ready = !cx.paused() && !cx.failed() && !canarying;
        let budget = self.place_allocs(ready, place, &migrate, &reschedule_now, budget);
        if ready {
            self.destructive_updates(&destructive, budget);
        } else {
            self.out.desired.ignore += destructive.len() as u64;
        }
        self.compute_migrations(&migrate, &followups);

        let has_work = !destructive.is_empty() || !inplace.is_empty() || placed > 0;
        if !existing_state && update.is_some() && has_work {
            let updating_spec = !destructive.is_empty() || !inplace.is_empty();
            let had_running = all.values().any(|a| {
                a.job.as_ref().is_some_and(|j| {
                    j.version == cx.job.version && j.create_index == cx.job.create_index
                })
            });
            // A new version, or a job's first run: roll it out in a deployment.
            if updating_spec || !had_running {
                self.out.deployment_state = Some(state);
            }
        }
        self.limit_placements();

        self.out.done = destructive.is_empty()
            && inplace.is_empty()
            && self.out.place.is_empty()
            && migrate.is_empty()
            && reschedule_now.is_empty()
            && later.is_empty()
            && !requires_canaries;
    }

    /// Stops the unpromoted canaries of an older or failed deployment, and current
    /// canaries whose node is going away. Returns (the rest, current canaries).
    fn cancel_unneeded_canaries(&mut self, all: AllocSet) -> (AllocSet, AllocSet) {
        let cx = self.cx;
        let unpromoted = |d: &Deployment| -> Vec<String> {
            d.task_groups
                .values()
                .filter(|s| !s.promoted)
                .flat_map(|s| s.placed_canaries.iter().cloned())
                .collect()
        };
        let mut stale: Vec<String> = cx.old.map(unpromoted).unwrap_or_default();
        if let Some(d) = cx.current.filter(|_| cx.failed()) {
            stale.extend(unpromoted(d));
        }
        let stale = from_ids(&all, &stale);
        for alloc in stale.values() {
            self.stop(alloc.clone(), None, ALLOC_NOT_NEEDED, None);
        }
        self.out.desired.stop += stale.len() as u64;
        let all = difference(&all, &[&stale]);

        let Some(current) = cx.current else {
            return (all, AllocSet::new());
        };
        let ids: Vec<String> = current
            .task_groups
            .values()
            .flat_map(|s| s.placed_canaries.iter().cloned())
            .collect();
        let classified = classify(&from_ids(&all, &ids), cx.tainted);
        // Not counted: the deployment places them again.
        for alloc in name_order(&classified.migrate) {
            self.stop(alloc, None, ALLOC_MIGRATING, None);
        }
        for alloc in name_order(&classified.lost) {
            self.stop(alloc, Some(ALLOC_CLIENT_LOST), ALLOC_LOST, None);
        }
        let all = difference(&all, &[&classified.migrate, &classified.lost]);
        (all, classified.untainted)
    }

    /// Follow-up evaluations for allocations to reschedule after a delay; each gets the
    /// eval's ID. Returns alloc ID -> eval ID for the migrating ones (set on their stop).
    fn reschedule_later(
        &mut self,
        later: &[super::reschedule::Delayed],
        migrate: &AllocSet,
    ) -> BTreeMap<String, String> {
        if later.is_empty() {
            return BTreeMap::new();
        }
        let (by_alloc, evals) = followup_evals(later, self.cx.job, self.cx.eval_priority);
        for delayed in later {
            if migrate.contains_key(&delayed.alloc.id) {
                continue;
            }
            let mut alloc = (*delayed.alloc).clone();
            alloc.followup_eval_id = by_alloc[&alloc.id].clone();
            self.out.attribute_updates.push(alloc);
        }
        self.out.followup_evals = evals;
        self.out.desired.reschedule_later += later.len() as u64;
        by_alloc
    }

    /// Asks the scheduler how each allocation takes the job: unchanged, in place, or
    /// replaced. Returns (in place, destructive).
    fn compute_updates(&mut self, untainted: &AllocSet) -> (AllocSet, AllocSet) {
        let job = self.cx.job;
        let (mut inplace, mut destructive) = (AllocSet::new(), AllocSet::new());
        for alloc in name_order(untainted) {
            // Already runs this job version (a stability mark changes ModifyIndex only).
            let current = alloc
                .job
                .as_ref()
                .is_some_and(|j| j.job_modify_index == job.job_modify_index);
            if current {
                self.out.desired.ignore += 1;
                continue;
            }
            match (self.cx.update_fn)(&alloc, job, self.group) {
                AllocUpdate::Ignore => self.out.desired.ignore += 1,
                AllocUpdate::InPlace(updated) => {
                    inplace.insert(alloc.id.clone(), alloc.clone());
                    self.out.inplace.push(updated);
                }
                AllocUpdate::Destructive => {
                    destructive.insert(alloc.id.clone(), alloc);
                }
            }
        }
        self.out.desired.in_place_update += inplace.len() as u64;
        (inplace, destructive)
    }

    pub(super) fn stop(
        &mut self,
        alloc: Arc<Allocation>,
        client_status: Option<&str>,
        description: &str,
        followup_eval_id: Option<String>,
    ) {
        self.out.stop.push(StopRequest {
            alloc,
            client_status: client_status.map(str::to_string),
            description: description.to_string(),
            followup_eval_id,
        });
    }

    pub(super) fn placement(&self, name: String, canary: bool) -> PlaceRequest {
        PlaceRequest {
            name,
            task_group: self.group.name.clone(),
            canary,
            previous_alloc: None,
            reschedule: false,
            lost: false,
        }
    }
}
