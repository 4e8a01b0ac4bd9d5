//! The nodes a job may be placed on: ready, eligible, in its datacenters and node pool.
//! Finding them means a pass over every node, which at thousands of nodes costs more
//! than the placements themselves; the list is kept between evaluations for as long as
//! the node table is the same one (persistent maps share their root until changed).

use std::collections::BTreeMap;
use std::sync::Arc;

use imbl::OrdMap;
use parking_lot::Mutex;

use super::context::Rng;
use super::feasible::in_scope;
use crate::structs::{Job, Node};

/// Lists kept: a few node tables (workers on different snapshots) times job scopes.
const CACHED_LISTS: usize = 16;

#[derive(Debug)]
pub(crate) struct Candidates {
    pub nodes: Vec<Arc<Node>>,
    /// Per datacenter (`NodesAvailable`).
    pub by_dc: BTreeMap<String, u64>,
}

struct Entry {
    table: OrdMap<String, Arc<Node>>,
    datacenters: Vec<String>,
    pool: String,
    list: Arc<Candidates>,
}

static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// The candidates for `job` in `nodes`.
pub(crate) fn candidates(nodes: &OrdMap<String, Arc<Node>>, job: &Job) -> Arc<Candidates> {
    {
        let cache = CACHE.lock();
        let hit = cache.iter().find(|e| {
            e.table.ptr_eq(nodes) && e.datacenters == job.datacenters && e.pool == job.node_pool
        });
        if let Some(e) = hit {
            return e.list.clone();
        }
    }
    let list: Vec<Arc<Node>> = nodes
        .values()
        .filter(|n| n.schedulable() && in_scope(n, job))
        .cloned()
        .collect();
    let mut by_dc: BTreeMap<String, u64> = BTreeMap::new();
    for n in &list {
        match by_dc.get_mut(&n.datacenter) {
            Some(c) => *c += 1,
            None => {
                by_dc.insert(n.datacenter.clone(), 1);
            }
        }
    }
    let list = Arc::new(Candidates { nodes: list, by_dc });
    let mut cache = CACHE.lock();
    if cache.len() == CACHED_LISTS {
        cache.remove(0);
    }
    cache.push(Entry {
        table: nodes.clone(),
        datacenters: job.datacenters.clone(),
        pool: job.node_pool.clone(),
        list: list.clone(),
    });
    list
}

/// A random order over `n` items drawn as it is walked (Fisher-Yates, one step per
/// item reached), so an evaluation that looks at a few hundred of thousands of nodes
/// shuffles only those.
#[derive(Debug)]
pub(crate) struct LazyShuffle {
    order: Vec<u32>,
    drawn: usize,
}

impl LazyShuffle {
    pub(crate) fn new(n: usize) -> LazyShuffle {
        LazyShuffle {
            order: (0..n as u32).collect(),
            drawn: 0,
        }
    }

    /// The item at position `p` of the order.
    pub(crate) fn at(&mut self, p: usize, rng: &mut Rng) -> usize {
        let n = self.order.len();
        while self.drawn <= p {
            let i = self.drawn;
            let j = i + rng.below(n - i);
            self.order.swap(i, j);
            self.drawn += 1;
        }
        self.order[p] as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_shuffle_is_a_permutation() {
        let mut rng = Rng::seeded("e", 1);
        let mut s = LazyShuffle::new(100);
        let mut seen: Vec<usize> = (0..100).map(|p| s.at(p, &mut rng)).collect();
        let first = seen.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        assert_ne!(first, (0..100).collect::<Vec<_>>(), "shuffled");
        // Positions already drawn keep their item.
        assert_eq!(s.at(3, &mut rng), first[3]);
    }
}
