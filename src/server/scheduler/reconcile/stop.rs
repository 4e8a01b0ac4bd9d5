//! Stopping: allocations on lost nodes, and the excess when the count went down.

use super::group::GroupPass;
use super::names::NameIndex;
use super::sets::{difference, name_order, names, AllocSet};
use crate::structs::{ALLOC_CLIENT_LOST, ALLOC_LOST, ALLOC_NOT_NEEDED};

impl GroupPass<'_, '_> {
    /// Stops lost allocations and, when more run than the count wants, the excess:
    /// after a promotion old allocations sharing a canary's name first, then migrating
    /// ones, then the highest names. Stopped allocations leave `untainted`/`migrate`.
    pub(super) fn compute_stop(
        &mut self,
        names_index: &mut NameIndex,
        untainted: &mut AllocSet,
        migrate: &mut AllocSet,
        lost: &AllocSet,
        canaries: &AllocSet,
        canarying: bool,
    ) {
        for alloc in name_order(lost) {
            self.stop(alloc, Some(ALLOC_CLIENT_LOST), ALLOC_LOST, None);
        }
        self.out.desired.stop += lost.len() as u64;

        // Canaries still being judged are not counted against the count.
        let mut working = if canarying {
            difference(untainted, &[canaries])
        } else {
            untainted.clone()
        };
        let excess = (working.len() + migrate.len()) as i64 - self.count as i64;
        if excess <= 0 {
            return;
        }
        working.retain(|_, a| !a.server_terminal());
        let mut remove = excess as usize;
        let mut stopped = AllocSet::new();

        if !canarying && !canaries.is_empty() {
            let canary_names = names(canaries);
            let old = difference(&working, &[canaries]);
            for alloc in name_order(&old).into_iter().rev() {
                if remove == 0 {
                    break;
                }
                if canary_names.contains(&alloc.name) {
                    working.remove(&alloc.id);
                    stopped.insert(alloc.id.clone(), alloc);
                    remove -= 1;
                }
            }
        }

        if remove > 0 && !migrate.is_empty() {
            let mut migrating =
                NameIndex::new(&self.cx.job.id, &self.group.name, self.count, migrate);
            let highest = migrating.highest(remove);
            for alloc in name_order(migrate).into_iter().rev() {
                if remove == 0 {
                    break;
                }
                if highest.contains(&alloc.name) {
                    migrate.remove(&alloc.id);
                    names_index.unset(alloc.index());
                    stopped.insert(alloc.id.clone(), alloc);
                    remove -= 1;
                }
            }
        }

        if remove > 0 {
            let highest = names_index.highest(remove);
            for alloc in name_order(&working).into_iter().rev() {
                if remove == 0 {
                    break;
                }
                if highest.contains(&alloc.name) {
                    working.remove(&alloc.id);
                    stopped.insert(alloc.id.clone(), alloc);
                    remove -= 1;
                }
            }
        }

        // Duplicate names can leave some to stop: take the highest remaining.
        for alloc in name_order(&working).into_iter().rev().take(remove) {
            stopped.insert(alloc.id.clone(), alloc);
        }

        for alloc in name_order(&stopped) {
            self.stop(alloc, None, ALLOC_NOT_NEEDED, None);
        }
        self.out.desired.stop += stopped.len() as u64;
        *untainted = difference(untainted, &[&stopped]);
    }
}
