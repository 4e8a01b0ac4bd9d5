//! Placing: replacements for rescheduled, lost and migrating allocations, new ones up
//! to the count, and the destructive updates the deployment's parallelism allows.

use std::collections::BTreeMap;

use super::deployment::rolling;
use super::group::GroupPass;
use super::names::NameIndex;
use super::sets::{name_order, AllocSet};
use super::{DestructiveRequest, PlaceRequest};
use crate::structs::{ALLOC_MIGRATING, ALLOC_RESCHEDULED, ALLOC_UPDATING};

impl GroupPass<'_, '_> {
    /// How many more allocations may be replaced in this pass: the whole count without
    /// a rolling update (or with nothing to replace), else `max_parallel` less the
    /// deployment's allocations that are not healthy yet; nothing while the deployment
    /// is paused or failed, canaries await promotion, or one of its allocations is
    /// unhealthy.
    pub(super) fn parallel_budget(
        &self,
        untainted: &AllocSet,
        destructive: &AllocSet,
        migrate: &AllocSet,
        canarying: bool,
    ) -> usize {
        let update = rolling(self.group, self.cx.batch);
        let Some(update) = update.filter(|_| destructive.len() + migrate.len() > 0) else {
            return self.count as usize;
        };
        let max_parallel = update.max_parallel.unwrap_or_default().max(0);
        let Some(current) = self.cx.current else {
            return max_parallel as usize;
        };
        if self.cx.paused() || self.cx.failed() || canarying {
            return 0;
        }
        let mut budget = max_parallel;
        for alloc in untainted.values().filter(|a| a.deployment_id == current.id) {
            let status = alloc.deployment_status.as_ref();
            if status.is_some_and(|s| s.is_unhealthy()) {
                return 0;
            }
            if !status.is_some_and(|s| s.is_healthy()) {
                budget -= 1;
            }
        }
        budget.max(0) as usize
    }

    /// Replacements for rescheduled and lost allocations, then new names up to the
    /// count. Lost allocations are replaced only while the group is short.
    pub(super) fn compute_placements(
        &self,
        names: &mut NameIndex,
        untainted: &AllocSet,
        migrate: &AllocSet,
        reschedule: &AllocSet,
        lost: &AllocSet,
    ) -> Vec<PlaceRequest> {
        let mut place = Vec::new();
        for alloc in name_order(reschedule) {
            place.push(PlaceRequest {
                reschedule: true,
                canary: alloc.is_canary(),
                previous_alloc: Some(alloc.clone()),
                ..self.placement(alloc.name.clone(), false)
            });
        }
        let mut existing = (untainted.len() + migrate.len() + reschedule.len()) as u64;
        for alloc in name_order(lost) {
            if existing >= self.count {
                break;
            }
            existing += 1;
            place.push(PlaceRequest {
                lost: true,
                canary: alloc.is_canary(),
                previous_alloc: Some(alloc.clone()),
                ..self.placement(alloc.name.clone(), false)
            });
        }
        if existing < self.count {
            for name in names.next((self.count - existing) as usize) {
                place.push(self.placement(name, false));
            }
        }
        place
    }

    /// Takes the placements the deployment allows: all of them when it may roll out,
    /// otherwise only replacements of lost and failed allocations (failed ones not when
    /// they belong to the failed deployment). Stops the failed allocations replaced.
    /// Returns the parallel budget left.
    pub(super) fn place_allocs(
        &mut self,
        ready: bool,
        place: Vec<PlaceRequest>,
        migrate: &AllocSet,
        reschedule: &AllocSet,
        budget: usize,
    ) -> usize {
        let taken = place.len();
        let failed_deployment = self.cx.current.filter(|_| self.cx.failed());
        for p in place {
            let keep = ready
                || p.lost
                || (p.reschedule
                    && !p.previous_alloc.as_ref().is_some_and(|prev| {
                        failed_deployment.is_some_and(|d| d.id == prev.deployment_id)
                    }));
            if !keep {
                continue;
            }
            if let Some(prev) = p.previous_alloc.as_ref().filter(|_| p.reschedule) {
                // A migrating allocation is stopped by its migration.
                if !migrate.contains_key(&prev.id) && reschedule.contains_key(&prev.id) {
                    self.stop(prev.clone(), None, ALLOC_RESCHEDULED, None);
                    self.out.desired.stop += 1;
                    self.out.desired.reschedule_now += 1;
                }
            }
            self.out.desired.place += 1;
            self.out.place.push(p);
        }
        if ready {
            budget - taken.min(budget)
        } else {
            budget
        }
    }

    /// Replaces up to `budget` allocations of older versions, in name order; the rest
    /// wait for a later pass.
    pub(super) fn destructive_updates(&mut self, destructive: &AllocSet, budget: usize) {
        let n = destructive.len().min(budget);
        for alloc in name_order(destructive).into_iter().take(n) {
            self.out.destructive.push(DestructiveRequest {
                name: alloc.name.clone(),
                task_group: self.group.name.clone(),
                stop_alloc: alloc,
                description: ALLOC_UPDATING.into(),
            });
        }
        self.out.desired.destructive_update += n as u64;
        self.out.desired.ignore += (destructive.len() - n) as u64;
    }

    /// Stops migrating allocations and places each again elsewhere (a batch allocation
    /// stopped to be rescheduled is placed by the reschedule instead).
    pub(super) fn compute_migrations(
        &mut self,
        migrate: &AllocSet,
        followups: &BTreeMap<String, String>,
    ) {
        self.out.desired.migrate += migrate.len() as u64;
        for alloc in name_order(migrate) {
            self.stop(
                alloc.clone(),
                None,
                ALLOC_MIGRATING,
                followups.get(&alloc.id).cloned(),
            );
            if self.cx.batch && alloc.desired_transition.reschedule == Some(true) {
                continue;
            }
            self.out.place.push(PlaceRequest {
                canary: alloc.is_canary(),
                previous_alloc: Some(alloc.clone()),
                ..self.placement(alloc.name.clone(), false)
            });
        }
    }

    /// Never more placements than the count in one pass. A dropped replacement keeps
    /// its failed or migrating allocation (the stop is withdrawn too); the counts follow.
    pub(super) fn limit_placements(&mut self) {
        let count = self.count as usize;
        if self.out.place.len() <= count {
            return;
        }
        for p in self.out.place.split_off(count) {
            let withdrawn = p
                .previous_alloc
                .as_ref()
                .filter(|_| !p.lost)
                .and_then(|prev| self.out.stop.iter().position(|s| s.alloc.id == prev.id))
                .map(|i| self.out.stop.remove(i).description);
            let desired = &mut self.out.desired;
            match withdrawn.as_deref() {
                Some(ALLOC_MIGRATING) => desired.migrate = desired.migrate.saturating_sub(1),
                Some(ALLOC_RESCHEDULED) => {
                    desired.stop = desired.stop.saturating_sub(1);
                    desired.reschedule_now = desired.reschedule_now.saturating_sub(1);
                    desired.place = desired.place.saturating_sub(1);
                }
                _ if p.canary => desired.canary = desired.canary.saturating_sub(1),
                _ => desired.place = desired.place.saturating_sub(1),
            }
        }
    }
}
