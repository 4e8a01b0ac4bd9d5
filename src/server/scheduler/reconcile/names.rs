//! Choosing allocation names (`job.group[index]`): new placements take the lowest free
//! indexes, a count decrease removes the highest.

use std::collections::{BTreeMap, BTreeSet};

use super::sets::{names, AllocSet};
use crate::structs::alloc_name;

pub(super) struct NameIndex {
    job_id: String,
    group: String,
    count: u64,
    /// Index -> how many allocations hold it (more than one after overlapping names).
    used: BTreeMap<u64, usize>,
}

impl NameIndex {
    pub fn new(job_id: &str, group: &str, count: u64, allocs: &AllocSet) -> Self {
        let mut used = BTreeMap::new();
        for alloc in allocs.values() {
            *used.entry(alloc.index()).or_default() += 1;
        }
        NameIndex {
            job_id: job_id.to_string(),
            group: group.to_string(),
            count,
            used,
        }
    }

    fn name(&self, index: u64) -> String {
        alloc_name(&self.job_id, &self.group, index)
    }

    /// Removes the highest `n` used indexes and returns their names.
    pub fn highest(&mut self, n: usize) -> BTreeSet<String> {
        let top: Vec<u64> = self.used.keys().rev().take(n).copied().collect();
        top.into_iter()
            .map(|i| {
                self.used.remove(&i);
                self.name(i)
            })
            .collect()
    }

    /// One allocation no longer holds `index`.
    pub fn unset(&mut self, index: u64) {
        if let Some(n) = self.used.get_mut(&index) {
            *n -= 1;
            if *n == 0 {
                self.used.remove(&index);
            }
        }
    }

    fn take(&mut self, index: u64) -> String {
        *self.used.entry(index).or_default() += 1;
        self.name(index)
    }

    /// The next `n` names for new placements: free indexes below the count, lowest
    /// first; when there are not enough, indexes from 0 again (overlapping).
    pub fn next(&mut self, n: usize) -> Vec<String> {
        let free: Vec<u64> = (0..self.count)
            .filter(|i| !self.used.contains_key(i))
            .take(n)
            .collect();
        let mut out: Vec<String> = free.into_iter().map(|i| self.take(i)).collect();
        let remainder = (n - out.len()) as u64;
        out.extend((0..remainder).map(|i| self.take(i)));
        out
    }

    /// The next `n` canary names: first the names of allocations being replaced (so the
    /// promoted canaries take their place), then free indexes, then indexes past the
    /// count. Names existing canaries hold are skipped.
    pub fn next_canaries(
        &mut self,
        n: usize,
        canaries: &AllocSet,
        destructive: &AllocSet,
    ) -> Vec<String> {
        let taken = names(canaries);
        let replaced: BTreeSet<u64> = destructive
            .values()
            .map(|a| a.index())
            .filter(|i| *i < self.count)
            .collect();
        let free: Vec<u64> = (0..self.count)
            .filter(|i| !self.used.contains_key(i))
            .collect();
        let mut out = Vec::with_capacity(n);
        for index in replaced.into_iter().chain(free) {
            if out.len() == n {
                return out;
            }
            let name = self.name(index);
            if !taken.contains(&name) && !out.contains(&name) {
                *self.used.entry(index).or_default() += 1;
                out.push(name);
            }
        }
        let remainder = (n - out.len()) as u64;
        out.extend((self.count..self.count + remainder).map(|i| self.name(i)));
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::structs::Allocation;

    fn set(indexes: &[u64]) -> AllocSet {
        indexes
            .iter()
            .enumerate()
            .map(|(n, i)| {
                let a = Allocation {
                    id: format!("id{n}"),
                    name: alloc_name("j", "g", *i),
                    ..Default::default()
                };
                (a.id.clone(), Arc::new(a))
            })
            .collect()
    }

    fn idx(names: impl IntoIterator<Item = String>) -> Vec<u64> {
        names
            .into_iter()
            .map(|n| crate::structs::alloc_name_index(&n))
            .collect()
    }

    #[test]
    fn next_takes_lowest_free_then_overlaps() {
        let cases: [(u64, &[u64], usize, &[u64]); 4] = [
            (3, &[], 3, &[0, 1, 2]),
            (5, &[0, 2], 2, &[1, 3]),
            (2, &[0, 1], 2, &[0, 1]),
            (3, &[1], 3, &[0, 2, 0]),
        ];
        for (count, used, n, want) in cases {
            let mut index = NameIndex::new("j", "g", count, &set(used));
            assert_eq!(idx(index.next(n)), want, "{count} {used:?} {n}");
        }
    }

    #[test]
    fn highest_removes_the_top_indexes() {
        let mut index = NameIndex::new("j", "g", 2, &set(&[0, 1, 2, 5]));
        assert_eq!(idx(index.highest(2)), vec![2, 5]);
        assert_eq!(idx(index.highest(5)), vec![0, 1]);
        assert!(index.highest(1).is_empty());
    }

    #[test]
    fn canaries_take_replaced_names_then_free_then_past_count() {
        // count, used, canaries, destructive, n, want
        type Case<'a> = (u64, &'a [u64], &'a [u64], &'a [u64], usize, &'a [u64]);
        let cases: [Case; 4] = [
            (3, &[0, 1, 2], &[], &[0, 1, 2], 1, &[0]),
            (3, &[0, 1, 2], &[], &[0, 1, 2], 2, &[0, 1]),
            (3, &[0, 1, 2, 0], &[0], &[0, 1, 2], 1, &[1]),
            (2, &[0, 1], &[], &[1], 3, &[1, 2, 3]),
        ];
        for (count, used, canaries, destructive, n, want) in cases {
            let mut index = NameIndex::new("j", "g", count, &set(used));
            let got = index.next_canaries(n, &set(canaries), &set(destructive));
            assert_eq!(idx(got), want, "{count} {used:?} {canaries:?} {n}");
        }
    }
}
