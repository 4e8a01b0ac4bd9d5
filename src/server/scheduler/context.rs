//! One evaluation's working state: the snapshot it reads, the plan it builds, and each
//! visited node's usage kept in step with that plan, so a placement sees the capacity
//! and ports that earlier placements (and stops) of the same plan took or freed.

use std::cell::{Ref, RefCell};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::operators::OperatorCache;
use super::usage::{JobIdentity, JobOnNode, NodeUsage};
use crate::server::plan::Plan;
use crate::server::state::{AllocStop, Snapshot};
use crate::structs::{Allocation, Evaluation, Job, Node};

pub(crate) struct EvalContext {
    pub snapshot: Snapshot,
    pub plan: Plan,
    pub job: JobIdentity,
    pub ops: OperatorCache,
    pub rng: RefCell<Rng>,
    usage: RefCell<IdMap<NodeUsage>>,
    /// The job's live allocations by node, as stored.
    job_on_nodes: IdMap<JobOnNode>,
    /// Snapshot allocations the plan stops or replaces: they hold nothing any more.
    removed: HashSet<String, BuildHasherDefault<Fnv>>,
    removed_by_node: IdMap<Vec<Arc<Allocation>>>,
}

impl EvalContext {
    pub(crate) fn new(eval: &Evaluation, snapshot: Snapshot, job: Option<&Arc<Job>>) -> Self {
        let plan = Plan {
            eval_id: eval.id.clone(),
            priority: eval.priority,
            job: job.cloned(),
            all_at_once: job.is_some_and(|j| j.all_at_once),
            snapshot_index: snapshot.index,
            ..Default::default()
        };
        let identity = JobIdentity {
            namespace: eval.namespace.clone(),
            job_id: eval.job_id.clone(),
            groups: job
                .map(|j| j.task_groups.iter().map(|g| g.name.clone()).collect())
                .unwrap_or_default(),
        };
        let rng = Rng::seeded(&eval.id, snapshot.index);
        let mut job_on_nodes: IdMap<JobOnNode> = IdMap::default();
        for alloc in snapshot.job_allocs(&eval.namespace, &eval.job_id) {
            if alloc.terminal() {
                continue;
            }
            let on = job_on_nodes
                .entry(alloc.node_id.clone())
                .or_insert_with(|| JobOnNode {
                    total: 0,
                    groups: vec![0; identity.groups.len()],
                });
            on.total += 1;
            if let Some(i) = identity.groups.iter().position(|g| *g == alloc.task_group) {
                on.groups[i] += 1;
            }
        }
        EvalContext {
            snapshot,
            plan,
            job: identity,
            ops: OperatorCache::default(),
            rng: RefCell::new(rng),
            usage: RefCell::new(IdMap::default()),
            job_on_nodes,
            removed: HashSet::default(),
            removed_by_node: IdMap::default(),
        }
    }

