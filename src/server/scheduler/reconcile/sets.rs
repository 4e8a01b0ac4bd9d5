//! Sets of allocations keyed by ID, and the filters that sort a group's allocations into
//! what the reconciler treats differently.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::structs::{Allocation, Job, Node, NODE_STATUS_DISCONNECTED, NODE_STATUS_DOWN};

/// Allocations by ID (ordered, so every pass decides the same way).
pub(super) type AllocSet = BTreeMap<String, Arc<Allocation>>;

/// `set` without the allocations of `others`.
pub(super) fn difference(set: &AllocSet, others: &[&AllocSet]) -> AllocSet {
    set.iter()
        .filter(|(id, _)| !others.iter().any(|o| o.contains_key(*id)))
        .map(|(id, a)| (id.clone(), a.clone()))
        .collect()
}

pub(super) fn union(sets: &[&AllocSet]) -> AllocSet {
    let mut out = AllocSet::new();
    for set in sets {
        out.extend(set.iter().map(|(id, a)| (id.clone(), a.clone())));
    }
    out
}

/// The allocations in `set` whose IDs are listed.
pub(super) fn from_ids<'a>(set: &AllocSet, ids: impl IntoIterator<Item = &'a String>) -> AllocSet {
    ids.into_iter()
        .filter_map(|id| set.get(id).map(|a| (id.clone(), a.clone())))
        .collect()
}

pub(super) fn names(set: &AllocSet) -> BTreeSet<String> {
    set.values().map(|a| a.name.clone()).collect()
}

/// By name index, then ID: the order destructive updates and migrations go in.
pub(super) fn name_order(set: &AllocSet) -> Vec<Arc<Allocation>> {
    let mut out: Vec<_> = set.values().cloned().collect();
    out.sort_by(|a, b| a.index().cmp(&b.index()).then_with(|| a.id.cmp(&b.id)));
    out
}

/// Drops allocations the server already stopped, except a batch job's (a finished
/// batch allocation still counts, unless it was stopped to be rescheduled).
pub(super) fn filter_server_terminal(set: &AllocSet, batch: bool) -> AllocSet {
    set.iter()
        .filter(|(_, a)| {
            !a.server_terminal() || (batch && a.desired_transition.reschedule != Some(true))
        })
        .map(|(id, a)| (id.clone(), a.clone()))
        .collect()
}

/// Batch jobs: terminal allocations of older job versions are done with (ignored).
/// Returns (remaining, ignored).
pub(super) fn filter_old_terminal(set: &AllocSet, job: &Job, batch: bool) -> (AllocSet, AllocSet) {
    if !batch {
        return (set.clone(), AllocSet::new());
    }
    set.iter()
        .map(|(id, a)| (id.clone(), a.clone()))
        .partition(|(_, a)| {
            let older = a
                .job
                .as_ref()
                .is_some_and(|j| j.version < job.version || j.create_index < job.create_index);
            !(older && a.terminal())
        })
}

/// A group's allocations by what their node (or the server) says about them.
#[derive(Debug, Default)]
pub(super) struct Classified {
    /// Where they are: to be kept, updated or stopped by count.
    pub untainted: AllocSet,
    /// On a draining node, or asked to move: stop and place elsewhere.
    pub migrate: AllocSet,
    /// On a node that is down or gone: replaced.
    pub lost: AllocSet,
    /// Stopped already: nothing to do but count them.
    pub ignore: AllocSet,
}

pub(super) fn classify(
    set: &AllocSet,
    tainted: &BTreeMap<String, Option<Arc<Node>>>,
) -> Classified {
    let mut out = Classified::default();
    for (id, alloc) in set {
        let bucket = match classify_one(alloc, tainted) {
            Class::Untainted => &mut out.untainted,
            Class::Migrate => &mut out.migrate,
            Class::Lost => &mut out.lost,
            Class::Ignore => &mut out.ignore,
        };
        bucket.insert(id.clone(), alloc.clone());
    }
    out
}

enum Class {
    Untainted,
    Migrate,
    Lost,
    Ignore,
}

/// First matching rule wins (Nomad's order, without disconnect handling: a
/// disconnected node counts as down).
fn classify_one(alloc: &Allocation, tainted: &BTreeMap<String, Option<Arc<Node>>>) -> Class {
    let wants_migrate = alloc.desired_transition.migrate == Some(true);
    if alloc.terminal() && alloc.server_terminal() {
        return Class::Ignore;
    }
    if alloc.terminal() {
        // A finished canary asked to move is replaced like a migration.
        return if alloc.is_canary() && wants_migrate {
            Class::Migrate
        } else {
            Class::Untainted
        };
    }
    if wants_migrate {
        return Class::Migrate;
    }
    match tainted.get(&alloc.node_id) {
        None => Class::Untainted,
        Some(None) => Class::Lost,
        Some(Some(node))
            if node.status == NODE_STATUS_DOWN || node.status == NODE_STATUS_DISCONNECTED =>
        {
            Class::Lost
        }
        Some(Some(node)) if node.drain => Class::Migrate,
        Some(Some(_)) => Class::Untainted,
    }
}

/// Whether the allocation sits on a node that is down or gone.
pub(super) fn on_lost_node(
    alloc: &Allocation,
    tainted: &BTreeMap<String, Option<Arc<Node>>>,
) -> bool {
    matches!(classify_one(alloc, tainted), Class::Lost)
}