    /// The node's usage as the plan stands, computed on first use.
    pub(crate) fn usage(&self, node: &Node) -> Ref<'_, NodeUsage> {
        if !self.usage.borrow().contains_key(&node.id) {
            let usage = self.compute_usage(node);
            self.usage.borrow_mut().insert(node.id.clone(), usage);
        }
        Ref::map(self.usage.borrow(), |m| &m[&node.id])
    }

    fn compute_usage(&self, node: &Node) -> NodeUsage {
        let none = JobOnNode {
            total: 0,
            groups: vec![0; self.job.groups.len()],
        };
        let job = self.job_on_nodes.get(&node.id).unwrap_or(&none);
        let mut usage = NodeUsage::new(node, self.snapshot.node_usage.get(&node.id), job);
        for alloc in self.removed_by_node.get(&node.id).into_iter().flatten() {
            usage.apply(alloc, &self.job, -1);
        }
        for alloc in self
            .plan
            .node_allocation
            .get(&node.id)
            .into_iter()
            .flatten()
        {
            if !alloc.terminal() {
                usage.apply(alloc, &self.job, 1);
            }
        }
        usage
    }

    /// Applies `sign` to a cached node's usage (an uncached one is computed from the plan
    /// when first needed).
    fn adjust(&self, alloc: &Allocation, sign: i64) {
        if let Some(u) = self.usage.borrow_mut().get_mut(&alloc.node_id) {
            u.apply(alloc, &self.job, sign);
        }
    }

    /// The snapshot's live version of an allocation still counted on its node.
    fn counted_original(&self, id: &str) -> Option<Arc<Allocation>> {
        if self.removed.contains(id) {
            return None;
        }
        self.snapshot
            .allocs
            .get(id)
            .filter(|a| !a.terminal())
            .cloned()
    }

    /// Adds a new or updated allocation to the plan. An update replaces the stored
    /// version's claim on the node.
    pub(crate) fn push_alloc(&mut self, mut alloc: Allocation) {
        if let Some(old) = self.counted_original(&alloc.id) {
            self.remove(old);
        }
        if !alloc.terminal() {
            self.adjust(&alloc, 1);
        }
        // The plan's job is attached at apply: no copy per allocation.
        if let (Some(j), Some(pj)) = (&alloc.job, &self.plan.job) {
            if Arc::ptr_eq(j, pj) {
                alloc.job = None;
            }
        }
        self.plan.push_alloc(alloc);
    }

    /// Stops (or evicts) an existing allocation in the plan, freeing what it held.
    pub(crate) fn push_stop(&mut self, alloc: &Allocation, stop: AllocStop) {
        if let Some(old) = self.counted_original(&alloc.id) {
            self.remove(old);
        }
        self.plan.push_stop(&alloc.node_id, stop);
    }

    /// Takes back a stop (its replacement could not be placed).
    pub(crate) fn pop_stop(&mut self, alloc: &Allocation) {
        let Some(stops) = self.plan.node_update.get_mut(&alloc.node_id) else {
            return;
        };
        let Some(at) = stops.iter().rposition(|s| s.alloc_id == alloc.id) else {
            return;
        };
        stops.remove(at);
        if stops.is_empty() {
            self.plan.node_update.remove(&alloc.node_id);
        }
        let replaced = self
            .plan
            .node_allocation
            .get(&alloc.node_id)
            .is_some_and(|v| v.iter().any(|a| a.id == alloc.id));
        if !replaced && self.removed.remove(&alloc.id) {
            let on_node = self.removed_by_node.get_mut(&alloc.node_id);
            if let Some(old) = on_node.and_then(|v| {
                let at = v.iter().position(|a| a.id == alloc.id)?;
                Some(v.swap_remove(at))
            }) {
                self.adjust(&old, 1);
            }
        }
    }

    /// A stored allocation stops counting on its node.
    fn remove(&mut self, old: Arc<Allocation>) {
        self.removed.insert(old.id.clone());
        self.adjust(&old, -1);
        self.removed_by_node
            .entry(old.node_id.clone())
            .or_default()
            .push(old);
    }

    /// The plan's stop of an allocation, to link it to its replacement.
    pub(crate) fn stop_mut(&mut self, alloc: &Allocation) -> Option<&mut AllocStop> {
        self.plan
            .node_update
            .get_mut(&alloc.node_id)?
            .iter_mut()
            .rfind(|s| s.alloc_id == alloc.id)
    }

    /// Is this snapshot allocation stopped or replaced by the plan?
    pub(crate) fn is_removed(&self, id: &str) -> bool {
        self.removed.contains(id)
    }
}

/// Maps keyed by node or allocation ID: FNV-1a is quicker than SipHash on short keys,
/// and IDs are not chosen by an adversary who could flood one bucket.
type IdMap<V> = HashMap<String, V, BuildHasherDefault<Fnv>>;

#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A small deterministic generator (splitmix64): each evaluation orders nodes and
/// picks ports from a seed of its own ID and snapshot index, like Nomad.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn seeded(eval_id: &str, index: u64) -> Rng {
        // FNV-1a over the ID: stable across runs and platforms.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in eval_id.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}
